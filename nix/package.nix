# The host helpers (tap-setup, pci-bind, virtiofs-launch, runner-exec), their
# man pages, the systemd units and the sysusers.d file.
#
#   pkgs.callPackage ./package.nix { }
#   pkgs.callPackage ./package.nix { stateDir = "/srv/microvms"; }
#
# stateDir is written into the units' ConditionPathExists=, Environment=
# MICROVM_STATE_DIR=, ReadWritePaths= and the bind of microvm-state-dir
# (the Makefile installs them for /var/lib/microvms). The test suite needs
# root, network namespaces and virtiofsd, which the Nix build sandbox does
# not give: doCheck is off; run `make check` on a host instead.
{
  lib,
  stdenv,
  pkg-config,
  libnl,
  kmod,
  check,
  util-linux,
  systemd,
  runtimeShell,
  stateDir ? "/var/lib/microvms",
}:

let
  stateDirError = (import ./lib.nix { inherit lib; }).stateDirError stateDir;
in
# (the module names its own option; this, a direct caller's)
assert lib.assertMsg (stateDirError == null) "microvm-host-helpers: stateDir = ${builtins.toJSON (toString stateDir)}: ${toString stateDirError}";
stdenv.mkDerivation {
  pname = "microvm-host-helpers";
  version = "0.1.0";

  src = lib.cleanSourceWith {
    src = ../.;
    filter =
      path: type:
      let
        base = baseNameOf path;
      in
      !(lib.hasPrefix "build" base) && base != ".git" && base != "result";
  };

  nativeBuildInputs = [ pkg-config ];
  buildInputs = [
    libnl
    kmod
  ];
  nativeCheckInputs = [ check ];
  doCheck = false;

  makeFlags = [
    "PREFIX=${placeholder "out"}"
    "UNITDIR=${placeholder "out"}/lib/systemd/system"
    "SYSUSERSDIR=${placeholder "out"}/lib/sysusers.d"
  ];

  # NixOS has no /bin/kill, /bin/systemctl, /bin/mount, /bin/findmnt nor /sbin/modprobe
  # (microvm-state-dir's sh -c names the last two after a space or "$(": one
  # pattern each, so a path already rewritten, ...-util-linux/bin/mount, is not
  # taken again); its /bin/sh is runtimeShell; another state dir goes into every unit.
  postInstall = ''
    for u in $out/lib/systemd/system/*; do
      sed -i \
        -e 's|=/bin/kill |=${util-linux}/bin/kill |' \
        -e 's|=/bin/systemctl |=${systemd}/bin/systemctl |' \
        -e 's|=-+/sbin/modprobe |=-+${kmod}/bin/modprobe |' \
        -e 's|=/bin/sh |=${runtimeShell} |' \
        -e 's#\([ =(]\)/bin/mount #\1${util-linux}/bin/mount #g' \
        -e 's#\([ =(]\)/bin/findmnt #\1${util-linux}/bin/findmnt #g' \
        -e 's|/var/lib/microvms|${stateDir}|g' \
        "$u"
    done
  '';

  meta = {
    description = "C host helpers for MicroVMs in the microvm.nix layout, run by systemd units";
    license = lib.licenses.mit;
    platforms = lib.platforms.linux;
    mainProgram = "runner-exec";
  };
}
