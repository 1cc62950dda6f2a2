//! A WebSocket listener: each connection is a pair of processes. The socket
//! process (native, label `ws`) holds the socket; the handler process (the
//! listener's component) gets each inbound frame as a message from it and
//! answers with `send-frame`. They are linked: when the client leaves the
//! socket process exits with `disconnect`, which ends the handler; when the
//! handler ends the socket is closed (1000 if it returned, 1011 if it
//! failed); when the server drains, with 1001 (going away), and both end
//! `shutdown`. Pings are answered by tungstenite.

use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use http::StatusCode;
use rusm_config::{Listener, ServeLimits};
use rusm_core::{ExitReason, Message, Pid, Process};
use rusm_host::{Answer, Frame, Host, Request, Session};
use rusm_rt::net::TcpStream;
use rusm_rt::time::Duration;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::handshake::server::{
    ErrorResponse, Request as Upgrade, Response,
};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};

use crate::{Draining, Slot, header_list};

/// What each connection's socket reads into at once.
const READ_BUFFER_BYTES: usize = 4 << 10;

/// What a WebSocket listener serves.
pub(crate) struct Site {
    host: Host,
    component: String,
    limits: ServeLimits,
    draining: Draining,
}

impl Site {
    pub(crate) fn new(host: &Host, listener: &Listener, draining: Draining) -> Arc<Site> {
        Arc::new(Site {
            host: host.clone(),
            // The config refuses a ws listener without one.
            component: listener.component.clone().unwrap_or_default(),
            limits: listener.limits,
            draining,
        })
    }
}

/// How a conversation ended.
enum End {
    /// The client closed, vanished or broke the protocol.
    ClientLeft,
    /// The client sent a frame over `max-frame-bytes`.
    TooBig,
    /// The handler process ended.
    HandlerEnded(ExitReason),
    /// The server drains.
    Drained,
}

pub(crate) async fn connection(site: Arc<Site>, stream: TcpStream, slot: Option<Slot>) {
    let refusal = if slot.is_none() {
        Some("too many connections\n")
    } else if !site.host.has_room(&site.component) {
        Some("the node's memory budget is full\n")
    } else {
        None
    };
    let Some((mut ws, request)) = handshake(&site, stream, refusal).await else {
        return;
    };
    let Ok(socket) = site.host.node().attach("ws").map(SocketProcess) else {
        let _ = ws
            .close(Some(close(
                CloseCode::Again,
                "the node is at its process limit",
            )))
            .await;
        return;
    };
    let (session, mut answers) = Session::websocket(request, socket.pid());
    let handler = match site.host.spawn_session(&site.component, session) {
        Ok(pid) => pid,
        Err(_) => {
            let _ = ws
                .close(Some(close(
                    CloseCode::Again,
                    "the node is at its process limit",
                )))
                .await;
            end(&socket, ExitReason::Normal);
            return;
        }
    };
    // The socket process learns of the handler's end as a message; the
    // handler, not trapping exits, ends with the socket's `disconnect`.
    let linked = socket.trap_exit(true).and_then(|_| socket.link(handler));
    let ending = match linked {
        Err(_) => End::HandlerEnded(ExitReason::Noproc),
        Ok(()) => converse(&mut ws, &socket, handler, &mut answers, &site.draining).await,
    };
    // Dropping `socket` ends it with `disconnect`, and the handler with it.
    match ending {
        End::ClientLeft => {}
        End::TooBig => {
            let _ = ws
                .close(Some(close(CloseCode::Size, "frame too large")))
                .await;
        }
        End::HandlerEnded(reason) => {
            let code = if reason.is_normal() {
                CloseCode::Normal
            } else {
                CloseCode::Error
            };
            let _ = ws.close(Some(close(code, ""))).await;
            end(&socket, ExitReason::Normal);
        }
        End::Drained => {
            let _ = ws
                .close(Some(close(CloseCode::Away, "the node is shutting down")))
                .await;
            // The link passes it on: the handler ends `shutdown` too.
            end(&socket, ExitReason::Shutdown);
        }
    }
    drop(slot);
}

/// Accepts the upgrade within `request-timeout-ms`, or refuses it with 503
/// and the `refusal` text (a full listener or memory budget); returns the
/// upgrade request as the handler will see it.
#[allow(
    clippy::result_large_err,
    reason = "the callback's signature is tungstenite's"
)]
async fn handshake(
    site: &Site,
    stream: TcpStream,
    refusal: Option<&'static str>,
) -> Option<(WebSocketStream<TcpStream>, Request)> {
    let seen = Arc::new(Mutex::new(Request::default()));
    let record = seen.clone();
    let callback =
        move |upgrade: &Upgrade, response: Response| -> Result<Response, ErrorResponse> {
            if let Some(text) = refusal {
                let mut refusal = ErrorResponse::new(Some(text.into()));
                *refusal.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                return Err(refusal);
            }
            if let Ok(mut request) = record.lock() {
                *request = Request {
                    method: upgrade.method().as_str().to_string(),
                    path: upgrade.uri().path().to_string(),
                    query: upgrade.uri().query().unwrap_or_default().to_string(),
                    headers: header_list(upgrade.headers()),
                    body: Vec::new(),
                };
            }
            Ok(response)
        };
    let config = WebSocketConfig::default()
        // tungstenite allocates its read buffer up front, 128 KiB by
        // default: most of what a held connection cost. A frame larger
        // than this is read in more than one go.
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_frame_size(Some(site.limits.max_frame_bytes))
        .max_message_size(Some(site.limits.max_frame_bytes));
    let timeout = Duration::from_millis(site.limits.request_timeout_ms);
    let accepted = rusm_rt::time::timeout(
        timeout,
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)),
    )
    .await;
    let ws = accepted.ok()?.ok()?;
    let request = std::mem::take(&mut *seen.lock().ok()?);
    Some((ws, request))
}

/// Carries frames both ways until one side ends.
async fn converse(
    ws: &mut WebSocketStream<TcpStream>,
    socket: &Process,
    handler: Pid,
    answers: &mut rusm_host::Answers,
    draining: &Draining,
) -> End {
    loop {
        rusm_rt::select! {
            () = draining.wait() => return End::Drained,
            inbound = ws.next() => {
                let frame = match inbound {
                    Some(Ok(WsMessage::Text(text))) => Frame::Text(text.as_str().to_string()),
                    Some(Ok(WsMessage::Binary(bytes))) => Frame::Binary(bytes.to_vec()),
                    // Pings are answered by tungstenite itself.
                    Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => continue,
                    Some(Err(tokio_tungstenite::tungstenite::Error::Capacity(_))) => return End::TooBig,
                    Some(Ok(WsMessage::Close(_)) | Err(_)) | None => return End::ClientLeft,
                };
                // A frame over the node's message limit is as unwelcome as
                // one over the listener's.
                if socket.send(handler, frame.to_message()).is_err() {
                    return End::TooBig;
                }
            }
            answer = answers.next() => match answer {
                Some(Answer::Frame(frame)) => {
                    let message = match frame {
                        Frame::Text(text) => WsMessage::text(text),
                        Frame::Binary(bytes) => WsMessage::binary(bytes),
                    };
                    if ws.send(message).await.is_err() {
                        return End::ClientLeft;
                    }
                }
                // The host lets a WebSocket handler send nothing else.
                Some(_) => {}
                // The handler's store is gone: it has ended; its exit
                // signal says how.
                None => return End::HandlerEnded(exit_of(socket, handler).await),
            },
            message = socket.receive() => {
                if let Message::Exit { from, reason } = message
                    && from == handler
                {
                    return End::HandlerEnded(reason);
                }
            }
        }
    }
}

/// The reason `handler` ended, from the exit signal the link brings.
async fn exit_of(socket: &Process, handler: Pid) -> ExitReason {
    loop {
        if let Message::Exit { from, reason } = socket.receive().await
            && from == handler
        {
            return reason;
        }
    }
}

/// Ends the socket process with `reason` (which the link passes on to the
/// handler, if it is still running).
fn end(socket: &Process, reason: ExitReason) {
    // Trapping, it would only get its own signal as a message.
    let _ = socket.trap_exit(false);
    let _ = socket.exit(socket.pid(), reason);
}

/// The socket process of a connection. However the connection's task ends
/// (the server stopping drops it mid-conversation), its process ends too,
/// with `disconnect` unless it already ended.
struct SocketProcess(Process);

impl std::ops::Deref for SocketProcess {
    type Target = Process;

    fn deref(&self) -> &Process {
        &self.0
    }
}

impl Drop for SocketProcess {
    fn drop(&mut self) {
        end(&self.0, ExitReason::Disconnect);
    }
}

fn close(code: CloseCode, reason: &str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.to_string().into(),
    }
}
