# The NixOS options nix/module.nix sets or reads, declared with the types
# NixOS gives them (nixos/modules/system/boot/systemd.nix and
# nixos/lib/systemd-unit-options.nix, systemd-lib.nix, config/users-groups.nix,
# security/pam.nix, security/wrappers, hardware/ksm.nix, misc/assertions.nix),
# so that lib.evalModules merges, checks and defaults them as NixOS would,
# without Nixpkgs' package set or nixos/ tree. What NixOS adds to every
# service that matters here is there too: the default PATH (coreutils,
# findutils, grep, sed, systemd) and environment.PATH made from `path`.
{
  lib,
  config,
  pkgs,
  ...
}:
let
  inherit (lib) mkOption types;
  units = types.listOf types.str;

  # systemd-unit-options.nix's unitOption: a value, or a list for a
  # repeatable key (lists concatenate, other values must agree).
  unitOption = lib.mkOptionType {
    name = "systemd option";
    description = "systemd unit option value";
    merge =
      loc: defs:
      let
        defs' = lib.filterOverrides defs;
      in
      if lib.any (d: lib.isList d.value) defs' then
        lib.concatMap (d: lib.toList d.value) defs'
      else
        lib.mergeEqualOption loc defs';
  };

  commonUnit = {
    description = mkOption {
      type = types.singleLineStr;
      default = "";
    };
    overrideStrategy = mkOption {
      type = types.enum [
        "asDropinIfExists"
        "asDropin"
      ];
      default = "asDropinIfExists";
    };
    requires = mkOption {
      type = units;
      default = [ ];
    };
    wants = mkOption {
      type = units;
      default = [ ];
    };
    after = mkOption {
      type = units;
      default = [ ];
    };
    before = mkOption {
      type = units;
      default = [ ];
    };
    partOf = mkOption {
      type = units;
      default = [ ];
    };
    wantedBy = mkOption {
      type = units;
      default = [ ];
    };
    requiredBy = mkOption {
      type = units;
      default = [ ];
    };
    unitConfig = mkOption {
      type = types.attrsOf unitOption;
      default = { };
    };
    restartTriggers = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
  };

  service =
    { config, ... }:
    {
      options = commonUnit // {
        environment = mkOption {
          type =
            with types;
            attrsOf (
              nullOr (oneOf [
                str
                path
                package
              ])
            );
          default = { };
        };
        path = mkOption {
          type =
            with types;
            listOf (oneOf [
              package
              str
            ]);
          default = [ ];
        };
        serviceConfig = mkOption {
          type = types.attrsOf unitOption;
          default = { };
        };
        script = mkOption {
          type = types.lines;
          default = "";
        };
        restartIfChanged = mkOption {
          type = types.bool;
          default = true;
        };
      };
      config = {
        path = lib.mkAfter (
          with pkgs;
          [
            coreutils
            findutils
            gnugrep
            gnused
            systemd
          ]
        );
        environment.PATH = lib.mkIf (config.path != [ ]) "${lib.makeBinPath config.path}:${lib.makeSearchPathOutput "bin" "sbin" config.path}";
      };
    };
in
{
  options = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
    warnings = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    environment.systemPackages = mkOption {
      type = types.listOf types.package;
      default = [ ];
    };
    environment.etc = mkOption {
      type = types.attrsOf (
        types.submodule {
          options.text = mkOption {
            type = types.nullOr types.lines;
            default = null;
          };
          options.source = mkOption {
            type = types.nullOr types.path;
            default = null;
          };
        }
      );
      default = { };
    };
    boot.kernelModules = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    # Read by the module (libvirtd brings its own qemu-bridge-helper).
    virtualisation.libvirtd.enable = mkOption {
      type = types.bool;
      default = false;
    };
    hardware.ksm.enable = mkOption {
      type = types.bool;
      default = false;
    };
    users.users = mkOption {
      type = types.attrsOf (
        types.submodule {
          options = {
            isSystemUser = mkOption {
              type = types.bool;
              default = false;
            };
            group = mkOption {
              type = types.str;
              default = "";
            };
            home = mkOption {
              type = types.passwdEntry types.path;
              default = "/var/empty";
            };
            description = mkOption {
              type = types.passwdEntry types.str;
              default = "";
            };
          };
        }
      );
      default = { };
    };
    users.groups = mkOption {
      type = types.attrsOf (
        types.submodule {
          options.gid = mkOption {
            type = types.nullOr types.int;
            default = null;
          };
        }
      );
      default = { };
    };
    security.pam.loginLimits = mkOption {
      type = types.listOf (
        types.submodule {
          options = {
            domain = mkOption { type = types.str; };
            type = mkOption {
              type = types.enum [
                "-"
                "hard"
                "soft"
              ];
            };
            item = mkOption {
              type = types.enum [
                "core"
                "data"
                "fsize"
                "memlock"
                "nofile"
                "rss"
                "stack"
                "cpu"
                "nproc"
                "as"
                "maxlogins"
                "maxsyslogins"
                "priority"
                "locks"
                "sigpending"
                "msgqueue"
                "nice"
                "rtprio"
              ];
            };
            value = mkOption {
              type = with types; oneOf [ str int ];
            };
          };
        }
      );
      default = [ ];
    };
    security.wrappers = mkOption {
      type = types.attrsOf (
        types.submodule {
          options = {
            source = mkOption { type = types.path; };
            owner = mkOption { type = types.str; };
            group = mkOption { type = types.str; };
            permissions = mkOption {
              type = types.str;
              default = "u+rx,g+x,o+x";
            };
            capabilities = mkOption {
              type = types.commas;
              default = "";
            };
            setuid = mkOption {
              type = types.bool;
              default = false;
            };
          };
        }
      );
      default = { };
    };
    systemd.package = mkOption {
      type = types.package;
      default = pkgs.systemd;
    };
    systemd.packages = mkOption {
      type = types.listOf types.package;
      default = [ ];
    };
    systemd.services = mkOption {
      type = types.attrsOf (types.submodule service);
      default = { };
    };
    systemd.targets = mkOption {
      type = types.attrsOf (types.submodule { options = commonUnit; });
      default = { };
    };
    systemd.tmpfiles.rules = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
  };
}
