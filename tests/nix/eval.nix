# Evaluate nix/module.nix for the host of hosts.nix and return the failures
# of checks.nix (an empty list: all good), or, with `attr`, one value of
# the evaluation for the test script (e.g. a runner's build script).
#   nix-instantiate --eval --strict --json tests/nix/eval.nix \
#     --argstr libPath .../lib --argstr form standalone|microvm-nix [--argstr nixos NIXPKGS]
# form:   standalone (services.microvm-host-helpers.vms only) or microvm-nix
#         (microvm.vms as microvm.nix's users write it, tests/nix/microvm-nix-stub)
# libPath: Nixpkgs' lib (evaluated with lib.evalModules, the NixOS options
#         the module touches declared by nixos-stubs.nix, packages by
#         pkgs-stub.nix); nixos: a Nixpkgs tree, for the real NixOS
#         evaluation (nixos/lib/eval-config.nix) instead.
# store:  where the test runners' outPaths are.
# tapWord: one more word of VM net's tap.extraOptions (the check of bad
#         option words).
# vfsArg: one more element of VM files' microvm.virtiofsd.extraArgs
#         (microvm.nix form; the check of shell-only syntax in it).
# shareArg: the extraArgs element of one more (read-only) virtiofs share
#         'extra' of VM files, microvm.nix form (the same check, per share).
# netShare: the source of one more (read-only) virtiofs share of VM net,
#         microvm.nix form (the check of shares nested in a writable one);
# netSocket: its socket (else microvm.nix's default, in net's directory).
# flakeyUpdate: flakey's microvm.nix updateFlake, in place of hosts.nix's.
# vfsThreads: VM files's virtiofsd thread pool size (microvm.nix form: its
#         guest's microvm.virtiofsd.threadPoolSize; stand-alone: vms.files.
#         virtiofsd.threadPoolSize), given with --arg.
# firstModule: a module of the host's given before nix/module.nix (its
#         definitions of a list come first in the merge, as a host's own
#         configuration.nix that imports the module).
# asSection: with attr, the value (an attribute set: a unit's serviceConfig)
#         as the lines NixOS writes for it in the unit's file.
# vmName: one more VM of that name (stand-alone: services.microvm-host-
#         helpers.vms.NAME with no settings; microvm.nix form: a declarative
#         microvm.vms.NAME with the guest's defaults).
# autostartName: one more name in services.microvm-host-helpers.autostart.
# extraModule: one more module of the host (a path or an expression, with
#         --arg), as a host's own settings beside the module's.
{
  libPath ? null,
  nixos ? null,
  form,
  store ? "/nix/store",
  attr ? null,
  tapWord ? null,
  vfsArg ? null,
  shareArg ? null,
  netShare ? null,
  netSocket ? null,
  flakeyUpdate ? null,
  vfsThreads ? null,
  extraModule ? null,
  firstModule ? null,
  asSection ? false,
  vmName ? null,
  autostartName ? null,
}:
let
  lib = if nixos != null then import "${nixos}/lib" else import libPath;
  hosts = import ./hosts.nix { inherit store; };
  modules =
    lib.optional (firstModule != null) firstModule
    ++ [
      ../../nix/module.nix
      hosts.${form}
      { _module.args.microvmStubStore = store; }
    ]
  ++ lib.optional (tapWord != null) { services.microvm-host-helpers.vms.net.tap.extraOptions = [ tapWord ]; }
  ++ lib.optional (vfsArg != null) { microvm.vms.files.config.microvm.virtiofsd.extraArgs = [ vfsArg ]; }
  ++ lib.optional (shareArg != null) {
    microvm.vms.files.config.microvm.shares = [
      {
        proto = "virtiofs";
        tag = "extra";
        source = "/srv/extra";
        mountPoint = "/extra";
        readOnly = true;
        extraArgs = [ shareArg ];
      }
    ];
  }
  ++ lib.optional (extraModule != null) extraModule
  ++ lib.optional (vmName != null) (
    if form == "standalone" then
      { services.microvm-host-helpers.vms.${vmName} = { }; }
    else
      { microvm.vms.${vmName}.config = { }; }
  )
  ++ lib.optional (autostartName != null) { services.microvm-host-helpers.autostart = [ autostartName ]; }
  ++ lib.optional (vfsThreads != null) (
    if form == "standalone" then
      { services.microvm-host-helpers.vms.files.virtiofsd.threadPoolSize = vfsThreads; }
    else
      { microvm.vms.files.config.microvm.virtiofsd.threadPoolSize = vfsThreads; }
  )
  ++ lib.optional (flakeyUpdate != null) { microvm.vms.flakey.updateFlake = lib.mkForce flakeyUpdate; }
  ++ lib.optional (netShare != null) {
    microvm.vms.net.config.microvm.shares = [
      ({
        proto = "virtiofs";
        tag = "inner";
        source = netShare;
        mountPoint = "/inner";
        readOnly = true;
      }
      // lib.optionalAttrs (netSocket != null) { socket = netSocket; })
    ];
  };
  eval =
    if nixos != null then
      import "${nixos}/nixos/lib/eval-config.nix" {
        system = builtins.currentSystem;
        modules = modules ++ [
          {
            system.stateVersion = lib.trivial.release;
            boot.isContainer = true;
          }
        ];
      }
    else
      lib.evalModules {
        modules = modules ++ [
          ./nixos-stubs.nix
          { _module.args.pkgs = import ./pkgs-stub.nix { inherit lib; }; }
        ];
      };
  failures = import ./checks.nix {
    inherit lib form;
    inherit (eval) config options;
  };
in
let
  value = lib.attrByPath (lib.splitString "." attr) null eval.config;
  # As NixOS writes a unit's section (nixos/lib/systemd-lib.nix,
  # attrsToSection): a line per value, a list's one per element.
  toOption = x: if x == true then "true" else if x == false then "false" else toString x;
  section = lib.concatStrings (
    lib.concatLists (lib.mapAttrsToList (k: v: map (x: "${k}=${toOption x}\n") (lib.toList v)) value)
  );
in
if attr == null then failures else if asSection then section else value
