//! The tokio twin: the ping-pong scenario on the production runtime (real
//! tokio, real time) must produce the trace pinned from the simulation,
//! line for line once the timestamps are set aside. The simulated path and
//! the production path are one code; this is what keeps them so.

#![cfg(not(madsim))]

use std::path::Path;

use rusm_sim::{Scenario, run};

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// A snapshot's trace lines without their timestamps.
fn pinned_untimed(name: &str) -> Vec<String> {
    let snap = std::fs::read_to_string(repo().join(format!("snapshots/{name}.snap")))
        .expect("the snapshot exists");
    snap.splitn(3, "---\n")
        .nth(2)
        .expect("a snapshot has a header between two --- lines")
        .lines()
        .map(|l| l.split_once("ms  ").map_or(l, |(_, rest)| rest).to_string())
        .collect()
}

#[test]
fn ping_pong_on_tokio_matches_the_simulated_trace_modulo_time() {
    let scenario =
        Scenario::load(&repo().join("scenarios/ping-pong.toml")).expect("the scenario parses");
    let trace = run(&scenario, scenario.seeds[0]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(trace.untimed(), pinned_untimed("ping-pong"), "\n{trace}");
}
