# What the host of hosts.nix must get, as a list of failures (empty: all
# good), from the evaluated `config` (lib.evalModules with the stubs, or a
# real NixOS evaluation: only options both have are read).
{
  lib,
  config,
  options,
  form,
}:
let
  inherit (builtins) toJSON;
  mvnix = form == "microvm-nix";
  sd = "/var/lib/microvms";
  svc = config.systemd.services;
  h = config.services.microvm-host-helpers;
  has = n: svc ? ${n};
  get = n: svc.${n} or { };

  expect = what: got: want: lib.optional (got != want) "${what}: expected ${toJSON want}, got ${toJSON got}";
  ok = what: cond: lib.optional (!cond) what;
  contains = what: list: x: ok "${what}: ${toJSON x} missing in ${toJSON list}" (lib.elem x list);
  lacks = what: list: x: ok "${what}: ${toJSON x} should not be in ${toJSON list}" (!lib.elem x list);
  env = n: (get n).environment or { };
  sc = n: (get n).serviceConfig or { };
  words = s: lib.filter (w: lib.isString w && w != "") (builtins.split " " s);

  vms = [
    "net"
    "files"
    "pass"
  ] ++ lib.optional mvnix "flakey";
  helpers = [
    "microvm-tap-interfaces"
    "microvm-macvtap-interfaces"
    "microvm-pci-devices"
    "microvm-virtiofsd"
  ];
  runnerOf = n: h.vms.${n}.runner;
  current = n: h.vms.${n}.currentRunner;
  filesRunner = current "files";
  virtiofsd = (if mvnix then h.vms.files.virtiofsd.package else h.virtiofsdPackage);
  vfsOpts = words ((env "microvm-virtiofsd@files").MICROVM_VIRTIOFS_OPTIONS or "");
  # Does a switch (switch-to-configuration) restart unit@inst when its
  # units changed? It reads X-RestartIfChanged of [Service] in the
  # template's file, the template's drop-in, then the instance's (inst
  # null: a VM the host does not declare): an empty value clears those
  # before it, the last one counts, none is true. NixOS writes `false` for
  # restartIfChanged = false, before the values of serviceConfig.
  xri =
    s:
    lib.optional (!(s.restartIfChanged or true)) "false"
    ++ map (v: if v == true then "true" else if v == false then "false" else toString v) (
      lib.toList ((s.serviceConfig or { }).X-RestartIfChanged or [ ])
    );
  fileXri =
    unit:
    map (lib.removePrefix "X-RestartIfChanged=") (
      lib.filter (lib.hasPrefix "X-RestartIfChanged=") (
        lib.splitString "\n" (builtins.readFile (../../units + "/${unit}@.service"))
      )
    );
  restartsOnSwitch =
    unit: inst:
    let
      vals = lib.foldl' (acc: v: if v == "" then [ ] else acc ++ [ v ]) [ ] (
        fileXri unit ++ xri (get "${unit}@") ++ lib.optionals (inst != null) (xri (get "${unit}@${inst}"))
      );
    in
    vals == [ ] || lib.elem (lib.last vals) [
      "1"
      "yes"
      "true"
      "on"
    ];
  # The warnings about flakey's share settings (below).
  flakeyWarnings = lib.filter (lib.hasPrefix "services.microvm-host-helpers.vms.flakey: ") config.warnings;
  flakeyWarning = lib.concatStrings flakeyWarnings;
in
# Drop-ins: every per-VM unit is a drop-in on the packaged template, with
# no PATH of its own (it would replace the template's).
lib.concatMap (
  n:
  lib.concatMap (
    u:
    let
      name = "${u}@${n}";
    in
    ok "systemd.services.\"${name}\" missing" (has name)
    ++ expect "${name}.overrideStrategy" (get name).overrideStrategy or null "asDropin"
    ++ ok "${name}: a PATH of its own: ${(env name).PATH or ""}" (!(env name ? PATH))
  ) ([ "microvm" ] ++ helpers)
) vms
# A switch restarts a declared VM as its restartIfChanged says (microvm.nix:
# microvm.vms.NAME.restartIfChanged), its helper units only with it (they
# are PartOf= it), and never a VM the host does not declare (an imperative
# one, `microvm -c`), nor its helpers: microvm.nix's templates have
# restartIfChanged = false.
++ lib.concatMap (
  n:
  expect "a switch restarts microvm@${n}" (restartsOnSwitch "microvm" n) h.vms.${n}.restartIfChanged
  ++ lib.optionals mvnix (
    expect "microvm@${n} follows microvm.vms.${n}.restartIfChanged" h.vms.${n}.restartIfChanged
      config.microvm.vms.${n}.restartIfChanged
  )
  ++ lib.concatMap (u: ok "a switch restarts ${u}@${n} on its own" (!restartsOnSwitch u n)) helpers
) vms
++ lib.concatMap (
  u: ok "a switch restarts ${u}@ of a VM the host does not declare" (!restartsOnSwitch u null)
) ([ "microvm" ] ++ helpers)
# Readiness: the notify runner's VM is Type=notify, the others simple.
++ expect "microvm@files Type" (get "microvm@files").serviceConfig.Type or null "notify"
++ expect "microvm@net Type" (get "microvm@net").serviceConfig.Type or null "simple"
++ expect "microvm@pass Type" (get "microvm@pass").serviceConfig.Type or null "simple"
# Host settings of each helper.
++ expect "MICROVM_TAP_OPTIONS of net" (env "microvm-tap-interfaces@net").MICROVM_TAP_OPTIONS or null "--bridge br0 --mtu 9000 --qdisc default"
++ expect "MICROVM_MACVTAP_OPTIONS of pass" (env "microvm-macvtap-interfaces@pass").MICROVM_MACVTAP_OPTIONS or null "--mtu 1500"
++ expect "MICROVM_PCI_OPTIONS of pass" (env "microvm-pci-devices@pass").MICROVM_PCI_OPTIONS or null "--bind-group"
++ expect "MICROVM_PCI_OPTIONS of net" (env "microvm-pci-devices@net").MICROVM_PCI_OPTIONS or null ""
# The package's main program (meta.mainProgram), as microvm.nix's lib.getExe.
++ contains "MICROVM_VIRTIOFS_OPTIONS of files" vfsOpts "--virtiofsd=${virtiofsd}/bin/${virtiofsd.meta.mainProgram}"
++ contains "MICROVM_VIRTIOFS_OPTIONS of files" vfsOpts "--virtiofsd-dialect=rust"
++ contains "MICROVM_VIRTIOFS_OPTIONS of files" vfsOpts "--group=kvm"
++ ok "MICROVM_VIRTIOFS_OPTIONS of files: no --thread-pool-size (microvm.nix's \"`nproc`\" is the default)" (
  !lib.any (lib.hasPrefix "--thread-pool-size") vfsOpts
)
++ expect "microvm-virtiofsd@files ReadWritePaths" (get "microvm-virtiofsd@files").serviceConfig.ReadWritePaths or null [ "/home/alice/vm" ]
# A deeper ReadWritePaths= wins over the unit's ProtectHome=read-only;
# ProtectHome=no would make all of /home and /root writable.
++ ok "microvm-virtiofsd@files: ProtectHome changed" (!(sc "microvm-virtiofsd@files" ? ProtectHome))
++ ok "microvm-virtiofsd@net: ProtectHome changed" (!(sc "microvm-virtiofsd@net" ? ProtectHome))
# The templates: virtiofsd on virtiofs-launch's PATH, and named (its main
# program), the start timeout.
++ contains "MICROVM_VIRTIOFS_OPTIONS of microvm-virtiofsd@" (words ((env "microvm-virtiofsd@").MICROVM_VIRTIOFS_OPTIONS or "")
) "--virtiofsd=${h.virtiofsdPackage}/bin/${h.virtiofsdPackage.meta.mainProgram}"
++ contains "MICROVM_VIRTIOFS_OPTIONS of microvm-virtiofsd@" (words ((env "microvm-virtiofsd@").MICROVM_VIRTIOFS_OPTIONS or "")
) "--virtiofsd-dialect=rust"
++ ok "microvm-virtiofsd@ PATH without virtiofsd: ${(env "microvm-virtiofsd@").PATH or ""}" (
  lib.hasInfix "${h.virtiofsdPackage}/bin" ((env "microvm-virtiofsd@").PATH or "")
)
++ expect "microvm@ TimeoutSec" (get "microvm@").serviceConfig.TimeoutSec or null 150
# The VM's directory, as microvm.nix's microvm@ had it: a host's own
# ExecStartPre= or preStart with relative paths runs there; "-": a stop
# runs even when the directory is gone (teardown needs none of it).
++ expect "microvm@ WorkingDirectory" (sc "microvm@").WorkingDirectory or null "-${sd}/%i"
++ ok "microvm@ has a PATH (coreutils for the runner scripts)" ((env "microvm@") ? PATH)
# machined: the registered VM waits for it.
++ contains "microvm@pass wants" (get "microvm@pass").wants or [ ] "systemd-machined.service"
++ contains "microvm@pass after" (get "microvm@pass").after or [ ] "systemd-machined.service"
++ lacks "microvm@net wants" (get "microvm@net").wants or [ ] "systemd-machined.service"
# install-microvm-NAME: current (toplevel, flake) before the VM starts.
++ lib.concatMap (
  n:
  let
    i = get "install-microvm-${n}";
  in
  ok "install-microvm-${n} missing" (has "install-microvm-${n}")
  ++ ok "install-microvm-${n} ExecStart: ${toJSON (i.serviceConfig.ExecStart or null)}" (
    lib.hasSuffix "/bin/systemd-tmpfiles --create --prefix=${sd}/${n}" (i.serviceConfig.ExecStart or "")
  )
  ++ expect "install-microvm-${n} Type" (i.serviceConfig.Type or null) "oneshot"
  ++ contains "install-microvm-${n} before" (i.before or [ ]) "microvm@${n}.service"
  ++ contains "install-microvm-${n} before" (i.before or [ ]) "microvm-tap-interfaces@${n}.service"
  ++ contains "install-microvm-${n} partOf" (i.partOf or [ ]) "microvm@${n}.service"
  # At boot with microvms.target, after the host-wide run of the rules
  # (the state dir it makes the VM's directory in).
  ++ contains "install-microvm-${n} wantedBy" (i.wantedBy or [ ]) "microvms.target"
  ++ contains "install-microvm-${n} after" (i.after or [ ]) "systemd-tmpfiles-setup.service"
  ++ contains "microvm@${n} wants" ((get "microvm@${n}").wants or [ ]) "install-microvm-${n}.service"
  ++ expect "install-microvm-${n} script (microvm.nix's)" (i.script or "") ""
) vms
# Per-share settings: the runner `current` names carries them.
++ ok "files: currentRunner is not a copy with settings" (filesRunner != runnerOf "files")
++ expect "net: currentRunner" (current "net") (runnerOf "net")
++ expect "files: the settings files" (filesRunner.files or null) (
  [
    {
      path = "share/microvm/virtiofs/data/read-only";
      text = "true\n";
    }
    {
      path = "share/microvm/virtiofs/data/cache";
      text = "auto\n";
    }
    {
      path = "share/microvm/virtiofs/data/posix-acl";
      text = "true\n";
    }
    {
      path = "share/microvm/virtiofs/data/inode-file-handles";
      text = "prefer\n";
    }
    {
      path = "share/microvm/virtiofs/home/read-only";
      text = "false\n";
    }
    {
      path = "share/microvm/virtiofs/home/cache";
      text = "auto\n";
    }
    {
      path = "share/microvm/virtiofs/home/posix-acl";
      text = "true\n";
    }
    {
      path = "share/microvm/virtiofs/home/inode-file-handles";
      text = "prefer\n";
    }
    {
      path = "share/microvm/virtiofs/home/extra-args";
      text = "--announce-submounts\n--log-level\ndebug\n";
    }
  ]
)
++ expect "files: currentRunner keeps supportsNotifySocket" (filesRunner.supportsNotifySocket or null) true
++ expect "files: currentRunner.unwrapped" (filesRunner.unwrapped or null) (runnerOf "files")
# Root's pin of each VM's runner whose `current` the host declares (not of
# a VM updated by hand with `microvm -u`): common/vm.c takes it.
++ expect "environment.etc.\"microvm/runners/net\".source" (
  config.environment.etc."microvm/runners/net".source or null
) (runnerOf "net")
++ expect "environment.etc.\"microvm/runners/files\".source" (
  config.environment.etc."microvm/runners/files".source or null
) filesRunner
++ ok "environment.etc.\"microvm/runners/flakey\" set for a VM updated by hand" (
  !(config.environment.etc ? "microvm/runners/flakey")
)
# A runner that `microvm -u` builds for flakey has no settings files:
# virtiofs-launch reads its shares' settings from microvm.nix's own
# scripts in it, so nothing is lost and the evaluation warns of nothing.
++ expect "warnings about flakey's share settings" (lib.length flakeyWarnings) 0
# tmpfiles: the state dir, each VM's directory and links.
++ lib.concatMap (contains "systemd.tmpfiles.rules" config.systemd.tmpfiles.rules) (
  [
    "d ${sd} 0775 microvm kvm -"
    "d ${sd}/net :0755 microvm kvm -"
    "L+ ${sd}/net/current - - - - ${runnerOf "net"}"
    "L+ ${sd}/files/current - - - - ${filesRunner}"
    "L+ ${sd}/pass/current - - - - ${runnerOf "pass"}"
  ]
  ++ lib.optionals mvnix [
    "L+ ${sd}/net/toplevel - - - - ${h.vms.net.toplevel}"
    "L ${sd}/flakey/current - - - - ${current "flakey"}"
    "f ${sd}/flakey/flake 0644 microvm kvm - git+file:///etc/nixos"
    "d /srv/files :0775 :microvm :kvm -"
    "d /home/alice/vm :0775 :microvm :kvm -"
  ]
)
++ lacks "systemd.tmpfiles.rules (the host's store is no share source to make)" config.systemd.tmpfiles.rules "d /nix/store :0775 :microvm :kvm -"
++ lib.optionals mvnix (
  expect "toplevel of net" (h.vms.net.toplevel.name or null) "nixos-system-net-26.05"
  ++ expect "toplevel of flakey (a flake VM)" h.vms.flakey.toplevel null
)
# The VM user, its group, its memlock limit; kernel modules.
++ expect "users.users.microvm.isSystemUser" (config.users.users.microvm.isSystemUser or null) true
++ expect "users.users.microvm.group" (config.users.users.microvm.group or null) "kvm"
++ expect "users.users.microvm.home" (config.users.users.microvm.home or null) sd
++ ok "users.groups.kvm missing" (config.users.groups ? kvm)
++ lib.concatMap (
  t:
  ok "security.pam.loginLimits: no ${t} memlock infinity for microvm" (
    lib.any (
      l: l.domain == "microvm" && l.item == "memlock" && l.type == t && toString l.value == "infinity"
    ) config.security.pam.loginLimits
  )
) [ "soft" "hard" ]
++ contains "boot.kernelModules" config.boot.kernelModules "tun"
++ contains "boot.kernelModules" config.boot.kernelModules "vhost_net"
# microvms.target wants the autostarted VMs, and only those.
++ expect "systemd.targets.microvms.wants" (lib.sort lib.lessThan config.systemd.targets.microvms.wants) (
  lib.sort lib.lessThan (
    [
      "microvm@net.service"
      "microvm@files.service"
    ]
    ++ lib.optionals mvnix [
      "microvm@flakey.service"
      "microvm@imperative.service"
    ]
  )
)
++ contains "systemd.targets.microvms.wantedBy" config.systemd.targets.microvms.wantedBy "multi-user.target"
++ contains "systemd.packages" config.systemd.packages (h.package.override { inherit (h) stateDir; })
# The state dir nosuid and nodev from boot (units/microvm-state-dir.service).
++ contains "microvm-state-dir wantedBy" ((get "microvm-state-dir").wantedBy or [ ]) "local-fs.target"
++ expect "microvm-state-dir restartIfChanged (every VM requires it)" (
  (get "microvm-state-dir").restartIfChanged or true
) false
# What microvm.nix's host module set up beside its units.
++ (
  if mvnix then
    expect "microvm.host.enable" config.microvm.host.enable false
    # microvm.nix's own units stepped aside.
    ++ ok "microvm-set-booted@ is still defined" (!has "microvm-set-booted@")
    ++ ok "microvm@ still execs current/bin/microvm-run itself" (!(sc "microvm@" ? ExecStart))
    ++ ok "microvm-tap-interfaces@ still runs bin/tap-up" (!(sc "microvm-tap-interfaces@" ? ExecStart))
    ++ lacks "boot.kernelModules (microvm.nix's own list)" config.boot.kernelModules "tap"
    ++ expect "microvm.autostart" (lib.sort lib.lessThan config.microvm.autostart) [
      "files"
      "flakey"
      "imperative"
      "net"
    ]
    ++ expect "hardware.ksm.enable" config.hardware.ksm.enable true
    ++ expect "security.wrappers.qemu-bridge-helper.source" (
      config.security.wrappers.qemu-bridge-helper.source or null
    ) "${h.bridgeHelper.package}/libexec/qemu-bridge-helper"
    ++ expect "security.wrappers.qemu-bridge-helper: only for group kvm" (
      let
        w = config.security.wrappers.qemu-bridge-helper or { };
      in
      "${w.group or "?"} ${w.permissions or "?"}"
    ) "kvm u+rx,g+x"
    ++ expect "security.wrappers.qemu-bridge-helper.capabilities" (
      config.security.wrappers.qemu-bridge-helper.capabilities or null
    ) "cap_net_admin+ep"
    ++ expect "environment.etc.\"qemu/bridge.conf\".text" (
      config.environment.etc."qemu/bridge.conf".text or null
    ) "allow all\n"
    ++ expect "the microvm command" (lib.filter (p: (p.name or "") == "microvm") config.environment.systemPackages
    ) [ h.microvmCommand ]
    ++ ok "the microvm command is not given the state dir" (lib.hasInfix "STATE_DIR=${sd}" (h.microvmCommand.text or ""))
    ++ expect "microvm@ TimeoutSec is microvm.host.startupTimeout" (
      (get "microvm@").serviceConfig.TimeoutSec or null
    ) config.microvm.host.startupTimeout
  else
    expect "hardware.ksm.enable" config.hardware.ksm.enable false
    ++ ok "security.wrappers.qemu-bridge-helper set" (!(config.security.wrappers ? qemu-bridge-helper))
    ++ ok "/etc/qemu/bridge.conf set" (!(config.environment.etc ? "qemu/bridge.conf"))
)
# Ours (and microvm.nix's that it took over); a NixOS evaluation of this
# bare host has failing assertions of its own (no file systems).
++ lib.concatMap (a: ok "assertion: ${a.message}" a.assertion) (
  lib.filter (a: lib.hasInfix "microvm" a.message || lib.hasPrefix "vm " a.message) config.assertions
)
++ map (w: "warning: ${w}") (lib.filter (w: lib.hasInfix "microvm" w && !lib.elem w flakeyWarnings) config.warnings)
