//! `bash ci/bench-serve.sh`: serving figures, side by side in one run.
//!
//! - HTTP hello: `GET /users/7` from rusm (examples/serve-rs, one fresh
//!   process per request) and from `wasmtime serve` running a wasi:http
//!   component that gives the same answer (one fresh instance per request),
//!   with the same load: keep-alive connections, each sending requests back
//!   to back. Prints req/s, p50/p99 latency and the ratio.
//! - HTTP hello in TypeScript: the concept page's fetch-shaped handler
//!   (examples/serve-ts, `web`), one runner process per request, beside
//!   the Rust figure.
//! - WebSocket echo round trips/s (one process per connection).
//! - SSE events/s (the concept page's `events` loop).
//!
//! Usage: serve [--wasmtime <path to wasmtime> --peer <hello component>]
//! (ci/bench-serve.sh installs wasmtime-cli and builds the peer).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rusm_config::{AppConfig, Capabilities};
use rusm_host::{ComponentSource, Host, Resident};
use rusm_rt::time::{self, Duration};
use rusm_serve::Server;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Keep-alive connections the HTTP load spreads over.
const CONNECTIONS: usize = 16;
const REQUESTS: usize = 20_000;
/// A TypeScript request costs a QuickJS start: fewer make the figure.
const TS_REQUESTS: usize = 4_000;
const WS_CONNECTIONS: usize = 16;
const WS_ROUNDS: usize = 2_000;
const SSE_STREAMS: usize = 4;
const SSE_EVENTS: usize = 20_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(PathBuf::from)
    };
    let peer = flag("--wasmtime").zip(flag("--peer"));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("rusm serving benchmarks ({cores} cores, release build, loopback)");
    // Built before the runtime starts: precompiling scripts runs a node of
    // its own.
    let serve_rs = app("serve-rs");
    let serve_ts = app("serve-ts");
    rusm_rt::block_on(async {
        let (host, server) = serve_app(serve_rs).await;
        let http = address(&server, rusm_config::ListenerKind::Http);
        let ws = address(&server, rusm_config::ListenerKind::Ws);
        let rusm = http_load(http, "/users/7", b"user 7\n", REQUESTS).await;
        rusm.print("rusm (serve-rs, api#show)", REQUESTS);
        match peer {
            Some((wasmtime, component)) => {
                let mut child = wasmtime_serve(&wasmtime, &component).await;
                let peer = PEER_ADDRESS.parse().expect("an address");
                let peer = http_load(peer, "/users/7", b"user 7\n", REQUESTS).await;
                let _ = child.kill();
                let _ = child.wait();
                peer.print("wasmtime serve (wasi:http)", REQUESTS);
                println!(
                    "http hello   rusm / wasmtime serve    {:>8.2}x req/s   p99 {:.2}x",
                    rusm.per_second / peer.per_second,
                    rusm.p99_us / peer.p99_us
                );
            }
            None => println!(
                "(no --wasmtime/--peer: run ci/bench-serve.sh for the side-by-side figure)"
            ),
        }
        ws_echo(ws).await;
        sse_events(http).await;
        drop(server);
        drop(host);
        // TypeScript: the concept page's handler (the second HTTP listener
        // of serve-ts; the first streams SSE).
        let (host, server) = serve_app(serve_ts).await;
        let web = server.bound()[1].address;
        let ts = http_load(web, "/?who=bench", b"hello, bench\n", TS_REQUESTS).await;
        ts.print("rusm TS (serve-ts, web)", TS_REQUESTS);
        println!(
            "http hello   TypeScript / Rust        {:>8.2}x req/s   p99 {:.2}x",
            ts.per_second / rusm.per_second,
            ts.p99_us / rusm.p99_us
        );
        drop(server);
        drop(host);
    });
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// An example app, built, with its config set for ephemeral ports.
fn app(name: &str) -> (AppConfig, Vec<ComponentSource>) {
    let dir = repo().join("examples").join(name);
    let mut config = AppConfig::load(&dir).expect("rusm.toml");
    for listener in &mut config.serve {
        listener.address = "127.0.0.1:0".parse().expect("an address");
        listener.limits.max_connections = 4 * CONNECTIONS;
    }
    let built =
        rusm_build::build_app(&dir, Some(&repo().join("target/guests"))).expect("guest build");
    let built =
        rusm_host::precompile(built, Some(&repo().join("target/rusm-cache"))).expect("bytecode");
    let components = built
        .into_iter()
        .map(|b| {
            let capabilities = Capabilities {
                allow_stdio: false,
                ..config.capabilities(&b.name)
            };
            ComponentSource::from_built(b, capabilities).expect("a component")
        })
        .collect();
    (config, components)
}

/// An app served, quiet.
async fn serve_app((config, components): (AppConfig, Vec<ComponentSource>)) -> (Host, Server) {
    let host = Host::builder(config.runtime.clone())
        .cache_dir(repo().join("target/rusm-cache"))
        .build(components)
        .expect("host");
    host.start_residents(Resident::from_config(&config))
        .expect("residents");
    let server = Server::start(&host, &config.serve).await.expect("listen");
    (host, server)
}

fn address(server: &Server, kind: rusm_config::ListenerKind) -> SocketAddr {
    server
        .bound()
        .iter()
        .find(|b| b.kind == kind)
        .expect("the listener")
        .address
}

const PEER_ADDRESS: &str = "127.0.0.1:18090";

/// `wasmtime serve` on the peer component, once it accepts connections.
async fn wasmtime_serve(wasmtime: &Path, component: &Path) -> Child {
    let mut child = Command::new(wasmtime)
        .args(["serve", "--addr", PEER_ADDRESS, "-Scli"])
        .arg(component)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start wasmtime serve");
    for _ in 0..200 {
        if rusm_rt::net::connect(PEER_ADDRESS.parse().expect("an address"))
            .await
            .is_ok()
        {
            return child;
        }
        time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("wasmtime serve did not start listening on {PEER_ADDRESS}");
}

struct Figures {
    per_second: f64,
    p50_us: f64,
    p99_us: f64,
}

impl Figures {
    fn print(&self, what: &str, requests: usize) {
        println!(
            "http hello   {what:<28} {:>8.0} req/s   p50 {:>7.1} us   p99 {:>7.1} us   ({requests} requests, {CONNECTIONS} keep-alive connections)",
            self.per_second, self.p50_us, self.p99_us
        );
    }
}

/// `GET <path>` on `CONNECTIONS` keep-alive connections, back to back,
/// each answer checked against `expected`.
async fn http_load(
    address: SocketAddr,
    path: &'static str,
    expected: &'static [u8],
    requests: usize,
) -> Figures {
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
    Figures {
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

fn percentiles(latencies: &mut [Duration]) -> (f64, f64) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    (at(0.50), at(0.99))
}

/// Echo round trips on `WS_CONNECTIONS` connections at once.
async fn ws_echo(address: SocketAddr) {
    let start = time::now();
    let mut tasks = Vec::new();
    for _ in 0..WS_CONNECTIONS {
        tasks.push(rusm_rt::task::spawn(async move {
            let stream = rusm_rt::net::connect(address).await.expect("connect");
            let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{address}/"), stream)
                .await
                .expect("upgrade");
            let _welcome = ws.next().await;
            let mut latencies = Vec::with_capacity(WS_ROUNDS);
            for n in 0..WS_ROUNDS {
                let sent = time::now();
                ws.send(WsMessage::text(format!("ping {n}")))
                    .await
                    .expect("send");
                match ws.next().await {
                    Some(Ok(WsMessage::Text(_))) => {}
                    other => panic!("expected an echo, got {other:?}"),
                }
                latencies.push(time::now() - sent);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("a ws task"));
    }
    let elapsed = time::now() - start;
    let (p50, p99) = percentiles(&mut latencies);
    println!(
        "websocket    echo round trip         {:>8.0} /s      p50 {p50:>7.1} us   p99 {p99:>7.1} us   ({WS_CONNECTIONS} connections x {WS_ROUNDS}, incl. connecting)",
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
}

/// Events read from `SSE_STREAMS` streams of the `events` action at once.
async fn sse_events(address: SocketAddr) {
    let start = time::now();
    let mut tasks = Vec::new();
    for _ in 0..SSE_STREAMS {
        tasks.push(rusm_rt::task::spawn(async move {
            let mut sender = http_client(address).await;
            let request = http::Request::get("/events/bench")
                .header("host", "bench")
                .body(Empty::<Bytes>::new())
                .expect("a request");
            let mut body = sender
                .send_request(request)
                .await
                .expect("an answer")
                .into_body();
            let mut events = 0;
            while events < SSE_EVENTS / SSE_STREAMS {
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
    let elapsed = time::now() - start;
    println!(
        "sse          events                  {:>8.0} /s   ({SSE_STREAMS} streams of api#events, {events} events)",
        events as f64 / elapsed.as_secs_f64()
    );
}
