//! `rusm sim` in the simulation build: what a user runs to replay a seed by
//! hand. Two fresh processes must print the same bytes, and those bytes are
//! the trace pinned in `snapshots/` (so a replay shows exactly what the
//! test saw).

#![cfg(madsim)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rusm_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rusm"))
        .arg("sim")
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run the rusm binary")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "rusm sim failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("a trace is UTF-8")
}

/// The trace an insta snapshot file pins (everything after its header).
fn pinned(name: &str) -> String {
    let snap = std::fs::read_to_string(repo().join("snapshots").join(format!("{name}.snap")))
        .expect("the snapshot exists");
    let body = snap
        .splitn(3, "---\n")
        .nth(2)
        .expect("a snapshot has a header between two --- lines");
    format!("{}\n", body.trim_end())
}

#[test]
fn two_fresh_processes_replay_a_seed_byte_for_byte() {
    // chat restarts its node with SSE connections open: before `rt::select!`
    // was always biased, two processes of it parted at the restart in two
    // runs out of three (tokio's unbiased select draws from the OS).
    for (scenario, seed) in [
        ("heartbeat", "7"),
        ("fairness", "11"),
        ("restart", "3"),
        ("chat", "1"),
        // QuickJS inside the runner: timers, callbacks and a timeout.
        ("ts-client", "2"),
        // Its build runs `bun install`, which prints its own timings: on
        // stderr, never in the trace.
        ("fetch-upstream-hangs-up", "7"),
    ] {
        let path = format!("scenarios/{scenario}.toml");
        let once = stdout(&rusm_sim(&[&path, "--seed", seed]));
        let again = stdout(&rusm_sim(&[&path, "--seed", seed]));
        assert!(once.lines().count() > 3, "{once}");
        if let Some((n, (a, b))) = once
            .lines()
            .zip(again.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
        {
            panic!(
                "{scenario} seed {seed}: the processes differ at line {}:\n  {a}\n  {b}",
                n + 1
            );
        }
        assert_eq!(once, again, "{scenario} seed {seed}: different lengths");
    }
}

#[test]
fn a_fresh_process_prints_the_pinned_trace_for_the_first_seed() {
    for scenario in ["heartbeat", "links", "monitors", "chat", "ts-client"] {
        let out = stdout(&rusm_sim(&[&format!("scenarios/{scenario}.toml")]));
        assert_eq!(out, pinned(scenario), "{scenario}");
    }
}

#[test]
fn a_failed_expectation_prints_the_trace_and_fails() {
    let dir = std::env::temp_dir().join(format!("rusm-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("wrong.toml");
    // A scenario outside any app names its app by path.
    let app = repo().join("examples/ping-pong");
    std::fs::write(
        &file,
        format!(
            "description = \"pong is not dead at once\"\napp = {:?}\nseeds = [1]\nrun-ms = 10\n\
             [[step]]\nat-ms = 0\nspawn = \"pong\"\ninit = '{{\"heartbeat_ms\": 100}}'\n\
             [[step]]\nat-ms = 10\nexpect-exited = \"pong\"\n",
            app.display().to_string()
        ),
    )
    .unwrap();
    let out = rusm_sim(&[file.to_str().unwrap()]);
    assert!(!out.status.success());
    let trace = String::from_utf8_lossy(&out.stdout);
    assert!(
        trace.contains("expect FAILED: pong has not exited"),
        "{trace}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("at 10 ms: pong has not exited"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
