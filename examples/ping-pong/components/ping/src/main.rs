//! ping: spawns pong, plays `rounds` round trips with it, lingers so pong's
//! idle heartbeat shows, then stops pong and waits for it to exit.

use rusm_rs::{Message, receive, receive_timeout, send};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Config {
    rounds: u32,
    #[serde(default)]
    linger_ms: u64,
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
    for n in 1..=config.rounds {
        send(pong, &ToPong::Ping(n));
        match receive().decode::<FromPong>() {
            Ok(FromPong::Pong(m)) if m == n => {}
            other => panic!("expected pong {n}, got {other:?}"),
        }
    }
    println!("ping: {} round trips with pong#{pong}", config.rounds);
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
