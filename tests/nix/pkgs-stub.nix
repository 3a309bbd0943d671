# A stand-in for the Nixpkgs package set, enough for nix/module.nix and
# nix/package.nix to be evaluated with Nixpkgs' lib alone: every package is
# an attribute set that passes lib.types.package (type = "derivation",
# an outPath under storeDir), nothing is built. callPackage is lib's own
# callPackageWith, so package.nix is called, and overridden, as Nixpkgs
# would.
{
  lib,
  storeDir ? "/nix/store",
}:
lib.fix (
  self:
  let
    drv =
      name: extra:
      {
        type = "derivation";
        inherit name;
        outPath = "${storeDir}/${builtins.substring 0 32 (builtins.hashString "sha256" name)}-${name}";
        drvPath = "${storeDir}/${builtins.substring 0 32 (builtins.hashString "sha1" name)}-${name}.drv";
        meta = { };
      }
      // extra;
    pkg = name: drv name { pname = name; };
  in
  {
    inherit lib drv;
    callPackage = lib.callPackageWith self;
    stdenv.mkDerivation =
      a:
      drv "${a.pname}-${a.version}" {
        inherit (a) pname version;
        postInstall = a.postInstall or "";
        meta = a.meta or { };
      };
    # runCommand NAME ENV SCRIPT as Nixpkgs' (a derivation whose
    # buildCommand is SCRIPT, passthru attributes on the result).
    runCommand =
      name: env: buildCommand:
      drv name (builtins.removeAttrs env [ "passthru" ] // (env.passthru or { }) // { inherit buildCommand; });
    writeShellScriptBin = name: text: drv name { inherit text; };
    runtimeShell = "${pkg "bash"}/bin/bash";
    # As Nixpkgs' (meta.mainProgram; lib.getExe reads it).
    virtiofsd = drv "virtiofsd" {
      pname = "virtiofsd";
      meta.mainProgram = "virtiofsd";
    };
  }
  // lib.genAttrs [
    "pkg-config"
    "libnl"
    "kmod"
    "check"
    "util-linux"
    "systemd"
    "qemu-utils"
    "coreutils"
    "findutils"
    "gnugrep"
    "gnused"
    "git"
    "jq"
    "nix"
    "openssh"
  ] pkg
)
