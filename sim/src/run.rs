//! Running a scenario: the app's components on a fresh node, its steps at
//! their (simulated) times, every event into the trace.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rusm_config::{AppConfig, ListenerKind, Storage};
use rusm_core::{ExitReason, Message, Pid, Process};
use rusm_host::Host;
use rusm_rt::time::Duration;
use rusm_serve::Server;

use crate::client::Client;
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

/// An app ready to boot: its components (built once per process, before any
/// simulated world starts: compilation is pure, and madsim forbids the
/// threads cargo uses) with the scenario's settings laid over its own.
struct App(rusm_app::App);

/// A kv file for one run alone, removed with it: every run starts from an
/// empty store whatever earlier runs wrote, and a node restarted during the
/// run reopens the same file.
struct ScratchStore(PathBuf);

impl ScratchStore {
    fn new() -> ScratchStore {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rusm-sim-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        ScratchStore(dir)
    }
}

impl Drop for ScratchStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl App {
    fn load(scenario: &Scenario) -> Result<App, RunError> {
        let dir = &scenario.app;
        build_once(dir)?;
        let config = config_with_overrides(dir, &scenario.runtime, &scenario.components)?;
        rusm_app::App::with_config(dir, config)
            .map(App)
            .map_err(|e| RunError::Setup(e.to_string()))
    }

    /// Starts the node's residents and listeners, as `rusm serve` does.
    async fn start(&self, host: &Host) -> Result<Option<Server>, String> {
        self.0.start_residents(host).map_err(|e| e.to_string())?;
        self.0.serve(host).await.map_err(|e| e.to_string())
    }

    /// The first listener of `kind`.
    fn address(&self, kind: ListenerKind) -> Result<SocketAddr, String> {
        self.0
            .config()
            .serve
            .iter()
            .find(|l| l.kind == kind)
            .map(|l| l.address)
            .ok_or_else(|| format!("the app has no {kind:?} listener"))
    }

    /// A fresh node running this app, reporting to `recorder`, its kv
    /// store in `store`.
    fn boot(&self, recorder: &Arc<Recorder>, store: &ScratchStore) -> Result<Host, String> {
        let storage = Storage {
            path: PathBuf::from("kv.redb"),
            ..self.0.config().storage.clone()
        };
        let builder = self
            .0
            .host()
            .observer(recorder.clone())
            .storage(&store.0, &storage);
        self.0.boot(builder).map_err(|e| e.to_string())
    }
}

/// Builds the app at `dir` (`rusm build`) the first time a run of this
/// process needs it: its sources do not change under a test run.
fn build_once(dir: &Path) -> Result<(), RunError> {
    static BUILT: OnceLock<Mutex<BTreeSet<PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .expect("build lock");
    if !built.contains(dir) {
        rusm_app::build(dir, None).map_err(|e| RunError::Setup(e.to_string()))?;
        built.insert(dir.to_path_buf());
    }
    Ok(())
}

/// The app's `rusm.toml` with the scenario's `[runtime]` keys laid over its
/// own `[runtime]` section, and its `[components.<name>]` tables over the
/// app's.
fn config_with_overrides(
    dir: &Path,
    overrides: &toml::Table,
    components: &toml::Table,
) -> Result<AppConfig, RunError> {
    let file = dir.join("rusm.toml");
    let setup = |e: &dyn fmt::Display| RunError::Setup(format!("{}: {e}", file.display()));
    let text = std::fs::read_to_string(&file).map_err(|e| setup(&e))?;
    if overrides.is_empty() && components.is_empty() {
        return AppConfig::parse(&text).map_err(|e| setup(&e));
    }
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| setup(&e))?;
    for (name, laid_over) in [("runtime", overrides), ("components", components)] {
        let section = table
            .entry(name)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let toml::Value::Table(section) = section else {
            return Err(setup(&format_args!("{name} is not a table")));
        };
        section.extend(laid_over.clone());
    }
    let merged = toml::to_string(&table).map_err(|e| setup(&e))?;
    AppConfig::parse(&merged).map_err(|e| setup(&format_args!("with the scenario's tables: {e}")))
}

/// Runs `scenario` once with `seed` on a fresh node and returns its trace.
///
/// Under simulation, the first one in a process is played twice and the first result
/// thrown away: some lazily initialised statics in dependencies draw from
/// the world's seeded randomness on first use only, so the very first world
/// a process builds sees a shifted random stream. After one warm-up every
/// run of a seed is the same, in this process or any other (the test suite
/// and `rusm sim` print the same bytes).
pub fn run(scenario: &Scenario, seed: u64) -> Result<Trace, RunError> {
    static WARM_UP: std::sync::Once = std::sync::Once::new();
    let mut warm_up = Ok(());
    if cfg!(madsim) {
        WARM_UP.call_once(|| warm_up = run_once(scenario, seed).map(drop));
    }
    if let Err(RunError::Setup(e)) = warm_up {
        return Err(RunError::Setup(e));
    }
    run_once(scenario, seed)
}

fn run_once(scenario: &Scenario, seed: u64) -> Result<Trace, RunError> {
    let app = App::load(scenario)?;
    let recorder = Arc::new(Recorder::default());
    let store = ScratchStore::new();
    // The first node boots outside the simulated world, where compiling (or
    // loading the compiled cache) may use threads.
    let host = app.boot(&recorder, &store).map_err(RunError::Setup)?;
    let (failures, trace) =
        rusm_rt::block_on_seeded(seed, drive(host, &app, scenario, &recorder, &store));
    if failures.is_empty() {
        Ok(trace)
    } else {
        Err(RunError::Expectations { failures, trace })
    }
}

/// Runs `scenario` with `seed` under madsim's own determinism check (see
/// [`rusm_rt::check_determinism`]): two fresh worlds on fresh threads, every
/// random draw compared. Panics where they part; returns the trace.
#[cfg(madsim)]
pub fn check_determinism(scenario: &Scenario, seed: u64) -> Result<Trace, RunError> {
    // The check takes a plain `fn`, so the scenario reaches it through here.
    static CHECKING: Mutex<Option<(Scenario, Arc<App>)>> = Mutex::new(None);
    let app = Arc::new(App::load(scenario)?);
    *CHECKING.lock().expect("check lock") = Some((scenario.clone(), app));
    let (failures, trace) = rusm_rt::check_determinism(seed, || async {
        rusm_rt::begin_world();
        let (scenario, app) = CHECKING
            .lock()
            .expect("check lock")
            .clone()
            .expect("set before the check starts");
        let recorder = Arc::new(Recorder::default());
        let store = ScratchStore::new();
        let host = app.boot(&recorder, &store).expect("the app booted before");
        drive(host, &app, &scenario, &recorder, &store).await
    });
    if failures.is_empty() {
        Ok(trace)
    } else {
        Err(RunError::Expectations { failures, trace })
    }
}

/// The scenario's own process on `host`: the sender of its messages and the
/// watcher of everything it spawns.
fn attach(host: &Host) -> Process {
    host.node()
        .attach("sim")
        .expect("a fresh node has room for the scenario's process")
}

/// Plays the steps; returns the failed expectations and the trace.
async fn drive(
    host: Host,
    app: &App,
    scenario: &Scenario,
    recorder: &Arc<Recorder>,
    store: &ScratchStore,
) -> (Vec<String>, Trace) {
    recorder.start();
    let start = rusm_rt::time::now();
    let _upstream = match scenario.upstream {
        None => None,
        Some(address) => {
            let notes = recorder.clone();
            let log = move |line: String| notes.note(format_args!("upstream: {line}"));
            match crate::upstream::Upstream::start(address, log).await {
                Ok(upstream) => Some(upstream),
                Err(e) => {
                    recorder.note(format_args!(
                        "expect FAILED: the upstream did not start: {e}"
                    ));
                    None
                }
            }
        }
    };
    let server = app.start(&host).await.unwrap_or_else(|e| {
        recorder.note(format_args!("expect FAILED: {e}"));
        None
    });
    let mut driver = Driver {
        app,
        recorder,
        store,
        me: attach(&host),
        host,
        server,
        clients: BTreeMap::new(),
        names: BTreeMap::new(),
        exits: BTreeMap::new(),
        inbox: Vec::new(),
        failures: Vec::new(),
    };
    for step in &scenario.steps {
        wait_until(start + Duration::from_millis(step.at_ms)).await;
        driver.play(step).await;
    }
    wait_until(start + Duration::from_millis(scenario.run_ms)).await;
    recorder.note("end");
    let trace = recorder.finish();
    driver.clients.clear();
    driver.server = None;
    stop(&driver.host).await;
    (driver.failures, trace)
}

/// Stops `host`'s node and lets every process task see it and end. A task
/// left waiting would never be dropped: madsim keeps no list of them, and a
/// process's future holds the very waker its mailbox would wake it with, so
/// its instance (and the host's memory pool) would leak with it.
async fn stop(host: &Host) {
    host.shutdown();
    // Woken tasks all run before the clock moves on.
    rusm_rt::time::sleep(Duration::from_millis(1)).await;
}

/// Sleeps until `deadline` unless it has come: madsim's timers tick in whole
/// milliseconds, so even an expired sleep would cost one, and steps written
/// for the same instant would drift apart.
async fn wait_until(deadline: rusm_rt::time::Instant) {
    if rusm_rt::time::now() < deadline {
        rusm_rt::time::sleep_until(deadline).await;
    }
}

/// The name `$sim` and `as = "sim"` refer to: the scenario's own process.
const SIM: &str = "sim";

struct Driver<'a> {
    app: &'a App,
    recorder: &'a Arc<Recorder>,
    store: &'a ScratchStore,
    host: Host,
    server: Option<Server>,
    clients: BTreeMap<String, Client>,
    me: Process,
    names: BTreeMap<String, Pid>,
    /// How the processes the scenario spawned ended (from their downs).
    exits: BTreeMap<Pid, ExitReason>,
    /// Data messages the scenario's process received and no expectation
    /// has used up yet.
    inbox: Vec<(Pid, Vec<u8>)>,
    failures: Vec<String>,
}

impl Driver<'_> {
    async fn play(&mut self, step: &Step) {
        self.recorder
            .note(format_args!("step {}", describe(&step.action)));
        while let Some(message) = self.me.try_receive() {
            match message {
                Message::Down { pid, reason, .. } => {
                    self.exits.insert(pid, reason);
                }
                Message::Data { from, bytes } => self.inbox.push((from, bytes)),
                // The scenario's process does not trap exits: an exit
                // signal would have ended it, not arrived as a message.
                Message::Exit { .. } => {}
            }
        }
        if let Err(failure) = self.act(&step.action).await {
            self.recorder.note(format_args!("expect FAILED: {failure}"));
            self.failures
                .push(format!("at {} ms: {failure}", step.at_ms));
        }
        // The table's invariants hold between steps, in any build.
        self.host.node().check_consistency();
    }

    async fn act(&mut self, action: &Action) -> Result<(), String> {
        match action {
            Action::Spawn {
                component,
                init,
                name,
            } => {
                if name == SIM {
                    return Err(format!(
                        "{SIM:?} is the scenario's own process; pick another name"
                    ));
                }
                let init = self.expand(init)?;
                let (pid, _) = self
                    .host
                    .spawn_monitor(&self.me, component, init.into_bytes())
                    .map_err(|e| format!("spawn {component}: {e}"))?;
                self.names.insert(name.clone(), pid);
            }
            Action::Send { to, json } => {
                let to = self.pid(to)?;
                let json = self.expand(json)?;
                self.me
                    .send(to, json.into_bytes())
                    .map_err(|e| e.to_string())?;
            }
            Action::Kill { target } => {
                let pid = self.pid(target)?;
                self.me
                    .exit(pid, ExitReason::Killed)
                    .map_err(|e| e.to_string())?;
            }
            Action::RestartNode => {
                // The old node's tasks end as soon as this step yields;
                // its listeners close before the new node binds them.
                self.clients.clear();
                self.server = None;
                self.host.shutdown();
                rusm_rt::task::yield_now().await;
                self.host = self.app.boot(self.recorder, self.store)?;
                self.server = self.app.start(&self.host).await?;
                self.me = attach(&self.host);
                self.names.clear();
                self.exits.clear();
                self.inbox.clear();
            }
            Action::DrainNode => {
                let timeout = Duration::from_millis(self.app.0.config().runtime.drain_timeout_ms);
                let server = self.server.take();
                rusm_app::drain(&self.host, server, None, timeout, std::future::pending()).await;
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
            Action::ExpectReceived { from, json } => {
                let sender = self.pid(from)?;
                let wanted = json
                    .as_deref()
                    .map(|json| {
                        let json = self.expand(json)?;
                        serde_json::from_str::<serde_json::Value>(&json)
                            .map_err(|e| format!("expect-received json {json:?}: {e}"))
                    })
                    .transpose()?;
                let matches = |(pid, bytes): &(Pid, Vec<u8>)| {
                    *pid == sender
                        && wanted.as_ref().is_none_or(|wanted| {
                            serde_json::from_slice::<serde_json::Value>(bytes)
                                .ok()
                                .as_ref()
                                == Some(wanted)
                        })
                };
                match self.inbox.iter().position(matches) {
                    Some(at) => {
                        self.inbox.remove(at);
                    }
                    None => {
                        let waiting: Vec<String> = self
                            .inbox
                            .iter()
                            .map(|(pid, bytes)| {
                                format!("{pid}: {}", String::from_utf8_lossy(bytes))
                            })
                            .collect();
                        return Err(format!(
                            "no message from {from}{} has arrived (unmatched: [{}])",
                            json.as_ref()
                                .map_or(String::new(), |j| format!(" equal to {j}")),
                            waiting.join(", ")
                        ));
                    }
                }
            }
            Action::ExpectMonitoring { target, count } => {
                let pid = self.pid(target)?;
                match self.host.node().monitors_held(pid) {
                    Some(held) if held == *count => {}
                    Some(held) => {
                        return Err(format!(
                            "{target} holds {held} monitor(s), expected {count}"
                        ));
                    }
                    None => return Err(format!("{target} is not alive")),
                }
            }
            Action::Http {
                request,
                body,
                name,
            } => {
                let address = self.app.address(ListenerKind::Http)?;
                let client = Client::http(self.recorder, name, address, request, body);
                self.clients.insert(name.clone(), client);
            }
            Action::Raw { bytes, name } => {
                let address = self.app.address(ListenerKind::Http)?;
                let client = Client::raw(self.recorder, name, address, bytes);
                self.clients.insert(name.clone(), client);
            }
            Action::Ws { path, name } => {
                let address = self.app.address(ListenerKind::Ws)?;
                let client = Client::websocket(self.recorder, name, address, path);
                self.clients.insert(name.clone(), client);
            }
            Action::WsSend { client, text } => {
                self.client(client)?
                    .send_text(text)
                    .map_err(|e| format!("ws-send {client}: {e}"))?;
            }
            Action::Disconnect { client } => {
                self.client(client)?;
                self.clients.remove(client);
            }
            Action::ExpectMailboxEmpty { target } => {
                let pid = self.pid(target)?;
                match self.host.node().mailbox_len(pid) {
                    Some(0) => {}
                    Some(n) => return Err(format!("{target} has {n} unreceived message(s)")),
                    None => return Err(format!("{target} is not alive")),
                }
            }
        }
        Ok(())
    }

    fn client(&self, name: &str) -> Result<&Client, String> {
        self.clients
            .get(name)
            .ok_or_else(|| format!("no client named {name:?} was opened"))
    }

    /// The process a step names: one it spawned, `sim`, or `@name` for
    /// the process registered as `name` now.
    fn pid(&self, name: &str) -> Result<Pid, String> {
        if name == SIM {
            return Ok(self.me.pid());
        }
        if let Some(registered) = name.strip_prefix('@') {
            return self
                .host
                .node()
                .whereis(registered)
                .ok_or_else(|| format!("no process is registered as {registered:?}"));
        }
        self.names
            .get(name)
            .copied()
            .ok_or_else(|| format!("no process named {name:?} was spawned"))
    }

    /// `text` with every `$name` replaced by that process's pid.
    fn expand(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(dollar) = rest.find('$') {
            out.push_str(&rest[..dollar]);
            let after = &rest[dollar + 1..];
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(after.len());
            if len == 0 {
                return Err(format!("a lone $ in {text:?}: write $name for a pid"));
            }
            out.push_str(&self.pid(&after[..len])?.as_raw().to_string());
            rest = &after[len..];
        }
        out.push_str(rest);
        Ok(out)
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
        Action::RestartNode => "restart-node".into(),
        Action::DrainNode => "drain-node".into(),
        Action::ExpectReceived { from, json } => format!(
            "expect-received from {from}{}",
            json.as_ref().map_or(String::new(), |j| format!(" {j}"))
        ),
        Action::ExpectMailboxEmpty { target } => format!("expect-mailbox-empty {target}"),
        Action::ExpectMonitoring { target, count } => {
            format!("expect-monitoring {target} holds {count}")
        }
        Action::ExpectAlive { target } => format!("expect-alive {target}"),
        Action::ExpectExited { target, reason } => {
            format!(
                "expect-exited {target}{}",
                reason.as_ref().map_or(String::new(), |r| format!(" ({r})"))
            )
        }
        Action::Http {
            request,
            body,
            name,
        } => match body.len() {
            0 => format!("http {name} {request}"),
            // A body written with `body-bytes`.
            1..=64 => format!("http {name} {request} {body:?}"),
            n => format!("http {name} {request} ({n} bytes of body)"),
        },
        Action::Raw { bytes, name } => format!("raw {name} {bytes:?}"),
        Action::Ws { path, name } => format!("ws {name} {path}"),
        Action::WsSend { client, text } => format!("ws-send {client} {text:?}"),
        Action::Disconnect { client } => format!("disconnect {client}"),
        Action::ExpectWhereis { name, target } => {
            format!(
                "expect-whereis {name} is {}",
                target.as_deref().unwrap_or("nothing")
            )
        }
    }
}
