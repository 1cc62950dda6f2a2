//! Serving: the `[[serve]]` listeners of `rusm.toml`.
//!
//! An HTTP listener (hyper, HTTP/1.1 with keep-alive) routes each request by
//! its `[serve.routes]` table and spawns one fresh process for it, which
//! reads the request and answers through the `serving` imports: a whole
//! response, or a stream (Server-Sent Events). A WebSocket listener
//! (tungstenite) spawns one process per connection and a socket process
//! beside it that feeds it the inbound frames. Sockets come from the `rt`
//! seam, so under simulation the same code serves simulated TCP.
//!
//! Every limit of [`ServeLimits`] is enforced here and answered with its
//! status code: 413 (body), 431 (headers), 408 (slow body), 503 (too many
//! connections or processes, or the memory budget is full), 504 (a handler
//! that has not begun its answer within `handler-timeout-ms`); a WebSocket
//! frame over the limit closes the connection with 1009.

mod http;
mod timer;
mod ws;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusm_config::{Listener, ListenerKind, ServeLimits};
use rusm_host::Host;
use rusm_rt::net::{TcpListener, TcpStream};
use rusm_rt::sync::Latch;

/// The listeners of a node, serving until dropped: then every listener and
/// every connection closes (a request's process learns its client left).
pub struct Server {
    bound: Vec<Bound>,
    /// Set when the server is dropped; every task of it waits on it.
    stop: Latch<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.set(());
    }
}

/// One listening socket.
pub struct Bound {
    /// The address it listens on (with the port the OS chose for port 0).
    pub address: SocketAddr,
    pub kind: ListenerKind,
}

/// Resolves when the server is dropped.
#[derive(Clone)]
struct Stopped(Latch<()>);

impl Stopped {
    async fn wait(self) {
        self.0.wait().await
    }

    /// Runs `work` as a task that ends when it does or when the server stops.
    fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        let stopped = self.clone();
        rusm_rt::task::spawn(async move {
            rusm_rt::select! {
                () = stopped.wait() => {}
                () = work => {}
            }
        });
    }
}

/// A listener could not start.
#[derive(Debug)]
pub struct ServeError {
    pub address: SocketAddr,
    pub message: String,
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot listen on {}: {}", self.address, self.message)
    }
}

impl std::error::Error for ServeError {}

impl Server {
    /// Binds every listener and starts accepting on each.
    pub async fn start(host: &Host, listeners: &[Listener]) -> Result<Server, ServeError> {
        // Built first: if a later listener fails, dropping it stops the
        // ones already accepting.
        let mut server = Server {
            bound: Vec::with_capacity(listeners.len()),
            stop: Latch::new(),
        };
        let stopped = Stopped(server.stop.clone());
        for listener in listeners {
            let fail = |e: std::io::Error| ServeError {
                address: listener.address,
                message: e.to_string(),
            };
            let socket = rusm_rt::net::bind(listener.address).await.map_err(fail)?;
            let address = socket.local_addr().map_err(fail)?;
            let connections = Connections::new(&listener.limits);
            let each = stopped.clone();
            match listener.kind {
                ListenerKind::Http => {
                    let site = http::Site::new(host, listener);
                    stopped.spawn(accept(socket, connections, each, site, http::connection));
                }
                ListenerKind::Ws => {
                    let site = ws::Site::new(host, listener);
                    stopped.spawn(accept(socket, connections, each, site, ws::connection));
                }
            }
            server.bound.push(Bound {
                address,
                kind: listener.kind,
            });
        }
        Ok(server)
    }

    /// The listening sockets, in the order of `[[serve]]`.
    pub fn bound(&self) -> &[Bound] {
        &self.bound
    }
}

/// Counts a listener's open connections against `max-connections`.
#[derive(Clone)]
struct Connections {
    open: Arc<AtomicUsize>,
    max: usize,
}

/// One open connection; closing it (dropping this) frees its place.
struct Slot(Arc<AtomicUsize>);

impl Connections {
    fn new(limits: &ServeLimits) -> Connections {
        Connections {
            open: Arc::new(AtomicUsize::new(0)),
            max: limits.max_connections,
        }
    }

    /// A place for one more connection, if the listener has one.
    fn take(&self) -> Option<Slot> {
        let taken = self
            .open
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |open| {
                (open < self.max).then_some(open + 1)
            })
            .is_ok();
        taken.then(|| Slot(self.open.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Accepts connections until the server stops, each served by
/// `connection` in a task of its own with its place among the listener's
/// `max-connections` (none: it is to be refused). A failed accept (out of
/// file descriptors, a connection reset before accept) is waited out
/// briefly rather than spun on.
async fn accept<S, F, Fut>(
    socket: TcpListener,
    connections: Connections,
    stopped: Stopped,
    site: Arc<S>,
    connection: F,
) where
    F: Fn(Arc<S>, TcpStream, Option<Slot>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        match socket.accept().await {
            Ok((stream, _)) => {
                let slot = connections.take();
                stopped.spawn(connection(site.clone(), stream, slot));
            }
            Err(_) => rusm_rt::time::sleep(rusm_rt::time::Duration::from_millis(10)).await,
        }
    }
}

/// The request head as a process sees it: lower-case names, values as
/// text (bytes that are not UTF-8 replaced).
fn header_list(headers: &::http::HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}
