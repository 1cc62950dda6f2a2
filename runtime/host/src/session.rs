//! Sessions: what a process spawned for a client serves, and the channel
//! its answer travels back on (the `rusm:runtime/serving` imports).
//!
//! The serving layer (`rusm-serve`) makes a [`Session`] per HTTP request or
//! WebSocket connection, spawns a process with it ([`crate::Host::spawn_session`])
//! and reads the process's [`Answer`]s from the other end, [`Answers`]. The
//! channel is bounded: a guest writing a stream faster than its client reads
//! waits in `write`, so an SSE loop needs no sleep to be well-behaved.
//!
//! The memory budget counts what a session makes the host hold for its
//! process: the request, from the spawn to the process's end, and each
//! answer from the call that queues it until the serving layer takes it
//! (or the process ends, which gives back all it held).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use rusm_core::{ExitReason, Held, Node, OpError, Pid};
use rusm_rt::sync::mpsc;

use crate::imports::rusm::runtime::serving as wit;
use crate::process::ProcState;

/// Answers a process may have in flight before `write` waits: enough to
/// keep a socket busy, small enough that a slow client holds little memory.
const ANSWER_BUFFER: usize = 16;

/// A request as the client sent it (for a WebSocket, the upgrade request).
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// Percent-encoded as received, without the query.
    pub path: String,
    /// Without its `?`; empty when there is none.
    pub query: String,
    /// Names in lower case; values that are not UTF-8 are replaced.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The bytes it holds, as the memory budget counts them.
    pub(crate) fn bytes(&self) -> usize {
        let headers: usize = self.headers.iter().map(|(n, v)| n.len() + v.len()).sum();
        self.method.len() + self.path.len() + self.query.len() + headers + self.body.len()
    }
}

/// What a process serves; given to [`crate::Host::spawn_session`].
pub struct Session {
    action: String,
    params: Vec<(String, String)>,
    request: Request,
    socket: Option<Pid>,
    answers: mpsc::Sender<Queued>,
    client: Arc<ClientState>,
}

/// An answer on its way, with its bytes' share of the memory budget.
struct Queued {
    answer: Answer,
    _held: Held,
}

/// What a serving process sends back.
#[derive(Debug)]
pub enum Answer {
    /// A whole HTTP response.
    Whole {
        status: StatusCode,
        headers: HeaderMap,
        body: Vec<u8>,
    },
    /// The head of a streamed HTTP response; [`Answer::Chunk`]s follow.
    Head {
        status: StatusCode,
        headers: HeaderMap,
    },
    Chunk(Vec<u8>),
    /// A WebSocket frame.
    Frame(Frame),
}

impl Answer {
    /// The bytes it holds, as the memory budget counts them.
    fn bytes(&self) -> usize {
        let headers = |map: &HeaderMap| -> usize {
            map.iter().map(|(n, v)| n.as_str().len() + v.len()).sum()
        };
        match self {
            Answer::Whole {
                headers: h, body, ..
            } => headers(h) + body.len(),
            Answer::Head { headers: h, .. } => headers(h),
            Answer::Chunk(chunk) => chunk.len(),
            Answer::Frame(Frame::Text(text)) => text.len(),
            Answer::Frame(Frame::Binary(bytes)) => bytes.len(),
        }
    }
}

/// A WebSocket frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

impl Frame {
    /// The tag byte an inbound frame carries in its data message (see
    /// `serving.session.socket` in the WIT file), then the payload.
    pub fn to_message(&self) -> Vec<u8> {
        let (tag, payload) = match self {
            Frame::Text(text) => (0, text.as_bytes()),
            Frame::Binary(bytes) => (1, bytes.as_slice()),
        };
        let mut message = Vec::with_capacity(1 + payload.len());
        message.push(tag);
        message.extend_from_slice(payload);
        message
    }
}

/// Whether the client is still there, and whether the process is waiting
/// for a message (where only an exit signal would reach it).
#[derive(Default)]
struct ClientState {
    gone: AtomicBool,
    receiving: AtomicBool,
}

/// The serving layer's end of a session.
pub struct Answers {
    receiver: mpsc::Receiver<Queued>,
    client: Arc<ClientState>,
}

impl Session {
    /// The bytes its request holds, as the memory budget counts them.
    pub(crate) fn bytes(&self) -> usize {
        self.request.bytes()
    }

    /// A session for an HTTP request routed to `action`.
    pub fn http(
        action: &str,
        params: Vec<(String, String)>,
        request: Request,
    ) -> (Session, Answers) {
        Session::new(action, params, request, None)
    }

    /// A session for a WebSocket connection whose socket is held by the
    /// process `socket` (it sends the inbound frames).
    pub fn websocket(request: Request, socket: Pid) -> (Session, Answers) {
        Session::new("", Vec::new(), request, Some(socket))
    }

    fn new(
        action: &str,
        params: Vec<(String, String)>,
        request: Request,
        socket: Option<Pid>,
    ) -> (Session, Answers) {
        let (sender, receiver) = mpsc::channel(ANSWER_BUFFER);
        let client = Arc::new(ClientState::default());
        let session = Session {
            action: action.to_string(),
            params,
            request,
            socket,
            answers: sender,
            client: client.clone(),
        };
        (session, Answers { receiver, client })
    }
}

impl Answers {
    /// The process's next answer; `None` once it has ended. Taken, it no
    /// longer counts against the budget.
    pub async fn next(&mut self) -> Option<Answer> {
        self.receiver.recv().await.map(|queued| queued.answer)
    }

    /// For a body stream: polls the next answer.
    pub fn poll_next(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Answer>> {
        self.receiver
            .poll_recv(cx)
            .map(|queued| queued.map(|queued| queued.answer))
    }

    /// The client of process `pid` went away. A process waiting for a
    /// message is ended with `disconnect` at once. Any other learns it
    /// from its next `write`, which returns false; it ends with
    /// `disconnect` when it returns or next waits for a message.
    pub fn client_gone(&self, node: &Node, pid: Pid) {
        // Set `gone` before reading `receiving`, the reverse of
        // `ProcState::await_messages`: one of the two sees the other.
        self.client.gone.store(true, Ordering::SeqCst);
        if self.client.receiving.load(Ordering::SeqCst) {
            // An unissued pid is impossible here; a dead one is ignored.
            let _ = node.exit(pid, ExitReason::Disconnect);
        }
    }
}

/// A session as its process holds it.
pub(crate) struct SessionState {
    session: Session,
    begun: Begun,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Begun {
    Not,
    Whole,
    Stream,
}

impl SessionState {
    pub(crate) fn new(session: Session) -> SessionState {
        SessionState {
            session,
            begun: Begun::Not,
        }
    }

    /// Whether the client has gone: the process's normal end is then a
    /// `disconnect`, and it may not block any more.
    pub(crate) fn client_gone(&self) -> bool {
        self.session.client.gone.load(Ordering::SeqCst)
    }
}

impl ProcState {
    fn http_session(&mut self, call: &str) -> Result<&mut SessionState, String> {
        match &mut self.session {
            Some(state) if state.session.socket.is_none() => Ok(state),
            Some(_) => Err(format!(
                "{call}: a WebSocket session answers with send-frame"
            )),
            None => Err(format!("{call}: this process serves no request")),
        }
    }

    /// Queues the head of the answer: a whole response with `body`, or the
    /// head of a streamed one without.
    fn begin(
        &mut self,
        call: &str,
        status: u16,
        headers: Vec<(String, String)>,
        body: Option<Vec<u8>>,
    ) -> wasmtime::Result<Result<(), String>> {
        let state = match self.http_session(call) {
            Ok(state) => state,
            Err(e) => return Ok(Err(e)),
        };
        if state.begun != Begun::Not {
            return Ok(Err(format!("{call}: the response was already begun")));
        }
        let (status, headers) = match head(status, headers) {
            Ok(head) => head,
            Err(e) => return Ok(Err(format!("{call}: {e}"))),
        };
        let answer = match body {
            Some(body) => {
                state.begun = Begun::Whole;
                Answer::Whole {
                    status,
                    headers,
                    body,
                }
            }
            None => {
                state.begun = Begun::Stream;
                Answer::Head { status, headers }
            }
        };
        let queued = self.queued(call, answer)?;
        // The first answer always fits the buffer; a closed channel means
        // the client left, which a streaming process learns when it writes.
        if let Some(state) = &self.session {
            let _ = state.session.answers.try_send(queued);
        }
        Ok(Ok(()))
    }

    /// `answer` with its bytes held against the memory budget; past it,
    /// the process ends `memory-budget` (it holds the most: others were
    /// ended first if that made room).
    fn queued(&mut self, call: &str, answer: Answer) -> wasmtime::Result<Queued> {
        match self.process.hold_buffer(answer.bytes()) {
            Ok(held) => Ok(Queued {
                answer,
                _held: held,
            }),
            Err(OpError::MemoryBudget { .. }) => Err(self.end(ExitReason::MemoryBudget)),
            Err(e) => self.checked(call, Err(e)),
        }
    }

    /// Called before waiting for a message: ends the process with
    /// `disconnect` if its client has gone (a process nobody waits for
    /// would otherwise wait forever), and otherwise marks it as waiting
    /// until the returned guard drops, so a client leaving meanwhile ends
    /// it at once.
    pub(crate) fn await_messages(&mut self) -> wasmtime::Result<Option<Receiving>> {
        let Some(state) = &self.session else {
            return Ok(None);
        };
        let client = state.session.client.clone();
        client.receiving.store(true, Ordering::SeqCst);
        let guard = Receiving(client);
        if guard.0.gone.load(Ordering::SeqCst) {
            return Err(self.end(ExitReason::Disconnect));
        }
        Ok(Some(guard))
    }

    /// Sends `answer` on the session's channel, waiting for room; false
    /// once the client has gone.
    async fn deliver(&mut self, call: &str, answer: Answer) -> wasmtime::Result<bool> {
        match &self.session {
            Some(state) if !state.session.client.gone.load(Ordering::SeqCst) => {}
            _ => return Ok(false),
        }
        let queued = self.queued(call, answer)?;
        let Some(state) = &self.session else {
            return Ok(false);
        };
        let client = &state.session.client;
        let sent = state.session.answers.send(queued).await.is_ok();
        if !sent {
            client.gone.store(true, Ordering::SeqCst);
        }
        Ok(sent && !client.gone.load(Ordering::SeqCst))
    }
}

/// Marks a serving process as waiting for a message while it lives.
pub(crate) struct Receiving(Arc<ClientState>);

impl Drop for Receiving {
    fn drop(&mut self) {
        self.0.receiving.store(false, Ordering::SeqCst);
    }
}

/// Checks a guest's status and headers.
fn head(status: u16, headers: Vec<(String, String)>) -> Result<(StatusCode, HeaderMap), String> {
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(|s| (200..600).contains(&s.as_u16()))
        .ok_or_else(|| format!("status {status} is not a final status (200-599)"))?;
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("{name:?} is not a valid header name"))?;
        let value = HeaderValue::from_str(&value)
            .map_err(|_| format!("the value of header {name} is not valid"))?;
        map.append(name, value);
    }
    Ok((status, map))
}

impl wit::Host for ProcState {
    fn session(&mut self) -> wasmtime::Result<Option<wit::SessionInfo>> {
        Ok(self.session.as_ref().map(|state| {
            let session = &state.session;
            wit::SessionInfo {
                action: session.action.clone(),
                params: session.params.clone(),
                request: wit::Request {
                    method: session.request.method.clone(),
                    path: session.request.path.clone(),
                    query: session.request.query.clone(),
                    headers: session.request.headers.clone(),
                    body: session.request.body.clone(),
                },
                socket: session.socket.map(Pid::as_raw),
            }
        }))
    }

    fn respond(
        &mut self,
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> wasmtime::Result<Result<(), String>> {
        self.begin("respond", status, headers, Some(body))
    }

    fn respond_stream(
        &mut self,
        status: u16,
        headers: Vec<(String, String)>,
    ) -> wasmtime::Result<Result<(), String>> {
        self.begin("respond-stream", status, headers, None)
    }

    async fn write(&mut self, chunk: Vec<u8>) -> wasmtime::Result<bool> {
        match self.http_session("write") {
            Ok(state) if state.begun == Begun::Stream => {}
            Ok(_) => {
                return Err(self.end(ExitReason::Trap(
                    "write: no streamed response was begun (call respond-stream first)".into(),
                )));
            }
            Err(e) => return Err(self.end(ExitReason::Trap(e))),
        }
        self.deliver("write", Answer::Chunk(chunk)).await
    }

    async fn send_frame(&mut self, frame: wit::Frame) -> wasmtime::Result<bool> {
        if !matches!(&self.session, Some(state) if state.session.socket.is_some()) {
            return Err(self.end(ExitReason::Trap(
                "send-frame: this process serves no WebSocket".into(),
            )));
        }
        let frame = match frame {
            wit::Frame::Text(text) => Frame::Text(text),
            wit::Frame::Binary(bytes) => Frame::Binary(bytes),
        };
        self.deliver("send-frame", Answer::Frame(frame)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_answer_is_checked_before_it_goes_out() {
        let header = |n: &str, v: &str| vec![(n.to_string(), v.to_string())];
        assert!(head(204, header("x-id", "7")).is_ok());
        let informational = head(101, Vec::new()).unwrap_err();
        assert_eq!(informational, "status 101 is not a final status (200-599)");
        assert!(head(600, Vec::new()).is_err());
        let name = head(200, header("bad name", "x")).unwrap_err();
        assert_eq!(name, "\"bad name\" is not a valid header name");
        let value = head(200, header("x-a", "line\r\nbreak")).unwrap_err();
        assert_eq!(value, "the value of header x-a is not valid");
    }

    #[test]
    fn an_inbound_frame_is_a_tag_byte_and_its_payload() {
        assert_eq!(Frame::Text("hi".into()).to_message(), b"\0hi");
        assert_eq!(Frame::Binary(vec![9]).to_message(), [1, 9]);
    }
}
