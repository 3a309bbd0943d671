#!/bin/bash
# tests/units/test-nix.sh: the NixOS module evaluated, and what it makes.
#  1. nix/*.nix and tests/nix/**.nix parse (nix-instantiate --parse).
#  2. nix/module.nix through lib.evalModules with Nixpkgs' lib, the NixOS
#     options it touches declared with their types (tests/nix/nixos-stubs.nix),
#     for the host of tests/nix/hosts.nix in both forms: stand-alone
#     (services.microvm-host-helpers.vms) and microvm.nix's (microvm.vms,
#     tests/nix/microvm-nix-stub); tests/nix/checks.nix lists what is wrong
#     (drop-ins, environment, tmpfiles rules, users, kernel modules, target
#     wants, microvm.nix's units stepping aside, host-wide settings).
#  3. The runner with per-share settings: the build script the module
#     gives it, run on a runner tree laid out as microvm.nix's
#     lib/runner.nix makes it: the same tree plus the settings files;
#     virtiofs-launch accepts it. A runner without the share fails the build.
#  4. The tmpfiles rules and install-microvm-NAME's ExecStart, run by the
#     real systemd-tmpfiles in a directory of its own (--root): `current`,
#     `toplevel`, `flake`, share sources; a flake VM with updateFlake keeps
#     the `current` it has, a declarative one gets its runner back.
# Nixpkgs' lib: $MVM_NIXPKGS_LIB, else <nixpkgs/lib> when NIX_PATH has
# nixpkgs, else shared/vendor/nixpkgs-lib/lib beside the repository (or
# beside a directory above it);
# without any, the rest is SKIPPED (exit 77), unless a file did not parse
# (exit 1). The real NixOS evaluation is tests/units/test-nixos.sh.
# Exit 0 pass, 1 fail, 77 skip.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
B=${B:-build}
top=$(pwd -P)
command -v nix-instantiate >/dev/null \
    || { echo "SKIP: nix-instantiate not installed (Debian package nix-bin)" >&2; exit 77; }
# Debian's nix-bin as root wants a nixbld group; evaluation needs none.
export NIX_CONFIG='build-users-group ='
fails=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
grepF() { grep -qF -- "$1" <<<"$2"; } # grepF TEXT STRING: STRING holds TEXT

# 1. Parse.
for f in nix/*.nix $(find tests/nix -name '*.nix' | sort); do
    nix-instantiate --parse "$f" >/dev/null || fail "$f does not parse"
done
[[ $fails == 0 ]] && ok "nix/*.nix, tests/nix/*.nix parse"

# 2. Evaluate.
if [[ -n ${MVM_NIXPKGS_LIB:-} ]]; then
    libpath=$MVM_NIXPKGS_LIB
elif p=$(nix-instantiate --find-file nixpkgs/lib 2>/dev/null); then
    libpath=$p
else
    # shared/vendor/nixpkgs-lib beside the repository, or beside one of
    # the directories above it (a clone may sit deeper than ../)
    libpath=$top/../shared/vendor/nixpkgs-lib/lib
    d=$top
    while [[ $d != / && $d != . ]]; do
        d=$(dirname "$d")
        if [[ -f $d/shared/vendor/nixpkgs-lib/lib/default.nix ]]; then
            libpath=$d/shared/vendor/nixpkgs-lib/lib
            break
        fi
    done
fi
if [[ -n ${MVM_NIXPKGS_LIB:-} && ! -f $libpath/default.nix ]]; then
    echo "FAIL: \$MVM_NIXPKGS_LIB=$MVM_NIXPKGS_LIB has no default.nix (Nixpkgs' lib/ is wanted)" >&2
    exit 1
fi
[[ -f $libpath/default.nix ]] || {
    nolib="no Nixpkgs lib: \$MVM_NIXPKGS_LIB unset, no nixpkgs in NIX_PATH, no shared/vendor/nixpkgs-lib/lib beside $top or a directory above it"
    # A failure already counted (a file that does not parse) is a failure:
    # the missing lib only skips what is left.
    if [[ $fails != 0 ]]; then
        echo "FAIL: $fails failure(s) above; the rest not run: $nolib" >&2
        exit 1
    fi
    echo "SKIP: $nolib" >&2
    exit 77
}
echo "info: Nixpkgs lib from $libpath"
TMP=$(mktemp -d /tmp/mvm-nix.XXXXXX)
chmod 755 "$TMP"
trap 'rm -rf "$TMP"' EXIT
STORE=$TMP/store
mkdir -m 1775 "$STORE"

eva() { # FORM ARG...: nix-instantiate --eval --json of tests/nix/eval.nix, with ARGs
    local form=$1
    shift
    nix-instantiate --eval --strict --json tests/nix/eval.nix --argstr libPath "$libpath" \
        --argstr form "$form" --argstr store "$STORE" "$@"
}
ev() { eva "$1" ${2:+--argstr attr "$2"}; } # FORM [ATTR]
json() { python3 -c 'import json,sys; v=json.load(sys.stdin); print(v if isinstance(v, str) else "\n".join(map(str, v)))'; }

for form in standalone microvm-nix; do
    if ! out=$(ev "$form" 2>&1); then
        printf '%s\n' "$out" | tail -n 20
        fail "$form: evaluation failed"
    elif [[ $out == "[]" ]]; then
        ok "$form: evaluated, every check holds"
    else
        json <<<"$out" | sed 's/^/  /'
        fail "$form: checks failed"
    fi
done

# A word with a space would reach the tools as two (systemd splits
# MICROVM_*_OPTIONS at whitespace): the evaluation names it (found in review).
out=$(eva standalone --argstr tapWord "--bridge=br 0" 2>&1)
check "an option word with a space is an assertion naming it" \
    grep -q 'vms.net: the option words \[\\"--bridge=br 0\\"\] hold a space' <<<"$out"

# microvm.nix put extraArgs into a shell line: quotes, a backslash, $ and
# the like meant more than words split at white space, which is all the
# module does with them (found by an audit: they reached virtiofsd as
# written). The evaluation names such an element; white space alone is
# split, as the shell did.
vfsarg() { # vfsarg ARG: the evaluation's output
    eva microvm-nix --argstr vfsArg "$1" 2>&1
}
says() { json <<<"$out" | grep -qF -- "$1"; } # says TEXT: a failure in $out holds it
out=$(vfsarg "--log-level='debug'")
check "a quote in microvm.virtiofsd.extraArgs is an assertion naming it" \
    says "vm files: microvm.virtiofsd.extraArgs element \"--log-level='debug'\""
out=$(vfsarg '--cache=$CACHE')
check "a \$ in microvm.virtiofsd.extraArgs is an assertion naming it" \
    says 'vm files: microvm.virtiofsd.extraArgs element "--cache=$CACHE"'
out=$(vfsarg '--modcaps=+sys_admin --cache auto')
# (the other checks do not hold for it: files' extra-args change)
check "white space alone in microvm.virtiofsd.extraArgs is no assertion" \
    eval '[[ $out == "["* && $out != *"extraArgs element"* ]]'
# The rest of what bash did on that line (found in review): brace
# expansion; a word starting with # (a comment: the rest of the line,
# the share's arguments too, went) or ~ (a home directory; also after the
# = or a : of a NAME=VALUE word); a glob matched against the VM's
# directory, which the VM user writes (* ?, [...]); a newline (the
# command ended there). \n below is a newline.
while IFS='|' read -r what a; do
    out=$(vfsarg "${a//\\n/$'\n'}")
    check "$what in microvm.virtiofsd.extraArgs is an assertion naming it" \
        says "vm files: microvm.virtiofsd.extraArgs element \"$a\""
done <<'CASES'
a brace list|--log-level={debug,info}
a brace sequence|--thread-pool-size={1..4}
a brace sequence of letters|--log-level={a..e}
a brace sequence with a step|--thread-pool-size={-8..+8..2}
a word starting with #|--sandbox=chroot #was namespace
a word starting with ~|--shared-dir ~alice/vm
a ~ after NAME=|-o source=~/vm
a ~ after NAME=...:|-o xattrmap=x:~
a *|--xattrmap=*ok*all***
a ?|--socket-group=kvm?
a [...]|--socket-group=kvm[0-9]
a newline|--sandbox=chroot\n--cache=never
CASES
# What real virtiofsd options hold passes: : = , . + -, and a # ~ [ {
# that bash left as it was (inside a word, no ], no comma or sequence in
# braces).
out=$(vfsarg '--sandbox=chroot --xattrmap=:map::user.virtiofs.: --modcaps=+sys_admin,-chown --translate-uid=squash-guest:0:1000:4294967295 --xattrmap=#prefix#all#trusted.#user.virtiofs.# --xattrmap=[ok[all[[[ --shared-dir=~/vm {a}')
check "real options with : = , . # ~ [ { in microvm.virtiofsd.extraArgs are no assertion" \
    eval '[[ $out == "["* && $out != *"extraArgs element"* ]]'
# microvm.virtiofsd.extraArgs go to every virtiofs share of the VM, before
# the share's own, as microvm.nix's command line had them (found by a
# mutation pass: dropped, with no check failing).
out=$(eva microvm-nix --argstr vfsArg '--cache never' \
    --argstr attr services.microvm-host-helpers.vms.files.currentRunner.files 2>&1 \
    | python3 -c 'import json,sys
for f in json.load(sys.stdin):
    if f["path"].endswith("/extra-args"): print(f["path"], json.dumps(f["text"]))' 2>&1)
check "microvm.virtiofsd.extraArgs reach every share's extra-args, before its own" \
    test "$out" = 'share/microvm/virtiofs/data/extra-args "--cache\nnever\n"
share/microvm/virtiofs/home/extra-args "--cache\nnever\n--announce-submounts\n--log-level\ndebug\n"'
# A .. in braces that bash left as it was (no sequence: not two numbers
# nor two letters) passes too.
out=$(vfsarg '--xattrmap={a..bc}ok{1..a}all{..}x{a.b}')
check "a {..} that is no brace sequence in microvm.virtiofsd.extraArgs is no assertion" \
    eval '[[ $out == "["* && $out != *"extraArgs element"* ]]'

# A share's own extraArgs (microvm.shares.*.extraArgs) went into the same
# shell line: the same check, the share named in the message; a plain
# element is split as the shell did and reaches that share's extra-args,
# no other share's.
sharearg() { # sharearg ARG [ATTR]: the evaluation's output
    eva microvm-nix --argstr shareArg "$1" \
        ${2:+--argstr attr "$2"} 2>&1
}
out=$(sharearg "--log-level='debug'")
check "a quote in a share's extraArgs is an assertion naming the VM, the share and it" \
    says "vm files: microvm.shares.*.extraArgs (share 'extra') element \"--log-level='debug'\""
out=$(sharearg '--cache=$CACHE')
check "a \$ in a share's extraArgs is an assertion naming the VM, the share and it" \
    says "vm files: microvm.shares.*.extraArgs (share 'extra') element \"--cache=\$CACHE\""
out=$(sharearg '--cache never')
check "white space alone in a share's extraArgs is no assertion" \
    eval '[[ $out == "["* && $out != *"extraArgs element"* ]]'
# (python: each extra-args file of VM files as PATH TEXT, the text as JSON)
out=$(sharearg '--cache never' services.microvm-host-helpers.vms.files.currentRunner.files \
    | python3 -c 'import json,sys
for f in json.load(sys.stdin):
    if f["path"].endswith("/extra-args"): print(f["path"], json.dumps(f["text"]))')
check "a share's plain extraArgs element reaches its extra-args, split, and no other share's" \
    test "$out" = 'share/microvm/virtiofs/extra/extra-args "--cache\nnever\n"
share/microvm/virtiofs/home/extra-args "--announce-submounts\n--log-level\ndebug\n"'
# A tab or a newline split there too, as the shell did (found by a
# mutation pass: split at spaces alone, "--cache<TAB>never" reached
# virtiofsd as one argument).
out=$(sharearg $'--cache\tnever' services.microvm-host-helpers.vms.files.currentRunner.files \
    | python3 -c 'import json,sys
for f in json.load(sys.stdin):
    if f["path"] == "share/microvm/virtiofs/extra/extra-args": print(json.dumps(f["text"]))')
check "a share's extraArgs element with a tab is split there (got $out)" test "$out" = '"--cache\nnever\n"'

# The host's own settings of the VM user, which microvm.nix left to it
# (it sets isSystemUser and group alone): they win, in both forms (found
# by an audit: the module's home and description were definitions of
# equal priority, a conflict).
for form in standalone microvm-nix; do
    out=$(eva "$form" --argstr attr users.users.microvm \
        --arg extraModule '{ users.users.microvm = { home = "/srv/vm-user"; description = "VMs of this host"; }; }' 2>&1)
    got=$(python3 -c 'import json,sys; u=json.load(sys.stdin); print(u["home"] + "|" + u["description"])' \
        <<<"$out" 2>/dev/null)
    check "$form: users.users.microvm.home and description set by the host" \
        test "$got" = "/srv/vm-user|VMs of this host"
    [[ $out == "{"* ]] || printf '%s\n' "$out" | grep -m3 . | sed 's/^/  /'
done

# restartIfChanged: a switch restarts the VM when its runner or its host
# settings changed. The helper units are not restarted on their own
# (restartIfChanged false, PartOf= the VM), so a change to one of their
# drop-ins must change the VM's restart triggers (found by an audit: a
# path added to virtiofsd.readWritePaths left the VM running, its
# virtiofsd in the old sandbox, the new path read-only to the guest).
with_module() { # with_module MODULE [ATTR]: the stand-alone evaluation's output with MODULE
    eva standalone --arg extraModule "$1" \
        ${2:+--argstr attr "$2"} 2>&1
}
triggers() { # triggers MODULE: microvm@files's restartTriggers, stand-alone
    with_module "$1" 'systemd.services.microvm@files.restartTriggers'
}
base=$(triggers '{ }')
for m in 'virtiofsd.readWritePaths = [ "/srv/more" ]' 'tap.mtu = 1400' 'virtiofsd.extraOptions = [ "--rlimit-nofile=4096" ]'; do
    out=$(triggers "{ services.microvm-host-helpers.vms.files.$m; }")
    check "vms.files.$m changes microvm@files's restart triggers" \
        eval '[[ $base == "["* && $out == "["* && $out != "$base" ]]'
done

# A share's settings are files in a copy of the runner: with no runner
# (managed by hand), they had nowhere to go and were dropped without a
# word, a readOnly share served writable. The evaluation says so, naming
# the VM and the shares; with a runner, no such assertion.
out=$(with_module '{ services.microvm-host-helpers.vms.bare.shares.data.readOnly = true; }')
check "shares of a VM without a runner are an assertion naming them" \
    says 'services.microvm-host-helpers.vms.bare.shares: settings for "data" need runner'
out=$(with_module '{ services.microvm-host-helpers.vms.bare = { }; }')
check "a VM without a runner or shares is no assertion" \
    eval '[[ $out == "["* ]] && ! says "need runner"'
out=$(with_module '{ services.microvm-host-helpers.vms.files.shares.more.readOnly = true; }')
check "shares of a VM with a runner are no assertion" \
    eval '[[ $out == "["* ]] && ! says "need runner"'

# microvm.virtiofsd.threadPoolSize takes any unsigned number; virtiofs-
# launch refuses one over 1024 (exit 2, so the VM would not start): the
# evaluation names it, in both forms (found by an audit: it failed only at
# the start). 1024 passes.
threads() { # threads FORM N [ATTR]: the evaluation's output
    eva "$1" --arg vfsThreads "$2" ${3:+--argstr attr "$3"} 2>&1
}
out=$(threads microvm-nix 2048)
check "microvm.virtiofsd.threadPoolSize 2048 is an assertion naming it" \
    says 'vm files: microvm.virtiofsd.threadPoolSize = 2048: at most 1024'
out=$(threads standalone 2048)
check "vms.files.virtiofsd.threadPoolSize 2048 is refused naming it" \
    grep -q "services.microvm-host-helpers.vms.files.virtiofsd.threadPoolSize' is not of type" <<<"$out"
for form in microvm-nix standalone; do
    out=$(threads $form 1024 systemd.services.microvm-virtiofsd@files.environment.MICROVM_VIRTIOFS_OPTIONS)
    check "$form: threadPoolSize 1024 reaches virtiofs-launch" grep -q -- '--thread-pool-size=1024' <<<"$out"
done
# "$(nproc)", as microvm.nix's shell took it, is the default too: no
# assertion, no --thread-pool-size (found by a mutation pass).
out=$(threads microvm-nix '"$(nproc)"')
check "microvm.virtiofsd.threadPoolSize \"\$(nproc)\" is no assertion (got $out)" test "$out" = "[]"

# A share of one VM inside another VM's writable share: that guest could
# make it lead anywhere (found by a red-team read); virtiofs-launch sees
# its own VM alone, so the evaluation names it. Inside a read-only share
# is fine.
out=$(eva microvm-nix --argstr netShare /home/alice/vm/media 2>&1)
check "a share inside another VM's writable share is an assertion naming both" \
    grep -q "vm net: share 'inner' (/home/alice/vm/media) lies inside vm files's writable share 'home'" <<<"$out"
out=$(eva microvm-nix --argstr netShare /srv/files/media 2>&1)
# (the other checks do not hold for it: net's runner gets share settings)
check "a share inside another VM's read-only share is no assertion" \
    eval '[[ $out == "["* && $out != *"lies inside"* ]]'
# The socket too (a socket bound, or a stale one removed, in a directory of
# root's that the guest made), and paths not written plainly (found by an
# audit: only sources were checked, by their text).
nested() { # nested SOURCE [SOCKET]: the evaluation's output
    eva microvm-nix --argstr netShare "$1" \
        ${2:+--argstr netSocket "$2"} 2>&1
}
out=$(nested /srv/net-data /home/alice/vm/sock/net.sock)
check "a socket inside another VM's writable share is an assertion naming it" \
    grep -q "vm net: share 'inner' (socket /home/alice/vm/sock/net.sock) lies inside vm files's writable share 'home'" <<<"$out"
out=$(nested /srv/net-data ../../../../home/alice/vm/net.sock)
check "a relative socket that leads inside it is an assertion" \
    grep -q "share 'inner' (socket /var/lib/microvms/net/../../../../home/alice/vm/net.sock) lies inside" <<<"$out"
out=$(nested /home/alice//vm/./media)
check "a source with // and . inside it is an assertion" \
    grep -q "share 'inner' (/home/alice//vm/./media) lies inside vm files's writable share" <<<"$out"
out=$(nested /home/alice/vm/x/../../y)
check "a source that passes through it (x/../..) is an assertion" \
    grep -q "share 'inner' (/home/alice/vm/x/../../y) lies inside" <<<"$out"
out=$(nested /home/alice/vmx/media)
check "a source beside it (a longer name) is no assertion" \
    eval '[[ $out == "["* && $out != *"lies inside"* ]]'
# A relative source is under the VM's directory, as the launcher takes it
# (found in review: it was taken from /).
out=$(nested ../../../../home/alice/vm/media)
check "a relative source that leads inside it is an assertion" \
    grep -q "share 'inner' (../../../../home/alice/vm/media) lies inside vm files's writable share" <<<"$out"
out=$(nested home/alice/vm/media)
check "a relative source under the VM's own directory is no assertion" \
    eval '[[ $out == "["* && $out != *"lies inside"* ]]'

# What a host sets reaches the units it is for, and what it must not do
# is refused (found by a mutation pass: each of these could be dropped or
# mis-written with every check above still holding).
evalf() { # evalf FORM MODULE [ATTR]: the evaluation's output, FORM with MODULE
    eva "$1" --arg extraModule "$2" \
        ${3:+--argstr attr "$3"} 2>&1
}
# A new runner for net: the switch restarts the VM (its restartIfChanged)
# and re-runs install-microvm-net, which re-points `current`.
newrunner='{ lib, ... }: { services.microvm-host-helpers.vms.net.runner = lib.mkForce {
    type = "derivation"; name = "microvm-qemu-net-2";
    outPath = "/nix/store/00000000000000000000000000000003-microvm-qemu-net-2"; }; }'
for u in microvm@net install-microvm-net; do
    base=$(with_module '{ }' "systemd.services.$u.restartTriggers")
    out=$(with_module "$newrunner" "systemd.services.$u.restartTriggers")
    check "a new runner for net changes $u's restart triggers" \
        eval '[[ $base == "["* && $out == "["* && $out != "$base" ]]'
done
# A writable share under /home or /root gets ReadWritePaths= alone: a
# deeper path wins over the unit's ProtectHome=read-only, and ProtectHome=no
# (which the module once set) made the whole of /home and /root writable
# for virtiofsd. One under /run/user, which the unit makes inaccessible,
# is bound into an empty /run/user: the lines of tests/units/virtiofsd-paths.conf,
# which test-units-sandbox.sh starts under a real systemd.
vfs_section() { # vfs_section MODULE: microvm-virtiofsd@files's serviceConfig as NixOS writes it
    eva standalone --arg extraModule "$1" --arg asSection true \
        --argstr attr 'systemd.services.microvm-virtiofsd@files.serviceConfig' 2>&1
}
rwpaths() { # rwpaths PATH...: the section with PATHs writable
    vfs_section "{ lib, ... }: { services.microvm-host-helpers.vms.files.virtiofsd.readWritePaths = lib.mkForce [ $(printf '"%s" ' "$@")]; }"
}
for p in /root/vm /home/alice/vm; do
    out=$(rwpaths "$p")
    check "readWritePaths $p: microvm-virtiofsd@files gets ReadWritePaths=$p alone, the unit's ProtectHome=read-only kept (got $out)" \
        test "$out" = "\"ReadWritePaths=$p\\n\""
done
out=$(vfs_section '{ lib, ... }: { services.microvm-host-helpers.vms.files.virtiofsd = {
    readWritePaths = lib.mkForce [ "/home/alice/vm" "/run/user/1000/vm" "/srv/data" ];
    readOnlyPaths = [ "/run/user/1000/ro" ]; }; }')
want=$(grep -v '^#' tests/units/virtiofsd-paths.conf | sed 1d)
got=$(sed 's/^"//; s/"$//; s/\\n/\n/g' <<<"$out")
check "shares under /home, /run/user and /srv: microvm-virtiofsd@files gets the lines of tests/units/virtiofsd-paths.conf (got: $(tr '\n' ' ' <<<"$got"))" \
    test "$got" = "$want"
# The unit's InaccessiblePaths= but /run/user, which the drop-in resets
# and gives again: the two lists must not drift apart.
unit=$(sed -n 's/^InaccessiblePaths=//p' units/microvm-virtiofsd@.service | tr ' ' '\n' | grep -vx -- -/run/user | sort)
mod=$(sed -n 's/^InaccessiblePaths=\(.\)/\1/p' <<<"$want" | sort)
check "the /run/user drop-in keeps every other InaccessiblePaths= of the unit ($(tr '\n' ' ' <<<"$mod"))" \
    eval '[[ -n $unit && $unit == "$mod" ]]'
# microvm.nix's form: a read-only share under /run/user is bound in too,
# one elsewhere needs nothing.
for src in /run/user/1000/media /srv/media; do
    out=$(eva microvm-nix --argstr netShare "$src" \
        --argstr attr 'systemd.services.microvm-virtiofsd@net.serviceConfig.BindReadOnlyPaths' 2>&1)
    if [[ $src == /run/user/* ]]; then want="[\"$src\"]"; else want=null; fi
    check "microvm.nix: a read-only share $src: BindReadOnlyPaths $want (got $out)" test "$out" = "$want"
done
out=$(rwpaths /homework/vm)
check "readWritePaths /homework/vm: not taken for one under /home (got $out)" \
    test "$out" = '"ReadWritePaths=/homework/vm\n"'
out=$(rwpaths /run/userx/vm)
check "readWritePaths /run/userx/vm: not taken for one under /run/user (got $out)" \
    test "$out" = '"ReadWritePaths=/run/userx/vm\n"'
# Paths systemd would split or expand, or that would miss the /run/user
# handling (not in normal form), in either list; \\ and \" are a
# backslash and a quote in the Nix string (JSON writes them so too).
for p in 'srv/rel' '/srv/my data' '/srv/100%' '/run/user/1000/a:b' '/srv/it\"s' '/srv/a\\b' \
    '/run//user/1000/x' '/run/./user/1000/x' '/run/user/1000/x/' '/srv/x/../y'; do
    for l in readWritePaths readOnlyPaths; do
        out=$(with_module "{ lib, ... }: { services.microvm-host-helpers.vms.files.virtiofsd.$l = lib.mkForce [ \"$p\" ]; }")
        check "$l '$p' is an assertion naming it" \
            says "services.microvm-host-helpers.vms.files.virtiofsd: the paths [\"$p\"] are not absolute"
    done
done
# The whole of /home or /root stays read-only (systemd keeps the stricter
# of two settings of one path), and /run/user or a user's /run/user/UID
# would bring the user managers' sockets back in: refused.
for p in /home /root /run/user /run/user/1000; do
    out=$(with_module "{ lib, ... }: { services.microvm-host-helpers.vms.files.virtiofsd.readWritePaths = lib.mkForce [ \"$p\" ]; }")
    check "readWritePaths $p is an assertion: the whole of it is the sandbox's" \
        says "virtiofsd: the paths [\"$p\"] are the whole of /home, /root, /run/user or a user's /run/user/UID"
done
# A path in both lists is writable (as outside /run/user), not bound in twice.
out=$(vfs_section '{ lib, ... }: { services.microvm-host-helpers.vms.files.virtiofsd = {
    readWritePaths = lib.mkForce [ "/run/user/1000/vm" ]; readOnlyPaths = [ "/run/user/1000/vm" ]; }; }')
check "a /run/user path both writable and read-only: BindPaths= alone (got $out)" \
    eval '[[ $out == *"BindPaths=/run/user/1000/vm"* && $out != *BindReadOnlyPaths* ]]'
# The reset of InaccessiblePaths= comes first: a host's own (given in a
# module before this one, so first in the merge) stays.
out=$(eva standalone \
    --arg firstModule '{ systemd.services."microvm-virtiofsd@files".serviceConfig.InaccessiblePaths = [ "-/srv/secret" ]; }' \
    --arg extraModule '{ lib, ... }: { services.microvm-host-helpers.vms.files.virtiofsd.readWritePaths = lib.mkForce [ "/run/user/1000/vm" ]; }' \
    --argstr attr 'systemd.services.microvm-virtiofsd@files.serviceConfig.InaccessiblePaths' 2>&1)
check "the host's own InaccessiblePaths= of the unit outlast the /run/user drop-in's reset (got $out)" \
    test "$out" = '["","-/run/systemd/private","-/run/dbus/system_bus_socket","-/srv/secret"]'

out=$(rwpaths /srv/a:b)
check "readWritePaths /srv/a:b (a colon outside /run/user) is no assertion (got $out)" \
    test "$out" = '"ReadWritePaths=/srv/a:b\n"'
# fromMicrovmNix without microvm.nix's host module: nothing would be taken
# from it; the evaluation says so.
out=$(with_module '{ services.microvm-host-helpers.fromMicrovmNix = true; }')
check "fromMicrovmNix without microvm.nix's host module is an assertion" \
    says "services.microvm-host-helpers.fromMicrovmNix: microvm.nix's host module (nixosModules.host) is not imported"
# A share's extraArgs is one argument a line in extra-args: a newline in
# one would be two.
out=$(with_module '{ services.microvm-host-helpers.vms.files.shares.data.extraArgs = [ "--cache\nnever" ]; }')
check "a newline in a share's extraArgs is an assertion naming the VM" \
    says "services.microvm-host-helpers.vms.files.shares: an extra argument may not hold a newline"
# The other characters systemd splits at or expands in MICROVM_*_OPTIONS.
for w in '--bridge=br%i' "--bridge=br'0'" '--bridge=br\0' '--bridge="br0"'; do
    out=$(eva standalone --argstr tapWord "$w" 2>&1)
    check "an option word $w is an assertion" grep -q 'vms.net: the option words .* hold a space' <<<"$out"
done
# Root's pin only for a VM with a runner: none for a VM managed by hand.
out=$(with_module '{ services.microvm-host-helpers.vms.bare = { }; }' environment.etc)
check "no pin /etc/microvm/runners/bare for a VM without a runner" \
    eval '[[ $out == "{"* && $out != *microvm/runners/bare* ]]'
# libvirtd brings its own qemu-bridge-helper: the module adds none.
out=$(evalf microvm-nix '{ virtualisation.libvirtd.enable = true; }' security.wrappers)
check "with libvirtd, no qemu-bridge-helper wrapper of ours (got $out)" \
    eval '[[ $out == "{"* && $out != *qemu-bridge-helper* ]]'
# Per-VM virtiofsd.extraArgs reach every virtiofsd of the VM.
out=$(with_module '{ services.microvm-host-helpers.vms.files.virtiofsd.extraArgs = [ "--cache=never" ]; }' \
    systemd.services.microvm-virtiofsd@files.environment.MICROVM_VIRTIOFS_OPTIONS)
check "vms.files.virtiofsd.extraArgs reach virtiofs-launch as --extra-arg" grep -q -- '--extra-arg=--cache=never' <<<"$out"
# tap.qdisc as given.
out=$(with_module '{ lib, ... }: { services.microvm-host-helpers.vms.net.tap.qdisc = lib.mkForce "noqueue"; }' \
    systemd.services.microvm-tap-interfaces@net.environment.MICROVM_TAP_OPTIONS)
check "vms.net.tap.qdisc noqueue reaches tap-setup (got $out)" grep -q -- '--qdisc noqueue' <<<"$out"
# useNotifySockets: the template is Type=notify (every VM not in vms).
out=$(with_module '{ services.microvm-host-helpers.useNotifySockets = true; }' 'systemd.services.microvm@.serviceConfig.Type')
check "useNotifySockets: microvm@ Type=notify (got $out)" test "$out" = '"notify"'
out=$(evalf microvm-nix '{ microvm.host.useNotifySockets = true; }' 'systemd.services.microvm@.serviceConfig.Type')
check "microvm.host.useNotifySockets: microvm@ Type=notify (got $out)" test "$out" = '"notify"'
# microvm.nix's host settings become ours.
out=$(evalf microvm-nix '{ microvm.host.startupTimeout = 300; }' 'systemd.services.microvm@.serviceConfig.TimeoutSec')
check "microvm.host.startupTimeout 300: microvm@ TimeoutSec=300 (got $out)" test "$out" = 300
out=$(evalf microvm-nix '{ microvm.stateDir = "/srv/vms"; }' 'systemd.services.microvm@.serviceConfig.WorkingDirectory')
check "microvm.stateDir /srv/vms: microvm@ works in /srv/vms/%i (got $out)" test "$out" = '"-/srv/vms/%i"'
# The warnings and assertions of microvm.nix's host module that this one
# took over.
out=$(evalf microvm-nix '{ services.microvm-host-helpers.bridgeHelper.enable = false; }')
check "interfaces of type bridge without bridgeHelper: a warning naming the VM" \
    says 'vm files: interfaces of type "bridge" need services.microvm-host-helpers.bridgeHelper.enable'
# (net given flakey's flake beside its config; python: the failing assertions)
out=$(evalf microvm-nix '{ config, ... }: { microvm.vms.net.flake = config.microvm.vms.flakey.flake // {
    nixosConfigurations.net = config.microvm.vms.flakey.flake.nixosConfigurations.flakey; }; }' assertions \
    | python3 -c 'import json,sys; print("\n".join(a["message"] for a in json.load(sys.stdin) if not a["assertion"]))' 2>&1)
check "a declarative VM that also sets a flake is an assertion" \
    grep -qx 'vm net: Fully-declarative VMs cannot also set a flake!' <<<"$out"
# crosvm needs each share's tag given to virtiofsd: a tag file.
out=$(evalf microvm-nix '{ lib, ... }: { microvm.vms.files.config.microvm.hypervisor = lib.mkForce "crosvm"; }' \
    services.microvm-host-helpers.vms.files.currentRunner.files \
    | python3 -c 'import json,sys
for f in json.load(sys.stdin):
    if f["path"].endswith("/tag"): print(f["path"], json.dumps(f["text"]))' 2>&1)
check "crosvm: each share gets a tag file with its tag" test "$out" = 'share/microvm/virtiofs/data/tag "data\n"
share/microvm/virtiofs/home/tag "home\n"'
# A flake VM without updateFlake is the host's to update, as a
# declarative one: `flake` holds the flake's path, `current` and the pin
# follow each activation (microvm.nix: no updateFlake, no `microvm -u`).
noupd='{ lib, ... }: { microvm.vms.flakey.updateFlake = lib.mkForce null; }'
out=$(evalf microvm-nix "$noupd" services.microvm-host-helpers.vms.flakey.flake)
check "a flake VM without updateFlake: flake is the flake's path (got $out)" \
    test "$out" = "\"$STORE/00000000000000000000000000000000-source\""
out=$(evalf microvm-nix "$noupd" environment.etc)
check "a flake VM without updateFlake: root's pin /etc/microvm/runners/flakey" \
    eval '[[ $out == "{"* && $out == *'"'"'"microvm/runners/flakey"'"'"'* ]]'
# A newline cannot be written in a tmpfiles.d path: the evaluation names
# the path (a rule cut at it would make something else).
out=$(nested $'/srv/net\ndata' 2>&1)
check "a share source with a newline: the evaluation names it" \
    grep -q 'the path "/srv/net\\ndata" holds a newline, which tmpfiles.d cannot take' <<<"$out"
# A writable share's source as systemd takes ReadWritePaths= (it ignores
# a path with "..", leaving the share read-only); a relative source
# (under the VM's directory) gets no tmpfiles rule (tmpfiles.d refuses a
# relative path, and systemd-tmpfiles-setup fails at boot).
wshare() { # wshare SOURCE [ATTR]: microvm-nix, VM files with one more writable share
    evalf microvm-nix "{ microvm.vms.files.config.microvm.shares = [ { proto = \"virtiofs\"; tag = \"w\";
        source = \"$1\"; mountPoint = \"/w\"; } ]; }" ${2:+"$2"}
}
out=$(wshare /srv/x/../vmdata 'systemd.services.microvm-virtiofsd@files.serviceConfig.ReadWritePaths')
check "a writable share /srv/x/../vmdata: ReadWritePaths /srv/vmdata (got $out)" \
    test "$out" = '["/srv/vmdata","/home/alice/vm"]'
# One inside the state dir adds none: the unit has -/var/lib/microvms
# writable, and a path of ReadWritePaths= without "-" that is not there
# (a relative source not made yet) fails the unit's start.
for src in /var/lib/microvms/files/w data/w; do
    out=$(wshare $src 'systemd.services.microvm-virtiofsd@files.serviceConfig.ReadWritePaths')
    check "a writable share $src: no ReadWritePaths of its own (got $out)" test "$out" = '["/home/alice/vm"]'
done
# The store served writable (microvm.nix's ro-store share, readOnly
# unset) is no path virtiofsd may write: the store stays read-only.
out=$(wshare /nix/store 'systemd.services.microvm-virtiofsd@files.serviceConfig.ReadWritePaths')
check "a writable share of /nix/store: no ReadWritePaths for it (got $out)" test "$out" = '["/home/alice/vm"]'
out=$(wshare data/w systemd.tmpfiles.rules)
check "a relative share source gets no tmpfiles rule" eval '[[ $out == "["* && $out != *data/w* ]]'

# A VM's name is the instance of its units (%i) and a path component of
# the state dir, the pin and install-microvm-NAME's command line: one that
# systemd does not take as a unit's instance as written ("a b", "a%b",
# "x/y", a backslash, which ExecStart= unescapes, a newline) left a unit
# systemd ignores beside tmpfiles rules and a pin that act on the path (a
# "/" made directories beside the state dir's, "../../shadow" a pin
# outside /etc/microvm/runners); "." and ".." name the state dir and its
# parent (found by a red-team read: nothing refused them). The evaluation
# names each, in both forms, and in autostart.
failing() { # failing FORM ARG...: the messages of the failing assertions, else the output
    local out
    out=$(eva "$@" --argstr attr assertions 2>&1)
    python3 -c 'import json,sys
try: a = json.loads(sys.argv[1])
except ValueError: print(sys.argv[1]); sys.exit()
print("\n".join(x["message"] for x in a if not x["assertion"]))' "$out"
}
long=$(printf 'v%.0s' {1..221})
for form in standalone microvm-nix; do
    for n in 'a b' 'x/y' '../../shadow' '.' '..' '' 'a%i' 'a\x2db' $'web\n' 'a$b' "a'b" "$long"; do
        out=$(failing "$form" --argstr vmName "$n")
        shown=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$n")
        check "$form: VM name $shown is an assertion naming it" \
            grepF "the VM names [$shown] are not" "$out"
    done
    for n in 'web-1.a_b:c' '-x' "${long%v}"; do
        out=$(failing "$form" --argstr vmName "$n")
        check "$form: VM name '${n:0:20}' is no assertion (got ${out:0:200})" test -z "$out"
    done
done
out=$(failing standalone --argstr autostartName 'a b')
check "autostart 'a b' is an assertion naming it" \
    grepF 'services.microvm-host-helpers.autostart: the VM names ["a b"] are not' "$out"

# The state dir is written into the units by the package's sed (where
# & | \ and a quote meant something), into ExecStart= of install-microvm-
# NAME (split at a space, % expanded), WorkingDirectory= (% expanded),
# Environment=MICROVM_STATE_DIR= (split at a space) and a tmpfiles rule
# that gives it to the VM user, 0775, at every boot: "/" or "/var/lib"
# gave the VM user the host (found by a red-team read: nothing refused
# them). The evaluation names such a state dir, in both forms.
statedir() { # statedir FORM DIR: the failing assertions with DIR as the state dir
    local opt=services.microvm-host-helpers.stateDir
    [[ $1 == microvm-nix ]] && opt=microvm.stateDir
    failing "$1" --arg extraModule "{ $opt = $(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]).replace("$", "\\$"))' "$2"); }"
}
for form in standalone microvm-nix; do
    lead='services.microvm-host-helpers.stateDir = '
    [[ $form == microvm-nix ]] && lead='services.microvm-host-helpers.stateDir (microvm.stateDir) = '
    for d in '/srv/my vms' '/srv/100%' '/srv/a&b' "/srv/it's" '/srv/a\b' '/srv/a|b' '/srv/$x' '/srv//vms' '/srv/vms/' \
        '/srv/x/../vms' '/srv/./vms' $'/srv/vms\n'; do
        out=$(statedir $form "$d")
        shown=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$d")
        check "$form: state dir $shown is an assertion naming it" grepF "$lead$shown: " "$out"
    done
    for d in / /var/lib /etc /var /home /nix/store; do
        out=$(statedir $form "$d")
        check "$form: state dir $d is an assertion: a directory of the system's" \
            grepF "$lead\"$d\": a directory of the system's own" "$out"
    done
    for d in /srv/vms /var/lib/micro-vms_2.a /var/lib/microvms; do
        out=$(statedir $form "$d")
        check "$form: state dir $d is no assertion (got ${out:0:200})" test -z "$out"
    done
done
# A Nix path (types.path takes one): "${stateDir}" copied it into the store,
# and the units and rules named that copy.
out=$(failing standalone --arg extraModule '{ services.microvm-host-helpers.stateDir = /tmp/mvm-vms; }')
check "a state dir given as a Nix path is an assertion naming it (got ${out:0:200})" \
    grepF 'services.microvm-host-helpers.stateDir = "/tmp/mvm-vms": a Nix path' "$out"
# nix/package.nix called with one (pkgs.callPackage ./package.nix { stateDir = ...; }).
pkgdir() { # pkgdir DIR: the package's outPath with DIR, or the error
    nix-instantiate --eval --strict --argstr d "$1" -E "{ d }: let lib = import $libpath;
        pkgs = import $top/tests/nix/pkgs-stub.nix { inherit lib; };
        in (pkgs.callPackage $top/nix/package.nix { stateDir = d; }).outPath" 2>&1
}
out=$(pkgdir '/srv/a&b')
check "package.nix: stateDir /srv/a&b is refused naming it (got ${out:0:200})" \
    grepF 'microvm-host-helpers: stateDir = "/srv/a&b": not absolute' "$out"
out=$(pkgdir /srv/vms)
check "package.nix: stateDir /srv/vms is taken (got ${out:0:200})" eval '[[ $out == \"*microvm-host-helpers-* ]]'

# The package's postInstall run on the installed units: NixOS has no
# /bin/mount, /bin/findmnt, /bin/kill, /bin/systemctl nor /sbin/modprobe
# (it has /bin/sh), so every program an Exec line names, also inside its
# sh -c, must be a store path.
post=$(nix-instantiate --eval --strict --json -E "let lib = import $libpath;
    pkgs = import $top/tests/nix/pkgs-stub.nix { inherit lib; };
    in (pkgs.callPackage $top/nix/package.nix { }).postInstall" 2>&1 | python3 -c 'import json,sys; print(json.load(sys.stdin))')
if make -s B="$B" install PREFIX="$TMP/pkgout" >"$TMP/pkgout.log" 2>&1 && out=$TMP/pkgout bash -ec "$post" >>"$TMP/pkgout.log" 2>&1; then
    # (a path that starts a word, a quoted one, a command substitution, or
    # comes after a prefix: = + - @ ! or a shell's ; & |)
    left=$(grep -hE '^Exec' "$TMP"/pkgout/lib/systemd/system/* | grep -E "[ =+@!(;&|\"'-](/usr)?/s?bin/")
    check "postInstall: every program of the units' Exec lines in the store (left: ${left:0:300})" test -z "$left"
    check "postInstall: microvm-state-dir's findmnt and mount are util-linux's" \
        grep -qE "/nix/store/[^ ]*-util-linux/bin/findmnt .*/nix/store/[^ ]*-util-linux/bin/mount --rbind" \
        "$TMP/pkgout/lib/systemd/system/microvm-state-dir.service"
else
    fail "postInstall on the installed units: $(cat "$TMP/pkgout.log")"
fi

# A share's tag names its directory share/microvm/virtiofs/TAG/ in the
# runner, where the build script writes its settings: ".." wrote them into
# share/microvm/ (the directory is there), "." into virtiofs/ itself, so a
# readOnly share's read-only file reached no share at all (found by a
# red-team read). One path component, as DESIGN.md has a tag: not empty,
# . or .., no / and no control character; the evaluation names it, and a
# `tag` setting (crosvm's --tag, a file of one line) likewise.
sharetag() { # sharetag FORM TAG: the failing assertions with one more read-only share TAG of VM files
    local m
    if [[ $1 == standalone ]]; then
        m="{ services.microvm-host-helpers.vms.files.shares.\${$(jstr "$2")}.readOnly = true; }"
    else
        m="{ microvm.vms.files.config.microvm.shares = [ { proto = \"virtiofs\"; tag = $(jstr "$2");
            source = \"/srv/t\"; mountPoint = \"/t\"; readOnly = true; } ]; }"
    fi
    failing "$1" --arg extraModule "$m"
}
jstr() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]).replace("$", "\\$"))' "$1"; }
for form in standalone microvm-nix; do
    for t in '..' '.' '' 'a/b' '../../bin' $'a\nb' $'a\tb'; do
        out=$(sharetag $form "$t")
        check "$form: share tag $(jstr "$t") is an assertion naming it" \
            grepF "services.microvm-host-helpers.vms.files.shares: the tags [$(jstr "$t")] are not" "$out"
    done
    for t in 'my data' 'data-1'; do
        out=$(sharetag $form "$t")
        check "$form: share tag '$t' is no assertion (got ${out:0:200})" test -z "$out"
    done
done
out=$(failing standalone --arg extraModule '{ services.microvm-host-helpers.vms.files.shares.data.tag = "da\nta"; }')
check "a share's tag setting with a newline is an assertion naming it" \
    grepF 'services.microvm-host-helpers.vms.files.shares.data.tag = "da\nta": not' "$out"

# An empty word vanished from MICROVM_*_OPTIONS, so that the next one took
# its place: tap.bridge = "" made "--bridge -- NAME", a bridge named "--"
# (found by a red-team read). And the template's own words (virtiofsdPackage's
# program, for the VMs not in vms) went unchecked.
out=$(failing standalone --argstr tapWord '')
check "an empty option word is an assertion naming it" grepF 'vms.net: the option words [""] hold a space' "$out"
out=$(failing standalone --arg extraModule '{ lib, ... }: { services.microvm-host-helpers.vms = lib.mkForce { };
    services.microvm-host-helpers.virtiofsdPackage = lib.mkForce { type = "derivation"; name = "v";
      outPath = "/nix/store/00000000000000000000000000000000-v"; meta.mainProgram = "virtio fsd"; }; }')
check "a virtiofsdPackage program with a space is an assertion naming it, with no VM declared (got ${out:0:200})" \
    grepF 'services.microvm-host-helpers.virtiofsdPackage: the option words ["--virtiofsd=/nix/store/00000000000000000000000000000000-v/bin/virtio fsd"] of microvm-virtiofsd@ hold a space' "$out"

# A writable share of the state dir, of a VM's directory or of one above
# them: the guest's root makes links and directories of host uid 0 there,
# a `current` of root's in a VM's directory among them, which the helpers
# take for one root made (for a VM without a pin; README, Trust), with no
# VM user to move it there (found by a red-team read: nothing refused it).
for src in /var/lib/microvms /var/lib/microvms/net /var/lib/microvms/files /var/lib /var/lib/microvms/x/../net; do
    out=$(failing microvm-nix --arg extraModule "{ microvm.vms.files.config.microvm.shares = [ { proto = \"virtiofs\";
        tag = \"w\"; source = \"$src\"; mountPoint = \"/w\"; } ]; }")
    check "a writable share of $src is an assertion naming it" \
        grepF "vm files: writable share 'w' ($src) holds the state dir or a VM's directory" "$out"
done
for src in /var/lib/microvms/files/w /var/lib/microvms/net/data /srv/w; do
    out=$(failing microvm-nix --arg extraModule "{ microvm.vms.files.config.microvm.shares = [ { proto = \"virtiofs\";
        tag = \"w\"; source = \"$src\"; mountPoint = \"/w\"; } ]; }")
    check "a writable share of $src is no assertion (got ${out:0:200})" test -z "$out"
done

# 3. The runner with per-share settings (microvm.nix form, VM files). The
# unwrapped runner as lib/runner.nix (71beea0) lays it out: bin/ entries
# are symlinks to scripts elsewhere in the store; virtiofs/TAG/{socket,
# source} for each virtiofs share (not for the 9p one).
runner=$(ev microvm-nix services.microvm-host-helpers.vms.files.runner.outPath | json)
wrapped=$(ev microvm-nix services.microvm-host-helpers.vms.files.currentRunner.outPath | json)
script=$(ev microvm-nix services.microvm-host-helpers.vms.files.currentRunner.buildCommand | json)
scripts=$STORE/0000000000000000000000000000000a-microvm-cloud-hypervisor-files-microvm-run
if [[ -z $runner || -z $wrapped || -z $script ]]; then
    fail "runner, currentRunner or its buildCommand not evaluated"
else
    printf '#!/bin/sh\nexec -a "microvm@files" true\n' >"$scripts"
    chmod 555 "$scripts"
    mkdir -p "$runner/bin" "$runner/share/microvm/virtiofs/data" "$runner/share/microvm/virtiofs/home"
    ln -s "$scripts" "$runner/bin/microvm-run"
    ln -s /nix/store/00000000000000000000000000000000-nixos-system-files "$runner/share/microvm/system"
    echo vnet_hdr >"$runner/share/microvm/tap-flags"
    echo files-virtiofs-data.sock >"$runner/share/microvm/virtiofs/data/socket"
    echo /srv/files >"$runner/share/microvm/virtiofs/data/source"
    echo files-virtiofs-home.sock >"$runner/share/microvm/virtiofs/home/socket"
    echo "$TMP/home-alice-vm" >"$runner/share/microvm/virtiofs/home/source"
    echo cloud-hypervisor >"$runner/share/microvm/hypervisor"
    chmod -R a-w "$runner"
    if ! (cd "$TMP" && out=$wrapped bash -eu -o pipefail -c "$script") >"$TMP/build.log" 2>&1; then
        cat "$TMP/build.log"
        fail "the currentRunner build script failed"
    fi
    sv=$wrapped/share/microvm/virtiofs
    check "settings files: data read-only, cache, posix-acl, inode-file-handles" test \
        "$(cat "$sv/data/read-only" "$sv/data/cache" "$sv/data/posix-acl" "$sv/data/inode-file-handles")" \
        = $'true\nauto\ntrue\nprefer'
    check "settings files: home extra-args, one argument a line" test \
        "$(cat "$sv/home/extra-args")" = $'--announce-submounts\n--log-level\ndebug'
    check "settings files end in a newline" test "$(tail -c1 "$sv/data/read-only" | od -An -c | tr -d ' ')" = '\n'
    check "no tag file (not crosvm)" test ! -e "$sv/data/tag"
    check "the rest of the tree is the runner's, links kept" \
        diff -r --no-dereference --exclude=read-only --exclude=cache --exclude=posix-acl \
        --exclude=inode-file-handles --exclude=extra-args "$runner" "$wrapped"
    check "bin/microvm-run still a link to the script" test "$(readlink "$wrapped/bin/microvm-run")" = "$scripts"
    # As the store leaves it: root's, read-only; then virtiofs-launch reads it.
    chmod -R a-w "$wrapped"
    mkdir -p "$TMP/state/files"
    ln -s "$wrapped" "$TMP/state/files/current"
    # (--group: the launcher resolves the sockets' group itself, from
    # /etc/group, and this machine may have no kvm group)
    out=$("$B/virtiofs-launch" --state-dir "$TMP/state" --virtiofsd /bin/true --virtiofsd-dialect rust \
        --group root --dry-run files 2>&1)
    rc=$?
    check "virtiofs-launch --dry-run accepts the runner with settings (exit $rc)" test "$rc" = 0
    check "virtiofs-launch would start both shares" \
        grep -q "would start share 'data'.*would start share 'home'" <<<"$(tr '\n' ' ' <<<"$out")"
    # A runner without the share the settings are for: the build fails.
    chmod -R u+w "$runner"
    rm -rf "$runner/share/microvm/virtiofs/home" "$TMP/out2"
    if (cd "$TMP" && out=$TMP/out2 bash -eu -o pipefail -c "$script") >"$TMP/build2.log" 2>&1; then
        fail "a runner without share home: the build succeeded"
    else
        check "a runner without share home: the build fails naming it" \
            grep -q "no share/microvm/virtiofs/home: the runner has no such virtiofs share" "$TMP/build2.log"
    fi
fi

# 4. tmpfiles rules, applied by install-microvm-NAME's command, in a root
# of their own with the VM user and group in its /etc.
if ! command -v systemd-tmpfiles >/dev/null; then
    fail "systemd-tmpfiles not installed (Debian package systemd)"
else
    R=$TMP/root
    mkdir -p "$R/etc/tmpfiles.d" "$R/var/lib" "$R/srv"
    printf 'root:x:0:0::/root:/bin/sh\nmicrovm:x:990:78::/var/lib/microvms:/bin/false\n' >"$R/etc/passwd"
    printf 'root:x:0:\nkvm:x:78:\n' >"$R/etc/group"
    ev microvm-nix systemd.tmpfiles.rules | json >"$R/etc/tmpfiles.d/00-nixos.conf"
    cur() { readlink "$R/var/lib/microvms/$1/current"; }
    install_vm() { # NAME: the unit's ExecStart, with --root
        local cmd
        cmd=$(ev microvm-nix "systemd.services.install-microvm-$1.serviceConfig.ExecStart" | json)
        [[ $cmd == */bin/systemd-tmpfiles\ * ]] || { echo "ExecStart: $cmd"; return 1; }
        # shellcheck disable=SC2086  # a command line of plain words
        systemd-tmpfiles --root="$R" ${cmd#* }
    }
    for vm in net files pass flakey; do
        check "install-microvm-$vm (systemd-tmpfiles --root)" install_vm "$vm"
    done
    toplevel=$(ev microvm-nix services.microvm-host-helpers.vms.net.toplevel.outPath | json)
    flakey=$(ev microvm-nix services.microvm-host-helpers.vms.flakey.currentRunner.outPath | json)
    check "files/current -> the runner with settings" test "$(cur files)" = "$wrapped"
    check "net/toplevel -> the guest's system" test "$(readlink "$R/var/lib/microvms/net/toplevel")" = "$toplevel"
    check "flakey/current -> its runner with settings" test "$(cur flakey)" = "$flakey"
    check "flakey/flake holds updateFlake" test "$(cat "$R/var/lib/microvms/flakey/flake")" = "git+file:///etc/nixos"
    check "VM dir 0755 microvm:kvm" test "$(stat -c '%a %u:%g' "$R/var/lib/microvms/files")" = "755 990:78"
    # Everything, as at boot (systemd-tmpfiles-setup): the state dir, the
    # share sources.
    systemd-tmpfiles --root="$R" --create >/dev/null 2>&1
    check "state dir 0775 microvm:kvm" test "$(stat -c '%a %u:%g' "$R/var/lib/microvms")" = "775 990:78"
    check "share source /srv/files made for the VM user" test "$(stat -c '%a %u:%g' "$R/srv/files")" = "775 990:78"
    # microvm -u re-pointed flakey's current; a declarative VM's current
    # was changed by hand: the next install keeps the first, fixes the second.
    ln -sfn /nix/store/00000000000000000000000000000001-updated "$R/var/lib/microvms/flakey/current"
    ln -sfn /nix/store/00000000000000000000000000000002-other "$R/var/lib/microvms/files/current"
    install_vm flakey && install_vm files
    check "updateFlake VM: current left as microvm -u made it" \
        test "$(cur flakey)" = /nix/store/00000000000000000000000000000001-updated
    check "declarative VM: current re-pointed at its runner" test "$(cur files)" = "$wrapped"
    # The host made a VM's directory private (found by an audit:
    # microvm.nix's install step chowned the directory, never chmod'ed it;
    # the rule reset it to 0755 at every start): the mode is the host's,
    # the owner the VM user's again.
    chmod 0750 "$R/var/lib/microvms/files"
    chown 0:0 "$R/var/lib/microvms/files" 2>/dev/null
    install_vm files
    check "VM dir chmod'ed 0750 by the host: mode kept, owner microvm:kvm" \
        test "$(stat -c '%a %u:%g' "$R/var/lib/microvms/files")" = "750 990:78"

    # Values tmpfiles.d(5) would read as something else (found by an
    # audit): a share source with a space (microvm.nix's
    # tmpfiles.settings quoted it; a plain rule is cut at the space and
    # refused) and an updateFlake with % (microvm.nix echoed it into
    # `flake`; to tmpfiles a specifier, refused); % in a path likewise
    # (%b, the boot ID). Every rule must be taken and mean what was given.
    R2=$TMP/root2
    mkdir -p "$R2/etc/tmpfiles.d" "$R2/var/lib" "$R2/srv"
    cp "$R/etc/passwd" "$R/etc/group" "$R2/etc/"
    # (a quote and a backslash too, in both: tmpfiles.d takes the one as
    # quoting, C-unescapes the other)
    src='/srv/net "data" %b \x'
    upd='git+file:///home/alice/My%20Infra?ref=main&dir=a\b'
    eva microvm-nix --argstr netShare "$src" \
        --argstr flakeyUpdate "$upd" --argstr attr systemd.tmpfiles.rules \
        | json >"$R2/etc/tmpfiles.d/00-nixos.conf"
    systemd-tmpfiles --root="$R2" --create >"$TMP/tmpfiles2.log" 2>&1
    rc=$?
    [[ $rc == 0 ]] || sed 's/^/  /' "$TMP/tmpfiles2.log"
    check "systemd-tmpfiles takes every rule of a source with a space, a quote and a backslash, an updateFlake with % and a backslash (exit $rc)" \
        test "$rc" = 0
    check "share source '$src' made for the VM user" \
        test "$(stat -c '%a %u:%g' "$R2$src" 2>&1)" = "775 990:78"
    check "flakey/flake holds updateFlake '$upd' as written" \
        test "$(cat "$R2/var/lib/microvms/flakey/flake" 2>&1)" = "$upd"
fi

[[ $fails == 0 ]]
