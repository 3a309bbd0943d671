#!/bin/bash
# tests/units/test-nix.sh: nix/package.nix and nix/module.nix parse
# (nix-instantiate --parse; nixpkgs is not here, so nothing is evaluated).
# Exit 0 pass, 1 fail, 77 skip.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
command -v nix-instantiate >/dev/null \
    || { echo "SKIP: nix-instantiate not installed (Debian package nix-bin)" >&2; exit 77; }
fails=0
for f in nix/package.nix nix/module.nix; do
    if [[ ! -f $f ]]; then
        echo "FAIL: $f missing"
        fails=$((fails + 1))
    elif nix-instantiate --parse "$f" >/dev/null; then
        echo "ok: $f parses"
    else
        echo "FAIL: $f does not parse"
        fails=$((fails + 1))
    fi
done
[[ $fails == 0 ]]
