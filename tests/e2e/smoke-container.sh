#!/bin/bash
# tests/e2e/smoke-container.sh
#
# Proves tests/e2e/container.sh with no project code: boots systemd as
# PID 1 in systemd-nspawn (host / read-only + tmpfs overlay), then
#   1. starts a bind-mounted unit and a transient unit, sees them run;
#   2. /dev/net/tun works inside (TAP in the container's own netns, from
#      nsenter and from a unit), and the TAP is not on the host;
#   3. runs the e2e VM inside under units: virtiofsd + TAP + microvm-run
#      (wait mode) started by systemd, marker + share file + ping seen,
#      then `systemctl stop` runs bin/microvm-shutdown (ExecStop=) and the
#      guest powers off gracefully;
#   4. stops the container and checks nothing is left on the host.
# Exit 0 pass, 1 fail, 77 skip. Env: E2E_CACHE_DIR, E2E_KEEP=1.
set -euo pipefail

# shellcheck source=tests/e2e/container.sh
. "$(dirname "${BASH_SOURCE[0]}")/container.sh"

CACHE=${E2E_CACHE_DIR:-$E2E_DEFAULT_CACHE}
e2e_need_root
e2e_need_pkgs systemd-container qemu-system-x86 qemu-system-common \
    busybox-static cpio kmod iproute2 perl-base \
    || e2e_skip "cannot install systemd-container/qemu"
"$E2E_DIR/guest.sh" "$CACHE" >/dev/null

TMP=
FAILS=0
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    container_stop 20 || true
    if [[ ${E2E_KEEP:-0} == 1 ]]; then
        e2e_log "kept $TMP and $CONTAINER_LOG"
    else
        container_cleanup_log
        [[ -n $TMP ]] && rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ok() { printf 'ok   %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; FAILS=$((FAILS + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
now() { date +%s.%N; }
since() { awk "BEGIN { printf \"%.2f\", $(now) - $1 }"; }
cx() { container_exec "$@"; }

RUN_BEFORE=$(find /run/systemd -xdev 2>/dev/null | grep -v '^/run/systemd/systemd-units-load$' | sort)
TMP=$(mktemp -d /tmp/mvm-e2e-ct.XXXXXX)
chmod 755 "$TMP"
mkdir -p "$TMP/out" "$TMP/state/e2e/share"
cat >"$TMP/mvm-e2e-hello.service" <<'UNIT'
[Unit]
Description=e2e hello (bind-mounted unit)
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'echo "hello from $(cat /proc/1/comm) in $(hostname)" > /var/lib/mvm-e2e-out/hello'
UNIT
TOKEN=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$TOKEN" >"$TMP/state/e2e/share/token"
"$E2E_DIR/mkrunner.sh" --cache "$CACHE" --name e2e --tap mvm-e2e0 \
    --token "$TOKEN" --wait "$TMP/runner" >/dev/null

echo "== boot systemd in systemd-nspawn"
T0=$(now)
container_start \
    --bind="$TMP/out:/var/lib/mvm-e2e-out" \
    --bind="$TMP/state:/var/lib/microvms" \
    --bind-ro="$TMP/runner" \
    --bind-ro="$TMP/mvm-e2e-hello.service:/etc/systemd/system/mvm-e2e-hello.service"
check "container started (PID 1 = host pid $CONTAINER_PID1)" test -n "$CONTAINER_PID1"
check "systemd is running inside" container_wait_running 60
echo "   booted in $(since "$T0")s"
check "PID 1 inside is systemd 25x" bash -c "nsenter -t $CONTAINER_PID1 -a systemctl --version | head -1 | grep -q '^systemd 25'"

echo "== 1. units"
check "systemctl start bind-mounted unit" cx systemctl start mvm-e2e-hello.service
check "unit is active" bash -c "[[ \$(nsenter -t $CONTAINER_PID1 -a systemctl is-active mvm-e2e-hello.service) == active ]]"
check "unit ran (host sees its file: $(cat "$TMP/out/hello" 2>/dev/null))" \
    grep -q "^hello from systemd in " "$TMP/out/hello"
check "transient unit (systemd-run --wait)" \
    cx systemd-run --quiet --wait -p Type=oneshot /bin/sh -c 'echo transient > /var/lib/mvm-e2e-out/transient'
check "transient unit ran" grep -qx transient "$TMP/out/transient"

echo "== 2. /dev/net/tun in the container"
cx ls -l /dev/net/tun || true
check "ip tuntap add (nsenter)" cx ip tuntap add dev e2etap0 mode tap
check "ip tuntap add from a unit" \
    cx systemd-run --quiet --wait -p Type=oneshot /sbin/ip tuntap add dev e2etap1 mode tap multi_queue
check "TAPs exist in the container's netns" cx ip link show e2etap1
check "TAPs are not on the host" bash -c '! ip link show e2etap0 >/dev/null 2>&1 && ! ip link show e2etap1 >/dev/null 2>&1'
cx ip link del e2etap0 || true
cx ip link del e2etap1 || true

echo "== 3. the e2e VM under units in the container (wait mode, ExecStop=microvm-shutdown)"
S=/var/lib/microvms/e2e
check "TAP for the VM" cx /bin/sh -c \
    'ip link set lo up && ip tuntap add dev mvm-e2e0 mode tap && ip addr add 10.213.0.1/24 dev mvm-e2e0 && ip link set mvm-e2e0 up'
check "virtiofsd as a unit" cx systemd-run --quiet --unit=e2e-virtiofsd \
    /usr/lib/qemu/virtiofsd --socket-path="$S/e2e-virtiofs-share.sock" -o source="$S/share"
for _ in $(seq 50); do [[ -S $TMP/state/e2e/e2e-virtiofs-share.sock ]] && break; sleep 0.1; done
T1=$(now)
check "microvm-run as a unit" cx systemd-run --quiet --unit=e2e-vm \
    -p WorkingDirectory="$S" -p ExecStop="$TMP/runner/bin/microvm-shutdown" \
    -p TimeoutStopSec=30 "$TMP/runner/bin/microvm-run"
waited=0
for _ in $(seq 600); do
    if cx journalctl -u e2e-vm -o cat --no-pager 2>/dev/null | grep -q 'waiting for the power button'; then
        waited=1; break
    fi
    cx systemctl is-active -q e2e-vm || break
    sleep 0.1
done
check "guest up and waiting ($(since "$T1")s after start)" test "$waited" -eq 1
check "marker result=ok token share ping" bash -c \
    "nsenter -t $CONTAINER_PID1 -a journalctl -u e2e-vm -o cat --no-pager | grep -q '^MICROVM-E2E: result=ok token=$TOKEN share=ok ping=ok'"
check "share/from-guest has the token" grep -qx "token=$TOKEN" "$TMP/state/e2e/share/from-guest"
RX=$(cx cat /sys/class/net/mvm-e2e0/statistics/rx_packets || echo 0)
check "TAP rx_packets > 0 ($RX)" test "$RX" -gt 0
T2=$(now)
check "systemctl stop e2e-vm" cx systemctl stop e2e-vm
echo "   stop took $(since "$T2")s"
check "guest powered off via the button (not killed)" bash -c \
    "nsenter -t $CONTAINER_PID1 -a journalctl -u e2e-vm -o cat --no-pager | grep -q 'power button pressed'"
check "microvm-shutdown said the VM is gone" bash -c \
    "nsenter -t $CONTAINER_PID1 -a journalctl -u e2e-vm -o cat --no-pager | grep -q 'microvm-shutdown: VM is gone'"
cx journalctl -u e2e-vm -o cat --no-pager | sed 's/^/    | /'
for _ in $(seq 30); do cx systemctl is-active -q e2e-virtiofsd || break; sleep 0.1; done
check "virtiofsd exited after the VM" bash -c "! nsenter -t $CONTAINER_PID1 -a systemctl is-active -q e2e-virtiofsd"

echo "== 4. stop the container"
T3=$(now)
check "container powers off with SIGRTMIN+4" container_stop 30
echo "   poweroff took $(since "$T3")s"
LEFT=$(container_leftovers)
check "nothing left behind (processes, cgroups, mounts)" test -z "$LEFT"
[[ -z $LEFT ]] || printf '    %s\n' "$LEFT"
RUN_AFTER=$(find /run/systemd -xdev 2>/dev/null | grep -v '^/run/systemd/systemd-units-load$' | sort)
check "host /run/systemd unchanged" test "$RUN_BEFORE" == "$RUN_AFTER"
[[ $RUN_BEFORE == "$RUN_AFTER" ]] || diff <(echo "$RUN_BEFORE") <(echo "$RUN_AFTER") | sed 's/^/    /'
check "no mvm-e2e TAP on the host" bash -c '! ip -o link | grep -q "mvm-e2e0\|e2etap"'

if [[ $FAILS -eq 0 ]]; then
    echo "smoke-container: PASS"
else
    echo "smoke-container: FAIL ($FAILS checks failed)"
    exit 1
fi
