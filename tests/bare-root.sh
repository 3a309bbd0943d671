#!/bin/bash
# tests/bare-root.sh: the README's first block, as written, on the barest
# Debian 12 there is (issue 17). Not part of `make check`: it takes minutes
# (a few more the first time, for debootstrap and the downloads). As root:
#
#   1. a `debootstrap --variant=minbase bookworm` root from Debian's
#      packages, built once and kept in $BARE_CACHE/root (BARE_REFRESH=1
#      builds it again);
#   2. a fresh copy of it for this run, in $BARE_CACHE/runs/, holding a bare
#      git repository of this clone's committed HEAD (uncommitted changes
#      are not in it) at /srv/microvm-host-helpers.git, and the host's
#      /etc/resolv.conf (the network's resolver, as DHCP would give it);
#   3. entered as the issue did: pivot_root in a private mount namespace,
#      fresh tmpfs on /run and /tmp, the host's /dev and /sys; and in a PID
#      namespace of its own with its own /proc, so that nothing started in
#      it outlives the run. Downloaded packages are kept between runs
#      ($BARE_CACHE/apt-archives bound on /var/cache/apt/archives): apt
#      still installs each one, it only does not fetch it again;
#   4. there, as root in /root with a login's environment, the lines of the
#      first ```sh block of the committed README.md, run by `bash -e -v`
#      (so each line is shown), with the value of its REPO_URL= line
#      replaced by the bare repository: apt-get brings git and make, the
#      clone, `make demo`, `make check`;
#   5. a summary: the demo's verdict, the `total:` lines of `make check`,
#      what was skipped and why, processes the block left running (they
#      fail the run), then `bare-root: PASS` or `bare-root: FAIL: why`.
#
# Exit 0 only on PASS; 77 if not root. Cleanup, on success, failure and
# interrupt: the processes in the namespace get SIGTERM and up to
# $BARE_GRACE seconds (default 90) to run their own cleanup (containers,
# network namespaces), then the namespace is killed, and with it every
# mount; systemd containers' cgroups still holding a process of the run are
# emptied and removed; the copy is removed (BARE_KEEP=1 keeps it). The whole
# output is also in $BARE_CACHE/logs/.
# Env: BARE_CACHE (default /var/cache/microvm-host-helpers-bare),
#      BARE_MIRROR (default http://deb.debian.org/debian), BARE_REFRESH=1,
#      BARE_KEEP=1, BARE_GRACE.
set -uo pipefail

SUITE=bookworm
CACHE=${BARE_CACHE:-/var/cache/microvm-host-helpers-bare}
MIRROR=${BARE_MIRROR:-http://deb.debian.org/debian}
GRACE=${BARE_GRACE:-90}
REPO_IN_ROOT=/srv/microvm-host-helpers.git
BLOCK_IN_ROOT=/srv/readme-block.sh
SELF_IN_ROOT=/srv/bare-root.sh
LEFT_IN_ROOT=/srv/left-running

say() { printf 'bare-root: %s\n' "$*"; }

# ---- inside: PID 1 of the new PID namespace, in the bare root -------------

# OTHERS: the PIDs of this namespace but PID 1, not zombies; only those
# of session $1 if it is given. Called without a subshell, which would be
# one of them.
others() {
	local p pid x st sid
	OTHERS=()
	for p in /proc/[0-9]*; do
		pid=${p#/proc/}
		[[ $pid != 1 ]] || continue
		read -r x 2>/dev/null <"$p/stat" || continue
		read -r st x x sid x <<<"${x##*) }"
		[[ $st != Z && ${1:-$sid} == "$sid" ]] || continue
		OTHERS+=("$pid")
	done
}

# "PID COMMAND" a line for each PID.
describe() {
	local pid c
	for pid; do
		c=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || continue
		printf '%s %s\n' "$pid" "${c:0:120}"
	done
}

# The systemd containers' cgroups (tests/e2e/container.sh) that hold a
# process of this namespace: a PID of another namespace reads as 0 or not
# at all.
our_cgroups() {
	local cg
	for cg in /sys/fs/cgroup/mvm-e2e-* /sys/fs/cgroup/*/mvm-e2e-*; do
		[[ -d $cg ]] || continue
		find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | grep -q '^[1-9]' \
			&& printf '%s\n' "$cg"
	done
}

# Kill what is left in our containers' cgroups and remove them.
reap_cgroups() {
	local cg pid
	for cg in $(our_cgroups); do
		say "removing the cgroup $cg that a container of this run left"
		find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r pid; do
			[[ $pid == 0 ]] || kill -KILL "$pid" 2>/dev/null
		done
		sleep 0.5
		find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
	done
}

# Until no process of session $2 (of any, if empty) is left, at most $1
# seconds.
wait_gone() {
	local i
	for ((i = 0; i < $1 * 5; i++)); do
		others "$2"
		((${#OTHERS[@]} == 0)) && return 0
		sleep 0.2
	done
	return 1
}

# TERM to every process but PID 1, then up to $1 seconds for them to go.
stop_others() {
	others
	((${#OTHERS[@]} == 0)) || kill -TERM "${OTHERS[@]}" 2>/dev/null
	wait_gone "$1" ""
}

pid1() {
	umount -n -l /.old-root && rmdir /.old-root
	cd /root || exit 1
	local block_pid rc=0 sig='' grace=$1
	trap 'sig=TERM' TERM
	trap 'sig=INT' INT
	# The README block as a login would run it, in a session of its own.
	setsid env -i HOME=/root USER=root LOGNAME=root SHELL=/bin/bash \
		TERM=dumb PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		/bin/bash -e -v "$BLOCK_IN_ROOT" </dev/null &
	block_pid=$!
	while :; do
		wait "$block_pid"
		rc=$?
		[[ -n $sig ]] && break
		kill -0 "$block_pid" 2>/dev/null || break
	done
	if [[ -n $sig ]]; then
		# The block's process group first: the test scripts' traps stop
		# their containers and VMs (other sessions) themselves.
		say "SIG$sig: stopping the README block (its traps clean up; up to ${grace}s)"
		kill -TERM -- "-$block_pid" 2>/dev/null
		wait_gone "$grace" "$block_pid" ||
			say "still running after ${grace}s: $(describe "${OTHERS[@]}" | tr '\n' ';')"
		stop_others 10 || say "killing what is left: $(describe "${OTHERS[@]}" | tr '\n' ';')"
		reap_cgroups
		[[ $sig == INT ]] && exit 130
		exit 143
	fi
	say "the README block exited $rc"
	# Whatever still runs was left behind by the block: a defect.
	others
	describe "${OTHERS[@]}" >"$LEFT_IN_ROOT"
	if [[ -s $LEFT_IN_ROOT ]]; then
		stop_others 10 || true
		reap_cgroups
	fi
	exit "$rc"
}

# ---- inside: PID 1 before pivot_root (host binaries, private mounts) ------

inner() {   # RUN CACHE GRACE
	local r=$1/root
	set -e
	mount -n --bind "$r" "$r"
	mount -n -t proc proc "$r/proc"
	mount -n --rbind /dev "$r/dev"
	mount -n --rbind /sys "$r/sys"
	mount -n -t tmpfs -o mode=0755,nosuid,nodev bare-run "$r/run"
	# Debian 12's /tmp is a directory of the root: device nodes work there.
	mount -n -t tmpfs -o mode=1777 bare-tmp "$r/tmp"
	mount -n --bind "$2/apt-archives" "$r/var/cache/apt/archives"
	# A login on a bare machine has no descriptor but 0, 1 and 2.
	local fd
	for fd in /proc/self/fd/*; do
		fd=${fd##*/}
		((fd > 2)) && eval "exec $fd>&-"
	done
	cd "$r"
	mkdir .old-root
	pivot_root . .old-root
	exec chroot . /bin/bash "$SELF_IN_ROOT" __pid1 "$3"
}

case ${1:-} in
__inner) shift; inner "$@" ;;
__pid1) shift; pid1 "$@" ;;
"") ;;
*) echo "usage: $0   (as root; see the comment at its top)" >&2; exit 2 ;;
esac

# ---- outside: the host ------------------------------------------------------

SELF=$(readlink -f "${BASH_SOURCE[0]}")
SRC=$(cd "$(dirname "$SELF")/.." && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$SRC/tests/e2e/lib.sh"

die() { say "FAIL: $*"; exit 1; }

[[ $(id -u) == 0 ]] || { echo "bare-root: SKIP: needs root" >&2; exit 77; }
for c in unshare pivot_root chroot flock git tail pgrep; do
	command -v "$c" >/dev/null || die "$c not found"
done
e2e_need_pkgs debootstrap || die "cannot install debootstrap"
mkdir -p "$CACHE/runs" "$CACHE/logs" "$CACHE/apt-archives"

# One run at a time in a cache (the root, the package archive): the lock.
exec 9>"$CACHE/lock"
flock -n 9 || { say "waiting for another run in $CACHE"; flock 9; }

# 1. The root, built once.
if [[ ! -f $CACHE/root.stamp || ! -x $CACHE/root/bin/bash || ${BARE_REFRESH:-0} == 1 ]]; then
	b=$(mktemp -d "$CACHE/.build.XXXXXX")
	say "debootstrap --variant=minbase $SUITE from $MIRROR (a few minutes; log $b/debootstrap.log)"
	# In a mount namespace of its own: whatever it mounts in the target
	# goes with it, even if it fails half way.
	if ! unshare -m --propagation private -- debootstrap --variant=minbase "$SUITE" \
		"$b/root" "$MIRROR" >"$b/debootstrap.log" 2>&1; then
		tail -n 20 "$b/debootstrap.log"
		rm -rf --one-file-system "$b"
		die "debootstrap failed"
	fi
	rm -rf --one-file-system "$CACHE/root" "$CACHE/root.stamp"
	mv "$b/root" "$CACHE/root"
	rm -rf --one-file-system "$b"
	printf 'debootstrap %s --variant=minbase %s %s, built %s\n' \
		"$(dpkg-query -W -f='${Version}' debootstrap)" "$SUITE" "$MIRROR" \
		"$(date -u '+%F %T UTC')" >"$CACHE/root.stamp"
fi
say "root: $(cat "$CACHE/root.stamp")"

RUN=
INNER=
T0=$SECONDS
LOG=$CACHE/logs/run-$(date -u +%Y%m%d-%H%M%S)-$$.log

cleanup() {
	local rc=$? pid1 i
	trap - EXIT INT TERM
	if [[ -n $INNER ]] && kill -0 "$INNER" 2>/dev/null; then
		pid1=$(pgrep -P "$INNER" | head -n 1)
		say "stopping the run (PID 1 of its namespace: ${pid1:-gone})"
		[[ -z $pid1 ]] || kill -TERM "$pid1" 2>/dev/null
		for ((i = 0; i < (GRACE + 30) * 5; i++)); do
			kill -0 "$INNER" 2>/dev/null || break
			sleep 0.2
		done
		# SIGKILL to PID 1 kills every process of the namespace.
		[[ -z $pid1 ]] || kill -KILL "$pid1" 2>/dev/null
		kill -KILL "$INNER" 2>/dev/null
		wait "$INNER" 2>/dev/null
	fi
	if [[ -n $RUN ]]; then
		# Every mount of the run was made in its private namespace; if
		# one showed up here, removing the copy could reach the host.
		if grep -qF " $RUN/" /proc/self/mountinfo; then
			say "mounts under $RUN on the host; not removing it:"
			grep -F " $RUN/" /proc/self/mountinfo
			rc=1
		elif [[ ${BARE_KEEP:-0} == 1 ]]; then
			say "kept $RUN"
		else
			rm -rf --one-file-system "$RUN"
		fi
	fi
	say "log: $LOG"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 2. This run's copy, the repository, the README's block.
RUN=$(mktemp -d "$CACHE/runs/run.XXXXXX")
cp -a "$CACHE/root" "$RUN/root" || die "cannot copy the root"
R=$RUN/root
cp /etc/resolv.conf "$R/etc/resolv.conf"
head=$(git -C "$SRC" rev-parse HEAD) || die "$SRC is not a git clone"
[[ -z $(git -C "$SRC" status --porcelain --untracked-files=no) ]] \
	|| say "note: $SRC has uncommitted changes; the run tests the committed HEAD ${head:0:12}"
git init -q --bare "$R$REPO_IN_ROOT"
git -C "$SRC" push -q "$R$REPO_IN_ROOT" "$head:refs/heads/main" || die "git push to the copy failed"
git -C "$R$REPO_IN_ROOT" symbolic-ref HEAD refs/heads/main
# The first ```sh block of the committed README.md, REPO_URL= pointed at it.
block=$(git -C "$SRC" show "$head:README.md" |
	awk '!seen && /^```sh$/ { seen = on = 1; next } on && /^```$/ { exit } on')
[[ $(grep -c '^REPO_URL=' <<<"$block") == 1 ]] \
	|| die "the README's first sh block has no one REPO_URL= line to point at the repository"
sed "s|^REPO_URL=.*|REPO_URL=file://$REPO_IN_ROOT   # set by tests/bare-root.sh: $head|" \
	<<<"$block" >"$R$BLOCK_IN_ROOT"
cp "$SELF" "$R$SELF_IN_ROOT"
say "commit $head; the README's first block:"
sed 's/^/    | /' <<<"$block"

# 3., 4. Into the namespaces. setsid: the terminal's ^C reaches only this
# script, whose trap stops the run in order.
say "running it in $R (the output is also in $LOG)"
: >"$LOG" # there before tail looks at it
setsid unshare --mount --pid --fork --kill-child --propagation private -- \
	"$SELF" __inner "$RUN" "$CACHE" "$GRACE" </dev/null >>"$LOG" 2>&1 9>&- &
INNER=$!
tail -n +1 -f --pid="$INNER" "$LOG" &
wait "$INNER"
rc=$?
INNER=
wait

# 5. The summary.
echo
say "summary ($(((SECONDS - T0) / 60)) min $(((SECONDS - T0) % 60)) s, commit ${head:0:12}, $(cut -d, -f1 "$CACHE/root.stamp"))"
why=
demo=$(grep -aE '^(\e\[[0-9;]*m)*demo: (PASS|FAIL)' "$LOG" | tail -n 1 | sed 's/\x1b\[[0-9;]*m//g')
totals=$(grep -a '^total: ' "$LOG")
printf '    %s\n' "README block: exit $rc" "${demo:-demo: no verdict}"
# make check: the normal build, then the ASan+UBSan build.
builds=("normal build" "ASan+UBSan build")
i=0
while read -r t; do
	[[ -n $t ]] && printf '    make check, %s: %s\n' "${builds[i]:-build $((i + 1))}" "$t"
	i=$((i + 1))
done <<<"$totals"
skips=$(grep -aE '^SKIP |: SKIP: |^SKIP: ' "$LOG" | sort | uniq -c)
[[ -z $skips ]] || { echo "    skipped:"; sed 's/^/      /' <<<"$skips"; }
if [[ -s $R$LEFT_IN_ROOT ]]; then
	echo "    left running by the block (stopped):"
	sed 's/^/      /' "$R$LEFT_IN_ROOT"
	why="processes left running"
fi
[[ $rc == 0 ]] || why="the README block exited $rc${why:+; $why}"
[[ $demo == "demo: PASS" ]] || why="${why:+$why; }no demo: PASS"
[[ $(grep -c . <<<"$totals") == 2 ]] || why="${why:+$why; }not two total: lines from make check"
grep -q ' [1-9][0-9]* failed' <<<"$totals" && why="${why:+$why; }a total: line with failures"
if [[ -z $why ]]; then
	say PASS
else
	say "FAIL: $why"
	exit 1
fi
