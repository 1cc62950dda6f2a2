//! One scenario per heartbeat interval, generated: `examples/ping-pong`'s
//! pong, idle, prints a heartbeat every `heartbeat_ms`; a ping in the
//! middle is answered at once, and a kill ends it. The same steps as a
//! scenario file, checked the same way (`rusm test`'s machinery): twice
//! per seed, the first seed's trace against `snapshots/heartbeat-<ms>.snap`.

#![cfg(madsim)]

use std::path::Path;

use rusm_sim::Scenario;
use rusm_sim::check::assert_replays;

fn here() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn heartbeat(every_ms: u64) -> Scenario {
    let mut scenario = Scenario::new(
        &format!("pong beats every {every_ms} ms while idle, answers a ping, and is killed"),
        here().join("../ping-pong"),
    );
    scenario
        .seeds([1, 2])
        .at_ms(0)
        .spawn("pong", &format!(r#"{{"heartbeat_ms": {every_ms}}}"#))
        .at_ms(250)
        .send("pong", r#"{"ping": 1}"#)
        .at_ms(260)
        .expect_received("pong", r#"{"pong": 1}"#)
        .at_ms(400)
        .kill("pong")
        .at_ms(400)
        .expect_exited("pong", "killed");
    scenario
}

#[test]
fn every_heartbeat_interval_replays_and_matches_its_snapshot() {
    for every_ms in [50, 100, 300] {
        let snapshot = here().join(format!("snapshots/heartbeat-{every_ms}.snap"));
        assert_replays(&heartbeat(every_ms), &snapshot);
    }
}
