#!/usr/bin/env bash
# Installs what building and testing rusm needs beyond a stable Rust
# toolchain: the guest target and the lint tools. Idempotent.
set -euo pipefail
rustup target add wasm32-wasip2
rustup component add clippy rustfmt
