//! echo: one process per WebSocket connection. It greets, then answers
//! each frame with its number on this connection. Its state is its own:
//! another connection counts from 1. When the client leaves, the process
//! exits (reason `disconnect`); there is no close callback.

use rusm_rs::ws::{self, Connection, Handler};

#[derive(Default)]
struct Echo {
    frames: u32,
}

impl Handler for Echo {
    fn open(&mut self, conn: &Connection) {
        conn.send(b"welcome\n");
    }

    fn message(&mut self, conn: &Connection, data: Vec<u8>) {
        self.frames += 1;
        let mut reply = format!("{}: ", self.frames).into_bytes();
        reply.extend_from_slice(&data);
        conn.send(&reply);
    }
}

#[rusm_rs::main]
fn main() {
    ws::serve(Echo::default());
}
