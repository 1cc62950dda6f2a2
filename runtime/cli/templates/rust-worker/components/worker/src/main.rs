//! worker: answers each `{"greet": name}` with `{"hello": name}`, and ends
//! (normally) once no message has come for `idle_ms`: Erlang's
//! `receive ... after`.

use rusm_rs::{Message, receive_timeout, send};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Config {
    idle_ms: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Request {
    Greet(String),
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
enum Reply {
    Hello(String),
}

#[rusm_rs::main]
fn main(config: Config) {
    let mut greeted = 0u32;
    loop {
        match receive_timeout(config.idle_ms) {
            None => break,
            Some(message @ Message::Data { from, .. }) => match message.decode::<Request>() {
                Ok(Request::Greet(name)) => {
                    greeted += 1;
                    send(from, &Reply::Hello(name));
                }
                Err(e) => eprintln!("worker: not a request: {e}"),
            },
            Some(_) => {}
        }
    }
    println!(
        "worker: greeted {greeted}, then nothing for {} ms: done",
        config.idle_ms
    );
}
