//! The scenario format: a TOML file, one behaviour each (see
//! `scenarios/README.md`).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A parsed scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// What behaviour this scenario shows.
    pub description: String,
    /// The directory of the app whose components it runs: `app` in the
    /// file, relative to the file; by default the app whose `scenarios/`
    /// folder holds it.
    pub app: PathBuf,
    /// The seeds to run it with (the first one's trace is snapshotted).
    pub seeds: Vec<u64>,
    /// Simulated time the scenario lasts; the trace ends there.
    pub run_ms: u64,
    /// Settings laid over the app's `[runtime]` section (a tighter limit, a
    /// fuel budget) for this scenario only.
    pub runtime: toml::Table,
    /// `[components.<name>]` tables laid over the app's (a resident, say).
    pub components: toml::Table,
    /// Where the mock upstream server (`rusm_sim::upstream`) listens, for
    /// an app that fetches: its requests appear in the trace.
    pub upstream: Option<std::net::SocketAddr>,
    /// The steps, in time order.
    pub steps: Vec<Step>,
}

/// One timed step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// When, in simulated milliseconds from the start.
    pub at_ms: u64,
    pub action: Action,
}

/// What a step does. Processes are named by the handle given at `spawn`;
/// in `init` and `json`, `$name` stands for that process's pid (`$sim` for
/// the scenario's own process).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Spawns `component` with `init`, known from now on as `name`.
    Spawn {
        component: String,
        init: String,
        name: String,
    },
    /// Sends a JSON message from the scenario's own process.
    Send { to: String, json: String },
    /// Kills a process (an untrappable exit signal).
    Kill { target: String },
    /// Stops the node (every process ends) and boots a fresh one with an
    /// empty process table; names given before no longer resolve.
    RestartNode,
    /// Drains the node as SIGTERM does `rusm serve` (`rusm_app::drain`):
    /// listeners closed, requests answered, streams ended, WebSockets
    /// closed with 1001, residents sent `shutdown`; the node then stays
    /// stopped (a later `restart-node` boots it again).
    DrainNode,
    /// Checks that a message from `from` has reached the scenario's own
    /// process (equal to `json` as JSON, if given); each expectation uses
    /// up the message it matched.
    ExpectReceived { from: String, json: Option<String> },
    /// Checks that nothing waits unreceived in a process's mailbox.
    ExpectMailboxEmpty { target: String },
    /// Checks how many monitors a process holds (none left behind).
    ExpectMonitoring { target: String, count: usize },
    /// Checks that a process is alive.
    ExpectAlive { target: String },
    /// Checks that a process has exited, with the given reason if any.
    ExpectExited {
        target: String,
        reason: Option<String>,
    },
    /// Checks what a registered name resolves to (`None`: nothing).
    ExpectWhereis {
        name: String,
        target: Option<String>,
    },
    /// Opens a connection to the app's HTTP listener as client `name` and
    /// sends `request` ("GET /users/7") with `body`.
    Http {
        request: String,
        body: String,
        name: String,
    },
    /// Opens a connection to the HTTP listener and writes `bytes` as they
    /// are (a request cut short, a malformed one).
    Raw { bytes: String, name: String },
    /// Opens a WebSocket on the app's WebSocket listener at `path`.
    Ws { path: String, name: String },
    /// Sends a text frame from WebSocket client `client`.
    WsSend { client: String, text: String },
    /// Drops a client's connection without a word, as a vanishing client.
    Disconnect { client: String },
}

/// A scenario file could not be read or understood.
#[derive(Debug)]
pub struct ScenarioError(String);

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScenarioError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct File {
    description: String,
    #[serde(default)]
    app: Option<toml::Spanned<String>>,
    seeds: Vec<u64>,
    run_ms: u64,
    #[serde(default)]
    runtime: toml::Table,
    #[serde(default)]
    components: toml::Table,
    #[serde(default)]
    upstream: Option<String>,
    #[serde(default, rename = "step")]
    steps: Vec<toml::Spanned<RawStep>>,
}

/// A step as written: `at-ms` and exactly one action key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawStep {
    at_ms: u64,
    spawn: Option<String>,
    #[serde(rename = "as")]
    name: Option<String>,
    init: Option<String>,
    send: Option<String>,
    json: Option<String>,
    kill: Option<String>,
    restart_node: Option<bool>,
    drain_node: Option<bool>,
    expect_received: Option<String>,
    expect_mailbox_empty: Option<String>,
    expect_monitoring: Option<String>,
    count: Option<usize>,
    expect_alive: Option<String>,
    expect_exited: Option<String>,
    reason: Option<String>,
    expect_whereis: Option<String>,
    is: Option<String>,
    http: Option<String>,
    body: Option<String>,
    /// A body of this many `x`s, for a request too large to write out.
    body_bytes: Option<usize>,
    raw: Option<String>,
    ws: Option<String>,
    ws_send: Option<String>,
    text: Option<String>,
    disconnect: Option<String>,
}

impl Scenario {
    /// Reads and parses a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError(format!("{}: cannot read: {e}", path.display())))?;
        Scenario::parse(&text, path)
    }

    /// Parses the text of the scenario file at `path` (its `app` is
    /// relative to it). Errors name the file, and the line where one is
    /// to blame.
    pub fn parse(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
        let at = |line: Option<usize>, message: &dyn fmt::Display| {
            ScenarioError(match line {
                Some(line) => format!("{}:{line}: {message}", path.display()),
                None => format!("{}: {message}", path.display()),
            })
        };
        let line_of = |span: std::ops::Range<usize>| Some(line_at(text, span.start));
        let file: File = toml::from_str(text).map_err(|e| at(None, &e))?;
        if file.seeds.is_empty() {
            return Err(at(None, &"seeds: give at least one seed"));
        }
        let app = app_dir(path, file.app.as_ref().map(|a| a.get_ref().as_str()))
            .map_err(|e| at(file.app.as_ref().and_then(|a| line_of(a.span())), &e))?;
        let components = rusm_build::components(&app).ok().filter(|c| !c.is_empty());
        let mut steps = Vec::with_capacity(file.steps.len());
        for (n, raw) in file.steps.into_iter().enumerate() {
            let line = line_of(raw.span());
            let step = raw
                .into_inner()
                .into_step()
                .map_err(|e| at(line, &format_args!("step {}: {e}", n + 1)))?;
            if let (Action::Spawn { component, .. }, Some(components)) = (&step.action, &components)
                && !components.iter().any(|(name, _)| name == component)
            {
                let known: Vec<&str> = components.iter().map(|(name, _)| name.as_str()).collect();
                return Err(at(
                    line,
                    &format_args!(
                        "step {}: the app has no component {component:?} (it has: {})",
                        n + 1,
                        known.join(", ")
                    ),
                ));
            }
            if step.at_ms > file.run_ms {
                return Err(at(
                    line,
                    &format_args!(
                        "step {}: at {} ms it comes after run-ms = {}",
                        n + 1,
                        step.at_ms,
                        file.run_ms
                    ),
                ));
            }
            if steps
                .last()
                .is_some_and(|last: &Step| last.at_ms > step.at_ms)
            {
                return Err(at(
                    line,
                    &format_args!("step {}: steps must be in time order", n + 1),
                ));
            }
            steps.push(step);
        }
        let upstream = file
            .upstream
            .map(|address| {
                address.parse().map_err(|_| {
                    at(
                        None,
                        &format_args!("upstream: {address:?} is not an ip:port address"),
                    )
                })
            })
            .transpose()?;
        Ok(Scenario {
            upstream,
            description: file.description,
            app,
            seeds: file.seeds,
            run_ms: file.run_ms,
            runtime: file.runtime,
            components: file.components,
            steps,
        })
    }
}

/// Scenarios in code: the steps of a scenario file as calls that read
/// like it, for a test that generates scenarios (a loop, a proptest) and
/// checks them with the same machinery as `rusm test`
/// ([`crate::check::assert_replays`]).
///
/// ```no_run
/// use rusm_sim::Scenario;
///
/// let mut scenario = Scenario::new("a reader leaves mid-stream", "examples/serve-rs");
/// scenario
///     .seeds([1, 2, 3])
///     .at_ms(0)
///     .http("reader", "GET /ticks/100")
///     .at_ms(350)
///     .disconnect("reader")
///     .at_ms(800)
///     .expect_alive("@counter");
/// ```
impl Scenario {
    /// A scenario of the app at `app` (its directory) with no steps yet,
    /// seed 1, lasting until its last step.
    pub fn new(description: &str, app: impl Into<PathBuf>) -> Scenario {
        Scenario {
            description: description.to_string(),
            app: app.into(),
            seeds: vec![1],
            run_ms: 0,
            runtime: toml::Table::new(),
            components: toml::Table::new(),
            upstream: None,
            steps: Vec::new(),
        }
    }

    /// The seeds to run it with (the first one's trace is pinned).
    pub fn seeds(&mut self, seeds: impl IntoIterator<Item = u64>) -> &mut Scenario {
        self.seeds = seeds.into_iter().collect();
        self
    }

    /// How long it lasts, in simulated milliseconds (at least until its
    /// last step).
    pub fn run_ms(&mut self, run_ms: u64) -> &mut Scenario {
        self.run_ms = run_ms;
        self
    }

    /// The steps that follow happen `at_ms` into the run. Steps are kept
    /// in time order: an earlier time than the last step's panics.
    pub fn at_ms(&mut self, at_ms: u64) -> At<'_> {
        if let Some(last) = self.steps.last() {
            assert!(
                last.at_ms <= at_ms,
                "steps must be in time order: {at_ms} ms after a step at {} ms",
                last.at_ms
            );
        }
        At {
            scenario: self,
            at_ms,
        }
    }

    fn push(&mut self, at_ms: u64, action: Action) -> &mut Scenario {
        self.run_ms = self.run_ms.max(at_ms);
        self.steps.push(Step { at_ms, action });
        self
    }
}

impl Scenario {
    /// The scenario as a scenario file (its app by absolute path), so a
    /// scenario built in code replays with `rusm sim <file> --seed N`.
    pub fn to_toml(&self) -> String {
        let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
        let app = std::path::absolute(&self.app).unwrap_or_else(|_| self.app.clone());
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        let mut out = format!(
            "description = {}\napp = {}\nseeds = [{}]\nrun-ms = {}\n",
            quote(&self.description),
            quote(&app.display().to_string()),
            seeds.join(", "),
            self.run_ms
        );
        if let Some(upstream) = self.upstream {
            out.push_str(&format!("upstream = {}\n", quote(&upstream.to_string())));
        }
        for (name, table) in [("runtime", &self.runtime), ("components", &self.components)] {
            if !table.is_empty() {
                let mut wrapped = toml::Table::new();
                wrapped.insert(name.into(), toml::Value::Table(table.clone()));
                out.push_str(&format!(
                    "\n{}",
                    toml::to_string(&wrapped).unwrap_or_default()
                ));
            }
        }
        for step in &self.steps {
            out.push_str(&format!("\n[[step]]\nat-ms = {}\n", step.at_ms));
            let keys: Vec<(&str, String)> = match &step.action {
                Action::Spawn {
                    component,
                    init,
                    name,
                } => vec![
                    ("spawn", quote(component)),
                    ("as", quote(name)),
                    ("init", quote(init)),
                ],
                Action::Send { to, json } => vec![("send", quote(to)), ("json", quote(json))],
                Action::Kill { target } => vec![("kill", quote(target))],
                Action::RestartNode => vec![("restart-node", "true".into())],
                Action::DrainNode => vec![("drain-node", "true".into())],
                Action::ExpectReceived { from, json } => {
                    let mut keys = vec![("expect-received", quote(from))];
                    keys.extend(json.as_deref().map(|j| ("json", quote(j))));
                    keys
                }
                Action::ExpectMailboxEmpty { target } => {
                    vec![("expect-mailbox-empty", quote(target))]
                }
                Action::ExpectMonitoring { target, count } => {
                    vec![
                        ("expect-monitoring", quote(target)),
                        ("count", count.to_string()),
                    ]
                }
                Action::ExpectAlive { target } => vec![("expect-alive", quote(target))],
                Action::ExpectExited { target, reason } => {
                    let mut keys = vec![("expect-exited", quote(target))];
                    keys.extend(reason.as_deref().map(|r| ("reason", quote(r))));
                    keys
                }
                Action::ExpectWhereis { name, target } => {
                    let mut keys = vec![("expect-whereis", quote(name))];
                    keys.extend(target.as_deref().map(|t| ("is", quote(t))));
                    keys
                }
                Action::Http {
                    request,
                    body,
                    name,
                } => vec![
                    ("http", quote(request)),
                    ("body", quote(body)),
                    ("as", quote(name)),
                ],
                Action::Raw { bytes, name } => vec![("raw", quote(bytes)), ("as", quote(name))],
                Action::Ws { path, name } => vec![("ws", quote(path)), ("as", quote(name))],
                Action::WsSend { client, text } => {
                    vec![("ws-send", quote(client)), ("text", quote(text))]
                }
                Action::Disconnect { client } => vec![("disconnect", quote(client))],
            };
            for (key, value) in keys {
                out.push_str(&format!("{key} = {value}\n"));
            }
        }
        out
    }
}

/// Where [`Scenario::at_ms`] puts the next step: each call is one step of
/// a scenario file, its keys as arguments.
pub struct At<'a> {
    scenario: &'a mut Scenario,
    at_ms: u64,
}

impl<'a> At<'a> {
    fn step(self, action: Action) -> &'a mut Scenario {
        self.scenario.push(self.at_ms, action)
    }

    /// `spawn = component` with `init`, named after the component.
    pub fn spawn(self, component: &str, init: &str) -> &'a mut Scenario {
        self.spawn_as(component, component, init)
    }

    /// `spawn = component`, `as = name`, with `init`.
    pub fn spawn_as(self, name: &str, component: &str, init: &str) -> &'a mut Scenario {
        self.step(Action::Spawn {
            component: component.into(),
            init: init.into(),
            name: name.into(),
        })
    }

    /// `send = to`, `json = ...` (`$name` is that process's pid).
    pub fn send(self, to: &str, json: &str) -> &'a mut Scenario {
        self.step(Action::Send {
            to: to.into(),
            json: json.into(),
        })
    }

    /// `kill = target`.
    pub fn kill(self, target: &str) -> &'a mut Scenario {
        self.step(Action::Kill {
            target: target.into(),
        })
    }

    /// `restart-node = true`.
    pub fn restart_node(self) -> &'a mut Scenario {
        self.step(Action::RestartNode)
    }

    /// `drain-node = true`.
    pub fn drain_node(self) -> &'a mut Scenario {
        self.step(Action::DrainNode)
    }

    /// `expect-received = from`, `json = ...`.
    pub fn expect_received(self, from: &str, json: &str) -> &'a mut Scenario {
        self.step(Action::ExpectReceived {
            from: from.into(),
            json: Some(json.into()),
        })
    }

    /// `expect-mailbox-empty = target`.
    pub fn expect_mailbox_empty(self, target: &str) -> &'a mut Scenario {
        self.step(Action::ExpectMailboxEmpty {
            target: target.into(),
        })
    }

    /// `expect-monitoring = target`, `count = ...`.
    pub fn expect_monitoring(self, target: &str, count: usize) -> &'a mut Scenario {
        self.step(Action::ExpectMonitoring {
            target: target.into(),
            count,
        })
    }

    /// `expect-alive = target`.
    pub fn expect_alive(self, target: &str) -> &'a mut Scenario {
        self.step(Action::ExpectAlive {
            target: target.into(),
        })
    }

    /// `expect-exited = target`, `reason = ...`.
    pub fn expect_exited(self, target: &str, reason: &str) -> &'a mut Scenario {
        self.step(Action::ExpectExited {
            target: target.into(),
            reason: Some(reason.into()),
        })
    }

    /// `expect-whereis = name`, `is = target` (`None`: no process).
    pub fn expect_whereis(self, name: &str, target: Option<&str>) -> &'a mut Scenario {
        self.step(Action::ExpectWhereis {
            name: name.into(),
            target: target.map(Into::into),
        })
    }

    /// `http = request`, `as = client`.
    pub fn http(self, client: &str, request: &str) -> &'a mut Scenario {
        self.http_with_body(client, request, "")
    }

    /// `http = request`, `body = ...`, `as = client`.
    pub fn http_with_body(self, client: &str, request: &str, body: &str) -> &'a mut Scenario {
        self.step(Action::Http {
            request: request.into(),
            body: body.into(),
            name: client.into(),
        })
    }

    /// `raw = bytes`, `as = client`.
    pub fn raw(self, client: &str, bytes: &str) -> &'a mut Scenario {
        self.step(Action::Raw {
            bytes: bytes.into(),
            name: client.into(),
        })
    }

    /// `ws = path`, `as = client`.
    pub fn ws(self, client: &str, path: &str) -> &'a mut Scenario {
        self.step(Action::Ws {
            path: path.into(),
            name: client.into(),
        })
    }

    /// `ws-send = client`, `text = ...`.
    pub fn ws_send(self, client: &str, text: &str) -> &'a mut Scenario {
        self.step(Action::WsSend {
            client: client.into(),
            text: text.into(),
        })
    }

    /// `disconnect = client`.
    pub fn disconnect(self, client: &str) -> &'a mut Scenario {
        self.step(Action::Disconnect {
            client: client.into(),
        })
    }
}

/// The app a scenario file at `path` runs: `app` relative to the file, or
/// the app whose `scenarios/` folder holds it. It must have a `rusm.toml`.
fn app_dir(path: &Path, app: Option<&str>) -> Result<PathBuf, String> {
    let folder = match path.parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder,
        _ => Path::new("."),
    };
    let folder = std::path::absolute(folder).map_err(|e| format!("{}: {e}", folder.display()))?;
    let dir = match app {
        Some(app) => folder.join(app),
        None if folder.file_name().is_some_and(|n| n == "scenarios") => {
            folder.parent().unwrap_or(&folder).to_path_buf()
        }
        None => {
            return Err(
                "app: not given, and the file is not in an app's scenarios/ folder (write app = \"<path to the app>\")"
                    .into(),
            );
        }
    };
    if !dir.join("rusm.toml").is_file() {
        return Err(format!(
            "app: {} is not an app (it has no rusm.toml)",
            dir.display()
        ));
    }
    dir.canonicalize()
        .map_err(|e| format!("app: {}: {e}", dir.display()))
}

/// The 1-based line of byte `offset` in `text`.
fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl RawStep {
    /// A modifier key belongs to certain actions; anywhere else it would be
    /// silently ignored, so it is an error.
    fn check_modifiers(&self) -> Result<(), String> {
        let belongs = [
            (
                "as",
                self.name.is_some(),
                self.spawn.is_some()
                    || self.http.is_some()
                    || self.raw.is_some()
                    || self.ws.is_some(),
                "spawn, http, raw or ws",
            ),
            ("body", self.body.is_some(), self.http.is_some(), "http"),
            (
                "body-bytes",
                self.body_bytes.is_some(),
                self.http.is_some() && self.body.is_none(),
                "http without body",
            ),
            (
                "text",
                self.text.is_some(),
                self.ws_send.is_some(),
                "ws-send",
            ),
            ("init", self.init.is_some(), self.spawn.is_some(), "spawn"),
            (
                "json",
                self.json.is_some(),
                self.send.is_some() || self.expect_received.is_some(),
                "send or expect-received",
            ),
            (
                "reason",
                self.reason.is_some(),
                self.expect_exited.is_some(),
                "expect-exited",
            ),
            (
                "is",
                self.is.is_some(),
                self.expect_whereis.is_some(),
                "expect-whereis",
            ),
        ];
        match belongs
            .iter()
            .find(|(_, given, owner, _)| *given && !*owner)
        {
            Some((key, _, _, owners)) => Err(format!("{key} goes with {owners}")),
            None => Ok(()),
        }
    }

    fn into_step(self) -> Result<Step, String> {
        self.check_modifiers()?;
        let at_ms = self.at_ms;
        let mut actions = Vec::new();
        if let Some(component) = self.spawn {
            let name = self.name.clone().unwrap_or_else(|| component.clone());
            let init = self.init.clone().unwrap_or_default();
            actions.push(Action::Spawn {
                component,
                init,
                name,
            });
        }
        if let Some(to) = self.send {
            let json = self.json.clone().ok_or("send needs json = '...'")?;
            actions.push(Action::Send { to, json });
        }
        if let Some(target) = self.kill {
            actions.push(Action::Kill { target });
        }
        match self.restart_node {
            Some(true) => actions.push(Action::RestartNode),
            Some(false) => return Err("restart-node = false does nothing; remove the step".into()),
            None => {}
        }
        match self.drain_node {
            Some(true) => actions.push(Action::DrainNode),
            Some(false) => return Err("drain-node = false does nothing; remove the step".into()),
            None => {}
        }
        if let Some(from) = self.expect_received {
            actions.push(Action::ExpectReceived {
                from,
                json: self.json.clone(),
            });
        }
        if let Some(target) = self.expect_mailbox_empty {
            actions.push(Action::ExpectMailboxEmpty { target });
        }
        if let Some(target) = self.expect_monitoring {
            let count = self.count.ok_or("expect-monitoring needs count = N")?;
            actions.push(Action::ExpectMonitoring { target, count });
        }
        if let Some(target) = self.expect_alive {
            actions.push(Action::ExpectAlive { target });
        }
        if let Some(target) = self.expect_exited {
            actions.push(Action::ExpectExited {
                target,
                reason: self.reason.clone(),
            });
        }
        if let Some(name) = self.expect_whereis {
            actions.push(Action::ExpectWhereis {
                name,
                target: self.is.clone(),
            });
        }
        let client = |what: &str| {
            self.name
                .clone()
                .ok_or(format!("{what} needs as = \"<client name>\""))
        };
        if let Some(request) = self.http.clone() {
            let name = client("http")?;
            let body = match self.body_bytes {
                Some(n) => "x".repeat(n),
                None => self.body.clone().unwrap_or_default(),
            };
            actions.push(Action::Http {
                request,
                body,
                name,
            });
        }
        if let Some(bytes) = self.raw.clone() {
            let name = client("raw")?;
            actions.push(Action::Raw { bytes, name });
        }
        if let Some(path) = self.ws.clone() {
            let name = client("ws")?;
            actions.push(Action::Ws { path, name });
        }
        if let Some(client) = self.ws_send {
            let text = self.text.ok_or("ws-send needs text = '...'")?;
            actions.push(Action::WsSend { client, text });
        }
        if let Some(client) = self.disconnect {
            actions.push(Action::Disconnect { client });
        }
        match actions.len() {
            1 => Ok(Step {
                at_ms,
                action: actions.remove(0),
            }),
            0 => Err(
                "no action (spawn, send, kill, restart-node, drain-node, http, raw, ws, ws-send, disconnect, expect-alive, expect-exited, expect-whereis, expect-received, expect-mailbox-empty, expect-monitoring)".into(),
            ),
            _ => Err("more than one action; give each its own [[step]]".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the test scenarios are said to live: beside the repository's
    /// own, so `app = "../examples/ping-pong"` resolves.
    fn file() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/test.toml")
    }

    const HEAD: &str =
        "description = \"x\"\napp = \"../examples/serve-rs\"\nseeds = [1]\nrun-ms = 10\n";

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, &file())
    }

    #[test]
    fn a_scenario_reads_like_what_it_does() {
        let scenario = parse(
            r#"
            description = "pong idles"
            app = "../examples/ping-pong"
            seeds = [1, 2]
            run-ms = 500

            [[step]]
            at-ms = 0
            spawn = "pong"
            init = '{"heartbeat_ms": 100}'

            [[step]]
            at-ms = 450
            kill = "pong"
            "#,
        )
        .unwrap();
        assert_eq!(scenario.seeds, [1, 2]);
        assert!(
            scenario.app.ends_with("examples/ping-pong"),
            "{:?}",
            scenario.app
        );
        assert_eq!(
            scenario.steps,
            [
                Step {
                    at_ms: 0,
                    action: Action::Spawn {
                        component: "pong".into(),
                        init: r#"{"heartbeat_ms": 100}"#.into(),
                        name: "pong".into()
                    }
                },
                Step {
                    at_ms: 450,
                    action: Action::Kill {
                        target: "pong".into()
                    }
                },
            ]
        );
    }

    #[test]
    fn client_steps_name_their_client() {
        let head = HEAD;
        let parsed = parse(&format!(
            "{head}[[step]]\nat-ms = 0\nhttp = \"POST /v\"\nbody = \"{{}}\"\nas = \"c\"\n\
             [[step]]\nat-ms = 1\nws-send = \"c\"\ntext = \"hi\"\n"
        ))
        .unwrap();
        assert_eq!(
            parsed.steps[0].action,
            Action::Http {
                request: "POST /v".into(),
                body: "{}".into(),
                name: "c".into()
            }
        );
        let nameless = parse(&format!("{head}[[step]]\nat-ms = 0\nws = \"/\"\n")).unwrap_err();
        assert!(nameless.to_string().contains("ws needs as ="), "{nameless}");
        let stray = parse(&format!(
            "{head}[[step]]\nat-ms = 0\ndisconnect = \"c\"\ntext = \"x\"\n"
        ))
        .unwrap_err();
        assert!(
            stray.to_string().contains("text goes with ws-send"),
            "{stray}"
        );
    }

    #[test]
    fn a_step_needs_exactly_one_action() {
        let head = HEAD;
        let none = parse(&format!("{head}[[step]]\nat-ms = 0\n")).unwrap_err();
        assert!(
            none.to_string().ends_with("test.toml:5: step 1: no action (spawn, send, kill, restart-node, drain-node, http, raw, ws, ws-send, disconnect, expect-alive, expect-exited, expect-whereis, expect-received, expect-mailbox-empty, expect-monitoring)"),
            "{none}"
        );
        let two = parse(&format!(
            "{head}[[step]]\nat-ms = 0\nkill = \"a\"\nexpect-alive = \"a\"\n"
        ))
        .unwrap_err();
        assert!(
            two.to_string().contains("step 1: more than one action"),
            "{two}"
        );
        let late = parse(&format!("{head}[[step]]\nat-ms = 11\nkill = \"a\"\n")).unwrap_err();
        assert!(late.to_string().contains("after run-ms"), "{late}");
        let typo = parse(&format!("{head}[[step]]\nat-ms = 0\nkil = \"a\"\n")).unwrap_err();
        assert!(typo.to_string().contains("kil"), "{typo}");
        let stray = parse(&format!(
            "{head}[[step]]\nat-ms = 0\nkill = \"a\"\nreason = \"normal\"\n"
        ))
        .unwrap_err();
        assert_eq!(
            stray.to_string(),
            format!(
                "{}:5: step 1: reason goes with expect-exited",
                file().display()
            )
        );
    }
}

#[cfg(test)]
mod app_tests {
    use super::*;

    fn scenarios() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
    }

    #[test]
    fn a_spawn_of_a_component_the_app_lacks_names_the_file_and_line() {
        let text = "description = \"x\"\napp = \"../examples/ping-pong\"\nseeds = [1]\nrun-ms = 10\n\
                    [[step]]\nat-ms = 0\nspawn = \"pnog\"\n";
        let err = Scenario::parse(text, &scenarios().join("typo.toml")).unwrap_err();
        assert!(
            err.to_string().ends_with(
                "typo.toml:5: step 1: the app has no component \"pnog\" (it has: ping, pong)"
            ),
            "{err}"
        );
    }

    #[test]
    fn an_app_that_is_not_there_names_the_file_and_line() {
        let text = "description = \"x\"\nseeds = [1]\nrun-ms = 10\napp = \"../examples/nope\"\n";
        let err = Scenario::parse(text, &scenarios().join("lost.toml")).unwrap_err();
        let err = err.to_string();
        assert!(err.contains("lost.toml:4: app: "), "{err}");
        assert!(
            err.ends_with("examples/nope is not an app (it has no rusm.toml)"),
            "{err}"
        );
    }

    #[test]
    fn the_default_app_is_the_one_whose_scenarios_folder_holds_the_file() {
        let text = "description = \"x\"\nseeds = [1]\nrun-ms = 10\n";
        let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/ping-pong");
        let scenario = Scenario::parse(text, &app.join("scenarios/idle.toml")).unwrap();
        assert_eq!(scenario.app, app.canonicalize().unwrap());
        // The repository's own scenarios/ is not an app's.
        let root = Scenario::parse(text, &scenarios().join("idle.toml")).unwrap_err();
        assert!(root.to_string().contains("is not an app"), "{root}");
        let elsewhere = Scenario::parse(text, &app.join("idle.toml")).unwrap_err();
        assert!(
            elsewhere.to_string().contains("app: not given"),
            "{elsewhere}"
        );
    }
}

#[cfg(test)]
mod code_tests {
    use super::*;

    #[test]
    fn a_scenario_in_code_is_the_file_it_reads_like() {
        let app = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/serve-rs");
        let mut scenario = Scenario::new("a reader \"leaves\"\nmid-stream", &app);
        scenario
            .seeds([1, 2])
            .at_ms(0)
            .spawn_as("c", "counter", r#"{"n": 1}"#)
            .at_ms(0)
            .http_with_body("reader", "POST /visits", "{}")
            .at_ms(350)
            .disconnect("reader")
            .at_ms(800)
            .expect_exited("c", "killed")
            .at_ms(800)
            .expect_whereis("counter", None);
        assert_eq!(scenario.run_ms, 800);
        let file = app.join("scenarios/generated.toml");
        let parsed = Scenario::parse(&scenario.to_toml(), &file).unwrap();
        assert_eq!(parsed.steps, scenario.steps);
        assert_eq!(parsed.description, scenario.description);
        assert_eq!(parsed.seeds, [1, 2]);
        assert_eq!(parsed.app, app.canonicalize().unwrap());
    }

    #[test]
    #[should_panic(expected = "steps must be in time order")]
    fn steps_in_code_keep_time_order() {
        Scenario::new("x", "app")
            .at_ms(10)
            .kill("a")
            .at_ms(5)
            .kill("b");
    }
}
