#!/usr/bin/env bash
# Three instances and a hub on loopback, end to end on embedded SQLite:
# alpha and beta publish through the hub, gamma pulls both, verifies them
# against the keys it pinned, and imports them.
# Usage: bash scripts/hub-demo.sh [WORKDIR]   (default: a fresh temporary directory)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
work=${1:-$(mktemp -d -t wb-hub-demo.XXXXXX)}
mkdir -p "$work"

cargo build --quiet --locked --manifest-path "$root/Cargo.toml" -p wb-cli -p wb-hub
wb() { "$target/debug/wb" "$@"; }
hub() { "$target/debug/wb-hub" --database-url "sqlite://$work/hub.db" "$@"; }
say() { printf '\n== %s\n' "$*"; }

say "three instances"
wb -C "$work/alpha" init --instance alpha.example --fixtures "$root/fixtures/demo"
wb -C "$work/beta" init --instance beta.example --fixtures "$root/fixtures/demo"
wb -C "$work/gamma" init --instance gamma.example
alpha_key=$(wb -C "$work/alpha" sync keygen 2>/dev/null)
beta_key=$(wb -C "$work/beta" sync keygen 2>/dev/null)

say "the hub registers alpha and beta and issues their tokens"
hub instance add alpha.example --key "$alpha_key"
hub instance add beta.example --key "$beta_key"
hub token issue alpha.example > "$work/alpha.token"
hub token issue beta.example > "$work/beta.token"
# The binary itself in the background (not the `hub` function, whose
# subshell would be what $! names and the trap kills).
"$target/debug/wb-hub" --database-url "sqlite://$work/hub.db" serve --bind 127.0.0.1:0 \
    > "$work/hub.out" 2> "$work/hub.log" &
hub_pid=$!
trap 'kill $hub_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q 'http://' "$work/hub.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$work/hub.out" | head -n1)
echo "hub at $url"

say "alpha and beta push"
wb -C "$work/alpha" sync push --hub "$url" --token-file "$work/alpha.token"
wb -C "$work/beta" sync push --hub "$url" --token-file "$work/beta.token"

say "gamma pins both keys and pulls"
wb -C "$work/gamma" sync peers add hub --url "$url" --kind hub
wb -C "$work/gamma" sync peers add alpha.example --url "$url" --key "$alpha_key"
wb -C "$work/gamma" sync peers add beta.example --url "$url" --key "$beta_key"
wb -C "$work/gamma" sync peers list
wb -C "$work/gamma" sync pull --hub hub
wb -C "$work/gamma" sync pull --hub hub

say "gamma: requests that arrived"
wb -C "$work/gamma" list request
