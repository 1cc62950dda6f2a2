//! One way from an app directory to a running node, shared by the `rusm`
//! command, the simulator, the fuzz targets, the benchmarks and the tests:
//! a scenario boots an app exactly as `rusm serve` does.
//!
//! This is where building meets hosting: [`build`] runs `rusm build`
//! (`rusm-build`'s cargo and Bun, then the host's precompiler for scripts),
//! [`App::load`] reads what `wasm/` holds, checked against `rusm.toml`, and
//! [`App::boot`] / [`App::start_residents`] / [`App::serve`] bring a node up
//! in the order `rusm serve` does, and [`drain`] brings it down in order.
//!
//! ```no_run
//! let app = rusm_app::App::load("examples/serve-rs".as_ref()).unwrap();
//! rusm_rt::block_on(async {
//!     let host = app.boot(app.host()).unwrap();
//!     app.start_residents(&host).unwrap();
//!     let server = app.serve(&host).await.unwrap();
//!     # drop(server);
//! });
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use rusm_build::Built;
use rusm_config::{AppConfig, Capabilities};
use rusm_core::{Drain, Event, ExitReason, Pid};
use rusm_host::{ComponentSource, Host, HostBuilder, HostError, Resident, Script};
use rusm_rt::time::Duration;
use rusm_serve::Server;

/// An app could not be built, loaded or booted; the message says which
/// file or component and why.
#[derive(Debug)]
pub struct AppError(String);

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AppError {}

fn error(e: impl fmt::Display) -> AppError {
    AppError(e.to_string())
}

/// `rusm build`: every `components/<name>/` of the app at `dir` into
/// `wasm/`, scripts precompiled to the runner's bytecode (with the app's
/// compiled-component cache). `target_dir` is cargo's (default
/// `<app>/target`). Returns what was built, in name order.
pub fn build(dir: &Path, target_dir: Option<&Path>) -> Result<Vec<Built>, AppError> {
    let config = AppConfig::load(dir).map_err(error)?;
    let built = rusm_build::build_app(dir, target_dir).map_err(error)?;
    precompile(built, &dir.join(&config.runtime.cache_dir))
}

/// Precompiles every script among `built` that is still source:
/// `wasm/<name>.js` becomes `wasm/<name>.qjsbc` beside it, written by the
/// runner it will run on (`rusm_host::compile_script`). The rest pass
/// through.
fn precompile(built: Vec<Built>, cache_dir: &Path) -> Result<Vec<Built>, AppError> {
    built
        .into_iter()
        .map(|mut b| {
            let Some(file) = b.script.as_mut().filter(|f| !f.bytecode) else {
                return Ok(b);
            };
            let failed = |what: String| AppError(format!("component {}: {what}", b.name));
            let source = std::fs::read(&file.path)
                .map_err(|e| failed(format!("cannot read {}: {e}", file.path.display())))?;
            let bytecode = rusm_host::compile_script(&b.wasm, &b.name, &source, Some(cache_dir))
                .map_err(error)?;
            let out = file.path.with_extension("qjsbc");
            std::fs::write(&out, bytecode)
                .map_err(|e| failed(format!("cannot write {}: {e}", out.display())))?;
            *file = rusm_build::ScriptFile {
                path: out,
                bytecode: true,
            };
            Ok(b)
        })
        .collect()
}

/// An app as `rusm build` left it: its directory, its `rusm.toml`, and its
/// components with their capability profiles.
#[derive(Debug, Clone)]
pub struct App {
    dir: PathBuf,
    config: AppConfig,
    components: Vec<ComponentSource>,
}

impl App {
    /// Loads the app at `dir` with its own `rusm.toml`.
    pub fn load(dir: &Path) -> Result<App, AppError> {
        let config = AppConfig::load(dir).map_err(error)?;
        App::with_config(dir, config)
    }

    /// Loads the app at `dir` with `config` in place of its `rusm.toml` (a
    /// scenario's tighter limits, a fuzz target's edits). Every component
    /// the config names must be one `wasm/` holds.
    pub fn with_config(dir: &Path, config: AppConfig) -> Result<App, AppError> {
        let built = rusm_build::built(dir).map_err(error)?;
        let names: Vec<String> = built.iter().map(|b| b.name.clone()).collect();
        config
            .check_components(&names)
            .map_err(|e| AppError(format!("{}: {e}", dir.join("rusm.toml").display())))?;
        let components = built
            .into_iter()
            .map(|b| {
                let capabilities = config.capabilities(&b.name);
                component(b, capabilities).map_err(error)
            })
            .collect::<Result<_, _>>()?;
        Ok(App {
            dir: dir.to_path_buf(),
            config,
            components,
        })
    }

    /// The app's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Its configuration.
    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    /// Its components with their capability profiles, in name order.
    pub fn components(&self) -> &[ComponentSource] {
        &self.components
    }

    /// A host configured as `rusm serve` configures it: the app's
    /// `[runtime]`, its compiled-component cache, its `[storage]` and
    /// `[fetch]`. Change what a run needs (an observer, a scratch kv file)
    /// before [`App::boot`].
    pub fn host(&self) -> HostBuilder {
        let config = &self.config;
        Host::builder(config.runtime.clone())
            .cache_dir(self.dir.join(&config.runtime.cache_dir))
            .storage(&self.dir, &config.storage)
            .fetch(&self.dir, &config.fetch)
    }

    /// Compiles the app's components (or loads them from the cache) into
    /// the host `builder` configures. Call it outside a simulated world:
    /// compiling may use threads.
    pub fn boot(&self, builder: HostBuilder) -> Result<Host, AppError> {
        builder.build(self.components.clone()).map_err(error)
    }

    /// Starts the app's resident components under their supervisor (from
    /// inside the node's runtime).
    pub fn start_residents(&self, host: &Host) -> Result<(), AppError> {
        host.start_residents(Resident::from_config(&self.config))
            .map_err(|e| AppError(format!("the residents did not start: {e}")))
    }

    /// Opens the app's `[[serve]]` listeners on `host`; `None` if it has
    /// none.
    pub async fn serve(&self, host: &Host) -> Result<Option<Server>, AppError> {
        if self.config.serve.is_empty() {
            return Ok(None);
        }
        Server::start(host, &self.config.serve)
            .await
            .map(Some)
            .map_err(error)
    }
}

/// How a [`drain`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Everything ended in order within the timeout.
    Clean,
    /// The timeout passed first: what was left was killed at once.
    TimedOut,
    /// It was cut short (a second signal): what was left was killed at once.
    Cut,
}

/// Stops the node in order, as SIGTERM does for `rusm serve` and `rusm run`
/// and a scenario's `drain-node` step does under simulation; every step
/// is a lifecycle event (`drain: …`):
///
/// 1. the server drains ([`Server::drain`]): no new connection, requests in
///    flight answered, SSE streams ended, WebSockets closed with 1001;
/// 2. `entry` (`rusm run`'s process), then the residents, the last started
///    first, get a `shutdown` exit signal, which they may trap to save
///    their state, and are waited for;
/// 3. whatever still runs is killed and the kv store closed (every write
///    it acknowledged is already on disk).
///
/// Steps 1 and 2 have `timeout` together; past it, or once `cut`
/// resolves, step 3 comes at once.
pub async fn drain(
    host: &Host,
    server: Option<Server>,
    entry: Option<Pid>,
    timeout: Duration,
    cut: impl Future<Output = ()>,
) -> Drained {
    let node = host.node();
    node.report(Event::Drain(Drain::Began {
        timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
    }));
    let in_order = async {
        if let Some(server) = &server {
            server.drain().await;
            node.report(Event::Drain(Drain::ConnectionsClosed));
        }
        if let Some(entry) = entry {
            let ended = node.join(entry);
            // Issued by this node: valid, whether or not it still runs.
            let _ = node.exit(entry, ExitReason::Shutdown);
            ended.await;
        }
        host.stop_residents().await;
        node.report(Event::Drain(Drain::ResidentsStopped));
    };
    let drained = rusm_rt::select! {
        () = in_order => Drained::Clean,
        () = rusm_rt::time::sleep(timeout) => Drained::TimedOut,
        () = cut => Drained::Cut,
    };
    // Whatever connection is still open closes now.
    drop(server);
    let left = node.process_count();
    host.shutdown();
    node.report(Event::Drain(match drained {
        Drained::Clean => Drain::Done { left },
        Drained::TimedOut => Drain::Forced {
            why: "the timeout passed",
            left,
        },
        Drained::Cut => Drain::Forced {
            why: "a second signal came",
            left,
        },
    }));
    drained
}

/// A component `rusm build` built, with its capability profile; a script's
/// program is read now.
fn component(built: Built, capabilities: Capabilities) -> Result<ComponentSource, HostError> {
    let script = match &built.script {
        None => None,
        Some(file) => {
            let code = std::fs::read(&file.path).map_err(|e| HostError::Compile {
                component: built.name.clone(),
                message: format!("cannot read {}: {e}", file.path.display()),
            })?;
            Some(if file.bytecode {
                Script::bytecode(code)
            } else {
                Script::source(code)
            })
        }
    };
    Ok(ComponentSource {
        name: built.name,
        wasm: built.wasm,
        capabilities,
        script,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_that_was_not_built_says_so() {
        let err = App::load(Path::new("/nonexistent-app"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent-app/rusm.toml"), "{err}");
    }
}
