#!/usr/bin/env bash
# Screenshots of the admin UI's pages (docs/admin-ui.md, "Screenshots"),
# taken by the real-browser test over the demo fixtures, on SQLite.
# Needs chromium and chromium-driver (Debian packages).
# Usage: bash scripts/admin-screenshots.sh [DIR]   (default: docs/img/admin-ui)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/docs/img/admin-ui}
mkdir -p "$out"
out=$(cd "$out" && pwd)
# SQLite only: the Postgres run would take the same pictures again.
env -u WB_TEST_POSTGRES_URL WB_ADMIN_SCREENSHOTS="$out" \
    cargo test --quiet --locked --manifest-path "$root/Cargo.toml" -p wb-admin --test admin_ui -- \
    --exact browser::a_real_browser_pages_filters_toggles_adds_a_member_and_exports
ls "$out"
