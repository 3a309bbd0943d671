#!/bin/bash
# tests/e2e/test-rust-virtiofsd.sh: virtiofs-launch with the Rust virtiofsd
# (NixOS's; Debian 13's binary, fetched by tests/rust-virtiofsd.sh), a real
# VM, by hand (no systemd, no network: test-by-hand.sh does those with
# QEMU's C virtiofsd):
#   1. virtiofs-launch --virtiofsd RUST: READY=1 on a test notify socket,
#      both shares' sockets listen (root:nogroup 0660), the daemons were
#      told the Rust way (--fd=3 --shared-dir=RUNTIME/NAME/virtiofs/TAG,
#      --readonly for the read-only share);
#   2. runner-exec start (as the VM user, nobody:nogroup) boots the guest:
#      it finds the host's token in the share and writes it back, reads it
#      in the read-only share and cannot write there (EROFS);
#   3. the VM left, so both virtiofsd exited: the launcher starts none
#      while no client is there, the same sockets listen; a second boot
#      (its connections start the daemons) works the same;
#   4. a client on each socket starts both daemons; SIGTERM to the
#      launcher: exit 0, those virtiofsd gone, sockets removed;
#   5. the same under systemd (the installed units in a container, as
#      test-systemd.sh runs them, the Rust daemon given by a drop-in through
#      $MICROVM_VIRTIOFS_OPTIONS, as NixOS does): microvm@rusty starts, the
#      guest's marker says share=ok ro=ok, systemctl stop leaves nothing.
# Exit 0 pass, 1 fail, 77 skip (no Rust virtiofsd: run tests/deps.sh as
# root; or packages cannot be installed).
# Env: B, E2E_CACHE_DIR, E2E_BOOT_TIMEOUT (s, default 120), E2E_KEEP=1,
#      MVM_RUST_VIRTIOFSD (default: where tests/rust-virtiofsd.sh puts it).
set -euo pipefail

# shellcheck source=tests/e2e/sysd.sh
. "$(dirname "${BASH_SOURCE[0]}")/sysd.sh"

CACHE=${E2E_CACHE_DIR:-$E2E_DEFAULT_CACHE}
BOOT_TIMEOUT=${E2E_BOOT_TIMEOUT:-120}
RUST=${MVM_RUST_VIRTIOFSD:-/var/cache/microvm-host-helpers-rust-virtiofsd/virtiofsd}
NAME=rusty
VMUSER=nobody
VMGROUP=nogroup

e2e_need_root
[[ -x $RUST ]] && "$RUST" --version 2>/dev/null | grep -q '^virtiofsd 1\.' \
    || e2e_skip "no Rust virtiofsd at $RUST (tests/rust-virtiofsd.sh, run by tests/deps.sh as root, fetches Debian 13's)"
e2e_need_pkgs qemu-system-x86 busybox-static cpio kmod perl-base util-linux procps \
    || e2e_skip "cannot install qemu/busybox/util-linux"
getent passwd "$VMUSER" >/dev/null && getent group "$VMGROUP" >/dev/null \
    || e2e_die "no $VMUSER user or $VMGROUP group"
LAUNCH=$(e2e_bin virtiofs-launch)
RUNNER_EXEC=$(e2e_bin runner-exec)
NOTIFYD=$(e2e_bin tests/helpers/e2e-notify)
"$E2E_DIR/guest.sh" "$CACHE" >/dev/null

TMP= NOTIFY_PID= LAUNCH_PID= VM_PID= WORK=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    sysd_stop >/dev/null 2>&1 || true
    if [[ -n $WORK ]]; then
        container_cleanup_log 2>/dev/null || true
        [[ ${E2E_KEEP:-0} == 1 ]] || rm -rf "$WORK"
    fi
    [[ -n $VM_PID ]] && { e2e_kill_group "$VM_PID"; wait "$VM_PID" 2>/dev/null || true; }
    [[ -n $LAUNCH_PID ]] && { e2e_kill_group "$LAUNCH_PID"; wait "$LAUNCH_PID" 2>/dev/null || true; }
    [[ -n $NOTIFY_PID ]] && { kill "$NOTIFY_PID" 2>/dev/null; wait "$NOTIFY_PID" 2>/dev/null || true; }
    e2e_release_clients
    if [[ -n $TMP ]]; then
        if [[ ${E2E_KEEP:-0} == 1 ]]; then e2e_log "kept $TMP"; else rm -rf "$TMP"; fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

check() { e2e_check "$@"; }
show() { sed 's/^/    | /' "$@"; }

TMP=$(mktemp -d /tmp/mvm-e2e-rust.XXXXXX)
chmod 755 "$TMP"
STATE=$TMP/state
VMDIR=$STATE/$NAME
SOCK=$VMDIR/$NAME-virtiofs-share.sock
ROSOCK=$VMDIR/$NAME-virtiofs-ro.sock
mkdir -p "$VMDIR/share" "$VMDIR/rosrc" "$TMP/run"
chown "$VMUSER:$VMGROUP" "$VMDIR"
TOKEN=$(e2e_token)
printf '%s\n' "$TOKEN" >"$VMDIR/share/token"
printf '%s\n' "$TOKEN" >"$VMDIR/rosrc/token"
"$E2E_DIR/mkrunner.sh" --cache "$CACHE" --name "$NAME" --no-tap --token "$TOKEN" \
    --ro-share ro=rosrc "$TMP/runner" >/dev/null
ln -s "$TMP/runner" "$VMDIR/current"

echo "== 1. virtiofs-launch $NAME with $($RUST --version)"
"$NOTIFYD" "$TMP/notify.sock" >"$TMP/notify.log" 2>&1 &
NOTIFY_PID=$!
e2e_wait 5 test -S "$TMP/notify.sock" || e2e_die "e2e-notify did not bind"
T0=$(e2e_now)
NOTIFY_SOCKET=$TMP/notify.sock setsid "$LAUNCH" --virtiofsd "$RUST" --state-dir "$STATE" \
    --runtime-dir "$TMP/run" --group "$VMGROUP" -v "$NAME" >"$TMP/launch.log" 2>&1 &
LAUNCH_PID=$!
ready() {
    grep -q ' READY=1$' "$TMP/notify.log" && return 0
    kill -0 "$LAUNCH_PID" 2>/dev/null || return 2
    return 1
}
listening() { e2e_unix_listening "$SOCK" && e2e_unix_listening "$ROSOCK"; }
if e2e_wait 15 ready && kill -0 "$LAUNCH_PID" 2>/dev/null; then
    check "READY=1 ($(e2e_since "$T0")s), both sockets listen then" listening
else
    show "$TMP/launch.log"
    e2e_die "virtiofs-launch did not come up"
fi
check "sockets root:$VMGROUP 0660" test "$(stat -c %U:%G:%a "$SOCK" "$ROSOCK" | sort -u)" \
    == "root:$VMGROUP:660"
SOCK_INO=$(stat -c %i "$SOCK")
check "the launcher told the Rust command line" grep -q "takes the rust command line" "$TMP/launch.log"
daemons() { FSD=$(e2e_virtiofsd_of "$LAUNCH_PID" 2); }
e2e_wait 5 daemons || true
check "two virtiofsd children of the launcher (pids ${FSD:-none})" daemons
args=$(for p in $FSD; do tr '\0' ' ' <"/proc/$p/cmdline"; echo; done)
show <<<"$args"
check "the read-only share's daemon: --fd=3 --shared-dir=RUNTIME/$NAME/virtiofs/ro --readonly" \
    grep -q -- "--fd=3 --shared-dir=$TMP/run/$NAME/virtiofs/ro .*--readonly" <<<"$args"
check "the other one: not --readonly" \
    bash -c "grep -- '--shared-dir=$TMP/run/$NAME/virtiofs/share ' <<<\"\$1\" | grep -vq -- --readonly" _ "$args"

boot() {   # boot N
    local n=$1 t0
    rm -f "$VMDIR/share/from-guest"
    t0=$(e2e_now)
    setsid timeout "$BOOT_TIMEOUT" setpriv --reuid="$VMUSER" --regid="$VMGROUP" --clear-groups \
        -- "$RUNNER_EXEC" --state-dir "$STATE" start "$NAME" </dev/null >"$TMP/console$n.log" 2>&1 &
    VM_PID=$!
    VM_RC=0
    wait "$VM_PID" || VM_RC=$?
    VM_PID=
    show "$TMP/console$n.log"
    echo "   VM ran $(e2e_since "$t0")s, exit status $VM_RC"
    check "boot $n: runner exit 0" test "$VM_RC" -eq 0
    check "boot $n: marker result=ok token=$TOKEN share=ok ping=skip ro=ok" \
        grep -q "^MICROVM-E2E: result=ok token=$TOKEN share=ok ping=skip ro=ok" "$TMP/console$n.log"
    check "boot $n: share/from-guest holds the host's token" \
        grep -qx "token=$TOKEN" "$VMDIR/share/from-guest"
    check "boot $n: nothing written into the read-only share" test ! -e "$VMDIR/rosrc/from-guest"
    "$RUNNER_EXEC" --state-dir "$STATE" cleanup "$NAME" >/dev/null 2>&1 || true
}

echo "== 2. runner-exec start $NAME (as $VMUSER)"
FSD1=$FSD
boot 1

echo "== 3. no virtiofsd after the VM left, until the next client; second boot"
nofsd() { ! pgrep -P "$LAUNCH_PID" -x virtiofsd >/dev/null; }
check "the VM's virtiofsd exited (were: $FSD1)" e2e_wait 10 nofsd
sleep 0.3
check "none started while no client is there" nofsd
check "the sockets listen all along" listening
check "the socket was not made again (inode $SOCK_INO)" test "$(stat -c %i "$SOCK")" == "$SOCK_INO"
boot 2

echo "== 4. stop: SIGTERM to the launcher, its daemons running"
# The daemons run while a client is there (3.): a client on each socket
# makes the launcher start them, so the stop has daemons to stop. Their
# pids are taken while they run, before the stop.
e2e_wait 10 nofsd || true # (the second VM's, exiting)
e2e_hold_daemons "$LAUNCH_PID" "$SOCK" "$ROSOCK"
FSD=$(e2e_virtiofsd_of "$LAUNCH_PID")
check "a virtiofsd for each of two clients before the stop (pids ${FSD:-none})" \
    test "$(wc -w <<<"$FSD")" -eq 2
kill -TERM "$LAUNCH_PID" 2>/dev/null || true
LRC=0
wait "$LAUNCH_PID" || LRC=$?
LAUNCH_PID=
check "launcher exit 0 on SIGTERM" test "$LRC" -eq 0
check "no virtiofsd left (were: ${FSD:-none})" e2e_pids_gone "$FSD"
e2e_release_clients
check "the sockets are removed" test ! -e "$SOCK" -a ! -e "$ROSOCK"
[[ $E2E_FAILS -eq 0 ]] || { echo "   virtiofs-launch's log:"; show "$TMP/launch.log"; }

echo "== 5. under systemd: microvm@rusty with the Rust virtiofsd (drop-in)"
# (The container's root is the host's /: the Rust binary is there as here.)
WORK=$(mktemp -d /var/lib/microvm-e2e-rust.XXXXXX)
chmod 0755 "$WORK"
sysd_prepare "$WORK" || e2e_die "make install failed"
sysd_runner rusty --no-tap --token "$TOKEN" --wait --ro-share ro=rosrc
mkdir -p "$WORK/state/rusty/rosrc"
printf '%s\n' "$TOKEN" >"$WORK/state/rusty/share/token"
printf '%s\n' "$TOKEN" >"$WORK/state/rusty/rosrc/token"
sysd_boot >"$WORK/boot.log" 2>&1 || { show "$WORK/boot.log"; e2e_die "the container did not boot"; }
d=/etc/systemd/system/microvm-virtiofsd@rusty.service.d
cx mkdir -p "$d"
printf '[Service]\nEnvironment="MICROVM_VIRTIOFS_OPTIONS=--virtiofsd %s"\n' "$RUST" \
    | cx tee "$d/rust.conf" >/dev/null
cx systemctl daemon-reload
journal() { cx journalctl -o cat -q --no-pager "$@"; }
up() {
    journal -u microvm@rusty.service | grep -q 'MICROVM-E2E: waiting for the power button\|MICROVM-E2E: result=fail' ||
        [[ $(sysd_show microvm@rusty.service ActiveState) == failed ]]
}
check "systemctl start microvm@rusty" cx systemctl start microvm@rusty.service
e2e_wait "$BOOT_TIMEOUT" up || true
check "virtiofsd unit active ($(sysd_show microvm-virtiofsd@rusty.service StatusText))" \
    test "$(sysd_show microvm-virtiofsd@rusty.service ActiveState)" == active
check "its daemons are the Rust one, serving the pinned sources" \
    cx pgrep -f -- "^$RUST --fd=3 --shared-dir=/run/microvm/rusty/virtiofs/ro .*--readonly"
check "marker: result=ok token=$TOKEN share=ok ping=skip ro=ok" bash -c \
    "nsenter -t $CONTAINER_PID1 -a journalctl -u microvm@rusty.service -o cat -q | grep -q '^MICROVM-E2E: result=ok token=$TOKEN share=ok ping=skip ro=ok'"
check "share/from-guest holds the token" grep -qx "token=$TOKEN" "$WORK/state/rusty/share/from-guest"
check "nothing written into the read-only share" test ! -e "$WORK/state/rusty/rosrc/from-guest"
check "systemctl stop microvm@rusty" cx systemctl stop microvm@rusty.service
down() { [[ $(cx systemctl is-active microvm@rusty.service microvm-virtiofsd@rusty.service | sort -u) == inactive ]]; }
e2e_wait 30 down || true
check "microvm@rusty and its virtiofsd unit inactive" down
check "no virtiofsd left" bash -c "! nsenter -t $CONTAINER_PID1 -a pgrep -x virtiofsd >/dev/null"
check "no socket left" test ! -e "$WORK/state/rusty/rusty-virtiofs-share.sock"
[[ $E2E_FAILS -eq 0 ]] || journal -u 'microvm*@rusty.service' | tail -n 30 | show
check "container powers off" sysd_stop

if [[ $E2E_FAILS -eq 0 ]]; then
    echo "test-rust-virtiofsd: PASS"
else
    echo "test-rust-virtiofsd: FAIL ($E2E_FAILS checks failed)"
    exit 1
fi
