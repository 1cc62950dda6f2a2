//! Running a scenario: the app's components on a fresh node, its steps at
//! their (simulated) times, every event into the trace.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rusm_config::{AppConfig, Runtime};
use rusm_core::{ExitReason, Message, Pid, Process};
use rusm_host::{ComponentSource, Host};
use rusm_rt::time::Duration;

use crate::scenario::{Action, Scenario, Step};
use crate::trace::{Recorder, Trace};

/// A scenario could not run, or ran and an expectation failed.
#[derive(Debug)]
pub enum RunError {
    /// The app could not be built or loaded.
    Setup(String),
    /// Some expectations failed; the trace shows where (`expect FAILED`).
    Expectations { failures: Vec<String>, trace: Trace },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Setup(message) => f.write_str(message),
            RunError::Expectations { failures, trace } => {
                writeln!(f, "{} expectation(s) failed:", failures.len())?;
                for failure in failures {
                    writeln!(f, "  {failure}")?;
                }
                write!(f, "trace:\n{trace}")
            }
        }
    }
}

impl std::error::Error for RunError {}

/// The repository root (this crate lives in `sim/`).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds an app's guests once per process, before any simulated world
/// starts (compilation is pure, and madsim forbids the threads cargo uses).
fn components(app: &str) -> Result<Vec<ComponentSource>, RunError> {
    static BUILT: OnceLock<Mutex<BTreeMap<String, Vec<ComponentSource>>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .expect("build lock");
    if let Some(components) = built.get(app) {
        return Ok(components.clone());
    }
    let dir = repo().join("examples").join(app);
    let config = AppConfig::load(&dir).map_err(|e| RunError::Setup(e.to_string()))?;
    let components: Vec<ComponentSource> =
        rusm_build::build_app(&dir, Some(&repo().join("target/guests")))
            .map_err(|e| RunError::Setup(e.to_string()))?
            .into_iter()
            .map(|b| ComponentSource {
                capabilities: config.capabilities(&b.name),
                name: b.name,
                wasm: b.wasm,
            })
            .collect();
    built.insert(app.to_string(), components.clone());
    Ok(components)
}

/// Runs `scenario` once with `seed` on a fresh node and returns its trace.
pub fn run(scenario: &Scenario, seed: u64) -> Result<Trace, RunError> {
    let components = components(&scenario.app)?;
    let recorder = Arc::new(Recorder::default());
    let host = Host::builder(Runtime::default())
        .observer(recorder.clone())
        .cache_dir(repo().join("target/rusm-cache"))
        .build(components)
        .map_err(|e| RunError::Setup(e.to_string()))?;
    let failures = rusm_rt::block_on_seeded(seed, drive(&host, scenario, &recorder));
    let trace = recorder.finish();
    if failures.is_empty() {
        Ok(trace)
    } else {
        Err(RunError::Expectations { failures, trace })
    }
}

/// Plays the steps from the scenario's own process ("sim"), which monitors
/// every process it spawns; returns the failed expectations.
async fn drive(host: &Host, scenario: &Scenario, recorder: &Recorder) -> Vec<String> {
    recorder.start();
    let start = rusm_rt::time::now();
    // The scenario's own process: the sender of its messages and the watcher
    // of everything it spawns.
    let me = host
        .node()
        .attach("sim")
        .expect("a fresh node has room for the scenario's process");
    let mut driver = Driver {
        host,
        me: &me,
        recorder,
        names: BTreeMap::new(),
        exits: BTreeMap::new(),
        failures: Vec::new(),
    };
    for step in &scenario.steps {
        wait_until(start + Duration::from_millis(step.at_ms)).await;
        driver.play(step);
    }
    wait_until(start + Duration::from_millis(scenario.run_ms)).await;
    recorder.note("end");
    driver.failures
}

/// Sleeps until `deadline` unless it has come: madsim's timers tick in whole
/// milliseconds, so even an expired sleep would cost one, and steps written
/// for the same instant would drift apart.
async fn wait_until(deadline: rusm_rt::time::Instant) {
    if rusm_rt::time::now() < deadline {
        rusm_rt::time::sleep_until(deadline).await;
    }
}

struct Driver<'a> {
    host: &'a Host,
    me: &'a Process,
    recorder: &'a Recorder,
    names: BTreeMap<String, Pid>,
    exits: BTreeMap<Pid, ExitReason>,
    failures: Vec<String>,
}

impl Driver<'_> {
    fn play(&mut self, step: &Step) {
        self.recorder
            .note(format_args!("step {}", describe(&step.action)));
        // The downs of monitored processes tell how they ended.
        while let Some(message) = self.me.try_receive() {
            if let Message::Down { pid, reason, .. } = message {
                self.exits.insert(pid, reason);
            }
        }
        if let Err(failure) = self.act(&step.action) {
            self.recorder.note(format_args!("expect FAILED: {failure}"));
            self.failures
                .push(format!("at {} ms: {failure}", step.at_ms));
        }
    }

    fn act(&mut self, action: &Action) -> Result<(), String> {
        match action {
            Action::Spawn {
                component,
                init,
                name,
            } => {
                let (pid, _) = self
                    .host
                    .spawn_monitor(self.me, component, init.clone().into_bytes())
                    .map_err(|e| format!("spawn {component}: {e}"))?;
                self.names.insert(name.clone(), pid);
            }
            Action::Send { to, json } => {
                let to = self.pid(to)?;
                self.me
                    .send(to, json.clone().into_bytes())
                    .map_err(|e| e.to_string())?;
            }
            Action::Kill { target } => {
                let pid = self.pid(target)?;
                self.me
                    .exit(pid, ExitReason::Killed)
                    .map_err(|e| e.to_string())?;
            }
            Action::ExpectAlive { target } => {
                let pid = self.pid(target)?;
                if !self.host.node().is_alive(pid) {
                    return Err(format!(
                        "{target} is not alive ({})",
                        self.how_it_ended(pid)
                    ));
                }
            }
            Action::ExpectExited { target, reason } => {
                let pid = self.pid(target)?;
                match (self.exits.get(&pid), reason) {
                    (None, _) => return Err(format!("{target} has not exited")),
                    (Some(actual), Some(expected)) if actual.to_string() != *expected => {
                        return Err(format!(
                            "{target} exited with {actual}, expected {expected}"
                        ));
                    }
                    _ => {}
                }
            }
            Action::ExpectWhereis { name, target } => {
                let expected = target.as_deref().map(|t| self.pid(t)).transpose()?;
                let actual = self.host.node().whereis(name);
                if actual != expected {
                    return Err(format!(
                        "whereis({name:?}) is {actual:?}, expected {expected:?}"
                    ));
                }
            }
        }
        Ok(())
    }

    fn pid(&self, name: &str) -> Result<Pid, String> {
        self.names
            .get(name)
            .copied()
            .ok_or_else(|| format!("no process named {name:?} was spawned"))
    }

    fn how_it_ended(&self, pid: Pid) -> String {
        self.exits
            .get(&pid)
            .map_or("no down seen yet".into(), |r| format!("exited: {r}"))
    }
}

fn describe(action: &Action) -> String {
    match action {
        Action::Spawn {
            component,
            init,
            name,
        } => format!("spawn {component} as {name} init {init}"),
        Action::Send { to, json } => format!("send {to} {json}"),
        Action::Kill { target } => format!("kill {target}"),
        Action::ExpectAlive { target } => format!("expect-alive {target}"),
        Action::ExpectExited { target, reason } => {
            format!(
                "expect-exited {target}{}",
                reason.as_ref().map_or(String::new(), |r| format!(" ({r})"))
            )
        }
        Action::ExpectWhereis { name, target } => {
            format!(
                "expect-whereis {name} is {}",
                target.as_deref().unwrap_or("nothing")
            )
        }
    }
}
