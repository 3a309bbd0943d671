# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# tests/bench/fleet.sh: the `fleet` section of tests/bench/run (sourced by
# it; uses its raw, avail, note, reps, shuffle, failure, LOGS, SRC, B).
#
# N VMs through microvms.target under a real systemd (the demo's
# systemd-nspawn container, tests/e2e/sysd.sh: the host's systemd, 252 on
# Debian 12, or BENCH_FLEET_ROOT's), each with 2 TAPs
# (vnet_hdr), 2 virtiofs shares (Debian's virtiofsd) and
# tests/bench/fleet-runner in place of QEMU (it attaches to its TAPs,
# connects to each share's socket, sends READY=1, exits on SIGTERM).
# Variants, interleaved in a new random order each round:
#   ours         units/ as `make install` writes them, our helpers; per VM
#                the notify.conf drop-in (Type=notify) the README describes
#   microvm.nix  microvm.nix's host units as they ship (tests/bench/mnix-units/,
#                71beea0): tap-up/tap-down with iproute2, supervisord with
#                its event listener and one wrapper per virtiofsd,
#                microvm-set-booted@, install-microvm-NAME
#   floor        systemd starting the same runners with nothing before them
#                (tests/bench/floor-units/; the runner's package asks for
#                no TAP and no share)
#   ours-nosandbox  ours without the sandboxing lines of the helper units
#                (all from "# Sandbox." on): what stands between ours and
#                the floor that is not the helpers' own work
# Every variant gets the drop-in microvm@.service.d/bench-fleet.conf with
# PartOf=microvms.target: microvms.target only Wants= the VMs, so without it
# `systemctl stop microvms.target` would stop nothing (a host stops them at
# shutdown, in one transaction; this is that transaction).
# Metrics (param N):
#   start_ms  `systemctl start microvms.target` until the last microvm@ is
#             active (its ActiveEnterTimestampMonotonic; the runners are
#             notify-capable, so active means TAPs attached and every share
#             socket accepted the runner's connection)
#   stop_ms   `systemctl stop microvms.target` until the last unit of the
#             fleet is inactive (InactiveEnterTimestampMonotonic) and nothing
#             is left: no interface vm-f*, no record under /run/microvm, no
#             helper process, no daemon, no share socket that accepts (if
#             something is left when the units are down, until it is gone)
#   rss_kib   VmRSS summed over the processes of the fleet's units that stay
#             resident, the daemons (virtiofsd) and the runners excluded:
#             virtiofs-launch for ours, supervisord and its event listener
#             for microvm.nix, nothing for the floor (pss_kib: their PSS)
#
# Section unit-cost (unitcost_section, in the same container): what each
# sandboxing setting of our TAP and virtiofsd units costs systemd per start
# and per stop. For each unit: the unit as installed ("all"), without any
# line of its "# Sandbox." block ("none"), without one setting ("-KEY":
# what cutting it saves) and with only that setting ("+KEY": what it costs
# alone; settings that share a mount namespace pay for it once, so alone
# is more than saved). ReadWritePaths= goes with ProtectSystem= (strict
# without it fails). Instance f0 (2 TAPs, 2 shares); start: activating ->
# active, stop: deactivating -> inactive, the unit's own timestamps. Also
# each variant's exposure (`systemd-analyze security --offline=yes`).
# BENCH_UNITCOST_KEYS (settings separated by spaces) measures only those.

FLEET_NS=${BENCH_FLEET_N:-1 8 32}
FLEET_STATE=/var/lib/microvms
FW=
FLEET_UP=0

fleet_cleanup() {
	if [ "$FLEET_UP" = 1 ]; then
		sysd_stop >/dev/null 2>&1 || echo "bench: the fleet container did not power off cleanly" >&2
		local left
		left=$(container_leftovers)
		[ -z "$left" ] || echo "bench: left on the host by the fleet container: $left" >&2
		container_cleanup_log
		FLEET_UP=0
	fi
	[ -n "$FW" ] && rm -rf "$FW"
	FW=
}

# the runner package of VM fK (ours and microvm.nix share it, as a
# microvm.nix runner carries both its scripts and the share/microvm
# files), and floor-fK (nothing but bin/microvm-run)
fleet_pkg() { # fleet_pkg K
	local k=$1 name=f$1 p=$FW/runners/f$1 t
	mkdir -p "$p/bin" "$p/share/microvm/virtiofs/a" "$p/share/microvm/virtiofs/b" \
		"$FW/runners/floor-$name/bin" "$FW/state/$name/share-a" "$FW/state/$name/share-b"
	local taps=("vm-f$k-a" "vm-f$k-b")
	# microvm-run as lib/runner.nix writes it (writeShellScript; -a as
	# with prettyProcnames); the runner's arguments are what QEMU's
	# command line would name: the TAPs and the shares' sockets
	cat >"$p/bin/microvm-run" <<-EOF
		#!/bin/bash
		set -eou pipefail
		exec -a "microvm@$name" $FW/runners/bin/fleet-runner -t ${taps[0]} -t ${taps[1]} -s $name-virtiofs-a.sock -s $name-virtiofs-b.sock
	EOF
	cat >"$FW/runners/floor-$name/bin/microvm-run" <<-EOF
		#!/bin/bash
		set -eou pipefail
		exec -a "microvm@$name" $FW/runners/bin/fleet-runner
	EOF
	# a hypervisor's shutdown command that returns at once (the runner
	# then exits on systemd's SIGTERM)
	printf '#!/bin/bash\nexit 0\n' >"$p/bin/microvm-shutdown"
	printf '%s\n' "${taps[@]}" >"$p/share/microvm/tap-interfaces"
	echo vnet_hdr >"$p/share/microvm/tap-flags"
	for t in a b; do
		echo "share-$t" >"$p/share/microvm/virtiofs/$t/source"
		echo "$name-virtiofs-$t.sock" >"$p/share/microvm/virtiofs/$t/socket"
		# the setting files this project's NixOS module adds (microvm.nix's
		# defaults), as on a host that switched: the helpers read them, not
		# the scripts of bin/virtiofsd-run below
		echo false >"$p/share/microvm/virtiofs/$t/read-only"
		echo auto >"$p/share/microvm/virtiofs/$t/cache"
		echo true >"$p/share/microvm/virtiofs/$t/posix-acl"
	done
	# microvm.nix's tap-up / tap-down (nixos-modules/microvm/interfaces.nix)
	{
		echo '#!/bin/bash'
		echo 'set -eou pipefail'
		for t in "${taps[@]}"; do
			cat <<-EOF
				if [ -e /sys/class/net/$t ]; then
				  $IP link delete '$t'
				fi

				$IP tuntap add name '$t' mode tap user 'microvm' vnet_hdr
				$IP link set '$t' up
			EOF
		done
	} >"$p/bin/tap-up"
	{
		echo '#!/bin/bash'
		echo 'set -ou pipefail'
		for t in "${taps[@]}"; do echo "$IP link delete '$t'"; done
	} >"$p/bin/tap-down"
	# virtiofsd-run, its supervisord configuration (lib.generators.toINI:
	# sections and keys sorted) and one wrapper per share
	# (nixos-modules/microvm/virtiofsd/default.nix). Debian's virtiofsd is
	# QEMU's C one: --shared-dir=S is -o source=S, --posix-acl --xattr is
	# -o posix_acl -o xattr, --cache=auto is -o cache=auto, and its
	# --rlimit-nofile and --thread-pool-size take "=N";
	# --inode-file-handles=prefer has no C equivalent (left out).
	cat >"$p/bin/virtiofsd-run" <<-EOF
		#!/bin/bash
		exec /usr/bin/supervisord --configuration $p/share/virtiofsd-supervisord.conf "\$@"
	EOF
	{
		echo '[eventlistener:notify]'
		echo 'buffer_size=48'
		echo "command=$FW/runners/bin/supervisord-event-handler 3"
		echo 'events=PROCESS_STATE'
		for t in a b; do
			printf '\n[program:virtiofsd-%s]\n' "$t"
			echo "command=$p/bin/virtiofsd-$t"
			echo 'stderr_syslog=true'
			echo 'stdout_syslog=true'
		done
		printf '\n[supervisord]\nnodaemon=true\nuser=root\n'
	} >"$p/share/virtiofsd-supervisord.conf"
	for t in a b; do
		cat >"$p/bin/virtiofsd-$t" <<-EOF
			#!/bin/bash
			if [ \$(id -u) = 0 ]; then
			  OPT_RLIMIT="--rlimit-nofile=1048576"
			else
			  OPT_RLIMIT=""
			fi
			exec $VIRTIOFSD \\
			  --socket-path=$name-virtiofs-$t.sock \\
			  --socket-group=kvm \\
			  -o source=$FLEET_STATE/$name/share-$t \\
			  \$OPT_RLIMIT \\
			  --thread-pool-size=\`nproc\` \\
			  -o posix_acl -o xattr \\
			  -o cache=auto
		EOF
	done
	# NixOS's install-microvm-NAME.service (its script, as a unit script)
	cat >"$FW/runners/mnix/unit-script-install-microvm-$name-start" <<-EOF
		#!/bin/bash
		set -e
		mkdir -p $FLEET_STATE/$name
		cd $FLEET_STATE/$name

		ln -sTf $p current
		chown -h microvm:kvm . current
		ln -sTf $p/share/microvm/system toplevel
	EOF
	cat >"$FW/runners/units/mnix/install-microvm-$name.service" <<-EOF
		[Unit]
		Before=microvm@$name.service microvm-tap-interfaces@$name.service microvm-macvtap-interfaces@$name.service microvm-pci-devices@$name.service microvm-virtiofsd@$name.service microvm-set-booted@$name.service
		Description=Install MicroVM '$name'
		PartOf=microvm@$name.service

		[Service]
		ExecStart=$FW/runners/mnix/unit-script-install-microvm-$name-start
		SyslogIdentifier=install-microvm-$name
		Type=oneshot
	EOF
	mkdir -p "$FW/runners/units/mnix/microvm@$name.service.d" "$FW/runners/units/ours/microvm@$name.service.d"
	# the module's per-VM drop-in (overrideStrategy = "asDropin")
	printf '[Service]\nType=notify\nX-RestartIfChanged=\nX-RestartIfChanged=true\n' \
		>"$FW/runners/units/mnix/microvm@$name.service.d/overrides.conf"
	# ours: the README's notify.conf
	printf '[Service]\nType=notify\n' >"$FW/runners/units/ours/microvm@$name.service.d/notify.conf"
	chmod 0755 "$p"/bin/* "$FW/runners/floor-$name/bin/microvm-run" \
		"$FW/runners/mnix/unit-script-install-microvm-$name-start"
	ln -sfn "$p" "$FW/state/$name/current"
}

fleet_setup() {
	IP=$(command -v ip) || { note "fleet: no ip (iproute2)"; return 1; }
	[ -n "$VIRTIOFSD" ] || { note "fleet: no virtiofsd"; return 1; }
	# shellcheck source=tests/e2e/sysd.sh
	. "$SRC/tests/e2e/sysd.sh"
	FW=$(mktemp -d /var/lib/microvm-bench.XXXXXX) || return 1
	chmod 0755 "$FW"
	sysd_prepare "$FW" >>"$LOGS/fleet-setup.log" 2>&1 || { note "fleet: make install failed"; return 1; }
	mkdir -p "$FW/runners/bin" "$FW/runners/mnix" "$FW/runners/units/mnix" \
		"$FW/runners/units/floor" "$FW/runners/units/ours" "$FW/runners/uc"
	local p
	for p in fleet-runner fleet-ctl; do
		cc "${CFLAGS_B[@]}" -o "$FW/runners/bin/$p" "$SRC/tests/bench/$p.c" ||
			{ note "fleet: cannot build tests/bench/$p.c"; return 1; }
	done
	install -m 0755 "$SRC/tests/bench/supervisord-listener.py" "$FW/runners/bin/supervisord-event-handler"
	install -m 0755 "$SRC/tests/bench/unit-cost-run.sh" "$FW/runners/bin/unit-cost-run"
	# NixOS's unit script for microvm-set-booted@'s `script =`
	cat >"$FW/runners/mnix/unit-script-microvm-set-booted-start" <<-'EOF'
		#!/bin/bash
		set -e
		rm -f booted
		ln -s $(readlink current) booted
	EOF
	chmod 0755 "$FW/runners/mnix/unit-script-microvm-set-booted-start"
	local f
	for f in "$SRC"/tests/bench/mnix-units/*@.service "$SRC"/tests/bench/mnix-units/*.target; do
		sed -e "s|@STATE@|$FLEET_STATE|g" -e "s|@SCRIPTS@|$FW/runners/mnix|g" "$f" \
			>"$FW/runners/units/mnix/${f##*/}"
	done
	for f in "$SRC"/tests/bench/floor-units/*; do
		sed -e "s|@STATE@|$FLEET_STATE|g" -e "s|@RUNNERS@|$FW/runners|g" "$f" \
			>"$FW/runners/units/floor/${f##*/}"
	done
	local max=0 n k
	for n in $FLEET_NS; do [ "$n" -gt "$max" ] && max=$n; done
	for ((k = 0; k < max; k++)); do fleet_pkg "$k"; done
	chmod -R go-w "$FW/runners"
	FLEET_UP=1
	local boot=()
	if [ -n "${BENCH_FLEET_ROOT:-}" ]; then
		[ -x "$BENCH_FLEET_ROOT/usr/lib/systemd/systemd" ] ||
			{ note "fleet: BENCH_FLEET_ROOT=$BENCH_FLEET_ROOT has no usr/lib/systemd/systemd"; return 1; }
		export CONTAINER_ROOT=$BENCH_FLEET_ROOT
		# systemd >= 256 runs on the unified cgroup hierarchy only; on a
		# host with the hybrid one, nspawn gives a container the unified
		# hierarchy only when asked
		export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
		# the same virtiofsd as in the host's container (its libraries
		# must be in the root: tests/bench/mkroot.sh installs them)
		boot=(--bind-ro="$VIRTIOFSD")
	fi
	sysd_boot "${boot[@]}" >>"$LOGS/fleet-setup.log" 2>&1 || { note "fleet: the systemd container did not boot (see $LOGS/fleet-setup.log)"; return 1; }
	# what the container runs the variants with (the report names it)
	local v=
	# shellcheck disable=SC2016 # the container's shell expands it
	v=$(cx /bin/sh -c '
		printf "fleet container: systemd %s, supervisor %s, python3 %s, iproute2 %s; virtiofsd %s\n" \
			"$(dpkg-query -W -f="\${Version}" systemd)" "$(dpkg-query -W -f="\${Version}" supervisor)" \
			"$(dpkg-query -W -f="\${Version}" python3)" "$(dpkg-query -W -f="\${Version}" iproute2)" \
			"$("$1" --version 2>&1 | head -n 1)"' sh "$VIRTIOFSD") || v=
	case $v in
		*"systemd "[0-9]*) ;;
		*) note "fleet: cannot read the container's versions: $v"; return 1 ;;
	esac
	echo "$v" >>"$OUT/machine.txt"
	note "$v"
	# ours: the units sysd_boot installed; the share sources are the VM
	# user's (microvm.nix's tmpfiles rule makes them so: :microvm :kvm 0775)
	cx /bin/bash -ec '
		mkdir -p /etc/systemd/fleet/ours
		cp -a /etc/systemd/system/microvm* /etc/systemd/fleet/ours/
		cp -a "$1"/units/ours/. /etc/systemd/fleet/ours/
		cp -a "$1"/units/mnix /etc/systemd/fleet/mnix
		cp -a "$1"/units/floor /etc/systemd/fleet/floor
		cp -a /etc/systemd/fleet/ours /etc/systemd/fleet/ours-nosandbox
		for f in /etc/systemd/fleet/ours-nosandbox/microvm-*@.service; do
			sed -i "/^# Sandbox/,\$d" "$f"
		done
		for d in /var/lib/microvms/f*/share-*; do chown microvm:kvm "$d"; chmod 0775 "$d"; done
		systemctl --version | head -n 1
	' sh "$FW/runners" >>"$LOGS/fleet-setup.log" 2>&1 || { note "fleet: container setup failed"; return 1; }
}

# fleet_switch VARIANT N: that variant's unit set with N VMs wanted by
# microvms.target; the VMs' dirs and /run/microvm as at boot: no booted
# link, no socket file, no record (untimed)
fleet_switch() {
	cx /bin/bash -ec '
		v=$1 n=$2
		cd /etc/systemd/system
		rm -rf microvm* install-microvm-* microvms.target*
		cp -a /etc/systemd/fleet/$v/. .
		mkdir -p microvms.target.wants microvm@.service.d
		printf "[Unit]\nPartOf=microvms.target\n" >microvm@.service.d/bench-fleet.conf
		# as WantedBy=multi-user.target on a host: an active unit wants
		# the target, so the VMs units stay loaded when inactive (and
		# their timestamps can be read after the stop)
		mkdir -p basic.target.wants
		ln -sfn ../microvms.target basic.target.wants/microvms.target
		for ((k = 0; k < n; k++)); do
			ln -s ../microvm@.service microvms.target.wants/microvm@f$k.service
			[ ! -e install-microvm-f$k.service ] ||
				ln -s ../install-microvm-f$k.service microvms.target.wants/
		done
		cd /var/lib/microvms
		rm -f f*/booted f*/toplevel f*/*.sock f*/supervisord.log f*/supervisord.pid
		# current owned by root, as the tmpfiles rules of the NixOS module
		# make it (install-microvm-NAME of microvm.nix chowns it to microvm)
		chown -h 0:0 f*/current
		rm -rf /run/microvm/f*
		systemctl daemon-reload
		systemctl reset-failed
	' sh "$1" "$2" >>"$LOGS/fleet-$1-$2.log" 2>&1
}

# the units of VMs f0..f(N-1) of VARIANT
fleet_units() { # fleet_units VARIANT N
	local k
	for ((k = 0; k < $2; k++)); do
		echo "microvm@f$k.service"
		[ "$1" = floor ] && continue
		printf "%s\n" "microvm-tap-interfaces@f$k.service" "microvm-virtiofsd@f$k.service" \
			"microvm-macvtap-interfaces@f$k.service" "microvm-pci-devices@f$k.service"
		[ "$1" = mnix ] && printf "%s\n" "microvm-set-booted@f$k.service" "install-microvm-f$k.service"
	done
}

fleet_socks() { # -s SOCKET for each share of VMs f0..f(N-1)
	local k
	for ((k = 0; k < $1; k++)); do
		echo "-s $FLEET_STATE/f$k/f$k-virtiofs-a.sock -s $FLEET_STATE/f$k/f$k-virtiofs-b.sock"
	done
}

FLEET_COMMS=(-f /run/microvm -c virtiofsd -c virtiofs-launch -c supervisord -c supervisord-eve -c fleet-runner -c tap-setup)

fleet_label() { if [ "$1" = mnix ]; then echo microvm.nix; else echo "$1"; fi; }

# fleet_once VARIANT N REP: one start and stop, raw rows or a failure
fleet_once() {
	local v=$1 N=$2 rep=$3 log=$LOGS/fleet-$1-$2.log label
	label=$(fleet_label "$v")
	echo "== run $rep" >>"$log"
	if ! fleet_switch "$v" "$N"; then
		failure fleet "$label" "$N" "$rep" "$log"
		return 1
	fi
	sleep 0.3 # let the reload settle
	local ctl=$FW/runners/bin/fleet-ctl out t0 st
	# shellcheck disable=SC2046 # one word an option or path
	if ! out=$(cx "$ctl" left -i vm-f "${FLEET_COMMS[@]}" $(fleet_socks "$N")); then
		echo "not clean before the start: $out" >>"$log"
		failure fleet "$label" "$N" "$rep" "$log"
		return 1
	fi
	read -r t0 _ st < <(cx timeout 300 "$ctl" time systemctl start microvms.target)
	local units vms k
	mapfile -t units < <(fleet_units "$v" "$N")
	vms=()
	for ((k = 0; k < N; k++)); do vms+=("microvm@f$k.service"); done
	# every microvm@ active, never restarted: the last one's active time
	local show bad start_us
	show=$(cx systemctl show -p Id,ActiveState,NRestarts,ActiveEnterTimestampMonotonic "${vms[@]}")
	bad=$(awk -F= '/^Id=/ { id = $2 } /^ActiveState=/ && $2 != "active" { print id, $2 }
		/^NRestarts=/ && $2 != 0 { print id, "restarted", $2 }' <<<"$show")
	start_us=$(awk -F= -v t0="$t0" '/^ActiveEnterTimestampMonotonic=/ { if ($2 - t0 > m) m = $2 - t0 }
		END { print m + 0 }' <<<"$show")
	local taps want=$((2 * N))
	[ "$v" = floor ] && want=0
	taps=$(cx "$ctl" left -i vm-f | grep -c '^interface')
	if [ "${st:-1}" != 0 ] || [ -n "$bad" ] || [ "$taps" != "$want" ]; then
		{
			echo "start: systemctl exited ${st:-?}; not active: ${bad:-none}; $taps TAPs"
			cx journalctl -q -o cat -p warning --since=-60s | tail -n 20
		} >>"$log"
		failure fleet "$label" "$N" "$rep" "$log"
		cx /bin/bash -c 'systemctl stop microvms.target "microvm*" "install-microvm-*"; systemctl reset-failed' >>"$log" 2>&1
		return 1
	fi
	raw fleet start_ms "$label" "$N" "$rep" "$(awk -v u="$start_us" 'BEGIN { printf "%.3f", u / 1000 }')"
	local key val
	while IFS='=' read -r key val; do
		case $key in
		rss_kib | pss_kib | procs) raw fleet "$key" "$label" "$N" "$rep" "$val" ;;
		detail) echo "fleet,$label,$N,$rep,$val" >>"$OUT/rss-detail.csv" ;;
		esac
	done < <(cx "$ctl" mem microvm install-microvm -x virtiofsd -x fleet-runner)

	# stop: the target's job ends at once (it is ordered after the VMs,
	# so it stops first); a second `systemctl stop` of every unit joins
	# their stop jobs and returns when they are done
	read -r t0 _ st < <(cx "$ctl" time systemctl stop microvms.target)
	cx timeout 300 systemctl stop "${units[@]}" >>"$log" 2>&1
	show=$(cx systemctl show -p Id,ActiveState,InactiveEnterTimestampMonotonic "${units[@]}")
	bad=$(awk -F= '/^Id=/ { id = $2 } /^ActiveState=/ && $2 != "inactive" && $2 != "failed" { print id, $2 }' <<<"$show")
	local stop_us clean
	stop_us=$(awk -F= -v t0="$t0" '/^InactiveEnterTimestampMonotonic=/ && $2 > t0 { if ($2 - t0 > m) m = $2 - t0 }
		END { print m + 0 }' <<<"$show")
	# shellcheck disable=SC2046
	if ! out=$(cx "$ctl" left -i vm-f "${FLEET_COMMS[@]}" $(fleet_socks "$N")); then
		echo "left after the units stopped (waiting): $out" >>"$log"
		# shellcheck disable=SC2046
		clean=$(cx "$ctl" left -w 30 -i vm-f "${FLEET_COMMS[@]}" $(fleet_socks "$N") | sed -n 's/^clean_us=//p')
		if [ -z "$clean" ]; then
			failure fleet "$label" "$N" "$rep" "$log"
			return 1
		fi
		[ $((clean - t0)) -gt "$stop_us" ] && stop_us=$((clean - t0))
	fi
	if [ "${st:-1}" != 0 ] || [ -n "$bad" ]; then
		echo "stop: systemctl exited ${st:-?}; not inactive: ${bad:-none}" >>"$log"
		failure fleet "$label" "$N" "$rep" "$log"
		return 1
	fi
	raw fleet stop_ms "$label" "$N" "$rep" "$(awk -v u="$stop_us" 'BEGIN { printf "%.3f", u / 1000 }')"
}

fleet_section() {
	if ! fleet_setup; then
		for v in ours ours-nosandbox microvm.nix floor; do avail fleet "$v" "not available" "setup failed (see logs/fleet-setup.log)"; done
		fleet_cleanup
		return
	fi
	local variants=() v N r
	[ -f "$OUT/rss-detail.csv" ] || echo "section,variant,param,rep,detail" >"$OUT/rss-detail.csv"
	for v in ours ours-nosandbox mnix floor; do
		local label; label=$(fleet_label "$v")
		if fleet_once "$v" 1 0 >/dev/null; then
			avail fleet "$label" ok ""
			variants+=("$v")
		else
			avail fleet "$label" "not available" "fails: $(grep -v '^== run' "$LOGS/fleet-$v-1.log" | tail -n 3)"
		fi
	done
	sed -i '/^fleet,[a-z_]*,[^,]*,[0-9]*,0,/d' "$RAW"
	sed -i '/^fleet,[^,]*,[0-9]*,0,/d' "$OUT/rss-detail.csv"
	local R; R=$(reps 3)
	for ((r = 1; r <= R; r++)); do
		for N in $FLEET_NS; do
			for v in $(shuffle "${variants[@]}"); do
				fleet_once "$v" "$N" "$r"
			done
		done
		note "fleet: round $r/$R done"
	done
}

# the variants of installed unit UNIT@.service (see unit-cost above) into
# $FW/runners/uc/SHORT-*@.service
unitcost_gen() { # unitcost_gen UNIT SHORT
	local src=$FW/stage$SYSD_PREFIX/lib/systemd/system/$1@.service out=$FW/runners/uc k
	[ -f "$src" ] || return 1
	# keys of the sandbox block, in order, ReadWritePaths left to ProtectSystem
	UC_KEYS=$(sed -n '/^# Sandbox/,$p' "$src" | sed -n 's/^\([A-Za-z]*\)=.*/\1/p' |
		awk -v only=" ${BENCH_UNITCOST_KEYS:-} " '$0 != "ReadWritePaths" && !seen[$0]++ &&
			(only == "  " || index(only, " " $0 " "))')
	# mode: all, none, minus KEY, only KEY
	gen() {
		awk -v mode="$1" -v key="$2" -v keys="$UC_KEYS ReadWritePaths" '
			BEGIN { n = split(keys, a, " "); for (i = 1; i <= n; i++) sb[a[i]] = 1 }
			/^\[Unit\]/ { print; print "StartLimitIntervalSec=0"; next }
			/^# Sandbox/ { s = 1 }
			{
				k = $0; sub(/=.*/, "", k)
				if (s && (k in sb)) {
					mine = (k == key || (key == "ProtectSystem" && k == "ReadWritePaths"))
					if (mode == "none" || (mode == "minus" && mine) || (mode == "only" && !mine))
						next
				}
				print
			}' "$src" >"$out/$3@.service"
	}
	gen all "" "$2-all"
	gen none "" "$2-none"
	for k in $UC_KEYS; do
		gen minus "$k" "$2-m-$k"
		gen only "$k" "$2-o-$k"
	done
}

unitcost_section() {
	if [ "$FLEET_UP" != 1 ] && ! fleet_setup; then
		avail unit-cost all "not available" "setup failed (see logs/fleet-setup.log)"
		fleet_cleanup
		return
	fi
	local log=$LOGS/unit-cost.log u short
	chmod u+w "$FW/runners/uc"
	rm -f "$FW/runners/uc"/*
	for u in microvm-tap-interfaces:tap microvm-virtiofsd:virtiofsd; do
		unitcost_gen "${u%%:*}" "${u##*:}" || { note "unit-cost: no installed ${u%%:*}@.service"; return; }
	done
	chmod -R go-w "$FW/runners/uc"
	# exposure of each variant, as test-units.sh reads it
	echo "variant,exposure" >"$OUT/unit-exposure.csv"
	local insts=() f
	for f in "$FW/runners/uc"/*@.service; do f=${f##*/}; insts+=("${f%@.service}@f0.service"); done
	(cd "$FW/runners/uc" && systemd-analyze security --offline=yes --no-pager "${insts[@]}" 2>/dev/null) |
		sed -n 's/.*Overall exposure level for \([a-z]*\)-\([^@]*\)@f0.service: \([0-9.]*\).*/\1 \2 \3/p' |
		while read -r short rest e; do
			case $rest in
			all | none) echo "$short: $rest,$e" ;;
			m-*) echo "$short: -${rest#m-},$e" ;;
			o-*) echo "$short: +${rest#o-},$e" ;;
			esac
		done >>"$OUT/unit-exposure.csv"
	fleet_switch ours 0 || { note "unit-cost: cannot switch to our units"; return; }
	local R; R=$(reps 5)
	note "unit-cost: $(find "$FW/runners/uc" -name '*@.service' | wc -l) unit variants, $R rounds"
	local name st sp label rest
	cx "$FW/runners/bin/unit-cost-run" "$FW/runners/uc" "$R" f0 2>>"$log" |
		while read -r name st sp; do
			short=${name%%-*} rest=${name#*-}
			case $rest in
			all | none) label="$short: $rest" ;;
			m-*) label="$short: -${rest#m-}" ;;
			o-*) label="$short: +${rest#o-}" ;;
			*) continue ;;
			esac
			if [ "$st" = FAIL ]; then
				echo "$label: start failed" >>"$log"
				echo "unit-cost,failed,$label,1,0,1" >>"$RAW"
				continue
			fi
			echo "unit-cost,start_ms,$label,1,0,$(awk -v u="$st" 'BEGIN { printf "%.3f", u / 1000 }')" >>"$RAW"
			echo "unit-cost,stop_ms,$label,1,0,$(awk -v u="$sp" 'BEGIN { printf "%.3f", u / 1000 }')" >>"$RAW"
		done
	avail unit-cost all ok ""
	note "unit-cost: done"
}

# Section profile, with the fleet (not in the default): where the CPU goes
# while our units start N=32 VMs, and while they stop them. `perf record -a
# -g` over one start and over the stop after it; the samples of the
# processes systemd forked to run a unit's command (named "(...)" until
# they exec it: where systemd sets up a unit's sandbox; from systemd 255
# on, the systemd-executor each of them execs first) are classified by what
# their call stacks hold, the rest by process name.
fleet_profile_report() { # fleet_profile_report DATA WHAT
	echo "== fleet $2, N=$N, our units: CPU samples (perf record -a -g, 1999 Hz, both CPUs)"
	echo "   of systemd's forked children before they exec the unit's command (what systemd sets up for it, its sandbox if it has one), by stack:"
	perf script -i "$1" -F comm,ip,sym,dso 2>/dev/null | awk '
		function flush(   k) {
			if (c == "") return
			all++
			# systemd >= 255 execs systemd-executor through
			# /proc/self/fd/N (named N until it names itself "(...)")
			if (c !~ /^\(/ && c !~ /^[0-9]+$/) { k = c ~ /^swapper/ ? "(idle)" : c; o[k]++; c = ""; return }
			tot++
			if (c ~ /^[0-9]+$/) k = "systemd-executor started, before it names itself (systemd >= 255)"
			else if (st ~ /libseccomp/) k = "compile and load seccomp filters (libseccomp)"
			else if (st ~ /show_mountinfo|mounts_open|m_start|m_show|seq_read/) k = "kernel: write /proc/self/mountinfo"
			else if (st ~ /libmount|mnt_table|vfscanf|_IO_file|getline/) k = "parse /proc/self/mountinfo (libmount)"
			else if (st ~ /malloc|_int_free|cfree/) k = "malloc/free (mostly libmount entries)"
			else if (st ~ /copy_mnt_ns|copy_tree|propagate|clone_mnt/) k = "kernel: copy the mount table, propagation"
			else if (st ~ /path_mount|do_mount|mount_setattr|umount|namespace_unlock|graft_tree|reconfigure_mnt/) k = "kernel: mount, remount, umount"
			else if (st ~ /do_wp_page|wp_page_copy/) k = "kernel: copy-on-write faults (the fork of PID 1)"
			else if (st ~ /bprm|load_elf|execve/) k = "kernel: exec of the unit'"'"'s command"
			else k = "other"
			s[k]++
			c = ""
		}
		/^[^ \t]/ { flush(); c = $1; st = ""; next }
		NF { st = st " " $2 " " $3 }
		END {
			flush()
			for (k in s) printf "   %6.1f%%  %s\n", 100 * s[k] / tot, k | "sort -rn"
			close("sort -rn")
			printf "   (%d samples; all of systemd'"'"'s children: %.1f%% of the samples on both CPUs)\n", tot, 100 * tot / all
			print "   the rest, by process:"
			for (k in o) printf "   %6.1f%%  %s\n", 100 * o[k] / all, k | "sort -rn | head -n 10"
			close("sort -rn | head -n 10")
		}'
}

fleet_profile() {
	local f=$OUT/fleet-profile.txt data=$LOGS/fleet-perf.data N v=ours
	# shellcheck disable=SC2086 # one word a number
	N=$(printf '%s\n' $FLEET_NS | sort -n | tail -n 1)
	if ! command -v perf >/dev/null || ! perf version >/dev/null 2>&1; then
		note "profile: no perf for this kernel (Debian package linux-perf)"
		return
	fi
	if [ "$FLEET_UP" != 1 ] && ! fleet_setup; then
		note "profile: fleet setup failed (see logs/fleet-setup.log)"
		return
	fi
	fleet_switch "$v" "$N" || { note "profile: cannot switch to our units"; return; }
	sleep 0.3
	local units
	mapfile -t units < <(fleet_units "$v" "$N")
	# perf record -a -g into DATA while COMMAND runs
	fleet_perf() { # fleet_perf DATA COMMAND...
		local pp data=$1
		shift
		perf record -q -g -a -F 1999 -o "$data" -- sleep 120 >>"$LOGS/profile.log" 2>&1 &
		pp=$!
		sleep 0.5
		"$@"
		kill -INT "$pp"
		wait "$pp"
	}
	# shellcheck disable=SC2317 # called through fleet_perf
	fleet_stop_all() {
		cx systemctl stop microvms.target
		cx timeout 300 systemctl stop "${units[@]}" >>"$LOGS/profile.log" 2>&1
	}
	fleet_perf "$data" cx timeout 300 systemctl start microvms.target
	sleep 0.3
	fleet_perf "$data.stop" fleet_stop_all
	{
		fleet_profile_report "$data" start
		fleet_profile_report "$data.stop" stop
		# how long each kind of unit took to stop (deactivating to
		# inactive), and when the last of them was down
		echo "   each unit's stop (deactivating -> inactive), by template: median, max; the last one down"
		cx systemctl show -p Id,ActiveExitTimestampMonotonic,InactiveEnterTimestampMonotonic "${units[@]}" |
			awk -F= '/^Id=/ { id = $2; sub(/@.*/, "@", id) }
				/^ActiveExitTimestampMonotonic=/ { ax = $2 }
				/^InactiveEnterTimestampMonotonic=/ && ax > 0 && $2 >= ax {
					printf "%s %.3f %.3f %.3f\n", id, ($2 - ax) / 1000, ax / 1000, $2 / 1000 }' |
			sort -k1,1 -k2,2n | awk '
				{ n[$1]++; d[$1, n[$1]] = $2; if (t0 == "" || $3 < t0) t0 = $3
				  if ($4 > last[$1]) last[$1] = $4 }
				END { for (k in n) printf "   %-35s %3d units, %8.1f ms median, %8.1f max, down at %8.1f ms\n",
					k, n[k], d[k, int((n[k] + 1) / 2)], d[k, n[k]], last[k] - t0 }'
		echo "   /proc/self/mountinfo in the container: $(cx cat /proc/self/mountinfo | wc -l) mounts"
	} >"$f"
	rm -f "$data" "$data.stop"
	cat "$f"
}
