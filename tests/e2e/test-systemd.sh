#!/bin/bash
# tests/e2e/test-systemd.sh: the units and helpers under a real systemd
# (252, in a systemd-nspawn container with its own network), a real VM.
#
# The project is installed as an admin would (make install, units in
# /etc/systemd/system, the microvm user from the shipped sysusers file);
# three VMs are made, then:
#   1. microvm@full (TAP + virtiofs share + read-only share): the helper
#      units are active before the runner starts (ActiveEnterTimestampMonotonic
#      <= the VM's ExecMainStartTimestampMonotonic), the skipped ones were
#      skipped before it too; the guest's marker (it reads the token in the
#      read-only share and cannot write there), the token it wrote into the share,
#      TAP rx_packets > 0; `systemctl stop`: the guest is powered off by
#      microvm-shutdown, every unit inactive, no TAP, no virtiofsd, no
#      `booted`, no record; before that, QEMU killed with SIGKILL: systemd's
#      Restart=always brings the whole VM back (share and ping work again);
#   2. microvm@bare (no shares, no TAPs): the TAP, macvtap, PCI and virtiofsd
#      units are skipped by their ConditionPathExists=, the VM still starts;
#   3. microvm@broken (a bad interface name on line 2 of tap-interfaces):
#      `systemctl start` fails, `journalctl -p err` shows tap-setup's line at
#      priority err naming the file, line and value; microvm@broken never
#      ran; nothing is left behind (no TAP, no virtiofsd, no record, no
#      `booted`, no unit active).
# Exit 0 pass, 1 fail, 77 skip (packages cannot be installed).
# Env: B (build dir, default build), E2E_CACHE_DIR, E2E_KEEP=1,
#      E2E_BOOT_TIMEOUT (s, default 120).
set -euo pipefail

# shellcheck source=tests/e2e/sysd.sh
. "$(dirname "${BASH_SOURCE[0]}")/sysd.sh"

CACHE=${E2E_CACHE_DIR:-$E2E_DEFAULT_CACHE}
export E2E_CACHE_DIR=$CACHE
BOOT_TIMEOUT=${E2E_BOOT_TIMEOUT:-120}

e2e_need_root
e2e_need_pkgs qemu-system-x86 qemu-system-common busybox-static cpio kmod \
    iproute2 perl-base systemd systemd-container util-linux procps make \
    || e2e_skip "cannot install qemu/systemd-container"
[[ -x /usr/lib/qemu/virtiofsd ]] || e2e_skip "/usr/lib/qemu/virtiofsd missing (qemu-system-common)"
"$E2E_DIR/guest.sh" "$CACHE" >/dev/null

WORK=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    sysd_stop || true
    local left
    left=$(container_leftovers)
    if [[ -n $left ]]; then
        printf 'FAIL left on the host: %s\n' "$left"
        rc=1
    fi
    if [[ ${E2E_KEEP:-0} == 1 ]]; then
        e2e_log "kept $WORK and $CONTAINER_LOG"
    else
        container_cleanup_log
        [[ -n $WORK ]] && rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

check() { e2e_check "$@"; }
show() { sed 's/^/    | /' "$@"; }
prop() { sysd_show "$1" "$2"; }
journal() { cx journalctl -o cat -q --no-pager "$@"; }
journal_has() { journal -u "$1" | grep -- "$2" >/dev/null; }
ct_not() { ! cx "$@" >/dev/null 2>&1; }   # ct_not CMD: CMD fails in the container
no_files() { [[ -z $(cx find "$1" -type f 2>/dev/null) ]]; }
UNIT_KINDS=(microvm-tap-interfaces microvm-macvtap-interfaces microvm-pci-devices microvm-virtiofsd microvm)
units_of() { local k; for k in "${UNIT_KINDS[@]}"; do printf '%s@%s.service\n' "$k" "$1"; done; }
all_down() {   # all_down NAME: every unit of the VM inactive (or failed)
    local u s
    for u in $(units_of "$1"); do
        s=$(prop "$u" ActiveState)
        [[ $s == inactive || $s == failed ]] || return 1
    done
}
guest_waiting() {   # guest_waiting NAME: the guest is up (or the unit failed)
    journal -u "microvm@$1.service" | grep 'MICROVM-E2E: waiting for the power button\|MICROVM-E2E: result=fail' >/dev/null \
        && return 0
    [[ $(prop "microvm@$1.service" ActiveState) == failed ]] && return 0
    [[ $(prop "microvm@$1.service" NRestarts) -gt 0 ]]   # the runner exited
}

WORK=$(mktemp -d /var/lib/microvm-e2e.XXXXXX)
chmod 0755 "$WORK"
sysd_prepare "$WORK" || e2e_die "make install failed"
TOKEN=$(e2e_token)
sysd_runner full --tap mvm-full0 --host-ip 10.213.0.1 --token "$TOKEN" --wait --ro-share ro=rosrc
printf '%s\n' "$TOKEN" >"$WORK/state/full/share/token"
mkdir -p "$WORK/state/full/rosrc"
printf '%s\n' "$TOKEN" >"$WORK/state/full/rosrc/token"
sysd_runner bare --no-tap --no-shares --wait
sysd_runner broken --tap mvm-brk0 --tap mvm-brk1 --wait
# Line 2 of tap-interfaces: a name Linux would refuse.
printf 'mvm-brk0\nbad/name\n' >"$WORK/runners/broken/share/microvm/tap-interfaces"

echo "== boot systemd in the container"
T0=$(e2e_now)
sysd_boot >"$WORK/boot.log" 2>&1 || { show "$WORK/boot.log"; e2e_die "the container did not boot"; }
echo "   up and installed in $(e2e_since "$T0")s"
sysd_host_ip full mvm-full0 10.213.0.1/24

# ---- 1 ----------------------------------------------------------------------
echo "== 1. microvm@full: TAP + share"
T0=$(e2e_now)
check "systemctl start microvm@full" cx systemctl start microvm@full.service
e2e_wait "$BOOT_TIMEOUT" guest_waiting full || true
echo "   guest up after $(e2e_since "$T0")s"
vm_start=$(prop microvm@full.service ExecMainStartTimestampMonotonic)
for k in microvm-tap-interfaces microvm-virtiofsd; do
    a=$(prop "$k@full.service" ActiveEnterTimestampMonotonic)
    check "$k@full active before the runner started ($a <= $vm_start)" \
        test "${a:-0}" -gt 0 -a "${vm_start:-0}" -gt 0 -a "${a:-0}" -le "${vm_start:-0}"
done
for k in microvm-macvtap-interfaces microvm-pci-devices; do
    c=$(prop "$k@full.service" ConditionTimestampMonotonic)
    check "$k@full skipped (ConditionResult=$(prop "$k@full.service" ConditionResult)) before the runner started" \
        test "$(prop "$k@full.service" ConditionResult)" == no -a "${c:-0}" -gt 0 -a "${c:-0}" -le "${vm_start:-0}"
done
check "microvm@full active, not restarted" \
    test "$(prop microvm@full.service ActiveState)/$(prop microvm@full.service NRestarts)" == active/0
check "virtiofsd unit: READY came with STATUS '$(prop microvm-virtiofsd@full.service StatusText)'" \
    test "$(prop microvm-virtiofsd@full.service ActiveState)" == active
check "marker: result=ok token=$TOKEN share=ok ping=ok ro=ok" \
    journal_has microvm@full.service "^MICROVM-E2E: result=ok token=$TOKEN share=ok ping=ok ro=ok"
check "nothing written into the read-only share" test ! -e "$WORK/state/full/rosrc/from-guest"
check "share/from-guest holds the token" grep -qx "token=$TOKEN" "$WORK/state/full/share/from-guest"
rx=$(cx cat /sys/class/net/mvm-full0/statistics/rx_packets 2>/dev/null || echo 0)
check "TAP rx_packets > 0 ($rx)" test "${rx:-0}" -gt 0
check "TAP owned by microvm" test "$(cx cat /sys/class/net/mvm-full0/owner 2>/dev/null)" == "$(cx id -u microvm)"
check "QEMU runs as microvm" test "$(cx ps -o user= -C qemu-system-x86_64)" == microvm
qpid=$(cx pgrep -x qemu-system-x86 || true)
check "QEMU is the unit's main process (MainPID=$(prop microvm@full.service MainPID), QEMU ${qpid:-none})" \
    test -n "$qpid" -a "$(prop microvm@full.service MainPID)" == "$qpid"
check "booted -> the runner" test "$(readlink "$WORK/state/full/booted")" == "$WORK/runners/full"
check "no TAP on the host" bash -c '! ip link show mvm-full0 >/dev/null 2>&1'
[[ $E2E_FAILS -eq 0 ]] || { journal -u 'microvm*@full.service' | tail -n 40 | show; }

echo "== 1b. crash: SIGKILL to QEMU, Restart=always brings the VM back"
if [[ $E2E_FAILS -ne 0 ]]; then
    echo "   not run: the VM did not come up in step 1"
else
    rm -f "$WORK/state/full/share/from-guest"
    qemu=$(cx pgrep -x -u microvm qemu-system-x86 || true)
    check "QEMU found (pid ${qemu:-none})" test -n "$qemu"
    CUR=$(cx journalctl --show-cursor -n 0 -q | sed -n 's/^-- cursor: //p')
    T0=$(e2e_now)
    [[ -z $qemu ]] || cx kill -KILL $qemu
    up_again() {
        cx journalctl --after-cursor="$CUR" -u microvm@full.service -o cat -q \
            | grep 'MICROVM-E2E: waiting for the power button' >/dev/null
    }
    e2e_wait $((BOOT_TIMEOUT + 10)) up_again || true
    echo "   up again after $(e2e_since "$T0")s (RestartSec=5s)"
    check "microvm@full restarted once (NRestarts=$(prop microvm@full.service NRestarts)), active" \
        test "$(prop microvm@full.service NRestarts)/$(prop microvm@full.service ActiveState)" == 1/active
    check "after the restart: marker result=ok share=ok ping=ok" bash -c \
        "nsenter -t $CONTAINER_PID1 -a journalctl --after-cursor='$CUR' -u microvm@full.service -o cat -q | grep -q '^MICROVM-E2E: result=ok token=$TOKEN share=ok ping=ok'"
    check "after the restart: share/from-guest holds the token again" \
        grep -qx "token=$TOKEN" "$WORK/state/full/share/from-guest"
fi

T0=$(e2e_now)
check "systemctl stop microvm@full" cx systemctl stop microvm@full.service
e2e_wait 60 all_down full || true
echo "   all units down $(e2e_since "$T0")s after the stop"
for u in $(units_of full); do
    check "$u inactive" test "$(prop "$u" ActiveState)" == inactive
done
check "graceful: the guest saw the power button" \
    journal_has microvm@full.service 'MICROVM-E2E: power button pressed'
check "no TAP" ct_not ip link show mvm-full0
check "no virtiofsd" ct_not pgrep -x virtiofsd
check "no QEMU" ct_not pgrep -f qemu-system
check "no booted" test ! -L "$WORK/state/full/booted"
check "no record in /run/microvm/full" \
    no_files /run/microvm/full
[[ $E2E_FAILS -eq 0 ]] || { journal -u 'microvm*@full.service' | tail -n 40 | show; }

# ---- 2 ----------------------------------------------------------------------
echo "== 2. microvm@bare: no shares, no TAPs"
check "systemctl start microvm@bare" cx systemctl start microvm@bare.service
e2e_wait "$BOOT_TIMEOUT" guest_waiting bare || true
for k in microvm-tap-interfaces microvm-macvtap-interfaces microvm-pci-devices microvm-virtiofsd; do
    check "$k@bare skipped (ConditionResult=$(prop "$k@bare.service" ConditionResult), $(prop "$k@bare.service" ActiveState))" \
        test "$(prop "$k@bare.service" ConditionResult)/$(prop "$k@bare.service" ActiveState)" == no/inactive
done
check "microvm@bare active, not restarted" \
    test "$(prop microvm@bare.service ActiveState)/$(prop microvm@bare.service NRestarts)" == active/0
check "marker: result=ok token= share=skip ping=skip" \
    journal_has microvm@bare.service '^MICROVM-E2E: result=ok token= share=skip ping=skip'
check "systemctl stop microvm@bare" cx systemctl stop microvm@bare.service
e2e_wait 30 all_down bare || true
check "microvm@bare inactive, booted gone" \
    test "$(prop microvm@bare.service ActiveState)" == inactive -a ! -L "$WORK/state/bare/booted"

# ---- 3 ----------------------------------------------------------------------
echo "== 3. microvm@broken: a bad interface name on line 2"
fails3=$E2E_FAILS
out=$(cx systemctl start microvm@broken.service 2>&1) && rc=0 || rc=$?
show <<<"$out"
check "systemctl start microvm@broken fails (exit $rc)" test "$rc" -ne 0
e2e_wait 10 all_down broken || true
errs=$(journal -p err..err SYSLOG_IDENTIFIER=microvm-tap-interfaces@broken)
echo "   journalctl -p err SYSLOG_IDENTIFIER=microvm-tap-interfaces@broken:"
show <<<"$errs"
check "an error line at priority err names tap-interfaces, line 2 and the value" \
    grep -q 'tap-interfaces.*2.*bad/name\|tap-interfaces.*bad/name.*2' <<<"$errs"
check "microvm@broken never ran (ExecMainStartTimestampMonotonic=$(prop microvm@broken.service ExecMainStartTimestampMonotonic))" \
    test "$(prop microvm@broken.service ExecMainStartTimestampMonotonic)" == 0
for u in $(units_of broken); do
    s=$(prop "$u" ActiveState)
    check "$u not active ($s)" test "$s" != active -a "$s" != activating
done
check "no TAP mvm-brk0 (nothing created)" ct_not ip link show mvm-brk0
check "no virtiofsd" ct_not pgrep -x virtiofsd
check "no record in /run/microvm/broken" \
    no_files /run/microvm/broken
check "no booted" test ! -L "$WORK/state/broken/booted"
[[ $E2E_FAILS -eq $fails3 ]] || { journal -o short-monotonic -u 'microvm*@broken.service' | tail -n 30 | show; }

echo "== stop the container"
T0=$(e2e_now)
check "container powers off" sysd_stop
echo "   in $(e2e_since "$T0")s"

if [[ $E2E_FAILS -eq 0 ]]; then
    echo "test-systemd: PASS"
else
    echo "test-systemd: FAIL ($E2E_FAILS checks failed)"
    exit 1
fi
