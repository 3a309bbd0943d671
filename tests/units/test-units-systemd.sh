#!/bin/bash
# tests/units/test-units-systemd.sh: the installed units under a real
# systemd (PID 1 in systemd-nspawn with a private network, see
# tests/e2e/container.sh), with the real helpers and their sandboxes, and a
# runner whose microvm-run is a shell script (no VM):
#  1. `systemctl start microvm@vm1`: the TAP and virtiofsd units start
#     first (TAP owned by microvm:kvm, enslaved to the bridge and MTU
#     given by a drop-in through $MICROVM_TAP_OPTIONS; the virtiofsd socket
#     is there, group kvm; active = READY=1 came; `systemctl reload`
#     keeps the unchanged share's daemon), the macvtap and PCI units are skipped by their
#     conditions, the runner runs as microvm:kvm in the VM dir, `booted`
#     names the runner.
#  2. `systemctl stop microvm@vm1`: microvm-shutdown runs, the VM stops
#     before its helpers, the TAP and the record are gone, and `booted`.
#  1b. The runner has bin/microvm-register (microvm.nix's
#     registerWithMachined: busctl RegisterMachine with the PID it is
#     given): `runner-exec register` (ExecStartPost=+) runs it as root with
#     the unit's main PID, so `machinectl list` shows vm1, class vm, leader
#     the VM; on stop, microvm-unregister runs and machined forgets it.
#  2b. `systemctl restart microvm-state-dir` twice (no VM running): the
#     mounts at the state dir stay as many as after its first start, and
#     the state dir stays nosuid,nodev.
#  3. A runner that notifies (tests/helpers/runner-notify, READY=1 5 s
#     after it starts): with the Type=notify drop-in, start waits for its
#     READY=1, sent from the unit's main PID (runner-exec exec'd it in
#     place, NOTIFY_SOCKET kept); without the drop-in, start does not wait.
#  4. A share whose virtiofsd keeps failing after READY=1 (vm4: an
#     argument virtiofsd refuses): the launcher gives up and exits 1, and
#     the unit's Restart=always (as microvm.nix's) starts it again after
#     5 s, and microvm@vm4 with it; the unit never fails for good, so
#     OnFailure= (microvm-failed@) does not run; a stop ends it all.
#  5. A start of the TAP unit whose `up` is killed part-way (vm5: three
#     TAPs, tests/shims/killat.so kills it at its 40th call that changes
#     the host, after two TAPs): the start fails, and the unit's `down`
#     (ExecStopPost=, which systemd runs after a failed start; ExecStop=
#     would not run) deletes what the killed run made: no TAP and no
#     record are left.
# Exit 0 pass, 1 fail, 77 skip.
# e2e: a container with systemd; tests/run leaves it out when MVM_NO_E2E=1
# (the sanitizer pass: LeakSanitizer needs ptrace, which the units'
# SystemCallFilter= forbids, so the sanitized helpers fail at exit there).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
B=${B:-build}
[[ ${SANITIZE:-} != 1 ]] || { echo "SKIP: sanitized build (LSan cannot run under the units' seccomp filter)" >&2; exit 77; }
# shellcheck source=tests/e2e/container.sh
. tests/e2e/container.sh
e2e_need_root
# In the container (the host's / read-only): systemd, ip for the bridge,
# Debian's virtiofsd, pkill for microvm-shutdown.
e2e_need_pkgs systemd systemd-container iproute2 qemu-system-common procps util-linux python3 \
    || e2e_skip "cannot install systemd/iproute2/qemu-system-common"
[[ -x /usr/lib/qemu/virtiofsd ]] || e2e_skip "/usr/lib/qemu/virtiofsd missing (qemu-system-common)"

container_test_init mvm-units-ct
fails_to() { ! "$@" >/dev/null 2>&1; }
# journal_has UNIT ERE: a line of UNIT's journal matches ERE (all of the
# line), within 10 s; journalctl --sync first, so that what its processes
# wrote is in.
journal_has() {
    # shellcheck disable=SC2016  # expanded by the shell in the container
    e2e_wait 10 cx sh -c 'journalctl --sync && journalctl -b -u "$1" -o cat | grep -qxE -- "$2"' \
        sh "$1" "$2"
}

# The units and binaries as a distribution installs them, under /opt/mvm.
make -s B="$B" install DESTDIR="$TMP/dest" PREFIX=/opt/mvm >"$TMP/install.log" 2>&1 \
    || { cat "$TMP/install.log"; echo "FAIL: make install"; exit 1; }

# The runner (not under /tmp: the helper units have PrivateTmp=).
R=$TMP/runner
mkdir -p "$R/bin" "$R/share/microvm/virtiofs/fs" "$TMP/state/vm1" "$TMP/out"
cat >"$R/bin/microvm-run" <<'EOF'
#!/bin/sh
echo "runner: $(id -un):$(id -gn) in $(pwd -P)"
exec sleep 1000
EOF
cat >"$R/bin/microvm-shutdown" <<'EOF'
#!/bin/sh
echo "microvm-shutdown: $(id -un) in $(pwd -P)"
pkill -u microvm -x sleep
EOF
# As microvm.nix's lib/runner.nix registers: RegisterMachine (no network
# interfaces, no UUID) with the leader PID given, TerminateMachine after.
cat >"$R/bin/microvm-register" <<'EOF'
#!/bin/sh
set -eu
echo "microvm-register: uid $(id -u) leader $1"
busctl call org.freedesktop.machine1 /org/freedesktop/machine1 org.freedesktop.machine1.Manager \
    RegisterMachine sayssus vm1 0 microvm-host-helpers vm "$1" /
EOF
cat >"$R/bin/microvm-unregister" <<'EOF'
#!/bin/sh
echo "microvm-unregister: uid $(id -u) args $#"
busctl call org.freedesktop.machine1 /org/freedesktop/machine1 org.freedesktop.machine1.Manager \
    TerminateMachine s vm1 2>/dev/null || true
EOF
chmod 755 "$R/bin/microvm-run" "$R/bin/microvm-shutdown" "$R/bin/microvm-register" "$R/bin/microvm-unregister"
echo mvmu0 >"$R/share/microvm/tap-interfaces"
echo vnet_hdr >"$R/share/microvm/tap-flags"
echo fs-src >"$R/share/microvm/virtiofs/fs/source"
echo vm1-virtiofs-fs.sock >"$R/share/microvm/virtiofs/fs/socket"
ln -s /opt/system-vm1 "$R/share/microvm/system"
ln -s /opt/runner-vm1 "$TMP/state/vm1/current"
mkdir -p "$TMP/dropin"
printf '[Service]\nEnvironment="MICROVM_TAP_OPTIONS=--bridge mvmubr0 --mtu 1400"\n' \
    >"$TMP/dropin/host.conf"
printf '[Service]\nType=notify\n' >"$TMP/dropin/notify.conf"
# vm2 (Type=notify drop-in) and vm3 (without): a runner that sends READY=1
# itself 5 s after it starts (delay.conf, for both), and has no
# microvm-shutdown. 5 s: a start that waits for it and one that does not
# are far apart, however loaded the machine.
printf '[Service]\nEnvironment=RUNNER_NOTIFY_DELAY=5\n' >"$TMP/dropin/delay.conf"
R2=$TMP/runner2
mkdir -p "$R2/bin" "$TMP/state/vm2" "$TMP/state/vm3"
cp "$B/tests/helpers/runner-notify" "$R2/bin/microvm-run" \
    || { echo "FAIL: $B/tests/helpers/runner-notify not built"; exit 1; }
chmod 755 "$R2/bin/microvm-run"
ln -s /opt/runner-notify "$TMP/state/vm2/current"
# vm4: one share, and an argument that Debian's virtiofsd refuses.
R4=$TMP/runner4
mkdir -p "$R4/bin" "$R4/share/microvm/virtiofs/fs" "$TMP/state/vm4"
printf '#!/bin/sh\necho "runner4: started"\nexec sleep 1000\n' >"$R4/bin/microvm-run"
chmod 755 "$R4/bin/microvm-run"
echo fs-src >"$R4/share/microvm/virtiofs/fs/source"
echo vm4-virtiofs-fs.sock >"$R4/share/microvm/virtiofs/fs/socket"
echo --no-such-option >"$R4/share/microvm/virtiofs/fs/extra-args"
ln -s /opt/runner-vm4 "$TMP/state/vm4/current"
# vm5: three TAPs; a drop-in runs its up under killat.so (--verbose: down
# then says what it deleted).
R5=$TMP/runner5
mkdir -p "$R5/bin" "$R5/share/microvm" "$TMP/state/vm5" "$TMP/shim"
printf '#!/bin/sh\nexec sleep 1000\n' >"$R5/bin/microvm-run"
chmod 755 "$R5/bin/microvm-run"
printf 'mvmk5a\nmvmk5b\nmvmk5c\n' >"$R5/share/microvm/tap-interfaces"
echo vnet_hdr >"$R5/share/microvm/tap-flags"
ln -s /opt/runner-vm5 "$TMP/state/vm5/current"
cp "$B/tests/shims/killat.so" "$TMP/shim/" || { echo "FAIL: $B/tests/shims/killat.so not built"; exit 1; }
printf '%s\n' '[Service]' 'Environment=MICROVM_TAP_OPTIONS=--verbose' 'ExecStart=' \
    'ExecStart=/usr/bin/env LD_PRELOAD=/opt/shim/killat.so KILLAT=40 /opt/mvm/bin/tap-setup up $MICROVM_TAP_OPTIONS -- %i' \
    >"$TMP/dropin/killat.conf"

container_start --bind-ro="$TMP/dest/opt/mvm:/opt/mvm" \
    --bind="$TMP/state:/var/lib/microvms" --bind-ro="$R:/opt/runner-vm1" \
    --bind-ro="$R2:/opt/runner-notify" --bind-ro="$R4:/opt/runner-vm4" \
    --bind-ro="$R5:/opt/runner-vm5" --bind-ro="$TMP/shim:/opt/shim" \
    --bind-ro="$TMP/dropin:/opt/dropin" || exit 1
container_wait_running 60 || exit 1
cx systemd-sysusers /opt/mvm/lib/sysusers.d/microvm.conf >/dev/null 2>&1
cx chown microvm:kvm /var/lib/microvms/vm1 /var/lib/microvms/vm2 /var/lib/microvms/vm3 \
    /var/lib/microvms/vm4 /var/lib/microvms/vm5
# vm3: no `current` at all (the unit tests refuse a VM user's one); root's
# pin names its runner, for the units' conditions too.
cx sh -c 'mkdir -p /etc/microvm/runners && ln -s /opt/runner-notify /etc/microvm/runners/vm3'
cx sh -c 'cp /opt/mvm/lib/systemd/system/* /etc/systemd/system/ &&
    mkdir -p /etc/systemd/system/microvm-tap-interfaces@vm1.service.d &&
    cp /opt/dropin/host.conf /etc/systemd/system/microvm-tap-interfaces@vm1.service.d/ &&
    mkdir -p /etc/systemd/system/microvm@vm2.service.d /etc/systemd/system/microvm@vm3.service.d &&
    cp /opt/dropin/notify.conf /opt/dropin/delay.conf /etc/systemd/system/microvm@vm2.service.d/ &&
    cp /opt/dropin/delay.conf /etc/systemd/system/microvm@vm3.service.d/ &&
    mkdir -p /etc/systemd/system/microvm-tap-interfaces@vm5.service.d &&
    cp /opt/dropin/killat.conf /etc/systemd/system/microvm-tap-interfaces@vm5.service.d/ &&
    systemctl daemon-reload'
cx ip link add mvmubr0 type bridge

# 1. start
check "systemctl start microvm@vm1" cx systemctl start microvm@vm1.service
for u in microvm@vm1 microvm-tap-interfaces@vm1 microvm-virtiofsd@vm1; do
    check "$u active" cx systemctl is-active -q "$u.service"
done
for u in microvm-macvtap-interfaces@vm1 microvm-pci-devices@vm1; do
    check "$u skipped (condition)" \
        test "$(cx systemctl show -P ConditionResult "$u.service")" = no
done
link=$(cx ip -d link show mvmu0 2>&1)
check "TAP mvmu0 owned by microvm:kvm" grep -q 'user microvm group kvm' <<<"$link"
check "TAP mvmu0 in bridge mvmubr0 (drop-in)" grep -q 'master mvmubr0' <<<"$link"
check "TAP mvmu0 MTU 1400 (drop-in)" grep -q 'mtu 1400' <<<"$link"
# (It listens in the unit's own network namespace, PrivateNetwork=, so
# /proc/net/unix out here does not list it; path sockets connect across.)
# shellcheck disable=SC2016  # expanded by the shell in the container
check "virtiofsd socket made by the launcher: root, group kvm, mode 0660" cx sh -c \
    'test -S /var/lib/microvms/vm1/vm1-virtiofs-fs.sock &&
     test "$(stat -c %U:%G:%a /var/lib/microvms/vm1/vm1-virtiofs-fs.sock)" = root:kvm:660'
# The writable sources the launcher serves, for the other VMs' launchers
# (virtiofs-launch(8), FILES): written in the host's /run/microvm from
# inside the unit's sandbox and the launcher's own mount namespace.
# shellcheck disable=SC2016  # expanded by the shell in the container
check "the launcher's record of its writable source: root's, 0600, device, inode, path" cx sh -c \
    'test "$(stat -c %U:%a /run/microvm/vm1/virtiofs-writable)" = root:600 &&
     grep -qxF "$(stat -c "%Hd:%Ld %i" /var/lib/microvms/vm1/fs-src) /var/lib/microvms/vm1/fs-src" \
        /run/microvm/vm1/virtiofs-writable'
# Root's alone to read (RuntimeDirectoryMode=0711 in every unit that makes
# it): no VM user can open it and hold the lock pci-bind's runs share.
check "/run/microvm is root's, mode 0711" test "$(cx stat -c %U:%a /run/microvm)" = root:711
# The daemon serves the source pinned on /run/microvm (in the launcher's
# mount namespace) and gets the socket as fd 3.
vfsd_pid() { cx pgrep -o -f 'source=/run/microvm/vm1/virtiofs/fs( |$)'; }
fsd=$(vfsd_pid)
check "systemctl reload microvm-virtiofsd@vm1 (SIGHUP)" cx systemctl reload microvm-virtiofsd@vm1.service
# The reload returns once kill has sent SIGHUP; the launcher handles it
# after (RELOADING=1, then READY=1 when every share is up: "reloading"
# until then). Give a daemon replaced by mistake the time it had before
# (0.3 s), then wait until the launcher has taken the SIGHUP (none pending)
# and is active again: a share it replaced would be up again by then.
sleep 0.3
launcher=$(cx systemctl show -P MainPID microvm-virtiofsd@vm1.service)
reloaded() { # no SIGHUP pending for the launcher (bit 1 of SigPnd/ShdPnd), active
    # shellcheck disable=SC2016  # awk's $2
    [[ ${launcher:-0} -gt 0 ]] &&
        cx awk '/^(ShdPnd|SigPnd):/ && substr($2, 16) ~ /[13579bdf]/ { p = 1 } END { exit p }' \
            "/proc/$launcher/status" &&
        [[ $(cx systemctl is-active microvm-virtiofsd@vm1.service) == active ]]
}
e2e_wait 10 reloaded
check "after reload: active, the unchanged share's virtiofsd kept its PID" test -n "$fsd" -a \
    "$(cx systemctl is-active microvm-virtiofsd@vm1.service) $(vfsd_pid)" = "active $fsd"
check "booted -> the runner" test "$(readlink "$TMP/state/vm1/booted")" = /opt/runner-vm1
check "runner runs as microvm:kvm in the VM dir" \
    journal_has microvm@vm1 "runner: microvm:kvm in /var/lib/microvms/vm1"
# 1b. machined
main1=$(cx systemctl show -P MainPID microvm@vm1.service)
check "microvm-register ran as root with the main PID ($main1)" \
    journal_has microvm@vm1 "microvm-register: uid 0 leader $main1"
check "machinectl list shows vm1 (class vm)" cx sh -c \
    'machinectl list --no-legend --no-pager | grep -Eq "^vm1 +vm "'
check "machined's leader of vm1 is the VM ($main1)" \
    test "$(cx machinectl show -p Leader --value vm1 2>/dev/null)" = "$main1"

# 2. stop
check "systemctl stop microvm@vm1" cx systemctl stop microvm@vm1.service
# The helpers' stop jobs (PartOf=) finish after the one systemctl waits for.
for _ in $(seq 100); do
    [[ $(cx systemctl is-active microvm-tap-interfaces@vm1.service \
        microvm-virtiofsd@vm1.service | sort -u) == inactive ]] && break
    sleep 0.1
done
for u in microvm@vm1 microvm-tap-interfaces@vm1 microvm-virtiofsd@vm1; do
    check "$u inactive" test "$(cx systemctl is-active "$u.service")" = inactive
done
cx journalctl --sync
log=$(cx journalctl -b -o cat _PID=1 + SYSLOG_IDENTIFIER=microvm@vm1)
check "microvm-shutdown ran" grep -q '^microvm-shutdown: microvm in /var/lib/microvms/vm1' <<<"$log"
stopped=$(grep -n "^Stopped microvm@vm1.service" <<<"$log" | cut -d: -f1)
stopping=$(grep -n "^Stopping microvm-tap-interfaces@vm1.service" <<<"$log" | cut -d: -f1)
check "the VM stops before its TAPs" test -n "$stopped" -a -n "$stopping" -a "${stopped:-0}" -lt "${stopping:-0}"
check "TAP mvmu0 deleted" fails_to cx ip link show mvmu0
check "virtiofsd socket removed on stop" test ! -e "$TMP/state/vm1/vm1-virtiofs-fs.sock"
check "no record left" fails_to cx test -e /run/microvm/vm1/tap
check "no record of the launcher's left" fails_to cx test -e /run/microvm/vm1/virtiofs-writable
check "booted removed" test ! -L "$TMP/state/vm1/booted"
check "microvm-unregister ran as root (before cleanup: booted was there)" \
    grep -qx 'microvm-unregister: uid 0 args 0' <<<"$log"
check "machinectl list no longer shows vm1" cx sh -c \
    '! machinectl list --no-legend --no-pager | grep -q "^vm1 "'

# 2b. microvm-state-dir (started with vm1, Requires=) restarted twice, no
# VM running: each restart stacked a bind more on the state dir, none ever
# removed; now the start makes none when the top mount has nosuid,nodev.
state_mounts() { # the mounts at the state dir, in the container's namespace
    # shellcheck disable=SC2016  # awk's $5
    cx awk '$5 == "/var/lib/microvms"' /proc/self/mountinfo | wc -l
}
# The flags the kernel applies to a path in the state dir (its top mount).
state_flags() {
    cx python3 -c 'import os; f = os.statvfs("/var/lib/microvms/vm1").f_flag
print(",".join(n for n, b in (("nosuid", os.ST_NOSUID), ("nodev", os.ST_NODEV)) if f & b))'
}
n1=$(state_mounts)
check "microvm-state-dir active after vm1's start" cx systemctl is-active -q microvm-state-dir.service
check "microvm-state-dir: the state dir nosuid,nodev (got '$(state_flags)')" test "$(state_flags)" = nosuid,nodev
check "systemctl restart microvm-state-dir (1)" cx systemctl restart microvm-state-dir.service
check "systemctl restart microvm-state-dir (2)" cx systemctl restart microvm-state-dir.service
n3=$(state_mounts)
check "microvm-state-dir: two restarts left the mounts at the state dir as the first start ($n1 -> $n3)" \
    test "$n1" -ge 1 -a "$n3" = "$n1"
check "microvm-state-dir active after the restarts" cx systemctl is-active -q microvm-state-dir.service
check "microvm-state-dir: after the restarts, the state dir nosuid,nodev (got '$(state_flags)')" \
    test "$(state_flags)" = nosuid,nodev

# 3. Type=notify by drop-in: start waits for the runner's own READY=1
# (NOTIFY_SOCKET reached it through runner-exec); without it, it does not.
ms() { date +%s%3N; }
t0=$(ms)
check "systemctl start microvm@vm2 (Type=notify drop-in)" cx systemctl start microvm@vm2.service
t2=$(($(ms) - t0))
t0=$(ms)
check "systemctl start microvm@vm3 (Type=simple)" cx systemctl start microvm@vm3.service
t3=$(($(ms) - t0))
# READY=1 comes 5 s after the runner starts: a start that waits for it
# takes at least that (vm2); one that does not, well under a second (vm3,
# held to 4 s: a wait would take 5).
check "vm2 start waited for READY=1 (${t2} ms)" test "$t2" -ge 4900
check "vm3 start did not wait (${t3} ms)" test "$t3" -lt 4000
# (Type=simple: start returns once runner-exec is forked; the runner's
# first line says it runs, with the delay given.)
check "vm3's runner runs (READY=1 in 5 s)" \
    journal_has microvm@vm3 'runner-notify: pid [0-9]+, NOTIFY_SOCKET [a-z]+, READY=1 in 5 s'
check "vm3 runs the pinned runner (it has no current)" \
    test "$(cx systemctl is-active microvm@vm3.service) $(readlink "$TMP/state/vm3/booted")" = \
    "active /opt/runner-notify"
cx journalctl --sync
log2=$(cx journalctl -b -o cat SYSLOG_IDENTIFIER=microvm@vm2)
check "vm2 runner got NOTIFY_SOCKET" \
    grep -q 'NOTIFY_SOCKET set' <<<"$log2"
check "vm2 main PID is the runner (exec in place)" test \
    "$(cx systemctl show -P MainPID microvm@vm2.service)" = \
    "$(sed -n 's/^runner-notify: pid \([0-9]*\),.*/\1/p' <<<"$log2")"
check "systemctl stop microvm@vm2 vm3 (no microvm-shutdown: SIGTERM)" \
    cx systemctl stop microvm@vm2.service microvm@vm3.service
check "vm2 booted removed" test ! -L "$TMP/state/vm2/booted"

# 4. A share that keeps failing after READY=1: the VM starts (READY=1 came
# when the socket listened), the launcher gives up on the share, and
# systemd starts the unit again 5 s later (Restart=always), and the VM
# with it (it Requires= the unit): the runner starts a second time.
started_twice4() {
    local i
    for i in $(seq 60); do
        [[ $(cx sh -c 'journalctl --sync; journalctl -b -u microvm@vm4 -o cat |
            grep -c "^runner4: started$"') -ge 2 ]] && return 0
        sleep 0.5
    done
    return 1
}
check "systemctl start microvm@vm4 (its share's daemon refuses an argument)" \
    cx systemctl start microvm@vm4.service
check "the launcher gave up on the share, naming it" \
    journal_has microvm-virtiofsd@vm4 \
    ".*vm4: unable to start share 'fs': it failed 5 times in a row"
check "systemd started the launcher again, and the VM with it (runner started twice in 30 s)" \
    started_twice4
# (a oneshot without RemainAfterExit= is never "active": one that ran has
# left "inactive" once, which InactiveExitTimestamp records)
check "the unit did not fail for good: OnFailure= (microvm-failed@vm4) did not run" \
    test "$(cx systemctl show -P InactiveExitTimestampMonotonic microvm-failed@vm4.service)" = 0
check "systemctl stop microvm@vm4" cx systemctl stop microvm@vm4.service
# (The launcher may give up on the share just as the stop comes: its unit
# then ends "failed" rather than "inactive"; either way it has ended.)
check "vm4: the VM inactive, the launcher ended, the socket gone" \
    test "$(cx systemctl is-active microvm@vm4.service)" = inactive -a \
    ! -e "$TMP/state/vm4/vm4-virtiofs-fs.sock"
check "vm4: the launcher's unit inactive or failed" \
    grep -qxE 'inactive|failed' <<<"$(cx systemctl is-active microvm-virtiofsd@vm4.service)"

# 5. up killed part-way: ExecStopPost= down takes back what it made.
check "systemctl start microvm-tap-interfaces@vm5 fails (up killed at its 40th change)" \
    fails_to cx systemctl start microvm-tap-interfaces@vm5.service
check "vm5: systemd saw up killed" journal_has microvm-tap-interfaces@vm5 \
    '.*Main process exited, code=killed, status=9/KILL'
check "vm5: down ran after the failed start and deleted what up had made" \
    journal_has microvm-tap-interfaces@vm5 \
    '.*vm5: deleted [1-9][0-9]* interfaces? with link group [0-9]+'
check "vm5: no TAP left" test -z "$(cx ip -o link show | grep -o 'mvmk5[a-c]')"
check "vm5: no record left" fails_to cx test -e /run/microvm/vm5/tap

[[ $fails == 0 ]] || { cx journalctl -b --no-pager -u 'microvm*' | tail -n 40; }
[[ $fails == 0 ]]
