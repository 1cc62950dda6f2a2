//! api: the app's HTTP actions. A 2-argument action answers at once; a
//! 3-argument one streams Server-Sent Events for as long as its client
//! stays (each request is its own process, so it may block all along).

use std::time::Duration;

use rusm_rs::http::{Params, Request, Response, Sse};

#[rusm_rs::handlers]
pub mod api {
    use super::*;

    /// GET /hello/:who
    pub fn hello(_req: Request, p: Params) -> Response {
        Response::text(format!("hello, {}\n", p.get("who").unwrap_or("world")))
    }

    /// GET /ticks: one event every 100 ms until the client leaves.
    pub fn ticks(_req: Request, _p: Params, sse: Sse) {
        let mut sent = 0u32;
        while sse.data(format!("tick {sent}").as_bytes()) {
            sent += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
        println!("ticks: the client left after {sent} events");
    }
}
