//! Every scenario in `scenarios/`, run inside madsim: twice per seed with
//! byte-identical traces, and the first seed's trace pinned as a snapshot in
//! `snapshots/`. Run with
//! `RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target-madsim cargo test -p rusm-sim`.
//!
//! - `RUSM_SEEDS=N` also runs every scenario with seeds 1..=N (a sweep);
//! - `RUSM_SCENARIO=name RUSM_SEED=n` replays exactly one scenario and seed
//!   (what a failure prints).

#![cfg(madsim)]

use std::path::{Path, PathBuf};

use rusm_sim::{Scenario, Trace, run};

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

fn traced(scenario: &Scenario, name: &str, seed: u64) -> Trace {
    run(scenario, seed).unwrap_or_else(|e| {
        panic!(
            "scenario {name}, seed {seed}: {e}\nreplay: {}",
            replay_command(name, seed)
        )
    })
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
        for seed in seeds(&scenario) {
            let once = traced(&scenario, &name, seed);
            let again = traced(&scenario, &name, seed);
            if let Some((line, a, b)) = once.first_difference(&again) {
                panic!(
                    "scenario {name}, seed {seed}: the replay differs at line {line}:\n  first:  {}\n  replay: {}\nreplay: {}",
                    a.unwrap_or("<end>"),
                    b.unwrap_or("<end>"),
                    replay_command(&name, seed)
                );
            }
            if seed == scenario.seeds[0] {
                // madsim's own check as well: two worlds on fresh threads,
                // every random draw compared. (Their trace need not equal
                // `once`: a fresh thread's lazy thread-locals draw first.)
                std::panic::catch_unwind(|| {
                    rusm_sim::check_determinism(&scenario, seed)
                })
                .unwrap_or_else(|_| {
                    panic!(
                        "scenario {name}, seed {seed}: madsim's determinism check failed (above)\nreplay: {}",
                        replay_command(&name, seed)
                    )
                })
                .unwrap_or_else(|e| panic!("scenario {name}, seed {seed}: {e}"));
                insta::with_settings!({
                    snapshot_path => "../../snapshots",
                    prepend_module_to_snapshot => false,
                    description => scenario.description.trim(),
                }, {
                    insta::assert_snapshot!(name.as_str(), once.to_string());
                });
            }
        }
    }
}
