//! Services: a process that answers calls, and the client that makes them,
//! over the envelopes of `docs/wire.md`. `#[rusm_rs::service]` writes both
//! from an `impl` block; this module is what the generated code stands on,
//! and is usable by hand.
//!
//! ```ignore
//! let calc = Client::new(pid);
//! let sum: i64 = calc.call("add", (2, 3))?;          // waits for the reply
//! calc.cast("reset", ());                             // does not wait
//! for n in calc.stream::<u32>("count", (3,))? { let n = n?; }
//! ```

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rusm_wire::envelope::Envelope;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use rusm_wire::envelope::{ErrorCode, Json};

use crate::mailbox::{self, InFlight};
use crate::{Message, Pid, Ref};

/// How long a call waits for its answer unless told otherwise.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;

thread_local! {
    /// The last call id this process issued (ids count from 1).
    static LAST_ID: Cell<u64> = const { Cell::new(0) };
    /// Who sent the call or cast [`serve`] is handling.
    static CALLER: Cell<Option<Pid>> = const { Cell::new(None) };
}

/// The process whose call or cast this service is handling (Erlang's
/// `From`): a method that subscribes its caller, say, asks here rather than
/// trusting a pid in its arguments. Panics outside a method run by
/// [`serve`].
pub fn caller() -> Pid {
    CALLER
        .get()
        .expect("service::caller() is asked by a method while serve() runs it")
}

/// Whether `id` is one of this process's call ids.
pub(crate) fn issued(id: u64) -> bool {
    id != 0 && id <= LAST_ID.get()
}

fn next_id() -> u64 {
    let id = LAST_ID.get() + 1;
    LAST_ID.set(id);
    id
}

/// A callback the caller runs when the service invokes it: its arguments
/// and result as JSON (the generated client wraps typed closures).
pub type CallbackFn<'a> = &'a mut dyn FnMut(&Json) -> Result<Json, CallError>;

/// A call that did not produce its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub code: ErrorCode,
    pub message: String,
}

impl CallError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> CallError {
        CallError {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for CallError {}

/// Sends an envelope. Encoding one cannot fail.
fn send(to: Pid, envelope: &Envelope) {
    crate::send_bytes(to, &envelope.encode());
}

/// A call's arguments as the JSON array the wire wants: a tuple is one
/// already, and `()` (no arguments) becomes `[]`.
fn encode_args<T: Serialize + ?Sized>(args: &T) -> Json {
    let json = encode_json(args);
    if json.as_str() == "null" {
        return encode_json(&[(); 0]);
    }
    assert!(
        json.as_str().starts_with('['),
        "call arguments are a tuple, one element per parameter: (x,) for one"
    );
    json
}

fn encode_json<T: Serialize + ?Sized>(value: &T) -> Json {
    // A Serialize impl that fails is a bug in the guest: let it crash.
    Json::encode(value).unwrap_or_else(|e| panic!("cannot encode a value: {e}"))
}

/// The envelope in a data message from `from`, if it is one.
fn envelope_from(message: &Message, from: Pid) -> Option<Envelope> {
    match message {
        Message::Data {
            from: sender,
            bytes,
        } if *sender == from => Envelope::decode(bytes).ok(),
        _ => None,
    }
}

/// Makes calls to one service process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client {
    pid: Pid,
    timeout_ms: u64,
}

impl Client {
    /// A client of the service `pid`, with the default timeout.
    pub fn new(pid: Pid) -> Client {
        Client {
            pid,
            timeout_ms: DEFAULT_TIMEOUT_MS,
        }
    }

    /// A client of the service registered as `name`, if there is one.
    pub fn whereis(name: &str) -> Option<Client> {
        crate::whereis(name).map(Client::new)
    }

    /// The service's pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The same client, waiting at most `timeout_ms` for each answer.
    pub fn with_timeout(self, timeout_ms: u64) -> Client {
        Client { timeout_ms, ..self }
    }

    /// Calls `method` with `args` (a tuple, one element per parameter) and
    /// waits for its result.
    pub fn call<R: DeserializeOwned>(
        &self,
        method: &str,
        args: impl Serialize,
    ) -> Result<R, CallError> {
        self.call_with_callbacks(method, args, &mut [])
    }

    /// Like [`Client::call`]; while waiting, runs the callbacks the service
    /// invokes (`callbacks[n]` is the argument written `{"callback": n}`).
    pub fn call_with_callbacks<R: DeserializeOwned>(
        &self,
        method: &str,
        args: impl Serialize,
        callbacks: &mut [CallbackFn<'_>],
    ) -> Result<R, CallError> {
        let mut call = self.start(method, &args);
        match call.next(callbacks)? {
            Answer::Value(value) => decode_answer(&value),
            Answer::End => Err(CallError::new(
                ErrorCode::BadReply,
                format!("{method} streamed; call it as a stream"),
            )),
        }
    }

    /// Calls streaming `method`; the items arrive as the iterator is driven.
    pub fn stream<T: DeserializeOwned>(&self, method: &str, args: impl Serialize) -> Items<T> {
        Items {
            call: Some(self.start(method, &args)),
            item: PhantomData,
        }
    }

    /// Runs `method` on the service without waiting or hearing back.
    pub fn cast(&self, method: &str, args: impl Serialize) {
        send(
            self.pid,
            &Envelope::Cast {
                method: method.to_string(),
                args: encode_args(&args),
            },
        );
    }

    fn start(&self, method: &str, args: &impl Serialize) -> Pending {
        let id = next_id();
        let in_flight = mailbox::awaiting(id);
        // Monitored for the length of the call: a service that dies answers
        // with its exit reason instead of leaving the caller waiting.
        let monitor = crate::monitor(self.pid);
        send(
            self.pid,
            &Envelope::Call {
                id,
                method: method.to_string(),
                args: encode_args(args),
            },
        );
        Pending {
            service: self.pid,
            id,
            monitor,
            timeout: Duration::from_millis(self.timeout_ms),
            _in_flight: in_flight,
        }
    }
}

fn decode_answer<R: DeserializeOwned>(value: &Json) -> Result<R, CallError> {
    value.decode().map_err(|e| {
        CallError::new(
            ErrorCode::BadReply,
            format!(
                "{} is not a {}: {e}",
                value.as_str(),
                std::any::type_name::<R>()
            ),
        )
    })
}

/// A call waiting for its answers.
struct Pending {
    service: Pid,
    id: u64,
    monitor: Ref,
    timeout: Duration,
    _in_flight: InFlight,
}

enum Answer {
    Value(Json),
    End,
}

impl Pending {
    /// The next reply, item or end, running callbacks as they come.
    fn next(&mut self, callbacks: &mut [CallbackFn<'_>]) -> Result<Answer, CallError> {
        let deadline = Instant::now().checked_add(self.timeout);
        loop {
            let (service, id, monitor) = (self.service, self.id, self.monitor);
            let message = mailbox::receive_matching(deadline, |m| match m {
                Message::Down { monitor: r, .. } => *r == monitor,
                _ => envelope_from(m, service).is_some_and(|e| answers(&e, id)),
            });
            let Some(message) = message else {
                return Err(CallError::new(
                    ErrorCode::Timeout,
                    format!("no answer within {} ms", self.timeout.as_millis()),
                ));
            };
            if let Message::Down { reason, .. } = message {
                return Err(CallError::new(ErrorCode::ServiceDied, reason.to_string()));
            }
            let envelope = envelope_from(&message, service).expect("matched above");
            match envelope {
                Envelope::Reply { value, .. } | Envelope::Item { value, .. } => {
                    return Ok(Answer::Value(value));
                }
                Envelope::End { .. } => return Ok(Answer::End),
                Envelope::Error { code, message, .. } => {
                    return Err(CallError::new(code, message));
                }
                Envelope::Callback {
                    callback,
                    seq,
                    args,
                    ..
                } => {
                    let answer = match callbacks.get_mut(callback as usize) {
                        Some(run) => run(&args),
                        None => Err(CallError::new(
                            ErrorCode::UnknownCallback,
                            format!("call {id} passed no callback {callback}"),
                        )),
                    };
                    send(service, &callback_answer(id, seq, answer));
                }
                _ => unreachable!("answers() matched only these"),
            }
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        crate::demonitor(self.monitor);
    }
}

/// Whether `envelope` answers call `id` (as the client sees it).
fn answers(envelope: &Envelope, id: u64) -> bool {
    match envelope {
        Envelope::Reply { id: i, .. }
        | Envelope::Item { id: i, .. }
        | Envelope::End { id: i }
        | Envelope::Callback { id: i, .. }
        | Envelope::Error {
            id: i, seq: None, ..
        } => *i == id,
        _ => false,
    }
}

fn callback_answer(id: u64, seq: u64, answer: Result<Json, CallError>) -> Envelope {
    match answer {
        Ok(value) => Envelope::CallbackReply { id, seq, value },
        Err(e) => Envelope::Error {
            id,
            seq: Some(seq),
            code: e.code,
            message: e.message,
        },
    }
}

/// The items of a streaming call, until the service ends the stream. An
/// error (the service died, a timeout) is the last item.
pub struct Items<T> {
    call: Option<Pending>,
    item: PhantomData<T>,
}

impl<T: DeserializeOwned> Iterator for Items<T> {
    type Item = Result<T, CallError>;

    fn next(&mut self) -> Option<Result<T, CallError>> {
        let call = self.call.as_mut()?;
        let answer = call.next(&mut []);
        match answer {
            Ok(Answer::Value(value)) => Some(decode_answer(&value)),
            Ok(Answer::End) => {
                self.call = None;
                None
            }
            Err(e) => {
                self.call = None;
                Some(Err(e))
            }
        }
    }
}

/// What a service implements (`#[rusm_rs::service]` writes it): handle one
/// call or cast.
pub trait Service {
    fn handle(&mut self, request: &Request);
}

/// Serves `service` forever: each call or cast is handled in arrival order;
/// other messages are dropped.
pub fn serve<S: Service>(mut service: S) -> ! {
    loop {
        let Message::Data { from, bytes } = crate::receive() else {
            continue;
        };
        let request = match Envelope::decode(&bytes) {
            Ok(Envelope::Call { id, method, args }) => Request::new(from, Some(id), method, args),
            Ok(Envelope::Cast { method, args }) => Request::new(from, None, method, args),
            // Not a request: nobody reliable to answer (docs/wire.md).
            _ => continue,
        };
        CALLER.set(Some(from));
        service.handle(&request);
        CALLER.set(None);
        request.finish();
    }
}

/// One call or cast being handled.
pub struct Request {
    client: Pid,
    /// `None` for a cast: nothing is sent back.
    id: Option<u64>,
    method: String,
    args: Json,
    answered: Cell<bool>,
    next_seq: Rc<Cell<u64>>,
}

impl Request {
    fn new(client: Pid, id: Option<u64>, method: String, args: Json) -> Request {
        Request {
            client,
            id,
            method,
            args,
            answered: Cell::new(false),
            next_seq: Rc::new(Cell::new(0)),
        }
    }

    /// The method asked for.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// Who asked.
    pub fn client(&self) -> Pid {
        self.client
    }

    /// The arguments, decoded as a tuple of the parameters' types; a
    /// mismatch is answered `bad-arguments` and returned as `None`.
    pub fn args<T: DeserializeOwned>(&self) -> Option<T> {
        match self.args.decode() {
            Ok(args) => Some(args),
            Err(e) => {
                self.fail(ErrorCode::BadArguments, format!("{}: {e}", self.method));
                None
            }
        }
    }

    /// Answers the call with its result.
    pub fn reply<T: Serialize + ?Sized>(&self, value: &T) {
        self.answer(|id| Envelope::Reply {
            id,
            value: encode_json(value),
        });
    }

    /// Answers the call with an error.
    pub fn fail(&self, code: ErrorCode, message: impl Into<String>) {
        let message = message.into();
        self.answer(|id| Envelope::Error {
            id,
            seq: None,
            code,
            message,
        });
    }

    /// Answers that no such method exists.
    pub fn unknown_method(&self) {
        self.fail(
            ErrorCode::UnknownMethod,
            format!("no method {:?}", self.method),
        );
    }

    /// The sink a streaming method sends its items to; the stream ends when
    /// the method returns.
    pub fn stream<T: Serialize>(&self) -> Stream<T> {
        Stream {
            client: self.client,
            id: self.id,
            item: PhantomData,
        }
    }

    /// Callback argument number `n` of this call.
    pub fn callback<A, R>(&self, n: u32) -> Callback<A, R> {
        Callback {
            client: self.client,
            id: self.id,
            number: n,
            next_seq: self.next_seq.clone(),
            types: PhantomData,
        }
    }

    /// Ends a streaming call (a stream whose method returned).
    pub fn end(&self) {
        self.answer(|id| Envelope::End { id });
    }

    fn answer(&self, envelope: impl FnOnce(u64) -> Envelope) {
        if let Some(id) = self.id
            && !self.answered.replace(true)
        {
            send(self.client, &envelope(id));
        }
    }

    /// A call the handler left unanswered gets `null` (a method returning
    /// nothing), so no client is left waiting.
    fn finish(&self) {
        self.reply(&());
    }
}

/// Where a streaming method sends its items.
pub struct Stream<T> {
    client: Pid,
    id: Option<u64>,
    item: PhantomData<fn(T)>,
}

impl<T: Serialize> Stream<T> {
    /// Sends one item to the caller.
    pub fn send(&self, item: &T) {
        if let Some(id) = self.id {
            send(
                self.client,
                &Envelope::Item {
                    id,
                    value: encode_json(item),
                },
            );
        }
    }
}

/// A function the caller passed: invoking it runs it in the caller's
/// process, over the wire, and waits for its result.
pub struct Callback<A, R> {
    client: Pid,
    id: Option<u64>,
    number: u32,
    next_seq: Rc<Cell<u64>>,
    types: PhantomData<fn(A) -> R>,
}

/// How a callback argument is written in a call's `args`.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallbackArg {
    pub callback: u32,
}

impl<A: Serialize, R: DeserializeOwned> Callback<A, R> {
    /// Runs the callback with `args` and waits (at most the default
    /// timeout) for its result. A dead caller or a cast (no caller waiting)
    /// is an error, not a hang.
    pub fn call(&self, args: A) -> Result<R, CallError> {
        let Some(id) = self.id else {
            return Err(CallError::new(
                ErrorCode::UnknownCallback,
                "a cast has no caller to run callbacks",
            ));
        };
        let seq = self.next_seq.get() + 1;
        self.next_seq.set(seq);
        let client = self.client;
        let monitor = crate::monitor(client);
        send(
            client,
            &Envelope::Callback {
                id,
                callback: self.number,
                seq,
                args: encode_args(&args),
            },
        );
        let deadline = Instant::now().checked_add(Duration::from_millis(DEFAULT_TIMEOUT_MS));
        let message = mailbox::receive_matching(deadline, |m| match m {
            Message::Down { monitor: r, .. } => *r == monitor,
            _ => envelope_from(m, client).is_some_and(|e| match e {
                Envelope::CallbackReply { id: i, seq: s, .. }
                | Envelope::Error {
                    id: i,
                    seq: Some(s),
                    ..
                } => i == id && s == seq,
                _ => false,
            }),
        });
        crate::demonitor(monitor);
        match message {
            None => Err(CallError::new(
                ErrorCode::Timeout,
                format!("callback {} gave no answer in time", self.number),
            )),
            Some(Message::Down { reason, .. }) => Err(CallError::new(
                ErrorCode::ServiceDied,
                format!("the caller ended: {reason}"),
            )),
            Some(message) => match envelope_from(&message, client) {
                Some(Envelope::CallbackReply { value, .. }) => decode_answer(&value),
                Some(Envelope::Error { code, message, .. }) => Err(CallError::new(code, message)),
                _ => unreachable!("matched above"),
            },
        }
    }
}
