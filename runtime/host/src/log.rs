//! The node's lifecycle log: spawns, exits, restarts and the rest of the
//! node's events as `tracing` events with target `rusm`, at a level that
//! says how much they matter (the binary's subscriber applies `[log]
//! level`). A guest's own output is not the lifecycle log: it goes to the
//! node's stdout and stderr as written.

use std::io::Write;

use rusm_core::{Drain, Event, ExitReason, Observer, Pressure, Stdio};

/// Reports a node's events to `tracing` and its guests' output to the
/// node's stdout and stderr.
pub struct LifecycleLog;

impl LifecycleLog {
    /// The `tracing` target of every lifecycle event.
    pub const TARGET: &str = "rusm";
}

const TARGET: &str = LifecycleLog::TARGET;

impl Observer for LifecycleLog {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Output { stream, bytes, .. } => {
                // Nowhere to report a closed terminal to; the guest goes on.
                let _ = match stream {
                    Stdio::Stdout => std::io::stdout().lock().write_all(bytes),
                    Stdio::Stderr => std::io::stderr().lock().write_all(bytes),
                };
            }
            Event::GaveUp { .. } => tracing::error!(target: TARGET, "{event}"),
            // A client leaving is routine for a serving process, and so is
            // a drain's `shutdown`.
            Event::Exited { reason, .. }
                if !matches!(
                    reason,
                    ExitReason::Normal | ExitReason::Disconnect | ExitReason::Shutdown
                ) =>
            {
                tracing::warn!(target: TARGET, "{event}")
            }
            Event::Drain(Drain::Forced { .. }) => tracing::warn!(target: TARGET, "{event}"),
            Event::Restarted { .. } => tracing::warn!(target: TARGET, "{event}"),
            Event::MemoryBudget { pressure, .. } if pressure != Pressure::Normal => {
                tracing::warn!(target: TARGET, "{event}")
            }
            Event::Spawned { .. }
            | Event::Exited { .. }
            | Event::MemoryBudget { .. }
            | Event::Drain(_) => {
                tracing::info!(target: TARGET, "{event}")
            }
            _ => tracing::debug!(target: TARGET, "{event}"),
        }
    }
}
