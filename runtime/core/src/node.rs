//! The process table and every rule of the process model.
//!
//! One mutex guards the whole table. Every operation (send, link, exit, ...)
//! takes it once, applies Erlang's rules, lets deaths cascade through links
//! and monitors to a fixed point, and reports each change to the observer in
//! the order it happened. Collections are ordered (`BTreeMap`/`BTreeSet`) so
//! that cascades visit processes in pid order: under simulation the same
//! seed gives the same trace.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use rusm_rt::sync::{Latch, Notify};
use rusm_rt::time::Duration;

use crate::event::{Event, Observer, Silent, Stdio};
use crate::mailbox::{self, Mailbox};
use crate::{ExitReason, Message, Pid, Ref};

/// The node's bounds. Exceeding one is a clear error, never a hang or an OOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Live processes at once; `spawn` fails beyond it.
    pub max_processes: usize,
    /// Messages waiting in one mailbox, counting those its process has
    /// received but set aside ([`Process::set_aside`]); one more ends the
    /// receiver with `mailbox-overflow` (its monitors and links learn why).
    pub mailbox_len: usize,
    /// Bytes waiting in one mailbox (data messages' bytes, reasons' text);
    /// a message that would pass it ends the receiver with
    /// `mailbox-overflow` too: the length limit alone lets one mailbox
    /// hold `mailbox_len` messages of `message_bytes` each.
    pub mailbox_bytes: usize,
    /// Bytes in one message; a larger `send` is refused.
    pub message_bytes: usize,
    /// Bytes in a registered name.
    pub name_bytes: usize,
    /// Links one process holds; a link that would pass it, on either
    /// side, is refused to the process that asks.
    pub max_links: usize,
    /// Monitors one process holds on others (each `monitor` call is one,
    /// of the same target or not); one more is refused.
    pub max_monitors: usize,
    /// Bytes every process together may hold: their linear memories (as the
    /// host reports them, [`Process::hold`]) and their mailboxes. What does
    /// not fit ends the process holding the most, with `memory-budget`
    /// (see [`Node`]); a spawn that does not fit is refused.
    pub memory_budget: usize,
}

impl Limits {
    /// Default for [`Limits::max_processes`].
    pub const DEFAULT_MAX_PROCESSES: usize = 10_000;
    /// Default for [`Limits::mailbox_len`].
    pub const DEFAULT_MAILBOX_LEN: usize = 10_000;
    /// Default for [`Limits::mailbox_bytes`]: 16 MiB, sixteen of the largest
    /// messages.
    pub const DEFAULT_MAILBOX_BYTES: usize = 16 << 20;
    /// Default for [`Limits::message_bytes`]: 1 MiB.
    pub const DEFAULT_MESSAGE_BYTES: usize = 1 << 20;
    /// Default for [`Limits::name_bytes`].
    pub const DEFAULT_NAME_BYTES: usize = 255;
    /// Default for [`Limits::max_links`].
    pub const DEFAULT_MAX_LINKS: usize = 10_000;
    /// Default for [`Limits::max_monitors`].
    pub const DEFAULT_MAX_MONITORS: usize = 10_000;
    /// Default for [`Limits::memory_budget`]: none. A node that hosts
    /// components gets its budget from the configuration.
    pub const NO_MEMORY_BUDGET: usize = usize::MAX;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_processes: Self::DEFAULT_MAX_PROCESSES,
            mailbox_len: Self::DEFAULT_MAILBOX_LEN,
            mailbox_bytes: Self::DEFAULT_MAILBOX_BYTES,
            message_bytes: Self::DEFAULT_MESSAGE_BYTES,
            name_bytes: Self::DEFAULT_NAME_BYTES,
            max_links: Self::DEFAULT_MAX_LINKS,
            max_monitors: Self::DEFAULT_MAX_MONITORS,
            memory_budget: Self::NO_MEMORY_BUDGET,
        }
    }
}

/// Why an operation was refused. Sending to, linking or monitoring a pid
/// that has merely exited is not an error (Erlang semantics); a pid that was
/// never issued is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpError {
    /// The pid was never issued by this node.
    InvalidPid(Pid),
    /// A message is larger than [`Limits::message_bytes`].
    MessageTooLarge { bytes: usize, limit: usize },
    /// [`Limits::max_processes`] are alive already.
    TooManyProcesses { limit: usize },
    /// A registered name must be 1 to `limit` bytes with no control characters.
    InvalidName { name: String, limit: usize },
    /// The name is registered to another process.
    NameTaken { name: String, pid: Pid },
    /// The process already has a registered name.
    AlreadyRegistered { pid: Pid, name: String },
    /// The process to register is not alive.
    Noproc(Pid),
    /// No process is registered under the name.
    NotRegistered(String),
    /// The calling process has already exited; the operation did nothing.
    CallerExited(Pid),
    /// `bytes` more do not fit in [`Limits::memory_budget`]: a spawn is
    /// refused, a memory does not grow.
    MemoryBudget { bytes: usize, budget: usize },
    /// `pid` holds [`Limits::max_links`] links already.
    TooManyLinks { pid: Pid, limit: usize },
    /// The caller holds [`Limits::max_monitors`] monitors already.
    TooManyMonitors { limit: usize },
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpError::InvalidPid(pid) => write!(f, "pid {pid} was never issued by this node"),
            OpError::MessageTooLarge { bytes, limit } => {
                write!(
                    f,
                    "message of {bytes} bytes exceeds the limit of {limit} bytes"
                )
            }
            OpError::TooManyProcesses { limit } => {
                write!(f, "cannot spawn: {limit} processes are alive (the limit)")
            }
            OpError::InvalidName { name, limit } => write!(
                f,
                "invalid name {name:?}: a name is 1 to {limit} bytes with no control characters"
            ),
            OpError::NameTaken { name, pid } => {
                write!(f, "name {name:?} is already registered to pid {pid}")
            }
            OpError::AlreadyRegistered { pid, name } => {
                write!(f, "pid {pid} is already registered as {name:?}")
            }
            OpError::Noproc(pid) => write!(f, "pid {pid} is not alive"),
            OpError::NotRegistered(name) => write!(f, "no process is registered as {name:?}"),
            OpError::CallerExited(pid) => write!(f, "process {pid} has exited"),
            OpError::TooManyLinks { pid, limit } => write!(
                f,
                "pid {pid} holds {limit} links, the limit ([runtime] max-links)"
            ),
            OpError::TooManyMonitors { limit } => write!(
                f,
                "the process holds {limit} monitors, the limit ([runtime] max-monitors)"
            ),
            OpError::MemoryBudget { bytes, budget } => write!(
                f,
                "the node's memory budget of {} is full ({bytes} bytes more do not fit)",
                Mib(*budget)
            ),
        }
    }
}

impl std::error::Error for OpError {}

/// Bytes as the budget's messages write them: whole MiB.
struct Mib(usize);

impl fmt::Display for Mib {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} MiB", self.0 >> 20)
    }
}

/// A running node: the process table plus its limits and observer.
/// Cloning is cheap and shares the node.
///
/// # The memory budget
///
/// Every process holds bytes: its linear memories, which the host reports
/// as they grow ([`Process::hold`]), and the messages waiting in its
/// mailbox (their bytes and 64 more each, for the message itself). Their
/// sum stays within [`Limits::memory_budget`]:
/// - a spawn whose initial memory does not fit in 7/8 of the budget is
///   refused ([`OpError::MemoryBudget`]): the rest is for the processes
///   already running;
/// - a message or a memory growth that does not fit ends the process that
///   holds the most, with reason `memory-budget`, and again until it fits,
///   so the bytes of a flood or a leak are the ones given back, never a
///   bystander's;
/// - unless the one that holds the most is the process asking: then its
///   growth is refused (the host ends it `out-of-memory`), or, for a
///   message to it, it ends `memory-budget`.
///
/// The node reports when what is held crosses 80% of the budget, when a
/// request did not fit, and when it is back under 70%.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

struct Inner {
    limits: Limits,
    observer: Arc<dyn Observer>,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    /// The next pid to issue; every pid below it (and above 0) was issued.
    next_pid: u64,
    next_ref: u64,
    procs: BTreeMap<Pid, Entry>,
    names: BTreeMap<String, Pid>,
    /// The sum of [`Entry::held`] over `procs`.
    held: usize,
    pressure: Pressure,
}

/// How full the memory budget is, as the node last reported it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pressure {
    /// Under 80% (or back under 70% after being over).
    #[default]
    Normal,
    /// 80% or more held.
    High,
    /// A request did not fit.
    Full,
}

struct Entry {
    label: Arc<str>,
    mailbox: Mailbox,
    wake: Arc<Notify>,
    links: BTreeSet<Pid>,
    /// Monitors this process holds: reference -> monitored pid.
    watching: BTreeMap<Ref, Pid>,
    /// Monitors on this process: reference -> watching pid.
    watchers: BTreeMap<Ref, Pid>,
    trap_exit: bool,
    name: Option<String>,
    /// Set once, to the exit reason; stops the process's task.
    exit: Latch<ExitReason>,
    /// Bytes of linear memory the host reported ([`Process::hold`]).
    memory: usize,
    /// Messages the process received and set aside ([`Process::set_aside`]).
    set_aside: usize,
    /// Bytes of the host's buffers held for the process ([`Held`]).
    buffers: usize,
}

impl Entry {
    /// What this process holds of the memory budget.
    fn held(&self) -> usize {
        self.memory + self.mailbox.held() + self.buffers
    }
}

impl Node {
    /// A node with no observer.
    pub fn new(limits: Limits) -> Node {
        Node::with_observer(limits, Arc::new(Silent))
    }

    /// A node that reports every change to `observer`.
    pub fn with_observer(limits: Limits, observer: Arc<dyn Observer>) -> Node {
        Node {
            inner: Arc::new(Inner {
                limits,
                observer,
                table: Mutex::new(Table {
                    next_pid: 1,
                    next_ref: 1,
                    ..Table::default()
                }),
            }),
        }
    }

    /// The node's limits.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Starts a process running `body`, labelled (in logs and traces) with
    /// `label`. The process ends with the reason `body` returns, or earlier
    /// if an exit signal kills it: then `body` is dropped at its next await.
    pub fn spawn<F, Fut>(&self, label: &str, body: F) -> Result<Pid, OpError>
    where
        F: FnOnce(Process) -> Fut,
        Fut: Future<Output = ExitReason> + Send + 'static,
    {
        self.spawn_watched(label, None, 0, body).map(|(pid, _)| pid)
    }

    /// [`Node::spawn`] for a process that holds `bytes` of the memory budget
    /// from its first instant (the initial memory of its component): refused
    /// with [`OpError::MemoryBudget`] if they do not fit.
    pub fn spawn_holding<F, Fut>(&self, label: &str, bytes: usize, body: F) -> Result<Pid, OpError>
    where
        F: FnOnce(Process) -> Fut,
        Fut: Future<Output = ExitReason> + Send + 'static,
    {
        self.spawn_watched(label, None, bytes, body)
            .map(|(pid, _)| pid)
    }

    /// A process whose body is the caller's own code: it gets the handle and
    /// drives it (receive, send, monitor, ...) from outside any process task.
    /// It lives until an exit signal ends it. Tests, the simulator and the
    /// CLI use one to talk to processes and watch them.
    pub fn attach(&self, label: &str) -> Result<Process, OpError> {
        let mut handle = None;
        self.spawn(label, |process| {
            handle = Some(process);
            std::future::pending::<ExitReason>()
        })?;
        Ok(handle.expect("spawn calls the body's constructor before returning"))
    }

    /// Spawns a process and, in the same step, has `watcher` monitor it, so
    /// even a process that ends at once is seen to end (Erlang's
    /// `spawn_monitor`).
    fn spawn_watched<F, Fut>(
        &self,
        label: &str,
        watcher: Option<Pid>,
        holding: usize,
        body: F,
    ) -> Result<(Pid, Option<Ref>), OpError>
    where
        F: FnOnce(Process) -> Fut,
        Fut: Future<Output = ExitReason> + Send + 'static,
    {
        let (process, monitor) = {
            let mut txn = self.begin();
            if let Some(watcher) = watcher {
                let Some(entry) = txn.table.procs.get(&watcher) else {
                    return Err(OpError::CallerExited(watcher));
                };
                // Checked before the spawn, which must not happen unwatched.
                let limit = txn.inner.limits.max_monitors;
                if entry.watching.len() >= limit {
                    return Err(OpError::TooManyMonitors { limit });
                }
            }
            let limit = txn.inner.limits.max_processes;
            if txn.table.procs.len() >= limit {
                return Err(OpError::TooManyProcesses { limit });
            }
            if !txn.fits(holding) {
                txn.report_full();
                return Err(txn.over_budget(holding));
            }
            let pid = Pid::from_raw(txn.table.next_pid);
            txn.table.next_pid += 1;
            let exit = Latch::new();
            let exited = exit.clone();
            let wake = Arc::new(Notify::new());
            txn.table.procs.insert(
                pid,
                Entry {
                    label: Arc::from(label),
                    mailbox: Mailbox::default(),
                    wake: wake.clone(),
                    links: BTreeSet::new(),
                    watching: BTreeMap::new(),
                    watchers: BTreeMap::new(),
                    trap_exit: false,
                    set_aside: 0,
                    buffers: 0,
                    name: None,
                    exit,
                    memory: holding,
                },
            );
            txn.emit(Event::Spawned { pid, label });
            txn.add_held(holding);
            let monitor = match watcher {
                // Room for it was checked above.
                Some(watcher) => Some(txn.monitor(watcher, pid)?),
                None => None,
            };
            let process = Process {
                pid,
                node: self.clone(),
                wake,
                exited,
            };
            (process, monitor)
        };
        let pid = process.pid;
        let node = self.clone();
        let killed = process.exited.clone();
        let body = body(process);
        rusm_rt::task::spawn(async move {
            let reason = rusm_rt::select! {
                // Already removed from the table by whoever killed it.
                _ = killed.wait() => return,
                reason = body => reason,
            };
            let mut txn = node.begin();
            txn.kill(pid, reason);
            txn.settle();
        });
        Ok((pid, monitor))
    }

    /// Sends `bytes` to `to` from outside any process (sender [`Pid::NODE`]).
    pub fn send(&self, to: Pid, bytes: Vec<u8>) -> Result<(), OpError> {
        self.op(Pid::NODE, |txn| {
            txn.check_size(&bytes)?;
            txn.check_pid(to)?;
            txn.deliver(
                to,
                Message::Data {
                    from: Pid::NODE,
                    bytes,
                },
            );
            Ok(())
        })
    }

    /// Sends an exit signal to `to` from outside any process, with the same
    /// rules as [`Process::exit`].
    pub fn exit(&self, to: Pid, reason: ExitReason) -> Result<(), OpError> {
        self.op(Pid::NODE, |txn| {
            txn.check_pid(to)?;
            txn.exit_signal(Pid::NODE, to, reason);
            Ok(())
        })
    }

    /// Ends `pid` with `reason` whether or not it traps exits: the node's
    /// own decision (a handler past its deadline), not a signal. Links and
    /// monitors see `reason`. A dead pid is ignored.
    pub fn kill(&self, pid: Pid, reason: ExitReason) -> Result<(), OpError> {
        self.op(Pid::NODE, |txn| {
            txn.check_pid(pid)?;
            txn.kill(pid, reason);
            Ok(())
        })
    }

    /// The pid registered as `name`, if any.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.begin().table.names.get(name).copied()
    }

    /// Reports an event that happened outside the table (a supervisor's
    /// decision), in order with the table's own.
    pub fn report(&self, event: Event<'_>) {
        self.begin().emit(event);
    }

    /// Reports what `pid` wrote to `stream`, in order with every other event
    /// (nothing is reported once `pid` has ended).
    pub fn output(&self, pid: Pid, stream: Stdio, bytes: &[u8]) {
        let txn = self.begin();
        if txn.table.procs.contains_key(&pid) {
            txn.emit(Event::Output { pid, stream, bytes });
        }
    }

    /// Stops the node: every process ends at once, `killed`, in pid order.
    /// Nobody is left to receive link signals or `down`s, so none are sent;
    /// the node stays usable and keeps issuing fresh pids.
    pub fn shutdown(&self) {
        let mut txn = self.begin();
        txn.table.names.clear();
        txn.table.held = 0;
        for (pid, entry) in std::mem::take(&mut txn.table.procs) {
            txn.emit(Event::Exited {
                pid,
                label: &entry.label,
                reason: &ExitReason::Killed,
            });
            entry.exit.set(ExitReason::Killed);
        }
    }

    /// How many monitors `pid` holds on other processes, while it is alive
    /// (a library that monitors for the length of a call must leave none).
    pub fn monitors_held(&self, pid: Pid) -> Option<usize> {
        self.begin().table.procs.get(&pid).map(|e| e.watching.len())
    }

    /// Whether a spawn holding `bytes` ([`Node::spawn_holding`]) would fit
    /// in the memory budget now.
    pub fn fits(&self, bytes: usize) -> bool {
        self.begin().fits(bytes)
    }

    /// How many bytes of the memory budget every process together holds.
    pub fn memory_held(&self) -> usize {
        self.begin().table.held
    }

    /// How many bytes of the memory budget `pid` holds, while it is alive.
    pub fn held_by(&self, pid: Pid) -> Option<usize> {
        self.begin().table.procs.get(&pid).map(Entry::held)
    }

    /// How many messages wait in `pid`'s mailbox, while it is alive.
    pub fn mailbox_len(&self, pid: Pid) -> Option<usize> {
        self.begin().table.procs.get(&pid).map(|e| e.mailbox.len())
    }

    /// Checks the process table's invariants (links symmetric, every
    /// monitor known at both ends, names and entries agreeing) and panics
    /// at the first one broken. Debug builds check after every operation;
    /// the fuzzers, the simulator and tests call this in any build.
    pub fn check_consistency(&self) {
        self.begin().table.assert_consistent();
    }

    /// Whether `pid` is alive.
    pub fn is_alive(&self, pid: Pid) -> bool {
        self.begin().table.procs.contains_key(&pid)
    }

    /// How many processes are alive.
    pub fn process_count(&self) -> usize {
        self.begin().table.procs.len()
    }

    /// The label `pid` was spawned with, while it is alive.
    pub fn label(&self, pid: Pid) -> Option<Arc<str>> {
        self.begin().table.procs.get(&pid).map(|e| e.label.clone())
    }

    /// Waits for `pid` to end and returns why; `None` if it is not alive when
    /// `join` is called. The exit is watched from the call on, not from the
    /// first poll, so a join started before a kill always sees it.
    pub fn join(&self, pid: Pid) -> impl Future<Output = Option<ExitReason>> + Send + 'static {
        let exited = self.begin().table.procs.get(&pid).map(|e| e.exit.clone());
        async move { Some(exited?.wait().await) }
    }

    fn begin(&self) -> Txn<'_> {
        Txn {
            table: self
                .inner
                .table
                .lock()
                .expect("the process table lock was poisoned by a panic in the node"),
            inner: &self.inner,
            dying: VecDeque::new(),
        }
    }

    /// Runs one operation of `caller` under the table lock, then settles the
    /// deaths it caused. A caller that has already exited does nothing.
    fn op<R>(
        &self,
        caller: Pid,
        f: impl FnOnce(&mut Txn<'_>) -> Result<R, OpError>,
    ) -> Result<R, OpError> {
        let mut txn = self.begin();
        if caller != Pid::NODE && !txn.table.procs.contains_key(&caller) {
            return Err(OpError::CallerExited(caller));
        }
        let result = f(&mut txn);
        txn.settle();
        if cfg!(debug_assertions) {
            txn.table.assert_consistent();
        }
        result
    }
}

/// Bytes of a host buffer counted against the memory budget for a process
/// ([`Process::hold_buffer`]), given back when dropped. A process's end
/// gives back all it held: a `Held` that outlives it gives back nothing
/// (pids are never reused, so it cannot reach another process).
#[must_use = "the bytes are held until it drops"]
pub struct Held {
    node: Node,
    pid: Pid,
    bytes: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut txn = self.node.begin();
        if let Some(entry) = txn.table.procs.get_mut(&self.pid) {
            entry.buffers -= self.bytes;
            txn.release(self.bytes);
        }
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Held({} bytes for {})", self.bytes, self.pid)
    }
}

/// The handle a process body holds: its own pid, mailbox and operations.
/// Every operation is attributed to this process.
#[derive(Clone)]
pub struct Process {
    pid: Pid,
    node: Node,
    wake: Arc<Notify>,
    exited: Latch<ExitReason>,
}

impl Process {
    /// This process's pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The node this process runs on.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Why this process has ended, once it has: a body may still be running
    /// (until its next await) after an exit signal killed it, and should stop.
    pub fn exit_reason(&self) -> Option<ExitReason> {
        self.exited.get()
    }

    /// Waits until this process has ended and returns why. For code that
    /// drives a process from outside its body (tests, the node's own
    /// processes), which would otherwise wait on a dead mailbox forever.
    pub async fn exited(&self) -> ExitReason {
        self.exited.wait().await
    }

    /// Sends `bytes` to `to`. Never blocks; a message to a process that has
    /// exited is dropped, as in Erlang. Fails only for a message over the size
    /// limit or a pid that was never issued.
    pub fn send(&self, to: Pid, bytes: Vec<u8>) -> Result<(), OpError> {
        self.node.op(self.pid, |txn| {
            txn.check_size(&bytes)?;
            txn.check_pid(to)?;
            txn.deliver(
                to,
                Message::Data {
                    from: self.pid,
                    bytes,
                },
            );
            Ok(())
        })
    }

    /// The oldest message in the mailbox, waiting for one if it is empty.
    pub async fn receive(&self) -> Message {
        loop {
            if let Some(message) = self.try_receive() {
                return message;
            }
            // `notify_one` stores a permit when nobody waits, so a message
            // that lands between `try_receive` and here is not missed.
            self.wake.notified().await;
        }
    }

    /// The oldest message, or `None` once `timeout` passes with an empty
    /// mailbox. The wait is a timer, not a poll: no busy loop.
    pub async fn receive_timeout(&self, timeout: Duration) -> Option<Message> {
        if let Some(message) = self.try_receive() {
            return Some(message);
        }
        // A zero timeout is a poll: no timer (madsim's shortest is 1 ms,
        // which would make every poll cost simulated time).
        if !timeout.is_zero()
            && let Ok(message) = rusm_rt::time::timeout(timeout, self.receive()).await
        {
            return Some(message);
        }
        let txn = self.node.begin();
        if txn.table.procs.contains_key(&self.pid) {
            txn.emit(Event::TimedOut { pid: self.pid });
        }
        None
    }

    /// The oldest message if there is one, without waiting.
    pub fn try_receive(&self) -> Option<Message> {
        let mut txn = self.node.begin();
        let message = txn.table.procs.get_mut(&self.pid)?.mailbox.pop()?;
        txn.release(mailbox::held(&message));
        Some(message)
    }

    /// Counts `bytes` more of this process's linear memory against the
    /// node's memory budget, making room as [`Node`] describes: `Err` when
    /// no other process's end makes room (this one holds the most), and the
    /// memory must not grow.
    pub fn hold(&self, bytes: usize) -> Result<(), OpError> {
        self.hold_in(bytes, |entry| &mut entry.memory)
    }

    /// Counts `bytes` the host buffers on this process's behalf (an answer
    /// on its way to its client) against the memory budget until the
    /// returned [`Held`] drops, making room as [`Process::hold`] does: `Err`
    /// when this process holds the most, and must not buffer more.
    pub fn hold_buffer(&self, bytes: usize) -> Result<Held, OpError> {
        self.hold_in(bytes, |entry| &mut entry.buffers)?;
        Ok(Held {
            node: self.node.clone(),
            pid: self.pid,
            bytes,
        })
    }

    /// Makes room for `bytes` (see [`Node`]) and counts them in the
    /// entry's field that `what` picks.
    fn hold_in(&self, bytes: usize, what: fn(&mut Entry) -> &mut usize) -> Result<(), OpError> {
        self.node.op(self.pid, |txn| {
            if !txn.make_room(self.pid, bytes) {
                return Err(txn.over_budget(bytes));
            }
            *what(txn.entry(self.pid)) += bytes;
            txn.add_held(bytes);
            Ok(())
        })
    }

    /// Spawns a process and monitors it, in one step: its `down` arrives even
    /// if it ends before this call returns.
    pub fn spawn_monitor<F, Fut>(&self, label: &str, body: F) -> Result<(Pid, Ref), OpError>
    where
        F: FnOnce(Process) -> Fut,
        Fut: Future<Output = ExitReason> + Send + 'static,
    {
        self.spawn_monitor_holding(label, 0, body)
    }

    /// [`Process::spawn_monitor`] for a process that holds `bytes` of the
    /// memory budget from its first instant (see [`Node::spawn_holding`]).
    pub fn spawn_monitor_holding<F, Fut>(
        &self,
        label: &str,
        bytes: usize,
        body: F,
    ) -> Result<(Pid, Ref), OpError>
    where
        F: FnOnce(Process) -> Fut,
        Fut: Future<Output = ExitReason> + Send + 'static,
    {
        let (pid, monitor) = self
            .node
            .spawn_watched(label, Some(self.pid), bytes, body)?;
        Ok((pid, monitor.expect("a watched spawn always sets a monitor")))
    }

    /// Spawns another process (not linked: see [`Process::link`]).
    pub fn spawn<F, Fut>(&self, label: &str, body: F) -> Result<Pid, OpError>
    where
        F: FnOnce(Process) -> Fut,
        Fut: Future<Output = ExitReason> + Send + 'static,
    {
        self.node.spawn(label, body)
    }

    /// Links this process with `other`: when either ends abnormally the other
    /// receives an exit signal. Linking to a process that has already ended
    /// delivers an exit signal with reason `noproc` at once.
    pub fn link(&self, other: Pid) -> Result<(), OpError> {
        self.node.op(self.pid, |txn| {
            txn.check_pid(other)?;
            if other == self.pid {
                return Ok(());
            }
            if txn.table.procs.contains_key(&other) {
                let limit = txn.inner.limits.max_links;
                for (pid, peer) in [(self.pid, other), (other, self.pid)] {
                    let links = &txn.entry(pid).links;
                    if links.len() >= limit && !links.contains(&peer) {
                        return Err(OpError::TooManyLinks { pid, limit });
                    }
                }
                txn.entry(self.pid).links.insert(other);
                txn.entry(other).links.insert(self.pid);
                txn.emit(Event::Linked {
                    a: self.pid,
                    b: other,
                });
            } else {
                txn.exit_signal(other, self.pid, ExitReason::Noproc);
            }
            Ok(())
        })
    }

    /// Removes the link with `other`, if any.
    pub fn unlink(&self, other: Pid) -> Result<(), OpError> {
        self.node.op(self.pid, |txn| {
            txn.check_pid(other)?;
            txn.entry(self.pid).links.remove(&other);
            if let Some(entry) = txn.table.procs.get_mut(&other) {
                entry.links.remove(&self.pid);
            }
            Ok(())
        })
    }

    /// Monitors `target`: one `down` message arrives when it ends, carrying
    /// the returned reference and the reason — at once, with `noproc`, if it
    /// has already ended.
    pub fn monitor(&self, target: Pid) -> Result<Ref, OpError> {
        self.node.op(self.pid, |txn| {
            txn.check_pid(target)?;
            txn.monitor(self.pid, target)
        })
    }

    /// Removes a monitor; an unknown reference is ignored. A `down` it has
    /// already delivered and that is still unreceived is removed too
    /// (Erlang's `demonitor(Ref, [flush])`): after `demonitor` no `down` of
    /// that monitor ever arrives, so a caller that gave up waiting (a call
    /// timing out) leaves nothing stale behind.
    pub fn demonitor(&self, monitor: Ref) -> Result<(), OpError> {
        self.node.op(self.pid, |txn| {
            let me = txn.entry(self.pid);
            let before = me.mailbox.held();
            me.mailbox
                .retain(|m| !matches!(m, Message::Down { monitor: r, .. } if *r == monitor));
            let flushed = before - me.mailbox.held();
            if let Some(target) = me.watching.remove(&monitor)
                && let Some(entry) = txn.table.procs.get_mut(&target)
            {
                entry.watchers.remove(&monitor);
            }
            txn.release(flushed);
            Ok(())
        })
    }

    /// Says how many received messages this process holds aside, as a
    /// selective receive does with those it skips: they count against
    /// [`Limits::mailbox_len`] as if they still waited in its mailbox, so a
    /// flood during a call ends it `mailbox-overflow`, as in Erlang, whose
    /// skipped messages never leave the mailbox. (Their bytes are in the
    /// guest's memory now, which the budget counts.)
    pub fn set_aside(&self, count: usize) -> Result<(), OpError> {
        self.node.op(self.pid, |txn| {
            txn.entry(self.pid).set_aside = count;
            Ok(())
        })
    }

    /// Sets whether exit signals become [`Message::Exit`] messages instead of
    /// ending this process; returns the previous setting. `kill` is never
    /// trapped.
    pub fn trap_exit(&self, on: bool) -> Result<bool, OpError> {
        self.node.op(self.pid, |txn| {
            Ok(std::mem::replace(&mut txn.entry(self.pid).trap_exit, on))
        })
    }

    /// Registers `pid` under `name` until it ends or is unregistered.
    pub fn register(&self, name: &str, pid: Pid) -> Result<(), OpError> {
        self.node.op(self.pid, |txn| txn.register(name, pid))
    }

    /// Removes the registration of `name`.
    pub fn unregister(&self, name: &str) -> Result<(), OpError> {
        self.node.op(self.pid, |txn| txn.unregister(name))
    }

    /// The pid registered as `name`, if any.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.node.whereis(name)
    }

    /// Sends an exit signal with `reason` to `to` (which may be this process):
    /// - `Killed` ends `to` with `killed` whether or not it traps exits;
    /// - if `to` traps exits, the signal becomes a [`Message::Exit`];
    /// - `Normal` is otherwise ignored, unless `to` is this process;
    /// - any other reason ends `to` with that reason.
    pub fn exit(&self, to: Pid, reason: ExitReason) -> Result<(), OpError> {
        self.node.op(self.pid, |txn| {
            txn.check_pid(to)?;
            txn.exit_signal(self.pid, to, reason);
            Ok(())
        })
    }
}

/// One locked operation on the table, with the deaths it has caused but not
/// yet carried out.
struct Txn<'a> {
    table: MutexGuard<'a, Table>,
    inner: &'a Inner,
    dying: VecDeque<(Pid, ExitReason)>,
}

impl Txn<'_> {
    fn emit(&self, event: Event<'_>) {
        self.inner.observer.event(event);
    }

    /// The entry of a process known to be alive.
    fn entry(&mut self, pid: Pid) -> &mut Entry {
        self.table
            .procs
            .get_mut(&pid)
            .expect("entry() is only called for a process checked to be alive")
    }

    fn check_pid(&self, pid: Pid) -> Result<(), OpError> {
        if pid.as_raw() == 0 || pid.as_raw() >= self.table.next_pid {
            return Err(OpError::InvalidPid(pid));
        }
        Ok(())
    }

    fn check_size(&self, bytes: &[u8]) -> Result<(), OpError> {
        let limit = self.inner.limits.message_bytes;
        if bytes.len() > limit {
            return Err(OpError::MessageTooLarge {
                bytes: bytes.len(),
                limit,
            });
        }
        Ok(())
    }

    /// Puts `message` in `to`'s mailbox; dropped if `to` has ended. A full
    /// mailbox (by length or by bytes) ends its owner instead: losing a
    /// message silently is worse.
    fn deliver(&mut self, to: Pid, message: Message) {
        let limits = &self.inner.limits;
        let Some(entry) = self.table.procs.get(&to) else {
            return;
        };
        let size = mailbox::size(&message);
        if entry.mailbox.len() + entry.set_aside >= limits.mailbox_len
            || entry.mailbox.bytes() + size > limits.mailbox_bytes
        {
            self.kill(to, ExitReason::MailboxOverflow);
            return;
        }
        let held = mailbox::held(&message);
        if !self.make_room(to, held) {
            self.kill(to, ExitReason::MemoryBudget);
            return;
        }
        self.emit(Event::Delivered {
            to,
            message: &message,
        });
        let entry = self.entry(to);
        entry.mailbox.push(message);
        entry.wake.notify_one();
        self.add_held(held);
    }

    /// Applies an exit signal from `from` to `to` (see [`Process::exit`]).
    fn exit_signal(&mut self, from: Pid, to: Pid, reason: ExitReason) {
        let Some(entry) = self.table.procs.get(&to) else {
            return;
        };
        if reason == ExitReason::Killed {
            self.kill(to, ExitReason::Killed);
        } else if entry.trap_exit {
            self.deliver(to, Message::Exit { from, reason });
        } else if !reason.is_normal() || from == to {
            self.kill(to, reason);
        }
    }

    /// Queues the death of `pid`; [`Txn::settle`] carries it out.
    fn kill(&mut self, pid: Pid, reason: ExitReason) {
        self.dying.push_back((pid, reason));
    }

    /// Whether a new process holding `bytes` fits in the memory budget:
    /// within 7/8 of it. The last eighth is for the processes already
    /// running to grow and receive: were spawns to fill the budget with
    /// processes of one size, the first to need a page more would find no
    /// one larger to make room, and a bystander would be the largest.
    fn fits(&self, bytes: usize) -> bool {
        let budget = self.inner.limits.memory_budget;
        self.table.held.saturating_add(bytes) <= budget - budget / 8
    }

    fn over_budget(&self, bytes: usize) -> OpError {
        OpError::MemoryBudget {
            bytes,
            budget: self.inner.limits.memory_budget,
        }
    }

    /// What is held, counting what the processes queued to die hold as
    /// given back already.
    fn held_after_deaths(&self) -> usize {
        let dying: usize = self
            .dying
            .iter()
            .filter_map(|(pid, _)| self.table.procs.get(pid))
            .map(Entry::held)
            .sum();
        self.table.held - dying
    }

    /// Makes room in the memory budget for `bytes` more held by `holder`
    /// (the policy on [`Node`]): while they do not fit, the process holding
    /// the most is queued to end with `memory-budget`. `false`, and nobody
    /// ended for it, when ending every process that holds more than
    /// `holder` would not make room (so when `holder` itself holds the
    /// most; ties go against `holder`, then against the youngest process).
    fn make_room(&mut self, holder: Pid, bytes: usize) -> bool {
        let budget = self.inner.limits.memory_budget;
        let need = |held: usize| held.saturating_add(bytes) > budget;
        if bytes == 0 || !need(self.held_after_deaths()) {
            return true;
        }
        self.report_full();
        let Some(own) = self.table.procs.get(&holder).map(Entry::held) else {
            return false;
        };
        let mut larger: Vec<(usize, Pid)> = self
            .table
            .procs
            .iter()
            .filter(|(pid, entry)| entry.held() > own && !self.dying.iter().any(|(d, _)| d == *pid))
            .map(|(&pid, entry)| (entry.held(), pid))
            .collect();
        let freeable: usize = larger.iter().map(|(held, _)| held).sum();
        if need(self.held_after_deaths() - freeable) {
            return false;
        }
        larger.sort_unstable();
        while need(self.held_after_deaths()) {
            let (_, pid) = larger.pop().expect("ending them all makes room");
            self.kill(pid, ExitReason::MemoryBudget);
        }
        true
    }

    fn add_held(&mut self, bytes: usize) {
        self.table.held += bytes;
        let budget = self.inner.limits.memory_budget;
        if self.table.pressure == Pressure::Normal && self.table.held >= budget / 10 * 8 {
            self.set_pressure(Pressure::High);
        }
    }

    fn release(&mut self, bytes: usize) {
        self.table.held -= bytes;
        let budget = self.inner.limits.memory_budget;
        if self.table.pressure != Pressure::Normal && self.table.held < budget / 10 * 7 {
            self.set_pressure(Pressure::Normal);
        }
    }

    /// Reports that a request did not fit the budget, once until what is
    /// held is back under 70%.
    fn report_full(&mut self) {
        if self.table.pressure != Pressure::Full {
            self.set_pressure(Pressure::Full);
        }
    }

    fn set_pressure(&mut self, pressure: Pressure) {
        self.table.pressure = pressure;
        self.emit(Event::MemoryBudget {
            pressure,
            held: self.table.held,
            budget: self.inner.limits.memory_budget,
        });
    }

    /// Carries out queued deaths, and the deaths they cause through links and
    /// full mailboxes, until none is left. The first reason queued wins.
    fn settle(&mut self) {
        while let Some((pid, reason)) = self.dying.pop_front() {
            let Some(entry) = self.table.procs.remove(&pid) else {
                continue;
            };
            self.emit(Event::Exited {
                pid,
                label: &entry.label,
                reason: &reason,
            });
            self.release(entry.held());
            if let Some(name) = &entry.name {
                self.table.names.remove(name);
                self.emit(Event::Unregistered { name, pid });
            }
            for (monitor, target) in &entry.watching {
                if let Some(watched) = self.table.procs.get_mut(target) {
                    watched.watchers.remove(monitor);
                }
            }
            for (&monitor, &watcher) in &entry.watchers {
                if let Some(watching) = self.table.procs.get_mut(&watcher) {
                    watching.watching.remove(&monitor);
                }
                self.deliver(
                    watcher,
                    Message::Down {
                        monitor,
                        pid,
                        reason: reason.clone(),
                    },
                );
            }
            for &linked in &entry.links {
                if let Some(partner) = self.table.procs.get_mut(&linked) {
                    partner.links.remove(&pid);
                }
                // Over a link even `killed` is an ordinary, trappable reason.
                self.link_signal(pid, linked, reason.clone());
            }
            entry.exit.set(reason);
        }
    }

    /// An exit signal travelling over a link: unlike [`Txn::exit_signal`],
    /// `killed` here is trappable.
    fn link_signal(&mut self, from: Pid, to: Pid, reason: ExitReason) {
        let Some(entry) = self.table.procs.get(&to) else {
            return;
        };
        if entry.trap_exit {
            self.deliver(to, Message::Exit { from, reason });
        } else if !reason.is_normal() {
            self.kill(to, reason);
        }
    }

    /// `watcher` monitors `target` (a `down` with `noproc` at once if
    /// `target` has ended).
    fn monitor(&mut self, watcher: Pid, target: Pid) -> Result<Ref, OpError> {
        let limit = self.inner.limits.max_monitors;
        if self.entry(watcher).watching.len() >= limit {
            return Err(OpError::TooManyMonitors { limit });
        }
        let monitor = Ref::from_raw(self.table.next_ref);
        self.table.next_ref += 1;
        if self.table.procs.contains_key(&target) {
            self.entry(watcher).watching.insert(monitor, target);
            self.entry(target).watchers.insert(monitor, watcher);
            self.emit(Event::Monitored {
                watcher,
                target,
                monitor,
            });
        } else {
            self.deliver(
                watcher,
                Message::Down {
                    monitor,
                    pid: target,
                    reason: ExitReason::Noproc,
                },
            );
        }
        Ok(monitor)
    }

    fn register(&mut self, name: &str, pid: Pid) -> Result<(), OpError> {
        let limit = self.inner.limits.name_bytes;
        if name.is_empty() || name.len() > limit || name.chars().any(char::is_control) {
            return Err(OpError::InvalidName {
                name: name.chars().take(limit).collect(),
                limit,
            });
        }
        self.check_pid(pid)?;
        if let Some(&owner) = self.table.names.get(name) {
            return Err(OpError::NameTaken {
                name: name.to_string(),
                pid: owner,
            });
        }
        let Some(entry) = self.table.procs.get_mut(&pid) else {
            return Err(OpError::Noproc(pid));
        };
        if let Some(existing) = &entry.name {
            return Err(OpError::AlreadyRegistered {
                pid,
                name: existing.clone(),
            });
        }
        entry.name = Some(name.to_string());
        self.table.names.insert(name.to_string(), pid);
        self.emit(Event::Registered { name, pid });
        Ok(())
    }

    fn unregister(&mut self, name: &str) -> Result<(), OpError> {
        let Some(pid) = self.table.names.remove(name) else {
            return Err(OpError::NotRegistered(name.to_string()));
        };
        self.entry(pid).name = None;
        self.emit(Event::Unregistered { name, pid });
        Ok(())
    }
}

impl Table {
    /// The table's invariants: links are symmetric, every monitor is known
    /// at both ends, and names and entries agree. Checked after every
    /// operation in debug builds, so a broken rule fails at the change that
    /// broke it rather than later and elsewhere.
    fn assert_consistent(&self) {
        for (&pid, entry) in &self.procs {
            assert!(
                pid.as_raw() > 0 && pid.as_raw() < self.next_pid,
                "pid {pid} outside issued range"
            );
            for linked in &entry.links {
                let partner = self.procs.get(linked);
                assert!(
                    partner.is_some_and(|p| p.links.contains(&pid)),
                    "link {pid} -> {linked} is not symmetric"
                );
            }
            for (monitor, target) in &entry.watching {
                let watched = self.procs.get(target);
                assert!(
                    watched.is_some_and(|w| w.watchers.get(monitor) == Some(&pid)),
                    "monitor {monitor} of {pid} on {target} is unknown to the target"
                );
            }
            for (monitor, watcher) in &entry.watchers {
                let watching = self.procs.get(watcher);
                assert!(
                    watching.is_some_and(|w| w.watching.get(monitor) == Some(&pid)),
                    "monitor {monitor} on {pid} by {watcher} is unknown to the watcher"
                );
            }
            if let Some(name) = &entry.name {
                assert_eq!(
                    self.names.get(name),
                    Some(&pid),
                    "name {name:?} of {pid} not in registry"
                );
            }
        }
        for (name, pid) in &self.names {
            let entry = self.procs.get(pid);
            assert!(
                entry.is_some_and(|e| e.name.as_deref() == Some(name.as_str())),
                "registry name {name:?} points at {pid}, which does not hold it"
            );
        }
    }
}
