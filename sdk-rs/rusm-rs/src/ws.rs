//! Serving WebSockets: one process per connection.
//!
//! ```ignore
//! use rusm_rs::ws::{self, Connection, Handler};
//!
//! #[derive(Default)]
//! struct Echo;
//!
//! impl Handler for Echo {
//!     fn open(&mut self, conn: &Connection) { conn.send(b"welcome\n"); }
//!     fn message(&mut self, conn: &Connection, data: Vec<u8>) { conn.send(&data); }
//! }
//!
//! #[rusm_rs::main]
//! fn main() { ws::serve(Echo::default()); }
//! ```
//!
//! The process ends when the client disconnects (with reason `disconnect`):
//! there is no close callback, and state that must outlive the connection
//! belongs in a resident service or in kv.

use crate::Message;
use crate::bindings::rusm::runtime::serving as host;
use crate::http::Request;

/// What a connection's process does with it.
pub trait Handler {
    /// The connection is open; the client has sent nothing yet.
    fn open(&mut self, conn: &Connection) {
        let _ = conn;
    }

    /// The client sent a frame (text or binary: its payload).
    fn message(&mut self, conn: &Connection, data: Vec<u8>);
}

/// The client's end of the connection.
#[derive(Debug)]
pub struct Connection {
    request: Request,
}

impl Connection {
    /// Sends `data` as a text frame when it is UTF-8, as a binary frame
    /// otherwise. Waits while the client is behind; false once it has gone.
    pub fn send(&self, data: &[u8]) -> bool {
        match std::str::from_utf8(data) {
            Ok(text) => self.send_text(text),
            Err(_) => self.send_binary(data),
        }
    }

    /// Sends a text frame.
    pub fn send_text(&self, text: &str) -> bool {
        host::send_frame(&host::Frame::Text(text.to_string()))
    }

    /// Sends a binary frame.
    pub fn send_binary(&self, data: &[u8]) -> bool {
        host::send_frame(&host::Frame::Binary(data.to_vec()))
    }

    /// The upgrade request that opened the connection.
    pub fn request(&self) -> &Request {
        &self.request
    }
}

/// Runs `handler` on this process's connection until the client leaves
/// (which ends the process). Other messages the process receives between
/// frames are dropped.
pub fn serve<H: Handler>(mut handler: H) -> ! {
    let session = crate::http::session("ws::serve");
    let Some(socket) = session.socket.map(crate::Pid::from_raw) else {
        panic!("ws::serve: this process serves an HTTP request, not a WebSocket");
    };
    let conn = Connection {
        request: Request::from(session.request),
    };
    handler.open(&conn);
    loop {
        if let Message::Data { from, bytes } = crate::receive()
            && from == socket
            && let Some((_tag, payload)) = bytes.split_first()
        {
            handler.message(&conn, payload.to_vec());
        }
    }
}
