//! ping: spawns pong, plays `rounds` round trips with it, lingers so pong's
//! idle heartbeat shows, then stops pong and waits for it to exit. With
//! `report`, it times every round trip and sends the figures there (the
//! benchmark's ping-pong).

use std::time::Instant;

use rusm_rs::{Message, Pid, receive, receive_timeout, send};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Config {
    rounds: u32,
    #[serde(default)]
    linger_ms: u64,
    #[serde(default)]
    report: Option<Pid>,
}

/// What ping tells `report`: the rounds' total and their p50/p99, timed
/// by the host's monotonic clock.
#[derive(Serialize)]
struct Timings {
    rounds: u32,
    total_ns: u64,
    p50_ns: u64,
    p99_ns: u64,
}

/// What ping says to pong (pong declares the same JSON shape on its side).
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
enum ToPong {
    Ping(u32),
    Stop,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "kebab-case")]
enum FromPong {
    Pong(u32),
}

#[rusm_rs::main]
fn main(config: Config) {
    let pong = rusm_rs::spawn_with("pong", &PongConfig { heartbeat_ms: 100 }).expect("spawn pong");
    let watch = rusm_rs::monitor(pong);
    let start = Instant::now();
    let mut round_ns = Vec::with_capacity(config.rounds as usize);
    for n in 1..=config.rounds {
        let sent = Instant::now();
        send(pong, &ToPong::Ping(n));
        match receive().decode::<FromPong>() {
            Ok(FromPong::Pong(m)) if m == n => {}
            other => panic!("expected pong {n}, got {other:?}"),
        }
        round_ns.push(sent.elapsed().as_nanos() as u64);
    }
    let total_ns = start.elapsed().as_nanos() as u64;
    println!("ping: {} round trips with pong#{pong}", config.rounds);
    if let Some(to) = config.report
        && !round_ns.is_empty()
    {
        round_ns.sort_unstable();
        let at = |q: f64| round_ns[((round_ns.len() - 1) as f64 * q) as usize];
        send(
            to,
            &Timings {
                rounds: config.rounds,
                total_ns,
                p50_ns: at(0.50),
                p99_ns: at(0.99),
            },
        );
    }
    if config.linger_ms > 0 {
        // Nothing will arrive: this is a plain timed wait, and pong idles.
        receive_timeout(config.linger_ms);
    }
    send(pong, &ToPong::Stop);
    loop {
        if let Message::Down {
            monitor, reason, ..
        } = receive()
            && monitor == watch
        {
            println!("ping: pong exited ({reason})");
            break;
        }
    }
}

#[derive(Serialize)]
struct PongConfig {
    heartbeat_ms: u64,
}
