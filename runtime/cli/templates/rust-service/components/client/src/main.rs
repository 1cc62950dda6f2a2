//! client: calls the counter (the one registered as "counter", else a new
//! one) once per number in `adds`, then `slow_add` if asked. Errors are
//! values: a call to a service that dies mid-call returns
//! `service-died: <reason>`. What it learns it prints and, when `report`
//! names a process, sends there.

use counter::CounterClient;
use rusm_rs::{Pid, send};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Config {
    adds: Vec<i64>,
    /// Then `slow_add(1, ms)`: a call the service takes `ms` to answer.
    #[serde(default)]
    slow_ms: Option<u64>,
    #[serde(default)]
    report: Option<Pid>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
enum Report {
    Total(i64),
    Failed(String),
}

#[rusm_rs::main]
fn main(config: Config) {
    let counter = CounterClient::whereis("counter").unwrap_or_else(|| {
        CounterClient::new(rusm_rs::spawn("counter", b"").expect("spawn a counter"))
    });
    let tell = |report: Report| {
        match &report {
            Report::Total(total) => println!("client: the total is {total}"),
            Report::Failed(why) => println!("client: the call failed: {why}"),
        }
        if let Some(to) = config.report {
            send(to, &report);
        }
    };
    for n in &config.adds {
        match counter.add(*n) {
            Ok(total) => tell(Report::Total(total)),
            Err(e) => return tell(Report::Failed(e.to_string())),
        }
    }
    if let Some(ms) = config.slow_ms {
        match counter.slow_add(1, ms) {
            Ok(total) => tell(Report::Total(total)),
            Err(e) => tell(Report::Failed(e.to_string())),
        }
    }
}
