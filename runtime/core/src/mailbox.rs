//! A process's mailbox: its messages in arrival order, and the bytes they
//! hold, which [`Limits::mailbox_bytes`](crate::Limits::mailbox_bytes)
//! bounds as [`Limits::mailbox_len`](crate::Limits::mailbox_len) bounds
//! their number.

use std::collections::VecDeque;

use crate::{ExitReason, Message};

#[derive(Default)]
pub(crate) struct Mailbox {
    messages: VecDeque<Message>,
    /// The sum of [`size`] over `messages`.
    bytes: usize,
}

impl Mailbox {
    pub(crate) fn len(&self) -> usize {
        self.messages.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// What its messages hold of the node's memory budget: their bytes,
    /// and each message's own fields beside them.
    pub(crate) fn held(&self) -> usize {
        self.bytes + self.messages.len() * MESSAGE_OVERHEAD_BYTES
    }

    pub(crate) fn push(&mut self, message: Message) {
        self.bytes += size(&message);
        self.messages.push_back(message);
    }

    pub(crate) fn pop(&mut self) -> Option<Message> {
        let message = self.messages.pop_front()?;
        self.bytes -= size(&message);
        Some(message)
    }

    /// Keeps only the messages `keep` says yes to, in order.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Message) -> bool) {
        let bytes = &mut self.bytes;
        self.messages.retain(|message| {
            let kept = keep(message);
            if !kept {
                *bytes -= size(message);
            }
            kept
        });
    }
}

/// What a message in a mailbox holds of the node's memory beyond its bytes
/// (its fields, its place in the queue, its allocation's header): counted
/// against the memory budget, so that a flood of empty messages is not
/// free. Not against `mailbox-bytes`, which bounds what guests send.
pub(crate) const MESSAGE_OVERHEAD_BYTES: usize = 64;

/// What a message holds of the memory budget: [`size`] and its overhead.
pub(crate) fn held(message: &Message) -> usize {
    size(message) + MESSAGE_OVERHEAD_BYTES
}

/// What a message holds in a mailbox, as the byte limit counts it: a data
/// message's bytes, a down's or an exit signal's reason text. (Their fixed
/// fields are bounded by the length limit.)
pub(crate) fn size(message: &Message) -> usize {
    match message {
        Message::Data { bytes, .. } => bytes.len(),
        Message::Down { reason, .. } | Message::Exit { reason, .. } => match reason {
            ExitReason::Trap(text) | ExitReason::Custom(text) => text.len(),
            _ => 0,
        },
    }
}
