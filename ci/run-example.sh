#!/usr/bin/env bash
# The one command that sets up and runs the example app (README): builds
# the rusm CLI, compiles the app's components, and serves it (an app with
# [[serve]] listeners) or runs its entry.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
app="${1:-examples/serve-rs}"
cargo build -q -p rusm
./target/debug/rusm build "$app" --target-dir target/guests
if grep -q '^\[\[serve\]\]' "$app/rusm.toml"; then
    exec ./target/debug/rusm serve "$app"
fi
exec ./target/debug/rusm run "$app"
