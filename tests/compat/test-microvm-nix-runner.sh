#!/bin/bash
# tests/compat/test-microvm-nix-runner.sh: a runner package laid out as
# microvm.nix builds it today, every file, and every helper on it, in the
# order systemd runs them (up, start, stop, down).
#
# The runner is VM "web" (qemu; two TAPs with tap.vhost, a macvtap, a PCI
# and a USB device, two virtiofs shares and a 9p one, a vsock CID,
# registerWithMachined), in a store-like directory: root's, 1775 with the
# sticky bit like /nix/store, files 0444 and 0555, directories 0555. The
# formats, from microvm-nix/microvm.nix at 71beea0 (2026-08):
#   bin/NAME -> a script elsewhere in the store    lib/runner.nix (binScripts,
#        writeShellScript: "#!/bin/bash" here for the store's bash, linked)
#   bin/microvm-run      "set -eou pipefail", preStart, the macvtap fds
#        (lib/macvtap.nix openMacvtapFds: exec 3<>/dev/tapIFINDEX),
#        runtime_args=, exec -a "microvm@web" COMMAND     lib/runner.nix
#   bin/microvm-shutdown (qemu: QMP over the socket)   lib/runners/qemu.nix
#   bin/microvm-register, bin/microvm-unregister (busctl to machined)
#                                                       lib/runner.nix
#   bin/tap-up, tap-down, macvtap-up, macvtap-down  nixos-modules/microvm/interfaces.nix
#   bin/pci-setup                               nixos-modules/microvm/pci-devices.nix
#   bin/virtiofsd-run (supervisord)             nixos-modules/microvm/virtiofsd/default.nix
#   share/microvm/system -> toplevel             lib/runner.nix (systemSymlink)
#   share/microvm/tap-flags: "vnet_hdr", then "multi_queue" (tapMultiQueue),
#        one a line (echo ... >>)                lib/runner.nix
#   share/microvm/tap-interfaces: one id a line (echo >>)         lib/runner.nix
#   share/microvm/macvtap-interfaces: "ID MAC LINK MODE" a line    lib/runner.nix
#   share/microvm/virtiofs/TAG/{socket,source}: one line each, virtiofs
#        shares only; socket NAME-virtiofs-TAG.sock (relative) by default
#                                                   lib/runner.nix, options.nix
#   share/microvm/pci-devices, usb-devices: "${bus}-devices", path a line
#                                                                lib/runner.nix
#   share/microvm/vsock-cid, hypervisor: one line each            lib/runner.nix
# The scripts the helpers replace (tap-up, ..., virtiofsd-run) stand in
# for microvm.nix's: if one ran, it would leave a mark, and the test fails.
# register and the shutdown stand in for busctl and QMP.
#
# What each helper must do with it: tap-setup (TAPs with vnet_hdr and
# multi_queue, owned by the VM user, in a bridge, MTU; the macvtap on its
# link with its MAC and mode, /dev/tapN the VM user's) in a network
# namespace made here; pci-bind on the simulated sysfs (tests/shims); the
# real virtiofsd (Debian's, QEMU's C one) through virtiofs-launch, both
# shares' sockets listening at READY=1, the sources pinned; runner-exec start (as the VM
# user: the runner's own exec -a name, the VM dir as cwd, the macvtap fd
# open), register (the main PID, as root), status, stop
# (microvm-shutdown), unregister, cleanup; then everything undone.
# usb-devices, vsock-cid, hypervisor and the scripts are ignored.
# Exit 0 pass, 1 fail, 77 skip.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/e2e/lib.sh
. tests/e2e/lib.sh
e2e_need_root
[[ -x /usr/lib/qemu/virtiofsd ]] || e2e_skip "/usr/lib/qemu/virtiofsd missing (Debian package qemu-system-common)"
command -v setpriv >/dev/null || e2e_skip "setpriv missing (util-linux)"
VMUSER=nobody
VMGROUP=nogroup
if ! getent passwd "$VMUSER" >/dev/null || ! getent group "$VMGROUP" >/dev/null; then
    e2e_skip "no $VMUSER user or $VMGROUP group"
fi
UID_=$(id -u "$VMUSER")
GID_=$(getent group "$VMGROUP" | cut -d: -f3)
TAP_SETUP=$(e2e_bin tap-setup)
PCI_BIND=$(e2e_bin pci-bind)
LAUNCH=$(e2e_bin virtiofs-launch)
RUNNER_EXEC=$(e2e_bin runner-exec)
PCI_SIM=$(e2e_bin tests/helpers/pci-sim)
NOTIFYD=$(e2e_bin tests/helpers/e2e-notify)
SHIM=$(e2e_bin tests/shims/pcisim.so)

NAME=web
NS=mvm-compat-$$
TMP=
NS_MADE=0
LAUNCH_PID=
NOTIFY_PID=
VM_PID=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -n $VM_PID ]] && { kill -KILL "$VM_PID" 2>/dev/null; wait "$VM_PID" 2>/dev/null; }
    [[ -n $LAUNCH_PID ]] && { e2e_kill_group "$LAUNCH_PID"; wait "$LAUNCH_PID" 2>/dev/null; }
    [[ -n $NOTIFY_PID ]] && { kill "$NOTIFY_PID" 2>/dev/null; wait "$NOTIFY_PID" 2>/dev/null; }
    if [[ $NS_MADE == 1 ]]; then
        ip netns exec "$NS" "$TAP_SETUP" "${common[@]}" down "$NAME" >/dev/null 2>&1
        ip netns exec "$NS" "$TAP_SETUP" "${common[@]}" --macvtap --devfs "$TMP/dev" down "$NAME" >/dev/null 2>&1
        ip netns del "$NS" 2>/dev/null
    fi
    if [[ -n $TMP ]]; then
        # QEMU's C virtiofsd leaves a pid file a socket path in /run/virtiofsd.
        rm -f /run/virtiofsd/"${TMP//\//.}".*.pid
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
check() { e2e_check "$@"; }
in_ns() { ip netns exec "$NS" "$@"; }

TMP=$(mktemp -d /tmp/mvm-compat.XXXXXX)
chmod 755 "$TMP"
STATE=$TMP/state
VMDIR=$STATE/$NAME
RUN=$TMP/run
MARKS=$TMP/marks
mkdir -p "$VMDIR" "$RUN" "$MARKS" "$TMP/dev/vfio" "$TMP/shared/data"
chmod 777 "$MARKS"
chown "$VMUSER:$VMGROUP" "$VMDIR"
common=(--state-dir "$STATE" --runtime-dir "$RUN" --user "$VMUSER" --group "$VMGROUP")

# ---- the runner package -------------------------------------------------
STORE=$TMP/store
mkdir -m 1775 "$STORE"
h() { printf '%032d' "$1"; }
R=$STORE/$(h 1)-microvm-qemu-$NAME
SYSTEM=$STORE/$(h 2)-nixos-system-$NAME-26.05
mkdir -p "$SYSTEM" "$R/bin" "$R/share/microvm"
n=10
script() { # NAME TEXT: writeShellScript "microvm-web-NAME", linked as bin/NAME
    local p
    p=$STORE/$(h $n)-microvm-$NAME-$1
    n=$((n + 1))
    printf '#!/bin/bash\n%s\n' "$2" >"$p"
    chmod 555 "$p"
    ln -s "$p" "$R/bin/$1"
}
mark() { printf 'echo ran >"%s/%s"; exit 1' "$MARKS" "$1"; }
# shellcheck disable=SC2016  # the script's own expansions
script microvm-run 'set -eou pipefail
echo $$ > vm.pid
# Open macvtap interface file descriptors
exec 3<>/dev/tap$(< /sys/class/net/vm-webmv/ifindex)

runtime_args=

exec -a "microvm@web" sleep 3131 ${runtime_args:-}'
script microvm-shutdown "# (qemu: QMP input-send-event ctrl-alt-del through socat, then waits)
echo \"\$(id -u) \$(pwd -P)\" > $MARKS/shutdown
kill \"\$(cat vm.pid)\""
script microvm-register "set -euo pipefail
LEADER_PID=\"\${1:-\$\$}\"
MACHINE_NAME=\"web\"
# (busctl call org.freedesktop.machine1 ... RegisterMachine ... \$LEADER_PID)
echo \"\$(id -u) \$LEADER_PID \$#\" > $MARKS/register"
script microvm-unregister "set -euo pipefail
MACHINE_NAME=\"web\"
# (busctl call ... TerminateMachine \"s\" \"\$MACHINE_NAME\" || true)
echo \"\$(id -u) \$#\" > $MARKS/unregister"
for s in tap-up tap-down macvtap-up macvtap-down pci-setup; do
    script "$s" "$(mark "$s")"
done
# bin/virtiofsd-run as microvm.nix writes it: supervisord with its
# configuration (lib.generators.toINI), one script a share, exec'ing its
# virtiofsd; supervisord and that virtiofsd here leave a mark if run. The
# runner has no setting files of this project (as one `microvm -u` built):
# the launcher takes share ro's --readonly from its script.
SUPERVISORD=$STORE/$(h 3)-python3.11-supervisor-4.2.5/bin/supervisord
MNIX_VIRTIOFSD=$STORE/$(h 4)-virtiofsd-1.13.2/bin/virtiofsd
CONF=$STORE/$(h 5)-web-virtiofsd-supervisord.conf
for p in "$SUPERVISORD" "$MNIX_VIRTIOFSD"; do
    mkdir -p "${p%/*}"
    printf '#!/bin/bash\n%s\n' "$(mark "${p##*/}")" >"$p"
done
{
    printf '[eventlistener:notify]\nbuffer_size=48\ncommand=%s\nevents=PROCESS_STATE\n' \
        "$STORE/$(h 6)-supervisord-event-handler"
    for tag in data ro; do
        printf '\n[program:virtiofsd-%s]\ncommand=%s\nstderr_syslog=true\nstdout_syslog=true\n' \
            "$tag" "$STORE/$(h 7)-virtiofsd-$tag"
    done
    printf '\n[supervisord]\nnodaemon=true\nuser=root\n'
} >"$CONF"
for tag in data ro; do
    # shellcheck disable=SC2016  # the script's own expansions
    printf '#!/bin/bash\nif [ $(id -u) = 0 ]; then\n  OPT_RLIMIT="--rlimit-nofile 1048576"\nelse\n  OPT_RLIMIT=""\nfi\nexec %s \\\n  --socket-path=%s \\\n  --socket-group=kvm \\\n  --shared-dir=%s \\\n  $OPT_RLIMIT \\\n  --thread-pool-size `nproc` \\\n  --posix-acl --xattr \\\n  --cache=auto \\\n  --inode-file-handles=prefer \\\n   \\\n  %s \\\n   \\\n  \n' \
        "$MNIX_VIRTIOFSD" "web-virtiofs-$tag.sock" "'/var/lib/microvms/web/$tag src'" \
        "$([[ $tag == ro ]] && echo --readonly)" >"$STORE/$(h 7)-virtiofsd-$tag"
done
chmod 555 "$SUPERVISORD" "$MNIX_VIRTIOFSD" "$STORE/$(h 7)"-virtiofsd-*
chmod 444 "$CONF"
script virtiofsd-run "exec $SUPERVISORD --configuration $CONF \"\$@\""
ln -s "$SYSTEM" "$R/share/microvm/system"
sm=$R/share/microvm
echo vnet_hdr >"$sm/tap-flags"
echo multi_queue >>"$sm/tap-flags"
echo "vm-web0" >>"$sm/tap-interfaces"
echo "vm-web1" >>"$sm/tap-interfaces"
echo "vm-webmv 02:00:00:00:00:0a lower0 bridge" >>"$sm/macvtap-interfaces"
mkdir -p "$sm/virtiofs/data" "$sm/virtiofs/ro"
echo "web-virtiofs-data.sock" >"$sm/virtiofs/data/socket"
echo "$TMP/shared/data" >"$sm/virtiofs/data/source"
echo "web-virtiofs-ro.sock" >"$sm/virtiofs/ro/socket"
echo "ro-src" >"$sm/virtiofs/ro/source"
echo "0000:01:00.0" >>"$sm/pci-devices"
echo "vendorid=0xabcd,productid=0x0123" >>"$sm/usb-devices"
echo "3" >"$sm/vsock-cid"
echo "qemu" >"$sm/hypervisor"
chmod -R a-w "$R"
ln -s "$R" "$VMDIR/current"

# ---- 1. tap-setup: TAPs and the macvtap, in a network namespace ---------
ip netns add "$NS" && NS_MADE=1
in_ns ip link set lo up
in_ns ip link add br0 type bridge
in_ns ip link add lower0 type veth peer name lower0p
echo "== tap-setup up $NAME (netns $NS)"
out=$(in_ns "$TAP_SETUP" "${common[@]}" --bridge br0 --mtu 1400 up "$NAME" 2>&1)
check "tap-setup up: exit 0${out:+: $out}" test $? -eq 0
for t in vm-web0 vm-web1; do
    # IFF_TAP 0x2, IFF_MULTI_QUEUE 0x100, IFF_VNET_HDR 0x4000.
    check "$t: a TAP with vnet_hdr and multi_queue" in_ns sh -c \
        "test \$((\$(cat /sys/class/net/$t/tun_flags) & 0x4102)) -eq $((0x4102))"
    check "$t: owner $UID_, group $GID_" in_ns sh -c \
        "test \$(cat /sys/class/net/$t/owner):\$(cat /sys/class/net/$t/group) = $UID_:$GID_"
    check "$t: in br0, MTU 1400, up" in_ns sh -c \
        "ip -o link show $t | grep -q 'master br0' && test \$(cat /sys/class/net/$t/mtu) = 1400 &&
         ip -o link show $t | grep -q '[<,]UP[,>]'"
done
out=$(in_ns "$TAP_SETUP" "${common[@]}" --macvtap --devfs "$TMP/dev" up "$NAME" 2>&1)
check "tap-setup --macvtap up: exit 0${out:+: $out}" test $? -eq 0
mv_ifx=$(in_ns cat /sys/class/net/vm-webmv/ifindex 2>/dev/null)
check "vm-webmv: a macvtap on lower0, mode bridge, MAC 02:00:00:00:00:0a" in_ns sh -c \
    "ip -d -o link show vm-webmv | grep -q 'vm-webmv@lower0:.*link/ether 02:00:00:00:00:0a .*macvtap  *mode bridge'"
check "/dev/tap$mv_ifx (re-rooted) the VM user's" \
    test "$(stat -c %u:%g "$TMP/dev/tap$mv_ifx" 2>/dev/null)" = "$UID_:$GID_"

# ---- 2. pci-bind on the simulated sysfs ---------------------------------
echo "== pci-bind bind $NAME (simulated sysfs)"
SYS=$TMP/sys
{ "$PCI_SIM" "$SYS" init && "$PCI_SIM" "$SYS" device 0000:01:00.0 driver=e1000e group=5 &&
    "$PCI_SIM" "$SYS" driver vfio-pci; } || e2e_die "pci-sim could not build the tree"
mknod -m 600 "$TMP/dev/vfio/5" c 10 200
pci() {
    env LD_PRELOAD="$SHIM" PCISIM_ROOT="$SYS" MICROVM_MODULES_DIR= \
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
        "$PCI_BIND" "${common[@]}" --sysfs "$SYS" --devfs "$TMP/dev" "$@" "$NAME"
}
out=$(pci bind 2>&1)
check "pci-bind bind: exit 0${out:+: $out}" test $? -eq 0
drv() { basename "$(readlink "$SYS/bus/pci/devices/0000:01:00.0/driver")"; }
check "0000:01:00.0 on vfio-pci" test "$(drv)" = vfio-pci
check "/dev/vfio/5 the VM user's" test "$(stat -c %u:%g "$TMP/dev/vfio/5")" = "$UID_:$GID_"

# ---- 3. virtiofs-launch with the real virtiofsd -------------------------
echo "== virtiofs-launch $NAME (/usr/lib/qemu/virtiofsd)"
"$NOTIFYD" "$TMP/notify.sock" >"$TMP/notify.log" 2>&1 &
NOTIFY_PID=$!
e2e_wait 5 test -S "$TMP/notify.sock" || e2e_die "e2e-notify did not bind"
setsid env NOTIFY_SOCKET="$TMP/notify.sock" "$LAUNCH" --state-dir "$STATE" --runtime-dir "$RUN" \
    --group "$VMGROUP" --virtiofsd /usr/lib/qemu/virtiofsd "$NAME" >"$TMP/launch.log" 2>&1 &
LAUNCH_PID=$!
ready() { grep -q ' READY=1$' "$TMP/notify.log" || { kill -0 "$LAUNCH_PID" 2>/dev/null && return 1; return 0; }; }
e2e_wait 20 ready
check "READY=1" grep -q ' READY=1$' "$TMP/notify.log"
cp /proc/net/unix "$TMP/unix"
for tag in data ro; do
    check "share $tag: $VMDIR/web-virtiofs-$tag.sock listens" \
        e2e_unix_listening "$VMDIR/web-virtiofs-$tag.sock" "$TMP/unix"
done
# (READY=1 comes as the sockets listen, just before the daemons are forked.)
two() { [[ $(pgrep -P "$LAUNCH_PID" -x virtiofsd | wc -l) -eq 2 ]]; }
e2e_wait 5 two
check "two virtiofsd (children of the launcher)" two
check "the relative source ro-src made in the VM's directory" test -d "$VMDIR/ro-src"
fsd_args=$(for p in $(pgrep -P "$LAUNCH_PID" -x virtiofsd); do tr '\0' ' ' <"/proc/$p/cmdline"; echo; done)
# The daemon serves the source the launcher pinned on RUN/NAME/virtiofs/TAG
# in its own mount namespace, and takes its socket as fd 3.
check "virtiofsd of share data: --fd=3 -o source=$RUN/$NAME/virtiofs/data" \
    grep -q -- "--fd=3 -o source=$RUN/$NAME/virtiofs/data " <<<"$fsd_args"
# Share ro is read-only (--readonly in microvm.nix's script for it), data
# writable: the launcher's pins, in its mount namespace, as the daemons
# see them.
pinned() { echo "/proc/$LAUNCH_PID/root$RUN/$NAME/virtiofs/$1"; }
check "share ro served read-only (microvm.nix's --readonly)" \
    bash -c "! touch '$(pinned ro)/x' 2>/dev/null && grep -q ' $RUN/$NAME/virtiofs/ro ro[, ]' /proc/$LAUNCH_PID/mountinfo"
check "share data served writable" bash -c "touch '$(pinned data)/x' && rm '$(pinned data)/x'"
check "what it serves is $TMP/shared/data" test "$(stat -c %d:%i "/proc/$LAUNCH_PID/root$RUN/$NAME/virtiofs/data")" \
    = "$(stat -c %d:%i "$TMP/shared/data")"

# ---- 4. runner-exec -----------------------------------------------------
echo "== runner-exec start $NAME (as $VMUSER, in the netns: microvm-run opens /dev/tap$mv_ifx)"
# The VM user opens the macvtap's node: the re-rooted one, bound over the
# host's in a mount namespace of the runner's own.
# shellcheck disable=SC2016  # expanded by that sh
ip netns exec "$NS" unshare -m --propagation private -- sh -c '
    mount --bind "$1" "$2" && exec setpriv --reuid="$3" --regid="$4" --clear-groups -- \
        "$5" --state-dir "$6" start "$7"' sh "$TMP/dev/tap$mv_ifx" "/dev/tap$mv_ifx" \
    "$VMUSER" "$VMGROUP" "$RUNNER_EXEC" "$STATE" "$NAME" >"$TMP/vm.log" 2>&1 &
VM_PID=$!
running() { [[ $(tr '\0' ' ' <"/proc/$VM_PID/cmdline" 2>/dev/null) == "microvm@web 3131 " ]]; }
e2e_wait 10 running
check "the VM process: argv 'microvm@web 3131' (exec -a of microvm-run)" running
# ip netns exec, unshare, setpriv, runner-exec, bash: all exec in place.
check "the VM runs as $VMUSER with the pid started" test "$(stat -c %u "/proc/$VM_PID")" = "$UID_"
check "its cwd is the VM's directory" test "$(readlink "/proc/$VM_PID/cwd")" = "$VMDIR"
check "it holds the macvtap open (fd 3)" test "$(readlink "/proc/$VM_PID/fd/3")" = "/dev/tap$mv_ifx"
check "booted -> the runner" test "$(readlink "$VMDIR/booted")" = "$R"
out=$(MAINPID=$VM_PID "$RUNNER_EXEC" --state-dir "$STATE" register "$NAME" 2>&1)
check "runner-exec register (root, MAINPID=$VM_PID): exit 0${out:+: $out}" test $? -eq 0
check "microvm-register ran as root with the main PID" test "$(cat "$MARKS/register" 2>/dev/null)" = "0 $VM_PID 1"
st=$("$RUNNER_EXEC" --state-dir "$STATE" status "$NAME")
check "status: booted, not outdated, the system" grep -Eq "^web +yes +no +$SYSTEM " <<<"$st"
out=$(setpriv --reuid="$VMUSER" --regid="$VMGROUP" --clear-groups -- \
    "$RUNNER_EXEC" --state-dir "$STATE" stop "$NAME" 2>&1)
check "runner-exec stop: exit 0${out:+: $out}" test $? -eq 0
check "microvm-shutdown ran as $VMUSER in the VM's directory" \
    test "$(cat "$MARKS/shutdown" 2>/dev/null)" = "$UID_ $VMDIR"
e2e_wait 5 bash -c "! kill -0 $VM_PID 2>/dev/null || [[ \$(cat /proc/$VM_PID/stat 2>/dev/null | cut -d' ' -f3) == Z ]]"
wait "$VM_PID" 2>/dev/null
VM_PID=
out=$("$RUNNER_EXEC" --state-dir "$STATE" unregister "$NAME" 2>&1)
check "runner-exec unregister: exit 0${out:+: $out}" test $? -eq 0
check "microvm-unregister ran as root, no arguments" test "$(cat "$MARKS/unregister" 2>/dev/null)" = "0 0"
out=$(setpriv --reuid="$VMUSER" --regid="$VMGROUP" --clear-groups -- \
    "$RUNNER_EXEC" --state-dir "$STATE" cleanup "$NAME" 2>&1)
rc=$?
check "runner-exec cleanup: exit 0 (was $rc), booted gone${out:+: $out}" \
    test "$rc" -eq 0 -a ! -L "$VMDIR/booted"

# ---- 5. down -------------------------------------------------------------
echo "== stop: virtiofs-launch, pci-bind unbind, tap-setup down"
kill -TERM "$LAUNCH_PID"
wait "$LAUNCH_PID"
check "virtiofs-launch: exit 0 on SIGTERM" test $? -eq 0
LAUNCH_PID=
no_virtiofsd() { ! pgrep -a -x virtiofsd | grep -qF "$RUN/$NAME/virtiofs/"; }
check "no virtiofsd left" no_virtiofsd
out=$(pci unbind 2>&1)
check "pci-bind unbind: exit 0${out:+: $out}" test $? -eq 0
check "0000:01:00.0 back on e1000e" test "$(drv)" = e1000e
out=$(in_ns "$TAP_SETUP" "${common[@]}" down "$NAME" 2>&1)
check "tap-setup down: exit 0${out:+: $out}" test $? -eq 0
out=$(in_ns "$TAP_SETUP" "${common[@]}" --macvtap --devfs "$TMP/dev" down "$NAME" 2>&1)
check "tap-setup --macvtap down: exit 0${out:+: $out}" test $? -eq 0
for t in vm-web0 vm-web1 vm-webmv; do
    check "$t gone" bash -c "! ip netns exec $NS ip link show $t >/dev/null 2>&1"
done
check "no records left in $RUN/$NAME" bash -c "[[ -z \$(ls -A '$RUN/$NAME' 2>/dev/null | grep -v '\\.lock\$') ]]"

# ---- what was ignored ---------------------------------------------------
marks=$(find "$MARKS" -mindepth 1 ! -name register ! -name unregister ! -name shutdown -printf '%f ')
check "none of microvm.nix's own scripts ran${marks:+: $marks}" test -z "$marks"
check "the runner is as it was built (nothing written into it)" \
    test -z "$(find "$R" -newer "$R/share/microvm/hypervisor" ! -path "$R")"

[[ $E2E_FAILS == 0 ]] || { echo "-- launch log"; cat "$TMP/launch.log"; echo "-- vm log"; cat "$TMP/vm.log"; }
[[ $E2E_FAILS == 0 ]]
