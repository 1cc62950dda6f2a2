//! ledger: durable kv from a guest, in the three ways tests and benchmarks
//! need it. Its init payload says which.

use rusm_rs::{Pid, kv, send};
use serde::Deserialize;

/// The bucket every mode works in.
const BUCKET: &str = "ledger";

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    /// Writes entries `from..from + count` (key `entry/<n>`, value `<n>`),
    /// printing `ack <n>` once each is durable.
    Storm {
        #[serde(default)]
        from: u64,
        count: u64,
    },
    /// Reads entries `0..=through` back; panics at the first one missing or
    /// wrong, else prints `checked <n> entries`.
    Check { through: u64 },
    /// Reads, increments and writes back counter `key` `times` times (each
    /// write durable), then sends the final count to `report`.
    Increment {
        key: String,
        times: u64,
        report: Pid,
    },
}

#[rusm_rs::main]
fn main(mode: Mode) {
    match mode {
        Mode::Storm { from, count } => {
            for n in from..from.saturating_add(count) {
                kv::set(BUCKET, &entry(n), n.to_string()).unwrap_or_else(|e| panic!("set: {e}"));
                println!("ack {n}");
            }
        }
        Mode::Check { through } => {
            for n in 0..=through {
                let value = kv::get(BUCKET, &entry(n)).unwrap_or_else(|e| panic!("get: {e}"));
                assert_eq!(
                    value.as_deref(),
                    Some(n.to_string().as_bytes()),
                    "entry {n} was acknowledged but is not stored"
                );
            }
            println!("checked {} entries", through + 1);
        }
        Mode::Increment { key, times, report } => {
            let key = format!("counter/{key}");
            let mut count = 0u64;
            for _ in 0..times {
                count = kv::get_json::<u64>(BUCKET, &key)
                    .unwrap_or_else(|e| panic!("get: {e}"))
                    .unwrap_or(0)
                    + 1;
                kv::set_json(BUCKET, &key, &count).unwrap_or_else(|e| panic!("set: {e}"));
            }
            send(report, &count);
        }
    }
}

/// Entry keys sort in the order they were written.
fn entry(n: u64) -> String {
    format!("entry/{n:010}")
}
