//! Serving over real loopback sockets: `examples/serve-rs` (the concept
//! page's handlers and WebSocket echo, plus a resident counter) on a real
//! node, spoken to by real HTTP and WebSocket clients.

#![cfg(not(madsim))]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rusm_config::{AppConfig, ListenerKind, ServeLimits};
use rusm_core::{Event, Observer};
use rusm_host::Host;
use rusm_rt::net::TcpStream;
use rusm_rt::sync::Notify;
use rusm_rt::time::Duration;
use rusm_serve::Server;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn app_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/serve-rs")
}

/// The app with `config`, built once per test binary.
fn app(config: AppConfig) -> rusm_app::App {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        rusm_app::build(&app_dir(), None).expect("rusm build");
    });
    rusm_app::App::with_config(&app_dir(), config).expect("the app loads")
}

/// The lifecycle as lines (`spawn echo#9`, `exit api#4 disconnect`), guest
/// output as `out <text>`.
#[derive(Default)]
struct Log {
    lines: Mutex<Vec<String>>,
    changed: Notify,
}

impl Observer for Log {
    fn event(&self, event: Event<'_>) {
        let line = match event {
            Event::Output { bytes, .. } => format!("out {}", String::from_utf8_lossy(bytes)),
            other => other.to_string(),
        };
        self.lines.lock().unwrap().push(line);
        self.changed.notify_waiters();
    }
}

impl Log {
    fn count(&self, matches: impl Fn(&str) -> bool) -> usize {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| matches(l))
            .count()
    }

    /// Waits until `n` lines match; a generous bound turns a hang into a
    /// failure that shows the log.
    async fn wait_for(&self, n: usize, matches: impl Fn(&str) -> bool) {
        let waited = rusm_rt::time::timeout(Duration::from_secs(30), async {
            loop {
                let changed = self.changed.notified();
                if self.count(&matches) >= n {
                    return;
                }
                changed.await;
            }
        })
        .await;
        if waited.is_err() {
            panic!(
                "the log never got there:\n{}",
                self.lines.lock().unwrap().join("\n")
            );
        }
    }
}

/// A node serving the app on ephemeral ports.
struct Served {
    http: std::net::SocketAddr,
    /// The first WebSocket listener's (echo).
    ws: std::net::SocketAddr,
    /// What every listener bound, in the config's order.
    bound: Vec<std::net::SocketAddr>,
    log: Arc<Log>,
    host: Host,
    server: Server,
}

async fn serve(limits: ServeLimits) -> Served {
    serve_with(limits, |_| {}).await
}

/// Serves the app with `limits` on every listener, after `edit` has
/// changed its config (added a listener, set a runtime limit).
async fn serve_with(limits: ServeLimits, edit: impl FnOnce(&mut AppConfig)) -> Served {
    let mut config = AppConfig::load(&app_dir()).unwrap();
    edit(&mut config);
    for listener in &mut config.serve {
        listener.address = "127.0.0.1:0".parse().unwrap();
        listener.limits = limits;
    }
    let log = Arc::new(Log::default());
    let app = app(config);
    let host = app.boot(app.host().observer(log.clone())).unwrap();
    app.start_residents(&host).unwrap();
    let server = app.serve(&host).await.unwrap().expect("listeners");
    let address = |kind| {
        server
            .bound()
            .iter()
            .find(|b| b.kind == kind)
            .unwrap()
            .address
    };
    Served {
        http: address(ListenerKind::Http),
        ws: address(ListenerKind::Ws),
        bound: server.bound().iter().map(|b| b.address).collect(),
        log,
        host,
        server,
    }
}

type Client = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// One keep-alive HTTP/1.1 connection.
async fn connect(address: std::net::SocketAddr) -> Client {
    let stream = rusm_rt::net::connect(address).await.unwrap();
    let (client, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    rusm_rt::task::spawn(connection);
    client
}

async fn request(
    client: &mut Client,
    method: &str,
    path: &str,
    body: &[u8],
) -> http::Response<Incoming> {
    let request = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();
    // A keep-alive connection takes the next request once the last is done.
    client.ready().await.unwrap();
    client.send_request(request).await.unwrap()
}

/// A GET of a streamed answer on a connection of its own: the connection
/// (kept open while the stream is read) and the body.
async fn open_stream(address: std::net::SocketAddr, path: &str) -> (Client, Incoming) {
    let mut client = connect(address).await;
    let body = request(&mut client, "GET", path, b"").await.into_body();
    (client, body)
}

async fn text(response: http::Response<Incoming>) -> String {
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

async fn get(address: std::net::SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut client = connect(address).await;
    let response = request(&mut client, method, path, b"").await;
    (response.status().as_u16(), text(response).await)
}

#[test]
fn a_get_runs_its_action_with_the_path_parameters() {
    rusm_rt::block_on(async {
        let node = serve(ServeLimits::default()).await;
        assert_eq!(
            get(node.http, "GET", "/users/7").await,
            (200, "user 7\n".into())
        );
        assert_eq!(
            get(node.http, "GET", "/users/j%20d").await,
            (200, "user j d\n".into())
        );
        // One fresh process per request, each ended normally.
        node.log
            .wait_for(2, |l| l.starts_with("exit api#") && l.ends_with(" normal"))
            .await;
        assert_eq!(node.log.count(|l| l.starts_with("spawn api#")), 2);
    });
}

#[test]
fn unknown_routes_are_404_and_wrong_methods_405() {
    rusm_rt::block_on(async {
        let node = serve(ServeLimits::default()).await;
        assert_eq!(get(node.http, "GET", "/nowhere").await.0, 404);
        let mut client = connect(node.http).await;
        let response = request(&mut client, "DELETE", "/users/7", b"").await;
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], "GET");
        assert_eq!(node.log.count(|l| l.starts_with("spawn api#")), 0);
    });
}

#[test]
fn a_panicking_action_is_a_500_and_the_node_goes_on() {
    rusm_rt::block_on(async {
        let node = serve(ServeLimits::default()).await;
        assert_eq!(get(node.http, "GET", "/crash").await.0, 500);
        node.log
            .wait_for(1, |l| {
                l.starts_with("exit stats#") && l.contains("the crash action always fails")
            })
            .await;
        assert_eq!(
            get(node.http, "GET", "/users/1").await,
            (200, "user 1\n".into())
        );
    });
}

#[test]
fn state_lives_in_the_resident_service_across_requests() {
    rusm_rt::block_on(async {
        let node = serve(ServeLimits::default()).await;
        node.log
            .wait_for(1, |l| l.starts_with("register \"counter\""))
            .await;
        // Keep-alive: three requests on one connection, three processes.
        let mut client = connect(node.http).await;
        for expected in ["1", "2"] {
            let response = request(&mut client, "POST", "/visits", b"").await;
            assert_eq!(text(response).await, expected);
        }
        assert_eq!(
            text(request(&mut client, "GET", "/visits", b"").await).await,
            "2"
        );
        assert_eq!(node.log.count(|l| l.starts_with("spawn stats#")), 3);
    });
}

/// Reads SSE events until `n` have arrived.
async fn events(body: &mut Incoming, n: usize) -> Vec<String> {
    let mut seen = String::new();
    while seen.matches("\n\n").count() < n {
        let frame = body.frame().await.expect("the stream ended early").unwrap();
        if let Ok(data) = frame.into_data() {
            seen.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
    seen.split("\n\n").take(n).map(str::to_string).collect()
}

#[test]
fn an_sse_action_streams_until_the_client_disconnects() {
    rusm_rt::block_on(async {
        let node = serve(ServeLimits::default()).await;
        let mut client = connect(node.http).await;
        let response = request(&mut client, "GET", "/events/lobby", b"").await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut body = response.into_body();
        assert_eq!(
            events(&mut body, 3).await,
            [
                "data: lobby tick 0",
                "data: lobby tick 1",
                "data: lobby tick 2"
            ]
        );
        drop(body);
        drop(client);
        node.log
            .wait_for(1, |l| {
                l.starts_with("exit api#") && l.ends_with(" disconnect")
            })
            .await;
    });
}

#[test]
fn sse_data_returns_false_once_the_client_has_gone() {
    rusm_rt::block_on(async {
        let node = serve(ServeLimits::default()).await;
        let (client, mut body) = open_stream(node.http, "/ticks/20").await;
        assert_eq!(events(&mut body, 2).await, ["data: tick 0", "data: tick 1"]);
        drop(body);
        drop(client);
        // The action saw `false`, said so, and returned: its exit says why.
        node.log
            .wait_for(1, |l| l.starts_with("out ticks: the client left after"))
            .await;
        node.log
            .wait_for(1, |l| {
                l.starts_with("exit stats#") && l.ends_with(" disconnect")
            })
            .await;
    });
}

#[test]
fn a_handler_that_never_answers_is_ended_at_its_deadline_with_504() {
    rusm_rt::block_on(async {
        // Room for more connections than small_limits' two: a closed one
        // frees its place only once the server has seen it close.
        let limits = ServeLimits {
            handler_timeout_ms: 500,
            ..ServeLimits::default()
        };
        let node = serve(limits).await;
        // An SSE stream begins its answer at once: the deadline (500 ms)
        // does not end it, however long it runs.
        let (_client, mut stream) = open_stream(node.http, "/ticks/200").await;
        // One handler computes forever, one waits forever trapping exits.
        for path in ["/spin", "/stall"] {
            assert_eq!(
                get(node.http, "GET", path).await,
                (504, "the handler did not answer in time\n".into()),
                "{path}"
            );
        }
        node.log
            .wait_for(2, |l| {
                l.starts_with("exit stats#") && l.ends_with(" timeout")
            })
            .await;
        assert_eq!(events(&mut stream, 6).await.len(), 6);
        assert_eq!(node.log.count(|l| l.ends_with(" timeout")), 2);
    });
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// What SIGTERM does to `rusm serve`, on real sockets: a request in flight
/// is answered, an SSE stream ends cleanly (its last chunk, not a broken
/// connection), a WebSocket is closed with 1001, the resident gets
/// `shutdown`, and the listeners no longer accept.
#[test]
fn a_drain_answers_requests_ends_streams_and_closes_websockets_with_1001() {
    rusm_rt::block_on(async {
        let node = serve(ServeLimits::default()).await;
        let (_reader, mut stream) = open_stream(node.http, "/ticks/50").await;
        assert_eq!(events(&mut stream, 1).await, ["data: tick 0"]);
        let slow = rusm_rt::task::spawn(get(node.http, "GET", "/slow/300"));
        let mut ws = ws_connect(node.ws).await;
        assert_eq!(next_text(&mut ws).await, "welcome\n");
        // The slow request is in its process before the drain begins.
        node.log
            .wait_for(2, |l| l.starts_with("spawn stats#"))
            .await;
        let (host, server) = (node.host.clone(), node.server);
        let http = node.http;
        let drained = rusm_rt::task::spawn(async move {
            let timeout = Duration::from_secs(30);
            rusm_app::drain(&host, Some(server), None, timeout, std::future::pending()).await
        });
        // The stream ends: no more frames, and no error.
        while let Some(frame) = stream.frame().await {
            frame.expect("the stream ends cleanly");
        }
        match ws.next().await {
            Some(Ok(WsMessage::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Away),
            other => panic!("expected a close frame, got {other:?}"),
        }
        assert_eq!(slow.await.unwrap(), (200, "answered after 300 ms\n".into()));
        assert_eq!(drained.await.unwrap(), rusm_app::Drained::Clean);
        for exit in ["exit stats#", "exit ws#", "exit echo#", "exit counter#"] {
            assert_eq!(
                node.log
                    .count(|l| l.starts_with(exit) && l.ends_with(" shutdown")),
                1,
                "{exit}"
            );
        }
        assert!(
            rusm_rt::net::connect(http).await.is_err(),
            "still accepting"
        );
        assert_eq!(node.log.count(|l| l.starts_with("drain: done")), 1);
    });
}

async fn ws_connect(address: std::net::SocketAddr) -> Ws {
    let stream = rusm_rt::net::connect(address).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{address}/"), stream)
        .await
        .unwrap();
    ws
}

async fn next_text(ws: &mut Ws) -> String {
    loop {
        match ws.next().await.expect("the connection closed").unwrap() {
            WsMessage::Text(text) => return text.as_str().to_string(),
            WsMessage::Binary(bytes) => return format!("binary {bytes:?}"),
            _ => continue,
        }
    }
}

#[test]
fn websocket_connections_each_get_their_own_echo_process() {
    rusm_rt::block_on(async {
        let node = serve(ServeLimits::default()).await;
        const CONNECTIONS: usize = 24;
        let mut clients = Vec::new();
        for _ in 0..CONNECTIONS {
            clients.push(ws_connect(node.ws).await);
        }
        for (n, ws) in clients.iter_mut().enumerate() {
            assert_eq!(next_text(ws).await, "welcome\n");
            ws.send(WsMessage::text(format!("hello {n}")))
                .await
                .unwrap();
        }
        for (n, ws) in clients.iter_mut().enumerate() {
            assert_eq!(next_text(ws).await, format!("hello {n}"));
        }
        // Binary frames that are not UTF-8 come back binary; pings are
        // answered by the host.
        let ws = &mut clients[0];
        ws.send(WsMessage::binary(vec![0xff, 0x00])).await.unwrap();
        assert_eq!(next_text(ws).await, "binary b\"\\xff\\0\"");
        ws.send(WsMessage::Ping(Bytes::from_static(b"p")))
            .await
            .unwrap();
        loop {
            if let WsMessage::Pong(payload) = ws.next().await.unwrap().unwrap() {
                assert_eq!(&payload[..], b"p");
                break;
            }
        }
        assert_eq!(
            node.log.count(|l| l.starts_with("spawn echo#")),
            CONNECTIONS
        );
        // Each process exits on its client's disconnect, closed or dropped.
        clients[1].close(None).await.unwrap();
        drop(clients);
        node.log
            .wait_for(CONNECTIONS, |l| {
                l.starts_with("exit echo#") && l.ends_with(" disconnect")
            })
            .await;
    });
}

#[test]
fn a_websocket_frame_many_times_the_read_buffer_arrives_whole() {
    rusm_rt::block_on(async {
        let node = serve(ServeLimits::default()).await;
        let mut ws = ws_connect(node.ws).await;
        assert_eq!(next_text(&mut ws).await, "welcome\n");
        // The socket reads 4 KiB at a time; the frame is 60 reads long.
        let big: String = (0..240_000)
            .map(|n| char::from(b'a' + (n % 26) as u8))
            .collect();
        ws.send(WsMessage::text(big.clone())).await.unwrap();
        assert_eq!(next_text(&mut ws).await, big);
    });
}

fn small_limits() -> ServeLimits {
    ServeLimits {
        max_body_bytes: 64,
        max_header_bytes: 8192,
        request_timeout_ms: 300,
        handler_timeout_ms: 500,
        max_connections: 2,
        max_frame_bytes: 32,
    }
}

/// Writes raw bytes and reads the whole answer until the server closes.
async fn raw(address: std::net::SocketAddr, bytes: &[u8]) -> String {
    use rusm_rt::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = rusm_rt::net::connect(address).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn limits_are_answered_with_their_status_codes() {
    rusm_rt::block_on(async {
        let node = serve(small_limits()).await;
        // 413: declared too large, and streamed too large (chunked).
        let declared = raw(
            node.http,
            b"POST /visits HTTP/1.1\r\nhost: x\r\ncontent-length: 65\r\n\r\n",
        )
        .await;
        assert!(declared.starts_with("HTTP/1.1 413"), "{declared}");
        let chunk = format!("41\r\n{}\r\n0\r\n\r\n", "x".repeat(65));
        let chunked = raw(
            node.http,
            format!(
                "POST /visits HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n{chunk}"
            )
            .as_bytes(),
        )
        .await;
        assert!(chunked.starts_with("HTTP/1.1 413"), "{chunked}");
        // 431: a head over max-header-bytes.
        let big = format!(
            "GET /users/1 HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
            "y".repeat(9000)
        );
        let headers = raw(node.http, big.as_bytes()).await;
        assert!(headers.starts_with("HTTP/1.1 431"), "{headers}");
        // 408: a body slower than request-timeout-ms.
        let slow = raw(
            node.http,
            b"POST /visits HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nab",
        )
        .await;
        assert!(slow.starts_with("HTTP/1.1 408"), "{slow}");
        // A head slower than request-timeout-ms: the connection is closed
        // (within a bound far above the 300 ms limit, so a hang fails).
        let head = rusm_rt::time::timeout(
            Duration::from_secs(10),
            raw(node.http, b"GET /users/1 HTTP/1.1\r\nhost: x\r\n"),
        )
        .await;
        assert!(head.is_ok(), "a slow head was not closed");
        // None of them reached a process.
        assert_eq!(node.log.count(|l| l.starts_with("spawn stats#")), 0);
    });
}

#[test]
fn connections_over_the_limit_are_refused_with_503() {
    rusm_rt::block_on(async {
        let node = serve(small_limits()).await;
        let _first = connect(node.http).await;
        let mut second = connect(node.http).await;
        assert_eq!(
            request(&mut second, "GET", "/users/2", b"").await.status(),
            200
        );
        assert_eq!(get(node.http, "GET", "/users/3").await.0, 503);
        // WebSocket: the upgrade of a third connection is refused.
        let _a = ws_connect(node.ws).await;
        let _b = ws_connect(node.ws).await;
        let stream = rusm_rt::net::connect(node.ws).await.unwrap();
        let refused = tokio_tungstenite::client_async(format!("ws://{}/", node.ws), stream).await;
        match refused {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 503)
            }
            other => panic!("expected a 503, got {other:?}"),
        }
    });
}

/// The next close frame's code, skipping data frames.
async fn close_code(ws: &mut Ws) -> CloseCode {
    loop {
        match ws.next().await {
            Some(Ok(WsMessage::Close(Some(frame)))) => return frame.code,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// A WebSocket listener for examples/serve-rs's `door`, which ends its
/// connection on request; its address is the last bound.
fn with_door(config: &mut AppConfig) {
    let mut door = config.serve[0].clone();
    door.kind = ListenerKind::Ws;
    door.component = Some("door".into());
    door.routes = Default::default();
    config.serve.push(door);
}

#[test]
fn a_websocket_closes_with_1000_when_its_handler_returns_and_1011_when_it_crashes() {
    rusm_rt::block_on(async {
        let node = serve_with(ServeLimits::default(), with_door).await;
        let door = *node.bound.last().unwrap();
        let mut ws = ws_connect(door).await;
        ws.send(WsMessage::text("knock")).await.unwrap();
        assert_eq!(next_text(&mut ws).await, "knock");
        ws.send(WsMessage::text("bye")).await.unwrap();
        assert_eq!(close_code(&mut ws).await, CloseCode::Normal);
        node.log
            .wait_for(1, |l| l.starts_with("exit door#") && l.ends_with(" normal"))
            .await;

        let mut ws = ws_connect(door).await;
        ws.send(WsMessage::text("boom")).await.unwrap();
        assert_eq!(close_code(&mut ws).await, CloseCode::Error);
        node.log
            .wait_for(1, |l| {
                l.starts_with("exit door#") && l.contains(" trap: panicked at ")
            })
            .await;
        // Each socket process ended normally once its handler had ended.
        node.log
            .wait_for(2, |l| l.starts_with("exit ws#") && l.ends_with(" normal"))
            .await;
    });
}

/// At the process limit a WebSocket is accepted and then closed with 1013
/// (try again later): the upgrade cannot know that the handler's spawn
/// will fail. Connections already open go on.
#[test]
fn a_websocket_past_the_process_limit_closes_with_1013() {
    rusm_rt::block_on(async {
        // The supervisor and its resident counter, then one connection's
        // socket and handler.
        let node = serve_with(ServeLimits::default(), |config| {
            config.runtime.max_processes = 4
        })
        .await;
        let mut open = ws_connect(node.ws).await;
        assert_eq!(next_text(&mut open).await, "welcome\n");
        assert_eq!(node.host.node().process_count(), 4);
        let mut refused = ws_connect(node.ws).await;
        assert_eq!(close_code(&mut refused).await, CloseCode::Again);
        open.send(WsMessage::text("still here")).await.unwrap();
        assert_eq!(next_text(&mut open).await, "still here");
        assert_eq!(node.host.node().process_count(), 4);
    });
}

#[test]
fn a_websocket_frame_over_the_limit_closes_with_1009() {
    rusm_rt::block_on(async {
        let node = serve(small_limits()).await;
        let mut ws = ws_connect(node.ws).await;
        assert_eq!(next_text(&mut ws).await, "welcome\n");
        ws.send(WsMessage::text("z".repeat(33))).await.unwrap();
        assert_eq!(close_code(&mut ws).await, CloseCode::Size);
        node.log
            .wait_for(1, |l| {
                l.starts_with("exit echo#") && l.ends_with(" disconnect")
            })
            .await;
    });
}
