# shellcheck shell=bash
# tests/e2e/lib.sh: shared helpers for the end-to-end scripts.
# Source it; it sets nothing but functions and a few E2E_* defaults.
#
# Conventions:
#   exit status 0 = pass, 1 = fail, 77 = skipped (a needed Debian package
#   could not be installed; the reason is printed on stderr).

# shellcheck disable=SC2034  # used by the scripts that source this
E2E_DIR=${E2E_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
E2E_SKIP=77
# shellcheck disable=SC2034
E2E_DEFAULT_CACHE=/var/cache/microvm-host-helpers-e2e

# A root helper trusts a runner only below a runner root (common/vm.c;
# /nix/store on a real host): the tests make their root-owned runners in
# these, by hand and, through a drop-in for every service, in containers
# (container.sh).
# shellcheck disable=SC2034
E2E_RUNNER_ROOTS=/tmp:/opt:/var/lib
export MICROVM_RUNNER_ROOTS=${MICROVM_RUNNER_ROOTS:-$E2E_RUNNER_ROOTS}

e2e_log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
e2e_die() { printf '%s: error: %s\n' "${0##*/}" "$*" >&2; exit 1; }
e2e_skip() { printf '%s: SKIP: %s\n' "${0##*/}" "$*" >&2; exit "$E2E_SKIP"; }

# e2e_need_root: the e2e scripts need root (netns, TAP, nspawn).
e2e_need_root() {
    [[ $(id -u) -eq 0 ]] || e2e_skip "needs root"
}

# e2e_pkgs_missing PKG...: print the packages that are not installed.
e2e_pkgs_missing() {
    local p st
    for p in "$@"; do
        st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        [[ $st == installed ]] || printf '%s\n' "$p"
    done
}

# e2e_need_pkgs PKG...: install the missing Debian packages with apt-get.
# Returns 1 (with a message) if they cannot be installed.
# E2E_NO_INSTALL=1 forbids installing (then missing packages return 1).
e2e_need_pkgs() {
    local missing
    mapfile -t missing < <(e2e_pkgs_missing "$@")
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ ${E2E_NO_INSTALL:-0} == 1 ]]; then
        e2e_log "missing packages (E2E_NO_INSTALL=1): ${missing[*]}"
        return 1
    fi
    e2e_log "installing: ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
            "${missing[@]}" >&2; then
        e2e_log "apt-get install failed; trying apt-get update first"
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q >&2 || true
        if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
                "${missing[@]}" >&2; then
            e2e_log "cannot install: ${missing[*]}"
            return 1
        fi
    fi
    mapfile -t missing < <(e2e_pkgs_missing "$@")
    if [[ ${#missing[@]} -ne 0 ]]; then
        e2e_log "still missing after install: ${missing[*]}"
        return 1
    fi
}

# e2e_kill_tree PID: kill a process group led by PID (TERM, then KILL).
e2e_kill_group() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    : "$i"
}

# ---- used by the project tests (test-*.sh) and the demo ------------------

# shellcheck disable=SC2034
E2E_ROOT=${E2E_ROOT:-$(cd "$E2E_DIR/../.." && pwd)}
E2E_FAILS=0

# e2e_bin TOOL: the built binary ($B, default build, relative to the repo
# root as tests/run and the Makefile use it); dies if it is not built.
e2e_bin() {
    local b=${B:-build}
    [[ $b == /* ]] || b=$E2E_ROOT/$b
    [[ -x $b/$1 && ! -d $b/$1 ]] || e2e_die "$b/$1 is not built (make B=${B:-build} build-tests)"
    printf '%s\n' "$b/$1"
}

e2e_ok() { printf 'ok   %s\n' "$*"; }
e2e_fail() { printf 'FAIL %s\n' "$*"; E2E_FAILS=$((E2E_FAILS + 1)); }
# e2e_check DESCRIPTION CMD...: one line ok/FAIL; counts failures.
e2e_check() {
    local what=$1; shift
    if "$@"; then e2e_ok "$what"; else e2e_fail "$what"; fi
}
e2e_now() { date +%s.%N; }
e2e_since() { awk -v t0="$1" -v t1="$(e2e_now)" 'BEGIN { printf "%.2f", t1 - t0 }'; }
e2e_token() { head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# e2e_wait SECONDS CMD...: until CMD succeeds (every 0.1 s); 1 on timeout.
e2e_wait() {
    local n=$(($1 * 10)) i; shift
    for ((i = 0; i < n; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

# e2e_unix_listening PATH [NET_UNIX_FILE]: a socket bound at PATH listens
# (__SO_ACCEPTCON in /proc/net/unix, which shows the caller's netns).
e2e_unix_listening() {
    awk -v p="$1" '$8 == p && $4 == "00010000" { f = 1 } END { exit !f }' \
        "${2:-/proc/net/unix}"
}

# e2e_pids_gone "PID...": every one of the pids has exited; false for
# none at all (nothing recorded is nothing shown gone).
e2e_pids_gone() {
    local p
    [[ -n $1 ]] || return 1
    for p in $1; do [[ -d /proc/$p ]] && return 1; done
    return 0
}

# e2e_hold_clients SOCKET...: connect to each Unix socket and hold the
# connections until killed (run it in the background, as `e2e_hold_clients
# ... &`: the subshell becomes perl, so killing $! kills the client, and no
# client outlives the test): clients that make virtiofs-launch start the
# shares' daemons. Exits non-zero at once if one does not connect.
e2e_hold_clients() {
    exec perl -MIO::Socket::UNIX -e '
        my @c;
        for my $p (@ARGV) {
            my $s = IO::Socket::UNIX->new(Peer => $p) or die "cannot connect to $p: $!\n";
            push @c, $s;
        }
        sleep 1 while 1;' -- "$@"
}

# e2e_virtiofsd_of LAUNCHER [N]: the pids of LAUNCHER's virtiofsd children,
# space-separated, on stdout; with N, false unless there are N of them.
e2e_virtiofsd_of() {
    local p
    p=$(pgrep -P "$1" -d' ' -x virtiofsd 2>/dev/null) || true
    echo "$p"
    [[ -z ${2:-} ]] || [[ $(wc -w <<<"$p") -eq $2 ]]
}

# e2e_hold_daemons LAUNCHER SOCKET...: hold a client on each socket
# (e2e_hold_clients, in the background; its pid in E2E_CLIENT_PID) until
# LAUNCHER has a virtiofsd for each, at most 10 s. e2e_release_clients
# ends the client (a test's cleanup calls it too: again, it does nothing).
e2e_hold_daemons() {
    local launcher=$1
    shift
    e2e_hold_clients "$@" &
    E2E_CLIENT_PID=$!
    e2e_wait 10 e2e_virtiofsd_of "$launcher" $# >/dev/null || true
}
E2E_CLIENT_PID=
e2e_release_clients() {
    [[ -n $E2E_CLIENT_PID ]] || return 0
    kill "$E2E_CLIENT_PID" 2>/dev/null
    wait "$E2E_CLIENT_PID" 2>/dev/null || true
    E2E_CLIENT_PID=
}
