# One host with three VMs, in the two forms nix/module.nix takes:
#   net   a bridged TAP with an MTU (host settings: bridge br0, MTU 9000)
#   files a notify runner (cloud-hypervisor with a vsock CID) with two
#         virtiofs shares: /srv/files read-only, /home/alice/vm writable
#         with extra virtiofsd arguments
#   pass  a macvtap (host setting: --mtu 1500) and a PCI device (host
#         setting: --bind-group), registered with machined, not autostarted
# standalone: services.microvm-host-helpers.vms.* only, runners given, a
# virtiofsd package whose program is bin/virtiofsd-host;
# microvm-nix: as microvm.nix's users write it (microvm.vms.NAME.config,
# the guests' microvm.interfaces/shares/devices), the host settings that
# microvm.nix has no option for in services.microvm-host-helpers.vms, plus
# a fourth VM, flakey, deployed from a flake with updateFlake (with a
# read-only virtiofs share), and an imperative VM in microvm.autostart;
# files's microvm.virtiofsd.package runs bin/virtiofsd-wrapped.
# store: the directory the runners' outPaths are in.
{ store }:
let
  drv =
    name: extra:
    {
      type = "derivation";
      inherit name;
      outPath = "${store}/${builtins.substring 0 32 (builtins.hashString "sha256" name)}-${name}";
    }
    // extra;
  hostSettings = {
    services.microvm-host-helpers = {
      enable = true;
      vms.net.tap = {
        bridge = "br0";
        mtu = 9000;
        qdisc = "default";
      };
      vms.pass.macvtap.extraOptions = [
        "--mtu"
        "1500"
      ];
      vms.pass.pci.bindGroup = true;
    };
  };
in
{
  standalone = {
    imports = [ hostSettings ];
    # A virtiofsd whose program is not bin/virtiofsd (meta.mainProgram).
    services.microvm-host-helpers.virtiofsdPackage = drv "virtiofsd-host" {
      meta.mainProgram = "virtiofsd-host";
    };
    services.microvm-host-helpers.vms = {
      net.runner = drv "microvm-qemu-net" { hypervisor = "qemu"; };
      files = {
        runner = drv "microvm-cloud-hypervisor-files" {
          hypervisor = "cloud-hypervisor";
          supportsNotifySocket = true;
        };
        shares.data = {
          readOnly = true;
          cache = "auto";
          posixAcl = true;
          inodeFileHandles = "prefer";
        };
        shares.home = {
          readOnly = false;
          cache = "auto";
          posixAcl = true;
          inodeFileHandles = "prefer";
          extraArgs = [
            "--announce-submounts"
            "--log-level"
            "debug"
          ];
        };
        virtiofsd.group = "kvm";
        virtiofsd.readWritePaths = [ "/home/alice/vm" ];
      };
      pass = {
        autostart = false;
        runner = drv "microvm-qemu-pass" {
          hypervisor = "qemu";
          registerWithMachined = true;
        };
      };
    };
  };

  microvm-nix =
    { lib, pkgs, ... }:
    {
      imports = [
        ./microvm-nix-stub/nixos-modules/host
        hostSettings
      ];
      microvm.autostart = [ "imperative" ];
      microvm.vms = {
        net.config = {
          microvm.interfaces = [
            {
              type = "tap";
              id = "vm-net";
              mac = "02:00:00:00:00:01";
            }
          ];
        };
        files.config = {
          microvm.hypervisor = "cloud-hypervisor";
          # microvm.nix runs lib.getExe of it: its meta.mainProgram.
          microvm.virtiofsd.package = drv "virtiofsd-wrapped" { meta.mainProgram = "virtiofsd-wrapped"; };
          microvm.vsock.cid = 3;
          microvm.shares = [
            {
              proto = "virtiofs";
              tag = "data";
              source = "/srv/files";
              mountPoint = "/data";
              readOnly = true;
            }
            {
              proto = "virtiofs";
              tag = "home";
              source = "/home/alice/vm";
              mountPoint = "/mnt";
              # microvm.nix put these into a shell line: "--log-level debug"
              # was two arguments.
              extraArgs = [
                "--announce-submounts"
                "--log-level debug"
              ];
            }
            {
              proto = "9p";
              tag = "ro-store";
              source = "/nix/store";
              mountPoint = "/nix/.ro-store";
            }
          ];
          microvm.interfaces = [
            {
              type = "bridge";
              id = "vm-files";
              bridge = "br0";
              mac = "02:00:00:00:00:03";
            }
          ];
        };
        pass = {
          autostart = false;
          config = {
            microvm.registerWithMachined = true;
            microvm.interfaces = [
              {
                type = "macvtap";
                id = "vm-pass";
                mac = "02:00:00:00:00:02";
                macvtap = {
                  link = "eth0";
                  mode = "bridge";
                };
              }
            ];
            microvm.devices = [
              {
                bus = "pci";
                path = "0000:01:00.0";
              }
            ];
          };
        };
        flakey = {
          updateFlake = "git+file:///etc/nixos";
          flake = {
            outPath = "${store}/00000000000000000000000000000000-source";
            nixosConfigurations.flakey = lib.evalModules {
              modules = [
                ./microvm-nix-stub/nixos-modules/microvm
                {
                  networking.hostName = "flakey";
                  _module.args.microvmStubStore = store;
                  _module.args.pkgs = pkgs;
                  # Served read-only by the runner the host declares; one
                  # that `microvm -u` builds has no settings files.
                  microvm.shares = [
                    {
                      proto = "virtiofs";
                      tag = "docs";
                      source = "/srv/docs";
                      mountPoint = "/docs";
                      readOnly = true;
                    }
                  ];
                }
              ];
            };
          };
        };
      };
    };
}
