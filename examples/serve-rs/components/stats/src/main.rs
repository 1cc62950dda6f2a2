//! Actions that show where state lives and what a failure costs: `visit`
//! and `visits` reach the resident counter through `whereis` and `call`;
//! `crash` panics (the client gets a 500, the node goes on); `ticks`
//! streams events and says on stdout when its client has left; `slow`
//! answers late (a drain waits for it); `spin` and
//! `stall` never answer, and are ended at the listener's
//! `handler-timeout-ms` (the client gets a 504).

use rusm_rs::http::{Params, Request, Response, Sse};

#[rusm_rs::handlers]
pub mod stats {
    use super::*;
    use counter::CounterClient;

    // POST /visits -> "stats#visit"
    pub fn visit(_req: Request, _p: Params) -> Response {
        match counter().map(|c| c.visit()) {
            Some(Ok(n)) => Response::json(&n),
            _ => unavailable(),
        }
    }

    // GET /visits -> "stats#visits"
    pub fn visits(_req: Request, _p: Params) -> Response {
        match counter().map(|c| c.visits()) {
            Some(Ok(n)) => Response::json(&n),
            _ => unavailable(),
        }
    }

    // GET /crash -> "stats#crash"
    pub fn crash(_req: Request, _p: Params) -> Response {
        panic!("the crash action always fails");
    }

    // GET /slow/:ms -> "stats#slow": answers after `ms` milliseconds.
    pub fn slow(_req: Request, p: Params) -> Response {
        let ms = p.get("ms").and_then(|v| v.parse().ok()).unwrap_or(100);
        std::thread::sleep(std::time::Duration::from_millis(ms));
        Response::text(format!("answered after {ms} ms\n"))
    }

    // GET /spin -> "stats#spin": computes forever (fuel preempts it, so
    // the node goes on meanwhile).
    pub fn spin(_req: Request, _p: Params) -> Response {
        let mut n = 0u64;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }

    // GET /stall -> "stats#stall": waits forever, trapping exit signals;
    // the deadline ends it all the same.
    pub fn stall(_req: Request, _p: Params) -> Response {
        rusm_rs::trap_exit(true);
        loop {
            rusm_rs::receive();
        }
    }

    // GET /ticks/:every_ms -> "stats#ticks"
    pub fn ticks(_req: Request, p: Params, sse: Sse) {
        let every = p
            .get("every_ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or(100);
        let mut sent = 0u64;
        while sse.data(format!("tick {sent}").as_bytes()) {
            sent += 1;
            std::thread::sleep(std::time::Duration::from_millis(every));
        }
        println!("ticks: the client left after {sent} events");
    }

    fn counter() -> Option<CounterClient> {
        rusm_rs::whereis("counter").map(CounterClient::new)
    }

    fn unavailable() -> Response {
        Response::text("the counter is restarting; try again\n").status(503)
    }
}
