#!/usr/bin/env bash
# Replays one scenario by hand in the simulation build, e.g.
#   bash ci/sim.sh scenarios/heartbeat.toml --seed 7
# and prints its trace (the same bytes on every run with that seed).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
args=()
for arg in "$@"; do
    # Paths are given from where the user stands; cargo runs from the root.
    if [[ -e "$arg" ]]; then arg="$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg")"; fi
    args+=("$arg")
done
cd "$root"
bash ci/setup.sh >/dev/null 2>&1 || { echo "ci/setup.sh failed; run it to see why" >&2; exit 1; }
RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target-madsim cargo run -q -p rusm -- sim "${args[@]}"
