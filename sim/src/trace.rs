//! The trace: one line per observable event, stamped with the time since
//! the scenario started.

use std::fmt;
use std::sync::Mutex;

use rusm_core::{Event, Observer};
use rusm_rt::time::Instant;

/// Records the node's events and the scenario's own steps, in order.
#[derive(Default)]
pub(crate) struct Recorder {
    inner: Mutex<Lines>,
}

#[derive(Default)]
struct Lines {
    start: Option<Instant>,
    lines: Vec<String>,
}

impl Recorder {
    /// Starts the clock: times in the trace count from here.
    pub(crate) fn start(&self) {
        self.lock().start = Some(rusm_rt::time::now());
    }

    /// Adds a line that is not a node event (a step, a failed expectation).
    pub(crate) fn note(&self, line: impl fmt::Display) {
        self.push(line);
    }

    pub(crate) fn finish(&self) -> Trace {
        Trace(std::mem::take(&mut self.lock().lines))
    }

    fn push(&self, line: impl fmt::Display) {
        let mut inner = self.lock();
        let elapsed = inner
            .start
            .map(|s| rusm_rt::time::now().saturating_duration_since(s))
            .unwrap_or_default();
        let micros = elapsed.as_micros();
        let stamped = format!("{:>7}.{:03}ms  {line}", micros / 1000, micros % 1000);
        inner.lines.push(stamped);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lines> {
        self.inner
            .lock()
            .expect("the trace lock is never held across a panic")
    }
}

impl Observer for Recorder {
    fn event(&self, event: Event<'_>) {
        self.push(event);
    }
}

/// A finished trace: its lines, each `<time>ms  <what happened>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace(Vec<String>);

impl Trace {
    /// The lines, in order.
    pub fn lines(&self) -> &[String] {
        &self.0
    }

    /// The lines without their timestamps (to compare with a run on real
    /// time, where only the order is reproducible).
    pub fn untimed(&self) -> Vec<&str> {
        self.0
            .iter()
            .map(|l| l.split_once("ms  ").map_or(l.as_str(), |(_, rest)| rest))
            .collect()
    }

    /// The first line where `self` and `other` differ: its number (from 1)
    /// and both versions (`None` past the end of a trace).
    pub fn first_difference<'a>(
        &'a self,
        other: &'a Trace,
    ) -> Option<(usize, Option<&'a str>, Option<&'a str>)> {
        let longest = self.0.len().max(other.0.len());
        (0..longest).find_map(|i| {
            let (a, b) = (
                self.0.get(i).map(String::as_str),
                other.0.get(i).map(String::as_str),
            );
            (a != b).then_some((i + 1, a, b))
        })
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.0 {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}
