//! Pub/sub fan-out: the broker mechanics as one value a service holds.
//!
//! [`Topics`] tracks which processes subscribe to which topic, sends a
//! published message to every subscriber of its topic, and monitors each
//! subscriber: when one ends (an SSE request whose client left, say), its
//! `down` is taken by the `Topics` before the service's code would see it,
//! and the subscriber is removed from every topic. The service carries no
//! pruning code of its own.
//!
//! ```ignore
//! #[derive(Default)]
//! pub struct Rooms { topics: Topics }
//!
//! #[rusm_rs::service]
//! impl Rooms {
//!     pub fn subscribe(&mut self, room: String) {
//!         self.topics.subscribe(&room, rusm_rs::service::caller());
//!     }
//!     pub fn post(&mut self, room: String, text: String) -> usize {
//!         self.topics.publish(&room, &text) // how many subscribers it reached
//!     }
//! }
//! ```
//!
//! Pruning happens as the service receives (its `serve` loop, or any
//! wait), in message order: a subscriber that ended is gone from the
//! topics before anything sent after its end is handled.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::{Rc, Weak};

use serde::Serialize;

use crate::{Pid, Ref, mailbox};

/// Subscribers by topic, each monitored until it ends or unsubscribes
/// from its last topic.
#[derive(Default)]
pub struct Topics {
    /// Shared with the monitors' `down` handlers, which hold it weakly.
    state: Rc<RefCell<Subscriptions>>,
}

#[derive(Default)]
struct Subscriptions {
    by_topic: BTreeMap<String, BTreeSet<Pid>>,
    by_subscriber: BTreeMap<Pid, Subscriber>,
}

struct Subscriber {
    monitor: Ref,
    topics: BTreeSet<String>,
}

impl Topics {
    /// No topics, no subscribers.
    pub fn new() -> Topics {
        Topics::default()
    }

    /// Subscribes `subscriber` to `topic`; false if it already was. Its
    /// first subscription monitors it (one monitor per subscriber, however
    /// many topics); one that has already ended is pruned at once.
    pub fn subscribe(&mut self, topic: &str, subscriber: Pid) -> bool {
        let mut state = self.state.borrow_mut();
        let entry = state.by_subscriber.entry(subscriber).or_insert_with(|| {
            let monitor = crate::monitor(subscriber);
            let state = Rc::downgrade(&self.state);
            mailbox::watch(monitor, move |pid| prune(&state, pid));
            Subscriber {
                monitor,
                topics: BTreeSet::new(),
            }
        });
        if !entry.topics.insert(topic.to_string()) {
            return false;
        }
        state
            .by_topic
            .entry(topic.to_string())
            .or_default()
            .insert(subscriber);
        true
    }

    /// Removes `subscriber` from `topic`; false if it was not subscribed.
    /// Leaving its last topic ends its monitor.
    pub fn unsubscribe(&mut self, topic: &str, subscriber: Pid) -> bool {
        let mut state = self.state.borrow_mut();
        let Some(entry) = state.by_subscriber.get_mut(&subscriber) else {
            return false;
        };
        if !entry.topics.remove(topic) {
            return false;
        }
        let last = entry.topics.is_empty();
        state.leave(topic, subscriber);
        if last && let Some(entry) = state.by_subscriber.remove(&subscriber) {
            mailbox::unwatch(entry.monitor);
            crate::demonitor(entry.monitor);
        }
        true
    }

    /// Sends `message` (as JSON) to every subscriber of `topic`, in pid
    /// order; how many it was sent to.
    pub fn publish<T: Serialize + ?Sized>(&self, topic: &str, message: &T) -> usize {
        self.publish_bytes(topic, &crate::encode(message))
    }

    /// Sends raw `bytes` to every subscriber of `topic`; how many.
    pub fn publish_bytes(&self, topic: &str, bytes: &[u8]) -> usize {
        let state = self.state.borrow();
        let subscribers = state.by_topic.get(topic);
        for &subscriber in subscribers.into_iter().flatten() {
            crate::send_bytes(subscriber, bytes);
        }
        subscribers.map_or(0, BTreeSet::len)
    }

    /// The subscribers of `topic`, in pid order.
    pub fn subscribers(&self, topic: &str) -> Vec<Pid> {
        let state = self.state.borrow();
        state
            .by_topic
            .get(topic)
            .map_or_else(Vec::new, |s| s.iter().copied().collect())
    }

    /// The topics with at least one subscriber, in order.
    pub fn topics(&self) -> Vec<String> {
        self.state.borrow().by_topic.keys().cloned().collect()
    }
}

impl Drop for Topics {
    /// Nothing is left watched or monitored for a `Topics` that is gone.
    fn drop(&mut self) {
        let state = std::mem::take(&mut *self.state.borrow_mut());
        for subscriber in state.by_subscriber.into_values() {
            mailbox::unwatch(subscriber.monitor);
            crate::demonitor(subscriber.monitor);
        }
    }
}

impl Subscriptions {
    /// Takes `subscriber` out of `topic`'s set, dropping an emptied topic.
    fn leave(&mut self, topic: &str, subscriber: Pid) {
        if let Some(subscribers) = self.by_topic.get_mut(topic) {
            subscribers.remove(&subscriber);
            if subscribers.is_empty() {
                self.by_topic.remove(topic);
            }
        }
    }
}

/// A subscriber ended: it leaves every topic (its monitor is spent).
fn prune(state: &Weak<RefCell<Subscriptions>>, pid: Pid) {
    let Some(state) = state.upgrade() else {
        return;
    };
    let mut state = state.borrow_mut();
    if let Some(subscriber) = state.by_subscriber.remove(&pid) {
        for topic in &subscriber.topics {
            state.leave(topic, pid);
        }
    }
}
