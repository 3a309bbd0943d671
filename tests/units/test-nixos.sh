#!/bin/bash
# tests/units/test-nixos.sh: nix/module.nix in a real NixOS evaluation
# (<nixpkgs/nixos/lib/eval-config.nix>) of the host of tests/nix/hosts.nix,
# in both forms, against the same checks as test-nix.sh
# (tests/nix/checks.nix). Needs Nixpkgs on NIX_PATH (a NixOS host, or
# NIX_PATH=nixpkgs=...): SKIPPED elsewhere.
# Exit 0 pass, 1 fail, 77 skip.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
command -v nix-instantiate >/dev/null \
    || { echo "SKIP: nix-instantiate not installed (Debian package nix-bin)" >&2; exit 77; }
export NIX_CONFIG='build-users-group ='
nixpkgs=$(nix-instantiate --find-file nixpkgs 2>/dev/null) || nixpkgs=
if [[ -z $nixpkgs || ! -f $nixpkgs/nixos/lib/eval-config.nix ]]; then
    echo "SKIP: no Nixpkgs with nixos/ on NIX_PATH (NIX_PATH='${NIX_PATH:-}'): the real NixOS evaluation needs one" >&2
    exit 77
fi
echo "info: Nixpkgs from $nixpkgs"
fails=0
for form in standalone microvm-nix; do
    if ! out=$(nix-instantiate --eval --strict --json tests/nix/eval.nix --argstr nixos "$nixpkgs" \
        --argstr form "$form" 2>&1); then
        printf '%s\n' "$out" | tail -n 20
        echo "FAIL: $form: NixOS evaluation failed"
        fails=$((fails + 1))
    elif [[ $out == "[]" ]]; then
        echo "ok: $form: NixOS evaluation, every check holds"
    else
        python3 -c 'import json,sys; [print("  " + x) for x in json.load(sys.stdin)]' <<<"$out"
        echo "FAIL: $form: checks failed"
        fails=$((fails + 1))
    fi
done
[[ $fails == 0 ]]
