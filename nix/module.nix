# NixOS module: the microvm-host-helpers units for the MicroVMs of a host.
#
# On a host that imports microvm.nix's host module and declares its VMs
# there (microvm.vms.NAME), one option switches to the helpers:
#
#   services.microvm-host-helpers.enable = true;
#
# The VMs, their runners, notify readiness, autostart and each share's
# settings are taken from microvm.nix's own options (./microvm-nix.nix),
# microvm.nix's host units step aside (microvm.host.enable = false), and
# what its host module set up beside them is set up here too. Stand-alone,
# without microvm.nix:
#
#   imports = [ /path/to/microvm-host-helpers/nix/module.nix ];
#   services.microvm-host-helpers = {
#     enable = true;
#     vms.web = {
#       runner = webConfig.config.microvm.declaredRunner;  # optional
#       tap.bridge = "br0";
#       tap.mtu = 9000;
#     };
#   };
#
# The units come from the package through systemd.packages; everything per
# host or per VM is a drop-in NixOS writes from these options.
{
  config,
  lib,
  pkgs,
  options,
  ...
}:
let
  cfg = config.services.microvm-host-helpers;
  hlib = import ./lib.nix { inherit lib; };
  inherit (lib)
    mkEnableOption
    mkIf
    mkOption
    types
    ;

  words = lib.concatStringsSep " ";
  hasMicrovmNix = lib.hasAttrByPath [ "microvm" "host" "enable" ] options;
  helperUnits = [
    "microvm-tap-interfaces"
    "microvm-macvtap-interfaces"
    "microvm-pci-devices"
    "microvm-virtiofsd"
  ];
  # A VM's name is the instance of its units (%i), a component of paths
  # (its directory in the state dir, its pin /etc/microvm/runners/NAME, the
  # unit files) and a word of install-microvm-NAME's command line. Only
  # what systemd takes as an instance as written passes: letters, digits
  # and : _ . - (a space, % or another character makes a unit name systemd
  # ignores while the tmpfiles rules and the pin still act on the path; a
  # backslash it keeps in %i but unescapes in ExecStart=; a / makes a path
  # of several steps), not . or .. (the state dir itself, its parent), and
  # short enough for the longest unit name (255 bytes).
  maxNameLength = 255 - lib.stringLength "microvm-macvtap-interfaces@.service";
  badNames = lib.filter (
    n: builtins.match "[A-Za-z0-9:_.-]+" n == null || n == "." || n == ".." || lib.stringLength n > maxNameLength
  );
  badNamesMessage =
    option: names:
    "${option}: the VM names ${builtins.toJSON names} are not names systemd takes as written for the instance of microvm@NAME.service (%i), which is also the VM's directory in the state dir and its pin /etc/microvm/runners/NAME: give letters, digits and : _ . - alone, not \".\" or \"..\", at most ${toString maxNameLength} bytes";

  # A share's tag names its directory share/microvm/virtiofs/TAG/ in the
  # runner, where its settings files go: one path component, as DESIGN.md
  # has it (not empty, . or .., no /, no control character); so is the
  # `tag` setting, a file of one line.
  badTag = t: t == "" || t == "." || t == ".." || builtins.match "[^/[:cntrl:]]+" t == null;

  # The virtiofsd unit keeps /run/user out of reach (InaccessiblePaths=: the
  # user managers' and session buses' sockets let root in); a share under it
  # needs the drop-in of runUserSandbox below. Under /home and /root,
  # ReadWritePaths= alone is enough: a deeper path wins over the unit's
  # ProtectHome=read-only (ProtectHome=no would make the whole of /home and
  # /root writable: ProtectSystem=strict leaves them to ProtectHome=).
  underRunUser = p: p == "/run/user" || lib.hasPrefix "/run/user/" p;
  # The unit's sandbox for a VM with shares under /run/user: /run/user an
  # empty read-only tmpfs with only those shares bound in, the unit's other
  # InaccessiblePaths= kept (units/microvm-virtiofsd@.service; test-nix.sh
  # checks the two lists agree), and /home and /root read-only by name, as
  # ProtectHome=read-only made them (its own entry for /run/user, at the
  # tmpfs's path, would take the tmpfs's place). The reset comes first
  # (mkBefore): the host's own InaccessiblePaths= for the unit stay.
  # tests/units/test-units-sandbox.sh probes it.
  runUserSandbox = rw: ro: {
    ProtectHome = false;
    ReadOnlyPaths = [
      "-/home"
      "-/root"
    ];
    InaccessiblePaths = lib.mkBefore [
      ""
      "-/run/systemd/private"
      "-/run/dbus/system_bus_socket"
    ];
    TemporaryFileSystem = "/run/user:ro";
    BindPaths = rw;
    BindReadOnlyPaths = ro;
  };

  shareOptions = {
    options = {
      readOnly = mkOption {
        type = types.nullOr types.bool;
        default = null;
        description = "Serve the share read-only (file read-only). null: no file, writable.";
      };
      cache = mkOption {
        type = types.nullOr (
          types.enum [
            "auto"
            "always"
            "metadata"
            "never"
          ]
        );
        default = null;
        description = "virtiofsd's cache policy (file cache). null: the daemon's default.";
      };
      posixAcl = mkOption {
        type = types.nullOr types.bool;
        default = null;
        description = "POSIX ACLs and extended attributes (file posix-acl). null: on.";
      };
      inodeFileHandles = mkOption {
        type = types.nullOr (
          types.enum [
            "never"
            "prefer"
            "mandatory"
          ]
        );
        default = null;
        description = "virtiofsd's --inode-file-handles (file inode-file-handles). null: not given.";
      };
      tag = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "The tag virtiofsd announces (--tag, file tag; crosvm needs it). null: none.";
      };
      extraArgs = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "More arguments for this share's virtiofsd, one an element (file extra-args).";
      };
    };
  };

  vmOptions =
    { name, config, ... }:
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
            pointed at it (at boot, on activation and before each start, by
            install-microvm-${name}.service), and, with updateCurrent, root
            pins it as /etc/microvm/runners/${name}, which the helpers take
            instead of `current`; when null, it is managed by hand (e.g.
            with the `microvm` command).
          '';
        };
        currentRunner = mkOption {
          type = types.nullOr types.package;
          readOnly = true;
          default =
            let
              files = hlib.sharesFiles config.shares;
              r = config.runner;
            in
            if r == null || files == [ ] then
              r
            else
              pkgs.runCommand "${r.name or "microvm-${name}"}-host-helpers" {
                preferLocalBuild = true;
                allowSubstitutes = false;
                passthru = builtins.intersectAttrs {
                  supportsNotifySocket = null;
                  registerWithMachined = null;
                  canShutdown = null;
                  tapMultiQueue = null;
                  hypervisor = null;
                  machineId = null;
                } r // {
                  unwrapped = r;
                  inherit files;
                };
                meta.mainProgram = "microvm-run";
              } (hlib.addFilesScript r files);
          defaultText = lib.literalMD "`runner`, with the settings files of `shares` added";
          description = ''
            What `current` points at: `runner`, or, when `shares` has
            settings, a copy of it with their files added in
            share/microvm/virtiofs/TAG/ (see virtiofs-launch(8)).
          '';
        };
        notify = mkOption {
          type = types.bool;
          default = config.runner != null && (config.runner.supportsNotifySocket or false);
          defaultText = lib.literalExpression "runner.supportsNotifySocket or false";
          description = ''
            The runner sends READY=1 to NOTIFY_SOCKET itself (microvm.nix:
            `declaredRunner.supportsNotifySocket`): microvm@${name} gets
            Type=notify, so units ordered after it wait until the guest is up.
          '';
        };
        restartIfChanged = mkOption {
          type = types.bool;
          default = false;
          description = ''
            Restart microvm@${name} on a switch that changes its runner or
            its host settings (microvm.nix: microvm.vms.NAME.restartIfChanged).
            A VM not in `vms` is never restarted by a switch.
          '';
        };
        updateCurrent = mkOption {
          type = types.bool;
          default = true;
          description = ''
            Re-point `current` (and rewrite `flake`) on every activation,
            and pin the runner; false: only make them when missing, and no
            pin (microvm.nix: a flake VM with updateFlake, updated with
            `microvm -u`). A runner built by hand lacks the settings files
            of `shares`; virtiofs-launch then reads each share's settings
            from microvm.nix's own scripts in it (bin/virtiofsd-run).
          '';
        };
        toplevel = mkOption {
          type = types.nullOr types.package;
          default = null;
          description = ''
            The guest's system.build.toplevel, linked as `toplevel` in the
            VM's directory: the `microvm` command's `-l` compares it with the
            runner's system.
          '';
        };
        flake = mkOption {
          type = types.nullOr types.str;
          default = null;
          description = "The flake reference written to `flake` in the VM's directory (microvm -l, microvm -u).";
        };
        shares = mkOption {
          type = types.attrsOf (types.submodule shareOptions);
          default = { };
          description = ''
            Per-share settings by virtiofs tag, written as files into
            `currentRunner` for virtiofs-launch (microvm.nix:
            microvm.shares.*.{readOnly,cache,posixAcl,extraArgs}). Needs
            `runner`: with none, the evaluation fails naming the shares.
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
          qdisc = mkOption {
            type = types.nullOr (types.enum [ "noqueue" "default" ]);
            default = null;
            description = ''
              Root qdisc of the VM's TAP interfaces (tap-setup --qdisc). null:
              tap-setup's default, noqueue (a multi_queue TAP then costs the
              kernel 0.2 MiB instead of 6.5); "default" keeps the kernel's own.
            '';
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
          package = mkOption {
            type = types.nullOr types.package;
            default = null;
            description = "This VM's virtiofsd (microvm.virtiofsd.package), its meta.mainProgram run; null: virtiofsdPackage.";
          };
          threadPoolSize = mkOption {
            type = types.nullOr (types.ints.between 0 hlib.maxThreads);
            default = null;
            description = "Threads a virtiofsd (--thread-pool-size, at most ${toString hlib.maxThreads}); null: the number of CPUs.";
          };
          group = mkOption {
            type = types.nullOr types.str;
            default = null;
            description = "Group of the virtiofsd sockets (virtiofs-launch --group); null: kvm.";
          };
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
            description = "More virtiofs-launch options, e.g. [ \"--rlimit-nofile=4096\" ].";
          };
          readWritePaths = mkOption {
            type = types.listOf types.str;
            default = [ ];
            description = ''
              Share sources outside the state dir that the guest writes to:
              the virtiofsd unit's sandbox makes the rest of the host
              read-only (ReadWritePaths=; BindPaths= for one under
              /run/user, which the sandbox hides).
            '';
          };
          readOnlyPaths = mkOption {
            type = types.listOf types.str;
            default = [ ];
            description = ''
              Share sources that the guest only reads. Only one under
              /run/user needs naming: the virtiofsd unit's sandbox hides
              /run/user but for the shares bound in (BindReadOnlyPaths=);
              it lets virtiofsd read the rest of the host.
            '';
          };
        };
      };
    };

  # The words of each helper's MICROVM_*_OPTIONS: systemd splits $VAR at
  # whitespace (and expands % in Environment=), so no word may hold those.
  optionWords =
    vm:
    let
      virtiofsd = if vm.virtiofsd.package != null then vm.virtiofsd.package else cfg.virtiofsdPackage;
    in
    {
      tap =
        lib.optionals (vm.tap.bridge != null) [
          "--bridge"
          vm.tap.bridge
        ]
        ++ lib.optionals (vm.tap.mtu != null) [
          "--mtu"
          (toString vm.tap.mtu)
        ]
        ++ lib.optionals (vm.tap.qdisc != null) [
          "--qdisc"
          vm.tap.qdisc
        ]
        ++ vm.tap.extraOptions;
      macvtap = vm.macvtap.extraOptions;
      pci = lib.optional vm.pci.bindGroup "--bind-group";
      # The package's main program (meta.mainProgram), as microvm.nix ran it.
      virtiofs =
        [ "--virtiofsd=${lib.getExe virtiofsd}" ]
        ++ lib.optional (cfg.virtiofsdDialect != null) "--virtiofsd-dialect=${cfg.virtiofsdDialect}"
        ++ lib.optional (vm.virtiofsd.threadPoolSize != null) "--thread-pool-size=${toString vm.virtiofsd.threadPoolSize}"
        ++ lib.optional (vm.virtiofsd.group != null) "--group=${vm.virtiofsd.group}"
        ++ map (a: "--extra-arg=${a}") vm.virtiofsd.extraArgs
        ++ vm.virtiofsd.extraOptions;
    };
  # What systemd splits at or expands, in an Environment= word as in a path.
  splitOrExpanded = s: builtins.match ".*[[:space:]\"'\\%].*" s != null;
  sharePaths = vm: vm.virtiofsd.readWritePaths ++ vm.virtiofsd.readOnlyPaths;
  # Paths systemd would split, expand or take for a relative one in the
  # virtiofsd drop-in (ReadWritePaths=, BindPaths=, whose ':' separates
  # source from destination); not in normal form ("//", "/./", "/../", a
  # trailing "/"), a path would miss the /run/user handling, or systemd
  # would refuse it with a warning.
  badPaths =
    vm:
    lib.filter (
      p:
      !(lib.hasPrefix "/" p)
      || splitOrExpanded p
      || (underRunUser p && lib.hasInfix ":" p)
      || builtins.match "(.*//.*|.*/\\.\\.?(/.*)?|.+/)" p != null
    ) (sharePaths vm);
  # The whole of what the sandbox hides or keeps read-only: systemd keeps
  # the stricter of two settings of the same path (ReadWritePaths=/home
  # stays read-only under ProtectHome=read-only), and /run/user or a
  # user's /run/user/UID would bring the user managers' sockets back in.
  wholePaths =
    vm:
    lib.filter (
      p:
      lib.elem p [
        "/home"
        "/root"
        "/run/user"
      ]
      || builtins.match "/run/user/[^/]+" p != null
    ) (sharePaths vm);
  # (an empty word, dropped, would let the next take its place:
  # "--bridge" "" made "--bridge -- NAME")
  badWord = w: w == "" || splitOrExpanded w;
  badWords = vm: lib.filter badWord (lib.concatLists (lib.attrValues (optionWords vm)));
  # MICROVM_VIRTIOFS_OPTIONS of the template, for the VMs not in vms.
  templateVirtiofsWords =
    [ "--virtiofsd=${lib.getExe cfg.virtiofsdPackage}" ]
    ++ lib.optional (cfg.virtiofsdDialect != null) "--virtiofsd-dialect=${cfg.virtiofsdDialect}";

  # The per-VM drop-ins. `path = mkForce [ ]`: NixOS gives every service a
  # PATH of its own, which in an instance's drop-in would replace the one
  # of the template's (virtiofsd's PATH holds virtiofsd).
  vmUnits =
    name: vm:
    let
      env = lib.mapAttrs (_: words) (optionWords vm);
      machined = vm.runner != null && (vm.runner.registerWithMachined or false);
      helper = extra: {
        overrideStrategy = "asDropin";
        path = lib.mkForce [ ];
        # Stopped and started with the VM (PartOf=), not by a switch.
        restartIfChanged = false;
      } // extra;
    in
    {
      "microvm@${name}" = {
        overrideStrategy = "asDropin";
        path = lib.mkForce [ ];
        serviceConfig = {
          Type = if vm.notify then "notify" else "simple";
          # Over the template's `false` (NixOS writes nothing for true):
          # cleared, then this VM's own.
          X-RestartIfChanged = [
            ""
            vm.restartIfChanged
          ];
        };
        # What the helper units' drop-ins hold too: they are not restarted
        # on their own (restartIfChanged false), only with the VM.
        restartTriggers =
          lib.optional (vm.currentRunner != null) vm.currentRunner
          ++ lib.attrValues env
          ++ vm.virtiofsd.readWritePaths
          ++ vm.virtiofsd.readOnlyPaths;
        wants = [ "install-microvm-${name}.service" ] ++ lib.optional machined "systemd-machined.service";
        after = lib.optional machined "systemd-machined.service";
      };
      "microvm-tap-interfaces@${name}" = helper { environment.MICROVM_TAP_OPTIONS = env.tap; };
      "microvm-macvtap-interfaces@${name}" = helper { environment.MICROVM_MACVTAP_OPTIONS = env.macvtap; };
      "microvm-pci-devices@${name}" = helper { environment.MICROVM_PCI_OPTIONS = env.pci; };
      "microvm-virtiofsd@${name}" = helper {
        environment.MICROVM_VIRTIOFS_OPTIONS = env.virtiofs;
        serviceConfig =
          let
            inherit (vm.virtiofsd) readWritePaths readOnlyPaths;
            rw = lib.filter underRunUser readWritePaths;
            # a path in both is writable, as outside /run/user
            ro = lib.filter (p: underRunUser p && !lib.elem p rw) readOnlyPaths;
          in
          {
            ReadWritePaths = lib.filter (p: !underRunUser p) readWritePaths;
          }
          // lib.optionalAttrs (rw != [ ] || ro != [ ]) (runUserSandbox rw ro);
      };
      # `current` (and `toplevel`, `flake`) from the tmpfiles rules below,
      # before the VM and its helpers start; restarted with the VM
      # (PartOf=), so a switch that restarts the VM re-points `current`
      # first. The name is microvm.nix's, for users' ordering on it.
      "install-microvm-${name}" = {
        description = "Install MicroVM '${name}'";
        # After the host-wide run of the same rules (the state dir).
        after = [ "systemd-tmpfiles-setup.service" "systemd-tmpfiles-resetup.service" ];
        before = [ "microvm@${name}.service" ] ++ map (u: "${u}@${name}.service") helperUnits;
        partOf = [ "microvm@${name}.service" ];
        wantedBy = [ "microvms.target" ];
        restartTriggers = lib.optional (vm.currentRunner != null) vm.currentRunner;
        serviceConfig = {
          Type = "oneshot";
          ExecStart = "${config.systemd.package}/bin/systemd-tmpfiles --create --prefix=${cfg.stateDir}/${name}";
          SyslogIdentifier = "install-microvm-${name}";
        };
      };
    };

  # tmpfiles(5) lines of a VM. systemd-tmpfiles works without following
  # the VM user's symlinks in the state dir. (hlib.tmpfilesRule: a flake
  # reference with % or a space is written as given.) The VM's directory
  # is made 0755 and given to the VM user; a mode the host gave it stays
  # (":0755"), as microvm.nix's install step chowned it, never chmod'ed it.
  vmRules =
    name: vm:
    let
      dir = "${cfg.stateDir}/${name}";
      plus = lib.optionalString vm.updateCurrent "+";
      rule = hlib.tmpfilesRule;
      vmFile = {
        mode = "0644";
        user = "microvm";
        group = "kvm";
      };
    in
    [ (rule (vmFile // { type = "d"; path = dir; mode = ":0755"; })) ]
    ++ lib.optional (vm.currentRunner != null) (rule {
      type = "L${plus}";
      path = "${dir}/current";
      argument = "${vm.currentRunner}";
    })
    ++ lib.optional (vm.toplevel != null) (rule {
      type = "L+";
      path = "${dir}/toplevel";
      argument = "${vm.toplevel}";
    })
    ++ lib.optional (vm.flake != null) (rule (vmFile // {
      type = "f${plus}";
      path = "${dir}/flake";
      argument = vm.flake;
    }));

  autostartNames = lib.unique (
    lib.attrNames (lib.filterAttrs (_: vm: vm.autostart) cfg.vms) ++ cfg.autostart
  );
in
{
  imports = [ ./microvm-nix.nix ];

  options.services.microvm-host-helpers = {
    enable = mkEnableOption "the MicroVM host helpers and their systemd units";

    fromMicrovmNix = mkOption {
      type = types.bool;
      default = hasMicrovmNix;
      defaultText = lib.literalMD "whether microvm.nix's host module is imported";
      description = ''
        Take the VMs from microvm.nix's host options (microvm.vms,
        microvm.autostart, microvm.stateDir, microvm.host.*) and switch
        microvm.nix's own host units off (microvm.host.enable = false).
      '';
    };

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
      description = "The virtiofsd that virtiofs-launch starts (its meta.mainProgram), unless a VM names its own.";
    };

    virtiofsdDialect = mkOption {
      type = types.nullOr (
        types.enum [
          "rust"
          "c"
        ]
      );
      default = "rust";
      description = ''
        The command-line dialect of the virtiofsd: "rust" for nixpkgs'
        virtiofsd, "c" for QEMU's old one, null to let virtiofs-launch tell
        it from the binary before the first share starts: an ELF file by its
        strings, anything else (a wrapper script) by one run with --help
        (see virtiofs-launch(8), Dialects).
      '';
    };

    stateDir = mkOption {
      type = types.path;
      default = "/var/lib/microvms";
      description = "Where the VM directories (current, booted, sockets, volumes) live (microvm.nix: microvm.stateDir).";
    };

    startupTimeout = mkOption {
      type = types.ints.positive;
      default = 150;
      description = "Seconds a VM may take to start, and to stop (TimeoutSec= of microvm@; microvm.nix: microvm.host.startupTimeout).";
    };

    useNotifySockets = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Every VM not listed in `vms` sends READY=1 itself (Type=notify for
        the microvm@ template; microvm.nix: microvm.host.useNotifySockets).
        A VM that does not will never count as started.
      '';
    };

    autostart = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = ''
        More VMs to start with microvms.target, e.g. ones managed with the
        `microvm` command (microvm.nix: microvm.autostart).
      '';
    };

    ksm = mkOption {
      type = types.bool;
      default = false;
      description = "Kernel same-page merging (hardware.ksm.enable, as a default; microvm.nix turns it on).";
    };

    bridgeHelper = {
      enable = mkOption {
        type = types.bool;
        default = false;
        description = ''
          The qemu-bridge-helper wrapper (/run/wrappers/bin, with
          CAP_NET_ADMIN) and /etc/qemu/bridge.conf ("allow all" unless set),
          for microvm.nix interfaces of type = "bridge". Not when libvirtd
          is enabled: it brings its own.
        '';
      };
      package = mkOption {
        type = types.package;
        default = pkgs.qemu-utils;
        defaultText = lib.literalExpression "pkgs.qemu-utils";
        description = "The package whose libexec/qemu-bridge-helper is wrapped.";
      };
    };

    microvmCommand = mkOption {
      type = types.nullOr types.package;
      default = null;
      description = ''
        microvm.nix's `microvm` command (microvm -l, -u, -c), put in
        environment.systemPackages; the microvm.nix form finds it in
        microvm.nix's source.
      '';
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
      # (a name of vms is named there)
      autostartBad = badNames (lib.filter (n: !(cfg.vms ? ${n})) cfg.autostart);
    in
    {
      assertions = [
        {
          assertion = cfg.fromMicrovmNix -> hasMicrovmNix;
          message = "services.microvm-host-helpers.fromMicrovmNix: microvm.nix's host module (nixosModules.host) is not imported";
        }
        {
          assertion = hlib.stateDirError cfg.stateDir == null;
          message = "services.microvm-host-helpers.stateDir${lib.optionalString cfg.fromMicrovmNix " (microvm.stateDir)"} = ${builtins.toJSON (toString cfg.stateDir)}: ${toString (hlib.stateDirError cfg.stateDir)}";
        }
        {
          assertion = badNames (lib.attrNames cfg.vms) == [ ];
          message = badNamesMessage "services.microvm-host-helpers.vms${lib.optionalString cfg.fromMicrovmNix " (microvm.vms)"}" (
            badNames (lib.attrNames cfg.vms)
          );
        }
        {
          assertion = autostartBad == [ ];
          message = badNamesMessage "services.microvm-host-helpers.autostart${lib.optionalString cfg.fromMicrovmNix " (microvm.autostart)"}" autostartBad;
        }
      ] ++ lib.mapAttrsToList (name: vm: let bad = lib.filter badTag (lib.attrNames vm.shares); in {
        assertion = bad == [ ];
        message = "services.microvm-host-helpers.vms.${name}.shares: the tags ${builtins.toJSON bad} are not one path component (empty, . or .., a / or a control character): each names the runner's share/microvm/virtiofs/TAG/, where its settings go";
      }) cfg.vms
      ++ lib.concatLists (lib.mapAttrsToList (name: vm: lib.mapAttrsToList (tag: s: {
        assertion = s.tag == null || !badTag s.tag;
        message = "services.microvm-host-helpers.vms.${name}.shares.${tag}.tag = ${builtins.toJSON s.tag}: not a tag (empty, . or .., a / or a control character): it is written as the file tag, one line";
      }) vm.shares) cfg.vms)
      ++ lib.mapAttrsToList (name: vm: {
        assertion = lib.all (a: !lib.hasInfix "\n" a) (lib.concatMap (s: s.extraArgs) (lib.attrValues vm.shares));
        message = "services.microvm-host-helpers.vms.${name}.shares: an extra argument may not hold a newline (extra-args is one argument a line)";
      }) cfg.vms
      # The settings of shares are files in a copy of the runner: without
      # one, they would be dropped, a readOnly share served writable.
      ++ lib.mapAttrsToList (name: vm: {
        assertion = vm.shares == { } || vm.runner != null;
        message = "services.microvm-host-helpers.vms.${name}.shares: settings for ${lib.concatMapStringsSep ", " builtins.toJSON (lib.attrNames vm.shares)} need runner: they are written as files into a copy of it; with runner = null, give the runner's share/microvm/virtiofs/TAG/ files yourself (virtiofs-launch(8)) and set no shares here";
      }) cfg.vms
      ++ lib.mapAttrsToList (name: vm: {
        assertion = badWords vm == [ ];
        message = "services.microvm-host-helpers.vms.${name}: the option words ${builtins.toJSON (badWords vm)} hold a space, a quote, a backslash or %, or are empty, which systemd splits at, expands in or drops from MICROVM_*_OPTIONS: give each argument as a word of its own";
      }) cfg.vms
      ++ [
        {
          assertion = lib.filter badWord templateVirtiofsWords == [ ];
          message = "services.microvm-host-helpers.virtiofsdPackage: the option words ${builtins.toJSON (lib.filter badWord templateVirtiofsWords)} of microvm-virtiofsd@ hold a space, a quote, a backslash or %, which systemd splits at or expands in MICROVM_VIRTIOFS_OPTIONS: give a package whose meta.mainProgram has none";
        }
      ]
      ++ lib.mapAttrsToList (name: vm: {
        assertion = badPaths vm == [ ];
        message = "services.microvm-host-helpers.vms.${name}.virtiofsd: the paths ${builtins.toJSON (badPaths vm)} are not absolute and in normal form (no //, ., .. or trailing /), or hold a space, a quote, a backslash or %, which systemd splits at or expands in ReadWritePaths= (or, under /run/user, a colon, which separates BindPaths='s source from its destination)";
      }) cfg.vms
      ++ lib.mapAttrsToList (name: vm: {
        assertion = wholePaths vm == [ ];
        message = "services.microvm-host-helpers.vms.${name}.virtiofsd: the paths ${builtins.toJSON (wholePaths vm)} are the whole of /home, /root, /run/user or a user's /run/user/UID, which the virtiofsd unit's sandbox keeps read-only or hidden (the user managers' sockets let root in): share a directory below";
      }) cfg.vms;

      environment.systemPackages = [ pkg ] ++ lib.optional (cfg.microvmCommand != null) cfg.microvmCommand;
      systemd.packages = [ pkg ];

      # isSystemUser and group as microvm.nix's; the rest defaults, which
      # the host's own settings of the user (microvm.nix left them to it)
      # override.
      users.users.microvm = {
        isSystemUser = true;
        group = "kvm";
        home = lib.mkDefault cfg.stateDir;
        description = lib.mkDefault "MicroVM runner";
      };
      users.groups.kvm = { };

      # Guest memory may be locked (VFIO, hugepages): no limit for the VM
      # user, in its sessions too (the unit has LimitMEMLOCK=infinity).
      security.pam.loginLimits = map (type: {
        domain = "microvm";
        item = "memlock";
        inherit type;
        value = "infinity";
      }) [ "soft" "hard" ];

      # tun for TAP interfaces, vhost_net for microvm.nix's tap.vhost.
      boot.kernelModules = [
        "tun"
        "vhost_net"
      ];

      hardware.ksm.enable = lib.mkDefault cfg.ksm;

      security.wrappers = mkIf (cfg.bridgeHelper.enable && !(config.virtualisation.libvirtd.enable or false)) {
        # For the VMs' QEMU (microvm:kvm) alone: with NixOS's default
        # permissions (o+x) and bridge.conf's `allow all`, any local user
        # could put a TAP of its own on any bridge.
        qemu-bridge-helper = {
          source = "${cfg.bridgeHelper.package}/libexec/qemu-bridge-helper";
          owner = "root";
          group = "kvm";
          permissions = "u+rx,g+x";
          capabilities = "cap_net_admin+ep";
        };
      };
      # Root's name of each VM's runner, where neither the VM user nor a
      # guest (whose root writes through a share as host uid 0) can put a
      # link: the helpers take it instead of `current` (MICROVM_RUNNER_PINS,
      # common/vm.c). Not for a VM updated by hand (updateCurrent false:
      # `microvm -u` points `current`).
      environment.etc = lib.mapAttrs' (
        name: vm: lib.nameValuePair "microvm/runners/${name}" { source = vm.currentRunner; }
      ) (lib.filterAttrs (_: vm: vm.currentRunner != null && vm.updateCurrent) cfg.vms)
      // {
        "qemu/bridge.conf" = mkIf cfg.bridgeHelper.enable {
          text = lib.mkDefault ''
            allow all
          '';
        };
      };

      systemd.tmpfiles.rules = [
        (hlib.tmpfilesRule {
          type = "d";
          path = cfg.stateDir;
          mode = "0775";
          user = "microvm";
          group = "kvm";
        })
      ] ++ lib.concatLists (lib.mapAttrsToList vmRules cfg.vms);

      systemd.targets.microvms = {
        wantedBy = [ "multi-user.target" ];
        wants = map (name: "microvm@${name}.service") autostartNames;
      };

      systemd.services = lib.mkMerge (
        [
          {
            # The state dir nosuid and nodev from boot, before any VM
            # starts (units/microvm-state-dir.service says why).
            # Not restarted by a switch (its drop-in, with NixOS's PATH
            # and locale, changes with nixpkgs): every VM requires it.
            microvm-state-dir = {
              overrideStrategy = "asDropin";
              wantedBy = [ "local-fs.target" ];
              restartIfChanged = false;
            };
            # Template-wide. A switch leaves a VM the host does not declare
            # (in vms: restartIfChanged) running, and its helpers, whatever
            # changed in the units, as microvm.nix's templates do.
            # microvm@ keeps NixOS's PATH of a service (coreutils,
            # findutils, grep, sed, systemd), which the runner scripts of
            # microvm.nix use, as with its own unit.
            # The VM's directory as the working directory, as microvm.nix's
            # microvm@ had it, for a host's own ExecStartPre= or preStart
            # with relative paths (runner-exec goes there itself and works
            # from absolute paths); "-": a stop runs when it is gone.
            "microvm@" = {
              overrideStrategy = "asDropin";
              restartIfChanged = false;
              serviceConfig = {
                TimeoutSec = cfg.startupTimeout;
                WorkingDirectory = "-${cfg.stateDir}/%i";
              } // lib.optionalAttrs cfg.useNotifySockets { Type = "notify"; };
            };
            # For VMs not in vms: virtiofsdPackage's program, also on
            # PATH (for a drop-in that leaves --virtiofsd out).
            "microvm-virtiofsd@" = {
              overrideStrategy = "asDropin";
              restartIfChanged = false;
              path = [ cfg.virtiofsdPackage ];
              environment.MICROVM_VIRTIOFS_OPTIONS = words templateVirtiofsWords;
            };
          }
          (lib.genAttrs
            [
              "microvm-tap-interfaces@"
              "microvm-macvtap-interfaces@"
              "microvm-pci-devices@"
            ]
            (_: {
              overrideStrategy = "asDropin";
              path = lib.mkForce [ ];
              restartIfChanged = false;
            })
          )
        ]
        ++ lib.mapAttrsToList vmUnits cfg.vms
      );
    }
  );
}
