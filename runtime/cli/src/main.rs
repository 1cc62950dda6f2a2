//! `rusm`: create an app, build its components, run it, serve it, test it.
//!
//! ```text
//! rusm new chat --template http     # a new app that builds, serves and tests
//! rusm build examples/ping-pong     # components/<name>/ -> wasm/<name>.wasm (or .qjsbc)
//! rusm run examples/ping-pong       # boot a node, spawn the entry, wait for it
//! rusm serve examples/serve-rs      # boot a node, serve its [[serve]] listeners
//! rusm sim scenarios/heartbeat.toml --seed 7   # replay a scenario, the trace on stdout
//! rusm test examples/ping-pong      # every scenario twice per seed, against its snapshot
//! ```

mod new;
mod sim;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use rusm_app::App;
use rusm_config::{ListenerKind, LogLevel};
use rusm_host::Host;

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
    /// Boot a node for the app and serve its [[serve]] listeners until
    /// SIGTERM or SIGINT, which drain it: exit 0 once everything ended in
    /// order, 124 if the drain timed out, 130 if a second signal cut it.
    Serve {
        /// The app directory (holding rusm.toml and wasm/).
        #[arg(default_value = ".")]
        app: PathBuf,
    },
    /// Replay a scenario file with one seed and print its trace on stdout
    /// (and nothing else there: the build's output goes to stderr).
    Sim {
        /// The scenario file (see scenarios/README.md).
        scenario: PathBuf,
        /// The seed (default: the scenario's first).
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Check an app's scenarios: build what is stale, run each twice per
    /// seed and once more in a fresh process, and compare its first seed's
    /// trace with the app's snapshots/<scenario>.snap.
    Test {
        /// The app directory (holding scenarios/ and snapshots/).
        #[arg(default_value = ".")]
        app: PathBuf,
        /// Also sweep seeds 1..=N (no snapshot; the traces must replay).
        #[arg(long)]
        seeds: Option<u64>,
        /// Only this scenario (its file name without .toml).
        #[arg(long)]
        scenario: Option<String>,
        /// Write every new or changed trace as the snapshot, saying which.
        #[arg(long)]
        accept: bool,
    },
    /// Build the shared TypeScript runner and print its path (what
    /// `ci/install.sh` installs; `rusm build` does it for an app).
    #[command(hide = true)]
    BuildRunner {
        /// Cargo's target directory for the runner's build.
        #[arg(long)]
        target_dir: PathBuf,
    },
    /// Create a new app in DIR (refused if DIR exists and is not empty).
    New {
        /// Where the app goes.
        dir: PathBuf,
        /// The components' language.
        #[arg(long, value_enum, default_value_t = new::Lang::Rust)]
        lang: new::Lang,
        /// What the app starts as, with a scenario of its own behaviour.
        #[arg(long, value_enum, default_value_t = new::Template::Worker)]
        template: new::Template,
    },
}

fn main() -> ExitCode {
    return_large_buffers_to_the_os();
    let outcome = match Cli::parse().command {
        Command::Build { app, target_dir } => build(&app, target_dir.as_deref()),
        Command::Run { app, init } => run(&app, init),
        Command::Serve { app } => serve(&app),
        Command::Sim { scenario, seed } => sim::sim(&scenario, seed),
        Command::Test {
            app,
            seeds,
            scenario,
            accept,
        } => sim::test(&app, seeds, scenario.as_deref(), accept),
        Command::BuildRunner { target_dir } => rusm_build::build_runner(&target_dir)
            .map(|runner| {
                println!("{}", runner.display());
                ExitCode::SUCCESS
            })
            .map_err(|e| e.to_string()),
        Command::New {
            dir,
            lang,
            template,
        } => new::new(&dir, lang, template),
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
    let built = rusm_app::build(app, target_dir).map_err(|e| e.to_string())?;
    for built in built {
        let output = built.script.map_or(built.wasm, |script| script.path);
        eprintln!("rusm build {} -> {}", built.name, output.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the app until its entry process ends; the exit code says whether it
/// ended normally. SIGTERM or SIGINT drains the node first (the entry and
/// the residents get `shutdown`): see [`exit_code`].
fn run(app: &Path, init: Option<String>) -> Result<ExitCode, String> {
    let app = App::load(app).map_err(|e| e.to_string())?;
    let config = app.config();
    let entry = config.app.entry.clone().ok_or(
        "rusm run starts [app] entry, and this app names none (an app that only serves runs with rusm serve)",
    )?;
    let init = init.unwrap_or_else(|| config.app.init.clone()).into_bytes();
    rusm_rt::block_on(async move {
        let mut stops = catch_stops()?;
        let host = boot(&app)?;
        let running = host
            .start("rusm", &entry, init)
            .map_err(|e| e.to_string())?;
        let pid = running.pid;
        let ended = running.ended();
        let reason = rusm_rt::select! {
            reason = ended => reason.map_err(|e| e.to_string())?,
            () = stops.next() => {
                let timeout = drain_timeout(&app);
                let drained = rusm_app::drain(&host, None, Some(pid), timeout, stops.next()).await;
                return Ok(exit_code(drained));
            }
        };
        Ok(if reason.is_normal() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

/// Serves the app's listeners until SIGTERM or SIGINT, then drains the
/// node (see [`rusm_app::drain`] and [`exit_code`]).
fn serve(app: &Path) -> Result<ExitCode, String> {
    let app = App::load(app).map_err(|e| e.to_string())?;
    let no_listener = || {
        format!(
            "{} has no [[serve]] listener to serve",
            app.dir().join("rusm.toml").display()
        )
    };
    if app.config().serve.is_empty() {
        return Err(no_listener());
    }
    rusm_rt::block_on(async {
        let mut stops = catch_stops()?;
        let host = boot(&app)?;
        let server = app
            .serve(&host)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(no_listener)?;
        for bound in server.bound() {
            let scheme = match bound.kind {
                ListenerKind::Http => "http",
                ListenerKind::Ws => "ws",
            };
            eprintln!("rusm listening on {scheme}://{}", bound.address);
        }
        stops.next().await;
        let timeout = drain_timeout(&app);
        let drained = rusm_app::drain(&host, Some(server), None, timeout, stops.next()).await;
        Ok(exit_code(drained))
    })
}

/// Has glibc give a freed large buffer (a message, a body: 128 KiB or more)
/// straight back to the OS. By default it raises its mmap threshold to the
/// largest block freed, after which such buffers come from its heap and
/// stay there once freed: memory the node's budget had counted as given
/// back. Seen: the hostile app at a 384 MiB budget peaked at 815 MiB (531
/// with pool slots bounded, engine.rs), and at 428 MiB with this.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_buffers_to_the_os() {
    #[allow(unsafe_code)]
    // SAFETY: mallopt only sets a parameter of the allocator; this runs
    // first in main, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 << 10);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_buffers_to_the_os() {}

/// SIGTERM and SIGINT, caught from before the node boots: the first drains
/// it, a second (or the drain's timeout) ends everything at once.
fn catch_stops() -> Result<rusm_rt::signal::Stops, String> {
    rusm_rt::signal::Stops::catch().map_err(|e| format!("cannot catch SIGTERM and SIGINT: {e}"))
}

fn drain_timeout(app: &App) -> rusm_rt::time::Duration {
    rusm_rt::time::Duration::from_millis(app.config().runtime.drain_timeout_ms)
}

/// A drain's exit code: 0 when everything ended in order, 124 when the
/// drain timed out (as `timeout(1)` does), 130 when a second signal cut it
/// short (as a shell reports an interrupted command).
fn exit_code(drained: rusm_app::Drained) -> ExitCode {
    match drained {
        rusm_app::Drained::Clean => ExitCode::SUCCESS,
        rusm_app::Drained::TimedOut => {
            eprintln!("rusm: the drain timed out: everything still running was killed");
            ExitCode::from(124)
        }
        rusm_app::Drained::Cut => {
            eprintln!("rusm: a second signal: everything still running was killed");
            ExitCode::from(130)
        }
    }
}

/// Compiles the app's components, boots its node with the lifecycle log,
/// and starts its residents.
fn boot(app: &App) -> Result<Host, String> {
    show_lifecycle_log(app.config().log.level);
    let builder = app.host().observer(Arc::new(rusm_host::LifecycleLog));
    let host = app.boot(builder).map_err(|e| e.to_string())?;
    app.start_residents(&host).map_err(|e| e.to_string())?;
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
