//! The `rusm:runtime/fetch` import: outbound HTTP(S), one native *fetch
//! process* per request.
//!
//! The request is checked when it starts (the profile's host list, the
//! URL, method, headers, body size); everything after that is the fetch
//! process talking to its owner in tagged data messages (the protocol is
//! in the WIT file). It waits for the owner's `read` before each piece of
//! the response body, so a slow reader holds the socket back rather than
//! filling its own mailbox, and it drops the connection the moment its
//! owner ends. Sockets, DNS and timers come from the seam (`rusm_rt`),
//! so a scenario can fetch from a simulated server.
//!
//! HTTP/1.1 only, a fresh connection per request (and per redirect); TLS is
//! rustls with the webpki roots.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use http_body::{Body, Frame};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rusm_config::{Capabilities, Capability, Fetch as Limits};
use rusm_core::{ExitReason, Message, Pid, Process, Ref};
use rusm_rt::io::{AsyncRead, AsyncWrite};
use rusm_rt::sync::mpsc;
use rusm_rt::time::Duration;
use rusm_wire::fetch::{from_owner, to_owner};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use url::Url;

use crate::imports::rusm::runtime::fetch::{self as wit, Redirect};
use crate::process::ProcState;

/// The label of fetch processes (in traces and logs).
pub const LABEL: &str = "fetch";

/// The largest piece of a response body in one message.
const CHUNK_BYTES: usize = 64 * 1024;

/// Request headers the node sets itself (from the URL and the body), as a
/// browser's fetch does: a guest's own are dropped.
const NODE_HEADERS: [HeaderName; 7] = [
    header::HOST,
    header::CONTENT_LENGTH,
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

impl wit::Host for ProcState {
    fn start(&mut self, request: wit::Request) -> wasmtime::Result<Result<u64, String>> {
        if let Err(denied) = self.require(Capability::Fetch) {
            return Ok(Err(denied));
        }
        let policy = Policy {
            capabilities: self.capabilities.clone(),
            component: self.component.clone(),
            limits: self.shared.fetch_limits(),
            tls: self.shared.tls(),
        };
        let outbound = match Outbound::check(request, &policy) {
            Ok(outbound) => outbound,
            Err(refusal) => return Ok(Err(refusal)),
        };
        // Each request in flight holds a connection and its buffers on the
        // node, outside the memory budget: so they are few per process.
        let node = self.process.node().clone();
        self.fetches.retain(|&pid| node.is_alive(pid));
        let limit = self.shared.settings.max_fetches;
        if self.fetches.len() >= limit {
            return Ok(Err(format!(
                "fetch: {limit} requests of this process are in flight, the limit ([runtime] max-fetches)"
            )));
        }
        let owner = self.process.pid();
        let spawned = self.process.spawn(LABEL, move |process| async move {
            carry(process, owner, outbound, policy).await;
            ExitReason::Normal
        });
        if let Ok(pid) = spawned {
            self.fetches.push(pid);
        }
        Ok(spawned.map(Pid::as_raw).map_err(|e| e.to_string()))
    }
}

/// What decides where a request may go and how far.
struct Policy {
    capabilities: Arc<Capabilities>,
    component: Arc<str>,
    limits: Limits,
    tls: Arc<rustls::ClientConfig>,
}

impl Policy {
    /// Refuses a URL whose host the profile does not list.
    fn allow(&self, url: &Url) -> Result<(), String> {
        let host = url.host_str().unwrap_or_default();
        let port = url.port_or_known_default().unwrap_or_default();
        if self.capabilities.fetch_allows(host, port) {
            return Ok(());
        }
        Err(format!(
            "fetch denied: {host}:{port} is not in the fetch list of {0} (allow it in rusm.toml: [capabilities.{0}] fetch = [\"{host}\"])",
            self.component
        ))
    }
}

/// A request that passed the checks.
struct Outbound {
    method: Method,
    url: Url,
    headers: http::HeaderMap,
    body: Option<Bytes>,
    streamed: bool,
    redirect: Redirect,
}

impl Outbound {
    fn check(request: wit::Request, policy: &Policy) -> Result<Outbound, String> {
        let url = Url::parse(&request.url)
            .map_err(|e| format!("fetch: bad URL {:?}: {e}", request.url))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "fetch: only http and https URLs, not {}:",
                url.scheme()
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "fetch: a URL with credentials is refused (send an authorization header)".into(),
            );
        }
        policy.allow(&url)?;
        let method = Method::from_bytes(request.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("fetch: bad method {:?}", request.method))?;
        if [Method::CONNECT, Method::TRACE].contains(&method) || method.as_str() == "TRACK" {
            return Err(format!("fetch: the method {method} is forbidden"));
        }
        let mut headers = http::HeaderMap::new();
        for (name, value) in request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("fetch: bad header name {name:?}"))?;
            let value = HeaderValue::from_str(&value)
                .map_err(|_| format!("fetch: bad value for header {name}"))?;
            if !NODE_HEADERS.contains(&name) {
                headers.append(name, value);
            }
        }
        if request.streamed_body && request.body.is_some() {
            return Err("fetch: a request has a whole body or a streamed one, not both".into());
        }
        if let Some(body) = &request.body
            && body.len() > policy.limits.max_request_bytes
        {
            return Err(too_big_request(policy.limits.max_request_bytes));
        }
        Ok(Outbound {
            method,
            url,
            headers,
            body: request.body.map(Bytes::from),
            streamed: request.streamed_body,
            redirect: request.redirect,
        })
    }
}

fn too_big_request(limit: usize) -> String {
    format!("fetch: the request body is over [fetch] max-request-bytes ({limit})")
}

/// Why a conversation stopped early.
enum Stop {
    /// The owner aborted or ended: nobody to tell.
    Abort,
    /// Something failed: the owner gets it as an error message.
    Fail(String),
}

impl From<String> for Stop {
    fn from(message: String) -> Stop {
        Stop::Fail(message)
    }
}

/// What the owner asked for.
enum Order {
    Chunk(Vec<u8>),
    End,
    Read,
    Abort,
}

/// The fetch process's side of one request.
struct Carrier {
    process: Process,
    owner: Pid,
    watch: Ref,
    /// `read`s that came before there was anything to read.
    reads: usize,
}

async fn carry(process: Process, owner: Pid, outbound: Outbound, policy: Policy) {
    // A dead owner's `down` arrives at once (noproc) and aborts.
    let Ok(watch) = process.monitor(owner) else {
        return;
    };
    let mut carrier = Carrier {
        process,
        owner,
        watch,
        reads: 0,
    };
    if let Err(Stop::Fail(message)) = carrier.run(outbound, &policy).await {
        carrier.tell(to_owner::ERROR, message.as_bytes());
    }
}

impl Carrier {
    async fn run(&mut self, outbound: Outbound, policy: &Policy) -> Result<(), Stop> {
        let (response, url, redirected, _connection) = self.exchange(outbound, policy).await?;
        let head = head_json(&response, &url, redirected);
        if !self.tell(to_owner::HEAD, head.as_bytes()) {
            return Err(Stop::Fail(
                "fetch: the response's headers are over the message size limit".into(),
            ));
        }
        self.stream(response.into_body(), &policy.limits).await
    }

    /// Sends the request, following redirects as asked; the response with
    /// its URL, whether a redirect led there, and the connection's driver.
    async fn exchange(
        &mut self,
        mut outbound: Outbound,
        policy: &Policy,
    ) -> Result<(http::Response<Incoming>, Url, bool, Driver), Stop> {
        let limits = &policy.limits;
        let mut upload = None;
        let mut redirects = 0;
        loop {
            let body = match (&outbound.body, outbound.streamed) {
                (_, true) => {
                    let (sender, receiver) = mpsc::channel(1);
                    upload = Some(sender);
                    outbound.streamed = false;
                    outbound.body = None;
                    UnsyncBoxBody::new(Upload(receiver))
                }
                (Some(body), false) => UnsyncBoxBody::new(Full::new(body.clone())),
                (None, false) => UnsyncBoxBody::new(http_body_util::Empty::new()),
            };
            let was_streamed = upload.is_some();
            let timeout = Duration::from_millis(limits.timeout_ms);
            let send = rusm_rt::time::timeout(timeout, send(&outbound, body, &policy.tls));
            let (response, driver) = match self.while_sending(send, &mut upload, limits).await? {
                Ok(sent) => sent?,
                Err(_) => {
                    return Err(Stop::Fail(format!(
                        "fetch: no response from {} within [fetch] timeout-ms ({} ms)",
                        origin(&outbound.url),
                        limits.timeout_ms
                    )));
                }
            };
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_string);
            let Some(location) = location.filter(|_| response.status().is_redirection()) else {
                return Ok((response, outbound.url, redirects > 0, driver));
            };
            let next = outbound
                .url
                .join(&location)
                .map_err(|e| format!("fetch: bad redirect location {location:?}: {e}"))?;
            match outbound.redirect {
                Redirect::Manual => return Ok((response, outbound.url, redirects > 0, driver)),
                Redirect::Error => {
                    return Err(Stop::Fail(format!(
                        "fetch: redirected to {next} (redirect mode is error)"
                    )));
                }
                Redirect::Follow => {}
            }
            redirects += 1;
            if redirects > limits.max_redirects {
                return Err(Stop::Fail(format!(
                    "fetch: more than [fetch] max-redirects ({}) redirects",
                    limits.max_redirects
                )));
            }
            if !matches!(next.scheme(), "http" | "https") {
                return Err(Stop::Fail(format!(
                    "fetch: redirected to {next}, not http or https"
                )));
            }
            policy
                .allow(&next)
                .map_err(|denied| format!("{denied} (redirected from {})", outbound.url))?;
            let status = response.status();
            let keeps_body = matches!(
                status,
                StatusCode::TEMPORARY_REDIRECT | StatusCode::PERMANENT_REDIRECT
            );
            if keeps_body && was_streamed {
                return Err(Stop::Fail(format!(
                    "fetch: cannot follow a {} redirect with a streamed request body",
                    status.as_u16()
                )));
            }
            if !keeps_body && outbound.method != Method::HEAD {
                // What browsers do: 301/302 after POST and every 303 become GETs.
                if status == StatusCode::SEE_OTHER || outbound.method == Method::POST {
                    outbound.method = Method::GET;
                    outbound.body = None;
                    outbound.headers.remove(header::CONTENT_TYPE);
                }
            }
            if origin(&next) != origin(&outbound.url) {
                outbound.headers.remove(header::AUTHORIZATION);
                outbound.headers.remove(header::COOKIE);
            }
            outbound.url = next;
        }
    }

    /// Waits for `send` while carrying a streamed request body from the
    /// owner's messages into it. A chunk waits for room in the body (the
    /// server taking it) while `send` goes on: connecting, then writing.
    async fn while_sending<T>(
        &mut self,
        send: impl Future<Output = T>,
        upload: &mut Option<mpsc::Sender<Bytes>>,
        limits: &Limits,
    ) -> Result<T, Stop> {
        let mut send = std::pin::pin!(send);
        let mut sent = 0usize;
        let mut waiting: Option<Bytes> = None;
        let mut ended = false;
        loop {
            rusm_rt::select! {
                outcome = &mut send => return Ok(outcome),
                permit = room(upload.clone()), if waiting.is_some() => {
                    // The server stopped reading: its response says why.
                    if let (Some(permit), Some(chunk)) = (permit, waiting.take()) {
                        permit.send(chunk);
                        self.tell(to_owner::SENT, &[]);
                    }
                    if ended {
                        *upload = None;
                    }
                }
                order = self.order() => match order {
                    Order::Chunk(chunk) if upload.is_some() => {
                        sent += chunk.len();
                        if sent > limits.max_request_bytes {
                            return Err(Stop::Fail(too_big_request(limits.max_request_bytes)));
                        }
                        // The owner waits for `sent` before its next chunk;
                        // one that does not is joined to the one waiting.
                        waiting = Some(match waiting.take() {
                            None => Bytes::from(chunk),
                            Some(before) => [before.as_ref(), &chunk].concat().into(),
                        });
                    }
                    Order::Chunk(_) => {}
                    Order::End => {
                        if waiting.is_none() {
                            *upload = None;
                        } else {
                            ended = true;
                        }
                    }
                    Order::Read => self.reads += 1,
                    Order::Abort => return Err(Stop::Abort),
                }
            }
        }
    }

    /// Hands the body over one piece per `read`.
    async fn stream(&mut self, mut body: Incoming, limits: &Limits) -> Result<(), Stop> {
        let idle = Duration::from_millis(limits.idle_timeout_ms);
        let mut pending: VecDeque<Bytes> = VecDeque::new();
        let mut received = 0usize;
        loop {
            while self.reads == 0 {
                match self.order().await {
                    Order::Read => self.reads += 1,
                    Order::Abort => return Err(Stop::Abort),
                    Order::Chunk(_) | Order::End => {}
                }
            }
            if let Some(piece) = pending.pop_front() {
                self.reads -= 1;
                self.tell(to_owner::CHUNK, &piece);
                continue;
            }
            let frame = rusm_rt::select! {
                frame = rusm_rt::time::timeout(idle, body.frame()) => frame,
                order = self.order() => {
                    match order {
                        Order::Read => self.reads += 1,
                        Order::Abort => return Err(Stop::Abort),
                        Order::Chunk(_) | Order::End => {}
                    }
                    continue;
                }
            };
            match frame {
                Err(_) => {
                    return Err(Stop::Fail(format!(
                        "fetch: no response data for [fetch] idle-timeout-ms ({} ms)",
                        limits.idle_timeout_ms
                    )));
                }
                Ok(None) => {
                    self.tell(to_owner::END, &[]);
                    return Ok(());
                }
                Ok(Some(Err(e))) => {
                    return Err(Stop::Fail(format!(
                        "fetch: the response body broke off: {e}"
                    )));
                }
                Ok(Some(Ok(frame))) => {
                    let Ok(mut data) = frame.into_data() else {
                        continue;
                    };
                    received += data.len();
                    if received > limits.max_response_bytes {
                        return Err(Stop::Fail(format!(
                            "fetch: the response body is over [fetch] max-response-bytes ({})",
                            limits.max_response_bytes
                        )));
                    }
                    let piece = self.piece_bytes();
                    while data.len() > piece {
                        pending.push_back(data.split_to(piece));
                    }
                    if !data.is_empty() {
                        pending.push_back(data);
                    }
                }
            }
        }
    }

    /// The next order from the owner; `Abort` once the owner has ended.
    async fn order(&self) -> Order {
        loop {
            match self.process.receive().await {
                Message::Data { from, bytes } if from == self.owner => match bytes.split_first() {
                    Some((&from_owner::CHUNK, chunk)) => return Order::Chunk(chunk.to_vec()),
                    Some((&from_owner::END, _)) => return Order::End,
                    Some((&from_owner::READ, _)) => return Order::Read,
                    Some((&from_owner::ABORT, _)) => return Order::Abort,
                    _ => {}
                },
                Message::Down { monitor, .. } if monitor == self.watch => return Order::Abort,
                _ => {}
            }
        }
    }

    /// The largest body piece that fits in one message with its tag.
    fn piece_bytes(&self) -> usize {
        let limit = self.process.node().limits().message_bytes;
        CHUNK_BYTES.min(limit.saturating_sub(1)).max(1)
    }

    /// Sends the owner a tagged message; false if it is over the size limit.
    fn tell(&self, tag: u8, payload: &[u8]) -> bool {
        let mut bytes = Vec::with_capacity(payload.len() + 1);
        bytes.push(tag);
        bytes.extend_from_slice(payload);
        self.process.send(self.owner, bytes).is_ok()
    }
}

/// Room for one chunk in a streamed request body; `None` once the body
/// is gone (the connection ended).
async fn room(upload: Option<mpsc::Sender<Bytes>>) -> Option<mpsc::OwnedPermit<Bytes>> {
    upload?.reserve_owned().await.ok()
}

/// The task that drives a connection; aborted (closing the socket) when
/// the request is over.
struct Driver(rusm_rt::task::JoinHandle<()>);

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A streamed request body: what the owner sends, until it says end.
struct Upload(mpsc::Receiver<Bytes>);

impl Body for Upload {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

/// Connects to the URL's host and sends one request over a new connection.
async fn send(
    outbound: &Outbound,
    body: UnsyncBoxBody<Bytes, Infallible>,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<(http::Response<Incoming>, Driver), Stop> {
    let url = &outbound.url;
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or_default();
    let addresses = rusm_rt::net::lookup(host, port)
        .await
        .map_err(|e| format!("fetch: cannot resolve {host}: {e}"))?;
    let mut last = format!("fetch: {host} has no address");
    let mut stream = None;
    for address in addresses {
        match rusm_rt::net::connect(address).await {
            Ok(connected) => {
                stream = Some(connected);
                break;
            }
            Err(e) => last = format!("fetch: cannot connect to {host}:{port}: {e}"),
        }
    }
    let stream = stream.ok_or(Stop::Fail(last))?;
    let (mut sender, driver) = if url.scheme() == "https" {
        let name = rustls_pki_types::ServerName::try_from(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
        )
        .map_err(|e| format!("fetch: {host} is not a TLS server name: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(tls.clone())
            .connect(name, stream)
            .await
            .map_err(|e| format!("fetch: TLS with {host}:{port} failed: {e}"))?;
        handshake(tls).await?
    } else {
        handshake(stream).await?
    };
    let mut request = http::Request::builder()
        .method(outbound.method.clone())
        .uri(&url[url::Position::BeforePath..url::Position::AfterQuery])
        .body(body)
        .map_err(|e| format!("fetch: {e}"))?;
    *request.headers_mut() = outbound.headers.clone();
    let authority = &url[url::Position::BeforeHost..url::Position::AfterPort];
    let authority =
        HeaderValue::from_str(authority).map_err(|_| format!("fetch: bad host {authority:?}"))?;
    request.headers_mut().insert(header::HOST, authority);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("fetch: {} failed: {e}", origin(url)))?;
    Ok((response, driver))
}

/// An HTTP/1.1 client connection over `io`, its driver running as a task.
async fn handshake<T>(
    io: T,
) -> Result<
    (
        hyper::client::conn::http1::SendRequest<UnsyncBoxBody<Bytes, Infallible>>,
        Driver,
    ),
    Stop,
>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("fetch: HTTP handshake failed: {e}"))?;
    let driver = Driver(rusm_rt::task::spawn(async move {
        // Its failure reaches the request or the body as theirs.
        let _ = connection.await;
    }));
    Ok((sender, driver))
}

/// What https trusts: the webpki roots, and the certificates of `ca_file`
/// (PEM) if given; ring, HTTP/1.1 only.
pub(crate) fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(file) = ca_file {
        let shown = file.display();
        let certificates = CertificateDer::pem_file_iter(file)
            .map_err(|e| format!("{shown}: {e}"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{shown}: {e}"))?;
        if certificates.is_empty() {
            return Err(format!("{shown}: no PEM certificate in it"));
        }
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|e| format!("{shown}: {e}"))?;
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// The head message: status, headers, final URL, whether redirected.
fn head_json(response: &http::Response<Incoming>, url: &Url, redirected: bool) -> String {
    let headers: Vec<(&str, String)> = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    serde_json::json!({
        "status": response.status().as_u16(),
        "status-text": response.status().canonical_reason().unwrap_or(""),
        "headers": headers,
        "url": url.as_str(),
        "redirected": redirected,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_that_is_missing_or_holds_no_certificate_is_refused_by_name() {
        assert!(tls_config(None).is_ok());
        let missing = tls_config(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(missing.starts_with("/nonexistent/ca.pem: "), "{missing}");
        let empty = std::env::temp_dir().join(format!("rusm-empty-ca-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let refused = tls_config(Some(&empty)).unwrap_err();
        let _ = std::fs::remove_file(&empty);
        assert!(refused.ends_with("no PEM certificate in it"), "{refused}");
    }
}
