#!/bin/bash
# SPDX-License-Identifier: MIT
# e2e: boots systemd in a systemd-nspawn container (normal build only)
# The fleet and unit-cost sections of the bench harness still work: one VM
# through microvms.target for each variant (ours, ours without sandbox,
# microvm.nix's units, the runners alone) in the demo's systemd container,
# and the unit-cost of one setting of each unit; the report has the
# tables, summary.csv a measured row for each variant (ours that does not
# run is a failure, never "not available"), the PNG a panel for them.
# Numbers are not judged here. Needs root; ~40 s.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
[ "$(id -u)" = 0 ] || { echo "skip: needs root" >&2; exit 77; }
for p in supervisor gnuplot-nox qemu-system-common systemd-container; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
		{ echo "skip: Debian package $p missing" >&2; exit 77; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
BENCH_OUT=$out BENCH_SCALE=0.01 BENCH_NO_INSTALL=1 BENCH_FLEET_N=1 \
	BENCH_UNITCOST_KEYS="ProtectKernelTunables ProcSubset ProtectSystem" \
	BENCH_SECTIONS=fleet,unit-cost tests/bench/run >"$out/stdout" 2>&1
st=$?
fail() { echo "FAIL: $*"; tail -n 40 "$out/stdout"; exit 1; }
[ $st = 0 ] || fail "tests/bench/run exited $st"
for t in "fleet: systemctl start microvms.target" "fleet: systemctl stop microvms.target" \
	"fleet: RSS of the helper processes" "what each sandboxing setting of tap's unit" \
	"what each sandboxing setting of virtiofsd's unit"; do
	grep -qF "$t" "$out/stdout" || fail "no table '$t' in the report"
done
for row in "fleet,start_ms,ours,1" "fleet,stop_ms,ours,1" "fleet,rss_kib,ours,1" \
	"fleet,start_ms,ours (no sandbox),1" "fleet,start_ms,microvm.nix,1" "fleet,stop_ms,microvm.nix,1" \
	"fleet,start_ms,floor (the runners alone),1" "unit-cost,start_ms,tap: all,1" "unit-cost,start_ms,virtiofsd: all,1"; do
	grep -qF "$row,1,0," "$out/summary.csv" || fail "summary.csv has no measured row '$row'"
done
grep -q '^unit-cost,save_start_ms,tap: ProtectSystem,' "$out/summary.csv" ||
	fail "summary.csv: no unit-cost row for a single setting"
if grep -q 'not available' "$out/summary.csv"; then
	fail "not available: $(grep 'not available' "$out/summary.csv" | head -n 3)"
fi
grep -q '^tap: all,[0-9]' "$out/unit-exposure.csv" || fail "no exposure for the TAP unit"
[ "$(head -c 4 "$out/bench.png" 2>/dev/null | tail -c 3)" = PNG ] || fail "no PNG"
grep -qF '| fleet of 1 VMs' "$out/performance.md" || fail "no README row for the fleet (performance.md)"
echo "ok: fleet and unit-cost tables, summary.csv rows, bench.png; our units measured"
