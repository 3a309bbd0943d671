#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/bench/unit-cost-run.sh DIR REPS INSTANCE: run inside the fleet
# bench's systemd container (tests/bench/fleet.sh). Installs every
# DIR/NAME@.service, then REPS rounds, each in a new random order, of
# `systemctl start NAME@INSTANCE`, `systemctl stop`; prints for each
# "NAME START_US STOP_US" (activating -> active, deactivating -> inactive,
# from the unit's own timestamps) or "NAME FAIL"; removes the units again.
# A target wanted by basic.target keeps the units loaded once inactive, so
# their timestamps can still be read after the stop.
set -u
dir=$1 reps=$2 inst=$3 d=/etc/systemd/system
names=()
for f in "$dir"/*@.service; do
	n=${f##*/}
	n=${n%@.service}
	cp "$f" "$d/$n@.service"
	names+=("$n")
done
{
	echo "[Unit]"
	for n in "${names[@]}"; do echo "Wants=$n@$inst.service"; done
} >"$d/bench-unit-cost.target"
mkdir -p "$d/basic.target.wants"
ln -sfn ../bench-unit-cost.target "$d/basic.target.wants/bench-unit-cost.target"
systemctl daemon-reload
for ((r = 0; r < reps; r++)); do
	for n in $(printf '%s\n' "${names[@]}" | shuf); do
		u=$n@$inst.service
		if ! systemctl start "$u" 2>/dev/null; then
			echo "$n FAIL"
			systemctl stop "$u" 2>/dev/null
			systemctl reset-failed "$u" 2>/dev/null
			continue
		fi
		systemctl stop "$u"
		systemctl show -p InactiveExitTimestampMonotonic,ActiveEnterTimestampMonotonic \
			-p ActiveExitTimestampMonotonic,InactiveEnterTimestampMonotonic "$u" |
			awk -F= -v n="$n" '{ t[$1] = $2 } END {
				print n, t["ActiveEnterTimestampMonotonic"] - t["InactiveExitTimestampMonotonic"],
					t["InactiveEnterTimestampMonotonic"] - t["ActiveExitTimestampMonotonic"] }'
	done
done
for n in "${names[@]}"; do rm -f "$d/$n@.service"; done
rm -f "$d/bench-unit-cost.target" "$d/basic.target.wants/bench-unit-cost.target"
systemctl daemon-reload
systemctl reset-failed
