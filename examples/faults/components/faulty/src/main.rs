//! faulty: misbehaves in the way its init payload names, so tests and
//! scenarios can show that a bad guest ends only itself, with the right
//! exit reason.

use std::hint::black_box;

use rusm_rs::{Message, Pid, receive, self_pid, send, send_bytes};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Behaviour {
    /// Returns at once.
    Normal,
    /// Executes `unreachable`.
    Trap,
    /// Panics with "boom".
    Panic,
    /// Loops forever without yielding.
    Spin,
    /// Loops forever, sending a tick to `to` every `every` iterations until
    /// `count` ticks are sent (then it keeps spinning, silently).
    Ticker { to: Pid, every: u64, count: u64 },
    /// Allocates until memory runs out.
    Oom,
    /// Recurses without end.
    StackOverflow,
    /// Sends a message of `bytes` bytes to itself.
    BigSend { bytes: usize },
    /// Sends to a pid that was never issued.
    BadPid,
    /// Echoes one message, then traps mid-conversation.
    EchoThenTrap,
    /// Sleeps `ms` with the standard library (a WASI clock timer, not a
    /// receive), then tells `to` the milliseconds its clock saw pass.
    Sleep { to: Pid, ms: u64 },
}

#[rusm_rs::main]
fn main(behaviour: Behaviour) {
    match behaviour {
        Behaviour::Normal => {}
        Behaviour::Trap => core::arch::wasm32::unreachable(),
        Behaviour::Panic => panic!("boom"),
        Behaviour::Spin => loop {
            black_box(());
        },
        Behaviour::Ticker { to, every, count } => {
            for tick in 0u64.. {
                for i in 0..every {
                    black_box(i);
                }
                if tick < count {
                    send(to, &tick);
                }
            }
        }
        Behaviour::Oom => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(black_box(vec![1u8; 1 << 20]));
            }
        }
        Behaviour::StackOverflow => {
            black_box(recurse(black_box(1)));
        }
        Behaviour::BigSend { bytes } => send_bytes(self_pid(), &vec![0u8; bytes]),
        Behaviour::BadPid => send_bytes(Pid::from_raw(u64::MAX), b"hello?"),
        Behaviour::Sleep { to, ms } => {
            let start = std::time::Instant::now();
            std::thread::sleep(std::time::Duration::from_millis(ms));
            send(to, &(start.elapsed().as_millis() as u64));
        }
        Behaviour::EchoThenTrap => {
            if let Message::Data { from, bytes } = receive() {
                send_bytes(from, &bytes);
            }
            core::arch::wasm32::unreachable()
        }
    }
}

// Unbounded on purpose: this is the stack overflow. Small frames, so it is
// wasm's own call stack that overflows (a large local would live on the
// guest's shadow stack in linear memory and end as an out-of-bounds access).
#[allow(unconditional_recursion)]
fn recurse(n: u64) -> u64 {
    recurse(black_box(n + 1)) + 1
}
