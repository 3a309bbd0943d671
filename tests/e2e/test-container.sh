#!/bin/bash
# tests/e2e/test-container.sh: tests/e2e/container.sh (the systemd
# container of the demo and the systemd tests) on a host with an empty /run,
# as on a bare Debian 12 that did not boot systemd (a fresh container, a CI
# image, a debootstrap root): issue 17, where it failed with "mount:
# /run/systemd: mount point does not exist".
#
# The test runs in a private mount namespace with a new, empty tmpfs on /run
# (the host's /run is not touched), and there:
#   1. container_start boots systemd as PID 1 and it reaches running (or
#      degraded): `systemctl is-system-running` inside says so;
#   2. a command runs in the container (container_exec);
#   3. container_stop powers it off; nothing of it is left (process, cgroup,
#      mount: container_leftovers), and /run is still empty: the container
#      created nothing on the host.
# Exit 0 pass, 1 fail, 77 skip.
set -uo pipefail

# shellcheck source=tests/e2e/container.sh
. "$(dirname "${BASH_SOURCE[0]}")/container.sh"

if [[ ${1:-} != __empty-run ]]; then
    e2e_need_root
    e2e_need_pkgs systemd systemd-container util-linux procps \
        || e2e_skip "cannot install systemd/systemd-container"
    exec unshare -m --propagation private -- /bin/bash -c '
        mount -t tmpfs -o mode=0755 mvm-e2e-empty-run /run || exit 1
        exec "$0" __empty-run' "$0"
fi

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    container_stop 20 || rc=1
    container_cleanup_log
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

check() { e2e_check "$@"; }
run_empty() { [[ -z $(find /run -mindepth 1 -print -quit) ]]; }

check "/run is empty here" run_empty
if container_start; then
    e2e_ok "container_start: PID 1 is host pid $CONTAINER_PID1"
    check "systemd in the container is running" container_wait_running 60
    state=$(container_exec systemctl is-system-running 2>/dev/null)
    check "systemctl is-system-running in the container: ${state:-nothing}" \
        test "$state" = running -o "$state" = degraded
    check "container_exec runs a command inside" \
        test "$(container_exec cat /proc/1/comm 2>/dev/null)" = systemd
else
    e2e_fail "container_start on a host with an empty /run"
fi
check "container_stop powers it off" container_stop 30
left=$(container_leftovers)
check "nothing left on the host${left:+: $left}" test -z "$left"
check "/run is still empty" run_empty
[[ $E2E_FAILS -eq 0 ]] || { echo "container log:"; sed 's/^/    | /' "$CONTAINER_LOG"; }
[[ $E2E_FAILS -eq 0 ]]
