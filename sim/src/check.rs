//! Checking a scenario as `rusm test` does, for a scenario file or one
//! built in code: every seed run twice with byte-identical traces, and the
//! first seed also under madsim's own determinism check and against its
//! pinned snapshot. Simulation build only: elsewhere time is real.

use std::path::Path;

use crate::snapshot::{self, Snapshot};
use crate::{RunError, Scenario, Trace};

/// What a scenario's first seed is held to.
pub struct Pinned<'a> {
    /// Its snapshot file (`snapshots/<name>.snap`).
    pub snapshot: &'a Path,
    /// The `source:` of a snapshot written (the scenario file, or the test).
    pub source: &'a str,
    /// Pin a new or changed trace (never one with failed expectations).
    pub accept: bool,
    /// How a user asks for that (`rusm test --accept`), for the report.
    pub accept_with: &'a str,
    /// Where the same run happens in a fresh process (`rusm sim`): it
    /// returns that process's stdout and stderr, which must hold the same
    /// trace. `None` where there is no process to start.
    pub fresh: Option<&'a dyn Fn(u64) -> Result<(String, String), String>>,
}

/// Checks one seed of `scenario`: twice in this process; with `pinned`, as
/// its first seed. `Ok` carries a note for a progress line; `Err` the
/// report of what failed, diff included.
pub fn check_seed(
    scenario: &Scenario,
    seed: u64,
    pinned: Option<&Pinned>,
) -> Result<String, String> {
    let (once, failures) = traced(scenario, seed)?;
    let (again, _) = traced(scenario, seed)?;
    if let Some((line, a, b)) = once.first_difference(&again) {
        return Err(format!(
            "a replay in the same process differs at line {line}:\n  first:  {}\n  replay: {}",
            a.unwrap_or("<end>"),
            b.unwrap_or("<end>")
        ));
    }
    let failed = |more: &str| {
        let mut report = format!("{} expectation(s) failed:", failures.len());
        for failure in &failures {
            report.push_str(&format!("\n  {failure}"));
        }
        report + more
    };
    let Some(pinned) = pinned else {
        return if failures.is_empty() {
            Ok(String::new())
        } else {
            Err(failed(""))
        };
    };
    if let Some(fresh) = pinned.fresh {
        let (trace, stderr) = fresh(seed)?;
        if trace != once.to_string() {
            return Err(format!(
                "a fresh process printed another trace:\n{}{stderr}",
                snapshot::diff(&once.to_string(), &trace)
            ));
        }
    }
    match std::panic::catch_unwind(|| crate::check_determinism(scenario, seed)) {
        Err(_) => return Err("madsim's determinism check failed (above)".into()),
        // Failed expectations are reported below, with the snapshot.
        Ok(Ok(_) | Err(RunError::Expectations { .. })) => {}
        Ok(Err(setup)) => return Err(setup.to_string()),
    }
    let accept = match (pinned.accept, failures.is_empty()) {
        (true, true) => Accept::Yes,
        (false, true) => Accept::No,
        (_, false) => Accept::Never,
    };
    against_snapshot(scenario, pinned, &once, accept).map_err(|why| {
        if failures.is_empty() {
            why
        } else {
            failed(&format!("\n{why}"))
        }
    })
}

/// A run's trace and the expectations that failed in it.
fn traced(scenario: &Scenario, seed: u64) -> Result<(Trace, Vec<String>), String> {
    match crate::run(scenario, seed) {
        Ok(trace) => Ok((trace, Vec::new())),
        Err(RunError::Expectations { failures, trace }) => Ok((trace, failures)),
        Err(setup) => Err(setup.to_string()),
    }
}

/// Whether a trace that differs from its snapshot is pinned.
#[derive(PartialEq)]
enum Accept {
    Yes,
    No,
    /// Not with expectations failing.
    Never,
}

/// The trace against the snapshot. A trace that differs is kept beside it
/// as `<name>.snap.new` (insta's pending snapshot) unless it is accepted,
/// which says so on stderr.
fn against_snapshot(
    scenario: &Scenario,
    pinned: &Pinned,
    trace: &Trace,
    accept: Accept,
) -> Result<String, String> {
    let path = pinned.snapshot;
    let pending = path.with_extension("snap.new");
    let now = Snapshot {
        description: Some(scenario.description.trim().to_string()),
        trace: trace.to_string(),
    };
    let old = Snapshot::read(path).map_err(|e| e.to_string())?;
    let verdict = match &old {
        Some(old) if old.trace == now.trace => {
            let _ = std::fs::remove_file(&pending);
            return Ok(String::new());
        }
        Some(old) => format!(
            "the trace differs from {}:\n{}",
            path.display(),
            snapshot::diff(&old.trace, &now.trace)
        ),
        None => format!("{} does not exist yet\n", path.display()),
    };
    if accept == Accept::Yes {
        now.write(path, pinned.source).map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(&pending);
        let how = if old.is_some() { "updated" } else { "written" };
        eprintln!("accepted: {verdict}");
        return Ok(format!(", snapshot {how}: {}", path.display()));
    }
    now.write(&pending, pinned.source)
        .map_err(|e| e.to_string())?;
    let how = match accept {
        Accept::Never => "",
        _ => {
            " (accept it once read: `rusm test --accept`, or RUSM_ACCEPT=1 for a scenario in code)"
        }
    };
    Err(format!(
        "{verdict}the whole trace is in {}{how}",
        pending.display()
    ))
}

/// Checks a scenario built in code as `rusm test` checks a file, and panics
/// with the report if it fails: each seed twice, the first against
/// `snapshot` (`<app or crate>/snapshots/<name>.snap`). `RUSM_ACCEPT=1`
/// pins a new or changed trace, saying so. A failure also writes the
/// scenario as a file beside the snapshot (`<name>.scenario.toml`), so the
/// printed `rusm sim` line replays exactly the run that failed.
///
/// ```no_run
/// let mut scenario = rusm_sim::Scenario::new("pong idles", "examples/ping-pong");
/// scenario.at_ms(0).spawn("pong", r#"{"heartbeat_ms": 100}"#).run_ms(450);
/// rusm_sim::check::assert_replays(&scenario, "snapshots/pong-idles.snap".as_ref());
/// ```
pub fn assert_replays(scenario: &Scenario, snapshot: &Path) {
    assert!(
        !scenario.seeds.is_empty(),
        "scenario {:?} has no seed to run",
        scenario.description
    );
    let accept = std::env::var_os("RUSM_ACCEPT").is_some_and(|v| v == "1");
    let file = snapshot.with_extension("scenario.toml");
    let source = format!(
        "{} (a scenario built in code)",
        snapshot.file_stem().unwrap_or_default().to_string_lossy()
    );
    let pinned = Pinned {
        snapshot,
        source: &source,
        accept,
        accept_with: "RUSM_ACCEPT=1 cargo test",
        fresh: None,
    };
    let mut failures = Vec::new();
    for (n, &seed) in scenario.seeds.iter().enumerate() {
        if let Err(report) = check_seed(scenario, seed, (n == 0).then_some(&pinned)) {
            failures.push(format!(
                "seed {seed}: {report}\nreplay: rusm sim {} --seed {seed}",
                file.display()
            ));
        }
    }
    if failures.is_empty() {
        let _ = std::fs::remove_file(&file);
        return;
    }
    if let Err(e) = std::fs::write(&file, scenario.to_toml()) {
        failures.push(format!(
            "(and the scenario could not be written to {}: {e})",
            file.display()
        ));
    }
    panic!(
        "scenario {:?} failed:\n{}",
        scenario.description,
        failures.join("\n\n")
    );
}
