//! Every scenario in `scenarios/`, run inside madsim as `rusm test` runs
//! an app's (`rusm_sim::check`): twice per seed with byte-identical traces,
//! the first seed also under madsim's own determinism check and against
//! its snapshot in `snapshots/`. Run with
//! `RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target-madsim cargo test -p rusm-sim`.
//!
//! - `RUSM_SEEDS=N` also runs every scenario with seeds 1..=N (a sweep);
//! - `RUSM_SCENARIO=name RUSM_SEED=n` replays exactly one scenario and seed
//!   (what a failure prints);
//! - `RUSM_ACCEPT=1` pins new and changed traces, saying which.

#![cfg(madsim)]

use std::path::{Path, PathBuf};

use rusm_sim::Scenario;
use rusm_sim::check::{Pinned, check_seed};
use rusm_sim::snapshot;

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// What a failure prints: the test replaying exactly that scenario and
/// seed, and the same run by hand (it prints the same trace).
fn replay_command(name: &str, seed: u64) -> String {
    format!(
        "RUSM_SCENARIO={name} RUSM_SEED={seed} RUSTFLAGS=\"--cfg madsim\" CARGO_TARGET_DIR=target-madsim cargo test -p rusm-sim\n\
         or by hand: bash ci/sim.sh scenarios/{name}.toml --seed {seed}"
    )
}

fn env_number(key: &str) -> Option<u64> {
    let value = std::env::var(key).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{key}={value:?} is not a number")),
    )
}

/// The seeds to run: the scenario's own, a sweep on top, or the one replayed.
fn seeds(scenario: &Scenario) -> Vec<u64> {
    if let Some(seed) = env_number("RUSM_SEED") {
        return vec![seed];
    }
    let mut seeds = scenario.seeds.clone();
    let sweep = env_number("RUSM_SEEDS").unwrap_or(0);
    seeds.extend((1..=sweep).filter(|s| !scenario.seeds.contains(s)));
    seeds
}

#[test]
fn every_scenario_replays_byte_for_byte_and_matches_its_snapshot() {
    let files = scenario_files();
    assert!(!files.is_empty(), "no scenarios found");
    let only = std::env::var("RUSM_SCENARIO").ok();
    for file in &files {
        let name = file
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a file name")
            .to_string();
        if only.as_ref().is_some_and(|only| *only != name) {
            continue;
        }
        let scenario = Scenario::load(file).unwrap_or_else(|e| panic!("{e}"));
        let snapshot = snapshot::path_of(file);
        let pinned = Pinned {
            snapshot: &snapshot,
            source: "sim/tests/scenarios.rs",
            accept: std::env::var_os("RUSM_ACCEPT").is_some_and(|v| v == "1"),
            accept_with: "RUSM_ACCEPT=1 cargo test -p rusm-sim",
            fresh: None,
        };
        for seed in seeds(&scenario) {
            let first = seed == scenario.seeds[0];
            if let Err(report) = check_seed(&scenario, seed, first.then_some(&pinned)) {
                panic!(
                    "scenario {name}, seed {seed}: {report}\nreplay: {}",
                    replay_command(&name, seed)
                );
            }
        }
    }
}
