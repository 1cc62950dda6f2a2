#!/usr/bin/env bash
# The one command that sets up and runs the example app (README):
# builds the rusm CLI, compiles the app's components, and runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
app="${1:-examples/ping-pong}"
cargo build -q -p rusm
./target/debug/rusm build "$app" --target-dir target/guests
./target/debug/rusm run "$app"
