# microvm.nix's host options (nixos-modules/host/options.nix at 71beea0):
# the names, types and defaults; `config` evaluates the guest with the
# guest stub (../microvm) instead of Nixpkgs' eval-config.nix.
# microvmStubStore (a module argument): where the guests' runners are.
{
  lib,
  pkgs,
  microvmStubStore,
  ...
}:
let
  inherit (lib) mkOption types;
in
{
  options.microvm = {
    host.enable = mkOption {
      type = types.bool;
      default = true;
    };
    host.startupTimeout = mkOption {
      type = types.ints.positive;
      default = 150;
    };
    host.useNotifySockets = mkOption {
      type = types.bool;
      default = false;
    };
    vms = mkOption {
      default = { };
      type = types.attrsOf (
        types.submodule (
          { config, name, ... }:
          {
            options = {
              evaluatedConfig = mkOption {
                type = types.nullOr types.unspecified;
                default = null;
              };
              config = mkOption {
                default = null;
                type = types.nullOr (
                  lib.mkOptionType {
                    name = "Toplevel NixOS config";
                    merge =
                      loc: defs:
                      lib.evalModules {
                        modules = [
                          ../microvm
                          {
                            networking.hostName = lib.mkDefault name;
                            _module.args = { inherit pkgs microvmStubStore; };
                          }
                        ] ++ map (d: d.value) defs;
                      };
                  }
                );
              };
              flake = mkOption {
                type = types.nullOr types.path;
                default = null;
              };
              updateFlake = mkOption {
                type = types.nullOr types.str;
                default = null;
              };
              autostart = mkOption {
                type = types.bool;
                default = true;
              };
              restartIfChanged = mkOption {
                type = types.bool;
                default = config.config != null;
              };
            };
          }
        )
      );
    };
    stateDir = mkOption {
      type = types.path;
      default = "/var/lib/microvms";
    };
    autostart = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
  };
}
