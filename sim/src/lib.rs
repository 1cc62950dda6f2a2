//! The simulation harness: a scenario file drives the real node — the real
//! wasmtime host running the real guest components of an app, booted as
//! `rusm serve` boots it — and every observable event becomes one line of a
//! trace. An app carries its scenarios in `scenarios/` and their pinned
//! traces in `snapshots/` ([`snapshot`]); `rusm test` checks them all.
//!
//! Built with `RUSTFLAGS="--cfg madsim"`, the node runs inside madsim: time
//! is simulated and every choice follows from the seed, so a scenario replays
//! byte for byte. Built normally, the same scenario runs on tokio (the
//! "twin"), which keeps the production path and the simulated path one code.
//!
//! ```no_run
//! let scenario = rusm_sim::Scenario::load("scenarios/heartbeat.toml".as_ref()).unwrap();
//! let trace = rusm_sim::run(&scenario, scenario.seeds[0]).unwrap();
//! print!("{trace}");
//! ```

#[cfg(madsim)]
pub mod check;
mod client;
mod run;
mod scenario;
pub mod snapshot;
mod trace;
pub mod upstream;

#[cfg(madsim)]
pub use run::check_determinism;
pub use run::{RunError, run};
pub use scenario::{Action, At, Scenario, ScenarioError, Step};
pub use trace::Trace;
