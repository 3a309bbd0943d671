#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/bench/mkroot.sh DIR [SUITE]: a Debian root for the fleet container
# with another systemd than the host's, for
#   BENCH_FLEET_ROOT=DIR make bench
# It debootstraps SUITE (default trixie, Debian 13: systemd 257) into DIR,
# with what the fleet and unit-cost sections run inside the container:
# systemd, supervisor and python3 (microvm.nix's variant), iproute2, our
# helpers' libraries (libnl, libkmod), and the libraries of the host's
# virtiofsd (the bench binds the host's binary in, so that only systemd and
# the userland around it differ from the host's container). Root only; it
# takes a few minutes and about 330 MB. DIR must not exist yet.
#
# Env: MIRROR [http://deb.debian.org/debian],
#      VIRTIOFSD [/usr/lib/qemu/virtiofsd]
set -euo pipefail

die() { echo "mkroot.sh: $*" >&2; exit 1; }

if [ $# -lt 1 ] || [ $# -gt 2 ]; then die "usage: mkroot.sh DIR [SUITE]"; fi
dir=$1 suite=${2:-trixie}
mirror=${MIRROR:-http://deb.debian.org/debian}
virtiofsd=${VIRTIOFSD:-/usr/lib/qemu/virtiofsd}
[ "$(id -u)" = 0 ] || die "needs root (debootstrap)"
[ ! -e "$dir" ] || die "$dir exists already"
command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null ||
	die "cannot install debootstrap"
[ -x "$virtiofsd" ] || die "no virtiofsd at $virtiofsd (VIRTIOFSD=)"

debootstrap --variant=minbase \
	--include=systemd,systemd-sysv,dbus,iproute2,python3,supervisor,libnl-3-200,libnl-route-3-200,libkmod2,procps,util-linux,kmod \
	"$suite" "$dir" "$mirror" || die "debootstrap $suite failed"

# The libraries of the host's virtiofsd that the root lacks: the host's
# package of each, under its name in SUITE (Debian 13 renamed many with a
# t64 suffix).
missing=()
while read -r lib path; do
	[ -e "$dir/usr/lib/x86_64-linux-gnu/$lib" ] || [ -e "$dir/lib/x86_64-linux-gnu/$lib" ] ||
		missing+=("$path")
done < <(ldd "$virtiofsd" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }')
for path in "${missing[@]}"; do
	pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n 1 | cut -d: -f1) ||
		die "no host package has $path"
	[ -n "$pkg" ] || die "no host package has $path"
	chroot "$dir" apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null 2>&1 ||
		chroot "$dir" apt-get install -y -qq --no-install-recommends "${pkg}t64" >/dev/null 2>&1 ||
		die "cannot install $pkg (or ${pkg}t64) in $dir"
done
chroot "$dir" apt-get clean
# shellcheck disable=SC2016 # dpkg-query's format, not the shell's
echo "$dir: $(chroot "$dir" dpkg-query -W -f='systemd ${Version}' systemd)"
