//! What the node reports as it changes: the lifecycle log and, under
//! simulation, the scenario trace are both built from these events.

use std::fmt;

use crate::node::Pressure;
use crate::{ExitReason, Message, Pid, Ref};

/// One observable change of the node, reported in the order it happened.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A process was created for `label` (its component name).
    Spawned { pid: Pid, label: &'a str },
    /// A process ended; it is already gone from the table.
    Exited {
        pid: Pid,
        label: &'a str,
        reason: &'a ExitReason,
    },
    /// A message, `down` or trapped exit entered `to`'s mailbox.
    Delivered { to: Pid, message: &'a Message },
    /// `receive_timeout` reached its deadline with an empty mailbox.
    TimedOut { pid: Pid },
    /// Two processes were linked.
    Linked { a: Pid, b: Pid },
    /// `watcher` started monitoring `target`.
    Monitored {
        watcher: Pid,
        target: Pid,
        monitor: Ref,
    },
    /// `name` now resolves to `pid`.
    Registered { name: &'a str, pid: Pid },
    /// `name` no longer resolves (unregistered, or its process ended).
    Unregistered { name: &'a str, pid: Pid },
    /// A supervisor restarted a resident component that ended abnormally:
    /// `old` ended, `new` replaces it; `restarts` so far within `window_ms`.
    Restarted {
        label: &'a str,
        old: Pid,
        new: Pid,
        restarts: u32,
        window_ms: u64,
    },
    /// A supervisor stopped restarting `label`: it ended abnormally more
    /// than `restarts` times within `window_ms` (Erlang's restart intensity).
    GaveUp {
        label: &'a str,
        pid: Pid,
        restarts: u32,
        window_ms: u64,
    },
    /// What the processes hold of the node's memory budget crossed 80%
    /// (`High`), did not fit a request (`Full`), or fell back under 70%
    /// (`Normal`).
    MemoryBudget {
        pressure: Pressure,
        held: usize,
        budget: usize,
    },
    /// A step of the node's drain (on SIGTERM or SIGINT, or a scenario's
    /// `drain-node`).
    Drain(Drain),
    /// A process wrote to its standard output or error. Only processes
    /// allowed to (the host's `allow-stdio`) are reported; the rest is
    /// discarded before it reaches the node.
    Output {
        pid: Pid,
        stream: Stdio,
        bytes: &'a [u8],
    },
}

/// The steps of a drain, in order; `Forced` may cut in at any point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// The listeners stopped accepting; what is open has `timeout_ms` to
    /// finish.
    Began { timeout_ms: u64 },
    /// Every connection has closed: requests answered, SSE streams ended,
    /// WebSockets closed with 1001.
    ConnectionsClosed,
    /// The residents have ended, after a `shutdown` exit signal they may
    /// trap to save their state.
    ResidentsStopped,
    /// The node stopped: the `left` processes still running were killed and
    /// the kv store closed.
    Done { left: usize },
    /// The drain was cut short (`why`: it timed out, or a second signal
    /// came): the `left` processes still running were killed at once.
    Forced { why: &'static str, left: usize },
}

/// Which standard stream a process wrote to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stdio {
    Stdout,
    Stderr,
}

impl fmt::Display for Stdio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stdio::Stdout => "stdout",
            Stdio::Stderr => "stderr",
        })
    }
}

/// The one text form of an event, shared by the lifecycle log and traces:
/// processes read as `label#pid`, everything else as plain words.
impl fmt::Display for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Spawned { pid, label } => write!(f, "spawn {label}#{pid}"),
            Event::Exited { pid, label, reason } => write!(f, "exit {label}#{pid} {reason}"),
            Event::Delivered { to, message } => match message {
                Message::Data { from, bytes } => {
                    write!(f, "deliver {to} data from {from} ({} bytes)", bytes.len())
                }
                Message::Down {
                    monitor,
                    pid,
                    reason,
                } => {
                    write!(f, "deliver {to} down {monitor} of {pid}: {reason}")
                }
                Message::Exit { from, reason } => {
                    write!(f, "deliver {to} exit from {from}: {reason}")
                }
            },
            Event::TimedOut { pid } => write!(f, "timeout {pid}"),
            Event::Linked { a, b } => write!(f, "link {a} {b}"),
            Event::Monitored {
                watcher,
                target,
                monitor,
            } => write!(f, "monitor {watcher} on {target} {monitor}"),
            Event::Registered { name, pid } => write!(f, "register {name:?} {pid}"),
            Event::Unregistered { name, pid } => write!(f, "unregister {name:?} {pid}"),
            Event::Restarted {
                label,
                old,
                new,
                restarts,
                window_ms,
            } => write!(
                f,
                "restart {label}#{old} as {label}#{new} ({restarts} in {window_ms} ms)"
            ),
            Event::GaveUp {
                label,
                pid,
                restarts,
                window_ms,
            } => write!(
                f,
                "give up on {label}#{pid} (more than {restarts} restarts in {window_ms} ms)"
            ),
            Event::MemoryBudget {
                pressure,
                held,
                budget,
            } => {
                let state = match pressure {
                    Pressure::Normal => "back under 70%",
                    Pressure::High => "over 80%",
                    Pressure::Full => "full",
                };
                write!(f, "memory budget {state}: {held} of {budget} bytes held")
            }
            Event::Drain(step) => match step {
                Drain::Began { timeout_ms } => write!(
                    f,
                    "drain: stopped accepting; {timeout_ms} ms for what is open to finish"
                ),
                Drain::ConnectionsClosed => f.write_str("drain: every connection closed"),
                Drain::ResidentsStopped => f.write_str("drain: residents stopped"),
                Drain::Done { left } => {
                    write!(f, "drain: done; {left} other processes killed, kv closed")
                }
                Drain::Forced { why, left } => {
                    write!(
                        f,
                        "drain: {why}; {left} processes killed at once, kv closed"
                    )
                }
            },
            Event::Output { pid, stream, bytes } => {
                // One line whatever was written: the final newline is
                // implied, any other control character is escaped.
                write!(f, "{stream} {pid}: ")?;
                let text = String::from_utf8_lossy(bytes);
                for c in text.strip_suffix('\n').unwrap_or(&text).chars() {
                    if c.is_control() {
                        write!(f, "{}", c.escape_default())?;
                    } else {
                        write!(f, "{c}")?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// Receives every [`Event`] while the node's table lock is held, so the order
/// observed is exactly the order of the changes. An observer must therefore
/// be quick and must never call back into the node.
pub trait Observer: Send + Sync + 'static {
    /// Called once per event.
    fn event(&self, event: Event<'_>);
}

/// An observer that ignores everything.
pub(crate) struct Silent;

impl Observer for Silent {
    fn event(&self, _: Event<'_>) {}
}
