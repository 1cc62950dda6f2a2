#!/usr/bin/env bash
# Measures how much faster than real time the simulator runs a node: replays
# scenarios/long/heartbeat-hour.toml (one simulated hour, 36,000 receive
# timeouts) and prints simulated seconds per wall second.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh >/dev/null 2>&1
export RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target-madsim
cargo build -q --release -p rusm
start=$(date +%s.%N)
target-madsim/release/rusm sim scenarios/long/heartbeat-hour.toml > target-madsim/heartbeat-hour.trace
end=$(date +%s.%N)
lines=$(wc -l < target-madsim/heartbeat-hour.trace)
awk -v s="$start" -v e="$end" -v n="$lines" 'BEGIN {
    wall = e - s
    printf "simulated 3600 s (%d trace lines) in %.2f s wall: %.0fx real time\n", n, wall, 3600 / wall
}'
