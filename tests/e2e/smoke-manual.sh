#!/bin/bash
# tests/e2e/smoke-manual.sh
#
# Proves the e2e guest and runner package by hand, with no project code:
# in a private network namespace it creates the TAP with `ip tuntap`,
# starts /usr/lib/qemu/virtiofsd itself and runs bin/microvm-run, then
#   1. boot: marker line, share/from-guest holds the host's random token,
#      the guest's ping worked, TAP rx_packets > 0;
#   2. wait mode: the guest stays up until bin/microvm-shutdown (QMP
#      system_powerdown) powers it off gracefully;
#   3. a multi_queue TAP with QEMU queues=2;
#   4. a runner without shares or TAPs still boots.
# Exit 0 pass, 1 fail, 77 skip (packages cannot be installed).
# Env: E2E_CACHE_DIR (guest cache), E2E_BOOT_TIMEOUT (s, default 120),
#      E2E_KEEP=1 (keep the temp dir for inspection).
set -euo pipefail

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CACHE=${E2E_CACHE_DIR:-$E2E_DEFAULT_CACHE}
BOOT_TIMEOUT=${E2E_BOOT_TIMEOUT:-120}
VIRTIOFSD=/usr/lib/qemu/virtiofsd
NAME=e2e
TAP=mvm-e2e0
HOST_IP=10.213.0.1
GUEST_IP=10.213.0.2/24

e2e_need_root
e2e_need_pkgs qemu-system-x86 qemu-system-common busybox-static cpio kmod \
    iproute2 perl-base || e2e_skip "cannot install qemu/busybox/iproute2"
[[ -x $VIRTIOFSD ]] || e2e_skip "$VIRTIOFSD missing (qemu-system-common)"
"$E2E_DIR/guest.sh" "$CACHE" >/dev/null

NS=mvm-e2e-$$
TMP=
QEMU_PID=
FSD_PID=
FAILS=0

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -n $QEMU_PID ]] && { e2e_kill_group "$QEMU_PID"; wait "$QEMU_PID" 2>/dev/null || true; }
    [[ -n $FSD_PID ]] && { e2e_kill_group "$FSD_PID"; wait "$FSD_PID" 2>/dev/null || true; }
    ip netns del "$NS" 2>/dev/null || true
    # virtiofsd leaves a pid file per socket path in /run/virtiofsd
    if [[ -n $TMP ]]; then
        local sock=$TMP/state/$NAME/$NAME-virtiofs-share.sock
        rm -f "/run/virtiofsd/${sock//\//.}.pid"
    fi
    if [[ -n $TMP ]]; then
        if [[ ${E2E_KEEP:-0} == 1 ]]; then e2e_log "kept $TMP"; else rm -rf "$TMP"; fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ok() { printf 'ok   %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; FAILS=$((FAILS + 1)); }
check() {   # check DESCRIPTION CMD...
    local what=$1; shift
    if "$@"; then ok "$what"; else fail "$what"; fi
}
in_ns() { ip netns exec "$NS" "$@"; }

TMP=$(mktemp -d /tmp/mvm-e2e.XXXXXX)
chmod 755 "$TMP"
STATE=$TMP/state/$NAME
mkdir -p "$STATE/share"

ip netns add "$NS"
in_ns ip link set lo up

# tap_create [multi_queue]
tap_create() {
    in_ns ip tuntap add dev "$TAP" mode tap "$@"
    in_ns ip addr add "$HOST_IP/24" dev "$TAP"
    in_ns ip link set "$TAP" up
}
tap_delete() { in_ns ip link del "$TAP"; }
tap_rx() { in_ns cat "/sys/class/net/$TAP/statistics/rx_packets"; }

# fsd_start SOCKET(relative to state) SOURCE(relative): virtiofsd in the netns
fsd_start() {
    rm -f "$STATE/$1"
    (cd "$STATE" && exec timeout "$BOOT_TIMEOUT" ip netns exec "$NS" \
        "$VIRTIOFSD" --socket-path="$STATE/$1" -o source="$STATE/$2" \
        >"$TMP/virtiofsd.log" 2>&1) &
    FSD_PID=$!
    local i
    for i in $(seq 100); do
        [[ -S $STATE/$1 ]] && return 0
        kill -0 "$FSD_PID" 2>/dev/null || break
        sleep 0.1
    done
    : "$i"
    e2e_log "virtiofsd did not make $1:"; cat "$TMP/virtiofsd.log" >&2
    return 1
}
fsd_reap() {   # virtiofsd exits on its own when the VM disconnects
    local i
    for i in $(seq 50); do
        kill -0 "$FSD_PID" 2>/dev/null || break
        sleep 0.1
    done
    : "$i"
    if kill -0 "$FSD_PID" 2>/dev/null; then e2e_kill_group "$FSD_PID"; fi
    wait "$FSD_PID" 2>/dev/null || true
    FSD_PID=
}

# vm_start RUNNER LOG: microvm-run in the netns, cwd = state dir, own pgrp
vm_start() {
    (cd "$STATE" && exec timeout "$BOOT_TIMEOUT" ip netns exec "$NS" \
        "$1/bin/microvm-run" </dev/null >"$2" 2>&1) &
    QEMU_PID=$!
    VM_T0=$(date +%s.%N)
}
vm_wait() {   # sets VM_RC, VM_SECS
    VM_RC=0
    wait "$QEMU_PID" || VM_RC=$?
    QEMU_PID=
    VM_SECS=$(echo "$(date +%s.%N) - $VM_T0" | bc 2>/dev/null \
        || awk "BEGIN{print $(date +%s.%N) - $VM_T0}")
}
wait_for_line() {   # wait_for_line FILE REGEX SECONDS
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        grep -qE "$2" "$1" 2>/dev/null && return 0
        kill -0 "$QEMU_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
# gone_within PID SECONDS: the (child) process exited; a zombie counts as gone
gone_within() {
    local i st
    for ((i = 0; i < $2 * 10; i++)); do
        st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null || true)
        [[ -z $st || $st == Z ]] && return 0
        sleep 0.1
    done
    return 1
}
show_log() { sed 's/^/    | /' "$1"; }

# ---- 1. one boot with TAP and share -------------------------------------
echo "== 1. boot with a TAP and a virtiofs share (TCG)"
TOKEN=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$E2E_DIR/mkrunner.sh" --cache "$CACHE" --name "$NAME" --tap "$TAP" \
    --guest-ip "$GUEST_IP" --host-ip "$HOST_IP" --token "$TOKEN" \
    "$TMP/runner1" >/dev/null
printf '%s\n' "$TOKEN" >"$STATE/share/token"
rm -f "$STATE/share/from-guest"
tap_create
fsd_start "$NAME-virtiofs-share.sock" share
vm_start "$TMP/runner1" "$TMP/console1.log"
vm_wait
fsd_reap
show_log "$TMP/console1.log"
echo "   qemu exit status $VM_RC after ${VM_SECS}s"
check "qemu exited 0" test "$VM_RC" -eq 0
check "marker: result=ok token=$TOKEN share=ok ping=ok" \
    grep -q "^MICROVM-E2E: result=ok token=$TOKEN share=ok ping=ok" "$TMP/console1.log"
check "share/from-guest has the token" grep -qx "token=$TOKEN" "$STATE/share/from-guest"
check "share/from-guest says guest-ok" grep -qx "guest-ok" "$STATE/share/from-guest"
RX=$(tap_rx)
check "TAP rx_packets > 0 ($RX)" test "$RX" -gt 0
tap_delete

# ---- 2. wait mode + microvm-shutdown --------------------------------------
echo "== 2. wait mode: guest stays up until microvm-shutdown (QMP system_powerdown)"
TOKEN2=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$E2E_DIR/mkrunner.sh" --cache "$CACHE" --name "$NAME" --tap "$TAP" \
    --guest-ip "$GUEST_IP" --host-ip "$HOST_IP" --token "$TOKEN2" --wait \
    "$TMP/runner2" >/dev/null
printf '%s\n' "$TOKEN2" >"$STATE/share/token"
rm -f "$STATE/share/from-guest"
tap_create
fsd_start "$NAME-virtiofs-share.sock" share
vm_start "$TMP/runner2" "$TMP/console2.log"
if wait_for_line "$TMP/console2.log" 'waiting for the power button' 60; then
    ok "guest is waiting for the power button"
    sleep 1
    check "guest still running before shutdown" kill -0 "$QEMU_PID"
    T0=$(date +%s.%N)
    SHUT_RC=0
    (cd "$STATE" && MICROVM_SHUTDOWN_TIMEOUT=30 "$TMP/runner2/bin/microvm-shutdown") \
        >"$TMP/shutdown.log" 2>&1 || SHUT_RC=$?
    T1=$(date +%s.%N)
    show_log "$TMP/shutdown.log"
    echo "   microvm-shutdown took $(awk "BEGIN{print $T1 - $T0}")s"
    check "microvm-shutdown exit 0" test "$SHUT_RC" -eq 0
    check "qemu gone within 5s of microvm-shutdown" gone_within "$QEMU_PID" 5
    [[ $SHUT_RC -eq 0 ]] || e2e_kill_group "$QEMU_PID"
else
    fail "guest never reached the wait"
    e2e_kill_group "$QEMU_PID"
fi
vm_wait
fsd_reap
show_log "$TMP/console2.log"
check "qemu exited 0" test "$VM_RC" -eq 0
check "guest saw the power button" grep -q "power button pressed" "$TMP/console2.log"
check "marker ok in wait mode" \
    grep -q "^MICROVM-E2E: result=ok token=$TOKEN2 share=ok ping=ok" "$TMP/console2.log"
check "microvm-shutdown with no VM is a no-op success" \
    bash -c "cd '$STATE' && '$TMP/runner2/bin/microvm-shutdown' 2>/dev/null"
tap_delete

# ---- 3. multi_queue TAP -------------------------------------------------
echo "== 3. multi_queue TAP, QEMU queues=2"
"$E2E_DIR/mkrunner.sh" --cache "$CACHE" --name "$NAME" --tap "$TAP" --multi-queue \
    --guest-ip "$GUEST_IP" --host-ip "$HOST_IP" --no-shares \
    "$TMP/runner3" >/dev/null
tap_create multi_queue
vm_start "$TMP/runner3" "$TMP/console3.log"
vm_wait
show_log "$TMP/console3.log"
check "multi_queue: marker ping=ok" \
    grep -q "^MICROVM-E2E: result=ok token= share=skip ping=ok" "$TMP/console3.log"
check "tap-flags says multi_queue" grep -qw multi_queue "$TMP/runner3/share/microvm/tap-flags"
tap_delete

# ---- 4. no shares, no TAP -------------------------------------------------
echo "== 4. runner without shares or TAPs"
"$E2E_DIR/mkrunner.sh" --cache "$CACHE" --name "$NAME" --no-tap --no-shares \
    "$TMP/runner4" >/dev/null
vm_start "$TMP/runner4" "$TMP/console4.log"
vm_wait
show_log "$TMP/console4.log"
check "bare: marker result=ok share=skip ping=skip" \
    grep -q "^MICROVM-E2E: result=ok token= share=skip ping=skip" "$TMP/console4.log"
check "bare runner has no tap-interfaces / virtiofs" \
    test ! -e "$TMP/runner4/share/microvm/tap-interfaces" -a ! -e "$TMP/runner4/share/microvm/virtiofs"

# ---- 5. microvm-shutdown right after start (guest not yet listening) -----
echo "== 5. microvm-shutdown while the guest is still booting"
"$E2E_DIR/mkrunner.sh" --cache "$CACHE" --name "$NAME" --no-tap --no-shares --wait \
    "$TMP/runner5" >/dev/null
vm_start "$TMP/runner5" "$TMP/console5.log"
for _ in $(seq 50); do [[ -S $STATE/$NAME.qmp.sock ]] && break; sleep 0.1; done
T0=$(date +%s.%N)
SHUT_RC=0
(cd "$STATE" && MICROVM_SHUTDOWN_TIMEOUT=30 "$TMP/runner5/bin/microvm-shutdown") \
    >"$TMP/shutdown5.log" 2>&1 || SHUT_RC=$?
echo "   microvm-shutdown took $(awk "BEGIN{print $(date +%s.%N) - $T0}")s"
check "early microvm-shutdown exit 0 (it presses again until the guest listens)" \
    test "$SHUT_RC" -eq 0
[[ $SHUT_RC -eq 0 ]] || e2e_kill_group "$QEMU_PID"
vm_wait
check "early shutdown: guest saw the power button" grep -q "power button pressed" "$TMP/console5.log"

if [[ $FAILS -eq 0 ]]; then
    echo "smoke-manual: PASS"
else
    echo "smoke-manual: FAIL ($FAILS checks failed)"
    exit 1
fi
