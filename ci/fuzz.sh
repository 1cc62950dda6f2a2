#!/usr/bin/env bash
# The fuzz targets (fuzz/, cargo-fuzz on nightly): replays every committed
# corpus, then fuzzes each target for FUZZ_SECONDS (default 30). New inputs
# go to fuzz/work/<target> (not committed); a crash is written to
# fuzz/artifacts/<target>/ and fails the run: add it to the corpus and a
# regression test beside the code it breaks.
#
#   bash ci/fuzz.sh                        # every target, 30 s each
#   FUZZ_SECONDS=600 bash ci/fuzz.sh host_abi_calls
#   FUZZ_OPT_LEVEL=1 FUZZ_SECONDS=10 bash ci/fuzz.sh   # as CI runs it
set -euo pipefail
cd "$(dirname "$0")/.."
# The targets build with nightly and cargo-fuzz; nothing else needs them.
if ! cargo +nightly --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if [ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz 0.13.2" ]; then
    cargo install cargo-fuzz --version 0.13.2 --locked
fi
# The node-level targets run real guests: built here, by stable cargo.
for app in examples/abi examples/serve-rs; do
    cargo run --quiet -p rusm -- build "$app" --target-dir target/guests
done
cd fuzz
seconds=${FUZZ_SECONDS:-30}
# The targets link wasmtime and cranelift, instrumented: at opt-level 3 their
# build is the slowest part of a CI run, so CI asks for less
# (FUZZ_OPT_LEVEL=1). Every cargo fuzz command below must see the same level,
# or it rebuilds.
export CARGO_PROFILE_RELEASE_OPT_LEVEL="${FUZZ_OPT_LEVEL:-3}"
# No sanitizer: the host is safe Rust but for one audited block; coverage
# guidance is what finds panics, hangs and broken invariants.
flags=(-O --sanitizer none)
cargo +nightly fuzz build "${flags[@]}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
for target in "${targets[@]}"; do
    printf '\n== fuzz %s: replay corpus/%s, then %s s\n' "$target" "$target" "$seconds"
    mkdir -p "work/$target"
    cargo +nightly fuzz run "${flags[@]}" "$target" "corpus/$target" -- -runs=0
    log="work/$target.log"
    if ! cargo +nightly fuzz run "${flags[@]}" "$target" "work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1 > "$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz $target failed: its input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E '^(#[0-9]+ +DONE|stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb))' "$log" || true
done
