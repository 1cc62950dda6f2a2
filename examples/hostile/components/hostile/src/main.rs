//! hostile: guests that try to make the node hold more memory than it has,
//! and one well-behaved process beside them. Its init payload names the
//! role; the conductor starts the others and reports what became of them.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use rusm_rs::{Message, Pid, receive, receive_timeout, self_pid, send, send_bytes, spawn_with};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Role {
    /// Starts a steady process, a flooder and a spawner; pings the steady
    /// one every 100 ms for `ms` milliseconds and says how many answers
    /// came back within a second, then ends normally.
    Conductor { ms: u64 },
    /// Answers every `{"ping": pid}` with `"pong"`.
    Steady,
    /// Spawns `sinks` processes that never read, and sends them 1 MiB
    /// messages in turn, for ever; a sink that ends is replaced.
    Flooder { sinks: usize },
    /// Never reads its mailbox: it spins.
    Sink,
    /// Spawns growers as fast as it can, for ever, saying when a spawn is
    /// refused (once per kind of refusal).
    Spawner,
    /// Grows its memory 1 MiB at a time to just under its limit (64 MiB),
    /// then waits.
    Grower,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Ping {
    Ping(Pid),
}

#[rusm_rs::main]
fn main(role: Role) {
    match role {
        Role::Conductor { ms } => conduct(ms),
        Role::Steady => loop {
            if let Ok(Ping::Ping(from)) = receive().decode() {
                send(from, "pong");
            }
        },
        Role::Flooder { sinks } => flood(sinks),
        Role::Sink => loop {
            black_box(());
        },
        Role::Spawner => spawn_growers(),
        Role::Grower => {
            let mut held = Vec::new();
            for _ in 0..62 {
                held.push(vec![1u8; 1 << 20]);
            }
            black_box(&held);
            loop {
                receive();
            }
        }
    }
}

fn conduct(ms: u64) {
    let mut roles = BTreeMap::new();
    let mut start = |role: Role, name: &str| {
        let pid = spawn_with("hostile", &role).expect("the conductor's own spawns fit");
        rusm_rs::monitor(pid);
        roles.insert(pid, name.to_string());
        pid
    };
    let steady = start(Role::Steady, "steady");
    start(Role::Flooder { sinks: 3 }, "flooder");
    start(Role::Spawner, "spawner");
    let (mut answered, mut missed) = (0, 0);
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(ms) {
        send(steady, &Ping::Ping(self_pid()));
        let asked = Instant::now();
        let mut pong = false;
        while !pong && asked.elapsed() < Duration::from_secs(1) {
            match receive_timeout(1_000) {
                Some(Message::Data { .. }) => pong = true,
                Some(Message::Down { pid, reason, .. }) => {
                    println!("conductor: {} ended: {reason}", roles[&pid]);
                }
                _ => {}
            }
        }
        if pong {
            answered += 1;
        } else {
            missed += 1;
        }
        receive_timeout(100);
    }
    println!("conductor: steady answered {answered} pings, missed {missed}");
}

fn flood(sinks: usize) {
    let message = vec![7u8; 1 << 20];
    let mut live: Vec<Pid> = Vec::new();
    loop {
        while live.len() < sinks {
            match spawn_with("hostile", &Role::Sink) {
                Ok(pid) => {
                    rusm_rs::monitor(pid);
                    live.push(pid);
                }
                Err(_) => break,
            }
        }
        for &sink in &live {
            send_bytes(sink, &message);
        }
        while let Some(message) = receive_timeout(0) {
            if let Message::Down { pid, .. } = message {
                live.retain(|&sink| sink != pid);
            }
        }
    }
}

fn spawn_growers() {
    let mut said = Vec::new();
    loop {
        match spawn_with("hostile", &Role::Grower) {
            Ok(_) => {}
            Err(e) => {
                let text = e.to_string();
                let kind: String = text.chars().take(20).collect();
                if !said.contains(&kind) {
                    println!("spawner: spawn refused: {text}");
                    said.push(kind);
                }
                receive_timeout(20);
            }
        }
    }
}
