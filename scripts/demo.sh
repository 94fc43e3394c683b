#!/usr/bin/env bash
# The main job, end to end, on embedded SQLite: build `wb`, create a demo
# instance from the fixtures, and show what it would share and why.
# Usage: bash scripts/demo.sh [WORKDIR]   (default: a fresh temporary directory)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d -t wb-demo.XXXXXX)}

cargo build --quiet --locked --manifest-path "$root/Cargo.toml" -p wb-cli
wb() { "$root/target/debug/wb" "$@"; }

alpha="$work/alpha"
echo "== creating instance alpha.example in $alpha"
wb -C "$alpha" init --instance alpha.example --fixtures "$root/fixtures/demo"

for entity in user request comment invite; do
    echo
    echo "== $entity rows and their effective scope"
    wb -C "$alpha" list "$entity"
done

held=$(wb -C "$alpha" list comment --json | python3 -c 'import json,sys; print(next(r["id"] for r in json.load(sys.stdin) if r["effective"] == "held-back"))')
echo
echo "== why is comment $held not shared?"
wb -C "$alpha" scope show comment "$held"
echo
echo "Done. The instance is in $alpha; try: $root/target/debug/wb -C $alpha --help"
