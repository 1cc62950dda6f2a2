//! `bash ci/bench`: rusm beside its peers (Erlang/OTP, `wasmtime serve`,
//! Bun), each pair back to back on this machine in one run, and the figures
//! rusm has no peer for. Prints every figure as it comes, then one table
//! with the ratios; `--write <dir>` also writes `benchmarks.md` and
//! `benchmarks.svg` there. Figures, not assertions: nothing here fails on
//! a slow machine.
//!
//! Usage: rusm-bench [--wasmtime <wasmtime> --wasi-hello <component>]
//!                   [--only actors|serving|typescript|rust] [--write <dir>]
//! (ci/bench installs the peers, builds rusm and passes all of these.)

mod actors;
mod peers;
mod report;
mod serving;

use std::path::{Path, PathBuf};

use rusm_rt::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let wasmtime = flag("--wasmtime")
        .map(PathBuf::from)
        .zip(flag("--wasi-hello").map(PathBuf::from));
    let only = flag("--only");
    let peers = peers::Peers::find(wasmtime);
    let machine = report::Machine::read(peers.versions());
    println!(
        "rusm benchmarks: {} cores ({}), release build, loopback; peers: {}",
        machine.cores,
        machine.cpu,
        if machine.peers.is_empty() {
            "none installed (ci/bench installs them)".to_string()
        } else {
            machine.peers.join(", ")
        }
    );
    let mut rows = Vec::new();
    let only = only.as_deref();
    if only != Some("serving") {
        let alone = match only {
            Some("typescript") => Some(actors::Alone::TypeScript),
            Some("rust") => Some(actors::Alone::Rust),
            _ => None,
        };
        actors::run(&peers, &mut rows, alone);
    }
    if only.is_none() || only == Some("serving") {
        serving::run(&peers, &mut rows);
    }
    println!("\n{}", report::text_table(&rows));
    if let Some((weakest, standing)) = rows
        .iter()
        .filter_map(|row| row.standing().map(|s| (row, s)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
    {
        println!(
            "weakest: {}, {} against {} ({:.4}x where 1 is par)",
            weakest.figure,
            weakest.rusm,
            weakest.peer.as_ref().map_or("", |(p, _)| p.as_str()),
            standing
        );
    }
    if let Some(dir) = flag("--write") {
        let dir = PathBuf::from(dir);
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            println!("wrote {}", path.display());
        };
        write("benchmarks.md", report::markdown(&machine, &rows, NOTES));
        write("benchmarks.svg", report::svg(&machine, &rows));
    }
}

/// How each pair is made equal, for `docs/benchmarks.md`.
const NOTES: &str = "\
## What each pair runs

- **spawn+exit**: processes that return at once, spawned with a monitor
  1,000 at a time, each batch's downs awaited before the next. rusm's actor
  core (native Rust processes), a Rust component (`examples/faults`'
  `faulty`, told to return) and a TypeScript component (`examples/hello-ts`'
  `hello`, told to return: a QuickJS runner from bytecode) against Erlang's
  `spawn_monitor` of an empty fun. Beside them, the floor: a trivial
  component (`runtime/bench/src/floor.wat`: no imports, one page of memory,
  a `run` that returns at once) spawned the same way, and the same
  component instantiated, run and dropped straight on the host's wasmtime
  engine, one at a time, with no process around it (wasmtime alone).
- **ping-pong**: one process sends to another, which answers; the next
  message goes when the answer is back. The core sends bytes; the Rust
  components are `examples/ping-pong` (JSON both ways, timed by the host's
  clock inside `ping`); Erlang sends a binary. Latency is per round trip.
- **crash and restart**: a child that crashes as soon as it starts, under a
  supervisor that restarts it. rusm: a resident component that traps,
  restarted by the node's supervisor. Erlang: a `one_for_one` supervisor.
  OTP's supervisor keeps every restart within its period in a list it
  filters on each restart, so one supervisor slows down quadratically over
  thousands of restarts; the Erlang side spreads its restarts over
  supervisors of 100 restarts each (rusm's prunes a queue from the front and
  needs no such help).
- **HTTP hello**: `GET` over 16 keep-alive connections, back to back, each
  answer checked. rusm serves `examples/serve-rs`' `api#show` (Rust) and
  `examples/serve-ts`' `web` (TypeScript) with `rusm serve`, a fresh process
  per request. `wasmtime serve` runs `runtime/bench/peers/wasi-http-hello`,
  a wasi:http component with the same answer, a fresh instance per request.
  Bun.serve runs serve-ts's very `web` handler, native and unsandboxed
  (`runtime/bench/peers/bun/serve.ts`).
- **WebSocket**: 1,000 connections opened and held; the memory is the
  server's resident set growth over them, per connection (rusm holds a
  process per connection). Then every connection echoes 20 messages, all at
  once.
- **SSE**: 200 streams read at once, 100 events from each. rusm's Rust
  handler writes events as fast as the client reads; serve-ts's `events`
  (run by rusm and, unchanged, by Bun) waits `setTimeout(every_ms = 0)`
  between events, which Bun clamps to about 1 ms.

Every server runs as a process of its own and the load comes from
`rusm-bench` over loopback, one server at a time, so the load generator
shares the cores with whichever server runs. On this shared virtual machine
the fastest figures vary a lot from run to run (Erlang's spawn+exit and
round trips by up to 2x between two runs): each figure paired with Erlang
is the median of three runs, on both sides; the serving figures are one
run each. Ratios far from 1 are the point, not the second digit.
";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// How long one figure may take: a server or guest that stops answering
/// ends the run with its name instead of hanging it.
const FIGURE_LIMIT: Duration = Duration::from_secs(180);

/// `figure`'s measurement, within `FIGURE_LIMIT`.
async fn bounded<T>(figure: &str, measurement: impl Future<Output = T>) -> T {
    rusm_rt::time::timeout(FIGURE_LIMIT, measurement)
        .await
        .unwrap_or_else(|_| panic!("{figure} did not finish within {FIGURE_LIMIT:?}"))
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

/// The p50 and p99 of `latencies`, in microseconds.
fn percentiles(latencies: &mut [Duration]) -> (f64, f64) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.50), at(0.99))
}
