//! Real guest components on the real host: the examples are built with
//! `rusm build`'s code for wasm32-wasip2 and run under wasmtime.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rusm_config::{AppConfig, Capabilities, Preemption, Runtime};
use rusm_core::{Event, ExitReason, Message, Observer, Pid, Process};
use rusm_host::{ComponentSource, Host};
use rusm_rt::time::Duration;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds an example app once per test binary; all apps share one target
/// directory so rusm-rs compiles once.
fn built(app: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<BTreeMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap();
    built
        .entry(app.to_string())
        .or_insert_with(|| {
            let dir = repo().join("examples").join(app);
            rusm_build::build_app(&dir, Some(&repo().join("target/guests"))).expect("guest build");
            dir
        })
        .clone()
}

/// Every component of `app`, with the given profile for each.
fn components(app: &str, capabilities: impl Fn(&str) -> Capabilities) -> Vec<ComponentSource> {
    let dir = built(app);
    rusm_build::rust_components(&dir)
        .unwrap()
        .into_iter()
        .map(|name| ComponentSource {
            wasm: dir.join("wasm").join(format!("{name}.wasm")),
            script: None,
            capabilities: capabilities(&name),
            name,
        })
        .collect()
}

/// A host of `app`'s components, each granted `capabilities`, and the
/// test's own process on it. Call it inside the runtime.
fn host_and_me(app: &str, capabilities: Capabilities) -> (Host, Process) {
    let host = Host::builder(settings())
        .build(components(app, |_| capabilities.clone()))
        .unwrap();
    let me = host.node().attach("test").unwrap();
    (host, me)
}

fn settings() -> Runtime {
    Runtime {
        max_processes: 64,
        memory_limit_mib: 16,
        max_message_bytes: 64 << 10,
        ..Runtime::default()
    }
}

#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl Observer for Log {
    fn event(&self, event: Event<'_>) {
        self.0.lock().unwrap().push(event.to_string());
    }
}

impl Log {
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// The next message of the test's process; a failure, not a hang, if the
/// node ended that process (say, its mailbox overflowed).
async fn next(me: &Process) -> Message {
    rusm_rt::select! {
        message = me.receive() => message,
        reason = me.exited() => panic!("the test's own process ended: {reason}"),
    }
}

/// The reason in the next message, which must be the `down` of `pid`.
async fn down_of(me: &Process, pid: Pid) -> ExitReason {
    match next(me).await {
        Message::Down {
            pid: down, reason, ..
        } if down == pid => reason,
        other => panic!("expected the down of {pid}, got {other:?}"),
    }
}

fn ping_pong_host(log: Arc<Log>) -> Host {
    let config = AppConfig::load(&built("ping-pong")).unwrap();
    Host::builder(settings())
        .observer(log)
        .build(components("ping-pong", |name| config.capabilities(name)))
        .unwrap()
}

#[test]
fn ping_and_pong_play_their_rounds_and_pong_heartbeats_while_idle() {
    rusm_rt::block_on(async {
        let log = Arc::new(Log::default());
        let host = ping_pong_host(log.clone());
        let me = host.node().attach("test").unwrap();
        let (ping, _) = host
            .spawn_monitor(&me, "ping", br#"{"rounds": 5, "linger_ms": 250}"#.to_vec())
            .unwrap();
        assert_eq!(down_of(&me, ping).await, ExitReason::Normal);
        let lines = log.lines();
        assert!(lines.contains(&"spawn ping#2".to_string()), "{lines:#?}");
        assert!(lines.contains(&"spawn pong#3".to_string()), "{lines:#?}");
        assert!(
            lines.contains(&"exit pong#3 normal".to_string()),
            "{lines:#?}"
        );
        // Five pings and a stop reach pong; five pongs reach ping.
        let to = |pid: u32| {
            lines
                .iter()
                .filter(|l| l.starts_with(&format!("deliver {pid} data")))
                .count()
        };
        assert_eq!((to(3), to(2)), (6, 5), "{lines:#?}");
        // pong's receive-timeout heartbeat fired while ping lingered.
        assert!(lines.contains(&"timeout 3".to_string()), "{lines:#?}");
        assert_eq!(
            host.node().process_count(),
            1,
            "only the test's own process is left"
        );
    });
}

#[test]
fn every_import_behaves_as_erlang_says_when_called_from_a_guest() {
    rusm_rt::block_on(async {
        let (host, me) = host_and_me("abi", Capabilities::trusted());
        let (pid, _) = host
            .spawn_monitor(&me, "exercise", br#""main""#.to_vec())
            .unwrap();
        assert_eq!(down_of(&me, pid).await, ExitReason::Normal);
    });
}

#[test]
fn each_kind_of_misbehaviour_ends_only_its_process_with_the_right_reason() {
    rusm_rt::block_on(async {
        let (host, me) = host_and_me("faults", Capabilities::default());
        type Expected = Box<dyn Fn(&ExitReason) -> bool>;
        let cases: Vec<(&str, Expected)> = vec![
            (r#""normal""#, Box::new(|r| *r == ExitReason::Normal)),
            (
                r#""trap""#,
                Box::new(|r| matches!(r, ExitReason::Trap(m) if m.contains("unreachable"))),
            ),
            (
                r#""panic""#,
                Box::new(
                    |r| matches!(r, ExitReason::Trap(m) if m.contains("boom") && m.contains("main.rs")),
                ),
            ),
            (r#""oom""#, Box::new(|r| *r == ExitReason::OutOfMemory)),
            (
                r#""stack-overflow""#,
                Box::new(|r| *r == ExitReason::Trap("stack overflow".into())),
            ),
            (
                r#"{"big-send": {"bytes": 70000}}"#,
                Box::new(|r| {
                    *r == ExitReason::Trap(
                        "send: message of 70000 bytes exceeds the limit of 65536 bytes".into(),
                    )
                }),
            ),
            (
                r#""bad-pid""#,
                Box::new(|r| {
                    *r == ExitReason::Trap(format!(
                        "send: pid {} was never issued by this node",
                        u64::MAX
                    ))
                }),
            ),
            (
                r#"42"#,
                Box::new(
                    |r| matches!(r, ExitReason::Trap(m) if m.contains("init payload \"42\" does not decode")),
                ),
            ),
        ];
        let pids: Vec<Pid> = cases
            .iter()
            .map(|(init, _)| {
                host.spawn_monitor(&me, "faulty", init.as_bytes().to_vec())
                    .unwrap()
                    .0
            })
            .collect();
        // Downs arrive in whatever order the processes end.
        let mut reasons = BTreeMap::new();
        while reasons.len() < pids.len() {
            if let Message::Down { pid, reason, .. } = next(&me).await {
                reasons.insert(pid, reason);
            }
        }
        for ((init, expected), pid) in cases.iter().zip(pids) {
            let reason = &reasons[&pid];
            assert!(expected(reason), "{init}: unexpected reason {reason:?}");
        }
        assert!(
            host.node().is_alive(me.pid()),
            "the node and other processes go on"
        );
        assert_eq!(host.node().process_count(), 1);
    });
}

#[test]
fn every_process_starts_from_a_fresh_memory_whoever_used_its_pool_slot_before() {
    rusm_rt::block_on(async {
        let (host, me) = host_and_me("faults", Capabilities::default());
        let init = format!(r#"{{"residue": {{"to": {}}}}}"#, me.pid().as_raw());
        // One after the other, so that each reuses the slot (and its pages
        // kept resident) of the one before, which scribbled over them.
        for round in 0..20 {
            let (pid, _) = host
                .spawn_monitor(&me, "faulty", init.clone().into_bytes())
                .unwrap();
            let Message::Data { bytes, .. } = next(&me).await else {
                panic!("round {round}: the residue report comes first");
            };
            let [data, bss, grown]: [usize; 3] = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(
                (data, bss, grown),
                (0, 0, 0),
                "round {round}: bytes left by an earlier process (data, bss, grown page)"
            );
            assert_eq!(down_of(&me, pid).await, ExitReason::Normal);
        }
    });
}

#[test]
fn a_guest_that_never_yields_is_preempted_and_others_progress_with_fuel_and_with_epochs() {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    for preemption in [Preemption::Fuel, Preemption::Epoch] {
        rusm_rt::block_on(async {
            let settings = Runtime {
                preemption,
                max_processes: 64.max(workers + 8),
                ..settings()
            };
            let host = Host::builder(settings)
                .build(components("faults", |_| Capabilities::default()))
                .unwrap();
            let me = host.node().attach("test").unwrap();
            // More busy guests than runtime worker threads (the test runtime
            // has one per core), on any machine: without preemption some
            // would never run.
            let ticker = format!(
                r#"{{"ticker": {{"to": {}, "every": 200000, "count": 3}}}}"#,
                me.pid()
            );
            let tickers: Vec<Pid> = (0..workers + 2)
                .map(|_| {
                    host.spawn_monitor(&me, "faulty", ticker.clone().into_bytes())
                        .unwrap()
                        .0
                })
                .collect();
            let mut ticks: BTreeMap<Pid, u32> = BTreeMap::new();
            while tickers
                .iter()
                .any(|p| ticks.get(p).copied().unwrap_or(0) < 3)
            {
                match next(&me).await {
                    Message::Data { from, .. } => *ticks.entry(from).or_default() += 1,
                    other => panic!("{preemption:?}: a ticker ended early: {other:?}"),
                }
            }
            for &pid in &tickers {
                me.exit(pid, ExitReason::Killed).unwrap();
            }
            // Ticks sent before the kills may still be queued ahead of the downs.
            let mut downs = BTreeMap::new();
            while downs.len() < tickers.len() {
                if let Message::Down { pid, reason, .. } = next(&me).await {
                    downs.insert(pid, reason);
                }
            }
            assert!(
                downs.values().all(|r| *r == ExitReason::Killed),
                "{preemption:?}: {downs:?}"
            );
        });
    }
}

#[test]
fn with_a_fuel_budget_a_spinning_guest_ends_out_of_fuel() {
    rusm_rt::block_on(async {
        let settings = Runtime {
            max_fuel: Some(50_000_000),
            ..settings()
        };
        let host = Host::builder(settings)
            .build(components("faults", |_| Capabilities::default()))
            .unwrap();
        let me = host.node().attach("test").unwrap();
        let (spinner, _) = host
            .spawn_monitor(&me, "faulty", br#""spin""#.to_vec())
            .unwrap();
        assert_eq!(down_of(&me, spinner).await, ExitReason::OutOfFuel);
    });
}

#[test]
fn a_guest_sleeping_on_its_wasi_clock_wakes_and_its_clock_saw_the_time_pass() {
    rusm_rt::block_on(async {
        let (host, me) = host_and_me("faults", Capabilities::default());
        let init = format!(r#"{{"sleep": {{"to": {}, "ms": 30}}}}"#, me.pid());
        let (sleeper, _) = host
            .spawn_monitor(&me, "faulty", init.into_bytes())
            .unwrap();
        let slept_ms: u64 = match next(&me).await {
            Message::Data { bytes, .. } => serde_json::from_slice(&bytes).unwrap(),
            other => panic!("expected the sleeper's report, got {other:?}"),
        };
        assert!(slept_ms >= 30, "{slept_ms}");
        assert_eq!(down_of(&me, sleeper).await, ExitReason::Normal);
    });
}

#[test]
fn a_guest_blocked_in_receive_can_be_killed_and_its_monitors_see_it() {
    rusm_rt::block_on(async {
        let host = ping_pong_host(Arc::new(Log::default()));
        let me = host.node().attach("test").unwrap();
        let (pong, _) = host
            .spawn_monitor(&me, "pong", br#"{"heartbeat_ms": 3600000}"#.to_vec())
            .unwrap();
        rusm_rt::time::sleep(Duration::from_millis(20)).await;
        me.exit(pong, ExitReason::Killed).unwrap();
        assert_eq!(down_of(&me, pong).await, ExitReason::Killed);
    });
}

#[test]
fn spawning_an_unknown_component_is_a_clear_error() {
    rusm_rt::block_on(async {
        let host = ping_pong_host(Arc::new(Log::default()));
        let err = host.spawn("pnog", vec![]).unwrap_err().to_string();
        assert_eq!(err, "no component named \"pnog\" (the app has: ping, pong)");
    });
}

/// Compiled components are cached on disk by content, each with its
/// digest, and loaded only as they were written: a file truncated (a crash
/// mid-copy) or with one byte changed (a bad disk) is compiled again and
/// rewritten, and the component runs; so is one whose digest is missing.
#[test]
fn compiled_components_are_cached_on_disk_by_content_and_loaded_only_as_written() {
    let cache = std::env::temp_dir().join(format!("rusm-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let boot_and_run = || {
        let host = Host::builder(settings())
            .cache_dir(&cache)
            .build(components("faults", |_| Capabilities::default()))
            .unwrap();
        let reason = rusm_rt::block_on(host.run("test", "faulty", br#""normal""#.to_vec()));
        assert_eq!(reason.unwrap(), ExitReason::Normal);
    };
    let compiled = || -> Vec<PathBuf> {
        std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
            .collect()
    };
    for round in 0..2 {
        boot_and_run();
        assert_eq!(compiled().len(), 1, "round {round}: one compiled component");
        assert_eq!(
            std::fs::read_dir(&cache).unwrap().count(),
            2,
            "and its digest"
        );
    }
    let path = &compiled()[0];
    let good = std::fs::read(path).unwrap();
    let truncated = good[..good.len() / 2].to_vec();
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0xff;
    for bad in [truncated, flipped] {
        std::fs::write(path, &bad).unwrap();
        boot_and_run();
        assert!(
            std::fs::read(path).unwrap() == good,
            "compiled again and rewritten"
        );
    }
    std::fs::remove_file(path.with_extension("cwasm.sha256")).unwrap();
    boot_and_run();
    assert!(path.with_extension("cwasm.sha256").is_file());
    std::fs::remove_dir_all(&cache).unwrap();
}

#[test]
fn concurrent_kv_writers_share_commits_and_lose_no_write() {
    let store = std::env::temp_dir().join(format!("rusm-guests-kv-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&store);
    let ledger = || {
        Host::builder(settings())
            .storage(&store, &rusm_config::Storage::default())
            .build(components("ledger", |_| Capabilities {
                storage: true,
                ..Capabilities::default()
            }))
            .unwrap()
    };
    // `writers` processes each increment counter `w<n>` `times` times; each
    // reports its last count.
    async fn increments(host: &Host, writers: u32, times: u64) -> Vec<Vec<u8>> {
        let me = host.node().attach("test").unwrap();
        for writer in 0..writers {
            let init = format!(
                r#"{{"increment": {{"key": "w{writer}", "times": {times}, "report": {}}}}}"#,
                me.pid()
            );
            host.spawn("ledger", init.into_bytes()).unwrap();
        }
        let mut reports = Vec::new();
        for _ in 0..writers {
            match next(&me).await {
                Message::Data { bytes, .. } => reports.push(bytes),
                other => panic!("a writer reports its count, not {other:?}"),
            }
        }
        reports
    }
    rusm_rt::block_on(async {
        let host = ledger();
        let reports = increments(&host, 12, 40).await;
        assert!(reports.iter().all(|r| r == b"40"), "{reports:?}");
        // Every write is on disk: a fresh node on the same file reads them.
        host.shutdown();
        let host = ledger();
        assert_eq!(increments(&host, 1, 1).await, [b"41"]);
    });
    let _ = std::fs::remove_dir_all(&store);
}
