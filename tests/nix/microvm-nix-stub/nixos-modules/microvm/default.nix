# The guest module of microvm.nix, reduced: its options, the system, and
# the runner as a derivation-shaped set named and with the passthru of
# microvm.nix's lib/runner.nix (supportsNotifySocket: cloud-hypervisor
# with a vsock CID, as lib/runners/cloud-hypervisor.nix), its outPath in
# microvmStubStore, where a test may build the tree.
{ config, microvmStubStore, ... }:
let
  m = config.microvm;
  host = config.networking.hostName;
  drv =
    name: extra:
    {
      type = "derivation";
      inherit name;
      outPath = "${microvmStubStore}/${builtins.substring 0 32 (builtins.hashString "sha256" name)}-${name}";
    }
    // extra;
in
{
  imports = [ ./options.nix ];
  system.build.toplevel = drv "nixos-system-${host}-26.05" { };
  microvm.declaredRunner = drv "microvm-${m.hypervisor}-${host}" {
    inherit (m) hypervisor registerWithMachined;
    supportsNotifySocket = m.hypervisor == "cloud-hypervisor" && m.vsock.cid != null;
    canShutdown = true;
    tapMultiQueue = false;
    machineId = null;
  };
}
