#!/bin/bash
# tests/e2e/test-by-hand.sh: the helpers by hand, no systemd, a real VM.
#
# In a private network namespace, as an operator would without systemd:
#   1. tap-setup up: the TAP exists in the netns only, owned by the VM user
#      (nobody:nogroup here), up;
#   2. virtiofs-launch (QEMU's C virtiofsd; tests/e2e/test-rust-virtiofsd.sh
#      does the Rust one): READY=1 on a test notify socket, and the shares'
#      sockets listen (root:nogroup 0660, the launcher's) by then;
#   3. runner-exec start (as the VM user) execs the QEMU runner: the guest
#      finds the host's random token in the share and writes it back, reads
#      it in the read-only share and cannot write there (EROFS), its ping
#      of the host end works, TAP rx_packets > 0, `booted` is set;
#   4. the VM disconnected, so virtiofsd exited: the launcher starts none
#      while no client is there, the same sockets listen; cleanup removes
#      `booted`; a second boot of the same VM works (its connection
#      started the daemons);
#   5. a client on each socket starts both daemons; SIGTERM to the
#      launcher: STOPPING=1, exit 0, those virtiofsd gone;
#   6. `current` re-pointed to a new runner (multi_queue TAP, no share):
#      tap-setup down still removes the TAP from its record, up makes the
#      multi_queue one, a third boot (QEMU queues=2) pings the host;
#   7. tap-setup down: the TAP is gone (down again: still exit 0).
# The VM user runs QEMU: it needs /dev/net/tun 0666 as on a udev host; the
# test gives QEMU's own mount namespace a /dev/net of its own (a tmpfs, so
# the node works wherever the host's /tmp is mounted nodev) with such a
# node; the host's node is left alone.
# Exit 0 pass, 1 fail, 77 skip (packages cannot be installed).
# Env: B (build dir, default build), E2E_CACHE_DIR, E2E_BOOT_TIMEOUT (s,
# default 120), E2E_KEEP=1 (keep the temp dir).
set -euo pipefail

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CACHE=${E2E_CACHE_DIR:-$E2E_DEFAULT_CACHE}
BOOT_TIMEOUT=${E2E_BOOT_TIMEOUT:-120}
NAME=hand
TAP=mvm-hand0
HOST_IP=10.213.0.1
VMUSER=nobody
VMGROUP=nogroup

e2e_need_root
e2e_need_pkgs qemu-system-x86 qemu-system-common busybox-static cpio kmod \
    iproute2 perl-base util-linux procps \
    || e2e_skip "cannot install qemu/busybox/iproute2/util-linux"
[[ -x /usr/lib/qemu/virtiofsd ]] || e2e_skip "/usr/lib/qemu/virtiofsd missing (qemu-system-common)"
getent passwd "$VMUSER" >/dev/null && getent group "$VMGROUP" >/dev/null \
    || e2e_die "no $VMUSER user or $VMGROUP group"
TAP_SETUP=$(e2e_bin tap-setup)
LAUNCH=$(e2e_bin virtiofs-launch)
RUNNER_EXEC=$(e2e_bin runner-exec)
NOTIFYD=$(e2e_bin tests/helpers/e2e-notify)
"$E2E_DIR/guest.sh" "$CACHE" >/dev/null

NS=mvm-e2e-hand-$$
TMP=
NOTIFY_PID=
LAUNCH_PID=
VM_PID=
NS_MADE=0

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -n $VM_PID ]] && { e2e_kill_group "$VM_PID"; wait "$VM_PID" 2>/dev/null || true; }
    [[ -n $LAUNCH_PID ]] && { e2e_kill_group "$LAUNCH_PID"; wait "$LAUNCH_PID" 2>/dev/null || true; }
    [[ -n $NOTIFY_PID ]] && { kill "$NOTIFY_PID" 2>/dev/null; wait "$NOTIFY_PID" 2>/dev/null || true; }
    e2e_release_clients
    if [[ $NS_MADE == 1 ]]; then
        ip netns exec "$NS" "$TAP_SETUP" --state-dir "$TMP/state" \
            --runtime-dir "$TMP/run" down "$NAME" >/dev/null 2>&1 || true
        ip netns del "$NS" 2>/dev/null || true
    fi
    if [[ -n $TMP ]]; then
        if [[ ${E2E_KEEP:-0} == 1 ]]; then e2e_log "kept $TMP"; else rm -rf "$TMP"; fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

check() { e2e_check "$@"; }
in_ns() { ip netns exec "$NS" "$@"; }
show() { sed 's/^/    | /' "$@"; }

TMP=$(mktemp -d /tmp/mvm-e2e-hand.XXXXXX)
chmod 755 "$TMP"
STATE=$TMP/state
VMDIR=$STATE/$NAME
SOCK=$VMDIR/$NAME-virtiofs-share.sock
ROSOCK=$VMDIR/$NAME-virtiofs-ro.sock
mkdir -p "$VMDIR/share" "$VMDIR/rosrc" "$TMP/run"
chown "$VMUSER:$VMGROUP" "$VMDIR"     # the VM user makes `booted` there
TOKEN=$(e2e_token)
printf '%s\n' "$TOKEN" >"$VMDIR/share/token"
printf '%s\n' "$TOKEN" >"$VMDIR/rosrc/token"
"$E2E_DIR/mkrunner.sh" --cache "$CACHE" --name "$NAME" --tap "$TAP" \
    --host-ip "$HOST_IP" --token "$TOKEN" --ro-share ro=rosrc "$TMP/runner" >/dev/null
ln -s "$TMP/runner" "$VMDIR/current"
ip netns add "$NS"
NS_MADE=1
in_ns ip link set lo up

common=(--state-dir "$STATE" --runtime-dir "$TMP/run")

echo "== 1. tap-setup up $NAME (netns $NS)"
out=$(in_ns "$TAP_SETUP" "${common[@]}" --user "$VMUSER" --group "$VMGROUP" up "$NAME" 2>&1) \
    && rc=0 || rc=$?
[[ -z $out ]] || show <<<"$out"
check "tap-setup up: exit 0" test "$rc" -eq 0
uid=$(id -u "$VMUSER") gid=$(getent group "$VMGROUP" | cut -d: -f3)
check "$TAP exists in the netns" in_ns ip link show "$TAP" >/dev/null
check "$TAP is a TAP (tun_flags has IFF_TAP)" \
    in_ns sh -c "test \$((\$(cat /sys/class/net/$TAP/tun_flags) & 2)) -eq 2"
check "$TAP owner $uid group $gid" \
    in_ns sh -c "test \$(cat /sys/class/net/$TAP/owner) = $uid && test \$(cat /sys/class/net/$TAP/group) = $gid"
check "$TAP is up" in_ns sh -c "ip -o link show $TAP | grep -q '[<,]UP[,>]'"
check "$TAP is not on the host" bash -c "! ip link show $TAP >/dev/null 2>&1"
# The host end's address is the operator's job (networkd on a real host).
in_ns ip addr add "$HOST_IP/24" dev "$TAP"

echo "== 2. virtiofs-launch $NAME, notify socket $TMP/notify.sock"
"$NOTIFYD" "$TMP/notify.sock" >"$TMP/notify.log" 2>&1 &
NOTIFY_PID=$!
e2e_wait 5 test -S "$TMP/notify.sock" || e2e_die "e2e-notify did not bind"
T0=$(e2e_now)
setsid ip netns exec "$NS" env NOTIFY_SOCKET="$TMP/notify.sock" \
    "$LAUNCH" --state-dir "$STATE" --runtime-dir "$TMP/run" --group "$VMGROUP" "$NAME" \
    >"$TMP/launch.log" 2>&1 &
LAUNCH_PID=$!
ready() {
    grep -q ' READY=1$' "$TMP/notify.log" && return 0
    kill -0 "$LAUNCH_PID" 2>/dev/null || return 2
    return 1
}
listening() {
    in_ns cat /proc/net/unix >"$TMP/unix" && e2e_unix_listening "$SOCK" "$TMP/unix" &&
        e2e_unix_listening "$ROSOCK" "$TMP/unix"
}
if e2e_wait 15 ready && kill -0 "$LAUNCH_PID" 2>/dev/null; then
    # The socket must listen by the time READY=1 is seen.
    check "READY=1 on the notify socket ($(e2e_since "$T0")s), the socket listens then" listening
else
    e2e_fail "no READY=1 within 15s (launcher running: $(kill -0 "$LAUNCH_PID" 2>/dev/null && echo yes || echo no))"
    show "$TMP/launch.log"
    e2e_die "virtiofs-launch did not come up; the rest depends on it"
fi
show "$TMP/notify.log"
check "sockets root:$VMGROUP 0660" test "$(stat -c %U:%G:%a "$SOCK" "$ROSOCK" 2>/dev/null | sort -u)" \
    == "root:$VMGROUP:660"
SOCK_INO=$(stat -c %i "$SOCK")
# READY=1 comes just before the daemons are forked: wait for both.
two_daemons() { FSD1=$(e2e_virtiofsd_of "$LAUNCH_PID" 2); }
e2e_wait 5 two_daemons || true
# ip netns exec execs the launcher in place: its children are virtiofsd.
check "two virtiofsd children of the launcher (pids ${FSD1:-none})" two_daemons

# boot N: runner-exec start as the VM user, in the netns, QEMU's own
# mount ns with a /dev/net/tun of mode 0666, own process group; waits for
# the exit.
boot() {   # boot N EXPECTED-MARKER
    local n=$1 want=$2 t0
    rm -f "$VMDIR/share/from-guest"
    t0=$(e2e_now)
    setsid timeout "$BOOT_TIMEOUT" ip netns exec "$NS" \
        unshare -m --propagation private -- sh -c '
            mount -n -t tmpfs -o mode=0755 mvm-e2e-dev-net /dev/net &&
            mknod -m 666 /dev/net/tun c 10 200 && echo $$ >"$6" &&
            exec setpriv --reuid="$1" --regid="$2" --clear-groups -- "$3" --state-dir "$4" start "$5"' \
        sh "$VMUSER" "$VMGROUP" "$RUNNER_EXEC" "$STATE" "$NAME" "$TMP/vm.pid" \
        </dev/null >"$TMP/console$n.log" 2>&1 &
    VM_PID=$!
    # While it runs: `booted` points at the runner, QEMU is the VM user's.
    qemu_up() {
        pgrep -u "$VMUSER" -x qemu-system-x86 >/dev/null && return 0
        kill -0 "$VM_PID" 2>/dev/null || return 0
        return 1
    }
    e2e_wait 30 qemu_up || true
    local qpid
    qpid=$(pgrep -u "$VMUSER" -x qemu-system-x86 || true)
    check "QEMU runs as $VMUSER (pid ${qpid:-none})" test -n "$qpid"
    # runner-exec execs microvm-run in place, which execs QEMU: one pid.
    check "QEMU has the pid runner-exec was started with ($(cat "$TMP/vm.pid" 2>/dev/null))" \
        test -n "$qpid" -a "$qpid" == "$(cat "$TMP/vm.pid" 2>/dev/null)"
    check "booted -> $(readlink "$VMDIR/booted" 2>/dev/null)" \
        test "$(readlink -f "$VMDIR/booted" 2>/dev/null)" == "$(readlink -f "$VMDIR/current")"
    VM_RC=0
    wait "$VM_PID" || VM_RC=$?
    VM_PID=
    show "$TMP/console$n.log"
    echo "   VM ran $(e2e_since "$t0")s, exit status $VM_RC"
    check "boot $n: runner exit 0" test "$VM_RC" -eq 0
    check "boot $n: marker $want" grep -q "^MICROVM-E2E: $want" "$TMP/console$n.log"
    if [[ $want == *share=ok* ]]; then
        check "boot $n: share/from-guest holds the host's token" \
            grep -qx "token=$TOKEN" "$VMDIR/share/from-guest"
    fi
    if [[ $want == *ro=ok* ]]; then
        check "boot $n: nothing written into the read-only share" test ! -e "$VMDIR/rosrc/from-guest"
    fi
}

echo "== 3. runner-exec start $NAME (as $VMUSER)"
boot 1 "result=ok token=$TOKEN share=ok ping=ok ro=ok"
RX=$(in_ns cat "/sys/class/net/$TAP/statistics/rx_packets" || echo 0)
check "TAP rx_packets > 0 ($RX)" test "$RX" -gt 0
st=$("$RUNNER_EXEC" --state-dir "$STATE" status "$NAME" 2>&1 || true)
show <<<"$st"

echo "== 4. the VM left: no daemon until the next client; second boot"
fsd_gone() {
    FSD2=$(pgrep -P "$LAUNCH_PID" -d' ' 2>/dev/null || true)
    [[ -z $FSD2 ]]
}
if e2e_wait 10 fsd_gone; then
    # (a daemon started now would be one only to be stopped if the VM
    # stays down; the next client starts it)
    sleep 0.3
    FSD2=$(pgrep -P "$LAUNCH_PID" -d' ' 2>/dev/null || true)
    check "no virtiofsd runs while no client is there (children: ${FSD2:-none})" test -z "$FSD2"
else
    e2e_fail "the virtiofsd of the VM that left are still there (pids $FSD2)"
fi
check "the sockets listen all along" listening
check "the socket was not made again (inode $SOCK_INO)" test "$(stat -c %i "$SOCK")" == "$SOCK_INO"
check "launcher still running" kill -0 "$LAUNCH_PID"
check "runner-exec cleanup (as $VMUSER)" \
    setpriv --reuid="$VMUSER" --regid="$VMGROUP" --clear-groups -- \
    "$RUNNER_EXEC" --state-dir "$STATE" cleanup "$NAME"
check "booted is gone" test ! -e "$VMDIR/booted" -a ! -L "$VMDIR/booted"
boot 2 "result=ok token=$TOKEN share=ok ping=ok ro=ok"
check "the launcher started the daemons when the VM connected" \
    grep -q "its client left; starting it again when a client connects" "$TMP/launch.log"

echo "== 5. stop: SIGTERM to the launcher, its daemons running"
# The daemons run while a client is there (4.): a client on each socket
# makes the launcher start them, so the stop has daemons to stop. Their
# pids are taken while they run, before the stop.
e2e_wait 10 fsd_gone || true # (the second VM's, exiting)
e2e_hold_daemons "$LAUNCH_PID" "$SOCK" "$ROSOCK"
FSD=$(e2e_virtiofsd_of "$LAUNCH_PID")
check "a virtiofsd for each of two clients before the stop (pids ${FSD:-none})" \
    test "$(wc -w <<<"$FSD")" -eq 2
T0=$(e2e_now)
kill -TERM "$LAUNCH_PID" 2>/dev/null || true
LRC=0
wait "$LAUNCH_PID" || LRC=$?
echo "   launcher exited $LRC after $(e2e_since "$T0")s"
LAUNCH_PID=
check "launcher exit 0 on SIGTERM" test "$LRC" -eq 0
check "STOPPING=1 on the notify socket" grep -q ' STOPPING=1$' "$TMP/notify.log"
check "no virtiofsd left (were: ${FSD:-none})" e2e_pids_gone "$FSD"
e2e_release_clients
check "the sockets are removed" test ! -e "$SOCK" -a ! -e "$ROSOCK"
echo "   virtiofs-launch's log (last lines):"
tail -n 4 "$TMP/launch.log" | show
[[ $E2E_FAILS -eq 0 ]] || { echo "   virtiofs-launch's whole log:"; show "$TMP/launch.log"; }

echo "== 6. current re-pointed to a new runner (multi_queue TAP, no share)"
"$E2E_DIR/mkrunner.sh" --cache "$CACHE" --name "$NAME" --tap "$TAP" --multi-queue \
    --no-shares --host-ip "$HOST_IP" "$TMP/runner-mq" >/dev/null
ln -sfn "$TMP/runner-mq" "$VMDIR/current"
out=$(in_ns "$TAP_SETUP" "${common[@]}" down "$NAME" 2>&1) && rc=0 || rc=$?
[[ -z $out ]] || show <<<"$out"
check "tap-setup down (from the record, current re-pointed): exit 0" test "$rc" -eq 0
check "$TAP is gone" bash -c "! ip netns exec $NS ip link show $TAP >/dev/null 2>&1"
out=$(in_ns "$TAP_SETUP" "${common[@]}" --user "$VMUSER" --group "$VMGROUP" up "$NAME" 2>&1) \
    && rc=0 || rc=$?
[[ -z $out ]] || show <<<"$out"
check "tap-setup up with tap-flags 'vnet_hdr multi_queue': exit 0" test "$rc" -eq 0
check "$TAP has IFF_MULTI_QUEUE and IFF_VNET_HDR" \
    in_ns sh -c "test \$((\$(cat /sys/class/net/$TAP/tun_flags) & 0x4100)) -eq \$((0x4100))"
in_ns ip addr add "$HOST_IP/24" dev "$TAP"
boot 3 "result=ok token= share=skip ping=ok"
RX=$(in_ns cat "/sys/class/net/$TAP/statistics/rx_packets" || echo 0)
check "multi_queue TAP rx_packets > 0 ($RX)" test "$RX" -gt 0

echo "== 7. tap-setup down"
out=$(in_ns "$TAP_SETUP" "${common[@]}" down "$NAME" 2>&1) && rc=0 || rc=$?
[[ -z $out ]] || show <<<"$out"
check "tap-setup down: exit 0" test "$rc" -eq 0
check "$TAP is gone" bash -c "! ip netns exec $NS ip link show $TAP >/dev/null 2>&1"
check "tap-setup down again: exit 0 (no record, nothing to do)" \
    in_ns "$TAP_SETUP" "${common[@]}" down "$NAME"
check "no record left in the runtime dir" test -z "$(find "$TMP/run" -mindepth 2 2>/dev/null)"

if [[ $E2E_FAILS -eq 0 ]]; then
    echo "test-by-hand: PASS"
else
    echo "test-by-hand: FAIL ($E2E_FAILS checks failed)"
    exit 1
fi
