# The microvm.nix form of nix/module.nix (imported by it): on a host that
# imports microvm.nix's host module (nixos-modules/host), with
# services.microvm-host-helpers.enable (and fromMicrovmNix, its default
# there), the VMs of microvm.vms become services.microvm-host-helpers.vms
# and microvm.nix's host module is switched off, so its units step aside.
# Every value set in services.microvm-host-helpers is a default (mkDefault)
# the host may override, but the lists autostart and vms.*.virtiofsd.
# readWritePaths, to which the host's own add.
#
# Read from microvm.nix (the options of nixos-modules/host/options.nix and
# nixos-modules/microvm/options.nix at 71beea0):
#   microvm.vms.NAME.{config,evaluatedConfig,flake,updateFlake,autostart,
#     restartIfChanged}, microvm.autostart, microvm.stateDir,
#   microvm.host.{startupTimeout,useNotifySockets}; of each guest:
#   microvm.declaredRunner (and its supportsNotifySocket,
#   registerWithMachined), microvm.hypervisor, microvm.shares.*.{tag,proto,
#   source,socket,readOnly,cache,posixAcl,extraArgs}, microvm.virtiofsd.{package,
#   group,threadPoolSize,inodeFileHandles,extraArgs}, microvm.interfaces.*.type,
#   system.build.toplevel.
{
  config,
  lib,
  options,
  pkgs,
  ...
}:
let
  cfg = config.services.microvm-host-helpers;
  hlib = import ./lib.nix { inherit lib; };
  inherit (lib) mkDefault;
  mvm = config.microvm;
  hasMicrovmNix = lib.hasAttrByPath [ "microvm" "host" "enable" ] options;

  # The guest's configuration, as microvm.nix's host module finds it.
  guestOf =
    name: vm:
    if vm.flake != null then
      vm.flake.nixosConfigurations.${name}.config
    else if vm.evaluatedConfig != null then
      vm.evaluatedConfig.config
    else if vm.config != null then
      vm.config.config
    else
      null;

  virtiofsShares = guest: lib.filter (s: s.proto == "virtiofs") guest.microvm.shares;

  # Written by the guest, outside the state dir (inside it, virtiofs-launch
  # follows no link below the state dir), each with its source absolute.
  writableOutside =
    name: guest:
    map (s: s // { source = absOf name s.source; }) (
      lib.filter (
        s:
        !s.readOnly
        && normal (absOf name s.source) != normal "/nix/store"
        && !(under cfg.stateDir (absOf name s.source))
      ) (virtiofsShares guest)
    );

  # The components of a path, "." and "" left out; ".." kept.
  parts = p: lib.filter (c: c != "" && c != ".") (lib.splitString "/" p);
  # The path taken lexically ("a/b/.." is "a"), as components.
  normal = p: lib.foldl' (st: c: if c == ".." then lib.take (lib.length st - 1) st else st ++ [ c ]) [ ] (parts p);
  # Does path p pass strictly below directory w at any step? ".." is taken
  # as written, so "W/x/../../etc" passes below W (through x, which the
  # guest can make a link to anywhere), as virtiofs-launch's own check.
  passesBelow =
    w: p:
    let
      wn = normal w;
      below = st: lib.length st > lib.length wn && lib.take (lib.length wn) st == wn;
      step =
        acc: c:
        let
          st = if c == ".." then lib.take (lib.length acc.st - 1) acc.st else acc.st ++ [ c ];
        in
        {
          inherit st;
          hit = acc.hit || below st;
        };
    in
    (lib.foldl' step {
      st = [ ];
      hit = false;
    } (parts p)).hit;
  # A share's source or socket as virtiofs-launch takes it: a relative one
  # under the VM's directory in the state dir.
  absOf = name: p: if lib.hasPrefix "/" p then p else "${cfg.stateDir}/${name}/${p}";
  # Is p, taken lexically, dir or below it?
  under =
    dir: p:
    let
      d = normal dir;
    in
    lib.take (lib.length d) (normal p) == d;
  # p taken lexically, as a path.
  normalPath = p: "/" + lib.concatStringsSep "/" (normal p);

  # A share whose source or socket lies inside another VM's writable
  # share: that guest's root makes directories and links of host uid 0
  # there, which pass as root's, and so could make it lead anywhere (the
  # source: another directory served; the socket: bound, or a stale one
  # removed, in a directory of root's). virtiofs-launch refuses this within
  # one VM, and across VMs follows no link below another VM's writable
  # source when it can read that VM's runner; here it fails the evaluation.
  nestedShares = lib.concatLists (
    lib.mapAttrsToList (
      a: ga:
      lib.concatMap (
        w:
        lib.concatLists (
          lib.mapAttrsToList (
            b: gb:
            lib.concatMap (
              t:
              map
                (x: "vm ${b}: share '${t.tag}' (${x.what}) lies inside vm ${a}'s writable share '${w.tag}' (${w.source}), whose guest could make it lead anywhere: do not nest shares in a writable one")
                (
                  lib.filter (x: passesBelow w.source x.path) (
                    [
                      {
                        what = t.source;
                        path = absOf b t.source;
                      }
                    ]
                    ++ lib.optional (t.socket or null != null) {
                      what = "socket ${absOf b t.socket}";
                      path = absOf b t.socket;
                    }
                  )
                )
            ) (lib.optionals (b != a) (virtiofsShares gb))
          ) guests
        )
      ) (writableOutside a ga)
    ) guests
  );

  # microvm.vms.NAME -> services.microvm-host-helpers.vms.NAME
  fromVm =
    name: vm:
    let
      guest = guestOf name vm;
      g = guest.microvm;
      isFlake = vm.flake != null;
      threads = hlib.threadPoolSize g.virtiofsd.threadPoolSize;
      shares = virtiofsShares guest;
      # Written by the guest, outside the state dir: the virtiofsd unit's
      # sandbox must let it write there.
      writable = if guest == null then [ ] else writableOutside name guest;
    in
    {
      autostart = mkDefault vm.autostart;
      restartIfChanged = mkDefault vm.restartIfChanged;
    }
    // lib.optionalAttrs (guest != null) {
      runner = mkDefault g.declaredRunner;
      toplevel = mkDefault (if isFlake then null else guest.system.build.toplevel);
      flake = mkDefault (
        if !isFlake then
          null
        else if vm.updateFlake != null then
          vm.updateFlake
        else
          toString vm.flake
      );
      updateCurrent = mkDefault (!(isFlake && vm.updateFlake != null));
      shares = lib.listToAttrs (
        map (s: {
          name = s.tag;
          value = lib.mapAttrs (_: mkDefault) {
            inherit (s) readOnly cache posixAcl;
            inherit (g.virtiofsd) inodeFileHandles;
            tag = if g.hypervisor == "crosvm" then s.tag else null;
            extraArgs = hlib.splitArgs (g.virtiofsd.extraArgs ++ s.extraArgs);
          };
        }) shares
      );
      virtiofsd = {
        package = mkDefault g.virtiofsd.package;
        group = mkDefault g.virtiofsd.group;
        threadPoolSize = mkDefault (if lib.isAttrs threads then null else threads);
        readWritePaths = map (s: normalPath s.source) writable;
        # The sandbox hides /run/user but for the shares bound in.
        readOnlyPaths = lib.filter (under "/run/user") (
          map (s: normalPath (absOf name s.source)) (lib.filter (s: s.readOnly) shares)
        );
      };
    };

  guests = lib.filterAttrs (_: g: g != null) (lib.mapAttrs guestOf mvm.vms);

  # microvm.nix's `microvm` command, from microvm.nix's own source: the
  # directory three levels above the file that declares microvm.host.enable
  # (nixos-modules/host/options.nix).
  microvmCommand =
    let
      roots = map (f: dirOf (dirOf (dirOf (toString f)))) options.microvm.host.enable.declarations;
      found = lib.filter (r: builtins.pathExists "${r}/pkgs/microvm-command.nix") roots;
    in
    if found == [ ] then
      null
    else
      pkgs.callPackage "${lib.head found}/pkgs/microvm-command.nix" { inherit (cfg) stateDir; };
in
{
  config = lib.optionalAttrs hasMicrovmNix (
    lib.mkIf (cfg.enable && cfg.fromMicrovmNix) {
      # microvm.nix's units, its install-microvm-NAME and microvm-set-booted@
      # services and the rest of its host module: all replaced by ours.
      microvm.host.enable = false;
      # What the host module would have set: the declared VMs to autostart.
      microvm.autostart = lib.filter (n: mvm.vms.${n}.autostart) (lib.attrNames mvm.vms);

      services.microvm-host-helpers = {
        vms = lib.mapAttrs fromVm mvm.vms;
        autostart = mvm.autostart;
        stateDir = mkDefault mvm.stateDir;
        startupTimeout = mkDefault mvm.host.startupTimeout;
        useNotifySockets = mkDefault mvm.host.useNotifySockets;
        ksm = mkDefault true;
        bridgeHelper.enable = mkDefault true;
        microvmCommand = mkDefault microvmCommand;
      };

      # The tmpfiles rules of microvm.nix's host module for share sources:
      # made for the VM user when missing, left alone when they exist. (A
      # source with a space is quoted, as microvm.nix's tmpfiles.settings
      # did.)
      systemd.tmpfiles.rules = lib.concatLists (
        lib.mapAttrsToList (
          _: guest:
          map (
            s:
            hlib.tmpfilesRule {
              type = "d";
              path = s.source;
              mode = ":0775";
              user = ":microvm";
              group = ":kvm";
            }
          ) (lib.filter (s: lib.hasPrefix "/" s.source && s.source != "/nix/store") guest.microvm.shares)
        ) guests
      );

      assertions =
        lib.concatLists (
          lib.mapAttrsToList (name: vm: [
            {
              assertion = vm.config != null -> vm.flake == null;
              message = "vm ${name}: Fully-declarative VMs cannot also set a flake!";
            }
            {
              assertion = vm.config != null -> vm.updateFlake == null;
              message = "vm ${name}: Fully-declarative VMs cannot set a updateFlake!";
            }
          ]) mvm.vms
        )
        ++ map (message: {
          assertion = false;
          inherit message;
        }) nestedShares
        # A writable share of the state dir, a VM's directory or one above
        # them: the guest's root makes links and directories of host uid 0
        # there, a `current` of root's in a VM's directory among them, which
        # the helpers take for one root made when the VM has no pin.
        ++ lib.concatLists (
          lib.mapAttrsToList (
            name: guest:
            map (s: {
              assertion = false;
              message = "vm ${name}: writable share '${s.tag}' (${s.source}) holds the state dir or a VM's directory, where its guest's root would make links and directories of host uid 0 (a `current` the helpers take for one root made, for a VM without a pin): share a directory below the VM's directory, or make it readOnly";
            }) (
              lib.filter (
                s:
                !s.readOnly
                && lib.any (d: under (absOf name s.source) d) (
                  [ cfg.stateDir ] ++ map (n: "${cfg.stateDir}/${n}") (lib.attrNames mvm.vms)
                )
              ) (virtiofsShares guest)
            )
          ) guests
        )
        ++ lib.concatLists (
          lib.mapAttrsToList (
            name: guest:
            let
              bad = what: args: map (a: {
                assertion = false;
                message = "vm ${name}: ${what} element ${builtins.toJSON a} holds shell syntax (a quote, a backslash, $, a backtick, ; & | < > or a parenthesis, a newline, a brace expansion, a word starting with # or ~, a ~ after NAME= or its :, a glob: * ? or [...]), which microvm.nix's shell line acted on and this module does not (it splits at white space alone): give the arguments as virtiofsd is to see them";
              }) (lib.filter hlib.shellSyntax args);
            in
            bad "microvm.virtiofsd.extraArgs" guest.microvm.virtiofsd.extraArgs
            ++ lib.concatMap (s: bad "microvm.shares.*.extraArgs (share '${s.tag}')" s.extraArgs) (
              virtiofsShares guest
            )
          ) guests
        )
        ++ lib.mapAttrsToList (
          name: guest:
          let
            t = hlib.threadPoolSize guest.microvm.virtiofsd.threadPoolSize;
          in
          {
            assertion = !(lib.isAttrs t);
            message = "vm ${name}: ${if lib.isAttrs t then t.error else ""}";
          }
        ) guests;

      warnings = lib.concatLists (
        lib.mapAttrsToList (
          name: guest:
          lib.optional (
            lib.any (i: i.type == "bridge") guest.microvm.interfaces && !cfg.bridgeHelper.enable
          ) "vm ${name}: interfaces of type \"bridge\" need services.microvm-host-helpers.bridgeHelper.enable"
        ) guests
      );
    }
  );
}
