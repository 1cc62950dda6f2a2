//! pong: answers every ping; when no message arrives for `heartbeat_ms` it
//! prints a heartbeat (Erlang's `receive ... after`), until told to stop.

use rusm_rs::{Message, receive_timeout, send};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Config {
    heartbeat_ms: u64,
}

#[derive(Deserialize, Debug)]
#[serde(rename_all = "kebab-case")]
enum FromPing {
    Ping(u32),
    Stop,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
enum ToPing {
    Pong(u32),
}

#[rusm_rs::main]
fn main(config: Config) {
    let mut beats = 0u32;
    loop {
        match receive_timeout(config.heartbeat_ms) {
            None => {
                beats += 1;
                println!("pong: heartbeat {beats} (idle {} ms)", config.heartbeat_ms);
            }
            Some(message @ Message::Data { from, .. }) => match message.decode::<FromPing>() {
                Ok(FromPing::Ping(n)) => send(from, &ToPing::Pong(n)),
                Ok(FromPing::Stop) => break,
                Err(e) => eprintln!("pong: ignoring a message: {e}"),
            },
            Some(_) => {}
        }
    }
}
