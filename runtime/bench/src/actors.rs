//! The actor figures: rusm's (the native actor core, Rust components,
//! TypeScript components) measured in this process, beside the same
//! programs in Erlang/OTP (`peers/erlang/rusm_peer.erl`), plus figures
//! rusm has no peer for here (service calls, kv, pub/sub, cold starts).

use std::sync::Arc;

use rusm_config::{Capabilities, Runtime};
use rusm_core::{Event, ExitReason, Limits, Message, Node, Observer, Pid, Process};
use rusm_host::{ComponentSource, Host, Resident, Script};
use rusm_rt::time::{self, Duration};

use crate::peers::{self, Peers};
use crate::report::Row;
use crate::{bounded, per_second, percentiles, repo};

/// Processes spawned at once in the spawn benchmarks (below every limit).
const BATCH: usize = 1_000;
const CORE_SPAWNS: usize = 200_000;
const COMPONENT_SPAWNS: usize = 5_000;
const SCRIPT_SPAWNS: usize = 2_000;
const CORE_ROUNDS: usize = 200_000;
const GUEST_ROUNDS: usize = 50_000;
const RESTARTS: usize = 2_000;
/// Idle processes held at once for their memory per process.
const IDLE_COMPONENTS: usize = 10_000;
const IDLE_SCRIPTS: usize = 2_000;

/// One kind of component's process figures alone, with no peer: what a
/// profile of that path runs (`--only typescript`: spawn+exit, cold
/// starts, idle memory; `--only rust`: spawn+exit beside the floor,
/// ping-pong, crash and restart).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Alone {
    TypeScript,
    Rust,
}

/// Spawn, ping-pong and supervised restarts beside Erlang's; then the
/// figures of rusm's own. With `alone`, just that kind's figures.
pub fn run(peers: &Peers, rows: &mut Vec<Row>, alone: Option<Alone>) {
    // Profiling one path needs no peer.
    let erlang = peers
        .erlang
        .as_ref()
        .filter(|_| alone.is_none())
        .map(|erlang| {
            println!("erlang: spawn+exit, ping-pong, supervised restarts ({RUNS} runs) ...");
            let runs: Vec<_> = (0..RUNS)
                .map(|_| peers::erlang(erlang, CORE_SPAWNS, CORE_ROUNDS, RESTARTS))
                .collect();
            // Each figure's median over the runs.
            let mut figures = runs[0].clone();
            for (key, value) in &mut figures {
                let mut values: Vec<f64> = runs
                    .iter()
                    .filter_map(|run| run.get(key).copied())
                    .collect();
                values.sort_by(f64::total_cmp);
                *value = values[values.len() / 2];
            }
            figures
        });
    // A row's Erlang figure, by the key the peer prints it under.
    let erlang = |key: &str| {
        (
            "Erlang/OTP".to_string(),
            erlang.as_ref().map(|figures| {
                *figures
                    .get(key)
                    .unwrap_or_else(|| panic!("the Erlang peer printed no {key}"))
            }),
        )
    };
    let restarts = Arc::new(RestartCounter::default());
    // Built before the runtime starts: precompiling scripts runs a node of
    // its own.
    let host = host(restarts.clone());
    let mut add = |row: Row| {
        println!("  {}", row.progress());
        rows.push(row);
    };
    rusm_rt::block_on(async {
        let spawn = "spawn+exit";
        let spawns = || erlang("spawn_exit_per_s");
        let ts = "TypeScript component";
        let hello = || component_spawn_exit(&host, "hello", br#"{"quiet": true}"#, SCRIPT_SPAWNS);
        let hello = || median_run(hello, |per_s| *per_s);
        let faulty = || component_spawn_exit(&host, "faulty", br#""normal""#, COMPONENT_SPAWNS);
        let faulty = || median_run(faulty, |per_s| *per_s);
        let floor = || component_spawn_exit(&host, FLOOR, b"", COMPONENT_SPAWNS);
        let floor = || median_run(floor, |per_s| *per_s);
        let engine_floor = || median_run(|| engine_floor(&host, COMPONENT_SPAWNS), |per_s| *per_s);
        let (trivial, wasmtime_alone) = (
            "trivial component (floor)",
            "wasmtime alone, trivial component",
        );
        if alone == Some(Alone::TypeScript) {
            add(Row::higher(spawn, "/s", ts, hello().await).against(spawns()));
            script_figures(&host, &mut add).await;
            return;
        }
        // Alone, the Rust component's rows run without their peer.
        let all = alone.is_none();
        let against = |row: Row, key: &str| if all { row.against(erlang(key)) } else { row };
        let native = "actor core (native)";
        if all {
            let core = median_run(|| core_spawn_exit(CORE_SPAWNS), |per_s| *per_s).await;
            add(Row::higher(spawn, "/s", native, core).against(spawns()));
        }
        let spawn_exit = "spawn_exit_per_s";
        add(against(
            Row::higher(spawn, "/s", "Rust component", faulty().await),
            spawn_exit,
        ));
        add(against(
            Row::higher(spawn, "/s", trivial, floor().await),
            spawn_exit,
        ));
        add(against(
            Row::higher(spawn, "/s", wasmtime_alone, engine_floor().await),
            spawn_exit,
        ));
        if all {
            add(Row::higher(spawn, "/s", ts, hello().await).against(spawns()));
        }

        let mut ping_pong = |rusm: &str, (per_s, p50, p99): (f64, f64, f64)| {
            let rt = "ping-pong round trip";
            add(against(
                Row::higher(rt, "/s", rusm, per_s),
                "round_trips_per_s",
            ));
            add(against(
                Row::lower("ping-pong p50", "us", rusm, p50),
                "round_trip_p50_us",
            ));
            add(against(
                Row::lower("ping-pong p99", "us", rusm, p99),
                "round_trip_p99_us",
            ));
        };
        let rate = |(per_s, _, _): &(f64, f64, f64)| *per_s;
        if all {
            ping_pong(
                native,
                median_run(|| core_round_trips(CORE_ROUNDS), rate).await,
            );
        }
        let guests = median_run(|| guest_round_trips(&host, GUEST_ROUNDS), rate).await;
        ping_pong("two Rust components", guests);

        let announce = |me: Pid| format!(r#"{{"idle": {{"to": {}}}}}"#, me.as_raw());
        let idle = idle_memory(
            &host,
            "faulty",
            announce,
            IDLE_COMPONENTS,
            peers::proportional_bytes,
        );
        add(Row::lower(
            "idle Rust process, PSS",
            "KiB",
            "faulty in receive, 10,000 held",
            bounded("idle memory", idle).await,
        ));

        let restarted = || supervised_restarts(&host, &restarts, RESTARTS);
        let per_s = median_run(restarted, |per_s| *per_s).await;
        let resident = "Rust component, resident";
        add(against(
            Row::higher("crash and restart", "/s", resident, per_s),
            "restarts_per_s",
        ));
        if !all {
            return;
        }

        let (per_s, p50, p99) = bounded("service calls", service_calls(&host, 20_000)).await;
        let calls = "two Rust components (calc.add)";
        add(Row::higher("service call", "/s", calls, per_s));
        add(Row::lower("service call p50", "us", calls, p50));
        add(Row::lower("service call p99", "us", calls, p99));
        let kv = "kv read-modify-write, durable";
        add(Row::higher(
            kv,
            "/s",
            "1 writer",
            bounded("kv", kv_read_modify_writes(&host, 1, 2_000)).await,
        ));
        add(Row::higher(
            kv,
            "/s",
            "16 writers",
            bounded("kv", kv_read_modify_writes(&host, 16, 250)).await,
        ));
        let fan_out = bounded("pub/sub", pubsub_fan_out(&host, 1_000, 200)).await;
        add(Row::higher(
            "pub/sub delivery",
            "/s",
            "1 topic, 1,000 subscribers",
            fan_out,
        ));
        script_figures(&host, &mut add).await;
    });
}

/// The figures of TypeScript processes of rusm's own.
async fn script_figures(host: &Host, add: &mut impl FnMut(Row)) {
    let [empty, bytecode, source] = bounded("cold starts", script_cold_start(host, 500)).await;
    let cold = "TypeScript cold start";
    add(Row::lower(cold, "us", "runner, empty module", empty));
    add(Row::lower(cold, "us", "hello-ts from bytecode", bytecode));
    add(Row::lower(cold, "us", "hello-ts from source", source));
    let announce = |me: Pid| format!(r#"{{"idle": {}}}"#, me.as_raw());
    let idle = idle_memory(host, "hello", announce, 500, peers::resident_bytes);
    let idle = bounded("idle memory", idle).await;
    add(Row::lower(
        "idle TypeScript process",
        "KiB",
        "hello-ts in receive",
        idle,
    ));
    let idle = idle_memory(
        host,
        "hello",
        announce,
        IDLE_SCRIPTS,
        peers::proportional_bytes,
    );
    let idle = bounded("idle memory", idle).await;
    add(Row::lower(
        "idle TypeScript process, PSS",
        "KiB",
        "hello-ts in receive, 2,000 held",
        idle,
    ));
}

/// Each figure paired with Erlang's is measured this many times, on both
/// sides, and the median run reported: one run on a shared machine can be
/// off by half.
const RUNS: usize = 3;

/// The median of `RUNS` runs of `run`, by `rate`.
async fn median_run<T, F: Future<Output = T>>(
    mut run: impl FnMut() -> F,
    rate: impl Fn(&T) -> f64,
) -> T {
    let mut results = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        results.push(bounded("an actor figure", run()).await);
    }
    results.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
    results.swap_remove(RUNS / 2)
}

/// Counts the supervisor's restarts, and says when there have been enough.
#[derive(Default)]
struct RestartCounter {
    awaited: std::sync::Mutex<Option<AwaitedRestarts>>,
}

struct AwaitedRestarts {
    left: usize,
    done: rusm_rt::sync::oneshot::Sender<()>,
}

impl RestartCounter {
    /// A receiver that completes once `count` more restarts happened.
    fn after(&self, count: usize) -> rusm_rt::sync::oneshot::Receiver<()> {
        let (done, wait) = rusm_rt::sync::oneshot::channel();
        *self.awaited.lock().expect("the counter") = Some(AwaitedRestarts { left: count, done });
        wait
    }
}

impl Observer for RestartCounter {
    fn event(&self, event: Event<'_>) {
        if let Event::Restarted { .. } = event {
            let mut awaited = self.awaited.lock().expect("the counter");
            if let Some(a) = awaited.as_mut() {
                a.left -= 1;
                if a.left == 0
                    && let Some(a) = awaited.take()
                {
                    let _ = a.done.send(());
                }
            }
        }
    }
}

async fn await_downs(me: &Process, mut count: usize) {
    while count > 0 {
        if let Message::Down { .. } = me.receive().await {
            count -= 1;
        }
    }
}

/// Processes that return at once, monitored, `BATCH` at a time: each
/// batch's downs are awaited before the next (as the Erlang peer does).
async fn core_spawn_exit(total: usize) -> f64 {
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
    per_second(total, time::now() - start)
}

/// A pinger process sends bytes to an echo process and waits for them to
/// come back, `rounds` times, timing each: (round trips/s, p50 us, p99 us).
async fn core_round_trips(rounds: usize) -> (f64, f64, f64) {
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
    node.shutdown();
    (per_second(rounds, elapsed), p50, p99)
}

/// A host with the components of the apps the benchmarks use, built for
/// the occasion, its kv store in a fresh file, `faulty` resident (it traps
/// at once, so its supervisor restarts it until told otherwise). Also
/// `empty-script`: hello-ts's runner with an empty module, and
/// `hello-source`: hello-ts's `hello` run from its bundle's source rather
/// than its bytecode.
fn host(observer: Arc<dyn Observer>) -> Host {
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
        rusm_app::build(&dir, None).expect("rusm build");
        let app = rusm_app::App::load(&dir).expect("the app loads");
        for component in app.components() {
            // The app's grants, but quiet: guest output would only add noise.
            let capabilities = Capabilities {
                allow_stdio: false,
                ..component.capabilities.clone()
            };
            if component.name == "hello" {
                // The runner alone: QuickJS, the prelude, an empty module.
                components.push(ComponentSource {
                    name: "empty-script".into(),
                    wasm: component.wasm.clone(),
                    capabilities: capabilities.clone(),
                    script: Some(Script::source(&b"export default () => {};"[..])),
                });
                let source = dir.join("wasm/hello.js");
                components.push(ComponentSource {
                    name: "hello-source".into(),
                    wasm: component.wasm.clone(),
                    capabilities: capabilities.clone(),
                    script: Some(Script::source(std::fs::read(source).expect("hello.js"))),
                });
            }
            components.push(ComponentSource {
                capabilities,
                ..component.clone()
            });
        }
    }
    components.push(ComponentSource {
        name: FLOOR.into(),
        wasm: floor_component(),
        capabilities: Capabilities::default(),
        script: None,
    });
    let settings = Runtime {
        max_processes: IDLE_COMPONENTS + 16,
        // The bench process hears from every idle process at once.
        mailbox_len: 2 * IDLE_COMPONENTS,
        // Ten thousand idle processes fit (see the function).
        memory_budget_mib: Some(peers::three_quarters_of_the_machine_mib()),
        ..Runtime::default()
    };
    // A real file on this machine's disk: every write is an fsync.
    let store = std::env::temp_dir().join(format!("rusm-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store);
    Host::builder(settings)
        .cache_dir(repo().join("target/rusm-cache"))
        .storage(&store, &rusm_config::Storage::default())
        .observer(observer)
        .build(components)
        .expect("host")
}

/// The trivial component's name in the bench's host.
const FLOOR: &str = "floor";

/// `floor.wat` as a component binary.
fn floor_wasm() -> Vec<u8> {
    wat::parse_str(include_str!("floor.wat")).expect("floor.wat parses")
}

/// `floor.wat`'s binary written under `target/`, for the host to load like
/// any other component.
fn floor_component() -> std::path::PathBuf {
    let path = repo().join("target/rusm-bench/floor.wasm");
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("target/rusm-bench");
    std::fs::write(&path, floor_wasm()).expect("write floor.wasm");
    path
}

/// The engine's own floor: the trivial component instantiated, run and
/// dropped `total` times, one after the other, straight on the host's
/// engine (the same pool and preemption) with no process, table or monitor
/// around it.
async fn engine_floor(host: &Host, total: usize) -> f64 {
    let engine = host.engine();
    let component =
        wasmtime::component::Component::new(engine, floor_wasm()).expect("compile the floor");
    let linker = wasmtime::component::Linker::<()>::new(engine);
    let pre = linker
        .instantiate_pre(&component)
        .expect("the floor imports nothing");
    // Looked up once, as the host's `CommandPre` does for every component.
    let run = component
        .get_export_index(None, "wasi:cli/run@0.2.0")
        .and_then(|cli| component.get_export_index(Some(&cli), "run"))
        .expect("the floor exports run");
    let start = time::now();
    for _ in 0..total {
        let mut store = wasmtime::Store::new(engine, ());
        // The host's engine meters fuel or epochs, as its processes are;
        // whichever is off refuses its setting, harmlessly.
        let _ = store.set_fuel(u64::MAX);
        store.set_epoch_deadline(u64::MAX / 2);
        let instance = pre
            .instantiate_async(&mut store)
            .await
            .expect("instantiate");
        let run = instance
            .get_typed_func::<(), (Result<(), ()>,)>(&mut store, &run)
            .expect("run: func() -> result");
        let (outcome,) = run.call_async(&mut store, ()).await.expect("run");
        assert_eq!(outcome, Ok(()), "the floor returns ok");
    }
    per_second(total, time::now() - start)
}

/// The benchmark's own process on `host`: it spawns, monitors and listens.
fn bench_process(host: &Host) -> Process {
    host.node()
        .attach("bench")
        .expect("spawn the bench process")
}

/// `total` instances of `component` given `init`, each ending at once,
/// `BATCH / 4` at a time.
async fn component_spawn_exit(host: &Host, component: &str, init: &[u8], total: usize) -> f64 {
    let me = bench_process(host);
    let start = time::now();
    let batch = BATCH / 4;
    for _ in 0..total / batch {
        for _ in 0..batch {
            host.spawn_monitor(&me, component, init.to_vec())
                .expect("spawn");
        }
        await_downs(&me, batch).await;
    }
    per_second(total, time::now() - start)
}

/// examples/ping-pong: ping spawns pong and plays `rounds` JSON round
/// trips, timing each by the host's clock, and reports.
async fn guest_round_trips(host: &Host, rounds: usize) -> (f64, f64, f64) {
    let me = bench_process(host);
    let init = format!(
        r#"{{"rounds": {rounds}, "linger_ms": 0, "report": {}}}"#,
        me.pid()
    );
    host.spawn("ping", init.into_bytes()).expect("spawn ping");
    #[derive(serde::Deserialize)]
    struct Timings {
        rounds: u32,
        total_ns: u64,
        p50_ns: u64,
        p99_ns: u64,
    }
    let Message::Data { bytes, .. } = me.receive().await else {
        panic!("ping reports its timings");
    };
    let t: Timings = serde_json::from_slice(&bytes).expect("ping's timings");
    (
        f64::from(t.rounds) / (t.total_ns as f64 / 1e9),
        t.p50_ns as f64 / 1e3,
        t.p99_ns as f64 / 1e3,
    )
}

/// `faulty` is resident and traps as soon as it starts: timed until its
/// supervisor has restarted it `total` times (its restart intensity is set
/// so it never gives up), then it is left to give up.
async fn supervised_restarts(host: &Host, counter: &RestartCounter, total: usize) -> f64 {
    let enough = counter.after(total);
    let start = time::now();
    host.start_residents(vec![Resident {
        component: "faulty".into(),
        init: br#""trap""#.to_vec(),
        max_restarts: total as u32,
        window: Duration::from_secs(3600),
    }])
    .expect("the resident");
    enough.await.expect("the restarts are counted");
    per_second(total, time::now() - start)
}

/// `#[rusm_rs::service]` calls between two guests: the client times each
/// call inside the guest (its clock is the host's) and reports:
/// (calls/s, p50 us, p99 us).
async fn service_calls(host: &Host, calls: u32) -> (f64, f64, f64) {
    let me = bench_process(host);
    // The client spawns its calc itself. Spawning calc here too raced: a
    // client that looked for "calc" before it was registered spawned a
    // second one, which died on the taken name under the client's calls,
    // and the figure hung (seen once in four full runs).
    let init = format!(
        r#"{{"mode": {{"bench": {{"calls": {calls}}}}}, "report": {}}}"#,
        me.pid()
    );
    host.spawn_monitor(&me, "client", init.into_bytes())
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
    let bytes = match me.receive().await {
        Message::Data { bytes, .. } => bytes,
        Message::Down { reason, .. } => panic!("the client ended before reporting: {reason}"),
        other => panic!("the client reports its figures first, not {other:?}"),
    };
    let Report::Bench {
        calls,
        total_us,
        p50_us,
        p99_us,
    } = serde_json::from_slice(&bytes).expect("a bench report");
    (
        f64::from(calls) / (total_us as f64 / 1e6),
        p50_us as f64,
        p99_us as f64,
    )
}

/// Durable read-modify-write: `writers` ledger processes each increment a
/// counter of their own `times` times (a kv get, then a set that returns
/// once it is on disk).
async fn kv_read_modify_writes(host: &Host, writers: u32, times: u64) -> f64 {
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
    per_second(writers as usize * times as usize, time::now() - start)
}

/// Pub/sub fan-out: a broker guest publishes `messages` messages to one
/// topic of a `Topics` with `subscribers` subscriber processes; timed from
/// the moment all are subscribed until every subscriber has every message.
async fn pubsub_fan_out(host: &Host, subscribers: u32, messages: u32) -> f64 {
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
    per_second(subscribers as usize * messages as usize, elapsed)
}

/// A TypeScript process that starts and ends at once, one at a time so
/// each figure is one process's whole life, in us: the runner with an
/// empty module (its own floor), then hello-ts's `hello` (its bundle with
/// rusm-ts and @noble/hashes) from bytecode and from source.
async fn script_cold_start(host: &Host, total: usize) -> [f64; 3] {
    let me = bench_process(host);
    let each = |component: &'static str| {
        let me = &me;
        async move {
            let start = time::now();
            for _ in 0..total {
                host.spawn_monitor(me, component, br#"{"quiet": true}"#.to_vec())
                    .expect("spawn");
                await_downs(me, 1).await;
            }
            (time::now() - start).as_secs_f64() * 1e6 / total as f64
        }
    };
    [
        each("empty-script").await,
        each("hello").await,
        each("hello-source").await,
    ]
}

/// The memory an idle process holds, in KiB: what `measure` says the node
/// holds before and after `count` processes of `component` that announce
/// themselves with a message and then wait in `receive`.
async fn idle_memory(
    host: &Host,
    component: &str,
    init: impl Fn(Pid) -> String,
    count: usize,
    measure: fn(u32) -> u64,
) -> f64 {
    let me = bench_process(host);
    let before = measure(std::process::id());
    let init = init(me.pid());
    let mut pids: Vec<Pid> = Vec::new();
    for _ in 0..count {
        pids.push(
            host.spawn_monitor(&me, component, init.clone().into_bytes())
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
    let after = measure(std::process::id());
    for pid in pids {
        me.exit(pid, ExitReason::Killed).expect("kill");
    }
    await_downs(&me, count).await;
    after.saturating_sub(before) as f64 / count as f64 / 1024.0
}
