#!/bin/bash
# tests/e2e/demo.sh (`make demo`): a real MicroVM brought up and down by a
# real systemd through this project's units and helpers.
#
#   1. builds the guest (Debian's cloud kernel + a busybox initramfs) and
#      installs the project (`make install DESTDIR=... PREFIX=/opt/microvm`)
#   2. makes a runner package in microvm.nix layout (QEMU under TCG, one TAP,
#      one virtiofs share) in a root-owned directory, and the VM's state dir
#      with `current` pointing at it
#   3. boots systemd 252 in a container (systemd-nspawn, own network), with
#      the units and binaries installed in it, the microvm user made by
#      systemd-sysusers from the shipped file
#   4. systemctl start microvm@demo: the units going active in order, the
#      guest's console, the file it wrote into the share, its ping,
#      runner-exec status
#   5. systemctl stop microvm@demo: graceful power-off, TAP, virtiofsd and
#      `booted` gone
# and removes everything it made on the host (also when interrupted).
# The last line is the verdict, `demo: PASS` or `demo: FAIL: reason`;
# the exit status is 0 only on PASS.
# Env: B (build dir, default build), E2E_CACHE_DIR (guest cache, kept
# between runs), E2E_KEEP=1 (keep the work dir), E2E_BOOT_TIMEOUT (s, 120).
set -uo pipefail

# shellcheck source=tests/e2e/sysd.sh
. "$(dirname "${BASH_SOURCE[0]}")/sysd.sh"

NAME=demo
TAP=mvm-demo0
HOST_IP=10.213.0.1
CACHE=${E2E_CACHE_DIR:-$E2E_DEFAULT_CACHE}
BOOT_TIMEOUT=${E2E_BOOT_TIMEOUT:-120}
WORK=
FIRST_FAIL=
VERDICT_DONE=0

# ---- output ---------------------------------------------------------------
if [[ -t 1 ]]; then B1=$'\e[1m' B0=$'\e[0m' RED=$'\e[31m' GRN=$'\e[32m'; else B1='' B0='' RED='' GRN=''; fi
step() { printf '\n%s==> %s%s\n' "$B1" "$*" "$B0"; }
say() { printf '    %s\n' "$*"; }
indent() { sed 's/^/    | /'; }
ok() { printf '    %sok%s   %s\n' "$GRN" "$B0" "$*"; }
bad() {
    printf '    %sFAIL%s %s\n' "$RED" "$B0" "$*"
    [[ -n $FIRST_FAIL ]] || FIRST_FAIL=$*
}
check() {   # check DESCRIPTION CMD...
    local what=$1; shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}
verdict() {
    [[ $VERDICT_DONE == 1 ]] && return
    VERDICT_DONE=1
    echo
    if [[ -z $FIRST_FAIL ]]; then
        printf '%sdemo: PASS%s\n' "$GRN$B1" "$B0"
    else
        printf '%sdemo: FAIL: %s%s\n' "$RED$B1" "$FIRST_FAIL" "$B0"
    fi
}
abort() {   # abort REASON: a step the rest depends on failed
    bad "$*"
    exit 1
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ $rc -eq 130 || $rc -eq 143 ]] && [[ -z $FIRST_FAIL ]] && FIRST_FAIL="interrupted"
    if [[ -n $CONTAINER_NSPAWN_PID ]]; then
        step "Cleaning up"
        sysd_stop >/dev/null 2>&1 || bad "container did not power off cleanly"
        local left
        left=$(container_leftovers)
        if [[ -n $left ]]; then
            bad "left on the host: $left"
        else
            say "container powered off; no process, cgroup or mount left on the host"
        fi
    fi
    if [[ ${E2E_KEEP:-0} == 1 ]]; then
        [[ -n $WORK ]] && say "kept $WORK and ${CONTAINER_LOG:-}"
    else
        container_cleanup_log
        [[ -n $WORK ]] && rm -rf "$WORK" && say "removed $WORK"
    fi
    [[ -n $TUN_MODE0 && $(stat -c %a /dev/net/tun 2>/dev/null) != "$TUN_MODE0" ]] \
        && bad "the host's /dev/net/tun mode changed"
    if ip link show "$TAP" >/dev/null 2>&1; then bad "a $TAP exists on the host"; fi
    [[ -z $FIRST_FAIL && $rc -ne 0 ]] && FIRST_FAIL="exit status $rc"
    verdict
    [[ -z $FIRST_FAIL ]] || exit 1
    exit 0
}
TUN_MODE0=
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

printf '%sA MicroVM started and stopped by systemd with microvm-host-helpers%s\n' "$B1" "$B0"
[[ $(id -u) -eq 0 ]] || abort "the demo needs root (sudo make demo)"
TUN_MODE0=$(stat -c %a /dev/net/tun 2>/dev/null)

# ---- 1 ---------------------------------------------------------------------
step "1. Packages, guest and install"
e2e_need_pkgs qemu-system-x86 qemu-system-common busybox-static cpio kmod \
    iproute2 perl-base systemd systemd-container util-linux procps make \
    || abort "cannot install the Debian packages the demo needs"
say "Debian packages: present"
WORK=$(mktemp -d /var/lib/microvm-demo.XXXXXX) || abort "mktemp failed"
chmod 0755 "$WORK"
"$E2E_DIR/guest.sh" "$CACHE" >/dev/null 2>"$WORK/guest.log" \
    || { indent <"$WORK/guest.log"; abort "guest build failed"; }
say "guest: $(cut -d' ' -f1 "$CACHE/guest.stamp" | sed 's/^kernel=//; s/=/ /') + busybox initramfs (cache $CACHE)"
sysd_prepare "$WORK" || abort "make install failed"
say "make install DESTDIR=$WORK/stage PREFIX=$SYSD_PREFIX (build ${B:-build}):"
(cd "$WORK/stage$SYSD_PREFIX" && find bin lib -type f | sort | sed "s|^|$SYSD_PREFIX/|") | indent

# ---- 2 ---------------------------------------------------------------------
step "2. Runner package and state dir"
TOKEN=$(e2e_token)
E2E_CACHE_DIR=$CACHE sysd_runner "$NAME" --tap "$TAP" --host-ip "$HOST_IP" \
    --token "$TOKEN" --wait || abort "mkrunner.sh failed"
printf '%s\n' "$TOKEN" >"$WORK/state/$NAME/share/token"
R=$WORK/runners/$NAME
say "runner package $R (root-owned, as in /nix/store):"
(cd "$R" && find bin share/microvm | sort | while read -r f; do
    if [[ -L $f ]]; then printf '%s -> %s\n' "$f" "$(readlink "$f")"
    elif [[ -f $f && $f == share/* ]]; then printf '%s: %s\n' "$f" "$(tr '\n' ' ' <"$f")"
    elif [[ -f $f ]]; then printf '%s\n' "$f"; fi
done) | indent
say "state dir (bound to /var/lib/microvms in the container):"
say "  $NAME/current -> $(readlink "$WORK/state/$NAME/current")"
say "  $NAME/share/token = $TOKEN (random; the guest must send it back)"

# ---- 3 ---------------------------------------------------------------------
step "3. systemd in a container (systemd-nspawn, private network)"
T0=$(e2e_now)
sysd_boot >"$WORK/boot.log" 2>&1 || { indent <"$WORK/boot.log"; abort "the systemd container did not boot"; }
indent <"$WORK/boot.log"
say "$(cx systemctl --version | head -n 1) is PID 1, up in $(e2e_since "$T0")s"
say "units copied to /etc/systemd/system: $(cd "$WORK/stage$SYSD_PREFIX/lib/systemd/system" && echo *)"
say "VM user: $(cx id microvm)"
sysd_host_ip "$NAME" "$TAP" "$HOST_IP/24"
say "drop-in microvm-tap-interfaces@$NAME.service.d/host-ip.conf: ExecStartPost=ip addr add $HOST_IP/24 dev $TAP"
check "/dev/net/tun in the container can be opened by microvm (0666, as udev makes it)" \
    cx setpriv --reuid=microvm --regid=kvm --clear-groups -- test -r /dev/net/tun -a -w /dev/net/tun

# ---- 4 ---------------------------------------------------------------------
step "4. systemctl start microvm@$NAME"
UNITS=("microvm-pci-devices@$NAME.service" "microvm-macvtap-interfaces@$NAME.service"
    "microvm-tap-interfaces@$NAME.service" "microvm-virtiofsd@$NAME.service" "microvm@$NAME.service")
T0=$(e2e_now)
CUR0=$(cx journalctl --show-cursor -n 0 -q | sed -n 's/^-- cursor: //p')
if ! cx systemctl start "microvm@$NAME.service" 2>&1 | indent; then :; fi
say "systemctl start returned after $(e2e_since "$T0")s; waiting for the guest (TCG: a few seconds)"
guest_done() {
    cx journalctl -u "microvm@$NAME.service" -o cat -q 2>/dev/null \
        | grep 'MICROVM-E2E: waiting for the power button\|MICROVM-E2E: result=fail' >/dev/null && return 0
    # The guest waits for its power button: a runner that exited failed.
    [[ $(sysd_show "microvm@$NAME.service" ActiveState) == failed ]] && return 0
    [[ $(sysd_show "microvm@$NAME.service" NRestarts) -gt 0 ]] && return 0
    return 1
}
e2e_wait "$BOOT_TIMEOUT" guest_done || true
say "the guest reported after $(e2e_since "$T0")s"

echo
say "Units, in the order they became active (monotonic, relative to the first start):"
tl=$(for u in "${UNITS[@]}"; do
    cx systemctl show -p Id,ActiveState,SubState,ConditionResult,InactiveExitTimestampMonotonic,ActiveEnterTimestampMonotonic,ExecMainStartTimestampMonotonic,StatusText "$u" \
        | tr '\n' '\t'; echo
done)
awk -F'\t' '
    function get(k,   i) { for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) return substr($i, length(k) + 2); return "" }
    {
        n++; id[n] = get("Id"); st[n] = get("ActiveState") " (" get("SubState") ")"
        skip[n] = get("ConditionResult") == "no"
        a[n] = get("ActiveEnterTimestampMonotonic") + 0; x[n] = get("InactiveExitTimestampMonotonic") + 0
        s[n] = get("StatusText"); if (s[n] != "") s[n] = "  \"" s[n] "\""
        # The base: the first of the units that were started.
        if (!skip[n] && a[n] > 0 && x[n] > 0 && (base == 0 || x[n] < base)) base = x[n]
    }
    END {
        for (i = 1; i <= n; i++) {
            if (skip[i]) printf "0 %-42s skipped: ConditionPathExists= not met\n", id[i]
            else if (a[i] > 0) printf "%.0f %-42s starting +%.3fs  active +%.3fs  %s%s\n", a[i], id[i], (x[i] - base) / 1e6, (a[i] - base) / 1e6, st[i], s[i]
            else printf "9999999999999 %-42s %s\n", id[i], st[i]
        }
    }' <<<"$tl" | sort -n | cut -d' ' -f2- | indent
if [[ $(sysd_show "microvm@$NAME.service" ActiveState) != active ||
      $(sysd_show "microvm@$NAME.service" NRestarts) -gt 0 ]]; then
    echo
    say "microvm@$NAME is $(sysd_show "microvm@$NAME.service" ActiveState), restarted $(sysd_show "microvm@$NAME.service" NRestarts) times; the units' journal:"
    cx journalctl -o short-precise -q --no-hostname --no-pager -u "microvm*@$NAME.service" \
        | grep -vE 'Created slice' | tail -n 40 | indent
    # The first complaint of a helper or of the runner, for the verdict.
    why=$(cx journalctl -o json -q --no-pager -u "microvm*@$NAME.service" \
        | grep -v '"_PID" *: *"1"' | grep -iE 'fail|error|unable|denied' \
        | sed -n 's/.*"MESSAGE" *: *"\([^"]*\)".*/\1/p' | head -n 1)
    abort "microvm@$NAME did not come up${why:+: $why}"
fi
# The helper units must be active before the VM's runner was started.
vm_exec=$(awk -F'\t' '/Id=microvm@/ { for (i = 1; i <= NF; i++) if ($i ~ /^ExecMainStartTimestampMonotonic=/) print substr($i, 33) }' <<<"$tl")
for u in microvm-tap-interfaces@$NAME.service microvm-virtiofsd@$NAME.service; do
    a=$(awk -F'\t' -v u="Id=$u" '$0 ~ u { for (i = 1; i <= NF; i++) if ($i ~ /^ActiveEnterTimestampMonotonic=/) print substr($i, 31) }' <<<"$tl")
    check "${u%%@*} active before runner-exec started (${a:-0} <= ${vm_exec:-0} us)" \
        test "${a:-0}" -gt 0 -a "${vm_exec:-0}" -gt 0 -a "${a:-0}" -le "${vm_exec:-0}"
done

echo
say "systemd's journal for the start:"
cx journalctl --after-cursor="$CUR0" -o short-precise -q _PID=1 --no-hostname \
    | grep -E "microvm[-@a-z]*@$NAME" | grep -vE 'Created slice' | indent

echo
say "The guest's console (journalctl -u microvm@$NAME):"
cx journalctl -u "microvm@$NAME.service" -o cat -q | grep -vE '^(Starting|Started|Stopping|Stopped) ' | indent
check "guest marker: result=ok token=$TOKEN share=ok ping=ok" bash -c \
    "nsenter -t $CONTAINER_PID1 -a journalctl -u microvm@$NAME.service -o cat -q | grep -q '^MICROVM-E2E: result=ok token=$TOKEN share=ok ping=ok'"

echo
say "The file the guest wrote into the share ($WORK/state/$NAME/share/from-guest):"
indent <"$WORK/state/$NAME/share/from-guest" 2>/dev/null || say "(missing)"
check "the guest sent the host's token back through virtiofs" \
    grep -qx "token=$TOKEN" "$WORK/state/$NAME/share/from-guest"

echo
say "The ping (guest -> host end of $TAP):"
cx journalctl -u "microvm@$NAME.service" -o cat -q | grep -E 'packets transmitted|ping host=' | indent
rx=$(cx cat "/sys/class/net/$TAP/statistics/rx_packets" 2>/dev/null || echo 0)
check "$TAP (owner uid $(cx cat /sys/class/net/$TAP/owner 2>/dev/null), in the container only) received $rx packets from the guest" \
    test "${rx:-0}" -gt 0
check "$TAP is owned by microvm" test "$(cx cat "/sys/class/net/$TAP/owner" 2>/dev/null)" == "$(cx id -u microvm)"

echo
say "Processes of the VM (in the container):"
cx ps -o user=,pid=,args= -C virtiofsd,virtiofs-launch,qemu-system-x86_64 \
    | cut -c1-160 | indent
say "runner-exec status:"
cx "$SYSD_PREFIX/bin/runner-exec" status 2>&1 | indent
check "runner-exec status: $NAME booted" bash -c \
    "nsenter -t $CONTAINER_PID1 -a $SYSD_PREFIX/bin/runner-exec status --json $NAME | grep -q '\"booted\": *true'"

# ---- 5 ---------------------------------------------------------------------
step "5. systemctl stop microvm@$NAME"
CUR1=$(cx journalctl --show-cursor -n 0 -q | sed -n 's/^-- cursor: //p')
T0=$(e2e_now)
cx systemctl stop "microvm@$NAME.service" 2>&1 | indent
helpers_down() {
    local u s
    for u in "${UNITS[@]}"; do
        s=$(sysd_show "$u" ActiveState)
        [[ $s == inactive || $s == failed ]] || return 1
    done
}
e2e_wait 60 helpers_down || true
say "all units down after $(e2e_since "$T0")s:"
cx journalctl --after-cursor="$CUR1" -o short-precise -q --no-hostname \
    | grep -E "microvm[-@a-z]*@$NAME|microvm-shutdown|MICROVM-E2E|Power down" \
    | grep -vE 'virtiofs-launch: .*: (fv_|virtio_loop|virtio_session|vhost socket)' | indent
for u in "${UNITS[@]}"; do
    check "$u: $(sysd_show "$u" ActiveState)" test "$(sysd_show "$u" ActiveState)" == inactive
done
check "the guest powered off through its power button (microvm-shutdown)" bash -c \
    "nsenter -t $CONTAINER_PID1 -a journalctl -u microvm@$NAME.service -o cat -q | grep -q 'MICROVM-E2E: power button pressed'"
check "$TAP is gone" bash -c "! nsenter -t $CONTAINER_PID1 -a ip link show $TAP >/dev/null 2>&1"
check "no virtiofsd left" bash -c "! nsenter -t $CONTAINER_PID1 -a pgrep -x virtiofsd >/dev/null"
check "no QEMU left" bash -c "! nsenter -t $CONTAINER_PID1 -a pgrep -f qemu-system >/dev/null"
check "booted is gone" test ! -L "$WORK/state/$NAME/booted" -a ! -e "$WORK/state/$NAME/booted"
check "no teardown record left in /run/microvm/$NAME" \
    bash -c "test -z \"\$(nsenter -t $CONTAINER_PID1 -a find /run/microvm/$NAME -type f 2>/dev/null)\""
say "runner-exec status:"
cx "$SYSD_PREFIX/bin/runner-exec" status 2>&1 | indent

exit 0
