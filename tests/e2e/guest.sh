#!/bin/bash
# tests/e2e/guest.sh [CACHE_DIR]
#
# Builds (idempotently) the e2e guest into CACHE_DIR
# (default /var/cache/microvm-host-helpers-e2e):
#   CACHE_DIR/vmlinuz      Debian cloud kernel (unpacked, never installed)
#   CACHE_DIR/initrd.img   busybox-static initramfs (newc, gzip) with /init
#   CACHE_DIR/guest.stamp  what the two were built from (kernel + this script)
# Prints CACHE_DIR on stdout when done.
#
# Installs the missing Debian packages it needs (qemu-system-x86,
# busybox-static, cpio, kmod); exits 77 (skip) if that is impossible.
#
# Guest kernel command line understood by /init (all optional):
#   mvm.tag=TAG        virtiofs tag to mount on /mnt (none: share skipped)
#   mvm.rotag=TAG      a read-only virtiofs share, mounted on /ro: its
#                      token file must hold the token and a write must
#                      fail with "Read-only file system" (none: skipped)
#   mvm.ip=ADDR/LEN    address for eth0 (none: network skipped)
#   mvm.host=ADDR      address to ping (the host end of the TAP)
#   mvm.token=TOKEN    expected content of /mnt/token (checked if given)
#   mvm.marker=WORD    prefix of the marker lines (default MICROVM-E2E)
#   mvm.wait=1         after the job, stay up until the ACPI power button
#                      (QMP system_powerdown), then power off
# The guest prints lines "MARKER: ..." on the console, the last one before
# power-off being
#   MARKER: result=ok token=TOKEN share=ok|skip|fail ping=ok|skip|fail ro=ok|skip|fail
# (result=fail if any step failed), and writes /mnt/from-guest:
#   token=TOKEN
#   guest-ok
set -euo pipefail

# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CACHE_DIR=${1:-$E2E_DEFAULT_CACHE}
KERNEL_META=${E2E_KERNEL_META:-linux-image-cloud-amd64}
# Modules the guest needs, in any order; dependencies come from modules.dep.
GUEST_MODULES=(virtio_pci virtio_net fuse virtiofs button evdev)

e2e_need_root
e2e_need_pkgs qemu-system-x86 qemu-system-common busybox-static cpio kmod \
    || e2e_skip "cannot install the guest's build dependencies"

# The kernel package that the cloud metapackage depends on.
kernel_pkg() {
    apt-cache depends --important "$KERNEL_META" 2>/dev/null \
        | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }'
}
KPKG=$(kernel_pkg || true)
if [[ -z $KPKG ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || true
    KPKG=$(kernel_pkg || true)
fi
[[ -n $KPKG ]] || e2e_skip "cannot resolve the kernel package of $KERNEL_META"
KVER=$(apt-cache policy "$KPKG" | awk '$1 == "Candidate:" { print $2; exit }')
SELF_SUM=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)
BB_VER=$(dpkg-query -W -f='${Version}' busybox-static)
STAMP="kernel=$KPKG=$KVER busybox=$BB_VER script=$SELF_SUM"

mkdir -p "$CACHE_DIR"
CACHE_DIR=$(cd "$CACHE_DIR" && pwd)
if [[ -s $CACHE_DIR/vmlinuz && -s $CACHE_DIR/initrd.img && -f $CACHE_DIR/guest.stamp ]] \
        && [[ $(cat "$CACHE_DIR/guest.stamp") == "$STAMP" ]]; then
    e2e_log "guest is up to date in $CACHE_DIR ($KPKG $KVER)"
    printf '%s\n' "$CACHE_DIR"
    exit 0
fi

WORK=$(mktemp -d "$CACHE_DIR/.build.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

e2e_log "building guest from $KPKG $KVER"
deb=$(find "$CACHE_DIR" -maxdepth 1 -name "${KPKG}_*.deb" -print -quit)
want_deb="${KPKG}_${KVER//:/%3a}_amd64.deb"
if [[ -z $deb || ${deb##*/} != "$want_deb" ]]; then
    find "$CACHE_DIR" -maxdepth 1 -name "${KPKG%%-[0-9]*}*.deb" -delete
    (cd "$WORK" && apt-get download -q "$KPKG=$KVER" 2>&1 \
        | grep -v 'Download is performed unsandboxed' >&2) || true
    deb=$(find "$WORK" -maxdepth 1 -name "${KPKG}_*.deb" -print -quit)
    [[ -n $deb ]] || e2e_skip "cannot download $KPKG"
    mv "$deb" "$CACHE_DIR/"
    deb=$CACHE_DIR/${deb##*/}
fi
mkdir "$WORK/k"
dpkg-deb -x "$deb" "$WORK/k"
kroot=$WORK/k
[[ -d $kroot/lib/modules ]] || kroot=$WORK/k/usr    # merged-/usr packages
kver=$(ls "$kroot/lib/modules")
[[ $(wc -w <<<"$kver") -eq 1 ]] || e2e_die "expected one kernel in $deb, got: $kver"
vmlinuz=$(find "$WORK/k/boot" -name "vmlinuz-*" -print -quit)
[[ -n $vmlinuz ]] || e2e_die "no vmlinuz in $deb"
moddir=$kroot/lib/modules/$kver
# The package ships no modules.dep (depmod makes it at install); make it here.
depmod -b "$kroot" "$kver"

# Resolve the load order: each modules.dep line lists the full transitive
# closure of dependencies; modprobe loads them last-first.
declare -A modpath=() seen=()
while IFS= read -r line; do
    path=${line%%:*}
    base=${path##*/}
    base=${base%%.ko*}
    modpath[${base//-/_}]=$line
done <"$moddir/modules.dep"
order=()
add_mod() {   # add_mod NAME
    local name=${1//-/_} line deps i d b
    [[ -n ${seen[$name]:-} ]] && return 0
    line=${modpath[$name]:-}
    if [[ -z $line ]]; then
        if grep -qE "/${name//_/[-_]}\.ko" "$moddir/modules.builtin" 2>/dev/null; then
            seen[$name]=builtin
            return 0
        fi
        e2e_die "module $name is neither in modules.dep nor built in ($kver)"
    fi
    read -r -a deps <<<"${line#*:}"
    for ((i = ${#deps[@]} - 1; i >= 0; i--)); do
        d=${deps[i]}
        b=${d##*/}
        add_mod "${b%%.ko*}"
    done
    seen[$name]=${line%%:*}
    order+=("$name")
}
for m in "${GUEST_MODULES[@]}"; do add_mod "$m"; done

# The initramfs tree.
R=$WORK/root
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,mnt,run,tmp,etc,lib/modules}
cp /bin/busybox "$R/bin/busybox"
ln -s busybox "$R/bin/sh"
mknod -m 600 "$R/dev/console" c 5 1
mknod -m 666 "$R/dev/null" c 1 3
: >"$R/etc/modules"
for m in "${order[@]}"; do
    src=$moddir/${seen[$m]}
    case $src in
        *.ko) cp "$src" "$R/lib/modules/$m.ko" ;;
        *.ko.xz) xz -dc "$src" >"$R/lib/modules/$m.ko" ;;
        *.ko.zst) zstd -qdc "$src" >"$R/lib/modules/$m.ko" ;;
        *.ko.gz) gzip -dc "$src" >"$R/lib/modules/$m.ko" ;;
        *) e2e_die "unknown module file $src" ;;
    esac
    printf '%s\n' "$m" >>"$R/etc/modules"
done

cat >"$R/init" <<'INIT'
#!/bin/sh
# microvm-host-helpers e2e guest (busybox-static initramfs)
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /run
exec </dev/console >/dev/console 2>&1

TAG= ROTAG= IP= HOST= TOKEN_WANT= MARKER=MICROVM-E2E WAIT=0
for w in $(cat /proc/cmdline); do
    case $w in
        mvm.tag=*) TAG=${w#mvm.tag=} ;;
        mvm.rotag=*) ROTAG=${w#mvm.rotag=} ;;
        mvm.ip=*) IP=${w#mvm.ip=} ;;
        mvm.host=*) HOST=${w#mvm.host=} ;;
        mvm.token=*) TOKEN_WANT=${w#mvm.token=} ;;
        mvm.marker=*) MARKER=${w#mvm.marker=} ;;
        mvm.wait=*) WAIT=${w#mvm.wait=} ;;
    esac
done
say() { echo "$MARKER: $*"; }
off() { sync; umount /mnt /ro 2>/dev/null; say "powering off"; poweroff -f; sleep 10; }

say "init started, kernel $(uname -r)"
for m in $(cat /etc/modules); do
    insmod "/lib/modules/$m.ko" || say "insmod $m failed"
done

RESULT=ok TOKEN= SHARE=skip PING=skip RO=skip
if [ -n "$TAG" ]; then
    SHARE=fail
    if mount -t virtiofs "$TAG" /mnt; then
        if [ -r /mnt/token ]; then
            TOKEN=$(cat /mnt/token)
            if [ -n "$TOKEN_WANT" ] && [ "$TOKEN" != "$TOKEN_WANT" ]; then
                say "token mismatch: share has '$TOKEN', cmdline wants '$TOKEN_WANT'"
            elif printf 'token=%s\nguest-ok\n' "$TOKEN" >/mnt/from-guest && sync; then
                SHARE=ok
            fi
        else
            say "no /mnt/token in share $TAG"
        fi
    else
        say "mount -t virtiofs $TAG /mnt failed"
    fi
    say "share tag=$TAG $SHARE"
fi
if [ -n "$ROTAG" ]; then
    RO=fail
    mkdir -p /ro
    if mount -t virtiofs "$ROTAG" /ro; then
        rotoken=$(cat /ro/token 2>/dev/null)
        err=$( { echo guest >/ro/from-guest; } 2>&1 )
        if [ -z "$rotoken" ] || { [ -n "$TOKEN_WANT" ] && [ "$rotoken" != "$TOKEN_WANT" ]; }; then
            say "read-only share $ROTAG: token '$rotoken' unreadable or wrong"
        elif [ -e /ro/from-guest ]; then
            say "read-only share $ROTAG: the guest could write to it"
        else
            case $err in
                *"Read-only file system"*) RO=ok ;;
                *) say "read-only share $ROTAG: write failed, but not as read-only: $err" ;;
            esac
        fi
    else
        say "mount -t virtiofs $ROTAG /ro failed"
    fi
    say "read-only share tag=$ROTAG $RO"
fi
if [ -n "$IP" ]; then
    PING=fail
    ip link set lo up
    if ip link set eth0 up && ip addr add "$IP" dev eth0; then
        if [ -z "$HOST" ]; then
            PING=skip
        elif ping -c 3 -W 2 "$HOST"; then
            PING=ok
        fi
    else
        say "cannot configure eth0 with $IP"
    fi
    say "ping host=$HOST $PING"
fi
[ "$SHARE" = fail ] && RESULT=fail
[ "$PING" = fail ] && RESULT=fail
[ "$RO" = fail ] && RESULT=fail
say "result=$RESULT token=$TOKEN share=$SHARE ping=$PING ro=$RO"

if [ "$WAIT" = 1 ]; then
    # Wait for the ACPI power button (QMP system_powerdown). The button
    # driver makes an input device "Power Button"; block on its event node.
    ev=
    for d in /sys/class/input/event*; do
        [ -e "$d/device/name" ] || continue
        case $(cat "$d/device/name") in
            "Power Button") ev=/dev/input/${d##*/}; break ;;
        esac
    done
    if [ -n "$ev" ] && [ -c "$ev" ]; then
        say "waiting for the power button on $ev"
        dd if="$ev" of=/dev/null bs=24 count=1 2>/dev/null
    else
        # Fallback: the ACPI fixed-event counter for the power button.
        say "waiting for the power button (polling ff_pwr_btn)"
        f=/sys/firmware/acpi/interrupts/ff_pwr_btn
        n0=$(awk '{ print $1 }' "$f" 2>/dev/null)
        while [ "$(awk '{ print $1 }' "$f" 2>/dev/null)" = "$n0" ]; do
            sleep 1
        done
    fi
    say "power button pressed, shutting down"
fi
off
INIT
chmod 755 "$R/init"

(cd "$R" && find . -print0 | LC_ALL=C sort -z \
    | cpio --null -o -H newc --owner=0:0 --quiet) | gzip -9n >"$WORK/initrd.img"
cp "$vmlinuz" "$WORK/vmlinuz"
chmod 644 "$WORK/vmlinuz" "$WORK/initrd.img"
mv -f "$WORK/vmlinuz" "$CACHE_DIR/vmlinuz"
mv -f "$WORK/initrd.img" "$CACHE_DIR/initrd.img"
printf '%s\n' "${order[@]}" >"$CACHE_DIR/modules"
printf '%s\n' "$STAMP" >"$CACHE_DIR/guest.stamp"
e2e_log "guest built in $CACHE_DIR: kernel $kver, modules: ${order[*]}"
printf '%s\n' "$CACHE_DIR"
