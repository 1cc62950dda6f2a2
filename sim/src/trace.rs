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

#[cfg(all(test, madsim))]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;

    use rusm_core::{Limits, Node};

    use super::*;

    /// One simulated world with `seed`: processes registered in the order a
    /// std `HashSet` iterates their pids, which is exactly the kind of
    /// ordering that must never reach a trace.
    fn register_in_hash_order(seed: u64) -> Trace {
        let recorder = Arc::new(Recorder::default());
        let node = Node::with_observer(Limits::default(), recorder.clone());
        rusm_rt::block_on_seeded(seed, async {
            recorder.start();
            let processes: Vec<_> = (0..16).map(|_| node.attach("p").unwrap()).collect();
            let pids: HashSet<_> = processes.iter().map(|p| p.pid()).collect();
            for (n, pid) in pids.into_iter().enumerate() {
                processes[0].register(&format!("p{n}"), pid).unwrap();
            }
        });
        recorder.finish()
    }

    /// The determinism check the scenario suite applies (two runs of one
    /// seed, compared line by line) catches a deliberately introduced
    /// nondeterminism: a HashSet's iteration order leaking into the trace.
    #[test]
    fn the_replay_check_catches_hash_order_in_the_trace() {
        let once = register_in_hash_order(7);
        let again = register_in_hash_order(7);
        let (line, a, b) = once
            .first_difference(&again)
            .expect("hash order differs between two runs of the same seed");
        assert!(line > 16, "the spawns agree; the registrations do not");
        assert!(a.unwrap().contains("register"), "{a:?}");
        assert!(b.unwrap().contains("register"), "{b:?}");
    }
}
