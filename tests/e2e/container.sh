#!/bin/bash
# tests/e2e/container.sh: boot a real systemd as PID 1 in systemd-nspawn,
# with the host's own / as a read-only root under a tmpfs overlay.
#
# Source it (it also sources lib.sh) and use:
#   container_start [NSPAWN_OPTION...]
#       e.g. --bind=/opt/mvm --bind-ro=/tmp/runner:/nix/store/x-runner
#       Boots the container in the background; sets CONTAINER_PID1 (PID 1
#       of the container, as seen from the host), CONTAINER_NSPAWN_PID,
#       CONTAINER_NAME, CONTAINER_LOG (nspawn + console output).
#       Env: CONTAINER_ROOT (the root directory, default the host's /;
#       another one, e.g. a debootstrapped Debian 13, runs its own systemd),
#       CONTAINER_TARGET (systemd.unit=, default basic.target, so the
#       host's own services are not started; multi-user.target for all),
#       CONTAINER_ARGS (extra words for PID 1's command line).
#   container_wait_running [SECONDS]   (default 60) until systemctl
#       is-system-running says running (or degraded: then lists the failed
#       units on stderr and still returns 0 unless CONTAINER_STRICT=1)
#   container_exec CMD...   run CMD in all the container's namespaces
#       (nsenter -t PID1 -a); its exit status is returned
#   container_stop [SECONDS]   (default 30) SIGRTMIN+4 to PID 1 (clean
#       poweroff); after SECONDS it kills what is left; then removes the
#       container's cgroups. Idempotent; call it from an EXIT trap.
#   container_leftovers   prints what is left of the last container (none:
#       prints nothing, returns 0)
# Run directly: `container.sh shell [NSPAWN_OPTION...]` boots one and opens
# an interactive shell in it; it is stopped when the shell exits.
#
# How (all of it learned the hard way on Debian 12, systemd 252):
# - nspawn refuses -D /, so / is bind-mounted (non-recursive, read-only)
#   in a private mount namespace (unshare -m) and that is the root;
#   --volatile=overlay puts a tmpfs overlay on it.
# - the same namespace has a private tmpfs on /run, else nspawn leaves
#   files in the host's /run/systemd; /run/systemd is made on it, since a
#   host without a running systemd (a bare Debian 12, a CI image) has none.
# - --keep-unit --register=no: no machined; the container lives in a cgroup
#   of its own made here (name=systemd + unified on a cgroup v1 hybrid host,
#   or one cgroup on a v2 host) and removed by container_stop.
# - machinectl / systemctl -M do not work (not registered): use nsenter.
# - /tmp inside is a fresh tmpfs: bind in what the container must see.

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONTAINER_PID1=
CONTAINER_NSPAWN_PID=
CONTAINER_NAME=
CONTAINER_LOG=
CONTAINER_ROOTS_CONF=
CONTAINER_CGROUPS=()

# The cgroup directories to make for a container called $1.
_container_cgroup_dirs() {
    if [[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]]; then
        printf '%s\n' "/sys/fs/cgroup/$1"
    else
        [[ -d /sys/fs/cgroup/systemd ]] && printf '%s\n' "/sys/fs/cgroup/systemd/$1"
        [[ -f /sys/fs/cgroup/unified/cgroup.procs ]] && printf '%s\n' "/sys/fs/cgroup/unified/$1"
    fi
    return 0
}

# The process that becomes nspawn: joins the cgroups, a private mount ns
# with a tmpfs on /run (and in it the /run/systemd nspawn writes to), the
# read-only bind of / as the root. The mount points are made on that tmpfs,
# and mount -n writes no /run/mount/utab: nothing is created on the host,
# whose /run may be empty (a bare Debian 12 without systemd has no
# /run/systemd to mount on).
_container_inner() {   # _container_inner NAME CGROUP... -- NSPAWN_ARGS...
    shift    # NAME: only for ps
    while [[ $1 != -- ]]; do
        echo "$$" >"$1/cgroup.procs"
        shift
    done
    shift
    # shellcheck disable=SC2016 # the inner bash expands it
    exec unshare -m --propagation private -- /bin/bash -c '
        set -e
        mount -n -t tmpfs -o mode=0755 mvm-e2e-run /run
        mkdir -p /run/systemd/e2e-root
        mount -n --bind "$1" /run/systemd/e2e-root
        mount -n -o remount,bind,ro /run/systemd/e2e-root
        shift
        exec systemd-nspawn -D /run/systemd/e2e-root "$@"
    ' nspawn "${CONTAINER_ROOT:-/}" "$@"
}

container_start() {
    [[ -z $CONTAINER_NSPAWN_PID ]] || e2e_die "a container is already running"
    e2e_need_pkgs systemd-container util-linux procps \
        || e2e_skip "cannot install systemd-container"
    CONTAINER_NAME=mvm-e2e-$$-$RANDOM
    CONTAINER_LOG=$(mktemp "/tmp/$CONTAINER_NAME.log.XXXXXX")
    mapfile -t CONTAINER_CGROUPS < <(_container_cgroup_dirs "$CONTAINER_NAME")
    [[ ${#CONTAINER_CGROUPS[@]} -gt 0 ]] || e2e_die "no cgroup hierarchy found"
    local cg
    for cg in "${CONTAINER_CGROUPS[@]}"; do mkdir "$cg"; done
    # The runner roots of the tests (lib.sh), for every service in it.
    CONTAINER_ROOTS_CONF=$(mktemp "/tmp/$CONTAINER_NAME.roots.XXXXXX")
    printf '[Service]\nEnvironment=MICROVM_RUNNER_ROOTS=%s\n' "$MICROVM_RUNNER_ROOTS" \
        >"$CONTAINER_ROOTS_CONF"
    chmod 0644 "$CONTAINER_ROOTS_CONF"
    local args=(--volatile=overlay -b --register=no --keep-unit
        --private-network --link-journal=no -q
        --machine="$CONTAINER_NAME"
        --bind-ro="$CONTAINER_ROOTS_CONF:/etc/systemd/system/service.d/mvm-runner-roots.conf"
        "$@"
        "systemd.unit=${CONTAINER_TARGET:-basic.target}")
    local extra
    read -r -a extra <<<"${CONTAINER_ARGS:-}"
    args+=("${extra[@]}")
    # setsid: own process group/session (no terminal signals from ours).
    CONTAINER_ROOT=${CONTAINER_ROOT:-/} setsid "$E2E_DIR/container.sh" __inner "$CONTAINER_NAME" \
        "${CONTAINER_CGROUPS[@]}" -- "${args[@]}" \
        </dev/null >"$CONTAINER_LOG" 2>&1 &
    CONTAINER_NSPAWN_PID=$!
    local i pid
    for ((i = 0; i < 300; i++)); do
        for pid in $(pgrep -P "$CONTAINER_NSPAWN_PID" 2>/dev/null); do
            if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == systemd ]]; then
                CONTAINER_PID1=$pid
                return 0
            fi
        done
        if ! kill -0 "$CONTAINER_NSPAWN_PID" 2>/dev/null; then
            e2e_log "systemd-nspawn exited early:"
            sed 's/^/    /' "$CONTAINER_LOG" >&2
            return 1
        fi
        sleep 0.1
    done
    e2e_log "container PID 1 did not appear in 30s"
    return 1
}

container_exec() {
    [[ -n $CONTAINER_PID1 ]] || e2e_die "no container"
    nsenter -t "$CONTAINER_PID1" -a -- env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        TERM=dumb SYSTEMD_PAGER= SYSTEMD_COLORS=0 LANG=C.UTF-8 "$@"
}

container_wait_running() {
    local secs=${1:-60} state deadline
    deadline=$((SECONDS + secs))
    while ((SECONDS < deadline)); do
        state=$(timeout $((deadline - SECONDS + 1)) nsenter -t "$CONTAINER_PID1" -a -- \
            systemctl is-system-running --wait 2>/dev/null || true)
        case $state in
            running) return 0 ;;
            degraded)
                e2e_log "container is degraded; failed units:"
                container_exec systemctl --failed --no-legend >&2 || true
                [[ ${CONTAINER_STRICT:-0} == 1 ]] && return 1
                return 0 ;;
        esac
        kill -0 "$CONTAINER_PID1" 2>/dev/null || { e2e_log "container died"; return 1; }
        sleep 0.2
    done
    e2e_log "container not running after ${secs}s (state: ${state:-unknown})"
    return 1
}

# Remove a cgroup tree bottom-up (only directories; kernel files go with them).
_container_rm_cgroup() {
    [[ -d $1 ]] || return 0
    find "$1" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [[ ! -d $1 ]]
}

container_stop() {
    local secs=${1:-30} i cg pid rc=0
    [[ -n $CONTAINER_NSPAWN_PID ]] || return 0
    if [[ -n $CONTAINER_PID1 ]] && kill -0 "$CONTAINER_PID1" 2>/dev/null; then
        kill -s SIGRTMIN+4 "$CONTAINER_PID1" 2>/dev/null || true
    fi
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$CONTAINER_NSPAWN_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$CONTAINER_NSPAWN_PID" 2>/dev/null; then
        e2e_log "container did not power off in ${secs}s; killing it"
        kill -KILL "$CONTAINER_PID1" 2>/dev/null || true
        sleep 1
        e2e_kill_group "$CONTAINER_NSPAWN_PID"
        rc=1
    fi
    wait "$CONTAINER_NSPAWN_PID" 2>/dev/null || true
    # Anything still in the container's cgroups is killed, then they go.
    for cg in "${CONTAINER_CGROUPS[@]}"; do
        [[ -d $cg ]] || continue
        for i in 1 2 3; do
            while read -r pid; do
                [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null
            done < <(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null)
            _container_rm_cgroup "$cg" && break
            sleep 0.5
        done
        [[ -d $cg ]] && { e2e_log "cannot remove cgroup $cg"; rc=1; }
    done
    CONTAINER_NSPAWN_PID=
    CONTAINER_PID1=
    return "$rc"
}

container_leftovers() {
    local cg p
    for cg in "${CONTAINER_CGROUPS[@]}"; do
        [[ -e $cg ]] && echo "cgroup $cg"
    done
    [[ -n $CONTAINER_NAME ]] || return 0
    for p in /proc/[0-9]*; do
        grep -qs -- "/$CONTAINER_NAME" "$p/cgroup" && echo "process ${p#/proc/} in the container's cgroup"
    done
    for p in /run/systemd/nspawn "/run/systemd/machines/$CONTAINER_NAME" \
            /run/systemd/e2e-root; do
        [[ -e $p ]] && echo "host file $p"
    done
    grep -s -- "$CONTAINER_NAME\|mvm-e2e-run\|/run/systemd/e2e-root" /proc/self/mountinfo \
        | sed 's/^/host mount /'
    return 0
}

container_cleanup_log() {
    [[ -n $CONTAINER_LOG ]] && rm -f "$CONTAINER_LOG"
    [[ -n $CONTAINER_ROOTS_CONF ]] && rm -f "$CONTAINER_ROOTS_CONF"
    CONTAINER_LOG= CONTAINER_ROOTS_CONF=
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -euo pipefail
    case ${1:-} in
        __inner) shift; _container_inner "$@" ;;
        shell)
            shift
            e2e_need_root
            trap 'container_stop; container_cleanup_log' EXIT
            trap 'exit 130' INT
            trap 'exit 143' TERM
            container_start "$@"
            container_wait_running 60 || true
            echo "container PID 1 is $CONTAINER_PID1 (log $CONTAINER_LOG); exit the shell to stop it" >&2
            nsenter -t "$CONTAINER_PID1" -a -- /bin/bash -l || true
            ;;
        *) echo "usage: $0 shell [NSPAWN_OPTION...]   (or source it)" >&2; exit 2 ;;
    esac
fi

# container_test_init NAME: the frame of a script test that boots one
# container (tests/units/test-units-*.sh): TMP, a new directory
# /tmp/NAME.XXXXXX (mode 0755, so the container's users can read what is
# bound from it); an EXIT trap that stops the container and removes TMP
# (KEEP_DEBUG=1 keeps both); fails=0 and the helpers ok WHAT, fail WHAT
# (counts), check WHAT CMD... (ok or fail by CMD's status), cx CMD...
# (container_exec).
container_test_init() {
    TMP=$(mktemp -d "/tmp/$1.XXXXXX")
    chmod 755 "$TMP"
    fails=0
    trap _container_test_cleanup EXIT
    [[ -n ${KEEP_DEBUG:-} ]] && trap - EXIT
    ok() { echo "ok: $*"; }
    fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
    check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
    cx() { container_exec "$@"; }
}

_container_test_cleanup() {
    local rc=$?
    trap - EXIT
    container_stop 20 || rc=1
    container_cleanup_log 2>/dev/null || true
    rm -rf "$TMP"
    exit "$rc"
}
