//! Selective receive on top of the host's FIFO mailbox.
//!
//! A client waiting for its reply, or a service waiting for a callback's
//! answer, must not lose the other messages that arrive meanwhile: they are
//! set aside in a stash, in arrival order, and [`crate::receive`] hands them
//! out first. The host is told how many the stash holds: they count toward
//! `mailbox-len` as if still in the mailbox, as Erlang's skipped messages
//! do. Answers to calls this process has stopped waiting for (a call that
//! timed out) are recognised and dropped, so they never surface later.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use rusm_wire::envelope::Envelope;

use crate::{Message, Pid, Ref, host, message};

thread_local! {
    static STASH: RefCell<VecDeque<Message>> = const { RefCell::new(VecDeque::new()) };
    /// The ids of the calls this process is waiting on, innermost last (a
    /// callback run during a call may make calls of its own).
    static IN_FLIGHT: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
    /// Monitors whose `down` a library takes for itself (a
    /// [`crate::pubsub::Topics`] pruning a subscriber): the process's own
    /// code never receives them.
    static WATCHED: RefCell<BTreeMap<Ref, OnDown>> = const { RefCell::new(BTreeMap::new()) };
}

/// What a watcher does with the pid whose `down` it took.
type OnDown = Box<dyn FnOnce(Pid)>;

/// The next message: the oldest stashed one, else the host's.
pub(crate) fn receive() -> Message {
    loop {
        let message = unstash().unwrap_or_else(|| message(host::receive()));
        if !taken(&message) {
            return message;
        }
    }
}

/// Like [`receive`], giving up once `timeout_ms` pass.
pub(crate) fn receive_timeout(timeout_ms: u64) -> Option<Message> {
    let deadline = Instant::now().checked_add(Duration::from_millis(timeout_ms));
    loop {
        let message = match unstash() {
            Some(message) => message,
            None => message(host::receive_timeout(remaining_ms(deadline))?),
        };
        if !taken(&message) {
            return Some(message);
        }
    }
}

/// The first message `wanted` picks, searching the stash before waiting;
/// everything else received meanwhile is stashed. `None` at the deadline
/// (`None`: wait as long as it takes).
pub(crate) fn receive_matching(
    deadline: Option<Instant>,
    mut wanted: impl FnMut(&Message) -> bool,
) -> Option<Message> {
    let found = stash(|stash| {
        let at = stash.iter().position(&mut wanted)?;
        stash.remove(at)
    });
    if found.is_some() {
        return found;
    }
    loop {
        let message = match deadline {
            None => message(host::receive()),
            Some(_) => message(host::receive_timeout(remaining_ms(deadline))?),
        };
        if wanted(&message) {
            return Some(message);
        }
        if !taken(&message) {
            stash(|stash| stash.push_back(message));
        }
    }
}

/// Hands the `down` of `monitor` to `on_down` (with the pid that ended)
/// instead of to the process's code.
pub(crate) fn watch(monitor: Ref, on_down: impl FnOnce(Pid) + 'static) {
    WATCHED.with_borrow_mut(|watched| watched.insert(monitor, Box::new(on_down)));
}

/// Stops watching `monitor` (demonitor it too: a `down` that arrives
/// anyway goes to the process's code).
pub(crate) fn unwatch(monitor: Ref) {
    WATCHED.with_borrow_mut(|watched| watched.remove(&monitor));
}

/// Whether this library takes `message` for itself: a stale answer is
/// dropped, a watched `down` goes to its watcher.
fn taken(message: &Message) -> bool {
    if let Message::Down { monitor, pid, .. } = message {
        // Removed before it runs: the watcher may watch or unwatch others.
        let on_down = WATCHED.with_borrow_mut(|watched| watched.remove(monitor));
        return match on_down {
            Some(on_down) => {
                on_down(*pid);
                true
            }
            None => false,
        };
    }
    is_stale(message)
}

/// Forgets a stashed `down` of `monitor` (the host removes one still in the
/// mailbox): a demonitored monitor never reports.
pub(crate) fn flush_down(monitor: crate::Ref) {
    stash(|stash| {
        stash.retain(|m| !matches!(m, Message::Down { monitor: r, .. } if *r == monitor))
    });
}

/// Marks call `id` as awaited until the guard drops.
pub(crate) fn awaiting(id: u64) -> InFlight {
    IN_FLIGHT.with_borrow_mut(|ids| ids.push(id));
    InFlight(id)
}

pub(crate) struct InFlight(u64);

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.with_borrow_mut(|ids| ids.retain(|id| *id != self.0));
    }
}

fn unstash() -> Option<Message> {
    stash(VecDeque::pop_front)
}

/// Changes the stash with `change`, telling the host its new length if it
/// changed.
fn stash<R>(change: impl FnOnce(&mut VecDeque<Message>) -> R) -> R {
    let (result, was, is) = STASH.with_borrow_mut(|stash| {
        let was = stash.len();
        let result = change(stash);
        (result, was, stash.len())
    });
    if is != was {
        host::set_aside(u32::try_from(is).unwrap_or(u32::MAX));
    }
    result
}

fn remaining_ms(deadline: Option<Instant>) -> u64 {
    match deadline {
        // Rounded up: a wait that ends a fraction of a millisecond early
        // would wake to nothing and wait again.
        Some(deadline) => deadline
            .saturating_duration_since(Instant::now())
            .as_micros()
            .div_ceil(1000) as u64,
        None => u64::MAX,
    }
}

/// An answer to one of this process's calls that nobody awaits any more.
fn is_stale(message: &Message) -> bool {
    let Message::Data { bytes, .. } = message else {
        return false;
    };
    // Only this library's canonical envelopes are inspected: decoding every
    // message would cost every receiver.
    if !bytes.starts_with(br#"{"rusm":1,"kind":""#) {
        return false;
    }
    let id = match Envelope::decode(bytes) {
        Ok(
            Envelope::Reply { id, .. }
            | Envelope::Item { id, .. }
            | Envelope::End { id }
            | Envelope::Callback { id, .. }
            | Envelope::Error { id, seq: None, .. },
        ) => id,
        _ => return false,
    };
    crate::service::issued(id) && !IN_FLIGHT.with_borrow(|ids| ids.contains(&id))
}
