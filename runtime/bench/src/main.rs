//! `cargo run --release -p rusm-bench`: prints throughput and latency of the
//! actor core and of wasm processes on this machine. Figures, not assertions:
//! nothing here fails on a slow machine.

use std::path::{Path, PathBuf};

use rusm_config::{AppConfig, Capabilities, Runtime};
use rusm_core::{ExitReason, Limits, Message, Node, Pid, Process};
use rusm_host::{ComponentSource, Host, Script};
use rusm_rt::time::{self, Duration};

/// Processes spawned at once in the spawn benchmarks (below every limit).
const BATCH: usize = 1_000;

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("rusm benchmarks ({cores} cores, release build)");
    // Built before the runtime starts: precompiling scripts runs a node of
    // its own.
    let host = host();
    rusm_rt::block_on(async {
        core_spawn_exit(200_000).await;
        core_round_trips(200_000).await;
        component_spawn_exit(&host, 5_000).await;
        guest_round_trips(&host, 50_000).await;
        service_calls(&host, 20_000).await;
        kv_read_modify_writes(&host, 1, 2_000).await;
        kv_read_modify_writes(&host, 16, 250).await;
        pubsub_fan_out(&host, 1_000, 200).await;
        script_cold_start(&host, 500).await;
        idle_script_memory(&host, 500).await;
    });
}

async fn await_downs(me: &Process, mut count: usize) {
    while count > 0 {
        if let Message::Down { .. } = me.receive().await {
            count -= 1;
        }
    }
}

fn per_second(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

async fn core_spawn_exit(total: usize) {
    let node = Node::new(Limits::default());
    let me = node.attach("bench").expect("spawn the bench process");
    let start = time::now();
    for _ in 0..total / BATCH {
        for _ in 0..BATCH {
            me.spawn_monitor("empty", |_| async { ExitReason::Normal })
                .expect("spawn");
        }
        await_downs(&me, BATCH).await;
    }
    let elapsed = time::now() - start;
    println!(
        "actor core   spawn+exit        {:>12.0} /s   ({total} processes, monitored, {BATCH} at a time)",
        per_second(total, elapsed)
    );
}

async fn core_round_trips(rounds: usize) {
    let node = Node::new(Limits::default());
    let echo = node
        .spawn("echo", |echo| async move {
            loop {
                if let Message::Data { from, bytes } = echo.receive().await {
                    let _ = echo.send(from, bytes);
                }
            }
        })
        .expect("spawn echo");
    // The pinger is a process like the echo (both tasks of the runtime), as
    // with the guest benchmark below; it hands its measurements back.
    let (done, measured) = rusm_rt::sync::oneshot::channel();
    node.spawn("pinger", move |me| async move {
        let mut latencies = Vec::with_capacity(rounds);
        let start = time::now();
        for _ in 0..rounds {
            let sent = time::now();
            me.send(echo, b"ping".to_vec()).expect("send");
            me.receive().await;
            latencies.push(time::now() - sent);
        }
        let _ = done.send((time::now() - start, latencies));
        ExitReason::Normal
    })
    .expect("spawn pinger");
    let (elapsed, mut latencies) = measured.await.expect("the pinger reports");
    let (p50, p99) = percentiles(&mut latencies);
    println!(
        "actor core   message round trip {:>11.0} /s   p50 {:>7.1} us   p99 {:>7.1} us",
        per_second(rounds, elapsed),
        p50,
        p99
    );
}

fn percentiles(latencies: &mut [Duration]) -> (f64, f64) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.50), at(0.99))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A host with the components of the apps the benchmarks use, built for
/// the occasion, its kv store in a fresh file. `hello-source` is hello-ts's
/// `hello` run from its bundle's source rather than its bytecode.
fn host() -> Host {
    let mut components = Vec::new();
    for app in [
        "ping-pong",
        "faults",
        "calc",
        "ledger",
        "fanout",
        "hello-ts",
    ] {
        let dir = repo().join("examples").join(app);
        let built =
            rusm_build::build_app(&dir, Some(&repo().join("target/guests"))).expect("guest build");
        let built = rusm_host::precompile(built, Some(&repo().join("target/rusm-cache")))
            .expect("bytecode");
        let config = AppConfig::load(&dir).expect("rusm.toml");
        for b in built {
            // The app's grants, but quiet: guest output would only add noise.
            let capabilities = Capabilities {
                allow_stdio: false,
                ..config.capabilities(&b.name)
            };
            if b.name == "hello" {
                // The runner alone: QuickJS, the prelude, an empty module.
                components.push(ComponentSource {
                    name: "empty-script".into(),
                    wasm: b.wasm.clone(),
                    capabilities: capabilities.clone(),
                    script: Some(Script::source(&b"export default () => {};"[..])),
                });
                let source = dir.join("wasm/hello.js");
                components.push(ComponentSource {
                    name: "hello-source".into(),
                    wasm: b.wasm.clone(),
                    capabilities: capabilities.clone(),
                    script: Some(Script::source(std::fs::read(source).expect("hello.js"))),
                });
            }
            components.push(ComponentSource::from_built(b, capabilities).expect("a component"));
        }
    }
    let settings = Runtime {
        max_processes: 2 * BATCH + 16,
        ..Runtime::default()
    };
    // A real file on this machine's disk: every write is an fsync.
    let store = std::env::temp_dir().join(format!("rusm-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store);
    Host::builder(settings)
        .cache_dir(repo().join("target/rusm-cache"))
        .storage(&store, &rusm_config::Storage::default())
        .build(components)
        .expect("host")
}

/// The benchmark's own process on `host`: it spawns, monitors and listens.
fn bench_process(host: &Host) -> Process {
    host.node()
        .attach("bench")
        .expect("spawn the bench process")
}

async fn component_spawn_exit(host: &Host, total: usize) {
    let me = bench_process(host);
    let start = time::now();
    let batch = BATCH / 4;
    for _ in 0..total / batch {
        for _ in 0..batch {
            host.spawn_monitor(&me, "faulty", br#""normal""#.to_vec())
                .expect("spawn");
        }
        await_downs(&me, batch).await;
    }
    let elapsed = time::now() - start;
    println!(
        "wasm host    component spawn+exit {:>9.0} /s   ({total} instances of faulty, {batch} at a time)",
        per_second(total, elapsed)
    );
}

async fn guest_round_trips(host: &Host, rounds: usize) {
    let me = bench_process(host);
    let init = format!(r#"{{"rounds": {rounds}, "linger_ms": 0}}"#);
    let start = time::now();
    let (ping, _): (Pid, _) = host
        .spawn_monitor(&me, "ping", init.into_bytes())
        .expect("spawn ping");
    let reason = loop {
        if let Message::Down { pid, reason, .. } = me.receive().await
            && pid == ping
        {
            break reason;
        }
    };
    let elapsed = time::now() - start;
    assert_eq!(reason, ExitReason::Normal, "ping must finish its rounds");
    println!(
        "wasm host    guest<->guest round trip {:>6.0} /s   ({rounds} JSON ping/pong rounds, incl. spawning both)",
        per_second(rounds, elapsed)
    );
}

/// `#[rusm_rs::service]` calls between two guests: the client times each
/// call inside the guest (its clock is the host's) and reports.
async fn service_calls(host: &Host, calls: u32) {
    let me = bench_process(host);
    host.spawn("calc", Vec::new()).expect("spawn calc");
    let init = format!(
        r#"{{"mode": {{"bench": {{"calls": {calls}}}}}, "report": {}}}"#,
        me.pid()
    );
    host.spawn("client", init.into_bytes())
        .expect("spawn the client");
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "kebab-case")]
    enum Report {
        Bench {
            calls: u32,
            total_us: u64,
            p50_us: u64,
            p99_us: u64,
        },
    }
    let Message::Data { bytes, .. } = me.receive().await else {
        panic!("the client reports its figures first");
    };
    let Report::Bench {
        calls,
        total_us,
        p50_us,
        p99_us,
    } = serde_json::from_slice(&bytes).expect("a bench report");
    println!(
        "wasm host    service call (guest->guest) {:>6.0} /s   p50 {p50_us} us  p99 {p99_us} us   ({calls} calls of calc.add)",
        calls as f64 / (total_us as f64 / 1e6)
    );
}

/// Durable read-modify-write: `writers` ledger processes each increment a
/// counter of their own `times` times (a kv get, then a set that returns
/// once it is on disk).
async fn kv_read_modify_writes(host: &Host, writers: u32, times: u64) {
    let me = bench_process(host);
    let start = time::now();
    for writer in 0..writers {
        let init = format!(
            r#"{{"increment": {{"key": "bench-{writers}-{writer}", "times": {times}, "report": {}}}}}"#,
            me.pid()
        );
        host.spawn("ledger", init.into_bytes())
            .expect("spawn a writer");
    }
    for _ in 0..writers {
        let Message::Data { bytes, .. } = me.receive().await else {
            panic!("a writer reports its final count");
        };
        assert_eq!(
            bytes,
            times.to_string().into_bytes(),
            "every increment counted"
        );
    }
    let elapsed = time::now() - start;
    let total = writers as usize * times as usize;
    println!(
        "kv           read-modify-write {:>10.0} /s   ({writers} writer(s) x {times}, each write durable)",
        per_second(total, elapsed)
    );
}

/// Pub/sub fan-out: a broker guest publishes `messages` messages to one
/// topic of a `Topics` with `subscribers` subscriber processes; timed from
/// the moment all are subscribed until every subscriber has every message.
async fn pubsub_fan_out(host: &Host, subscribers: u32, messages: u32) {
    let me = bench_process(host);
    let init = format!(
        r#"{{"broker": {{"subscribers": {subscribers}, "messages": {messages}, "report": {}}}}}"#,
        me.pid()
    );
    host.spawn("fanout", init.into_bytes())
        .expect("spawn the broker");
    let mut start = None;
    let mut done = 0;
    while done < subscribers {
        if let Message::Data { bytes, .. } = me.receive().await {
            match bytes.as_slice() {
                b"\"subscribed\"" => start = Some(time::now()),
                b"\"done\"" => done += 1,
                other => panic!("unexpected report {:?}", String::from_utf8_lossy(other)),
            }
        }
    }
    let elapsed = time::now() - start.expect("subscribed before any is done");
    let delivered = subscribers as usize * messages as usize;
    println!(
        "pubsub       fan-out            {:>10.0} /s   ({messages} messages to {subscribers} subscribers, guest to guests)",
        per_second(delivered, elapsed)
    );
}

/// A TypeScript process that starts and ends at once, one at a time so
/// each figure is one process's whole life: the runner with an empty
/// module (its own floor), then hello-ts's `hello` (its bundle with rusm-ts
/// and @noble/hashes) from bytecode and from source.
async fn script_cold_start(host: &Host, total: usize) {
    let me = bench_process(host);
    let mut per_process = Vec::new();
    for component in ["empty-script", "hello", "hello-source"] {
        let start = time::now();
        for _ in 0..total {
            host.spawn_monitor(&me, component, br#"{"quiet": true}"#.to_vec())
                .expect("spawn");
            await_downs(&me, 1).await;
        }
        let elapsed = time::now() - start;
        let each_us = elapsed.as_secs_f64() * 1e6 / total as f64;
        per_process.push(each_us);
        let (how, what) = match component {
            "empty-script" => ("empty", "the runner with an empty module"),
            "hello" => ("bytecode", "hello-ts's bundle as bytecode"),
            _ => ("source", "hello-ts's bundle as JavaScript source"),
        };
        println!(
            "typescript   cold start ({how:<8}) {each_us:>9.0} us   ({total} processes, one at a time: {what})"
        );
    }
    println!(
        "typescript   source / bytecode      {:>9.2}x",
        per_process[2] / per_process[1]
    );
}

/// The memory an idle TypeScript process holds: the node's resident set
/// before and after `count` hello-ts processes that wait in `receive`.
async fn idle_script_memory(host: &Host, count: usize) {
    let me = bench_process(host);
    let before = resident_bytes();
    let init = format!(r#"{{"idle": {}}}"#, me.pid().as_raw());
    let mut pids = Vec::new();
    for _ in 0..count {
        pids.push(
            host.spawn_monitor(&me, "hello", init.clone().into_bytes())
                .expect("spawn")
                .0,
        );
    }
    let mut up = 0;
    while up < count {
        if let Message::Data { .. } = me.receive().await {
            up += 1;
        }
    }
    let after = resident_bytes();
    for pid in pids {
        me.exit(pid, ExitReason::Killed).expect("kill");
    }
    await_downs(&me, count).await;
    println!(
        "typescript   idle process memory  {:>9.0} KiB  (resident set growth over {count} hello-ts processes waiting in receive)",
        (after.saturating_sub(before)) as f64 / count as f64 / 1024.0
    );
}

/// This process's resident set, from /proc.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("statm's resident field");
    pages * 4096
}
