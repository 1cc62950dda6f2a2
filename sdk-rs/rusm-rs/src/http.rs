//! Serving HTTP from a Rust component: the types a `#[rusm_rs::handlers]`
//! action takes and returns.
//!
//! Each request is served by a fresh process of the component, so an action
//! is plain blocking code: it may call services, wait on messages, or (with
//! [`Sse`]) stream for as long as the client stays.

use crate::bindings::rusm::runtime::serving as host;
use crate::{ExitReason, Message, Pid};

/// The request being served.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// `GET`, `POST`, ...
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The path as sent (percent-encoded), without the query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query string without its `?`; empty when there is none.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header, names in lower case, in the order sent.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The whole body (the listener's `max-body-bytes` bounds it).
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body decoded from JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, crate::WireError> {
        rusm_wire::decode(&self.body)
    }
}

/// The route's path parameters: `/users/:id` gives `id`, percent-decoded.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// The value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every parameter, in the order of the route's pattern.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// A whole response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// An empty response with `status`.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// 200 with a `text/plain` body.
    pub fn text(body: impl Into<String>) -> Response {
        Response::new(200)
            .header("content-type", "text/plain; charset=utf-8")
            .body(body.into().into_bytes())
    }

    /// 200 with `value` as a JSON body.
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Response {
        Response::new(200)
            .header("content-type", "application/json")
            .body(crate::encode(value))
    }

    /// The same response with status `status`.
    pub fn status(mut self, status: u16) -> Response {
        self.status = status;
        self
    }

    /// The same response with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The same response with `body`.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }
}

/// A Server-Sent Events stream to the client (`text/event-stream`).
#[derive(Debug)]
pub struct Sse {
    _begun: (),
}

impl Sse {
    /// Sends one event carrying `data` (each line of it a `data:` line).
    /// Waits while the client is behind; false once it has disconnected,
    /// when the action should return.
    pub fn data(&self, data: &[u8]) -> bool {
        host::write(&event(None, data))
    }

    /// Sends one event whose data is `value` as JSON (one line).
    pub fn json<T: serde::Serialize + ?Sized>(&self, value: &T) -> bool {
        self.data(&crate::encode(value))
    }

    /// Sends one event of type `name` (the client's `addEventListener(name)`).
    pub fn event(&self, name: &str, data: &[u8]) -> bool {
        host::write(&event(Some(name), data))
    }

    /// Live-tails `publisher`: each data message it sends this process
    /// goes to the client as one event (the message's bytes its data),
    /// until the client leaves or the publisher ends. Subscribe first (to
    /// the [`crate::pubsub::Topics`] the publisher holds): this is the SSE
    /// half of pub/sub. Messages from anyone else are dropped.
    ///
    /// The process waits for messages meanwhile, so a client that leaves
    /// during a quiet spell ends it at once with `disconnect`; the
    /// publisher's monitor then prunes it. Returning is for the other
    /// endings: the client found gone by a write, or the publisher ended
    /// (the stream closes, and an `EventSource` reconnects).
    pub fn run(&self, publisher: Pid) -> Tail {
        let monitor = crate::monitor(publisher);
        loop {
            let client_there = match crate::receive() {
                Message::Data { from, bytes } if from == publisher => self.data(&bytes),
                Message::Down {
                    monitor: ended,
                    reason,
                    ..
                } if ended == monitor => return Tail::PublisherEnded(reason),
                _ => true,
            };
            if !client_there {
                crate::demonitor(monitor);
                return Tail::ClientLeft;
            }
        }
    }
}

/// How [`Sse::run`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// A write found the client gone (the process ends with `disconnect`
    /// when it returns).
    ClientLeft,
    /// The publisher ended, with this reason.
    PublisherEnded(ExitReason),
}

/// One event in the `text/event-stream` format.
fn event(name: Option<&str>, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    if let Some(name) = name {
        out.extend_from_slice(b"event: ");
        // A line break would end the field early and forge another.
        out.extend(name.bytes().filter(|b| *b != b'\n' && *b != b'\r'));
        out.push(b'\n');
    }
    for line in data.split(|b| *b == b'\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

/// This process's session: the request and what the route gave it.
pub(crate) fn session(what: &str) -> host::SessionInfo {
    host::session().unwrap_or_else(|| {
        panic!(
            "{what}: this process serves no client (the node spawns it for a [[serve]] listener)"
        )
    })
}

impl From<host::Request> for Request {
    fn from(r: host::Request) -> Request {
        Request {
            method: r.method,
            path: r.path,
            query: r.query,
            headers: r.headers,
            body: r.body,
        }
    }
}

#[doc(hidden)]
pub mod __private {
    use super::*;

    /// The `main` of a `#[rusm_rs::handlers]` component: runs the action the
    /// route names. `dispatch` returns false for an action it does not have.
    pub fn serve(actions: &[&str], dispatch: fn(&str, Request, Params) -> bool) {
        let session = session("#[rusm_rs::handlers]");
        let action = session.action;
        let request = Request::from(session.request);
        if !dispatch(&action, request, Params(session.params)) {
            panic!(
                "no action {action:?} in this component (it has: {}); check [serve.routes]",
                actions.join(", ")
            );
        }
    }

    /// Sends a buffered action's response.
    pub fn respond(response: Response) {
        if let Err(e) = host::respond(response.status, &response.headers, &response.body) {
            panic!("{e}");
        }
    }

    /// Begins the event stream of a streaming action.
    pub fn begin_sse() -> Sse {
        let headers = [
            ("content-type".to_string(), "text/event-stream".to_string()),
            ("cache-control".to_string(), "no-cache".to_string()),
        ];
        if let Err(e) = host::respond_stream(200, &headers) {
            panic!("{e}");
        }
        Sse { _begun: () }
    }
}

#[cfg(test)]
mod tests {
    use super::event;

    #[test]
    fn events_put_each_line_in_a_data_field() {
        assert_eq!(event(None, b"tick"), b"data: tick\n\n");
        assert_eq!(event(None, b"a\r\nb"), b"data: a\ndata: b\n\n");
        assert_eq!(event(Some("x\ny"), b""), b"event: xy\ndata: \n\n");
    }
}
