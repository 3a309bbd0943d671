#!/bin/bash
# tests/units/test-units-held.sh: tap-setup's "held" check under the
# shipped units' own sandboxes (issue 16), in the systemd container of the
# tests (tests/e2e/container.sh: systemd as PID 1, a private network):
#  1. `systemctl start` of microvm-tap-interfaces@vm1 and
#     microvm-macvtap-interfaces@vm1 makes the TAP mvmh0 and the macvtap
#     mvmhm0 (on a veth made here), the VM user's;
#  2. a process of the VM user (tests/helpers/tap-holder, as microvm:kvm)
#     holds the TAP with its carrier off and the macvtap's /dev/tapN open;
#  3. `systemctl restart` of each unit fails (its ExecStopPost `down` and its
#     ExecStart `up` refuse; the failed unit's OnFailure= also stops the
#     other one, whose `down` refuses too), the journal names the holder,
#     and both interfaces keep their index;
#  4. once the holder is gone, `systemctl restart` of each succeeds: the
#     check is not blind under the sandbox, it replaced both;
#  5. `systemctl stop`: both interfaces and the records are gone;
#  6. a macvtap start that fails after up leaves no macvtap behind.
# The container's /dev is a tmpfs, not devtmpfs, so nothing makes
# /dev/tapN for the macvtap there: a drop-in for this test lets the unit
# make it (CAP_MKNOD, DeviceAllow=char-macvtap m, /dev writable); the
# unit's own privileged step (grant) gives it to the VM user. The
# capabilities and /proc settings of the held check are the shipped unit's.
# Exit 0 pass, 1 fail, 77 skip.
# e2e: a container with systemd; tests/run leaves it out when MVM_NO_E2E=1.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
B=${B:-build}
[[ ${SANITIZE:-} != 1 ]] || { echo "SKIP: sanitized build (LSan cannot run under the units' seccomp filter)" >&2; exit 77; }
# shellcheck source=tests/e2e/container.sh
. tests/e2e/container.sh
e2e_need_root
# In the container (the host's / read-only): systemd, ip for the veth,
# setpriv for the VM user's holder.
e2e_need_pkgs systemd systemd-container iproute2 util-linux \
    || e2e_skip "cannot install systemd/systemd-container/iproute2/util-linux"
[[ -x $B/tests/helpers/tap-holder ]] || { echo "FAIL: $B/tests/helpers/tap-holder not built"; exit 1; }

container_test_init mvm-units-held
ifx() { cx cat "/sys/class/net/$1/ifindex" 2>/dev/null; }
fails_to() { ! "$@" >/dev/null 2>&1; }
lacks() { ! grep -q -- "$1" <<<"$2"; }
# A failed helper unit triggers OnFailure=microvm-failed@, which stops
# microvm@vm1 and with it (PartOf=) the other helper units, asynchronously:
# wait until systemd has no job left, and the journal has every line.
settle() {
    for _ in $(seq 100); do
        [[ -z $(cx systemctl list-jobs --no-legend 2>/dev/null) ]] && break
        sleep 0.1
    done
    cx journalctl --sync
}

make -s B="$B" install DESTDIR="$TMP/dest" PREFIX=/opt/mvm >"$TMP/install.log" 2>&1 \
    || { cat "$TMP/install.log"; echo "FAIL: make install"; exit 1; }
R=$TMP/runner
mkdir -p "$R/share/microvm" "$TMP/state/vm1" "$TMP/helpers"
echo mvmh0 >"$R/share/microvm/tap-interfaces"
echo vnet_hdr >"$R/share/microvm/tap-flags"
echo "mvmhm0 02:aa:bb:cc:dd:01 mvmhl0 bridge" >"$R/share/microvm/macvtap-interfaces"
ln -s /opt/runner-vm1 "$TMP/state/vm1/current"
cp "$B/tests/helpers/tap-holder" "$TMP/helpers/"
mkdir -p "$TMP/dropin"
# /dev writable for that mknod (the unit's /dev is read-only: the node goes
# to the VM user in its privileged ExecStartPost=, grant).
printf '%s\n' '[Service]' 'CapabilityBoundingSet=CAP_MKNOD' 'DeviceAllow=char-macvtap m' \
    'ReadOnlyPaths=' 'ReadOnlyPaths=/run /sys /proc/sys -/proc/sysrq-trigger -/proc/irq' \
    >"$TMP/dropin/mknod.conf"

container_start --bind-ro="$TMP/dest/opt/mvm:/opt/mvm" \
    --bind="$TMP/state:/var/lib/microvms" --bind-ro="$R:/opt/runner-vm1" \
    --bind-ro="$TMP/helpers:/opt/helpers" --bind-ro="$TMP/dropin:/opt/dropin" || exit 1
container_wait_running 60 || exit 1
cx systemd-sysusers /opt/mvm/lib/sysusers.d/microvm.conf >/dev/null 2>&1
cx chown microvm:kvm /var/lib/microvms/vm1
cx sh -c 'cp /opt/mvm/lib/systemd/system/* /etc/systemd/system/ &&
    mkdir -p /etc/systemd/system/microvm-macvtap-interfaces@vm1.service.d &&
    cp /opt/dropin/mknod.conf /etc/systemd/system/microvm-macvtap-interfaces@vm1.service.d/ &&
    chmod 0666 /dev/net/tun && systemctl daemon-reload &&
    ip link add mvmhl0 type veth peer name mvmhl0p && ip link set mvmhl0 up'
units=(microvm-tap-interfaces@vm1.service microvm-macvtap-interfaces@vm1.service)

# 1. start
check "systemctl start ${units[*]}" cx systemctl start "${units[@]}"
tap0=$(ifx mvmh0) mac0=$(ifx mvmhm0)
check "TAP mvmh0 (index ${tap0:-none}) and macvtap mvmhm0 (index ${mac0:-none}) made" \
    test -n "$tap0" -a -n "$mac0"
check "/dev/tap$mac0 is the VM user's" test "$(cx stat -c %U "/dev/tap$mac0")" = microvm

# 2. the VM holds them (as the VM user, the TAP's carrier off)
cx setpriv --reuid=microvm --regid=kvm --clear-groups /opt/helpers/tap-holder \
    --vnet-hdr --carrier-off mvmh0 "/dev/tap$mac0" >"$TMP/holder.out" 2>&1 &
for _ in $(seq 50); do grep -q '^ready' "$TMP/holder.out" && break; sleep 0.1; done
holder=$(sed -n 's/^ready \([0-9]*\)$/\1/p' "$TMP/holder.out")
check "holder (pid ${holder:-none}, in the container) holds both" test -n "$holder"
check "the TAP's carrier is off" test "$(cx cat /sys/class/net/mvmh0/carrier)" = 0

# 3. restart refused, interfaces intact
for u in "${units[@]}"; do
    check "systemctl restart $u refused while the VM holds its interface" \
        fails_to cx systemctl restart "$u"
done
settle
check "mvmh0 kept its index $tap0" test "$(ifx mvmh0)" = "$tap0"
check "mvmhm0 kept its index $mac0" test "$(ifx mvmhm0)" = "$mac0"
log=$(cx journalctl -b -o cat SYSLOG_IDENTIFIER=microvm-tap-interfaces@vm1 \
    + SYSLOG_IDENTIFIER=microvm-macvtap-interfaces@vm1)
check "the journal names the holder for the TAP" \
    grep -q "unable to delete 'mvmh0': process $holder holds it open" <<<"$log"
check "the journal names the holder for the macvtap" \
    grep -q "unable to delete 'mvmhm0': process $holder holds it open" <<<"$log"
check "no 'cannot tell' (the units give what the check needs)" lacks 'cannot tell' "$log"

# 4. the holder gone: restart replaces both
cx kill "$holder"
for _ in $(seq 50); do cx kill -0 "$holder" 2>/dev/null || break; sleep 0.1; done
settle
for u in "${units[@]}"; do
    check "systemctl restart $u once nobody holds it" cx systemctl restart "$u"
done
check "mvmh0 replaced (index $(ifx mvmh0))" test -n "$(ifx mvmh0)" -a "$(ifx mvmh0)" != "$tap0"
check "mvmhm0 replaced (index $(ifx mvmhm0))" test -n "$(ifx mvmhm0)" -a "$(ifx mvmhm0)" != "$mac0"

# 5. stop
check "systemctl stop ${units[*]}" cx systemctl stop "${units[@]}"
check "mvmh0 and mvmhm0 deleted" test -z "$(ifx mvmh0)$(ifx mvmhm0)"
check "no record left" fails_to cx test -e /run/microvm/vm1/tap -o -e /run/microvm/vm1/macvtap

# 6. a start that fails after up (in the unit's grant, or a step after
# it): the macvtap unit's ExecStopPost= down takes back what up made.
cx sh -c 'printf "[Service]\nExecStartPost=/bin/false\n" \
    >/etc/systemd/system/microvm-macvtap-interfaces@vm1.service.d/fail.conf && systemctl daemon-reload'
check "systemctl start of the macvtap unit fails after up" \
    fails_to cx systemctl start microvm-macvtap-interfaces@vm1.service
settle
check "mvmhm0 deleted after the failed start" test -z "$(ifx mvmhm0)"
check "no macvtap record left after the failed start" fails_to cx test -e /run/microvm/vm1/macvtap

[[ $fails == 0 ]] || { cx journalctl -b --no-pager -u 'microvm*' | tail -n ${HELD_LOG_LINES:-40}; }
[[ $fails == 0 ]]
