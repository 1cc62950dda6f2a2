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
    /// Tells `to` what it finds in memory before scribbling over it: a
    /// static with an initial value (the image's data), a zeroed static
    /// and a page it grows. A fresh instance finds the image and zeros,
    /// whichever process used its pool slot before.
    Residue { to: Pid },
    /// Tells `to` it is up, then waits in `receive` until it is killed: an
    /// idle process, for measuring what one holds.
    Idle { to: Pid },
    /// Traps exit signals and ignores them, waiting in `receive` forever:
    /// only a kill ends it (a drain's `shutdown` does not). Says on stderr
    /// when it traps (with `allow-stdio`), so a test knows a signal sent
    /// after that finds it trapping.
    Stubborn,
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
        Behaviour::Residue { to } => send(to, &residue()),
        Behaviour::Idle { to } => {
            send(to, &"up");
            loop {
                receive();
            }
        }
        Behaviour::Stubborn => {
            rusm_rs::trap_exit(true);
            eprintln!("faulty: exits trapped");
            loop {
                receive();
            }
        }
        Behaviour::EchoThenTrap => {
            if let Message::Data { from, bytes } = receive() {
                send_bytes(from, &bytes);
            }
            core::arch::wasm32::unreachable()
        }
    }
}

/// What [`Behaviour::Residue`] reports: `[data, bss, grown]`, each the
/// count of bytes that differ from a fresh instance's.
fn residue() -> [usize; 3] {
    use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
    const SEED: u8 = 0x5e;
    static DATA: [AtomicU8; 4096] = [const { AtomicU8::new(SEED) }; 4096];
    static BSS: [AtomicU8; 4096] = [const { AtomicU8::new(0) }; 4096];
    let mut seen = [0; 3];
    for (count, (cells, fresh)) in seen.iter_mut().zip([(&DATA, SEED), (&BSS, 0)]) {
        *count = cells
            .iter()
            .filter(|c| c.swap(!fresh, Relaxed) != fresh)
            .count();
    }
    const PAGE: usize = 64 << 10;
    let grown = core::arch::wasm32::memory_grow(0, 1);
    assert_ne!(grown, usize::MAX, "memory grows by a page");
    // SAFETY: the page just grown belongs to no allocation: wasm gives it
    // zeroed, and nothing else in this process knows of it.
    let page = unsafe { std::slice::from_raw_parts_mut((grown * PAGE) as *mut u8, PAGE) };
    seen[2] = page.iter().filter(|b| **b != 0).count();
    page.fill(0xff);
    seen
}

// Unbounded on purpose: this is the stack overflow. Small frames, so it is
// wasm's own call stack that overflows (a large local would live on the
// guest's shadow stack in linear memory and end as an out-of-bounds access).
#[allow(unconditional_recursion)]
fn recurse(n: u64) -> u64 {
    recurse(black_box(n + 1)) + 1
}
