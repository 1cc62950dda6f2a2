//! The concept page's WebSocket example, verbatim (so rustfmt leaves it
//! alone, see ci/test.sh): one process per connection; it greets, echoes
//! every frame, and exits on disconnect.

// The concept page writes `Echo::default()` for a handler that may grow state.
#![allow(clippy::default_constructed_unit_structs)]

use rusm_rs::ws::{self, Connection, Handler};

#[derive(Default)]
struct Echo;

impl Handler for Echo {
    fn open(&mut self, conn: &Connection) { conn.send(b"welcome\n"); }
    fn message(&mut self, conn: &Connection, data: Vec<u8>) { conn.send(&data); } // echo
}

#[rusm_rs::main]
fn main() { ws::serve(Echo::default()); }
