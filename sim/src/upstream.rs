//! A stand-in for the servers apps fetch from, on the seam's sockets (plain
//! or TLS): the
//! cli tests run it on real TCP, scenarios on simulated TCP (a scenario's
//! `upstream = "127.0.0.1:9400"`). It speaks the streaming shape of the
//! Anthropic Messages API and a few plain routes for fetch's edges, and
//! reports what it did, one line per request, through `log`.
//!
//! - `POST /v1/messages`: wants `anthropic-version` and an API key
//!   (`x-api-key` or a bearer token), else 401 in the API's error shape;
//!   answers "You said: <the last user message>", word by word as
//!   Server-Sent Events when the body asks to `stream`, else as one JSON
//!   message.
//! - `GET /hang-up?events=N`: N SSE events 100 ms apart, then the
//!   connection drops mid-body (no last chunk).
//! - `GET /redirect/N`: N redirects (302) down to `/redirect/0`, "landed".
//! - `GET /redirect-to?url=U`: one 302 to U (as written, not decoded).
//! - `POST /echo`: the request body back, with `x-received-bytes`.
//! - `GET /bytes?n=N`: N bytes of `x`, in 16 KiB chunks.
//! - `GET /silent`: headers never come (a client's timeout).
//! - `GET /stall`: one SSE event, then nothing (a client's idle timeout).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use rusm_rt::task::JoinHandle;
use rusm_rt::time::Duration;
use serde_json::{Value, json};

type Body = UnsyncBoxBody<Bytes, std::io::Error>;
type Log = Arc<dyn Fn(String) + Send + Sync>;

/// A running upstream; it stops when dropped.
pub struct Upstream {
    address: SocketAddr,
    task: JoinHandle<()>,
}

impl Upstream {
    /// Listens on `address` (port 0: any free one), plain HTTP.
    pub async fn start(
        address: SocketAddr,
        log: impl Fn(String) + Send + Sync + 'static,
    ) -> std::io::Result<Upstream> {
        Upstream::listen(address, None, log).await
    }

    /// Listens on `address`, HTTPS with `tls`'s certificate.
    pub async fn start_tls(
        address: SocketAddr,
        tls: Arc<rustls::ServerConfig>,
        log: impl Fn(String) + Send + Sync + 'static,
    ) -> std::io::Result<Upstream> {
        Upstream::listen(address, Some(tokio_rustls::TlsAcceptor::from(tls)), log).await
    }

    async fn listen(
        address: SocketAddr,
        tls: Option<tokio_rustls::TlsAcceptor>,
        log: impl Fn(String) + Send + Sync + 'static,
    ) -> std::io::Result<Upstream> {
        let listener = rusm_rt::net::bind(address).await?;
        let address = listener.local_addr()?;
        let log: Log = Arc::new(log);
        let task = rusm_rt::task::spawn(async move {
            let mut connections = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                let log = log.clone();
                let tls = tls.clone();
                connections.push(Aborting(rusm_rt::task::spawn(async move {
                    match tls {
                        None => serve(stream, log).await,
                        Some(tls) => match tls.accept(stream).await {
                            Ok(stream) => serve(stream, log).await,
                            Err(e) => log(format!("TLS handshake failed: {e}")),
                        },
                    }
                })));
            }
        });
        Ok(Upstream { address, task })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves one connection.
async fn serve<S>(stream: S, log: Log)
where
    S: rusm_rt::io::AsyncRead + rusm_rt::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let log = log.clone();
        async move { Ok::<_, Infallible>(answer(request, &log).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// A connection's task, ended with the server.
struct Aborting(JoinHandle<()>);

impl Drop for Aborting {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn answer(request: Request<Incoming>, log: &Log) -> Response<Body> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or_default().to_string();
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_string)
    };
    log(format!("{method} {}", request.uri()));
    match (method.as_str(), path.as_str()) {
        ("POST", "/v1/messages") => messages(request, log).await,
        ("GET", "/hang-up") => {
            let events = param("events").and_then(|n| n.parse().ok()).unwrap_or(3);
            hang_up(events, log.clone())
        }
        ("GET", "/redirect-to") => redirect(&param("url").unwrap_or_default()),
        ("GET", p) if p.starts_with("/redirect/") => match p["/redirect/".len()..].parse::<u32>() {
            Ok(0) => whole(StatusCode::OK, "text/plain", "landed".into()),
            Ok(n) => redirect(&format!("/redirect/{}", n - 1)),
            Err(_) => whole(StatusCode::NOT_FOUND, "text/plain", "no such route".into()),
        },
        ("POST", "/echo") => {
            let content_type = request.headers().get(http::header::CONTENT_TYPE).cloned();
            let body = request.into_body().collect().await.map(|b| b.to_bytes());
            let Ok(body) = body else {
                return whole(StatusCode::BAD_REQUEST, "text/plain", "broken body".into());
            };
            log(format!("echo {} bytes", body.len()));
            let mut response = whole(StatusCode::OK, "application/octet-stream", body.to_vec());
            response
                .headers_mut()
                .insert("x-received-bytes", body.len().into());
            if let Some(content_type) = content_type {
                response
                    .headers_mut()
                    .insert(http::header::CONTENT_TYPE, content_type);
            }
            response
        }
        ("GET", "/bytes") => {
            let n: usize = param("n").and_then(|n| n.parse().ok()).unwrap_or(0);
            let chunks = (0..n.div_ceil(16 * 1024)).map(move |i| {
                let len = (n - i * 16 * 1024).min(16 * 1024);
                Ok(Frame::data(Bytes::from(vec![b'x'; len])))
            });
            streamed(
                "application/octet-stream",
                futures_util::stream::iter(chunks),
            )
        }
        ("GET", "/stall") => {
            let first =
                futures_util::stream::iter([Ok(Frame::data(Bytes::from("data: first\n\n")))]);
            let never = futures_util::stream::pending();
            streamed(
                "text/event-stream",
                futures_util::StreamExt::chain(first, never),
            )
        }
        ("GET", "/silent") => {
            rusm_rt::time::sleep(Duration::from_secs(3600)).await;
            whole(StatusCode::OK, "text/plain", Vec::new())
        }
        _ => whole(StatusCode::NOT_FOUND, "text/plain", "no such route".into()),
    }
}

/// The Messages API, streaming or not.
async fn messages(request: Request<Incoming>, log: &Log) -> Response<Body> {
    let headers = request.headers();
    let keyed = headers.contains_key("x-api-key")
        || headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer "));
    if !headers.contains_key("anthropic-version") || !keyed {
        return api_error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "an API key and anthropic-version are required",
        );
    }
    let Ok(body) = request.into_body().collect().await else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "broken body",
        );
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body.to_bytes()) else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "the body is not JSON",
        );
    };
    let said = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .map(|m| match &m["content"] {
            Value::String(text) => text.clone(),
            blocks => blocks
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|b| b["text"].as_str())
                .collect::<Vec<_>>()
                .join(" "),
        })
        .unwrap_or_default();
    let model = body["model"].as_str().unwrap_or("mock").to_string();
    let reply = format!("You said: {said}");
    let words: Vec<String> = reply.split_inclusive(' ').map(str::to_string).collect();
    let usage_out = words.len();
    if body["stream"] != json!(true) {
        log(format!("message of {usage_out} words"));
        let message = json!({
            "id": "msg_mock", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": reply}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": said.split_whitespace().count(), "output_tokens": usage_out},
        });
        return whole(
            StatusCode::OK,
            "application/json",
            message.to_string().into_bytes(),
        );
    }
    log(format!("streaming {usage_out} words"));
    let mut events = vec![
        (
            "message_start",
            json!({"type": "message_start", "message": {
            "id": "msg_mock", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": said.split_whitespace().count(), "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
        ),
        ("ping", json!({"type": "ping"})),
    ];
    for word in words {
        events.push((
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": word}}),
        ));
    }
    events.push((
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push((
        "message_delta",
        json!({"type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": null},
        "usage": {"output_tokens": usage_out}}),
    ));
    events.push(("message_stop", json!({"type": "message_stop"})));
    let frames = futures_util::stream::unfold(events.into_iter(), |mut events| async move {
        let (name, data) = events.next()?;
        // Paced like a model: the client reads them as they come.
        rusm_rt::time::sleep(Duration::from_millis(10)).await;
        let event = format!("event: {name}\ndata: {data}\n\n");
        Some((Ok(Frame::data(Bytes::from(event))), events))
    });
    streamed("text/event-stream", frames)
}

/// `events` SSE events 100 ms apart, then a broken connection.
fn hang_up(events: u32, log: Log) -> Response<Body> {
    let frames = futures_util::stream::unfold(0, move |sent| {
        let log = log.clone();
        async move {
            rusm_rt::time::sleep(Duration::from_millis(100)).await;
            if sent == events {
                log(format!("hang up after {events} events"));
                return Some((Err(std::io::Error::other("hang up")), sent + 1));
            }
            if sent > events {
                return None;
            }
            let event = format!("data: event {}\n\n", sent + 1);
            Some((Ok(Frame::data(Bytes::from(event))), sent + 1))
        }
    });
    streamed("text/event-stream", frames)
}

fn redirect(to: &str) -> Response<Body> {
    let mut response = whole(StatusCode::FOUND, "text/plain", Vec::new());
    if let Ok(location) = http::HeaderValue::from_str(to) {
        response
            .headers_mut()
            .insert(http::header::LOCATION, location);
    }
    response
}

fn api_error(status: StatusCode, kind: &str, message: &str) -> Response<Body> {
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    whole(status, "application/json", body.to_string().into_bytes())
}

fn whole(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(UnsyncBoxBody::new(
        Full::new(Bytes::from(body)).map_err(|never: Infallible| match never {}),
    ));
    *response.status_mut() = status;
    if let Ok(value) = http::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, value);
    }
    response
}

fn streamed(
    content_type: &'static str,
    frames: impl futures_util::Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Send + 'static,
) -> Response<Body> {
    let mut response = Response::new(UnsyncBoxBody::new(StreamBody::new(frames)));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}
