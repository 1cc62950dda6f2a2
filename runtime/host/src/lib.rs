//! The wasm host: every rusm process is a component instance.
//!
//! [`Host`] compiles an app's components once (caching the machine code on
//! disk by content hash), links them against WASI and the `rusm:runtime`
//! world (`wit/rusm.wit`), and spawns each process as a fresh instance inside
//! a task of the actor core. wasmtime's async support runs every instance on
//! its own fiber, so a guest's blocking `receive` suspends only that process;
//! fuel (deterministic) or epochs (cheaper) preempt a guest that never blocks.
//!
//! ```no_run
//! use rusm_config::{Capabilities, Runtime};
//! use rusm_host::{ComponentSource, Host};
//!
//! rusm_rt::block_on(async {
//!     let components = vec![ComponentSource {
//!         name: "ping".into(),
//!         wasm: "examples/ping-pong/wasm/ping.wasm".into(),
//!         capabilities: Capabilities::trusted(),
//!         script: None,
//!     }];
//!     let host = Host::builder(Runtime::default()).build(components).unwrap();
//!     let reason = host.run("main", "ping", br#"{"rounds": 3}"#.to_vec()).await;
//!     println!("ping ended: {:?}", reason.unwrap());
//! });
//! ```

mod budget;
mod crypto;
mod engine;
pub mod fetch;
pub mod gate;
mod imports;
mod kv;
mod log;
mod process;
mod script;
mod session;
mod snapshot;
mod supervisor;
mod wasi;

pub use log::LifecycleLog;
pub use script::{Script, compile as compile_script};
pub use session::{Answer, Answers, Frame, Request, Session};
pub use supervisor::Resident;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rusm_config::{Capabilities, Capability, Preemption, Runtime};
use rusm_core::{ExitReason, Limits, Message, Node, Observer, OpError, Pid, Process, Ref};
use wasmtime::Engine;
use wasmtime_wasi::p2::bindings::CommandPre;

use crate::process::ProcState;

/// A component to load: its name (as used by `spawn`), its `.wasm` file and
/// its capability profile.
#[derive(Debug, Clone)]
pub struct ComponentSource {
    pub name: String,
    pub wasm: PathBuf,
    pub capabilities: Capabilities,
    /// For a script component (TypeScript): `wasm` is the shared runner
    /// and this is the program it runs.
    pub script: Option<Script>,
}

/// Loading a component or spawning a process failed.
#[derive(Debug)]
pub enum HostError {
    /// The engine could not be configured as asked.
    Engine(String),
    /// A component could not be read or compiled.
    Compile { component: String, message: String },
    /// `spawn` named a component the app does not have.
    UnknownComponent { name: String, known: Vec<String> },
    /// The node refused the spawn (its process limit).
    Spawn(OpError),
    /// The kv store could not be opened.
    Storage(String),
    /// `[fetch] ca-file` could not be read.
    Tls(String),
    /// [`Host::run`]'s watcher ended before the process it watched.
    Unwatched {
        component: String,
        reason: ExitReason,
    },
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Engine(message) => write!(f, "cannot configure wasmtime: {message}"),
            HostError::Compile { component, message } => {
                write!(f, "component {component}: {message}")
            }
            HostError::UnknownComponent { name, known } => {
                write!(
                    f,
                    "no component named {name:?} (the app has: {})",
                    known.join(", ")
                )
            }
            HostError::Spawn(e) => write!(f, "{e}"),
            HostError::Storage(message) => write!(f, "cannot open the kv store: {message}"),
            HostError::Tls(message) => write!(f, "[fetch] ca-file: {message}"),
            HostError::Unwatched { component, reason } => write!(
                f,
                "the node's watcher of {component} ended before it did: {reason}"
            ),
        }
    }
}

impl std::error::Error for HostError {}

/// Configures a [`Host`] before its components are compiled.
pub struct HostBuilder {
    settings: Runtime,
    observer: Option<Arc<dyn Observer>>,
    cache_dir: Option<PathBuf>,
    storage: Option<(PathBuf, rusm_store::Limits)>,
    fetch: rusm_config::Fetch,
}

impl HostBuilder {
    /// Keeps the node's kv store where `[storage]` says, its path relative
    /// to `app_dir`. The file is opened only if some component is granted
    /// `storage`: a node that needs no store leaves no file.
    pub fn storage(mut self, app_dir: &std::path::Path, storage: &rusm_config::Storage) -> Self {
        let limits = rusm_store::Limits {
            max_value_bytes: storage.max_value_bytes,
            ..rusm_store::Limits::default()
        };
        self.storage = Some((app_dir.join(&storage.path), limits));
        self
    }

    /// Limits outbound requests as `[fetch]` says (its `ca-file` relative
    /// to `app_dir`).
    pub fn fetch(mut self, app_dir: &std::path::Path, fetch: &rusm_config::Fetch) -> Self {
        self.fetch = rusm_config::Fetch {
            ca_file: fetch.ca_file.as_ref().map(|file| app_dir.join(file)),
            ..fetch.clone()
        };
        self
    }

    /// Reports every change of the node (spawns, exits, ...) to `observer`.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Caches compiled components in `dir` (created if missing).
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Compiles `components` and starts the node (and, with epoch
    /// preemption, the thread that ticks the epoch).
    pub fn build(self, components: Vec<ComponentSource>) -> Result<Host, HostError> {
        let store = match &self.storage {
            Some((path, limits))
                if components
                    .iter()
                    .any(|c| c.capabilities.grants(Capability::Storage)) =>
            {
                Some(Arc::new(kv::Kv::new(open_store(path, *limits)?)))
            }
            _ => None,
        };
        let tls = fetch::tls_config(self.fetch.ca_file.as_deref()).map_err(HostError::Tls)?;
        let memory_budget = budget::resolve(self.settings.memory_budget_mib)?;
        budget::check_map_count(self.settings.max_processes);
        let engine = engine::new(&self.settings, memory_budget)?;
        let mut loaded = BTreeMap::new();
        // Every script component runs the same runner: compiled once.
        let mut compiled: BTreeMap<PathBuf, CommandPre<ProcState>> = BTreeMap::new();
        for source in components {
            let pre = match compiled.get(&source.wasm) {
                Some(pre) => pre.clone(),
                None => {
                    let pre = engine::load(&engine, &source, self.cache_dir.as_deref())?;
                    compiled.insert(source.wasm.clone(), pre.clone());
                    pre
                }
            };
            loaded.insert(
                source.name,
                Loaded {
                    pre,
                    capabilities: Arc::new(source.capabilities),
                    script: source.script,
                    initial_memory: Default::default(),
                },
            );
        }
        let limits = Limits {
            max_processes: self.settings.max_processes,
            mailbox_len: self.settings.mailbox_len,
            mailbox_bytes: self.settings.mailbox_bytes,
            message_bytes: self.settings.max_message_bytes,
            max_links: self.settings.max_links,
            max_monitors: self.settings.max_monitors,
            memory_budget,
            ..Limits::default()
        };
        let node = match self.observer {
            Some(observer) => Node::with_observer(limits, observer),
            None => Node::new(limits),
        };
        let ticker = match engine::preemption(&self.settings) {
            Preemption::Epoch => Some(engine::start_epoch_ticker(
                &engine,
                self.settings.epoch_tick_ms,
            )?),
            Preemption::Fuel => None,
        };
        Ok(Host {
            shared: Arc::new(Shared {
                node,
                engine,
                settings: self.settings,
                components: loaded,
                store: std::sync::Mutex::new(store),
                supervisor: std::sync::Mutex::new(None),
                fetch: self.fetch,
                tls,
                ticker,
            }),
        })
    }
}

/// A node running wasm components. Cloning is cheap and shares it.
#[derive(Clone)]
pub struct Host {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    node: Node,
    engine: Engine,
    settings: Runtime,
    components: BTreeMap<String, Loaded>,
    /// The durable kv store, if a component may use one; closed by
    /// [`Host::shutdown`].
    store: std::sync::Mutex<Option<Arc<kv::Kv>>>,
    /// The residents' supervisor, once they are started and until they are
    /// stopped.
    supervisor: std::sync::Mutex<Option<Pid>>,
    /// `[fetch]`: how far outbound requests go.
    fetch: rusm_config::Fetch,
    /// What https trusts.
    tls: Arc<rustls::ClientConfig>,
    /// Stops with the host.
    #[allow(dead_code, reason = "held for its Drop, which stops the ticker thread")]
    ticker: Option<rusm_rt::thread::Ticker>,
}

impl Shared {
    pub(crate) fn fetch_limits(&self) -> rusm_config::Fetch {
        self.fetch.clone()
    }

    pub(crate) fn tls(&self) -> Arc<rustls::ClientConfig> {
        self.tls.clone()
    }
}

fn open_store(
    path: &std::path::Path,
    limits: rusm_store::Limits,
) -> Result<rusm_store::Store, HostError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| HostError::Storage(format!("{}: {e}", dir.display())))?;
    }
    rusm_store::Store::open(path, limits).map_err(|e| HostError::Storage(e.to_string()))
}

struct Loaded {
    pre: CommandPre<ProcState>,
    capabilities: Arc<Capabilities>,
    script: Option<Script>,
    /// The memory its processes hold once instantiated, as the first of
    /// them showed: what a spawn counts against the memory budget at once.
    initial_memory: std::sync::atomic::AtomicUsize,
}

impl Host {
    /// Starts configuring a host with these runtime settings.
    pub fn builder(settings: Runtime) -> HostBuilder {
        HostBuilder {
            settings,
            observer: None,
            cache_dir: None,
            storage: None,
            fetch: rusm_config::Fetch::default(),
        }
    }

    /// The actor core this host runs on.
    pub fn node(&self) -> &Node {
        &self.shared.node
    }

    /// The wasmtime engine every process of this host runs on, configured
    /// by its settings (the pool, preemption): what a benchmark measures
    /// the engine's own floor on.
    pub fn engine(&self) -> &Engine {
        &self.shared.engine
    }

    /// Stops the node (every process ends, `killed`) and closes its kv
    /// store, so the file can be opened again (a restarted node in a
    /// scenario). Processes spawned afterwards find no store.
    pub fn shutdown(&self) {
        self.shared.node.shutdown();
        self.shared.store.lock().expect("store lock").take();
    }

    /// The names of the loaded components, in order.
    pub fn components(&self) -> Vec<String> {
        self.shared.components.keys().cloned().collect()
    }

    /// Spawns a process running `component` with an init payload.
    pub fn spawn(&self, component: &str, init: Vec<u8>) -> Result<Pid, HostError> {
        process::spawn(&self.shared, None, component, init, None).map(|(pid, _)| pid)
    }

    /// Whether a process of `component` would fit in the node's memory
    /// budget now (serving refuses a WebSocket upgrade when not).
    pub fn has_room(&self, component: &str) -> bool {
        self.shared.components.get(component).is_some_and(|loaded| {
            let initial = loaded
                .initial_memory
                .load(std::sync::atomic::Ordering::Relaxed);
            self.shared.node.fits(initial)
        })
    }

    /// Spawns a process of `component` to serve a client: its `serving`
    /// imports read the request and answer through `session`.
    pub fn spawn_session(&self, component: &str, session: Session) -> Result<Pid, HostError> {
        process::spawn(&self.shared, None, component, Vec::new(), Some(session)).map(|(pid, _)| pid)
    }

    /// Spawns a process monitored by `watcher` from its first instant: its
    /// `down` arrives even if it ends at once.
    pub fn spawn_monitor(
        &self,
        watcher: &Process,
        component: &str,
        init: Vec<u8>,
    ) -> Result<(Pid, Ref), HostError> {
        let (pid, monitor) = process::spawn(&self.shared, Some(watcher), component, init, None)?;
        Ok((pid, monitor.expect("a watched spawn always sets a monitor")))
    }

    /// Runs a process of `component` to its end and returns why it ended.
    /// A process of the node's own, labelled `watcher`, monitors it from its
    /// first instant, so even one that ends at once is seen to end. Should
    /// the watcher be ended first (by an exit signal, or the memory budget),
    /// that is an error that says so.
    pub async fn run(
        &self,
        watcher: &str,
        component: &str,
        init: Vec<u8>,
    ) -> Result<ExitReason, HostError> {
        self.start(watcher, component, init)?.ended().await
    }

    /// [`Host::run`] in two halves: the process starts now, and its pid is
    /// known (to signal it) before [`Running::ended`] waits for its end.
    pub fn start(
        &self,
        watcher: &str,
        component: &str,
        init: Vec<u8>,
    ) -> Result<Running, HostError> {
        let me = self.node().attach(watcher).map_err(HostError::Spawn)?;
        let (pid, watch) = self.spawn_monitor(&me, component, init)?;
        Ok(Running {
            pid,
            component: component.to_string(),
            me: Watcher(me),
            watch,
        })
    }
}

/// The process that watches a [`Running`] one. However the wait for it
/// ends (the process ended, or a drain dropped the wait), it leaves the
/// table with `normal`: it is the node's own, not something to kill.
struct Watcher(Process);

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.0.exit(self.0.pid(), ExitReason::Normal);
    }
}

/// A process [`Host::start`] started, watched from its first instant.
pub struct Running {
    pub pid: Pid,
    component: String,
    me: Watcher,
    watch: Ref,
}

impl Running {
    /// Waits for the process to end and returns why; an error if the
    /// watcher was ended first.
    pub async fn ended(self) -> Result<ExitReason, HostError> {
        let me = &self.me.0;
        loop {
            let message = rusm_rt::select! {
                message = me.receive() => message,
                reason = me.exited() => {
                    return Err(HostError::Unwatched {
                        component: self.component,
                        reason,
                    });
                }
            };
            if let Message::Down {
                monitor, reason, ..
            } = message
                && monitor == self.watch
            {
                return Ok(reason);
            }
        }
    }
}
