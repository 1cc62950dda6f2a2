//! `rusm.toml`, the one file that describes an app to the node.
//!
//! ```
//! let config = rusm_config::AppConfig::parse(r#"
//!     [app]
//!     entry = "ping"
//!
//!     [runtime]
//!     memory-limit-mib = 32
//!
//!     [capabilities.ping]
//!     allow-stdio = true
//!     spawn = true
//! "#).unwrap();
//! assert_eq!(config.app.entry.as_deref(), Some("ping"));
//! assert!(config.capabilities("ping").allow_stdio);
//! assert!(!config.capabilities("pong").spawn, "default-deny");
//! ```
//!
//! Unknown keys are errors that name the key and its line: a typo must not
//! silently fall back to a default.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod serve;

pub use serve::{
    Found, Listener, ListenerKind, MIN_HEADER_BYTES, NotFound, RouteTable, ServeLimits,
};

/// The whole of `rusm.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AppConfig {
    #[serde(default)]
    pub app: App,
    #[serde(default)]
    pub runtime: Runtime,
    #[serde(default)]
    pub log: Log,
    /// `[capabilities.<component>]`: what each component may do. A component
    /// without a table may do nothing beyond messaging (default-deny).
    #[serde(default)]
    capabilities: BTreeMap<String, Capabilities>,
    /// `[[serve]]`: the listeners `rusm serve` opens.
    #[serde(default)]
    pub serve: Vec<Listener>,
    /// `[components.<name>]`: how the node runs a component.
    #[serde(default)]
    pub components: BTreeMap<String, ComponentConfig>,
    /// `[storage]`: the node's durable kv file.
    #[serde(default)]
    pub storage: Storage,
    /// `[fetch]`: the limits of outbound HTTP requests.
    #[serde(default)]
    pub fetch: Fetch,
}

/// `[fetch]`: how far the node goes for a guest's outbound request. Which
/// hosts a component may reach is its profile's `fetch` list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Fetch {
    /// Redirects followed before the request fails.
    pub max_redirects: u32,
    /// From the start of a request (or a redirect) to its response's
    /// headers: connecting, TLS, sending, the server thinking.
    pub timeout_ms: u64,
    /// The longest wait for the next piece of a response body.
    pub idle_timeout_ms: u64,
    /// The largest request body a guest may send.
    pub max_request_bytes: usize,
    /// The largest response body a guest may read; past it the read fails.
    pub max_response_bytes: usize,
    /// PEM certificates https trusts besides the webpki roots (a private
    /// CA), relative to the app directory.
    pub ca_file: Option<PathBuf>,
}

impl Default for Fetch {
    fn default() -> Fetch {
        Fetch {
            max_redirects: 10,
            timeout_ms: 30_000,
            idle_timeout_ms: 60_000,
            max_request_bytes: 16 << 20,
            max_response_bytes: 64 << 20,
            ca_file: None,
        }
    }
}

/// `[storage]`: where the kv store lives and what it accepts. The file is
/// opened only when some component is granted `storage`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Storage {
    /// The redb file, relative to the app directory (its directory is
    /// created if missing).
    pub path: PathBuf,
    /// The largest value one `set` may store.
    pub max_value_bytes: usize,
}

impl Default for Storage {
    fn default() -> Storage {
        Storage {
            path: PathBuf::from(".rusm/kv.redb"),
            max_value_bytes: 1 << 20,
        }
    }
}

/// `[components.<name>]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct ComponentConfig {
    /// Spawned when the node boots and restarted when it ends abnormally,
    /// at most `max-restarts` times within `restart-window-ms` (Erlang's
    /// restart intensity); past that the node gives up on it.
    pub resident: bool,
    /// The init payload of a resident process.
    pub init: String,
    pub max_restarts: u32,
    pub restart_window_ms: u64,
}

impl AppConfig {
    /// The resident components, in name order.
    pub fn residents(&self) -> impl Iterator<Item = (&str, &ComponentConfig)> {
        self.components
            .iter()
            .filter(|(_, c)| c.resident)
            .map(|(name, c)| (name.as_str(), c))
    }
}

impl Default for ComponentConfig {
    fn default() -> ComponentConfig {
        ComponentConfig {
            resident: false,
            init: String::new(),
            max_restarts: 3,
            restart_window_ms: 5_000,
        }
    }
}

/// `[app]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct App {
    /// The component `rusm run` spawns first (an app that only serves
    /// needs none).
    #[serde(default)]
    pub entry: Option<String>,
    /// The init payload handed to the entry process (JSON, by convention).
    #[serde(default)]
    pub init: String,
}

/// How guests are preempted so that none can starve the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preemption {
    /// Yield every `fuel-per-slice` units of fuel: deterministic, so it is
    /// what the simulator uses.
    Fuel,
    /// Yield when a timer ticks (every `epoch-tick-ms`): cheaper per
    /// instruction, but timing-dependent.
    Epoch,
}

/// `[runtime]`: limits and scheduling. Every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Runtime {
    pub preemption: Preemption,
    /// Fuel a guest burns between two yields (fuel preemption).
    pub fuel_per_slice: u64,
    /// Fuel a process may burn in its whole life; beyond it the process
    /// exits with `out-of-fuel`. Unset: a busy process runs forever, sharing
    /// the node fairly through preemption.
    pub max_fuel: Option<u64>,
    /// Interval between epoch ticks (epoch preemption).
    pub epoch_tick_ms: u64,
    /// Linear memory one process may grow to; beyond it `out-of-memory`.
    pub memory_limit_mib: u64,
    /// Live processes at once.
    pub max_processes: usize,
    /// Messages waiting in one mailbox; one more ends the receiver with
    /// `mailbox-overflow`.
    pub mailbox_len: usize,
    /// Bytes waiting in one mailbox (data messages, and the text of downs'
    /// and exit signals' reasons); a message that would pass it ends the
    /// receiver with `mailbox-overflow` too.
    pub mailbox_bytes: usize,
    /// Bytes in one message; a larger send traps the sender.
    pub max_message_bytes: usize,
    /// Links one process holds; a `link` past it, on either side, traps
    /// the process that asked.
    pub max_links: usize,
    /// Monitors one process holds; one more `monitor` traps it.
    pub max_monitors: usize,
    /// Outbound requests (`fetch`) one process has in flight, from its
    /// start until its body is read or dropped; one more is refused.
    pub max_fetches: usize,
    /// What every process together may hold: linear memories and the
    /// messages waiting in mailboxes. At the budget a spawn is refused and
    /// the process holding the most is ended (`memory-budget`). Unset: half
    /// of the machine's memory or of its cgroup's limit, whichever is
    /// lower; under simulation, 1024 MiB, so a trace never depends on the
    /// machine it ran on.
    pub memory_budget_mib: Option<u64>,
    /// What a free pool slot keeps resident of its last process's memory
    /// for the next one, outside the budget. Unset: as much as keeps every
    /// slot's together within 1/4 of the budget, at most 2048 KiB. More
    /// makes a TypeScript spawn faster (its runner dirties about 2 MiB)
    /// and lets free slots hold up to `max-processes` times this.
    pub pool_keep_resident_kib: Option<u64>,
    /// How long a drain (SIGTERM, SIGINT) lets open requests, streams and
    /// residents finish; past it everything ends at once.
    pub drain_timeout_ms: u64,
    /// Where compiled components are cached, relative to the app directory.
    pub cache_dir: PathBuf,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime {
            preemption: Preemption::Fuel,
            fuel_per_slice: 100_000,
            max_fuel: None,
            epoch_tick_ms: 1,
            memory_limit_mib: 64,
            max_processes: 10_000,
            mailbox_len: 10_000,
            mailbox_bytes: 16 << 20,
            max_message_bytes: 1 << 20,
            max_links: 10_000,
            max_monitors: 10_000,
            max_fetches: 16,
            memory_budget_mib: None,
            pool_keep_resident_kib: None,
            drain_timeout_ms: 10_000,
            cache_dir: PathBuf::from(".rusm/cache"),
        }
    }
}

/// The lifecycle log's verbosity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogLevel {
    Off,
    Error,
    Warn,
    /// Spawns and exits.
    #[default]
    Info,
    /// Also links, monitors, registrations and timeouts.
    Debug,
}

/// `[log]`: the platform's lifecycle log (not the apps' own output).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Log {
    pub level: LogLevel,
}

/// `[capabilities.<component>]`: a component's profile. Everything is denied
/// unless granted; `trusted` grants everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Capabilities {
    /// Grants every capability.
    pub trusted: bool,
    /// The guest's stdout and stderr reach the node's; otherwise discarded.
    pub allow_stdio: bool,
    /// May spawn processes.
    pub spawn: bool,
    /// May register and unregister names.
    pub register: bool,
    /// May use the node's durable kv store.
    pub storage: bool,
    /// The hosts outbound `fetch` may reach: `"api.example.com"` (any
    /// port), `"127.0.0.1:8080"` (that port only) or `"*"` (anywhere).
    /// Empty: no fetch at all.
    pub fetch: Vec<String>,
}

/// The `fetch` entry that allows every host (`trusted` implies it).
pub const ANY_HOST: &str = "*";

/// One grant of a profile, as the host checks it before an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Capability {
    AllowStdio,
    Spawn,
    Register,
    Storage,
    /// Some host for `fetch` (which ones: [`Capabilities::fetch_allows`]).
    Fetch,
}

impl Capability {
    /// Every capability, in order.
    pub const ALL: [Capability; 5] = [
        Capability::AllowStdio,
        Capability::Spawn,
        Capability::Register,
        Capability::Storage,
        Capability::Fetch,
    ];

    /// The key that grants it in `[capabilities.<component>]`.
    pub fn key(self) -> &'static str {
        match self {
            Capability::AllowStdio => "allow-stdio",
            Capability::Spawn => "spawn",
            Capability::Register => "register",
            Capability::Storage => "storage",
            Capability::Fetch => "fetch",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl Capabilities {
    /// Every capability granted.
    pub fn trusted() -> Capabilities {
        Capabilities {
            trusted: true,
            allow_stdio: true,
            spawn: true,
            register: true,
            storage: true,
            fetch: vec![ANY_HOST.to_string()],
        }
    }

    /// Whether this profile grants `capability`.
    pub fn grants(&self, capability: Capability) -> bool {
        self.trusted
            || match capability {
                Capability::AllowStdio => self.allow_stdio,
                Capability::Spawn => self.spawn,
                Capability::Register => self.register,
                Capability::Storage => self.storage,
                Capability::Fetch => !self.fetch.is_empty(),
            }
    }

    /// Whether `fetch` may reach `host` on `port` (`host` in lower case,
    /// as a URL holds it; an IPv6 address in brackets).
    pub fn fetch_allows(&self, host: &str, port: u16) -> bool {
        self.trusted
            || self.fetch.iter().any(|entry| {
                entry == ANY_HOST
                    || entry.eq_ignore_ascii_case(host)
                    || entry
                        .rsplit_once(':')
                        .is_some_and(|(h, p)| h.eq_ignore_ascii_case(host) && p == port.to_string())
            })
    }

    /// The profile in force: `trusted` expanded into every grant.
    fn effective(&self) -> Capabilities {
        if self.trusted {
            Capabilities::trusted()
        } else {
            self.clone()
        }
    }
}

/// `rusm.toml` could not be read or understood.
#[derive(Debug)]
pub struct ConfigError {
    path: Option<PathBuf>,
    message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{}: {}", path.display(), self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

impl AppConfig {
    /// Parses the text of a `rusm.toml`.
    pub fn parse(text: &str) -> Result<AppConfig, ConfigError> {
        let config: AppConfig = toml::from_str(text).map_err(|e| ConfigError {
            path: None,
            message: e.to_string(),
        })?;
        config.check_fetch_hosts()?;
        Ok(config)
    }

    /// Every `fetch` entry is a host, a host and port, or `*`.
    fn check_fetch_hosts(&self) -> Result<(), ConfigError> {
        for (component, profile) in &self.capabilities {
            if let Some(entry) = profile.fetch.iter().find(|e| !valid_fetch_entry(e)) {
                return Err(ConfigError {
                    path: None,
                    message: format!(
                        "capabilities.{component}.fetch: {entry:?} is not a host, host:port or \"*\""
                    ),
                });
            }
        }
        Ok(())
    }

    /// Reads and parses `<app_dir>/rusm.toml`.
    pub fn load(app_dir: &Path) -> Result<AppConfig, ConfigError> {
        let path = app_dir.join("rusm.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
            path: Some(path.clone()),
            message: format!("cannot read: {e}"),
        })?;
        AppConfig::parse(&text).map_err(|e| ConfigError {
            path: Some(path),
            message: e.message,
        })
    }

    /// The profile of `component` (`trusted` expanded); default-deny.
    pub fn capabilities(&self, component: &str) -> Capabilities {
        self.capabilities
            .get(component)
            .map(Capabilities::effective)
            .unwrap_or_default()
    }

    /// Whether any component is granted `storage` (the node then opens its
    /// kv file).
    pub fn uses_storage(&self) -> bool {
        self.capabilities
            .values()
            .any(|c| c.grants(Capability::Storage))
    }

    /// Checks that every name the config mentions is one of `components`.
    pub fn check_components(&self, components: &[String]) -> Result<(), ConfigError> {
        let known = |name: &str| components.iter().any(|c| c == name);
        let unknown = (self
            .app
            .entry
            .iter()
            .map(|entry| ("app.entry", entry.as_str())))
        .chain(
            self.capabilities
                .keys()
                .map(|k| ("capabilities", k.as_str())),
        )
        .chain(self.components.keys().map(|k| ("components", k.as_str())))
        .chain(self.serve.iter().flat_map(|listener| {
            listener
                .component
                .iter()
                .map(|c| ("serve.component", c.as_str()))
                .chain(listener.routes.components().map(|c| ("serve.routes", c)))
        }))
        .find(|(_, name)| !known(name));
        match unknown {
            None => Ok(()),
            Some((key, name)) => Err(ConfigError {
                path: None,
                message: format!(
                    "{key}: no component named {name:?} (the app has: {})",
                    components.join(", ")
                ),
            }),
        }
    }
}

/// `host`, `host:port` or `*`, where a host is a DNS name, an IPv4
/// address or an IPv6 address in brackets.
fn valid_fetch_entry(entry: &str) -> bool {
    if entry == ANY_HOST {
        return true;
    }
    let (host, port) = match entry.rsplit_once(':') {
        Some((host, port))
            if !host.ends_with(':') && (!host.starts_with('[') || host.ends_with(']')) =>
        {
            (host, Some(port))
        }
        _ => (entry, None),
    };
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    };
    host_ok && port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_hosts_are_default_deny_and_match_host_or_host_and_port() {
        let config = AppConfig::parse(
            "[capabilities.a]\nfetch = [\"api.example.com\", \"127.0.0.1:8080\", \"[::1]:9\"]\n[capabilities.t]\ntrusted = true\n",
        )
        .unwrap();
        let a = config.capabilities("a");
        assert!(a.grants(Capability::Fetch));
        assert!(a.fetch_allows("api.example.com", 443));
        assert!(a.fetch_allows("API.example.com", 80));
        assert!(a.fetch_allows("127.0.0.1", 8080));
        assert!(!a.fetch_allows("127.0.0.1", 8081));
        assert!(a.fetch_allows("[::1]", 9));
        assert!(!a.fetch_allows("example.com", 443));
        assert!(!a.fetch_allows("evil.api.example.com", 443));
        assert!(config.capabilities("t").fetch_allows("anywhere.example", 1));
        let none = config.capabilities("b");
        assert!(!none.grants(Capability::Fetch));
        assert!(!none.fetch_allows("api.example.com", 443));
        for bad in [
            "",
            "http://x.com",
            "x.com:",
            "x.com:0",
            "x.com:99999",
            "x/y",
            "[::1",
        ] {
            let text = format!("[capabilities.a]\nfetch = [{bad:?}]\n");
            let err = AppConfig::parse(&text).unwrap_err().to_string();
            assert!(err.contains("capabilities.a.fetch"), "{bad:?}: {err}");
        }
        let limits = AppConfig::parse("[fetch]\nmax-redirects = 0\ntimeout-ms = 5\n")
            .unwrap()
            .fetch;
        assert_eq!((limits.max_redirects, limits.timeout_ms), (0, 5));
        assert_eq!(
            limits.max_response_bytes,
            Fetch::default().max_response_bytes
        );
    }

    #[test]
    fn defaults_fill_everything_but_the_entry() {
        let config = AppConfig::parse("[app]\nentry = \"main\"\n").unwrap();
        assert_eq!(config.runtime, Runtime::default());
        assert_eq!(config.log.level, LogLevel::Info);
        assert_eq!(config.capabilities("main"), Capabilities::default());
    }

    #[test]
    fn trusted_grants_everything() {
        let config =
            AppConfig::parse("[app]\nentry = \"a\"\n[capabilities.a]\ntrusted = true\n").unwrap();
        assert_eq!(config.capabilities("a"), Capabilities::trusted());
    }

    #[test]
    fn storage_is_opened_only_for_a_component_granted_it() {
        let config = AppConfig::parse("[capabilities.a]\nspawn = true\n").unwrap();
        assert!(!config.uses_storage());
        assert_eq!(config.storage.path, Path::new(".rusm/kv.redb"));
        let config = AppConfig::parse(
            "[storage]\npath = \"data/kv.redb\"\nmax-value-bytes = 10\n[capabilities.a]\nstorage = true\n",
        )
        .unwrap();
        assert!(config.uses_storage());
        assert_eq!(config.storage.max_value_bytes, 10);
        assert!(config.capabilities("a").grants(Capability::Storage));
        assert!(!config.capabilities("a").grants(Capability::Spawn));
        let trusted = AppConfig::parse("[capabilities.b]\ntrusted = true\n").unwrap();
        assert!(trusted.uses_storage(), "trusted grants storage too");
    }

    #[test]
    fn an_unknown_key_is_an_error_naming_the_key_and_line() {
        let text = "[app]\nentry = \"a\"\n\n[runtime]\nmemory-limit-mb = 3\n";
        let err = AppConfig::parse(text).unwrap_err().to_string();
        assert!(err.contains("memory-limit-mb"), "{err}");
        assert!(err.contains("line 5"), "{err}");
    }

    #[test]
    fn a_wrong_type_is_an_error_naming_the_line() {
        let err = AppConfig::parse("[app]\nentry = 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        let err = AppConfig::parse("[app]\nentry = \"a\"\n[runtime]\npreemption = \"coop\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("preemption") || err.contains("line 4"),
            "{err}"
        );
    }

    #[test]
    fn names_must_be_components_of_the_app() {
        let config =
            AppConfig::parse("[app]\nentry = \"ping\"\n[capabilities.pnog]\nspawn = true\n")
                .unwrap();
        let components = vec!["ping".to_string(), "pong".to_string()];
        let err = config
            .check_components(&components)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "capabilities: no component named \"pnog\" (the app has: ping, pong)"
        );
        let config = AppConfig::parse("[app]\nentry = \"pong\"\n").unwrap();
        assert!(config.check_components(&components).is_ok());
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let err = AppConfig::load(Path::new("/nonexistent/app"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/nonexistent/app/rusm.toml: cannot read"),
            "{err}"
        );
    }
}
