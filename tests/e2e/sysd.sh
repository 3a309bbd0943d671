# shellcheck shell=bash
# tests/e2e/sysd.sh: the project installed into a systemd container, as a
# host admin would install it (used by demo.sh and test-systemd.sh).
# Source it (it sources container.sh and lib.sh). Root only.
#
#   sysd_prepare WORKDIR   `make install DESTDIR=WORKDIR/stage PREFIX=/opt/microvm`
#                          of the build $B; WORKDIR/state is the state dir
#                          (bound to /var/lib/microvms in the container),
#                          WORKDIR/runners the runner packages. WORKDIR must
#                          be root-owned and not group/other-writable (the
#                          runners' trust check, DESIGN.md section 3).
#   sysd_runner NAME [mkrunner.sh OPTION...]
#                          runner package WORKDIR/runners/NAME, the VM's dir
#                          WORKDIR/state/NAME with share/ and current -> it
#   sysd_boot [NSPAWN_OPTION...]
#                          boots the container (container.sh) with the install
#                          bound at /opt/microvm, copies the units to
#                          /etc/systemd/system, runs systemd-sysusers with the
#                          shipped file, gives the VM dirs to microvm:kvm,
#                          makes /dev/net/tun 0666 (as udev does on a normal
#                          host; the container's node is its own copy),
#                          daemon-reload
#   sysd_host_ip NAME TAP ADDR/LEN
#                          drop-in for microvm-tap-interfaces@NAME: the host
#                          end's address (networkd's job on a real host)
#   cx CMD...              run CMD in the container
#   sysd_show UNIT PROPERTY   one property's value
#   sysd_stop              stop the container (call from the EXIT trap)

# shellcheck source=tests/e2e/container.sh
. "$(dirname "${BASH_SOURCE[0]}")/container.sh"

SYSD_PREFIX=/opt/microvm
SYSD_WORK=

cx() { container_exec "$@"; }

sysd_prepare() {
    SYSD_WORK=$1
    local b=${B:-build} out
    mkdir -p "$SYSD_WORK/state" "$SYSD_WORK/runners"
    if ! out=$(make -C "$E2E_ROOT" -s B="$b" install DESTDIR="$SYSD_WORK/stage" \
            PREFIX="$SYSD_PREFIX" 2>&1); then
        printf '%s\n' "$out" | tail -n 20 >&2
        e2e_log "make install (B=$b) failed"
        return 1
    fi
    local f
    for f in bin/tap-setup bin/virtiofs-launch bin/runner-exec \
            lib/systemd/system/microvm@.service lib/sysusers.d/microvm.conf; do
        [[ -e $SYSD_WORK/stage$SYSD_PREFIX/$f ]] \
            || { e2e_log "make install did not install $SYSD_PREFIX/$f"; return 1; }
    done
}

sysd_runner() {
    local name=$1; shift
    "$E2E_DIR/mkrunner.sh" --name "$name" "$@" --force "$SYSD_WORK/runners/$name" >/dev/null
    mkdir -p "$SYSD_WORK/state/$name/share"
    ln -sfn "$SYSD_WORK/runners/$name" "$SYSD_WORK/state/$name/current"
}

sysd_boot() {
    container_start \
        --bind-ro="$SYSD_WORK/stage$SYSD_PREFIX:$SYSD_PREFIX" \
        --bind="$SYSD_WORK/state:/var/lib/microvms" \
        --bind-ro="$SYSD_WORK/runners" \
        "$@" || return 1
    container_wait_running 60 || return 1
    cx /bin/sh -ec '
        cp "$1"/lib/systemd/system/* /etc/systemd/system/
        systemd-sysusers "$1"/lib/sysusers.d/microvm.conf
        for d in /var/lib/microvms/*/; do chown microvm:kvm "$d"; done
        chmod 0666 /dev/net/tun
        systemctl daemon-reload
    ' sh "$SYSD_PREFIX"
}

sysd_host_ip() {
    local name=$1 tap=$2 addr=$3 d
    d=/etc/systemd/system/microvm-tap-interfaces@$name.service.d
    cx mkdir -p "$d"
    printf '[Service]\nExecStartPost=/sbin/ip addr add %s dev %s\n' "$addr" "$tap" \
        | cx tee "$d/host-ip.conf" >/dev/null
    cx systemctl daemon-reload
}

sysd_show() { cx systemctl show -P "$2" "$1"; }

sysd_stop() { container_stop 30; }
