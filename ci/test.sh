#!/usr/bin/env bash
# The one command that sets up and passes every check and test (README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh

# A fresh clone builds everything once: incremental caches would only double
# the target dirs on a disk other jobs share (a CI run once died of ENOSPC).
export CARGO_INCREMENTAL=0

# Each step's start, in minutes since the run began: where CI's time goes.
step() { printf '\n== [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }
trap 'printf "\n== [%dm%02ds] done\n" $((SECONDS / 60)) $((SECONDS % 60))' EXIT

step "format"
cargo fmt --all -- --check
# The guests live outside the host workspace: rustfmt them directly. The
# concept page's own examples are kept verbatim, formatting included.
rustfmt --edition 2024 --check $(git ls-files 'sdk-rs/rusm-rs/*.rs' 'runner/*.rs' 'examples/*.rs' 'fuzz/*.rs' 'runtime/cli/templates/*.rs' \
    ':!examples/serve-rs/components/api/src/main.rs' ':!examples/serve-rs/components/echo/src/main.rs')

step "clippy (host workspace)"
cargo clippy --all-targets -- -D warnings

step "clippy (guests, wasm32-wasip2)"
for app in sdk-rs/rusm-rs/ examples/*/; do
    # An app of TypeScript components only has no cargo workspace; the host
    # crate among the examples is linted with the host workspace.
    [ -f "$app/Cargo.toml" ] || continue
    [ "$app" != examples/scenarios-in-code/ ] || continue
    cargo clippy --manifest-path "$app/Cargo.toml" --target wasm32-wasip2 \
        --target-dir target/guests -- -D warnings
done

# The runner compiles QuickJS with Debian's clang (as rusm_build::build_runner does).
RQUICKJS_SYS_NO_WASI_SDK=1 CC_wasm32_wasip2=clang-19 AR_wasm32_wasip2=llvm-ar-19 \
    CFLAGS_wasm32_wasip2="--target=wasm32-wasip1 -isystem /usr/include/wasm32-wasi -Os -DNDEBUG" \
    cargo clippy --manifest-path runner/Cargo.toml --release --target wasm32-wasip2 \
    --target-dir target/runner -- -D warnings

step "rusm-ts: bun test (the wire vectors rusm-wire is held to, URL against Bun's), tsc over it and the examples' and templates' TypeScript, its .d.ts"
(
    cd sdk-ts
    bun="$PWD/../.tools/node_modules/.bin/bun"
    "$bun" install --frozen-lockfile
    "$bun" test
    # The examples' npm imports, for tsc (rusm build installs them too).
    for component in ../examples/*/components/*/; do
        if [ -f "$component/bun.lock" ]; then
            (cd "$component" && "$bun" install --frozen-lockfile)
        fi
    done
    "$bun" run check
    "$bun" run types
)

step "under simulation (madsim): the actor core's tests, every scenario replayed twice per seed over a 25-seed sweep, rusm sim across processes, scenarios built in code"
# Its own target dir: a different RUSTFLAGS would otherwise rebuild the
# normal build from scratch every time.
RUSM_SEEDS=25 RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target-madsim cargo test --no-fail-fast -p rusm-core -p rusm-sim -p rusm -p scenarios-in-code

step "tests (unit, guests on the real host, doc tests)"
# --no-fail-fast: one failing crate should not hide the others.
cargo test --no-fail-fast

step "the runner is the same bytes from another checkout (its snapshot is made from those bytes alone, tested in runtime/host/tests/scripts.rs)"
# A process's fuel (simulated CPU time) depends on where QuickJS's objects
# lie in memory, so a runner or snapshot that changed with the checkout's
# path would change every TypeScript scenario's trace from one clone to
# the next.
other="$(mktemp -d /tmp/rusm-checkout.XXXXXX)"
git ls-files -z runner sdk-ts runtime/host/wit | xargs -0 cp --parents -t "$other"
ln -s "$PWD/.tools" "$other/.tools"
RUSM_HOME="$other" target/debug/rusm build-runner --target-dir "$other/target" > /dev/null
cmp target/guests/wasm32-wasip2/release/rusm-runner.wasm "$other/target/wasm32-wasip2/release/rusm-runner.wasm"
rm -rf "$other"

step "the harness from outside: install into a temp prefix, rusm new every template, build, test, fail, replay, accept (ci/roundtrip.sh)"
# It installs the two builds the steps above made, rather than building
# wasmtime again.
bash ci/roundtrip.sh
step "fuzz (nightly, cargo-fuzz): replay every corpus, then each target for 10 s"
# Built at opt-level 1 (see ci/fuzz.sh): the run's budget goes to finding, not
# to optimizing cranelift.
FUZZ_OPT_LEVEL=1 FUZZ_SECONDS=10 bash ci/fuzz.sh
