#!/bin/sh
# Install, from Debian 12's packages, what building and testing need, then
# fetch the Rust virtiofsd for the tests (tests/rust-virtiofsd.sh: Debian 12
# has only QEMU's C one; without it the Rust-dialect tests are skipped).
# Idempotent; run as root. MVM_DEPS_EXTRA adds packages (the bench adds its own).
set -eu
pkgs="make gcc libc6-dev pkg-config libnl-3-dev libnl-route-3-dev libkmod-dev check
clang libclang-rt-14-dev iproute2 kmod util-linux procps
qemu-system-x86 qemu-system-common busybox-static cpio xz-utils
systemd systemd-container nix-bin socat patchelf supervisor gnuplot-nox bindfs ${MVM_DEPS_EXTRA:-}"
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
		missing="$missing $p"
done
rust_virtiofsd() {
	"$(dirname "$0")"/rust-virtiofsd.sh >/dev/null ||
		echo "tests/deps.sh: no Rust virtiofsd: its tests will be skipped" >&2
}
if [ -z "$missing" ]; then
	[ "$(id -u)" != 0 ] || rust_virtiofsd
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "tests/deps.sh: missing packages:$missing (run as root to install them)" >&2
	exit 1
fi
echo "tests/deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
# shellcheck disable=SC2086
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null
rust_virtiofsd
