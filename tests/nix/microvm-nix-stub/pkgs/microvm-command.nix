# microvm.nix's `microvm` command (pkgs/microvm-command.nix at 71beea0):
# its arguments; the script only records the state dir it was given.
{
  lib,
  git,
  jq,
  nix,
  openssh,
  writeShellScriptBin,
  stateDir ? "/var/lib/microvms",
}:
writeShellScriptBin "microvm" "STATE_DIR=${stateDir}"
