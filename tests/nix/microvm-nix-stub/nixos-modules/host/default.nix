# microvm.nix's host module (nixos-modules/host/default.nix at 71beea0),
# reduced to the units a test can see stepping aside: with host.enable
# it defines its own microvm@, helper and microvm-set-booted@ units and
# an install-microvm-NAME service a VM, and the host-wide settings.
{ config, lib, ... }:
let
  cfg = config.microvm;
in
{
  imports = [ ./options.nix ];
  config = lib.mkIf cfg.host.enable {
    boot.kernelModules = [ "tap" "vhost_net" ];
    users.users.microvm = {
      isSystemUser = true;
      group = "kvm";
    };
    systemd.services =
      lib.mapAttrs' (name: _: {
        name = "install-microvm-${name}";
        value.script = "ln -sTf RUNNER current";
      }) cfg.vms
      // {
        "microvm@".serviceConfig.ExecStart = "${cfg.stateDir}/%i/current/bin/microvm-run";
        "microvm-tap-interfaces@".serviceConfig.ExecStart = "${cfg.stateDir}/%i/current/bin/tap-up";
        "microvm-virtiofsd@".serviceConfig.ExecStart = "${cfg.stateDir}/%i/current/bin/virtiofsd-run";
        "microvm-set-booted@".script = "ln -s $(readlink current) booted";
      };
    microvm.autostart = lib.filter (n: cfg.vms.${n}.autostart) (lib.attrNames cfg.vms);
    systemd.targets.microvms.wants = map (n: "microvm@${n}.service") cfg.autostart;
  };
}
