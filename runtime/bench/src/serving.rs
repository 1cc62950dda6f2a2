//! The serving figures. Every server runs as a process of its own and
//! gets the same load from this one, over loopback, one server at a time:
//!
//! - rusm serving examples/serve-rs (Rust handlers) and examples/serve-ts
//!   (TypeScript), with `rusm serve`: one fresh process per request and
//!   per WebSocket connection;
//! - `wasmtime serve` on a wasi:http component answering like serve-rs's
//!   `api#show` (one fresh instance per request);
//! - Bun.serve running serve-ts's own handlers, native and unsandboxed.
//!
//! Figures: HTTP hello req/s and p99 over keep-alive connections; with
//! `HELD` WebSocket connections open at once, the memory each holds in
//! the server and echo round trips on all of them; SSE events/s read from
//! `SSE_STREAMS` streams at once.

use std::net::SocketAddr;
use std::process::Command;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rusm_rt::time;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::peers::{self, Peers, Server};
use crate::report::{Better, Row, format_value};
use crate::{bounded, percentiles, repo};

/// Keep-alive connections the HTTP load spreads over.
const CONNECTIONS: usize = 16;
const REQUESTS: usize = 20_000;
/// A TypeScript request costs a QuickJS start: fewer make the figure.
const TS_REQUESTS: usize = 4_000;
/// WebSocket connections held open at once (below rusm's default
/// `max-connections` of 1,024 per listener).
const HELD: usize = 1_000;
const WS_ROUNDS: usize = 20;
/// WebSocket connections held at once for the memory each costs at scale.
const MANY_HELD: usize = 10_000;
const SSE_STREAMS: usize = 200;
const SSE_EVENTS_EACH: usize = 100;

/// What one server was measured at; `None` where it does not serve that.
struct Served {
    http: Option<Latencies>,
    ws: Option<(Latencies, f64)>,
    sse: Option<f64>,
}

/// A rate with its p50/p99 latency in microseconds.
struct Latencies {
    per_second: f64,
    p50_us: f64,
    p99_us: f64,
}

/// Where one server answers each kind of load.
struct Routes {
    http: Option<(SocketAddr, &'static str, &'static [u8], usize)>,
    ws: Option<String>,
    sse: Option<(SocketAddr, &'static str)>,
}

pub fn run(peers: &Peers, rows: &mut Vec<Row>) {
    check_open_files();
    // The served apps, built (and their scripts precompiled) by rusm itself.
    for app in ["serve-rs", "serve-ts"] {
        let built = Command::new(peers::rusm_binary())
            .arg("build")
            .arg(repo().join("examples").join(app))
            .arg("--target-dir")
            .arg(repo().join("target/guests"))
            .status()
            .expect("run rusm build");
        assert!(built.success(), "rusm build examples/{app} failed");
    }
    let address = |a: &str| -> SocketAddr { a.parse().expect("an address") };
    rusm_rt::block_on(async {
        println!("rusm serve examples/serve-rs ...");
        let rust = {
            let http = address("127.0.0.1:8080");
            let ws = address("127.0.0.1:8081");
            let server = Server::rusm(
                "rusm-serve-rs",
                &repo().join("examples/serve-rs"),
                &[http, ws],
            )
            .await;
            let routes = Routes {
                http: Some((http, "/users/7", b"user 7\n", REQUESTS)),
                ws: Some(format!("ws://{ws}/")),
                sse: Some((http, "/events/bench")),
            };
            measure(&server, &routes).await
        };
        println!("rusm serve examples/serve-ts ...");
        let ts = {
            let (sse, web, ws) = (
                address("127.0.0.1:8092"),
                address("127.0.0.1:8090"),
                address("127.0.0.1:8091"),
            );
            let server = Server::rusm(
                "rusm-serve-ts",
                &repo().join("examples/serve-ts"),
                &[sse, web, ws],
            )
            .await;
            let routes = Routes {
                http: Some((web, "/?who=bench", b"hello, bench\n", TS_REQUESTS)),
                ws: Some(format!("ws://{ws}/")),
                sse: Some((sse, "/bench?every_ms=0")),
            };
            measure(&server, &routes).await
        };
        // VmRSS counts every page of the runner's snapshot a handler maps,
        // shared or not: PSS says what the node really holds. On a node of
        // its own: a pool slot keeps the pages its last process dirtied
        // resident, so slots used before would be counted before.
        println!("rusm serve examples/serve-ts, {HELD} WebSockets held ...");
        let ts_held = {
            let ws = address("127.0.0.1:8091");
            let server = Server::rusm(
                "rusm-serve-ts-held",
                &repo().join("examples/serve-ts"),
                &[ws],
            )
            .await;
            let url = format!("ws://{ws}/");
            let held = ws_hold(&server, &url, HELD, Server::proportional_bytes);
            let (_connections, kib) = bounded("WebSockets held", held).await;
            println!("  {} per held connection, PSS", format_value(kib, "KiB"));
            kib
        };
        println!("rusm serve, serve-rs's echo, {MANY_HELD} WebSockets held ...");
        let many = {
            let ws = address("127.0.0.1:8083");
            let server = Server::rusm("rusm-ws-many", &many_ws_app(ws), &[ws]).await;
            let url = format!("ws://{ws}/");
            let held = ws_hold(&server, &url, MANY_HELD, Server::proportional_bytes);
            let (_connections, kib) = bounded("WebSockets held", held).await;
            println!("  {} per held connection, PSS", format_value(kib, "KiB"));
            kib
        };
        let wasmtime = match &peers.wasmtime {
            Some((wasmtime, component)) => {
                println!("wasmtime serve ...");
                let at = address("127.0.0.1:18090");
                let mut command = Command::new(wasmtime);
                command
                    .args(["serve", "--addr", &at.to_string(), "-Scli"])
                    .arg(component);
                let server = Server::start("wasmtime-serve", command, &[at]).await;
                let routes = Routes {
                    http: Some((at, "/users/7", b"user 7\n", REQUESTS)),
                    ws: None,
                    sse: None,
                };
                Some(measure(&server, &routes).await)
            }
            None => None,
        };
        let bun = match &peers.bun {
            Some(bun) => {
                println!("Bun.serve ...");
                let at = address("127.0.0.1:18091");
                let mut command = Command::new(bun);
                command
                    .arg(repo().join("runtime/bench/peers/bun/serve.ts"))
                    .arg(at.port().to_string());
                let server = Server::start("bun", command, &[at]).await;
                let routes = Routes {
                    http: Some((at, "/web?who=bench", b"hello, bench\n", REQUESTS)),
                    ws: Some(format!("ws://{at}/ws")),
                    sse: Some((at, "/events/bench?every_ms=0")),
                };
                Some(measure(&server, &routes).await)
            }
            None => None,
        };
        compare(rows, &rust, &ts, wasmtime.as_ref(), bun.as_ref());
        rows.push(Row::lower(
            "memory per held WebSocket, PSS",
            "KiB",
            "Rust handler, 10,000 held",
            many,
        ));
        rows.push(Row::lower(
            "memory per held WebSocket, PSS",
            "KiB",
            "TypeScript handler, 1,000 held",
            ts_held,
        ));
    });
}

/// The rows: each of rusm's two handlers against each peer that serves
/// the same thing.
fn compare(
    rows: &mut Vec<Row>,
    rust: &Served,
    ts: &Served,
    wasmtime: Option<&Served>,
    bun: Option<&Served>,
) {
    let handlers = [("Rust handler", rust), ("TypeScript handler", ts)];
    // Each peer, and which figures it serves at all (wasmtime serve runs
    // wasi:http components: no WebSocket, and no SSE program here).
    type Serves = fn(&str) -> bool;
    let peers: [(&str, Option<&Served>, Serves); 2] = [
        ("wasmtime serve", wasmtime, |figure| {
            figure.starts_with("HTTP")
        }),
        ("Bun.serve", bun, |_| true),
    ];
    type Pick = fn(&Served) -> Option<f64>;
    let figures: [(&'static str, &'static str, Better, Pick); 6] = [
        ("HTTP hello", "req/s", Better::Higher, |s| {
            s.http.as_ref().map(|l| l.per_second)
        }),
        ("HTTP hello p99", "us", Better::Lower, |s| {
            s.http.as_ref().map(|l| l.p99_us)
        }),
        ("WebSocket echo, 1,000 held", "/s", Better::Higher, |s| {
            s.ws.as_ref().map(|(l, _)| l.per_second)
        }),
        ("WebSocket echo p99, 1,000 held", "us", Better::Lower, |s| {
            s.ws.as_ref().map(|(l, _)| l.p99_us)
        }),
        ("memory per held WebSocket", "KiB", Better::Lower, |s| {
            s.ws.as_ref().map(|(_, kib)| *kib)
        }),
        ("SSE events, 200 streams", "/s", Better::Higher, |s| s.sse),
    ];
    for (figure, unit, better, pick) in figures {
        for (rusm, served) in handlers {
            let Some(rusm_value) = pick(served) else {
                continue;
            };
            for (peer, peer_served, serves) in peers {
                if !serves(figure) {
                    continue;
                }
                rows.push(Row {
                    figure,
                    unit,
                    better,
                    rusm: rusm.to_string(),
                    rusm_value,
                    // None: the peer is not installed.
                    peer: Some((peer.to_string(), peer_served.and_then(pick))),
                });
            }
        }
    }
}

/// The held connections first, on the fresh server: its memory has not
/// yet grown (and stayed grown) under the other loads.
async fn measure(server: &Server, routes: &Routes) -> Served {
    let ws = match &routes.ws {
        Some(url) => {
            let (figures, kib) = bounded("WebSocket", ws_held_echo(server, url)).await;
            println!(
                "  WebSocket: {} per held connection; echo {}, p50 {}, p99 {}",
                format_value(kib, "KiB"),
                format_value(figures.per_second, "/s"),
                format_value(figures.p50_us, "us"),
                format_value(figures.p99_us, "us")
            );
            Some((figures, kib))
        }
        None => None,
    };
    let http = match routes.http {
        Some((address, path, expected, requests)) => {
            let figures = bounded("HTTP hello", http_load(address, path, expected, requests)).await;
            println!(
                "  HTTP hello: {}, p50 {}, p99 {}",
                format_value(figures.per_second, "req/s"),
                format_value(figures.p50_us, "us"),
                format_value(figures.p99_us, "us")
            );
            Some(figures)
        }
        None => None,
    };
    let sse = match routes.sse {
        Some((address, path)) => {
            let per_second = bounded("SSE", sse_events(address, path)).await;
            println!("  SSE: {}", format_value(per_second, "events/s"));
            Some(per_second)
        }
        None => None,
    };
    Served { http, ws, sse }
}

/// `GET <path>` on `CONNECTIONS` keep-alive connections, back to back,
/// each answer checked against `expected`.
async fn http_load(
    address: SocketAddr,
    path: &'static str,
    expected: &'static [u8],
    requests: usize,
) -> Latencies {
    let start = time::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        tasks.push(rusm_rt::task::spawn(async move {
            let mut sender = http_client(address).await;
            let mut latencies = Vec::with_capacity(requests / CONNECTIONS);
            for _ in 0..requests / CONNECTIONS {
                let request = http::Request::get(path)
                    .header("host", "bench")
                    .body(Empty::<Bytes>::new())
                    .expect("a request");
                let sent = time::now();
                sender.ready().await.expect("the connection stays up");
                let response = sender.send_request(request).await.expect("an answer");
                assert_eq!(response.status(), 200);
                let body = response
                    .into_body()
                    .collect()
                    .await
                    .expect("a body")
                    .to_bytes();
                assert_eq!(&body[..], expected);
                latencies.push(time::now() - sent);
            }
            latencies
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    for task in tasks {
        latencies.extend(task.await.expect("a load task"));
    }
    let elapsed = time::now() - start;
    let (p50_us, p99_us) = percentiles(&mut latencies);
    Latencies {
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_us,
        p99_us,
    }
}

/// An HTTP/1.1 connection to `address`, driven by a task of its own.
async fn http_client(address: SocketAddr) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let stream = rusm_rt::net::connect(address).await.expect("connect");
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    rusm_rt::task::spawn(connection);
    sender
}

/// Opens `HELD` WebSocket connections one after another, each greeted,
/// and reads the server's resident set before and after (a few opened
/// first, so what the first connection sets up once is not counted); then
/// every connection echoes `WS_ROUNDS` messages, all at once. Returns the
/// echo figures and the KiB each held connection costs the server.
async fn ws_held_echo(server: &Server, url: &str) -> (Latencies, f64) {
    let (connections, kib) = ws_hold(server, url, HELD, Server::resident_bytes).await;
    let start = time::now();
    let mut tasks = Vec::new();
    for mut ws in connections {
        tasks.push(rusm_rt::task::spawn(async move {
            let mut latencies = Vec::with_capacity(WS_ROUNDS);
            for n in 0..WS_ROUNDS {
                let sent = time::now();
                let text = format!("ping {n}");
                ws.send(WsMessage::text(text.clone())).await.expect("send");
                match ws.next().await {
                    Some(Ok(WsMessage::Text(echo))) if echo.as_str() == text => {}
                    other => panic!("expected an echo of {text:?}, got {other:?}"),
                }
                latencies.push(time::now() - sent);
            }
            let _ = ws.close(None).await;
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("a ws task"));
    }
    let elapsed = time::now() - start;
    let (p50_us, p99_us) = percentiles(&mut latencies);
    let figures = Latencies {
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_us,
        p99_us,
    };
    (figures, kib)
}

type WebSocket = tokio_tungstenite::WebSocketStream<rusm_rt::net::TcpStream>;

/// Opens `count` WebSocket connections to `url` one after another, each
/// greeted, and returns them with the KiB each costs the server by
/// `measure`, before and after (a few opened first, so what the first
/// connection sets up once is not counted).
async fn ws_hold(
    server: &Server,
    url: &str,
    count: usize,
    measure: fn(&Server) -> u64,
) -> (Vec<WebSocket>, f64) {
    const WARM: usize = 8;
    let address: SocketAddr = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .expect("a ws:// URL with an address");
    let mut connections = Vec::with_capacity(count + WARM);
    let mut before = 0;
    for n in 0..count + WARM {
        if n == WARM {
            // Settle: what the warm-up connections set up is counted now.
            time::sleep(time::Duration::from_millis(200)).await;
            before = measure(server);
        }
        let stream = rusm_rt::net::connect(address).await.expect("connect");
        let (mut ws, _) = tokio_tungstenite::client_async(url, stream)
            .await
            .expect("upgrade");
        match ws.next().await {
            Some(Ok(WsMessage::Text(welcome))) if welcome.as_str() == "welcome\n" => {}
            other => panic!("expected a welcome from {url}, got {other:?}"),
        }
        connections.push(ws);
    }
    time::sleep(time::Duration::from_millis(200)).await;
    let after = measure(server);
    let kib = after.saturating_sub(before) as f64 / count as f64 / 1024.0;
    (connections, kib)
}

/// serve-rs's `echo` WebSocket handler, built, in an app of its own whose
/// limits hold `MANY_HELD` connections (two processes each: the handler
/// and its socket).
fn many_ws_app(address: SocketAddr) -> std::path::PathBuf {
    let app = repo().join("target/rusm-bench/ws-many");
    std::fs::create_dir_all(app.join("wasm")).expect("the app's wasm/");
    std::fs::copy(
        repo().join("examples/serve-rs/wasm/echo.wasm"),
        app.join("wasm/echo.wasm"),
    )
    .expect("serve-rs's echo.wasm (rusm build examples/serve-rs)");
    let config = format!(
        "# Written by rusm-bench: serve-rs's echo, {MANY_HELD} connections held.\n\
         [runtime]\nmax-processes = {processes}\nmemory-budget-mib = {budget}\n\n\
         [log]\nlevel = \"warn\"\n\n\
         [[serve]]\naddress = \"{address}\"\nkind = \"ws\"\ncomponent = \"echo\"\n\n\
         [serve.limits]\nmax-connections = {connections}\n",
        // The held ones, and the few opened first to warm up.
        connections = MANY_HELD + 64,
        processes = 2 * (MANY_HELD + 64) + 64,
        budget = peers::three_quarters_of_the_machine_mib(),
    );
    std::fs::write(app.join("rusm.toml"), config).expect("the app's rusm.toml");
    app
}

/// Events read from `SSE_STREAMS` streams at once, `SSE_EVENTS_EACH` from
/// each, timed from the first connect to the last event.
async fn sse_events(address: SocketAddr, path: &'static str) -> f64 {
    let start = time::now();
    let mut tasks = Vec::new();
    for _ in 0..SSE_STREAMS {
        tasks.push(rusm_rt::task::spawn(async move {
            let mut sender = http_client(address).await;
            let request = http::Request::get(path)
                .header("host", "bench")
                .body(Empty::<Bytes>::new())
                .expect("a request");
            let response = sender.send_request(request).await.expect("an answer");
            assert_eq!(response.status(), 200, "GET {path}");
            let mut body = response.into_body();
            // Events are counted by their ending blank line: a frame may
            // hold several, and an event's two newlines never straddle
            // frames with these servers (each writes whole events).
            let mut events = 0;
            while events < SSE_EVENTS_EACH {
                let frame = body.frame().await.expect("more events").expect("a frame");
                if let Ok(data) = frame.into_data() {
                    events += data.windows(2).filter(|w| w == b"\n\n").count();
                }
            }
            events
        }));
    }
    let mut events = 0;
    for task in tasks {
        events += task.await.expect("an sse task");
    }
    events as f64 / (time::now() - start).as_secs_f64()
}

/// Holding `MANY_HELD` connections takes that many descriptors here and in
/// the server: say so plainly rather than fail on the thousandth connect.
fn check_open_files() {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let soft: Option<usize> = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|soft| soft.parse().ok());
    if let Some(soft) = soft {
        assert!(
            soft >= MANY_HELD + 256,
            "the open-file limit is {soft}; holding {MANY_HELD} connections needs more: \
             `ulimit -n 16384` first (ci/bench does)"
        );
    }
}
