//! The scenario format: a TOML file, one behaviour each (see
//! `scenarios/README.md`).

use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// A parsed scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// What behaviour this scenario shows.
    pub description: String,
    /// The app under `examples/` whose components it runs.
    pub app: String,
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
    app: String,
    seeds: Vec<u64>,
    run_ms: u64,
    #[serde(default)]
    runtime: toml::Table,
    #[serde(default)]
    components: toml::Table,
    #[serde(default)]
    upstream: Option<String>,
    #[serde(default, rename = "step")]
    steps: Vec<RawStep>,
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
        Scenario::parse(&text).map_err(|e| ScenarioError(format!("{}: {}", path.display(), e.0)))
    }

    /// Parses the text of a scenario file.
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let file: File = toml::from_str(text).map_err(|e| ScenarioError(e.to_string()))?;
        if file.seeds.is_empty() {
            return Err(ScenarioError("seeds: give at least one seed".into()));
        }
        let steps = file
            .steps
            .into_iter()
            .enumerate()
            .map(|(n, raw)| {
                raw.into_step()
                    .map_err(|e| ScenarioError(format!("step {}: {e}", n + 1)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(late) = steps.iter().find(|s| s.at_ms > file.run_ms) {
            return Err(ScenarioError(format!(
                "a step at {} ms comes after run-ms = {}",
                late.at_ms, file.run_ms
            )));
        }
        if !steps.is_sorted_by_key(|s| s.at_ms) {
            return Err(ScenarioError("steps must be in time order".into()));
        }
        let upstream = file
            .upstream
            .map(|address| {
                address.parse().map_err(|_| {
                    ScenarioError(format!("upstream: {address:?} is not an ip:port address"))
                })
            })
            .transpose()?;
        Ok(Scenario {
            upstream,
            description: file.description,
            app: file.app,
            seeds: file.seeds,
            run_ms: file.run_ms,
            runtime: file.runtime,
            components: file.components,
            steps,
        })
    }
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
            let body = self.body.clone().unwrap_or_default();
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
                "no action (spawn, send, kill, restart-node, http, raw, ws, ws-send, disconnect, expect-alive, expect-exited, expect-whereis, expect-received, expect-mailbox-empty, expect-monitoring)".into(),
            ),
            _ => Err("more than one action; give each its own [[step]]".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_reads_like_what_it_does() {
        let scenario = Scenario::parse(
            r#"
            description = "pong idles"
            app = "ping-pong"
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
        let head = "description = \"x\"\napp = \"a\"\nseeds = [1]\nrun-ms = 10\n";
        let parsed = Scenario::parse(&format!(
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
        let nameless =
            Scenario::parse(&format!("{head}[[step]]\nat-ms = 0\nws = \"/\"\n")).unwrap_err();
        assert!(nameless.to_string().contains("ws needs as ="), "{nameless}");
        let stray = Scenario::parse(&format!(
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
        let head = "description = \"x\"\napp = \"a\"\nseeds = [1]\nrun-ms = 10\n";
        let none = Scenario::parse(&format!("{head}[[step]]\nat-ms = 0\n")).unwrap_err();
        assert!(none.to_string().starts_with("step 1: no action"), "{none}");
        let two = Scenario::parse(&format!(
            "{head}[[step]]\nat-ms = 0\nkill = \"a\"\nexpect-alive = \"a\"\n"
        ))
        .unwrap_err();
        assert!(
            two.to_string().starts_with("step 1: more than one action"),
            "{two}"
        );
        let late =
            Scenario::parse(&format!("{head}[[step]]\nat-ms = 11\nkill = \"a\"\n")).unwrap_err();
        assert!(late.to_string().contains("after run-ms"), "{late}");
        let typo =
            Scenario::parse(&format!("{head}[[step]]\nat-ms = 0\nkil = \"a\"\n")).unwrap_err();
        assert!(typo.to_string().contains("kil"), "{typo}");
        let stray = Scenario::parse(&format!(
            "{head}[[step]]\nat-ms = 0\nkill = \"a\"\nreason = \"normal\"\n"
        ))
        .unwrap_err();
        assert_eq!(stray.to_string(), "step 1: reason goes with expect-exited");
    }
}
