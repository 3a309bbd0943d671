#!/bin/bash
# tests/units/test-units-sandbox.sh: what a root helper can still write
# inside its unit's sandbox, under a real systemd (PID 1 in systemd-nspawn,
# tests/e2e/container.sh). The attack: a tap-setup that someone made run
# their code (it is root, with CAP_NET_ADMIN) tries to get out of its
# sandbox through a file that root-owned code reads later:
#   - a unit file in /run/systemd/system (systemd loads it at the next
#     daemon-reload and runs it as root, unsandboxed);
#   - /proc/sys/kernel/core_pattern (the kernel runs it as root on the
#     next crash);
# while its own records in /run/microvm stay writable and /dev/net/tun
# opens. The probe is the installed microvm-tap-interfaces@.service with
# ExecStart= replaced by a shell that tries each of these.
# systemd 252 leaves /run writable under ProtectSystem=strict once
# ProtectProc= or ProtectControlGroups= (or ProtectKernelTunables=) is set.
# The same for the macvtap, PCI and virtiofsd units (the macvtap unit must
# still write /proc/sys/net/ipv6/conf). /proc/sysrq-trigger and /proc/irq,
# which the virtiofsd unit also makes read-only, are not probed: what the
# container's own /proc mounts allow decides that there, not the unit. /sys is not probed: systemd-nspawn mounts the container's
# /sys read-only, so no unit there could write it anyway.
# Then the attack from inside the helper itself, in the real TAP, macvtap
# and PCI units (virtiofs-launch takes no lock, where the shim starts):
# tests/shims/hijack.so (LD_PRELOAD) plays code someone made the helper
# run, from its lock on (confined as when it reads a runner or a record),
# and tries to reach past the sandbox through PID 1 (root, every
# capability) and through a root process with no capability at all (as
# Debian's systemd-localed runs): a unit file created through
# /proc/PID/root (outside the unit's mount namespace), /proc/PID/mem
# opened for writing, process_vm_writev() into it. The units hold CAP_SYS_PTRACE for the
# held check; tap-setup keeps it only in its scan of /proc, a child that
# runs as nobody (common/procfd.h).
# Each unit still lets the helper read its own /proc/self/mountinfo and
# call statx(), which tell a virtiofs mount (a nested host's store) from
# the VM user's FUSE (common/vm.h, on_fuse()).
# Last, microvm-state-dir.service: the files of host uid 0 that a guest's root
# makes through virtiofsd in a share under the state dir (a setuid one, a
# device node) do not work for the VM user on the host.
# Exit 0 pass, 1 fail, 77 skip.
# e2e: a container with systemd; tests/run leaves it out when MVM_NO_E2E=1
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
B=${B:-build}
# shellcheck source=tests/e2e/container.sh
. tests/e2e/container.sh
e2e_need_root

container_test_init mvm-sandbox

make -s B="$B" install DESTDIR="$TMP/dest" PREFIX=/opt/mvm >"$TMP/install.log" 2>&1 \
    || { cat "$TMP/install.log"; echo "FAIL: make install"; exit 1; }
mkdir -p "$TMP/probe" "$TMP/units"
cat >"$TMP/probe/probe.sh" <<'PROBE'
#!/bin/sh
try() { if sh -c "$2" 2>/dev/null; then echo "PROBE $1 yes"; else echo "PROBE $1 no"; fi; }
try run "echo x >/run/systemd/system/mvm-probe.service"
try records "echo x >/run/microvm/probe && rm /run/microvm/probe"
try core_pattern "echo x >/proc/sys/kernel/core_pattern"
try tun "exec 3<>/dev/net/tun"
try root_home "touch /root/mvm-probe && rm /root/mvm-probe"
try home "touch /home/mvm-probe && rm /home/mvm-probe"
try run_user "touch /run/user/0/mvm-probe && rm /run/user/0/mvm-probe"
try dev_chmod "chmod 0666 /dev/null"
try vfio "touch /dev/vfio/mvm-probe && rm /dev/vfio/mvm-probe"
try systemd_run "systemd-run -q --wait /bin/sh -c 'echo x >/run/systemd/system/mvm-probe-run.service'"
try system_bus "busctl --system --no-pager call org.freedesktop.systemd1 /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager GetDefaultTarget"
v=$(cat /run/mvm-victim.pid)
try victim_root "echo x >/proc/$v/root/run/systemd/system/mvm-probe-victim.service"
try victim_mem "exec 3<>/proc/$v/mem"
echo "PROBE groups $(id -g) $(id -G | tr ' ' ,)"
try mountinfo "grep -q '^[0-9]* [0-9]* .* - ' /proc/self/mountinfo"
try statx "stat -c %i / >/dev/null"
f=/proc/sys/net/ipv6/conf/lo/disable_ipv6
try ipv6 "v=\$(cat $f) && echo \$v >$f"
PROBE
chmod 755 "$TMP/probe/probe.sh"
# What the virtiofsd unit lets virtiofsd reach of the shares outside the
# state dir: as it ships, and with the drop-in nix/module.nix makes for
# writable shares under /home, /run/user and /srv and a read-only one
# under /run/user (tests/units/virtiofsd-paths.conf, which test-nix.sh
# checks the module makes).
cat >"$TMP/probe/paths.sh" <<'PATHS'
#!/bin/sh
try() { if sh -c "$2" 2>/dev/null; then echo "PATHS $1 yes"; else echo "PATHS $1 no"; fi; }
for d in /home/alice/vm /home/bob /root /run/user/1000/vm /run/user/1000/ro /run/user/1001 /srv/data /srv/other; do
    try "write:$d" "touch $d/probe && rm $d/probe"
    try "read:$d" "test -r $d/file"
done
try bus "test -e /run/user/1000/bus"
try systemd_run "systemd-run -q --wait /bin/true"
try system_bus "busctl --system --no-pager call org.freedesktop.systemd1 /org/freedesktop/systemd1 org.freedesktop.systemd1.Manager GetDefaultTarget"
echo "PATHS end yes"
PATHS
chmod 755 "$TMP/probe/paths.sh"
cp tests/units/virtiofsd-paths.conf "$TMP/probe/" || { echo "FAIL: no tests/units/virtiofsd-paths.conf"; exit 1; }
for p in probe paths; do
    probe="ExecStart=/bin/sh /opt/probe/$p.sh"
    for u in microvm-tap-interfaces microvm-macvtap-interfaces microvm-pci-devices microvm-virtiofsd; do
        [[ $p == paths && $u != microvm-virtiofsd ]] && continue
        # the unit with its ExecStart= replaced, no ExecStop=, no condition,
        # without microvm-state-dir.service (the last check here starts it)
        awk -v probe="$probe" '
            /^ExecStart=/ { print probe; next }
            /^ExecStop=|^ExecStopPost=|^ExecStartPost=|^ExecReload=|^ConditionPathExists=|^OnFailure=/ { next }
            /^(Requires|After)=microvm-state-dir.service$/ { next }
            /^Type=notify/ { print "Type=oneshot"; next }
            /^Restart=/ { next }
            { print }' "$TMP/dest/opt/mvm/lib/systemd/system/$u@.service" \
            >"$TMP/units/$p-$u@.service"
    done
done
cp "$B/tests/shims/hijack.so" "$TMP/probe/hijack.so" || { echo "FAIL: no $B/tests/shims/hijack.so"; exit 1; }
for u in microvm-tap-interfaces microvm-macvtap-interfaces microvm-pci-devices; do
    # the unit as installed, the helper with hijack.so, no ExecStop= (nor
    # the macvtap unit's grant); at start the TAP units run down, the PCI
    # unit unbind: vm1 has no runner (up and bind read it before the lock),
    # and the lock file is made before (a down or unbind makes none when
    # nothing was made for the VM), so each takes the lock, where the shim
    # plays its part
    awk '
        /^ExecStart=/ { sub(/ up (--no-grant )?/, " down "); sub(/ bind /, " unbind "); print; next }
        /^ExecStop=|^ExecStopPost=|^ExecStartPost=|^ConditionPathExists=|^OnFailure=/ { next }
        /^\[Service\]/ { print; print "Environment=LD_PRELOAD=/opt/probe/hijack.so HIJACK_VICTIM=1 HIJACK_FILE=/run/systemd/system/mvm-hijack.service"; next }
        { print }' "$TMP/dest/opt/mvm/lib/systemd/system/$u@.service" \
        >"$TMP/units/hijack-$u@.service"
done

container_start --bind-ro="$TMP/probe:/opt/probe" --bind-ro="$TMP/units:/opt/probe-units" \
    --bind-ro="$TMP/dest/opt/mvm:/opt/mvm" || exit 1
container_wait_running 60 || exit 1
container_exec sh -c 'mkdir -p /run/systemd/system /var/lib/microvms /dev/vfio &&
    { getent group kvm >/dev/null || groupadd --system kvm; } &&
    { getent passwd microvm >/dev/null || useradd --system --no-create-home microvm; } &&
    mkdir -p /root /home /run/user/0 && cp /opt/probe-units/* /etc/systemd/system/ && systemctl daemon-reload' \
    || { echo "FAIL: setup"; exit 1; }

# The victim without capabilities: root, in the container's own mount
# namespace, where /run/systemd/system is writable.
container_exec systemd-run -q --unit=mvm-victim -p Type=exec -p CapabilityBoundingSet= /bin/sleep infinity \
    || { echo "FAIL: systemd-run the victim"; exit 1; }
victim=$(container_exec systemctl show -P MainPID mvm-victim.service)
if [[ ! $victim =~ ^[1-9][0-9]*$ ]] ||
    ! container_exec grep -qx 'CapPrm:[[:space:]]*0000000000000000' "/proc/$victim/status"; then
    echo "FAIL: the victim ($victim) is not root without capabilities"
    exit 1
fi
container_exec sh -c "echo $victim >/run/mvm-victim.pid"
# journal_lines UNIT PREFIX LAST: the lines of UNIT's journal that start
# with "PREFIX ", without it, once the one that starts with "PREFIX LAST "
# (what its run prints last) is in (journalctl --sync first), or after 10 s.
journal_lines() {
    # shellcheck disable=SC2016  # expanded by the shell in the container
    e2e_wait 10 container_exec sh -c 'journalctl --sync &&
        journalctl -q -o cat -u "$1" | grep -q "^$2 $3 "' sh "$1" "$2" "$3"
    container_exec journalctl -q -o cat -u "$1" | sed -n "s/^$2 //p"
}
results() { # results UNIT: the PROBE lines of its one run
    container_exec systemctl start "probe-$1@vm1.service" >/dev/null 2>&1
    journal_lines "probe-$1@vm1.service" PROBE ipv6
}
want() { # want KEY yes|no WHAT (in $unit's results $r)
    if grep -qx "$1 $2" <<<"$r"; then
        echo "ok: $unit: $3"
    else
        echo "FAIL: $unit: $3 (got: $(grep "^$1 " <<<"$r" || echo nothing))"
        fails=$((fails + 1))
    fi
}
for unit in microvm-tap-interfaces microvm-macvtap-interfaces microvm-pci-devices microvm-virtiofsd; do
    r=$(results "$unit")
    want run no "cannot drop a unit file into /run/systemd/system"
    want records yes "writes its records in /run/microvm"
    want core_pattern no "cannot write /proc/sys/kernel/core_pattern"
    # ProtectSystem=strict leaves these to ProtectHome=: root's own files
    # there (/root/.bashrc, .ssh/authorized_keys) run at root's next login.
    want root_home no "cannot write /root"
    want home no "cannot write /home"
    want run_user no "cannot write /run/user"
    want systemd_run no "cannot start a unit with systemd-run (PID 1's private socket, the system bus)"
    want system_bus no "cannot call PID 1 on the system bus"
    # on_fuse() (common/vm.h) tells virtiofs from FUSE by the mount's ID
    # (statx) in /proc/self/mountinfo; refused, a runner on virtiofs would be
    want mountinfo yes "reads its own /proc/self/mountinfo"
    want statx yes "may call statx() (coreutils' stat(1) does)"
    # The virtiofsd unit's processes could take group 0 again (CAP_SETGID),
    # and remount what is read-only (CAP_SYS_ADMIN): see its comment.
    [[ $unit == microvm-virtiofsd ]] && continue
    want groups "65534 65534" "runs as group 65534 (nogroup), with no other group"
    # The TAP units hold CAP_SYS_PTRACE at their first instruction (tap-setup
    # keeps it in its scan alone: the hijack below); the PCI unit does not.
    if [[ $unit == microvm-pci-devices ]]; then
        want victim_root no "cannot create a unit file through /proc/PID/root of a root process without capabilities"
        want victim_mem no "cannot open the memory of a root process without capabilities for writing"
    fi
done
unit=microvm-tap-interfaces r=$(results $unit)
want tun yes "opens /dev/net/tun"
want dev_chmod no "cannot change a device node's mode (the host's /dev is read-only)"
unit=microvm-macvtap-interfaces r=$(results $unit)
want ipv6 yes "writes the IPv6 settings of the links (disable_ipv6)"
# /dev/tapN goes to the VM user in the unit's privileged ExecStartPost=:
# the sandbox itself cannot touch a device node (a chown of the host's
# disk to the VM user was one chown away).
want dev_chmod no "cannot change a device node's mode (the host's /dev is read-only)"
caps=$(container_exec systemctl show -P CapabilityBoundingSet probe-$unit@vm1.service)
if [[ -n $caps && $caps != *cap_chown* && $caps != *cap_fowner* && $caps != *cap_mknod* ]]; then
    echo "ok: $unit: no CAP_CHOWN, CAP_FOWNER or CAP_MKNOD in its bounding set ($caps)"
else
    echo "FAIL: $unit: CAP_CHOWN, CAP_FOWNER or CAP_MKNOD in its bounding set, or none read ($caps)"
    fails=$((fails + 1))
fi
unit=microvm-pci-devices r=$(results $unit)
want dev_chmod no "cannot change a device node's mode (the host's /dev is read-only)"
want vfio yes "writes /dev/vfio (the IOMMU groups' nodes it gives to the VM)"
# No CAP_SYS_MODULE (vfio-pci is loaded by the unit's ExecStartPre=, outside
# the sandbox): the container has none anyway, so the unit's own setting
# is what is checked.
caps=$(container_exec systemctl show -P CapabilityBoundingSet probe-microvm-pci-devices@vm1.service)
if [[ -n $caps && $caps != *cap_sys_module* ]]; then
    echo "ok: $unit: no CAP_SYS_MODULE in its bounding set ($caps)"
else
    echo "FAIL: $unit: CAP_SYS_MODULE in its bounding set, or none read ($caps)"
    fails=$((fails + 1))
fi
container_exec rm -f /run/systemd/system/mvm-probe.service /run/systemd/system/mvm-probe-victim.service \
    /run/systemd/system/mvm-probe-run.service

# The shares' paths, with a file each; a user manager's socket dir.
container_exec sh -c 'for d in /home/alice/vm /home/bob /root /run/user/1000/vm /run/user/1000/ro \
        /run/user/1001 /srv/data /srv/other; do mkdir -p $d && : >$d/file; done &&
    mkdir -p /run/user/1000/bus &&
    mkdir -p /etc/systemd/system/paths-microvm-virtiofsd@module.service.d &&
    cp /opt/probe/virtiofsd-paths.conf /etc/systemd/system/paths-microvm-virtiofsd@module.service.d/ &&
    systemctl daemon-reload' || { echo "FAIL: the shares' paths"; exit 1; }
paths() { # paths INSTANCE: the PATHS lines of its one run
    container_exec systemctl start "paths-microvm-virtiofsd@$1.service" >/dev/null 2>&1
    journal_lines "paths-microvm-virtiofsd@$1.service" PATHS end
}
unit=microvm-virtiofsd@ r=$(paths bare)
want read:/home/alice/vm yes "as it ships: reads a share under /home"
want write:/home/alice/vm no "as it ships: cannot write a share under /home (ReadWritePaths= opens one)"
want write:/srv/data no "as it ships: cannot write /srv/data"
want read:/run/user/1000/vm no "as it ships: cannot reach /run/user"
unit="microvm-virtiofsd@ with the module's drop-in" r=$(paths module)
want write:/home/alice/vm yes "writes the writable share under /home"
want write:/home/bob no "cannot write the rest of /home (ProtectHome=no made it writable)"
want read:/home/bob yes "reads the rest of /home"
want write:/root no "cannot write /root"
want write:/run/user/1000/vm yes "writes the writable share under /run/user"
want read:/run/user/1000/ro yes "reads the read-only share under /run/user"
want write:/run/user/1000/ro no "cannot write the read-only share under /run/user"
want read:/run/user/1001 no "cannot reach the rest of /run/user"
want bus no "cannot see a user manager's socket under /run/user"
want write:/srv/data yes "writes the writable share /srv/data"
want write:/srv/other no "cannot write the rest of /srv"
want systemd_run no "cannot start a unit with systemd-run (PID 1's private socket, the system bus)"
want system_bus no "cannot call PID 1 on the system bus"

for u in microvm-tap-interfaces microvm-macvtap-interfaces microvm-pci-devices; do
    container_exec sh -c "mkdir -p /etc/systemd/system/hijack-$u@.service.d &&
        echo '[Service]
Environment=\"HIJACK_VICTIM=1 $victim\"' >/etc/systemd/system/hijack-$u@.service.d/victim.conf"
done
container_exec sh -c 'mkdir -p /run/microvm && : >/run/microvm/vm1.lock && chmod 0600 /run/microvm/vm1.lock' \
    || { echo "FAIL: vm1's lock file"; exit 1; }
container_exec systemctl daemon-reload
hijacked() { # hijacked UNIT: the HIJACK lines of its one run
    container_exec systemctl start "hijack-$1@vm1.service" >/dev/null 2>&1
    journal_lines "hijack-$1@vm1.service" HIJACK scanner_uid
}
for unit in microvm-tap-interfaces microvm-macvtap-interfaces microvm-pci-devices; do
    r=$(hijacked "$unit")
    if ! grep -q '^root_write ' <<<"$r"; then
        echo "FAIL: $unit: the helper with hijack.so printed nothing:"
        container_exec journalctl -q -o cat -u "hijack-$unit@vm1.service" | sed 's/^/    /'
        fails=$((fails + 1))
        continue
    fi
    want root_write no "the helper, hijacked, cannot create a unit file through /proc/PID/root"
    want mem_open no "the helper, hijacked, cannot open another root process's memory for writing"
    want vm_writev no "the helper, hijacked, cannot process_vm_writev() into another root process"
    if [[ $unit != microvm-pci-devices ]]; then
        want uevent no "the helper, hijacked, cannot send udev an event (PID 1 starts what one names)"
    fi
    want dev_chmod no "the helper, hijacked, cannot change a device node's mode"
    want systemd_private no "the helper, hijacked, cannot connect to PID 1's private socket"
    want system_bus no "the helper, hijacked, cannot connect to the system bus"
    if [[ $unit != microvm-pci-devices ]]; then
        want scanner_uid 65534 "its scan of /proc runs as nobody"
        want scanner_caps 0000000000080004 "its scan holds CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH alone"
    fi
    if container_exec test -e /run/systemd/system/mvm-hijack.service; then
        echo "FAIL: $unit: /run/systemd/system/mvm-hijack.service exists"
        fails=$((fails + 1))
    fi
done
container_exec rm -f /run/systemd/system/mvm-hijack.service

# A guest's root, through virtiofsd (root, the guest's owners kept, and
# CAP_MKNOD), makes files of host uid 0 in a share under the state dir: a
# setuid copy of id(1), and a device node of mode 0666 (here /dev/null's
# numbers; on a host, the disk's). The VM user reaches them on the host.
# First without microvm-state-dir.service (the attack works here: the check
# can fail), then with it.
unit=microvm-state-dir.service
as_vm_user() { container_exec setpriv --reuid=microvm --regid=kvm --clear-groups "$@"; }
container_exec sh -c 'd=/var/lib/microvms/vm1/share && mkdir -p $d &&
    chown microvm:kvm /var/lib/microvms/vm1 $d && cp /usr/bin/id $d/suid-id &&
    chmod 4755 $d/suid-id && mknod -m 0666 $d/node c 1 3' || { echo "FAIL: the guest's files"; exit 1; }
if [[ $(as_vm_user /var/lib/microvms/vm1/share/suid-id -u) == 0 ]] &&
    as_vm_user sh -c 'exec 3</var/lib/microvms/vm1/share/node'; then
    echo "ok: without $unit, the VM user runs the guest's setuid file as root and opens its node"
else
    echo "FAIL: without $unit, the attack does not work here: the checks below prove nothing"
    fails=$((fails + 1))
fi
# A VM's own mount below the state dir (a dataset, say), and the state dir
# a mount of its own, read-only: the bind keeps both, and the flags the
# mount had (util-linux 2.38's `mount --bind -o nosuid,nodev` dropped ro).
container_exec sh -c 'mkdir -p /var/lib/microvms/vm1/own &&
    mount -t tmpfs tmpfs /var/lib/microvms/vm1/own && echo hi >/var/lib/microvms/vm1/own/f &&
    mount --rbind /var/lib/microvms /var/lib/microvms &&
    mount -o remount,bind,ro /var/lib/microvms' \
    || { echo "FAIL: the state dir's own mounts"; exit 1; }
container_exec sh -c "cp /opt/mvm/lib/systemd/system/$unit /etc/systemd/system/ &&
    systemctl daemon-reload && systemctl start $unit" || { echo "FAIL: start $unit"; exit 1; }
# The flags of the mount a path in the state dir resolves to (statvfs).
# shellcheck disable=SC2016
opts=$(container_exec python3 -c 'import os; f = os.statvfs("/var/lib/microvms/vm1").f_flag
print(",".join(n for n, b in (("nosuid", os.ST_NOSUID), ("nodev", os.ST_NODEV),
                             ("ro", os.ST_RDONLY)) if f & b))')
if [[ $opts == nosuid,nodev,ro ]]; then
    echo "ok: $unit: the state dir nosuid,nodev, its own ro kept ($opts)"
else
    echo "FAIL: $unit: the state dir's flags are '$opts', not nosuid,nodev,ro"
    fails=$((fails + 1))
fi
if [[ $(container_exec cat /var/lib/microvms/vm1/own/f 2>&1) == hi ]]; then
    echo "ok: $unit: a mount below the state dir still shows its files"
else
    echo "FAIL: $unit: a mount below the state dir is hidden"
    fails=$((fails + 1))
fi
got=$(as_vm_user /var/lib/microvms/vm1/share/suid-id -u)
if [[ $got == "$(container_exec id -u microvm)" ]]; then
    echo "ok: $unit: the guest's setuid file runs as the VM user"
else
    echo "FAIL: $unit: the guest's setuid file ran as uid $got"
    fails=$((fails + 1))
fi
if as_vm_user sh -c 'exec 3</var/lib/microvms/vm1/share/node' 2>/dev/null; then
    echo "FAIL: $unit: the VM user opened the guest's device node"
    fails=$((fails + 1))
else
    echo "ok: $unit: the guest's device node does not open"
fi
[[ $fails == 0 ]] || exit 1
echo "ok: the TAP, macvtap, PCI and virtiofsd units' sandboxes hold"
