//! Write rusm processes in Rust.
//!
//! A component is a binary crate compiled for `wasm32-wasip2` (`rusm build`
//! does it). Its `main`, marked `#[rusm_rs::main]`, is the body of one
//! process; it talks to other processes only by messages:
//!
//! ```ignore
//! use rusm_rs::{Message, receive, send};
//!
//! #[rusm_rs::main]
//! fn main() {
//!     loop {
//!         if let Message::Data { from, bytes } = receive() {
//!             rusm_rs::send_bytes(from, &bytes); // echo
//!         }
//!     }
//! }
//! ```
//!
//! Blocking calls (`receive`, `receive_timeout`) suspend only this process;
//! guests never write `async`. Typed messages are JSON ([`send`],
//! [`Message::decode`]), so Rust and TypeScript processes understand each
//! other.

use std::fmt;

use serde::Serialize;

pub use rusm_rs_macros::{handlers, main, service};
pub use rusm_wire::{ExitReason, Message, Pid, Ref, WireError};

mod bindings {
    wit_bindgen::generate!({
        world: "guest",
        path: "../../runtime/host/wit",
    });
}

use bindings::rusm::runtime::process as host;

pub mod fetch;
pub mod http;
pub mod kv;
mod mailbox;
pub mod pubsub;
pub mod service;
pub mod ws;

/// An operation the node refused, with its explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// This process's pid.
pub fn self_pid() -> Pid {
    Pid::from_raw(host::self_pid())
}

/// The raw init payload this process was spawned with.
pub fn init() -> Vec<u8> {
    host::init()
}

/// Spawns a process running `component` (a component of this app) with a
/// raw init payload. Needs the `spawn` capability.
pub fn spawn(component: &str, init: &[u8]) -> Result<Pid, Error> {
    host::spawn(component, init)
        .map(Pid::from_raw)
        .map_err(Error)
}

/// Spawns a process whose `main` takes `init`, encoded as JSON.
pub fn spawn_with<T: Serialize + ?Sized>(component: &str, init: &T) -> Result<Pid, Error> {
    spawn(component, &encode(init))
}

/// Sends `message` to `to` as JSON. Never blocks and never fails for a
/// process that has exited (the message is dropped, as in Erlang).
pub fn send<T: Serialize + ?Sized>(to: Pid, message: &T) {
    send_bytes(to, &encode(message))
}

/// Sends raw bytes to `to`.
pub fn send_bytes(to: Pid, bytes: &[u8]) {
    host::send(to.as_raw(), bytes)
}

/// The oldest message in the mailbox; waits (suspending only this process)
/// until there is one.
pub fn receive() -> Message {
    mailbox::receive()
}

/// The oldest message, or `None` once `timeout_ms` pass with an empty mailbox
/// (Erlang's `receive ... after`).
pub fn receive_timeout(timeout_ms: u64) -> Option<Message> {
    mailbox::receive_timeout(timeout_ms)
}

/// Links with `other`: an abnormal exit of either ends the other, unless it
/// traps exits.
pub fn link(other: Pid) {
    host::link(other.as_raw())
}

/// Removes the link with `other`.
pub fn unlink(other: Pid) {
    host::unlink(other.as_raw())
}

/// Monitors `target`: a [`Message::Down`] arrives when it ends.
pub fn monitor(target: Pid) -> Ref {
    Ref::from_raw(host::monitor(target.as_raw()))
}

/// Cancels a monitor. A `down` it already delivered is removed too, so none
/// ever arrives after this.
pub fn demonitor(monitor: Ref) {
    host::demonitor(monitor.as_raw());
    mailbox::flush_down(monitor);
}

/// Sets whether exit signals arrive as [`Message::Exit`]; returns the old
/// setting.
pub fn trap_exit(on: bool) -> bool {
    host::trap_exit(on)
}

/// Registers `pid` as `name`. Needs the `register` capability.
pub fn register(name: &str, pid: Pid) -> Result<(), Error> {
    host::register(name, pid.as_raw()).map_err(Error)
}

/// Removes the registration of `name`. Needs the `register` capability.
pub fn unregister(name: &str) -> Result<(), Error> {
    host::unregister(name).map_err(Error)
}

/// The pid registered as `name`.
pub fn whereis(name: &str) -> Option<Pid> {
    host::whereis(name).map(Pid::from_raw)
}

/// Sends an exit signal with `reason` to `to` (which may be this process).
pub fn exit(to: Pid, reason: ExitReason) {
    host::exit(to.as_raw(), &wit_exit_reason(reason))
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // A Serialize impl that fails is a bug in the guest: let it crash.
    rusm_wire::encode(value).unwrap_or_else(|e| panic!("cannot encode message: {e}"))
}

fn message(message: host::Message) -> Message {
    match message {
        host::Message::Data(d) => Message::Data {
            from: Pid::from_raw(d.from),
            bytes: d.bytes,
        },
        host::Message::Down(d) => Message::Down {
            monitor: Ref::from_raw(d.monitor),
            pid: Pid::from_raw(d.pid),
            reason: exit_reason(d.reason),
        },
        host::Message::Exit(e) => Message::Exit {
            from: Pid::from_raw(e.from),
            reason: exit_reason(e.reason),
        },
    }
}

fn exit_reason(reason: host::ExitReason) -> ExitReason {
    match reason {
        host::ExitReason::Normal => ExitReason::Normal,
        host::ExitReason::Killed => ExitReason::Killed,
        host::ExitReason::Trap(m) => ExitReason::Trap(m),
        host::ExitReason::OutOfFuel => ExitReason::OutOfFuel,
        host::ExitReason::OutOfMemory => ExitReason::OutOfMemory,
        host::ExitReason::Disconnect => ExitReason::Disconnect,
        host::ExitReason::Noproc => ExitReason::Noproc,
        host::ExitReason::MailboxOverflow => ExitReason::MailboxOverflow,
        host::ExitReason::MemoryBudget => ExitReason::MemoryBudget,
        host::ExitReason::Timeout => ExitReason::Timeout,
        host::ExitReason::Shutdown => ExitReason::Shutdown,
        host::ExitReason::Custom(m) => ExitReason::Custom(m),
    }
}

fn wit_exit_reason(reason: ExitReason) -> host::ExitReason {
    match reason {
        ExitReason::Normal => host::ExitReason::Normal,
        ExitReason::Killed => host::ExitReason::Killed,
        ExitReason::Trap(m) => host::ExitReason::Trap(m),
        ExitReason::OutOfFuel => host::ExitReason::OutOfFuel,
        ExitReason::OutOfMemory => host::ExitReason::OutOfMemory,
        ExitReason::Disconnect => host::ExitReason::Disconnect,
        ExitReason::Noproc => host::ExitReason::Noproc,
        ExitReason::MailboxOverflow => host::ExitReason::MailboxOverflow,
        ExitReason::MemoryBudget => host::ExitReason::MemoryBudget,
        ExitReason::Timeout => host::ExitReason::Timeout,
        ExitReason::Shutdown => host::ExitReason::Shutdown,
        ExitReason::Custom(m) => host::ExitReason::Custom(m),
    }
}

#[doc(hidden)]
pub mod __private {
    /// Run first by `#[rusm_rs::main]`: a panic ends the process with reason
    /// `trap(<panic message>)`.
    pub fn start() {
        std::panic::set_hook(Box::new(|info| {
            let what = info.payload_as_str().unwrap_or("a non-text payload");
            let message = match info.location() {
                Some(at) => format!("panicked at {}:{}: {what}", at.file(), at.line()),
                None => format!("panicked: {what}"),
            };
            super::host::fail(&message)
        }));
    }

    /// The init payload decoded into `main`'s argument type.
    pub fn decode_init<T: serde::de::DeserializeOwned>() -> T {
        let init = super::init();
        rusm_wire::decode(&init).unwrap_or_else(|e| {
            panic!(
                "init payload {:?} does not decode as {}: {e}",
                String::from_utf8_lossy(&init),
                std::any::type_name::<T>()
            )
        })
    }
}
