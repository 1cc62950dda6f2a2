//! client: uses calc through the generated `CalcClient`. Its init picks
//! what to do; what it learns it prints and, when `report` names a process,
//! sends there (scenarios and tests read it).

use std::time::{Duration, Instant};

use calc::CalcClient;
use rusm_rs::service::{CallError, Client, ErrorCode};
use rusm_rs::{Pid, send};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Config {
    mode: Mode,
    #[serde(default)]
    report: Option<Pid>,
    /// Stay alive when done (so a scenario can inspect what it holds).
    #[serde(default)]
    stay: bool,
    /// Use this service (calc's TypeScript twin, "calc-ts", say) instead
    /// of calc: the process registered under its name, or a new one.
    #[serde(default)]
    service: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Mode {
    /// Every kind of call once, checked.
    Demo,
    /// Streams `to` items, one every `every_ms`.
    Stream { to: u32, every_ms: u64 },
    /// A call that answers after `slow_ms`, waited for `timeout_ms`; then
    /// an ordinary call.
    Timeout { slow_ms: u64, timeout_ms: u64 },
    /// A fold whose callback takes `callback_ms` per element.
    SlowCallback { xs: Vec<i64>, callback_ms: u64 },
    /// `calls` calls of `add`, timed one by one (the benchmark).
    Bench { calls: u32 },
    /// One `echo` call per tag, each answer checked against its tag.
    Echo { tags: Vec<String> },
    /// `calls` calls of `add`, one every `every_ms`; at the calls numbered
    /// in `crash_at` it crashes calc instead and looks it up again.
    KeepCalling {
        calls: u32,
        every_ms: u64,
        crash_at: Vec<u32>,
    },
}

/// What the client tells its `report` process.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
enum Report {
    Item(u32),
    Done(i64),
    Failed(String),
    Kept {
        ok: u32,
        failed: u32,
    },
    Bench {
        calls: u32,
        total_us: u64,
        p50_us: u64,
        p99_us: u64,
    },
}

#[rusm_rs::main]
fn main(config: Config) {
    let service = config.service.as_deref().unwrap_or("calc");
    let calc = CalcClient::whereis(service).unwrap_or_else(|| {
        CalcClient::new(rusm_rs::spawn(service, b"").expect("spawn the service"))
    });
    let tell = |report: Report| {
        if let Some(to) = config.report {
            send(to, &report);
        }
    };
    run(calc, config.mode, tell);
    if config.stay {
        loop {
            rusm_rs::receive();
        }
    }
}

fn run(calc: CalcClient, mode: Mode, tell: impl Fn(Report)) {
    match mode {
        Mode::Demo => demo(calc),
        Mode::Stream { to, every_ms } => {
            for item in calc.count(to, every_ms) {
                match item {
                    Ok(n) => tell(Report::Item(n)),
                    Err(e) => {
                        println!("client: the stream failed: {e}");
                        tell(Report::Failed(e.to_string()));
                        return;
                    }
                }
            }
            tell(Report::Done(i64::from(to)));
        }
        Mode::Timeout {
            slow_ms,
            timeout_ms,
        } => {
            match calc.with_timeout(timeout_ms).slow(slow_ms) {
                Ok(ms) => tell(Report::Done(ms as i64)),
                Err(e) => {
                    println!("client: {e}");
                    tell(Report::Failed(e.to_string()));
                }
            }
            // calc answers `slow` late, then this: the late answer must not
            // be taken for this one's.
            match calc.total() {
                Ok(total) => tell(Report::Done(total)),
                Err(e) => tell(Report::Failed(e.to_string())),
            }
        }
        Mode::KeepCalling {
            calls,
            every_ms,
            crash_at,
        } => {
            let (mut calc, mut ok, mut failed) = (calc, 0, 0);
            for n in 0..calls {
                std::thread::sleep(Duration::from_millis(every_ms));
                if crash_at.contains(&n) {
                    let _ = calc.crash();
                    calc = look_up_again(calc);
                    continue;
                }
                match calc.add(1) {
                    Ok(_) => ok += 1,
                    Err(e) => {
                        println!("client: call {n} failed: {e}");
                        failed += 1;
                    }
                }
            }
            tell(Report::Kept { ok, failed });
        }
        Mode::Echo { tags } => {
            for tag in &tags {
                match calc.echo(tag.clone()) {
                    Ok(answer) if answer == *tag => {}
                    other => {
                        tell(Report::Failed(format!("asked {tag:?}, got {other:?}")));
                        return;
                    }
                }
            }
            tell(Report::Done(tags.len() as i64));
        }
        Mode::Bench { calls } => {
            let start = Instant::now();
            let mut latencies_us: Vec<u64> = (0..calls)
                .map(|_| {
                    let call = Instant::now();
                    calc.add(1).expect("add answers");
                    call.elapsed().as_micros() as u64
                })
                .collect();
            let total_us = start.elapsed().as_micros() as u64;
            latencies_us.sort_unstable();
            let at = |q: f64| latencies_us[((latencies_us.len() - 1) as f64 * q) as usize];
            tell(Report::Bench {
                calls,
                total_us,
                p50_us: at(0.50),
                p99_us: at(0.99),
            });
        }
        Mode::SlowCallback { xs, callback_ms } => {
            let sum = calc.fold(xs, |(acc, x)| {
                std::thread::sleep(Duration::from_millis(callback_ms));
                acc + x
            });
            match sum {
                Ok(Some(sum)) => tell(Report::Done(sum)),
                Ok(None) => tell(Report::Failed("a callback failed".into())),
                Err(e) => tell(Report::Failed(e.to_string())),
            }
        }
    }
}

/// The calc registered now, once it is another process than `old` (a
/// supervisor restarts it); `old` if none comes within 50 ms.
fn look_up_again(old: CalcClient) -> CalcClient {
    for _ in 0..50 {
        match CalcClient::whereis("calc") {
            Some(calc) if calc.pid() != old.pid() => return calc,
            _ => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    old
}

/// Each kind of call, with what it must answer.
fn demo(calc: CalcClient) {
    check("add 2", calc.add(2), 2);
    check("add 3", calc.add(3), 5);
    calc.reset();
    check("total after reset", calc.total(), 0);
    let items: Result<Vec<u32>, CallError> = calc.count(3, 0).collect();
    check("count 3", items, vec![0, 1, 2]);
    let mut calls = 0;
    let sum = calc.fold(vec![1, 2, 3, 4], |(acc, x)| {
        calls += 1;
        acc + x
    });
    check("fold with a callback", sum, Some(10));
    assert_eq!(calls, 4, "the callback ran once per element");
    let raw = Client::new(calc.pid());
    let unknown: Result<i64, CallError> = raw.call("subtract", (1,));
    check_error("an unknown method", unknown, ErrorCode::UnknownMethod);
    let bad: Result<i64, CallError> = raw.call("add", ("two",));
    check_error("bad arguments", bad, ErrorCode::BadArguments);
    println!("client: every kind of call answered as it should");
}

fn check<T: PartialEq + std::fmt::Debug>(what: &str, got: Result<T, CallError>, want: T) {
    match got {
        Ok(value) if value == want => println!("client: {what} -> {value:?}"),
        other => panic!("{what}: expected {want:?}, got {other:?}"),
    }
}

fn check_error<T: std::fmt::Debug>(what: &str, got: Result<T, CallError>, code: ErrorCode) {
    match got {
        Err(e) if e.code == code => println!("client: {what} -> {e}"),
        other => panic!("{what}: expected a {code} error, got {other:?}"),
    }
}
