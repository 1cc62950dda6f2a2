//! The actor core: Erlang's process model with no WebAssembly in sight.
//!
//! A [`Node`] owns the process table. Each process is a future spawned through
//! the `rt` seam and holds a [`Process`] handle: its mailbox, links, monitors,
//! registered name and exit-trapping flag. The wasm host (`rusm-host`) runs a
//! component instance inside such a future; this crate neither knows nor
//! cares, which is why it builds and is tested without wasmtime.
//!
//! ```
//! use rusm_core::{ExitReason, Limits, Message, Node};
//!
//! rusm_rt::block_on(async {
//!     let node = Node::new(Limits::default());
//!     let echo = node
//!         .spawn("echo", |me| async move {
//!             if let Message::Data { from, bytes } = me.receive().await {
//!                 me.send(from, bytes).unwrap();
//!             }
//!             ExitReason::Normal
//!         })
//!         .unwrap();
//!     // A handle for code outside any process (a test, the CLI): it has a
//!     // pid and a mailbox like any process. (`node.join(pid)` waits for an
//!     // exit too, but only of a process still alive when it is called.)
//!     let me = node.attach("main").unwrap();
//!     me.send(echo, b"hi".to_vec()).unwrap();
//!     match me.receive().await {
//!         Message::Data { from, bytes } => assert_eq!((from, bytes), (echo, b"hi".to_vec())),
//!         other => panic!("unexpected {other:?}"),
//!     }
//! });
//! ```

mod event;
mod mailbox;
mod node;

pub use event::{Drain, Event, Observer, Stdio};
pub use node::{Held, Limits, Node, OpError, Pressure, Process};
pub use rusm_wire::{ExitReason, Message, Pid, Ref};

#[cfg(test)]
mod tests;
