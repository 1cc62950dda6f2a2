//! The concept page's serving example, verbatim (so rustfmt leaves it
//! alone, see ci/test.sh): `show` answers at once, `events` streams
//! Server-Sent Events until the client leaves. Each request is its own
//! process, so `events` may loop for the whole connection; `sse.data` waits
//! while the client is behind.

use rusm_rs::http::{Params, Request, Response, Sse};

#[rusm_rs::handlers]
pub mod api {
    use super::*;

    // GET /users/:id  ->  "api#show"
    pub fn show(_req: Request, p: Params) -> Response {
        Response::text(format!("user {}\n", p.get("id").unwrap_or("?")))
    }

    // GET /events/:room  ->  "api#events"  (3 args → SSE)
    pub fn events(_req: Request, p: Params, sse: Sse) {
        let room = p.get("room").unwrap_or("lobby").to_string();
        for n in 0.. {
            if !sse.data(format!("{room} tick {n}").as_bytes()) { break; } // disconnected
        }
    }
}
