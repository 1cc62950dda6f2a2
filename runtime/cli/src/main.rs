//! `rusm`: build an app's components, run it.
//!
//! ```text
//! rusm build examples/ping-pong     # components/<name>/ -> wasm/<name>.wasm (or .qjsbc)
//! rusm run examples/ping-pong       # boot a node, spawn the entry, wait for it
//! rusm serve examples/serve-rs      # boot a node, serve its [[serve]] listeners
//! rusm sim scenarios/heartbeat.toml --seed 7   # replay a scenario (simulation build)
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use rusm_config::{AppConfig, ListenerKind, LogLevel};
use rusm_core::Message;
use rusm_host::{ComponentSource, Host, Resident};

#[derive(Parser)]
#[command(
    name = "rusm",
    version,
    about = "An Erlang-style actor runtime for WebAssembly components"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build every components/<name>/ of an app: Rust to wasm/<name>.wasm,
    /// TypeScript to wasm/<name>.js and its bytecode wasm/<name>.qjsbc.
    Build {
        /// The app directory (holding rusm.toml and components/).
        #[arg(default_value = ".")]
        app: PathBuf,
        /// Cargo's target directory for the guest build (default: <app>/target).
        #[arg(long)]
        target_dir: Option<PathBuf>,
    },
    /// Boot a node for the app, spawn its entry component and wait for it to end.
    Run {
        /// The app directory (holding rusm.toml and wasm/).
        #[arg(default_value = ".")]
        app: PathBuf,
        /// The entry's init payload, instead of `[app] init`.
        #[arg(long)]
        init: Option<String>,
    },
    /// Boot a node for the app and serve its [[serve]] listeners until stopped.
    Serve {
        /// The app directory (holding rusm.toml and wasm/).
        #[arg(default_value = ".")]
        app: PathBuf,
    },
    /// Replay a scenario file with one seed and print its trace. Needs the
    /// simulation build: `bash ci/sim.sh scenarios/x.toml --seed N`.
    Sim {
        /// The scenario file (see scenarios/README.md).
        scenario: PathBuf,
        /// The seed (default: the scenario's first).
        #[arg(long)]
        seed: Option<u64>,
    },
}

fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Command::Build { app, target_dir } => build(&app, target_dir.as_deref()),
        Command::Run { app, init } => run(&app, init),
        Command::Serve { app } => serve(&app),
        Command::Sim { scenario, seed } => sim(&scenario, seed),
    };
    match outcome {
        Ok(code) => code,
        Err(message) => {
            eprintln!("rusm: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn build(app: &Path, target_dir: Option<&Path>) -> Result<ExitCode, String> {
    let config = AppConfig::load(app).map_err(|e| e.to_string())?;
    let built = rusm_build::build_app(app, target_dir).map_err(|e| e.to_string())?;
    // Scripts become the runner's bytecode: that takes wasmtime, so the
    // host does it.
    let built = rusm_host::precompile(built, Some(&app.join(&config.runtime.cache_dir)))
        .map_err(|e| e.to_string())?;
    for built in built {
        let output = built.script.map_or(built.wasm, |script| script.path);
        eprintln!("rusm build {} -> {}", built.name, output.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Replays `scenario` inside the simulator and prints its trace on stdout;
/// the exit code says whether every expectation held.
#[cfg(madsim)]
fn sim(scenario: &Path, seed: Option<u64>) -> Result<ExitCode, String> {
    let scenario = rusm_sim::Scenario::load(scenario).map_err(|e| e.to_string())?;
    let seed = seed.unwrap_or(scenario.seeds[0]);
    match rusm_sim::run(&scenario, seed) {
        Ok(trace) => {
            print!("{trace}");
            Ok(ExitCode::SUCCESS)
        }
        Err(rusm_sim::RunError::Expectations { failures, trace }) => {
            print!("{trace}");
            for failure in failures {
                eprintln!("rusm sim: expectation failed {failure}");
            }
            Ok(ExitCode::FAILURE)
        }
        Err(setup) => Err(setup.to_string()),
    }
}

/// Without the simulator compiled in there is nothing deterministic to
/// replay on, so say where it is rather than run on real time.
#[cfg(not(madsim))]
fn sim(scenario: &Path, seed: Option<u64>) -> Result<ExitCode, String> {
    let seed = seed.map_or(String::new(), |s| format!(" --seed {s}"));
    Err(format!(
        "this rusm is the production build; scenarios replay in the simulation build: \
         bash ci/sim.sh {}{seed}",
        scenario.display()
    ))
}

/// Runs the app until its entry process ends; the exit code says whether it
/// ended normally.
fn run(app: &Path, init: Option<String>) -> Result<ExitCode, String> {
    let config = AppConfig::load(app).map_err(|e| e.to_string())?;
    let entry = config.app.entry.clone().ok_or(
        "rusm run starts [app] entry, and this app names none (an app that only serves runs with rusm serve)",
    )?;
    let components = components(app, &config)?;
    let init = init.unwrap_or_else(|| config.app.init.clone()).into_bytes();
    rusm_rt::block_on(async move {
        let host = boot(app, &config, components)?;
        // The node watches the entry from a process of its own.
        let me = host.node().attach("rusm").map_err(|e| e.to_string())?;
        let (_, watch) = host
            .spawn_monitor(&me, &entry, init)
            .map_err(|e| e.to_string())?;
        let reason = loop {
            if let Message::Down {
                monitor, reason, ..
            } = me.receive().await
                && monitor == watch
            {
                break reason;
            }
        };
        Ok(if reason.is_normal() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

/// Serves the app's listeners until the process is stopped.
fn serve(app: &Path) -> Result<ExitCode, String> {
    let config = AppConfig::load(app).map_err(|e| e.to_string())?;
    if config.serve.is_empty() {
        return Err(format!(
            "{} has no [[serve]] listener to serve",
            app.join("rusm.toml").display()
        ));
    }
    let components = components(app, &config)?;
    rusm_rt::block_on(async move {
        let host = boot(app, &config, components)?;
        let server = rusm_serve::Server::start(&host, &config.serve)
            .await
            .map_err(|e| e.to_string())?;
        for bound in server.bound() {
            let scheme = match bound.kind {
                ListenerKind::Http => "http",
                ListenerKind::Ws => "ws",
            };
            eprintln!("rusm listening on {scheme}://{}", bound.address);
        }
        std::future::pending::<()>().await;
        Ok(ExitCode::SUCCESS)
    })
}

/// The app's built components (`wasm/`, as `rusm build` left it) with
/// their capability profiles, checked against every name the config
/// mentions.
fn components(app: &Path, config: &AppConfig) -> Result<Vec<ComponentSource>, String> {
    let built = rusm_build::built(app).map_err(|e| e.to_string())?;
    let names: Vec<String> = built.iter().map(|b| b.name.clone()).collect();
    config.check_components(&names).map_err(|e| e.to_string())?;
    built
        .into_iter()
        .map(|b| {
            let capabilities = config.capabilities(&b.name);
            ComponentSource::from_built(b, capabilities).map_err(|e| e.to_string())
        })
        .collect()
}

/// Compiles the components, boots the node with the lifecycle log, and
/// starts the resident components.
fn boot(app: &Path, config: &AppConfig, components: Vec<ComponentSource>) -> Result<Host, String> {
    show_lifecycle_log(config.log.level);
    let host = Host::builder(config.runtime.clone())
        .observer(Arc::new(rusm_host::LifecycleLog))
        .cache_dir(app.join(&config.runtime.cache_dir))
        .storage(app, &config.storage)
        .fetch(app, &config.fetch)
        .build(components)
        .map_err(|e| e.to_string())?;
    host.start_residents(Resident::from_config(config))
        .map_err(|e| e.to_string())?;
    Ok(host)
}

/// Shows the lifecycle log (`tracing` events of target `rusm`, up to `[log]
/// level`) on stderr, one line each: `rusm <event>`, so it is easy to tell
/// from the apps' own output.
fn show_lifecycle_log(level: LogLevel) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let level = match level {
        LogLevel::Off => LevelFilter::OFF,
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
    };
    let lines = tracing_subscriber::fmt::layer()
        .event_format(Tagged)
        .with_writer(std::io::stderr)
        .with_filter(Targets::new().with_target(rusm_host::LifecycleLog::TARGET, level));
    // Only fails if a subscriber is already set, and then that one logs.
    let _ = tracing_subscriber::registry().with(lines).try_init();
}

/// `rusm <message>`.
struct Tagged;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for Tagged
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        write!(writer, "{} ", event.metadata().target())?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
