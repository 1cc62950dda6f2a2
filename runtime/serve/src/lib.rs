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
//!
//! [`Server::drain`] ends it gently: no new connection is accepted, a
//! request in flight is answered, an SSE stream's process is sent
//! `shutdown` (its stream then ends cleanly), a WebSocket is closed with
//! 1001 (going away); dropping the server cuts whatever is left.

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
use rusm_rt::sync::{Latch, Notify};

/// The listeners of a node, serving until dropped: then every listener and
/// every connection closes (a request's process learns its client left).
pub struct Server {
    bound: Vec<Bound>,
    /// Set when the server is dropped; every task of it waits on it.
    stop: Latch<()>,
    /// Set when it drains; its accept loops and connections wait on it.
    draining: Draining,
    /// Each listener's open connections, which a drain waits out.
    open: Vec<Connections>,
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

/// Resolves when the server drains.
#[derive(Clone, Default)]
pub(crate) struct Draining(Latch<()>);

impl Draining {
    pub(crate) async fn wait(&self) {
        self.0.wait().await
    }

    /// The same, as a future of its own (to keep in a response body).
    pub(crate) fn owned(&self) -> impl Future<Output = ()> + Send + 'static {
        let latch = self.0.clone();
        async move { latch.wait().await }
    }
}

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
            draining: Draining::default(),
            open: Vec::with_capacity(listeners.len()),
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
            server.open.push(connections.clone());
            let each = stopped.clone();
            let draining = server.draining.clone();
            match listener.kind {
                ListenerKind::Http => {
                    let site = http::Site::new(host, listener, draining.clone());
                    let accepting = accept(socket, connections, each, site, http::connection);
                    stopped.spawn(until_drained(accepting, draining));
                }
                ListenerKind::Ws => {
                    let site = ws::Site::new(host, listener, draining.clone());
                    let accepting = accept(socket, connections, each, site, ws::connection);
                    stopped.spawn(until_drained(accepting, draining));
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

    /// Drains the server: every listener stops accepting (its socket
    /// closes), and every open connection is let end cleanly: a request in
    /// flight is answered (then its connection closes), an SSE stream's
    /// process is sent a `shutdown` exit signal and its stream ends, a
    /// WebSocket is closed with 1001 and its processes end `shutdown`.
    /// Resolves once every connection has closed; bound it with a timeout
    /// and drop the server to cut what is left.
    pub async fn drain(&self) {
        self.draining.0.set(());
        for connections in &self.open {
            connections.all_closed().await;
        }
    }
}

/// Runs `work` until it ends or the server drains.
async fn until_drained(work: impl Future<Output = ()>, draining: Draining) {
    rusm_rt::select! {
        () = draining.wait() => {}
        () = work => {}
    }
}

/// Counts a listener's open connections against `max-connections`.
#[derive(Clone)]
struct Connections {
    open: Arc<Open>,
    max: usize,
}

#[derive(Default)]
struct Open {
    count: AtomicUsize,
    /// Notified as a connection closes.
    closed: Notify,
}

/// One open connection; closing it (dropping this) frees its place.
struct Slot(Arc<Open>);

impl Connections {
    fn new(limits: &ServeLimits) -> Connections {
        Connections {
            open: Arc::default(),
            max: limits.max_connections,
        }
    }

    /// A place for one more connection, if the listener has one.
    fn take(&self) -> Option<Slot> {
        let taken = self
            .open
            .count
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |open| {
                (open < self.max).then_some(open + 1)
            })
            .is_ok();
        taken.then(|| Slot(self.open.clone()))
    }

    /// Resolves once no connection is open.
    async fn all_closed(&self) {
        loop {
            let closed = self.open.closed.notified();
            let mut closed = std::pin::pin!(closed);
            // Registered before the check, so a close in between still
            // wakes this.
            closed.as_mut().enable();
            if self.open.count.load(Ordering::SeqCst) == 0 {
                return;
            }
            closed.await;
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::SeqCst);
        self.0.closed.notify_waiters();
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
