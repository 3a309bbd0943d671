# NixOS module: the microvm-host-helpers units in place of the unit part of
# microvm.nix's host module (do not enable both: `microvm.host.enable =
# false` if microvm.nix is imported too, the unit names are the same).
#
#   imports = [ /path/to/microvm-host-helpers/nix/module.nix ];
#   services.microvm-host-helpers = {
#     enable = true;
#     vms.web = {
#       runner = webConfig.config.microvm.declaredRunner;  # optional
#       notify = true;             # the runner sends READY=1 itself
#       tap.bridge = "br0";
#       tap.mtu = 9000;
#     };
#   };
#
# The units come from the package through systemd.packages; everything
# per host or per VM is a drop-in NixOS writes from these options.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.services.microvm-host-helpers;
  inherit (lib)
    mkEnableOption
    mkIf
    mkOption
    types
    ;

  words = lib.concatStringsSep " ";

  vmOptions =
    { name, ... }:
    {
      options = {
        autostart = mkOption {
          type = types.bool;
          default = true;
          description = "Start microvm@${name}.service with microvms.target at boot.";
        };
        runner = mkOption {
          type = types.nullOr types.package;
          default = null;
          description = ''
            The runner package (microvm.nix: `config.microvm.declaredRunner`
            of the guest). When set, `current` in the VM's state dir is
            pointed at it on activation; when null, it is managed by hand
            (e.g. with the `microvm` command).
          '';
        };
        notify = mkOption {
          type = types.bool;
          default = false;
          description = ''
            The runner sends READY=1 to NOTIFY_SOCKET itself (microvm.nix:
            `declaredRunner.supportsNotifySocket`): microvm@${name} gets
            Type=notify, so units ordered after it wait until the guest is up.
          '';
        };
        tap = {
          bridge = mkOption {
            type = types.nullOr types.str;
            default = null;
            description = "Enslave every TAP interface of the VM to this bridge (tap-setup --bridge).";
          };
          mtu = mkOption {
            type = types.nullOr types.ints.positive;
            default = null;
            description = "MTU of the VM's TAP interfaces (tap-setup --mtu).";
          };
          extraOptions = mkOption {
            type = types.listOf types.str;
            default = [ ];
            description = "More tap-setup options for the TAP interfaces.";
          };
        };
        macvtap.extraOptions = mkOption {
          type = types.listOf types.str;
          default = [ ];
          description = "tap-setup options for the macvtap interfaces, e.g. [ \"--mtu\" \"9000\" ].";
        };
        pci.bindGroup = mkOption {
          type = types.bool;
          default = false;
          description = "Bind the other devices of each IOMMU group to vfio-pci too (pci-bind --bind-group).";
        };
        virtiofsd = {
          extraArgs = mkOption {
            type = types.listOf types.str;
            default = [ ];
            description = ''
              Extra arguments for every virtiofsd of the VM (virtiofs-launch
              --extra-arg), e.g. [ "--cache=never" ]. No white space inside
              an argument: the unit splits the options at white space.
            '';
          };
          extraOptions = mkOption {
            type = types.listOf types.str;
            default = [ ];
            description = "More virtiofs-launch options, e.g. [ \"--thread-pool-size=4\" ].";
          };
          readWritePaths = mkOption {
            type = types.listOf types.str;
            default = [ ];
            description = ''
              Share sources outside the state dir that the guest writes to:
              the virtiofsd unit's sandbox makes the rest of the host
              read-only (ReadWritePaths=).
            '';
          };
        };
      };
    };

  dropins =
    name: vm:
    let
      tapOpts =
        lib.optionals (vm.tap.bridge != null) [
          "--bridge"
          vm.tap.bridge
        ]
        ++ lib.optionals (vm.tap.mtu != null) [
          "--mtu"
          (toString vm.tap.mtu)
        ]
        ++ vm.tap.extraOptions;
    in
    {
      "microvm@${name}" = {
        overrideStrategy = "asDropin";
        serviceConfig.Type = if vm.notify then "notify" else "simple";
        # The VM is restarted by hand (or by its own Restart=), not by a
        # switch that happens to touch its drop-in.
        restartIfChanged = false;
      };
      "microvm-tap-interfaces@${name}" = {
        overrideStrategy = "asDropin";
        environment.MICROVM_TAP_OPTIONS = words tapOpts;
        restartIfChanged = false;
      };
      "microvm-macvtap-interfaces@${name}" = {
        overrideStrategy = "asDropin";
        environment.MICROVM_MACVTAP_OPTIONS = words vm.macvtap.extraOptions;
        restartIfChanged = false;
      };
      "microvm-pci-devices@${name}" = {
        overrideStrategy = "asDropin";
        environment.MICROVM_PCI_OPTIONS = lib.optionalString vm.pci.bindGroup "--bind-group";
        restartIfChanged = false;
      };
      "microvm-virtiofsd@${name}" = {
        overrideStrategy = "asDropin";
        environment.MICROVM_VIRTIOFS_OPTIONS = words (
          lib.optional (cfg.virtiofsdDialect != null) "--virtiofsd-dialect=${cfg.virtiofsdDialect}"
          ++ map (a: "--extra-arg=${a}") vm.virtiofsd.extraArgs
          ++ vm.virtiofsd.extraOptions
        );
        serviceConfig.ReadWritePaths = vm.virtiofsd.readWritePaths;
        restartIfChanged = false;
      };
    };
in
{
  options.services.microvm-host-helpers = {
    enable = mkEnableOption "the MicroVM host helpers and their systemd units";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage ./package.nix { }";
      description = "The microvm-host-helpers package (overridden with stateDir).";
    };

    virtiofsdPackage = mkOption {
      type = types.package;
      default = pkgs.virtiofsd;
      defaultText = lib.literalExpression "pkgs.virtiofsd";
      description = "The virtiofsd that virtiofs-launch starts (put on the unit's PATH).";
    };

    virtiofsdDialect = mkOption {
      type = types.nullOr (types.enum [ "rust" "c" ]);
      default = "rust";
      description = ''
        The command-line dialect of virtiofsdPackage: "rust" for nixpkgs'
        virtiofsd, "c" for QEMU's old one, null to let virtiofs-launch ask the
        binary (one `virtiofsd --help` before the first share starts).
      '';
    };

    stateDir = mkOption {
      type = types.path;
      default = "/var/lib/microvms";
      description = "Where the VM directories (current, booted, sockets, volumes) live.";
    };

    vms = mkOption {
      type = types.attrsOf (types.submodule vmOptions);
      default = { };
      description = "Per-VM settings of the host; VMs not listed still run with the defaults.";
    };
  };

  config = mkIf cfg.enable (
    let
      pkg = cfg.package.override { inherit (cfg) stateDir; };
      autostart = lib.filterAttrs (_: vm: vm.autostart) cfg.vms;
    in
    {
      environment.systemPackages = [ pkg ];
      systemd.packages = [ pkg ];

      users.users.microvm = {
        isSystemUser = true;
        group = "kvm";
        home = cfg.stateDir;
        description = "MicroVM runner";
      };
      users.groups.kvm = { };

      boot.kernelModules = [ "tun" ];

      systemd.tmpfiles.rules =
        [ "d ${cfg.stateDir} 0775 microvm kvm -" ]
        ++ lib.concatLists (
          lib.mapAttrsToList (
            name: vm:
            [ "d ${cfg.stateDir}/${name} 0755 microvm kvm -" ]
            ++ lib.optional (vm.runner != null) "L+ ${cfg.stateDir}/${name}/current - - - - ${vm.runner}"
          ) cfg.vms
        );

      systemd.targets.microvms = {
        wantedBy = [ "multi-user.target" ];
        wants = map (name: "microvm@${name}.service") (lib.attrNames autostart);
      };

      # Template-wide: virtiofs-launch finds virtiofsd on PATH.
      systemd.services = {
        "microvm-virtiofsd@" = {
          overrideStrategy = "asDropin";
          path = [ cfg.virtiofsdPackage ];
        };
      } // lib.foldl' (acc: name: acc // dropins name cfg.vms.${name}) { } (lib.attrNames cfg.vms);
    }
  );
}
