//! The HTTP face of the rooms: each request is a process of its own that
//! calls the resident rooms service. A tail (`GET /rooms/:room/events`)
//! joins its room and then live-tails it until its client leaves.

use rusm_rs::http::{Params, Request, Response, Sse};
use serde::Deserialize;

/// How many past posts a new tail is sent first.
const REPLAY: u32 = 20;

#[derive(Deserialize)]
struct NewPost {
    author: String,
    text: String,
}

#[rusm_rs::handlers]
pub mod web {
    use super::*;

    // POST /rooms/:room  {"author": "ann", "text": "hi"} -> 201 and the post
    pub fn post(req: Request, p: Params) -> Response {
        let Ok(new) = req.json::<NewPost>() else {
            return Response::text("send {\"author\": ..., \"text\": ...}\n").status(400);
        };
        answer(
            service().map(|r| r.post(room(&p), new.author, new.text)),
            201,
        )
    }

    // GET /rooms/:room -> the last posts, oldest first
    pub fn history(_req: Request, p: Params) -> Response {
        answer(
            service().map(|r| r.history(room(&p), rooms::MAX_HISTORY)),
            200,
        )
    }

    // GET /rooms -> the rooms with posts
    pub fn rooms(_req: Request, _p: Params) -> Response {
        answer(service().map(|r| r.rooms()), 200)
    }

    // GET /rooms/:room/events -> the last posts, then each new one, live
    pub fn tail(_req: Request, p: Params, sse: Sse) {
        let Some(rooms) = service() else {
            sse.event("error", b"the rooms service is restarting; reconnect");
            return;
        };
        match rooms.join(room(&p), REPLAY) {
            Ok(Ok(posts)) => {
                for post in &posts {
                    sse.json(post);
                }
                sse.run(rooms.pid());
            }
            Ok(Err(refused)) => {
                sse.event("error", refused.as_bytes());
            }
            Err(e) => {
                sse.event("error", e.to_string().as_bytes());
            }
        }
    }

    fn room(p: &Params) -> String {
        p.get("room").unwrap_or_default().to_string()
    }
}

/// The rooms service, unless it is between a crash and its restart.
fn service() -> Option<rooms::RoomsClient> {
    rusm_rs::whereis("rooms").map(rooms::RoomsClient::new)
}

/// A service answer as a response: its value as JSON with `status`, a
/// refusal as 400, the service unreachable as 503.
fn answer<T: serde::Serialize>(
    outcome: Option<Result<Result<T, String>, rusm_rs::service::CallError>>,
    status: u16,
) -> Response {
    match outcome {
        Some(Ok(Ok(value))) => Response::json(&value).status(status),
        Some(Ok(Err(refused))) => Response::text(format!("{refused}\n")).status(400),
        Some(Err(e)) => Response::text(format!("{e}\n")).status(503),
        None => Response::text("the rooms service is restarting; try again\n").status(503),
    }
}
