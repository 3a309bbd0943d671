#!/bin/bash
# SPDX-License-Identifier: MIT
# The bench harness still works: one quick round of every section (N=1,
# K=1, one repetition) into a temp dir; the report has every table, the
# CSV a row for each of our helpers, and the PNG is written. Numbers are
# not judged here (`make bench` is for that). Needs root; ~15 s.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root" >&2; exit 77; }
for p in supervisor gnuplot-nox qemu-system-common; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
		{ echo "SKIP: Debian package $p missing (make bench installs it)" >&2; exit 77; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
BENCH_OUT=$out BENCH_SCALE=0.01 BENCH_TAP_N=1 BENCH_VFS_K=1 BENCH_SETTLE=0 BENCH_NO_INSTALL=1 \
	tests/bench/run >"$out/stdout" 2>&1
st=$?
fail() { echo "FAIL: $*"; tail -n 40 "$out/stdout"; exit 1; }
[ $st = 0 ] || fail "tests/bench/run exited $st"
for t in "TAP up" "TAP down" "start -> READY=1" "SIGTERM -> every virtiofsd gone" \
	"peak RSS" "runner's first instruction" "pci-bind: 8 devices to vfio-pci" "Targets of issue 8"; do
	grep -qF "$t" "$out/stdout" || fail "no table '$t' in the report"
done
# each alternative and floor has a measured row (no "not available")
for row in "tap,up,microvm.nix script (ip),1" "tap,up,ip -batch,1" "tap,down,floor (link group),1" \
	"virtiofs,ready_ms,supervisord (startsecs=0),1" "virtiofs,ready_ms,C floor (daemons direct),1" \
	"runner,first_insn,exec microvm-run (floor),0" "pci,bind,microvm.nix pci-setup script,8"; do
	grep -qF "$row,1,0," "$out/summary.csv" || fail "summary.csv has no measured row '$row'"
done
# our helpers: measured when built and working, else an honest "not available"
for h in tap-setup virtiofs-launch "runner-exec start" "pci-bind bind"; do
	grep -q ",$h,[0-9]*,1,0," "$out/summary.csv" || grep -q ",$h,.*not available" "$out/summary.csv" ||
		fail "summary.csv says nothing about $h"
done
[ "$(head -c 4 "$out/bench.png" 2>/dev/null | tail -c 3)" = PNG ] || fail "no PNG"
grep -q '^| TAP up, N=' "$out/performance.md" 2>/dev/null || grep -q '^| virtiofs READY' "$out/performance.md" ||
	grep -q '^| runner start' "$out/performance.md" || fail "no README table (performance.md)"
echo "ok: report, summary.csv, performance.md and bench.png written"
