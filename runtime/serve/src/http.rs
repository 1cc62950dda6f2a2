//! An HTTP listener: hyper serves each connection, and each request routed
//! by `[serve.routes]` gets a fresh process of its component.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rusm_config::{Listener, NotFound, RouteTable, ServeLimits};
use rusm_core::{ExitReason, Node, OpError, Pid};
use rusm_host::{Answer, Answers, Host, HostError, Request, Session};
use rusm_rt::net::TcpStream;
use rusm_rt::time::Duration;

use crate::timer::RtTimer;
use crate::{Draining, Slot, header_list};

/// What an HTTP listener serves.
pub(crate) struct Site {
    host: Host,
    routes: RouteTable,
    /// The component that handles every request when there are no routes.
    component: Option<String>,
    limits: ServeLimits,
    draining: Draining,
}

impl Site {
    pub(crate) fn new(host: &Host, listener: &Listener, draining: Draining) -> Arc<Site> {
        Arc::new(Site {
            host: host.clone(),
            routes: listener.routes.clone(),
            component: listener.component.clone(),
            limits: listener.limits,
            draining,
        })
    }
}

/// Serves one connection until the client closes it, or until the server
/// drains and the request in flight (if any) is answered; a connection
/// over `max-connections` is answered 503 and closed.
pub(crate) async fn connection(site: Arc<Site>, stream: TcpStream, slot: Option<Slot>) {
    let io = TokioIo::new(stream);
    let mut builder = http1::Builder::new();
    builder
        .timer(RtTimer)
        .header_read_timeout(Duration::from_millis(site.limits.request_timeout_ms))
        .max_buf_size(site.limits.max_header_bytes)
        .keep_alive(slot.is_some());
    let draining = site.draining.clone();
    match slot {
        Some(_) => {
            let service = service_fn(move |request| {
                let site = site.clone();
                async move { Ok::<_, Infallible>(handle(&site, request).await) }
            });
            let mut served = std::pin::pin!(builder.serve_connection(io, service));
            rusm_rt::select! {
                _ = served.as_mut() => {}
                () = draining.wait() => {
                    // Closes it now if idle, else once the answer in
                    // flight is written.
                    served.as_mut().graceful_shutdown();
                    let _ = served.await;
                }
            }
        }
        None => {
            let service = service_fn(|_| async {
                Ok::<_, Infallible>(refuse(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many connections\n",
                ))
            });
            // A connection error (the client vanished mid-request, a
            // malformed head hyper already answered) ends only this
            // connection.
            let _ = builder.serve_connection(io, service).await;
        }
    }
    drop(slot);
}

/// Routes, reads the body within the limits, and has a fresh process answer.
async fn handle(site: &Site, request: http::Request<Incoming>) -> http::Response<Body> {
    let (component, action, params) = match site
        .routes
        .find(request.method().as_str(), request.uri().path())
    {
        Ok(found) => (
            found.component.to_string(),
            found.action.to_string(),
            found.params,
        ),
        Err(_) if site.routes.is_empty() && site.component.is_some() => (
            site.component.clone().unwrap_or_default(),
            String::new(),
            Vec::new(),
        ),
        Err(NotFound::Path) => return plain(StatusCode::NOT_FOUND, "not found\n"),
        Err(NotFound::Method { allowed }) => {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            if let Ok(allow) = HeaderValue::from_str(&allowed.join(", ")) {
                response.headers_mut().insert(ALLOW, allow);
            }
            return response;
        }
    };
    let (head, body) = request.into_parts();
    let body = match read_body(body, &head, &site.limits).await {
        Ok(body) => body,
        Err(refusal) => return refusal,
    };
    let request = Request {
        method: head.method.as_str().to_string(),
        path: head.uri.path().to_string(),
        query: head.uri.query().unwrap_or_default().to_string(),
        headers: header_list(&head.headers),
        body,
    };
    let params = params
        .into_iter()
        .map(|(k, v)| (k, percent_decoded(&v)))
        .collect();
    let (session, answers) = Session::http(&action, params, request);
    let pid = match site.host.spawn_session(&component, session) {
        Ok(pid) => pid,
        Err(HostError::Spawn(OpError::MemoryBudget { .. })) => {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the node's memory budget is full\n",
            );
        }
        Err(HostError::Spawn(_)) => {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the node is at its process limit\n",
            );
        }
        Err(_) => return plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"),
    };
    let mut exchange = Exchange {
        answers,
        node: site.host.node().clone(),
        pid,
        finished: false,
    };
    let deadline = Duration::from_millis(site.limits.handler_timeout_ms);
    let Ok(first) = rusm_rt::time::timeout(deadline, exchange.answers.next()).await else {
        exchange.finished = true;
        // Issued by the spawn just now: the pid is valid, dead or alive.
        let _ = exchange.node.kill(pid, ExitReason::Timeout);
        return plain(
            StatusCode::GATEWAY_TIMEOUT,
            "the handler did not answer in time\n",
        );
    };
    match first {
        Some(Answer::Whole {
            status,
            headers,
            body,
        }) => {
            exchange.finished = true;
            let mut response = http::Response::new(Body::Whole(Some(Bytes::from(body))));
            *response.headers_mut() = headers;
            *response.status_mut() = status;
            response
        }
        Some(Answer::Head { status, headers }) => {
            let stream = Stream {
                exchange,
                drained: Box::pin(site.draining.owned()),
                ended: false,
            };
            let mut response = http::Response::new(Body::Stream(stream));
            *response.headers_mut() = headers;
            *response.status_mut() = status;
            response
        }
        // The process ended (or trapped: the lifecycle log has why)
        // without answering.
        _ => {
            exchange.finished = true;
            plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
    }
}

/// The whole body, or the refusal: 413 over `max-body-bytes`, 408 when the
/// client is slower than `request-timeout-ms`. Both close the connection,
/// as the rest of the body is left unread.
async fn read_body(
    body: Incoming,
    head: &http::request::Parts,
    limits: &ServeLimits,
) -> Result<Vec<u8>, http::Response<Body>> {
    let too_large = || refuse(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n");
    let declared = head
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    let timeout = Duration::from_millis(limits.request_timeout_ms);
    match rusm_rt::time::timeout(timeout, Limited::new(body, limits.max_body_bytes).collect()).await
    {
        Err(_) => Err(refuse(StatusCode::REQUEST_TIMEOUT, "request timeout\n")),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(_)) => Err(refuse(
            StatusCode::BAD_REQUEST,
            "the request body could not be read\n",
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes().to_vec()),
    }
}

/// A request's process and its answers. Dropped before the process has
/// answered in full (hyper drops it when the client disconnects), it tells
/// the process its client is gone.
struct Exchange {
    answers: Answers,
    node: Node,
    pid: Pid,
    finished: bool,
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if !self.finished {
            self.answers.client_gone(&self.node, self.pid);
        }
    }
}

/// A response body: whole, or streamed from the process's writes.
enum Body {
    Whole(Option<Bytes>),
    Stream(Stream),
}

/// A streamed answer (SSE), which the server's drain ends.
struct Stream {
    exchange: Exchange,
    /// Resolves when the server drains.
    drained: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// The drain has told the process to end.
    ended: bool,
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut *self {
            Body::Whole(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(stream) => loop {
                let exchange = &mut stream.exchange;
                match exchange.answers.poll_next(cx) {
                    Poll::Ready(Some(Answer::Chunk(chunk))) => {
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))));
                    }
                    // The host lets a streaming process send nothing else.
                    Poll::Ready(Some(_)) => continue,
                    Poll::Ready(None) => {
                        exchange.finished = true;
                        return Poll::Ready(None);
                    }
                    Poll::Pending => {}
                }
                if stream.ended || stream.drained.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                // The server drains: the process is told to end (it may
                // trap it and finish first), and its end ends the stream
                // cleanly.
                stream.ended = true;
                // Issued by the spawn: the pid is valid, dead or alive.
                let _ = exchange.node.exit(exchange.pid, ExitReason::Shutdown);
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Whole(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Whole(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Body::Stream(_) => SizeHint::default(),
        }
    }
}

/// A short text response.
fn plain(status: StatusCode, text: &'static str) -> http::Response<Body> {
    let mut response = http::Response::new(Body::Whole(Some(Bytes::from_static(text.as_bytes()))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A refusal after which the connection closes (the request was not read
/// in full, or the client is not welcome to send another).
fn refuse(status: StatusCode, text: &'static str) -> http::Response<Body> {
    let mut response = plain(status, text);
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A path parameter as the action sees it: `%20` is a space.
fn percent_decoded(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).and_then(|&b| hex(b)),
            bytes.get(i + 2).and_then(|&b| hex(b)),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::percent_decoded;

    #[test]
    fn path_parameters_are_percent_decoded() {
        assert_eq!(percent_decoded("j%20d"), "j d");
        assert_eq!(percent_decoded("%C3%A9t%C3%A9"), "été");
        assert_eq!(percent_decoded("100%"), "100%");
        assert_eq!(percent_decoded("%zz%4"), "%zz%4");
        assert_eq!(percent_decoded("%ff"), "\u{fffd}");
    }
}
