#!/bin/sh
# tests/rust-virtiofsd.sh [CACHE_DIR]: the Rust virtiofsd for the tests.
#
# Debian 12 packages only QEMU's C virtiofsd; Debian 13 (trixie) packages
# the Rust one (virtiofsd 1.x, what NixOS ships), built against glibc 2.39
# or later. This fetches it and its runtime libraries (libc6, libcap-ng0,
# libseccomp2, libgcc-s1) from trixie with `apt-get download` and a
# private sources list, lists and cache (the machine's own apt
# configuration and package state are not touched, nothing is installed),
# unpacks them into CACHE_DIR/root and makes CACHE_DIR/virtiofsd: the
# binary with its interpreter and library path set to those libraries
# (patchelf). Idempotent: a second run with the files in place does
# nothing. Prints the binary's path on success.
# Default CACHE_DIR: /var/cache/microvm-host-helpers-rust-virtiofsd, or
# $MVM_RUST_VIRTIOFSD_CACHE. Needs root (apt's lists), patchelf, network
# access to deb.debian.org; exits 1 with the reason otherwise (the tests
# that need the binary are then skipped with that reason).
set -eu
CACHE=${1:-${MVM_RUST_VIRTIOFSD_CACHE:-/var/cache/microvm-host-helpers-rust-virtiofsd}}
MIRROR=${MVM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PKGS="virtiofsd libc6 libcap-ng0 libseccomp2 libgcc-s1"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
say() { echo "tests/rust-virtiofsd.sh: $*" >&2; }

if [ -x "$CACHE/virtiofsd" ] && "$CACHE/virtiofsd" --version >/dev/null 2>&1; then
	echo "$CACHE/virtiofsd"
	exit 0
fi
[ "$(id -u)" = 0 ] || { say "needs root"; exit 1; }
command -v patchelf >/dev/null || { say "needs patchelf (Debian package patchelf)"; exit 1; }
[ -r "$KEYRING" ] || { say "needs $KEYRING (debian-archive-keyring)"; exit 1; }

mkdir -p "$CACHE"
work=$(mktemp -d "$CACHE/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/root"
echo "deb [signed-by=$KEYRING] $MIRROR trixie main" >"$work/sources.list"
# Only these options point apt at the private files: no file of the
# machine's apt configuration is read for sources, written or locked.
set -- -o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=- \
	-o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" \
	-o APT::Architecture=amd64 -q
if ! apt-get "$@" update >"$work/log" 2>&1; then
	tail -n 5 "$work/log" >&2
	say "cannot read trixie's package lists from $MIRROR"
	exit 1
fi
# apt-get download writes into the working directory.
if ! (cd "$work/debs" && apt-get "$@" download $PKGS) >"$work/log" 2>&1; then
	tail -n 5 "$work/log" >&2
	say "cannot download $PKGS from trixie"
	exit 1
fi
for d in "$work"/debs/*.deb; do
	dpkg-deb -x "$d" "$work/root"
done
lib=$CACHE/root/usr/lib/x86_64-linux-gnu
[ -x "$work/root/usr/libexec/virtiofsd" ] || { say "no usr/libexec/virtiofsd in the package"; exit 1; }
rm -rf "$CACHE/root" "$CACHE/virtiofsd"
mv "$work/root" "$CACHE/root"
cp "$CACHE/root/usr/libexec/virtiofsd" "$work/virtiofsd"
patchelf --set-interpreter "$lib/ld-linux-x86-64.so.2" --set-rpath "$lib" "$work/virtiofsd"
if ! "$work/virtiofsd" --version >"$work/log" 2>&1; then
	cat "$work/log" >&2
	say "the patched virtiofsd does not run"
	exit 1
fi
(cd "$work/debs" && ls) >"$CACHE/packages"
mv "$work/virtiofsd" "$CACHE/virtiofsd"
say "$(cat "$work/log") in $CACHE ($(tr '\n' ' ' <"$CACHE/packages"))"
echo "$CACHE/virtiofsd"
