# Pure helpers of the NixOS module (nix/module.nix), apart so that the tests
# (tests/nix/) evaluate them as they are:  import ./lib.nix { inherit lib; }
{ lib }:
rec {
  # The per-share settings files of virtiofs-launch(8), beside source and
  # socket in share/microvm/virtiofs/TAG/ of the runner: one value a file,
  # with a trailing newline; a null setting (or no extra arguments) writes
  # no file, and virtiofs-launch keeps its default.
  #   shareFiles "data" { readOnly = true; cache = null; ... }
  #   => [ { path = "share/microvm/virtiofs/data/read-only"; text = "true\n"; } ]
  shareFiles =
    tag: s:
    let
      file = name: value: {
        path = "share/microvm/virtiofs/${tag}/${name}";
        text = value + "\n";
      };
      bool = b: if b then "true" else "false";
    in
    lib.optional (s.readOnly != null) (file "read-only" (bool s.readOnly))
    ++ lib.optional (s.cache != null) (file "cache" s.cache)
    ++ lib.optional (s.posixAcl != null) (file "posix-acl" (bool s.posixAcl))
    ++ lib.optional (s.inodeFileHandles != null) (file "inode-file-handles" s.inodeFileHandles)
    ++ lib.optional (s.tag != null) (file "tag" s.tag)
    ++ lib.optional (s.extraArgs != [ ]) (file "extra-args" (lib.concatStringsSep "\n" s.extraArgs));

  # One tmpfiles.d(5) line, each field written so that systemd-tmpfiles
  # reads back the value given. It cuts a line at white space, takes quotes
  # and backslashes in the path as a shell would, and expands specifiers
  # (%b, the boot ID) in the path and the argument; the argument, the rest
  # of the line, it C-unescapes first. So the path goes in double quotes
  # (\" and \\ inside) when it holds white space, a quote or a backslash,
  # the argument has white space and backslashes as \xNN, and % is %% in
  # both. A newline cannot be written in the path: an error naming it.
  #   tmpfilesRule { type = "d"; path = "/srv/a b"; mode = "0755"; }
  #   => ''d "/srv/a b" 0755 - - -''
  tmpfilesRule =
    {
      type,
      path,
      mode ? "-",
      user ? "-",
      group ? "-",
      age ? "-",
      argument ? null,
    }:
    let
      pct = lib.replaceStrings [ "%" ] [ "%%" ];
      quoted =
        if lib.hasInfix "\n" path then
          throw "tmpfiles rule ${type}: the path ${builtins.toJSON path} holds a newline, which tmpfiles.d cannot take"
        else if builtins.match ".*[[:space:]\"'\\].*" path != null then
          "\"" + lib.replaceStrings [ "\\" "\"" ] [ "\\\\" "\\\"" ] (pct path) + "\""
        else
          pct path;
      arg = lib.replaceStrings [ "\\" " " "\t" "\n" "\r" "%" ] [ "\\x5c" "\\x20" "\\x09" "\\x0a" "\\x0d" "%%" ] argument;
    in
    lib.concatStringsSep " " ([ type quoted mode user group age ] ++ lib.optional (argument != null) arg);

  # Every settings file of a VM's shares (an attribute set TAG -> settings).
  sharesFiles = shares: lib.concatLists (lib.mapAttrsToList shareFiles shares);

  # The build script of a runner package that is `runner` with the files
  # added: the same tree (programs and the system link stay symbolic links
  # into the store, the small files of share/microvm are copied), then each
  # settings file written into the directory of its share, which the runner
  # must have. $out is the new package.
  addFilesScript =
    runner: files:
    ''
      cp -R -P ${runner}/. "$out"
      chmod -R u+w "$out"
    ''
    + lib.concatMapStrings (f: ''
      if [ ! -d "$out"/${lib.escapeShellArg (dirOf f.path)} ]; then
        echo ${lib.escapeShellArg "${runner}: no ${dirOf f.path}: the runner has no such virtiofs share"} >&2
        exit 1
      fi
      printf %s ${lib.escapeShellArg f.text} > "$out"/${lib.escapeShellArg f.path}
    '') files;

  # microvm.nix's shares.*.extraArgs and virtiofsd.extraArgs went into a
  # shell command line unquoted, so an element with spaces was several
  # arguments: the same split here (at runs of white space), one argument
  # a line in extra-args.
  splitArgs = args: lib.concatMap (a: lib.filter (w: lib.isString w && w != "") (builtins.split "[ \t\n]+" a)) args;

  # Does an element of those extraArgs hold more shell syntax than spaces
  # and tabs? On microvm.nix's line (bash, in the VM's directory) it meant
  # something splitArgs does not do:
  # - a quote, a backslash, $, a backtick, ; & | < > ( );
  # - a newline: the end of the command, the rest of the line went;
  # - a brace expansion: a comma in braces, {a,b}, or a sequence of two
  #   numbers or two letters, {1..4}, {a..e}, {1..9..2} ({a..bc} and
  #   {1..a} bash left as they were);
  # - a word starting with # (a comment) or ~ (a home directory), or a ~
  #   after the = or a : of a NAME=VALUE word;
  # - a glob: * ? anywhere, [ with a ] after it. bash matched it against
  #   the VM's directory, which the VM user writes, and left it as it was
  #   only while nothing matched. No virtiofsd option needs one (an
  #   --xattrmap's separator is any character: : is the usual one); a [
  #   with no ] after it is no glob, bash left it as it was.
  # A # ~ [ { that bash left alone (--xattrmap=#ok#all###) passes.
  shellSyntax =
    a:
    lib.hasInfix "\n" a
    || builtins.match ".*[\"'\\$`;&|<>()*?].*" a != null
    || lib.any (
      w:
      builtins.match "([#~]|[A-Za-z_][A-Za-z0-9_]*=(.*:)?~).*" w != null
      || builtins.match ".*\\[.*].*" w != null
      || builtins.match ".*[{].*,.*[}].*" w != null
      || builtins.match ".*[{]([-+]?[0-9]+[.][.][-+]?[0-9]+|[A-Za-z][.][.][A-Za-z])([.][.][-+]?[0-9]+)?[}].*" w != null
    ) (splitArgs [ a ]);

  # The most threads virtiofs-launch gives a virtiofsd (--thread-pool-size;
  # a larger number is a usage error there).
  maxThreads = 1024;

  # microvm.virtiofsd.threadPoolSize (an unsigned integer, or a string the
  # shell expanded, "`nproc`" by default) as virtiofs-launch's
  # --thread-pool-size: null for "`nproc`" (virtiofs-launch's own default is
  # the number of CPUs), a number for a number up to maxThreads, and
  # { error = ...; } for a larger one (microvm.nix passed any) or anything
  # else, which only a shell could have made sense of.
  threadPoolSize =
    v:
    let
      n = if lib.isInt v then v else if builtins.match "[0-9]+" v != null then lib.toIntBase10 v else null;
    in
    if lib.isString v && (v == "`nproc`" || v == "$(nproc)") then
      null
    else if n == null then
      { error = "microvm.virtiofsd.threadPoolSize = \"${v}\": give a number (or \"`nproc`\", the default)"; }
    else if n > maxThreads then
      {
        error = "microvm.virtiofsd.threadPoolSize = ${toString v}: at most ${toString maxThreads} (virtiofs-launch's limit), or \"`nproc`\" (the default)";
      }
    else
      n;

  # The state dir goes, as written, into the units (the package's sed, in
  # a shell's single quotes: & | \ and a quote meant something there),
  # ExecStart= of install-microvm-NAME (split at white space, % expanded),
  # WorkingDirectory= (% expanded), Environment=MICROVM_STATE_DIR= (split)
  # and a tmpfiles rule that gives it to the VM user, 0775, at every boot.
  # So: absolute, in normal form (as module.nix's badPaths), of letters, digits and
  # . _ + @ : , = - alone, and not a directory of the system's own, which
  # that rule would give the VM user; a string, not a Nix path (types.path
  # takes one). null: none of these (package.nix and
  # module.nix refuse the others, naming this).
  systemDirs = [
    "/"
    "/bin"
    "/boot"
    "/dev"
    "/etc"
    "/home"
    "/lib"
    "/lib64"
    "/media"
    "/mnt"
    "/nix"
    "/nix/store"
    "/nix/var"
    "/opt"
    "/proc"
    "/root"
    "/run"
    "/run/user"
    "/sbin"
    "/srv"
    "/sys"
    "/tmp"
    "/usr"
    "/var"
    "/var/cache"
    "/var/lib"
    "/var/log"
    "/var/tmp"
  ];
  stateDirError =
    d:
    if builtins.isPath d then
      "a Nix path, which \"\${stateDir}\" copies into the store (the units and rules would name that copy): give it as a string"
    else if builtins.match "(/[A-Za-z0-9._+@:,=-]+)+|/" d == null || builtins.match "(.*//.*|.*/\\.\\.?(/.*)?|.+/)" d != null then
      "not absolute and in normal form (no //, ., .. or trailing /), or holds a character other than letters, digits and . _ + @ : , = - (systemd splits at white space and expands % in the units and ExecStart= it is written into, the package's sed takes & | and \\)"
    else if lib.elem d systemDirs then
      "a directory of the system's own, which the state dir's tmpfiles rule would give to the VM user (microvm:kvm, 0775) at every boot: name one of its own, e.g. /var/lib/microvms"
    else
      null;
}
