#!/usr/bin/env bash
# Installs what building and testing rusm needs beyond a stable Rust
# toolchain: the guest target, the lint tools, clang for the runner, Bun.
# Idempotent. (The fuzzers' nightly and cargo-fuzz: ci/fuzz.sh.)
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2
rustup component add clippy rustfmt
# The TypeScript runner compiles QuickJS (C) for wasm32 with Debian's clang
# and wasi-libc: no WASI SDK download (see runner/README.md).
if ! command -v clang-19 >/dev/null || ! command -v llvm-ar-19 >/dev/null || [ ! -d /usr/include/wasm32-wasi ]; then
    apt-get update -qq
    apt-get install -y -qq clang-19 lld-19 llvm-19 wasi-libc libclang-rt-19-dev-wasm32
fi
# Bun bundles TypeScript components (`rusm build`) and runs rusm-ts's own
# tests. It comes from npm (the package carries the Linux binary) into
# .tools/, where rusm_build looks for it.
BUN_VERSION=1.4.4
if [ "$(.tools/node_modules/.bin/bun --version 2>/dev/null)" != "$BUN_VERSION" ]; then
    npm install --prefix .tools --no-save --no-audit --no-fund "bun@$BUN_VERSION"
fi
