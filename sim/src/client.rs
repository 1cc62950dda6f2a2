//! Simulated clients: HTTP, SSE, raw-byte and WebSocket clients of the
//! app's `[[serve]]` listeners, each a task speaking over (simulated) TCP
//! and writing what it sees into the trace as `client <name>: ...`.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rusm_rt::io::{AsyncRead, AsyncWrite, ReadBuf};
use rusm_rt::net::TcpStream;
use rusm_rt::sync::mpsc;
use rusm_rt::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::trace::Recorder;

/// A running client: dropping its task drops its connection.
pub(crate) struct Client {
    task: JoinHandle<()>,
    /// Text frames to send, for a WebSocket client.
    frames: Option<mpsc::UnboundedSender<String>>,
}

impl Client {
    /// Sends one HTTP request (`"GET /users/7"`) and reads the answer: a
    /// whole body in one line, a streamed one chunk by chunk.
    pub(crate) fn http(
        recorder: &Arc<Recorder>,
        name: &str,
        address: SocketAddr,
        request: &str,
        body: &str,
    ) -> Client {
        let say = Say::new(recorder, name);
        let (method, path) = request.split_once(' ').unwrap_or(("GET", request));
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "sim")
            .body(Full::new(Bytes::copy_from_slice(body.as_bytes())));
        let task = rusm_rt::task::spawn(async move {
            let request = match request {
                Ok(request) => request,
                Err(e) => return say.line(format_args!("bad request: {e}")),
            };
            let Some(stream) = say.connect(address).await else {
                return;
            };
            let Ok((mut sender, connection)) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
            else {
                return say.line("handshake failed");
            };
            let _connection = DropAbort(rusm_rt::task::spawn(connection));
            let response = match sender.send_request(request).await {
                Ok(response) => response,
                Err(e) => return say.line(format_args!("no answer: {e}")),
            };
            let status = response.status().as_u16();
            let streamed = response.headers().get("content-length").is_none();
            let mut body = response.into_body();
            if !streamed {
                let whole = body
                    .collect()
                    .await
                    .map(|c| c.to_bytes())
                    .unwrap_or_default();
                return say.line(format_args!(
                    "{status} {:?}",
                    String::from_utf8_lossy(&whole)
                ));
            }
            say.line(format_args!("{status} streaming"));
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(frame) => {
                        if let Ok(data) = frame.into_data() {
                            say.line(format_args!("{:?}", String::from_utf8_lossy(&data)));
                        }
                    }
                    Err(e) => return say.line(format_args!("stream broken: {e}")),
                }
            }
            say.line("stream ended");
        });
        Client { task, frames: None }
    }

    /// Writes `bytes` as they are (a request cut short, say) and reads
    /// until the server closes; the trace gets the answer's status line.
    pub(crate) fn raw(
        recorder: &Arc<Recorder>,
        name: &str,
        address: SocketAddr,
        bytes: &str,
    ) -> Client {
        use rusm_rt::io::{AsyncReadExt, AsyncWriteExt};
        let say = Say::new(recorder, name);
        let bytes = bytes.as_bytes().to_vec();
        let task = rusm_rt::task::spawn(async move {
            let Some(mut stream) = say.connect(address).await else {
                return;
            };
            // A simulated stream sends what it buffered on flush.
            if let Err(e) = async {
                stream.write_all(&bytes).await?;
                stream.flush().await
            }
            .await
            {
                return say.line(format_args!("cannot write: {e}"));
            }
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer).await;
            let answer = String::from_utf8_lossy(&answer);
            say.line(format_args!(
                "{:?}",
                answer.lines().next().unwrap_or("closed without an answer")
            ));
        });
        Client { task, frames: None }
    }

    /// Opens a WebSocket on `path`; every frame it receives goes in the
    /// trace, and [`Client::send_text`] sends.
    pub(crate) fn websocket(
        recorder: &Arc<Recorder>,
        name: &str,
        address: SocketAddr,
        path: &str,
    ) -> Client {
        let say = Say::new(recorder, name);
        let url = format!("ws://{address}{path}");
        let (frames, mut outbound) = mpsc::unbounded_channel::<String>();
        let task = rusm_rt::task::spawn(async move {
            let Some(stream) = say.connect(address).await else {
                return;
            };
            let mut ws = match tokio_tungstenite::client_async(url, stream).await {
                Ok((ws, _)) => ws,
                Err(e) => return say.line(format_args!("refused: {e}")),
            };
            loop {
                rusm_rt::select! {
                    inbound = ws.next() => match inbound {
                        Some(Ok(WsMessage::Text(text))) => say.line(format_args!("frame {:?}", text.as_str())),
                        Some(Ok(WsMessage::Binary(bytes))) => say.line(format_args!("binary frame {bytes:?}")),
                        Some(Ok(WsMessage::Close(frame))) => {
                            let code = frame.map_or("no code".into(), |f| u16::from(f.code).to_string());
                            return say.line(format_args!("closed ({code})"));
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return say.line(format_args!("broken: {e}")),
                        None => return say.line("closed"),
                    },
                    text = outbound.recv() => match text {
                        Some(text) => {
                            if ws.send(WsMessage::text(text)).await.is_err() {
                                return say.line("cannot send");
                            }
                        }
                        None => return,
                    },
                }
            }
        });
        Client {
            task,
            frames: Some(frames),
        }
    }

    /// Sends a text frame (a WebSocket client only).
    pub(crate) fn send_text(&self, text: &str) -> Result<(), String> {
        match &self.frames {
            Some(frames) => frames
                .send(text.to_string())
                .map_err(|_| "its connection has closed".to_string()),
            None => Err("it is not a WebSocket client".into()),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // The connection goes with the task, as when a client vanishes.
        self.task.abort();
    }
}

/// Aborts a task when dropped (a client's hyper connection with it).
struct DropAbort(JoinHandle<Result<(), hyper::Error>>);

impl Drop for DropAbort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Writes `client <name>: ...` lines.
struct Say {
    recorder: Arc<Recorder>,
    name: String,
}

impl Say {
    fn new(recorder: &Arc<Recorder>, name: &str) -> Say {
        Say {
            recorder: recorder.clone(),
            name: name.to_string(),
        }
    }

    /// A connection to `address`, or `None` (and a line saying why).
    async fn connect(&self, address: SocketAddr) -> Option<Socket> {
        match rusm_rt::net::connect(address).await {
            Ok(stream) => Some(Socket {
                stream,
                unflushed: false,
            }),
            Err(e) => {
                self.line(format_args!("cannot connect: {e}"));
                None
            }
        }
    }

    fn line(&self, what: impl std::fmt::Display) {
        self.recorder
            .note(format_args!("client {}: {what}", self.name));
    }
}

/// A client's end of a connection, flushed only when it has written since
/// the last flush. A real socket's flush with nothing written does nothing;
/// a simulated one sends an empty packet, which fails once the server has
/// closed its end: hyper's client flushes as it reads, so a stream the
/// server ended cleanly, then closed, read as broken.
struct Socket {
    stream: TcpStream,
    unflushed: bool,
}

impl AsyncRead for Socket {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.unflushed = true;
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if !self.unflushed {
            return Poll::Ready(Ok(()));
        }
        let flushed = Pin::new(&mut self.stream).poll_flush(cx);
        if flushed.is_ready() {
            self.unflushed = false;
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
