#!/bin/bash
# tests/e2e/mkrunner.sh [OPTIONS] OUT_DIR
#
# Makes an e2e runner package in microvm.nix layout (DESIGN.md section 2):
#   OUT_DIR/bin/microvm-run                 execs qemu-system-x86_64 (TCG)
#   OUT_DIR/bin/microvm-shutdown            QMP system_powerdown, waits for exit
#   OUT_DIR/share/microvm/tap-interfaces    one TAP name a line   (unless --no-tap)
#   OUT_DIR/share/microvm/tap-flags         e.g. "vnet_hdr"       (unless --no-tap)
#   OUT_DIR/share/microvm/virtiofs/TAG/{source,socket}            (unless --no-shares)
#   OUT_DIR/share/microvm/virtiofs/TAG/SETTING                    (--ro-share, --share-setting)
#   OUT_DIR/share/microvm/system -> OUT_DIR/share/e2e/system (or --system)
#   OUT_DIR/share/e2e/{vmlinuz,initrd.img}  copy of the guest (from guest.sh)
#   OUT_DIR/share/e2e/runner.env            the options, as shell assignments
# The package is made root-owned and not group/other-writable (OUT_DIR's
# parents are the caller's business). microvm-run must be started with
# cwd = the VM's state dir: the virtiofs and QMP sockets are relative.
#
# Options (defaults in brackets):
#   --name NAME            VM name [demo]
#   --tap IFNAME           a TAP interface; repeatable [mvm-NAME0]
#   --no-tap               no TAP at all (no tap-interfaces file, no NIC)
#   --tap-flags "WORDS"    contents of tap-flags [vnet_hdr]
#   --multi-queue          add multi_queue to tap-flags; QEMU queues=2
#   --share TAG[=SOURCE]   a virtiofs share; repeatable [share=share]
#                          socket is NAME-virtiofs-TAG.sock; paths relative
#                          to the state dir; the guest mounts the first one
#   --no-shares            no virtiofs share
#   --ro-share TAG[=SOURCE]
#                          a read-only share (TAG/read-only: true), mounted
#                          by the guest on /ro: it reads SOURCE/token there
#                          and checks that it cannot write
#   --share-setting TAG/FILE=VALUE
#                          one more setting file of a share; repeatable
#   --guest-ip ADDR/LEN    guest eth0 address [10.213.0.2/24]
#   --host-ip ADDR         host end of the TAP, pinged by the guest [10.213.0.1]
#   --token TOKEN          the guest checks /mnt/token against it [unchecked]
#   --wait                 guest stays up until QMP system_powerdown
#   --system PATH          target of share/microvm/system [OUT_DIR/share/e2e/system]
#   --qmp-socket PATH      QMP socket, relative to the state dir [NAME.qmp.sock]
#   --cache DIR            guest cache dir (built by guest.sh if needed)
#                          [$E2E_CACHE_DIR or /var/cache/microvm-host-helpers-e2e]
#   --mem SIZE             guest memory [256M]
#   --qemu PATH            QEMU binary [qemu-system-x86_64]
#   --append "ARGS"        extra kernel command line
#   --force                replace OUT_DIR if it exists
set -euo pipefail

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

NAME=demo TAPS=() NO_TAP=0 TAP_FLAGS=vnet_hdr MQ=0 SHARES=() NO_SHARES=0 RO_SHARE='' SETTINGS=()
GUEST_IP=10.213.0.2/24 HOST_IP=10.213.0.1 TOKEN='' WAIT=0 SYSTEM='' QMP=''
CACHE=${E2E_CACHE_DIR:-$E2E_DEFAULT_CACHE} MEM=256M QEMU=qemu-system-x86_64
APPEND='' FORCE=0 OUT=''
while [[ $# -gt 0 ]]; do
    case $1 in
        --name) NAME=$2; shift ;;
        --tap) TAPS+=("$2"); shift ;;
        --no-tap) NO_TAP=1 ;;
        --tap-flags) TAP_FLAGS=$2; shift ;;
        --multi-queue) MQ=1 ;;
        --share) SHARES+=("$2"); shift ;;
        --no-shares) NO_SHARES=1 ;;
        --ro-share) RO_SHARE=$2; shift ;;
        --share-setting) SETTINGS+=("$2"); shift ;;
        --guest-ip) GUEST_IP=$2; shift ;;
        --host-ip) HOST_IP=$2; shift ;;
        --token) TOKEN=$2; shift ;;
        --wait) WAIT=1 ;;
        --system) SYSTEM=$2; shift ;;
        --qmp-socket) QMP=$2; shift ;;
        --cache) CACHE=$2; shift ;;
        --mem) MEM=$2; shift ;;
        --qemu) QEMU=$2; shift ;;
        --append) APPEND=$2; shift ;;
        --force) FORCE=1 ;;
        -h|--help) usage ;;
        --) shift; break ;;
        -*) e2e_log "unknown option $1"; usage ;;
        *) [[ -z $OUT ]] || usage; OUT=$1 ;;
    esac
    shift
done
if [[ $# -gt 0 ]]; then
    [[ -z $OUT && $# -eq 1 ]] || usage
    OUT=$1
fi
[[ -n $OUT ]] || usage
e2e_need_root

[[ $NO_TAP == 1 ]] && TAPS=()
[[ $NO_TAP == 0 && ${#TAPS[@]} -eq 0 ]] && TAPS=("mvm-${NAME}0")
[[ $NO_SHARES == 1 ]] && SHARES=()
[[ $NO_SHARES == 0 && ${#SHARES[@]} -eq 0 ]] && SHARES=("share=share")
if [[ -n $RO_SHARE ]]; then
    SHARES+=("$RO_SHARE")
    SETTINGS+=("${RO_SHARE%%=*}/read-only=true")
fi
[[ $MQ == 1 && " $TAP_FLAGS " != *" multi_queue "* ]] && TAP_FLAGS="$TAP_FLAGS multi_queue"
QMP=${QMP:-$NAME.qmp.sock}

if [[ -e $OUT || -L $OUT ]]; then
    [[ $FORCE == 1 ]] || e2e_die "$OUT exists (use --force)"
    rm -rf "$OUT"
fi
[[ -s $CACHE/vmlinuz && -s $CACHE/initrd.img ]] \
    || "$E2E_DIR/guest.sh" "$CACHE" >/dev/null
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SYSTEM=${SYSTEM:-$OUT/share/e2e/system}
mkdir -p "$OUT/bin" "$OUT/share/microvm" "$OUT/share/e2e/system"
cp "$CACHE/vmlinuz" "$CACHE/initrd.img" "$OUT/share/e2e/"
printf 'e2e system of %s\n' "$NAME" >"$OUT/share/e2e/system/name"

# The QEMU command line, built here and written out quoted.
# shellcheck disable=SC2054  # the commas are QEMU's
args=("$QEMU" -name "$NAME" -nodefaults -no-user-config
    -accel tcg -m "$MEM"
    -object "memory-backend-memfd,id=mem,size=$MEM,share=on"
    -M pc,memory-backend=mem
    -kernel "$OUT/share/e2e/vmlinuz" -initrd "$OUT/share/e2e/initrd.img")
cmdline="console=ttyS0 panic=-1 quiet mvm.wait=$WAIT"
i=0
if [[ ${#SHARES[@]} -gt 0 ]]; then
    for s in "${SHARES[@]}"; do
        tag=${s%%=*}
        src=${s#*=}
        [[ $s == *=* ]] || src=$tag
        sock="$NAME-virtiofs-$tag.sock"
        mkdir -p "$OUT/share/microvm/virtiofs/$tag"
        printf '%s\n' "$src" >"$OUT/share/microvm/virtiofs/$tag/source"
        printf '%s\n' "$sock" >"$OUT/share/microvm/virtiofs/$tag/socket"
        args+=(-chardev "socket,id=fs$i,path=$sock"
            -device "vhost-user-fs-pci,chardev=fs$i,tag=$tag")
        [[ $i -eq 0 ]] && cmdline+=" mvm.tag=$tag"
        [[ -n $RO_SHARE && $tag == "${RO_SHARE%%=*}" ]] && cmdline+=" mvm.rotag=$tag"
        i=$((i + 1))
    done
fi
if [[ ${#SETTINGS[@]} -gt 0 ]]; then
    for s in "${SETTINGS[@]}"; do
        f=${s%%=*}
        [[ $f == */* && -d $OUT/share/microvm/virtiofs/${f%%/*} ]] \
            || e2e_die "--share-setting $s: not TAG/FILE=VALUE of a share"
        printf '%s\n' "${s#*=}" >"$OUT/share/microvm/virtiofs/$f"
    done
fi
i=0
if [[ ${#TAPS[@]} -gt 0 ]]; then
    : >"$OUT/share/microvm/tap-interfaces"
    for t in "${TAPS[@]}"; do
        printf '%s\n' "$t" >>"$OUT/share/microvm/tap-interfaces"
        if [[ " $TAP_FLAGS " == *" multi_queue "* ]]; then
            args+=(-netdev "tap,id=n$i,ifname=$t,script=no,downscript=no,vhost=off,queues=2"
                -device "virtio-net-pci,netdev=n$i,mq=on,vectors=6")
        else
            args+=(-netdev "tap,id=n$i,ifname=$t,script=no,downscript=no,vhost=off,queues=1"
                -device "virtio-net-pci,netdev=n$i")
        fi
        i=$((i + 1))
    done
    printf '%s\n' "$TAP_FLAGS" >"$OUT/share/microvm/tap-flags"
    cmdline+=" mvm.ip=$GUEST_IP mvm.host=$HOST_IP"
fi
[[ -n $TOKEN ]] && cmdline+=" mvm.token=$TOKEN"
[[ -n $APPEND ]] && cmdline+=" $APPEND"
args+=(-append "$cmdline"
    -serial stdio -display none -no-reboot
    -qmp "unix:$QMP,server=on,wait=off")

{
    printf '#!/bin/bash\n'
    printf '# microvm-run for the e2e VM %q (made by tests/e2e/mkrunner.sh).\n' "$NAME"
    printf '# Run it with cwd = the VM state dir: socket paths are relative.\n'
    printf 'exec'
    for a in "${args[@]}"; do
        [[ $a == -* ]] && printf ' \\\n   '
        if [[ $a =~ ^[-A-Za-z0-9_./,=:+@%]+$ ]]; then
            printf ' %s' "$a"
        else
            printf ' %q' "$a"
        fi
    done
    printf ' \\\n    "$@"\n'
} >"$OUT/bin/microvm-run"

{
    printf '#!/bin/bash\n'
    printf '# microvm-shutdown for the e2e VM %q: QMP system_powerdown on\n' "$NAME"
    printf '# %q (relative to cwd = the VM state dir), then wait until QEMU\n' "$QMP"
    printf '# closes the socket (it exited). Uses perl-base (Essential in Debian).\n'
    printf '# Env: MICROVM_SHUTDOWN_TIMEOUT (seconds, default 60).\n'
    printf 'QMP=%q\n' "$QMP"
    cat <<'SHUT'
export QMP
exec perl -e '
use strict; use warnings; use IO::Socket::UNIX; use IO::Select;
my $path = $ENV{QMP};
my $timeout = $ENV{MICROVM_SHUTDOWN_TIMEOUT} || 60;
my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $path);
if (!$s) { print STDERR "microvm-shutdown: $path: $!: VM not running\n"; exit 0; }
my $sel = IO::Select->new($s);
my $buf = "";
my $deadline = time + $timeout;
sub readline_json {
    while (1) {
        if ($buf =~ s/^([^\n]*)\n//) { return $1; }
        my $left = $deadline - time;
        return undef if $left <= 0 || !$sel->can_read($left);
        my $n = sysread($s, $buf, 4096, length $buf);
        return undef if !$n;
    }
}
sub cmd {
    my ($c) = @_;
    syswrite($s, "{\"execute\":\"$c\"}\n");
    while (defined(my $l = readline_json())) {
        return 1 if $l =~ /"return"/;
        if ($l =~ /"error"/) { print STDERR "microvm-shutdown: $c: $l\n"; return 0; }
    }
    return 0;
}
defined(readline_json()) or do { print STDERR "microvm-shutdown: no QMP greeting\n"; exit 1; };
cmd("qmp_capabilities") or exit 1;
cmd("system_powerdown") or exit 1;
print STDERR "microvm-shutdown: system_powerdown sent, waiting up to ${timeout}s\n";
# A press before the guest has its button driver (or is listening) is lost:
# press again every 3 s until QEMU closes the socket (it has exited).
my $next = time + 3;
while (1) {
    my $left = $deadline - time;
    if ($left <= 0) {
        print STDERR "microvm-shutdown: VM still running after ${timeout}s\n"; exit 1;
    }
    my $wait = $next - time; $wait = $left if $left < $wait; $wait = 0.1 if $wait < 0.1;
    if ($sel->can_read($wait)) {
        my $n = sysread($s, $buf, 4096);
        last if !$n;
    } elsif (time >= $next) {
        syswrite($s, "{\"execute\":\"system_powerdown\"}\n");
        $next = time + 3;
    }
}
print STDERR "microvm-shutdown: VM is gone\n";
exit 0;
'
SHUT
} >"$OUT/bin/microvm-shutdown"

ln -s "$SYSTEM" "$OUT/share/microvm/system"
{
    printf 'E2E_NAME=%q\n' "$NAME"
    printf 'E2E_TAPS=%q\n' "${TAPS[*]}"
    printf 'E2E_TAP_FLAGS=%q\n' "$TAP_FLAGS"
    printf 'E2E_SHARES=%q\n' "${SHARES[*]}"
    printf 'E2E_RO_SHARE=%q\n' "$RO_SHARE"
    printf 'E2E_GUEST_IP=%q\n' "$GUEST_IP"
    printf 'E2E_HOST_IP=%q\n' "$HOST_IP"
    printf 'E2E_TOKEN=%q\n' "$TOKEN"
    printf 'E2E_WAIT=%q\n' "$WAIT"
    printf 'E2E_QMP_SOCKET=%q\n' "$QMP"
} >"$OUT/share/e2e/runner.env"

chown -R -h root:root "$OUT"
chmod -R u+rwX,go+rX,go-w "$OUT"
chmod 755 "$OUT/bin/microvm-run" "$OUT/bin/microvm-shutdown"
printf '%s\n' "$OUT"
