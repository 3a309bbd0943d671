#!/bin/bash
# SPDX-License-Identifier: MIT
# The bench harness still works: one quick round of the sections that need
# no container (tap, virtiofs with its served probe, runner, pci,
# tap-memory) at their smallest sizes into a temp dir; the report has
# every table, summary.csv a measured row for each alternative and floor
# AND for each of our helpers (a helper of ours that does not run is a
# failure here, never an "not available" row), the PNG is written.
# Numbers are not judged (`make bench` is for that); a run over its
# BENCH_BUDGET stops after 3 rounds and says so. The fleet and
# unit-cost sections boot a systemd container: test-smoke-fleet.sh.
# Needs root; ~25 s.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root" >&2; exit 77; }
for p in supervisor gnuplot-nox qemu-system-common; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
		{ echo "SKIP: Debian package $p missing (tests/deps.sh installs it)" >&2; exit 77; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
BENCH_OUT=$out BENCH_SCALE=0.01 BENCH_TAP_N=1 BENCH_VFS_K=1 BENCH_SETTLE=0 BENCH_NO_INSTALL=1 \
	BENCH_TAPMEM_N=4 BENCH_TAPMEM_SIZES=64 BENCH_TAPMEM_SECS=0.1 \
	BENCH_SECTIONS=tap,virtiofs,runner,pci,tap-memory tests/bench/run >"$out/stdout" 2>&1
st=$?
fail() { echo "FAIL: $*"; tail -n 40 "$out/stdout"; exit 1; }
[ $st = 0 ] || fail "tests/bench/run exited $st"
for t in "TAP up" "TAP down" "start -> READY=1" "SIGTERM -> every virtiofsd gone" "peak RSS" \
	"answered VHOST_USER_GET_FEATURES" "runner's first instruction" "pci-bind: 8 devices to vfio-pci" \
	"tap-memory: kernel memory per TAP" "tap-memory: host -> VM end throughput" "Targets of issues 8 and 14"; do
	grep -qF "$t" "$out/stdout" || fail "no table '$t' in the report"
done
# every variant measured, ours included: "runs 1, failed 0"
for row in "tap,up,tap-setup,1" "tap,down,tap-setup,1" "tap,up,microvm.nix script (ip),1" "tap,up,ip -batch,1" \
	"tap,down,floor (link group),1" \
	"virtiofs,ready_ms,virtiofs-launch,1" "virtiofs,served_ms,virtiofs-launch,1" \
	"virtiofs,ready_ms,supervisord (startsecs=0),1" "virtiofs,ready_ms,C floor (daemons direct),1" \
	"virtiofs,served_ms,C floor (daemons direct),1" "virtiofs,ready_ms,listen-only bound (no work),1" \
	"runner,first_insn,runner-exec start,0" "runner,first_insn,exec microvm-run (floor),0" \
	"pci,bind,pci-bind bind,8" "pci,bind,microvm.nix pci-setup script,8" \
	"tap-memory,slab_kib,tap-setup (multi_queue),4" "tap-memory,slab_kib,tap-setup,4" \
	"tap-memory,slab_kib,microvm.nix script (multi_queue),4" "tap-memory,slab_kib,floor (multi_queue; noqueue root),4" \
	"tap-memory,pps_rx,noqueue root,64" "tap-memory,pps_rx,multi_queue; kernel's qdisc (mq),64"; do
	grep -qF "$row,1,0," "$out/summary.csv" || fail "summary.csv has no measured row '$row'"
done
if grep -q 'not available' "$out/summary.csv"; then
	fail "not available: $(grep 'not available' "$out/summary.csv" | head -n 3)"
fi
# the throughput ratio that decides tap-setup's default is taken round by round
grep -qE "^\| host -> VM end, 64 B UDP.*round by round: [0-9.]+x \([0-9]+ rounds\) / [0-9.]+x \([0-9]+ rounds\) \|$" "$out/performance.md" ||
	fail "no round-by-round noqueue ratio in the 64 B row of performance.md"
[ "$(head -c 4 "$out/bench.png" 2>/dev/null | tail -c 3)" = PNG ] || fail "no PNG"
for r in '| runner start' '| kernel memory per TAP' '| 8 PCI devices'; do
	grep -qF "$r" "$out/performance.md" 2>/dev/null || fail "no README row '$r' (performance.md)"
done
echo "ok: report, summary.csv, performance.md and bench.png written; every helper of ours measured"

# BENCH_BUDGET: a run over its budget stops its section after 3 rounds and
# says so. Each round here takes over 0.4 s (runner-exec behind a sleep),
# so 3 rounds spend the 1 s budget whatever the machine; 6 are asked for.
out2=$out/budget
mkdir -p "$out2"
printf '#!/bin/sh\nsleep 0.4\nexec %s "$@"\n' "$PWD/${B:-build}/runner-exec" >"$out/slow-runner-exec"
chmod 0755 "$out/slow-runner-exec"
BENCH_OUT=$out2 BENCH_SCALE=0.1 BENCH_BUDGET=1 BENCH_NO_INSTALL=1 BENCH_SECTIONS=runner \
	RUNNER_EXEC=$out/slow-runner-exec tests/bench/run >"$out2/stdout" 2>&1 ||
	{ out=$out2; fail "tests/bench/run with BENCH_BUDGET=1 exited $?"; }
n=$(grep -c '^runner,first_insn,runner-exec,' "$out2/raw.csv")
[ "$n" = 3 ] || { out=$out2; fail "BENCH_BUDGET=1: $n rounds of runner-exec measured, not 3 of 6"; }
grep -qx "cut short: runner, 3 of 6 rounds (BENCH_BUDGET=1 s)" "$out2/stdout" ||
	{ out=$out2; fail "BENCH_BUDGET=1: the report does not say the runner section was cut short"; }
echo "ok: over its budget (BENCH_BUDGET=1), the runner section stopped after 3 of 6 rounds, and the report says so"
