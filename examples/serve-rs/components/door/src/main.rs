//! door: a WebSocket handler that ends its connection when the client asks,
//! so each way a handler can end shows its close code: `bye` returns
//! (1000, normal closure), `boom` panics (1011, internal error); anything
//! else is echoed. No listener serves it in rusm.toml; the serving tests
//! give it one.

use rusm_rs::ws::{self, Connection, Handler};

struct Door;

impl Handler for Door {
    fn message(&mut self, conn: &Connection, data: Vec<u8>) {
        match data.as_slice() {
            // The process ends `normal`: `ws::serve` never returns, and
            // exit code 0 is how a handler says it is done.
            b"bye" => std::process::exit(0),
            b"boom" => panic!("boom"),
            _ => {
                conn.send(&data);
            }
        }
    }
}

#[rusm_rs::main]
fn main() {
    ws::serve(Door);
}
