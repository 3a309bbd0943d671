# The guest options of microvm.nix (nixos-modules/microvm/options.nix at
# 71beea0) that nix/microvm-nix.nix reads or that shape them: names,
# types, defaults. Plus the two NixOS options they use (networking.hostName,
# system.build.toplevel).
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  hostName = config.networking.hostName;
in
{
  options = {
    networking.hostName = mkOption { type = types.str; };
    system.build.toplevel = mkOption { type = types.package; };

    microvm.hypervisor = mkOption {
      type = types.enum [
        "qemu"
        "cloud-hypervisor"
        "firecracker"
        "crosvm"
        "kvmtool"
        "stratovirt"
        "alioth"
        "vfkit"
      ];
      default = "qemu";
    };
    microvm.vsock.cid = mkOption {
      type = types.nullOr types.int;
      default = null;
    };
    microvm.registerWithMachined = mkOption {
      type = types.bool;
      default = false;
    };
    microvm.interfaces = mkOption {
      default = [ ];
      type = types.listOf (
        types.submodule {
          options = {
            type = mkOption {
              type = types.enum [
                "user"
                "tap"
                "macvtap"
                "bridge"
              ];
            };
            id = mkOption { type = types.str; };
            macvtap.link = mkOption { type = types.str; };
            macvtap.mode = mkOption {
              type = types.enum [
                "private"
                "vepa"
                "bridge"
                "passthru"
                "source"
              ];
            };
            bridge = mkOption {
              type = types.nullOr types.str;
              default = null;
            };
            mac = mkOption { type = types.str; };
            tap.vhost = mkOption {
              type = types.bool;
              default = false;
            };
          };
        }
      );
    };
    microvm.shares = mkOption {
      default = [ ];
      type = types.listOf (
        types.submodule (
          { config, ... }:
          {
            options = {
              tag = mkOption { type = types.str; };
              socket = mkOption {
                type = types.nullOr types.str;
                default = if config.proto == "virtiofs" then "${hostName}-virtiofs-${config.tag}.sock" else null;
              };
              source = mkOption { type = types.nonEmptyStr; };
              mountPoint = mkOption { type = types.path; };
              proto = mkOption {
                type = types.enum [
                  "9p"
                  "virtiofs"
                ];
                default = "9p";
              };
              readOnly = mkOption {
                type = types.bool;
                default = false;
              };
              cache = mkOption {
                type = types.enum [
                  "auto"
                  "always"
                  "metadata"
                  "never"
                ];
                default = "auto";
              };
              posixAcl = mkOption {
                type = types.bool;
                default = true;
              };
              extraArgs = mkOption {
                type = types.listOf types.str;
                default = [ ];
              };
            };
          }
        )
      );
    };
    microvm.devices = mkOption {
      default = [ ];
      type = types.listOf (
        types.submodule {
          options = {
            bus = mkOption {
              type = types.enum [
                "pci"
                "usb"
              ];
            };
            path = mkOption { type = types.str; };
          };
        }
      );
    };
    microvm.virtiofsd = {
      inodeFileHandles = mkOption {
        type = types.nullOr (
          types.enum [
            "never"
            "prefer"
            "mandatory"
          ]
        );
        default = "prefer";
      };
      threadPoolSize = mkOption {
        type = types.oneOf [
          types.str
          types.ints.unsigned
        ];
        default = "`nproc`";
      };
      group = mkOption {
        type = types.nullOr types.str;
        default = "kvm";
      };
      extraArgs = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      package = mkOption {
        type = types.package;
        default = pkgs.virtiofsd;
      };
    };
    microvm.declaredRunner = mkOption { type = types.package; };
  };
}
