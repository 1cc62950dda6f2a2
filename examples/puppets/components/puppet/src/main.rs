//! puppet: a process that does what its messages tell it, so a scenario can
//! play out links, monitors, trapped exits and the registry with real
//! guests. Everything else it receives (exit and down messages, unknown
//! data) it reports on stdout; a trapped `shutdown` (a node's drain) it
//! reports and then returns, as a resident that saves its state would.

use rusm_rs::{ExitReason, Message, Pid, exit, receive, self_pid};
use serde::Deserialize;

/// Set up at spawn time; every field is optional (`{}` is a plain puppet).
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
struct Setup {
    trap_exit: bool,
    register: Option<String>,
    link: Vec<Pid>,
    monitor: Vec<Pid>,
}

/// A command, as JSON: `{"link": 3}`, `{"exit": [3, "boom"]}`, `"trap"`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "kebab-case")]
enum Command {
    Link(Pid),
    Unlink(Pid),
    Monitor(Pid),
    TrapExit(bool),
    Register(String),
    Unregister(String),
    /// Sends an exit signal: `[pid, reason]`.
    Exit(Pid, String),
    /// Ends this process with the reason.
    Stop(String),
    /// Executes `unreachable`.
    Trap,
    /// Panics.
    Panic,
    /// Loops forever without receiving again (burns fuel, fills its mailbox).
    Spin,
    /// Allocates and writes this many MiB more, and keeps them: its linear
    /// memory grows.
    Grow(usize),
}

/// "normal" and "killed" are the special reasons; any other word is custom.
fn reason(word: String) -> ExitReason {
    match word.as_str() {
        "normal" => ExitReason::Normal,
        "killed" => ExitReason::Killed,
        _ => ExitReason::Custom(word),
    }
}

#[rusm_rs::main]
fn main(setup: Setup) {
    rusm_rs::trap_exit(setup.trap_exit);
    if let Some(name) = &setup.register {
        rusm_rs::register(name, self_pid()).expect("register at setup");
    }
    for pid in setup.link {
        rusm_rs::link(pid);
    }
    for pid in setup.monitor {
        rusm_rs::monitor(pid);
    }
    loop {
        match receive() {
            message @ Message::Data { .. } => match message.decode::<Command>() {
                Ok(command) => obey(command),
                Err(e) => println!("puppet: not a command: {e}"),
            },
            Message::Exit { from, reason } => {
                println!("puppet: exit from {from}: {reason}");
                if reason == ExitReason::Shutdown {
                    println!("puppet: state saved, stopping");
                    return;
                }
            }
            Message::Down { pid, reason, .. } => println!("puppet: down of {pid}: {reason}"),
        }
    }
}

fn obey(command: Command) {
    match command {
        Command::Link(pid) => rusm_rs::link(pid),
        Command::Unlink(pid) => rusm_rs::unlink(pid),
        Command::Monitor(pid) => {
            rusm_rs::monitor(pid);
        }
        Command::TrapExit(on) => {
            rusm_rs::trap_exit(on);
        }
        Command::Register(name) => {
            if let Err(e) = rusm_rs::register(&name, self_pid()) {
                println!("puppet: register {name:?}: {e}");
            }
        }
        Command::Unregister(name) => {
            if let Err(e) = rusm_rs::unregister(&name) {
                println!("puppet: unregister {name:?}: {e}");
            }
        }
        Command::Exit(pid, word) => exit(pid, reason(word)),
        Command::Stop(word) => exit(self_pid(), reason(word)),
        Command::Trap => core::arch::wasm32::unreachable(),
        Command::Panic => panic!("told to panic"),
        Command::Spin => loop {
            std::hint::black_box(());
        },
        Command::Grow(mib) => {
            std::mem::forget(vec![1u8; mib << 20]);
            println!("puppet: holds {mib} MiB more");
        }
    }
}
