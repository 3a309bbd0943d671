# shellcheck shell=bash
# SPDX-License-Identifier: MIT
# tests/bench/tapmem.sh: the `tap-memory` section of tests/bench/run
# (sourced by it; uses its raw, avail, note, reps, shuffle, failure,
# mkpkg, tool, W, RT, BIN, LOGS, UID_VM, GID_VM).
#
# Kernel memory per TAP once up: N (64) TAPs made in a fresh network
# namespace, /proc/meminfo read before and after (the TAPs up, nothing
# attached, 0.5 s to settle), per TAP:
#   slab_kib    Slab (SReclaimable + SUnreclaim) growth
#   percpu_kib  Percpu growth (a pfifo_fast qdisc keeps per-CPU counters)
#   avail_kib   MemAvailable drop (all of it; noisy on a busy machine)
# Variants: tap-setup and microvm.nix's script (ip tuntap), each with
# vnet_hdr multi_queue (what a runner with more than one vCPU asks for)
# and with vnet_hdr alone; tests/bench/tap-floor (the kernel calls only)
# the same two ways, and with the root qdisc set to noqueue before the
# link goes up (the prototype of a tap-setup option: no mq root with a
# pfifo_fast child per possible queue, 256 of them).
# Throughput, with and without that root qdisc (param: payload bytes):
# one TAP, a process on its VM end reading (tests/bench/tap-pps), UDP
# from the host side as fast as one core sends, 0.5 s a run:
#   pps_rx      packets per second the VM end read
#   drop_pct    of those sent, the share that never reached it
#   qdisc_drops packets the root qdisc dropped (tc -s), 0 for noqueue
# The next run waits until the kernel has given back the memory of the
# last namespace (SUnreclaim within 2 MiB of where it was, at most 10 s).

TAPMEM_N=${BENCH_TAPMEM_N:-64}
TAPMEM_SIZES=${BENCH_TAPMEM_SIZES:-64 1400}
TAPMEM_SECS=${BENCH_TAPMEM_SECS:-0.5}

# the snapshot script run inside each namespace: meminfo, CMD, settle,
# meminfo, the interface count
tapmem_script() {
	cat >"$W/tapmem-run.sh" <<-'EOF'
		#!/bin/bash
		# tapmem-run.sh N CMD...: in a fresh network namespace
		n=$1; shift
		snap() { awk '/^(MemAvailable|Slab|SUnreclaim|Percpu):/ { sub(":", "", $1); printf "%s_%s=%s\n", p, $1, $2 }' p="$1" /proc/meminfo; }
		sleep 0.2
		snap before
		"$@" >/dev/null 2>>"$TAPMEM_LOG" || { echo "error=command failed"; exit 1; }
		sleep 0.5
		snap after
		echo "links=$(($(wc -l </proc/net/dev) - 2))"
	EOF
	chmod 0755 "$W/tapmem-run.sh"
	cat >"$W/tapmem-pps.sh" <<-EOF
		#!/bin/bash
		# tapmem-pps.sh FLAGS MQ SIZE: one TAP, an address, a neighbour, tap-pps
		set -e
		$BIN/tap-floor up pp 1 0 0 77 "\$1" >/dev/null
		ip link set lo up
		ip addr add 10.99.0.1/24 dev pp0
		ip neigh replace 10.99.0.2 lladdr 02:00:00:00:00:02 dev pp0 nud permanent
		$BIN/tap-pps pp0 10.99.0.2 $TAPMEM_SECS "\$3" \$2
		echo "qdisc_drops=\$(tc -s qdisc show dev pp0 | awk '/dropped/ { sub(",", "", \$7); print \$7 + 0; exit }')"
	EOF
	chmod 0755 "$W/tapmem-pps.sh"
}

# SUnreclaim back within 2 MiB of $1 KiB (the last namespace is gone)
tapmem_settle() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(awk '/^SUnreclaim:/ { print $2 }' /proc/meminfo)" -le $(($1 + 2048)) ] && return 0
		sleep 0.1
	done
	return 1
}

tapmem_cmd() { # tapmem_cmd VARIANT -> CMD array
	local ts=$1 v=$2 N=$TAPMEM_N
	case $v in
	tap-setup-mq) CMD=("$ts" --state-dir "$W/state" --runtime-dir "$RT" --user "$UID_VM"
			--group "$GID_VM" up tm-mq) ;;
	tap-setup) CMD=("$ts" --state-dir "$W/state" --runtime-dir "$RT" --user "$UID_VM"
			--group "$GID_VM" up tm-sq) ;;
	microvm.nix-mq) CMD=("$W/tapmem-up-mq.sh") ;;
	microvm.nix) CMD=("$W/tapmem-up.sh") ;;
	floor-mq) CMD=("$BIN/tap-floor" up bt "$N" "$UID_VM" "$GID_VM" 4242 "vnet_hdr,multi_queue") ;;
	floor) CMD=("$BIN/tap-floor" up bt "$N" "$UID_VM" "$GID_VM" 4242 vnet_hdr) ;;
	floor-mq-noqueue) CMD=("$BIN/tap-floor" up bt "$N" "$UID_VM" "$GID_VM" 4242 "vnet_hdr,multi_queue,noqueue") ;;
	floor-noqueue) CMD=("$BIN/tap-floor" up bt "$N" "$UID_VM" "$GID_VM" 4242 "vnet_hdr,noqueue") ;;
	esac
}

tapmem_once() { # tapmem_once VARIANT REP
	local v=$1 rep=$2 log=$LOGS/tap-memory-$1.log out N=$TAPMEM_N
	local -A m=()
	echo "== run $rep" >>"$log"
	tapmem_cmd "$TS" "$v"
	rm -rf "${RT:?}"/*
	local base; base=$(awk '/^SUnreclaim:/ { print $2 }' /proc/meminfo)
	out=$(TAPMEM_LOG=$log unshare -n "$W/tapmem-run.sh" "$N" "${CMD[@]}" 2>>"$log")
	local st=$?
	echo "$out" >>"$log"
	tapmem_settle "$base" || echo "memory not given back within 10 s" >>"$log"
	local key val
	while IFS='=' read -r key val; do [ -n "$key" ] && m[$key]=$val; done <<<"$out"
	if [ $st != 0 ] || [ "${m[links]:-0}" != $((N + 1)) ]; then
		echo "exit $st, ${m[links]:-no} links (want $((N + 1)) with lo)" >>"$log"
		failure tap-memory "$v" "$N" "$rep" "$log"
		return 1
	fi
	raw tap-memory slab_kib "$v" "$N" "$rep" \
		"$(awk -v a="${m[after_Slab]}" -v b="${m[before_Slab]}" -v n="$N" 'BEGIN { printf "%.2f", (a - b) / n }')"
	raw tap-memory percpu_kib "$v" "$N" "$rep" \
		"$(awk -v a="${m[after_Percpu]}" -v b="${m[before_Percpu]}" -v n="$N" 'BEGIN { printf "%.2f", (a - b) / n }')"
	raw tap-memory avail_kib "$v" "$N" "$rep" \
		"$(awk -v a="${m[after_MemAvailable]}" -v b="${m[before_MemAvailable]}" -v n="$N" 'BEGIN { printf "%.2f", (b - a) / n }')"
}

tapmem_pps_once() { # tapmem_pps_once VARIANT SIZE REP
	local v=$1 size=$2 rep=$3 log=$LOGS/tap-memory-pps-$1.log out flags mq=
	case $v in
	pps-mq) flags=vnet_hdr,multi_queue mq=mq ;;
	pps-mq-noqueue) flags=vnet_hdr,multi_queue,noqueue mq=mq ;;
	pps) flags=vnet_hdr ;;
	pps-noqueue) flags=vnet_hdr,noqueue ;;
	esac
	echo "== run $rep, $size bytes" >>"$log"
	if ! out=$(unshare -n "$W/tapmem-pps.sh" "$flags" "$mq" "$size" 2>>"$log"); then
		echo "$out" >>"$log"
		failure tap-memory "$v" "$size" "$rep" "$log"
		return 1
	fi
	echo "$out" >>"$log"
	local key val
	while IFS='=' read -r key val; do
		case $key in
		pps_received) raw tap-memory pps_rx "$v" "$size" "$rep" "$val" ;;
		drop_pct | qdisc_drops) raw tap-memory "$key" "$v" "$size" "$rep" "$val" ;;
		esac
	done <<<"$out"
}

tapmem_section() {
	TS=$(tool tap-setup TAP_SETUP)
	local N=$TAPMEM_N n v r size
	tapmem_script
	# the runner packages of tap-setup's variants, microvm.nix's tap-up
	local pkg
	for v in mq sq; do
		pkg=$(mkpkg "tm-$v")
		: >"$pkg/share/microvm/tap-interfaces"
		for ((n = 0; n < N; n++)); do echo "bt$n" >>"$pkg/share/microvm/tap-interfaces"; done
		[ "$v" = mq ] || v=
		echo "vnet_hdr${v:+ multi_queue}" >"$pkg/share/microvm/tap-flags"
		local f=$W/tapmem-up${v:+-mq}.sh
		{
			echo '#!/bin/bash'
			echo 'set -eou pipefail'
			for ((n = 0; n < N; n++)); do
				echo "ip tuntap add name 'bt$n' mode tap user '$UID_VM' vnet_hdr${v:+ multi_queue}"
				echo "ip link set 'bt$n' up"
			done
		} >"$f"
		chmod 0755 "$f"
	done
	local variants=(microvm.nix-mq microvm.nix floor-mq floor floor-mq-noqueue floor-noqueue)
	if [ -z "$TS" ]; then
		avail tap-memory tap-setup-mq "not available" "not built (${TAP_SETUP:-$B/tap-setup})"
		avail tap-memory tap-setup "not available" "not built (${TAP_SETUP:-$B/tap-setup})"
	elif tapmem_once tap-setup-mq 0 >/dev/null; then
		avail tap-memory tap-setup-mq ok "$("$TS" --version 2>&1 | head -n 1)"
		avail tap-memory tap-setup ok ""
		variants+=(tap-setup-mq tap-setup)
	else
		avail tap-memory tap-setup-mq "not available" "fails: $(grep -v '^== run' "$LOGS/tap-memory-tap-setup-mq.log" | tail -n 2)"
		avail tap-memory tap-setup "not available" "tap-setup fails"
	fi
	sed -i '/^tap-memory,[a-z_]*,[^,]*,[0-9]*,0,/d' "$RAW"
	for v in microvm.nix-mq microvm.nix floor-mq floor floor-mq-noqueue floor-noqueue \
		pps-mq pps-mq-noqueue pps pps-noqueue; do
		avail tap-memory "$v" ok ""
	done
	# memory: slab growth varies little; throughput: a busy machine's noise
	# falls on it, so more (and shorter) runs
	local R P r=0; R=$(reps 5) P=$(reps 9)
	while next_round tap-memory "$r" $((R > P ? R : P)); do
		r=$((r + 1))
		if [ "$r" -le "$R" ]; then
			for v in $(shuffle "${variants[@]}"); do tapmem_once "$v" "$r"; done
		fi
		if [ "$r" -le "$P" ]; then
			for size in $TAPMEM_SIZES; do
				for v in $(shuffle pps-mq pps-mq-noqueue pps pps-noqueue); do
					tapmem_pps_once "$v" "$size" "$r"
				done
			done
		fi
	done
	note "tap-memory: $((r < R ? r : R)) rounds of memory, $((r < P ? r : P)) of throughput done"
}
