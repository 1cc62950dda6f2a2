#!/usr/bin/env bash
# The serving benchmark, side by side (README): rusm's HTTP hello against
# `wasmtime serve` running an equivalent wasi:http component, on this
# machine in one run, plus WebSocket echo and SSE figures. Installs
# wasmtime-cli (the version of the wasmtime rusm embeds) if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
wasmtime_version=48.0.8
wasmtime="${CARGO_HOME:-$HOME/.cargo}/bin/wasmtime"
if ! "$wasmtime" --version 2>/dev/null | grep -q "$wasmtime_version"; then
    cargo install wasmtime-cli --version "$wasmtime_version" --locked
fi
peer=runtime/bench/peers/wasi-http-hello
cargo build -q --release --target wasm32-wasip2 --manifest-path "$peer/Cargo.toml" --target-dir target/guests
cargo run -q --release -p rusm-bench --bin serve -- \
    --wasmtime "$wasmtime" --peer target/guests/wasm32-wasip2/release/wasi_http_hello.wasm
