#!/usr/bin/env bash
# The main job, end to end, on embedded SQLite: build `wb`, create instance
# alpha from the demo fixtures, show what it shares and why, export a signed
# bundle, import it into a fresh instance beta, and show what arrived.
# Usage: bash scripts/demo.sh [WORKDIR]   (default: a fresh temporary directory)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
work=${1:-$(mktemp -d -t wb-demo.XXXXXX)}

cargo build --quiet --locked --manifest-path "$root/Cargo.toml" -p wb-cli
wb() { "$target/debug/wb" "$@"; }
say() { printf '\n== %s\n' "$*"; }

alpha="$work/alpha"
beta="$work/beta"

say "creating instance alpha.example in $alpha"
wb -C "$alpha" init --instance alpha.example --fixtures "$root/fixtures/demo"

for entity in user request comment invite; do
    say "alpha: $entity rows and their effective scope"
    wb -C "$alpha" list "$entity"
done

held=$(wb -C "$alpha" list comment --json | python3 -c 'import json,sys; print(next(r["id"] for r in json.load(sys.stdin) if r["effective"] == "held-back"))')
say "alpha: why is comment $held not shared?"
wb -C "$alpha" scope show comment "$held"

say "alpha: ben vouches for the root user ada (answers piped in)"
echo y | wb -C "$alpha" sync vouch --as ben
vouch=$(wb -C "$alpha" list vouch --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
wb -C "$alpha" scope set vouch "$vouch" public --as ben

say "alpha: export the public rows as a signed bundle"
wb -C "$alpha" sync export
echo "bundle: $alpha/data/public_sync ($(find "$alpha/data/public_sync" -mindepth 2 -name '*.sync.txt' | wc -l) row files)"
if command -v minisign >/dev/null; then
    minisign -V -q -p "$alpha/.sync/keys/alpha.example.pub" \
        -m "$alpha/data/public_sync/manifest.sync.txt" -x "$alpha/data/public_sync/bundle.sig" \
        && echo "minisign: bundle.sig verifies against alpha's public key"
fi

say "creating instance beta.example in $beta and importing alpha's bundle"
wb -C "$beta" init --instance beta.example
# Beta pins alpha's key on the first import (read from alpha's operator in
# real life; here from alpha's public key file).
alpha_key=$(tail -n 1 "$alpha/.sync/keys/alpha.example.pub")
wb -C "$beta" sync import "$alpha/data/public_sync" --key "$alpha_key"
wb -C "$beta" sync import "$alpha/data/public_sync"

for entity in user request comment vouch; do
    say "beta: $entity rows that arrived"
    wb -C "$beta" list "$entity"
done

say "beta: its copy of alpha's rows re-exports byte-identically"
wb -C "$beta" sync export --instance alpha.example --out relay/alpha.example
diff -r "$alpha/data/public_sync" "$beta/relay/alpha.example" && echo "identical"

say "done: instances in $work (try: $target/debug/wb -C $alpha serve)"
