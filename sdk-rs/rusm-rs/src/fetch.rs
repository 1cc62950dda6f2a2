//! Outbound HTTP(S). The component's profile lists the hosts it may reach
//! (`[capabilities.<component>] fetch = ["api.example.com"]`); the node's
//! `[fetch]` section limits redirects, waits and sizes.
//!
//! ```ignore
//! use rusm_rs::fetch::Request;
//!
//! let mut response = Request::post("https://api.example.com/v1/things")
//!     .header("content-type", "application/json")
//!     .body(br#"{"name": "rusm"}"#)
//!     .send()?;
//! assert_eq!(response.status, 200);
//! while let Some(chunk) = response.chunk()? { /* as it arrives */ }
//! ```
//!
//! Each request is carried by a fetch process of the node, which talks to
//! this one in messages (the protocol is the WIT file's `fetch`
//! interface); waiting for them is a selective receive, so other messages
//! that arrive meanwhile stay in the mailbox for `receive`. Dropping a
//! [`Response`] before its end aborts the request.

use serde::Deserialize;

use crate::bindings::rusm::runtime::fetch as host;
use crate::{Error, Message, Pid, Ref, mailbox};

use rusm_wire::fetch::from_owner::{
    ABORT as ORDER_ABORT, CHUNK as ORDER_CHUNK, END as ORDER_END, READ as ORDER_READ,
};
use rusm_wire::fetch::to_owner::{CHUNK, END, ERROR, HEAD, SENT};

/// What to do with a redirect.
pub use host::Redirect;

/// A request to build and send.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    redirect: Redirect,
}

impl Request {
    pub fn new(method: &str, url: &str) -> Request {
        Request {
            method: method.to_string(),
            url: url.to_string(),
            headers: Vec::new(),
            body: None,
            redirect: Redirect::Follow,
        }
    }

    pub fn get(url: &str) -> Request {
        Request::new("GET", url)
    }

    pub fn post(url: &str) -> Request {
        Request::new("POST", url)
    }

    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The whole body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = Some(body.into());
        self
    }

    /// Follow redirects (the default), hand them over, or fail on one.
    pub fn redirect(mut self, redirect: Redirect) -> Request {
        self.redirect = redirect;
        self
    }

    /// Sends it and waits for the response's headers.
    pub fn send(self) -> Result<Response, Error> {
        let exchange = self.start(false)?;
        exchange.head()
    }

    /// Sends it with a body streamed from `chunks`, each taken by the
    /// network before the next is asked for; waits for the headers. A
    /// server that answers before the body is done stops the upload.
    pub fn send_streaming(
        self,
        chunks: impl IntoIterator<Item = Vec<u8>>,
    ) -> Result<Response, Error> {
        let mut exchange = self.start(true)?;
        for chunk in chunks {
            exchange.order(ORDER_CHUNK, &chunk);
            let reply = exchange.next()?;
            if reply.first() != Some(&SENT) {
                exchange.early = Some(reply);
                return exchange.head();
            }
        }
        exchange.order(ORDER_END, &[]);
        exchange.head()
    }

    fn start(self, streamed: bool) -> Result<Exchange, Error> {
        let request = host::Request {
            method: self.method,
            url: self.url,
            headers: self.headers,
            body: if streamed { None } else { self.body },
            streamed_body: streamed,
            redirect: self.redirect,
        };
        let carrier = Pid::from_raw(host::start(&request).map_err(Error)?);
        let monitor = crate::monitor(carrier);
        Ok(Exchange {
            carrier,
            monitor,
            early: None,
            over: false,
        })
    }
}

/// A response whose body is still to be read.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub status_text: String,
    /// Names in lower case, in the order they came.
    pub headers: Vec<(String, String)>,
    /// The URL that answered (after redirects).
    pub url: String,
    pub redirected: bool,
    exchange: Exchange,
}

#[derive(Deserialize)]
struct Head {
    status: u16,
    #[serde(rename = "status-text")]
    status_text: String,
    headers: Vec<(String, String)>,
    url: String,
    redirected: bool,
}

impl Response {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The next piece of the body as it arrives; `None` at its end. An
    /// error (the server hanging up, a timeout) ends the response.
    pub fn chunk(&mut self) -> Result<Option<Vec<u8>>, Error> {
        if self.exchange.over {
            return Ok(None);
        }
        self.exchange.order(ORDER_READ, &[]);
        let mut message = self.exchange.next()?;
        // A late receipt for an upload the server cut short.
        while message.first() == Some(&SENT) {
            message = self.exchange.next()?;
        }
        match message.first() {
            Some(&CHUNK) => {
                message.remove(0);
                Ok(Some(message))
            }
            Some(&END) => {
                self.exchange.finish();
                Ok(None)
            }
            _ => Err(self.exchange.failure(&message)),
        }
    }

    /// The whole body.
    pub fn bytes(mut self) -> Result<Vec<u8>, Error> {
        let mut body = Vec::new();
        while let Some(chunk) = self.chunk()? {
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// The whole body as text (invalid UTF-8 replaced).
    pub fn text(self) -> Result<String, Error> {
        Ok(String::from_utf8_lossy(&self.bytes()?).into_owned())
    }
}

/// This process's side of one request.
#[derive(Debug)]
struct Exchange {
    carrier: Pid,
    monitor: Ref,
    /// A reply that came while uploading, for whoever reads next.
    early: Option<Vec<u8>>,
    over: bool,
}

impl Exchange {
    fn head(mut self) -> Result<Response, Error> {
        let message = match self.early.take() {
            Some(message) => message,
            None => self.next()?,
        };
        if message.first() != Some(&HEAD) {
            return Err(self.failure(&message));
        }
        let head: Head = serde_json::from_slice(&message[1..])
            .map_err(|e| Error(format!("fetch: a bad head from the fetch process: {e}")))?;
        Ok(Response {
            status: head.status,
            status_text: head.status_text,
            headers: head.headers,
            url: head.url,
            redirected: head.redirected,
            exchange: self,
        })
    }

    fn order(&self, tag: u8, payload: &[u8]) {
        let mut bytes = Vec::with_capacity(payload.len() + 1);
        bytes.push(tag);
        bytes.extend_from_slice(payload);
        crate::send_bytes(self.carrier, &bytes);
    }

    /// The fetch process's next message; its `down` first is an error.
    fn next(&mut self) -> Result<Vec<u8>, Error> {
        let (carrier, monitor) = (self.carrier, self.monitor);
        let message = mailbox::receive_matching(None, |m| match m {
            Message::Data { from, .. } => *from == carrier,
            Message::Down { monitor: r, .. } => *r == monitor,
            Message::Exit { .. } => false,
        });
        match message {
            Some(Message::Data { bytes, .. }) => Ok(bytes),
            Some(Message::Down { reason, .. }) => {
                self.over = true;
                Err(Error(format!(
                    "fetch: the fetch process ended ({reason}) before the response did"
                )))
            }
            _ => Err(Error("fetch: no answer from the fetch process".into())),
        }
    }

    fn failure(&mut self, message: &[u8]) -> Error {
        self.finish();
        match message.split_first() {
            Some((&ERROR, text)) => Error(String::from_utf8_lossy(text).into_owned()),
            _ => Error("fetch: an unexpected message from the fetch process".into()),
        }
    }

    /// The request is over: no `down` of its carrier will surface.
    fn finish(&mut self) {
        if !self.over {
            self.over = true;
            crate::demonitor(self.monitor);
        }
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if !self.over {
            self.order(ORDER_ABORT, &[]);
            self.finish();
        }
    }
}
