//! The actor core against a reference model: random sequences of
//! operations (spawn, send, receive, link, unlink, monitor, demonitor,
//! trap-exit, register, unregister, exit signals) run on a real [`Node`]
//! and on a small model of Erlang's rules written here, with a different
//! representation (links as unordered pairs, monitors as one map from
//! reference to watcher and target). After every step each operation's
//! result, every process's liveness, exit reason, mailbox and monitors,
//! and the registry must agree; the node's own invariant check runs too.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use proptest::prelude::*;
use rusm_core::{ExitReason, Limits, Message, Node, OpError, Pid, Process, Ref};

/// Small mailbox limits, so overflow deaths happen by either.
const MAILBOX_LEN: usize = 4;
const MAILBOX_BYTES: usize = 6;
const NAMES: [&str; 3] = ["a", "b", ""];

#[derive(Debug, Clone)]
enum Op {
    Spawn,
    /// Operations name processes by index into the pids issued so far,
    /// plus a few never issued (and pid 0).
    /// From, to, and how many bytes.
    Send(usize, usize, usize),
    Receive(usize),
    Link(usize, usize),
    Unlink(usize, usize),
    Monitor(usize, usize),
    /// Demonitors the n-th reference handed out (or one never handed out).
    Demonitor(usize, usize),
    TrapExit(usize, bool),
    Register(usize, usize, usize),
    Unregister(usize, usize),
    Exit(usize, usize, u8),
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0usize..8;
    prop_oneof![
        1 => Just(Op::Spawn),
        3 => (who.clone(), who.clone(), 0usize..4).prop_map(|(a, b, n)| Op::Send(a, b, n)),
        2 => who.clone().prop_map(Op::Receive),
        3 => (who.clone(), who.clone()).prop_map(|(a, b)| Op::Link(a, b)),
        1 => (who.clone(), who.clone()).prop_map(|(a, b)| Op::Unlink(a, b)),
        2 => (who.clone(), who.clone()).prop_map(|(a, b)| Op::Monitor(a, b)),
        1 => (who.clone(), 0usize..8).prop_map(|(a, r)| Op::Demonitor(a, r)),
        2 => (who.clone(), any::<bool>()).prop_map(|(a, on)| Op::TrapExit(a, on)),
        2 => (who.clone(), 0..NAMES.len(), who.clone()).prop_map(|(a, n, b)| Op::Register(a, n, b)),
        1 => (who.clone(), 0..NAMES.len()).prop_map(|(a, n)| Op::Unregister(a, n)),
        3 => (who.clone(), who, 0u8..3).prop_map(|(a, b, r)| Op::Exit(a, b, r)),
    ]
}

/// What a message holds against the byte limit: a data message's bytes,
/// a reason's text.
fn size(message: &Message) -> usize {
    match message {
        Message::Data { bytes, .. } => bytes.len(),
        Message::Down { reason, .. } | Message::Exit { reason, .. } => match reason {
            ExitReason::Trap(text) | ExitReason::Custom(text) => text.len(),
            _ => 0,
        },
    }
}

fn reason(code: u8) -> ExitReason {
    match code {
        0 => ExitReason::Normal,
        1 => ExitReason::Killed,
        _ => ExitReason::Custom("boom".into()),
    }
}

/// What the model keeps of a live process.
#[derive(Default)]
struct Proc {
    trap_exit: bool,
    mailbox: VecDeque<Message>,
}

/// Erlang's rules, as plainly as they can be written.
#[derive(Default)]
struct Model {
    issued: u64,
    procs: BTreeMap<Pid, Proc>,
    /// Each link once, as (lower pid, higher pid).
    links: BTreeSet<(Pid, Pid)>,
    /// Every live monitor: reference -> (watcher, target).
    monitors: BTreeMap<Ref, (Pid, Pid)>,
    next_ref: u64,
    names: BTreeMap<String, Pid>,
    dying: VecDeque<(Pid, ExitReason)>,
    /// Why each ended process ended.
    ended: BTreeMap<Pid, ExitReason>,
}

impl Model {
    fn issued(&self, pid: Pid) -> Result<(), OpError> {
        if pid.as_raw() == 0 || pid.as_raw() > self.issued {
            return Err(OpError::InvalidPid(pid));
        }
        Ok(())
    }

    fn caller(&self, pid: Pid) -> Result<(), OpError> {
        if self.procs.contains_key(&pid) {
            Ok(())
        } else {
            Err(OpError::CallerExited(pid))
        }
    }

    fn deliver(&mut self, to: Pid, message: Message) {
        if let Some(p) = self.procs.get_mut(&to) {
            let bytes: usize = p.mailbox.iter().map(size).sum();
            if p.mailbox.len() >= MAILBOX_LEN || bytes + size(&message) > MAILBOX_BYTES {
                self.dying.push_back((to, ExitReason::MailboxOverflow));
            } else {
                p.mailbox.push_back(message);
            }
        }
    }

    /// An exit signal from `exit`: `killed` cannot be trapped; `normal` ends
    /// only the sender itself.
    fn signal(&mut self, from: Pid, to: Pid, reason: ExitReason) {
        let Some(p) = self.procs.get(&to) else { return };
        if reason == ExitReason::Killed {
            self.dying.push_back((to, reason));
        } else if p.trap_exit {
            self.deliver(to, Message::Exit { from, reason });
        } else if reason != ExitReason::Normal || from == to {
            self.dying.push_back((to, reason));
        }
    }

    /// Deaths, and the deaths they cause, in the order they were queued.
    fn settle(&mut self) {
        while let Some((pid, reason)) = self.dying.pop_front() {
            if self.procs.remove(&pid).is_none() {
                continue;
            }
            self.ended.insert(pid, reason.clone());
            self.names.retain(|_, p| *p != pid);
            let held: Vec<Ref> = self
                .monitors
                .iter()
                .filter(|(_, (watcher, _))| *watcher == pid)
                .map(|(r, _)| *r)
                .collect();
            for r in held {
                self.monitors.remove(&r);
            }
            let on_it: Vec<(Ref, Pid)> = self
                .monitors
                .iter()
                .filter(|(_, (_, target))| *target == pid)
                .map(|(r, (watcher, _))| (*r, *watcher))
                .collect();
            for (monitor, watcher) in on_it {
                self.monitors.remove(&monitor);
                let down = Message::Down {
                    monitor,
                    pid,
                    reason: reason.clone(),
                };
                self.deliver(watcher, down);
            }
            let partners: Vec<Pid> = self
                .links
                .iter()
                .filter_map(|&(a, b)| match (a == pid, b == pid) {
                    (true, _) => Some(b),
                    (_, true) => Some(a),
                    _ => None,
                })
                .collect();
            self.links.retain(|&(a, b)| a != pid && b != pid);
            for partner in partners {
                // Over a link, even `killed` is an ordinary reason.
                let trapping = self.procs.get(&partner).map(|p| p.trap_exit);
                match trapping {
                    Some(true) => self.deliver(
                        partner,
                        Message::Exit {
                            from: pid,
                            reason: reason.clone(),
                        },
                    ),
                    Some(false) if reason != ExitReason::Normal => {
                        self.dying.push_back((partner, reason.clone()))
                    }
                    _ => {}
                }
            }
        }
    }

    fn apply(&mut self, op: &Resolved) -> Outcome {
        let outcome = self.run(op);
        self.settle();
        outcome
    }

    fn run(&mut self, op: &Resolved) -> Outcome {
        match *op {
            Resolved::Spawn => {
                self.issued += 1;
                let pid = Pid::from_raw(self.issued);
                self.procs.insert(pid, Proc::default());
                Outcome::Spawned(pid)
            }
            Resolved::Send(a, b, n) => Outcome::Unit(self.caller(a).and_then(|_| {
                self.issued(b)?;
                self.deliver(
                    b,
                    Message::Data {
                        from: a,
                        bytes: vec![7; n],
                    },
                );
                Ok(())
            })),
            Resolved::Receive(a) => {
                Outcome::Received(self.procs.get_mut(&a).and_then(|p| p.mailbox.pop_front()))
            }
            Resolved::Link(a, b) => Outcome::Unit(self.caller(a).and_then(|_| {
                self.issued(b)?;
                if a == b {
                } else if self.procs.contains_key(&b) {
                    self.links.insert((a.min(b), a.max(b)));
                } else {
                    self.signal(b, a, ExitReason::Noproc);
                }
                Ok(())
            })),
            Resolved::Unlink(a, b) => Outcome::Unit(self.caller(a).and_then(|_| {
                self.issued(b)?;
                self.links.remove(&(a.min(b), a.max(b)));
                Ok(())
            })),
            Resolved::Monitor(a, b) => Outcome::Monitor(self.caller(a).and_then(|_| {
                self.issued(b)?;
                self.next_ref += 1;
                let monitor = Ref::from_raw(self.next_ref);
                if self.procs.contains_key(&b) {
                    self.monitors.insert(monitor, (a, b));
                } else {
                    let down = Message::Down {
                        monitor,
                        pid: b,
                        reason: ExitReason::Noproc,
                    };
                    self.deliver(a, down);
                }
                Ok(monitor)
            })),
            Resolved::Demonitor(a, monitor) => Outcome::Unit(self.caller(a).map(|_| {
                if let Some(p) = self.procs.get_mut(&a) {
                    p.mailbox.retain(
                        |m| !matches!(m, Message::Down { monitor: r, .. } if *r == monitor),
                    );
                }
                if self.monitors.get(&monitor).is_some_and(|(w, _)| *w == a) {
                    self.monitors.remove(&monitor);
                }
            })),
            Resolved::TrapExit(a, on) => Outcome::Flag(self.caller(a).map(|_| {
                let p = self.procs.get_mut(&a).expect("the caller is alive");
                std::mem::replace(&mut p.trap_exit, on)
            })),
            Resolved::Register(a, name, b) => Outcome::Unit(self.caller(a).and_then(|_| {
                if name.is_empty() {
                    return Err(OpError::InvalidName {
                        name: String::new(),
                        limit: Limits::DEFAULT_NAME_BYTES,
                    });
                }
                self.issued(b)?;
                if let Some(&owner) = self.names.get(name) {
                    return Err(OpError::NameTaken {
                        name: name.into(),
                        pid: owner,
                    });
                }
                if !self.procs.contains_key(&b) {
                    return Err(OpError::Noproc(b));
                }
                if let Some((held, _)) = self.names.iter().find(|(_, p)| **p == b) {
                    return Err(OpError::AlreadyRegistered {
                        pid: b,
                        name: held.clone(),
                    });
                }
                self.names.insert(name.into(), b);
                Ok(())
            })),
            Resolved::Unregister(a, name) => Outcome::Unit(self.caller(a).and_then(|_| {
                self.names
                    .remove(name)
                    .map(drop)
                    .ok_or_else(|| OpError::NotRegistered(name.into()))
            })),
            Resolved::Exit(a, b, ref reason) => Outcome::Unit(self.caller(a).and_then(|_| {
                self.issued(b)?;
                self.signal(a, b, reason.clone());
                Ok(())
            })),
        }
    }
}

/// An operation with its pids and references chosen.
#[derive(Debug)]
enum Resolved {
    Spawn,
    Send(Pid, Pid, usize),
    Receive(Pid),
    Link(Pid, Pid),
    Unlink(Pid, Pid),
    Monitor(Pid, Pid),
    Demonitor(Pid, Ref),
    TrapExit(Pid, bool),
    Register(Pid, &'static str, Pid),
    Unregister(Pid, &'static str),
    Exit(Pid, Pid, ExitReason),
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Spawned(Pid),
    Unit(Result<(), OpError>),
    Flag(Result<bool, OpError>),
    Monitor(Result<Ref, OpError>),
    Received(Option<Message>),
}

/// The real node, driven by the same operations.
struct Real {
    node: Node,
    handles: BTreeMap<Pid, Process>,
}

impl Real {
    fn apply(&mut self, op: &Resolved) -> Outcome {
        let on = |pid: &Pid| self.handles.get(pid).expect("a pid the test issued");
        match *op {
            Resolved::Spawn => {
                let process = self.node.attach("p").expect("under the process limit");
                let pid = process.pid();
                self.handles.insert(pid, process);
                Outcome::Spawned(pid)
            }
            Resolved::Send(a, b, n) => Outcome::Unit(on(&a).send(b, vec![7; n])),
            Resolved::Receive(a) => Outcome::Received(on(&a).try_receive()),
            Resolved::Link(a, b) => Outcome::Unit(on(&a).link(b)),
            Resolved::Unlink(a, b) => Outcome::Unit(on(&a).unlink(b)),
            Resolved::Monitor(a, b) => Outcome::Monitor(on(&a).monitor(b)),
            Resolved::Demonitor(a, r) => Outcome::Unit(on(&a).demonitor(r)),
            Resolved::TrapExit(a, flag) => Outcome::Flag(on(&a).trap_exit(flag)),
            Resolved::Register(a, name, b) => Outcome::Unit(on(&a).register(name, b)),
            Resolved::Unregister(a, name) => Outcome::Unit(on(&a).unregister(name)),
            Resolved::Exit(a, b, ref reason) => Outcome::Unit(on(&a).exit(b, reason.clone())),
        }
    }
}

/// Picks the pids and references an operation names: callers among the
/// issued pids, targets among them, 0, and two never issued.
fn resolve(op: &Op, issued: u64, refs: &[Ref]) -> Option<Resolved> {
    let caller = |i: usize| (issued > 0).then(|| Pid::from_raw(i as u64 % issued + 1));
    let target = |i: usize| Pid::from_raw(i as u64 % (issued + 3));
    Some(match *op {
        Op::Spawn => Resolved::Spawn,
        Op::Send(a, b, n) => Resolved::Send(caller(a)?, target(b), n),
        Op::Receive(a) => Resolved::Receive(caller(a)?),
        Op::Link(a, b) => Resolved::Link(caller(a)?, target(b)),
        Op::Unlink(a, b) => Resolved::Unlink(caller(a)?, target(b)),
        Op::Monitor(a, b) => Resolved::Monitor(caller(a)?, target(b)),
        Op::Demonitor(a, r) => Resolved::Demonitor(
            caller(a)?,
            refs.get(r)
                .copied()
                .unwrap_or(Ref::from_raw(1000 + r as u64)),
        ),
        Op::TrapExit(a, on) => Resolved::TrapExit(caller(a)?, on),
        Op::Register(a, n, b) => Resolved::Register(caller(a)?, NAMES[n], target(b)),
        Op::Unregister(a, n) => Resolved::Unregister(caller(a)?, NAMES[n]),
        Op::Exit(a, b, r) => Resolved::Exit(caller(a)?, target(b), reason(r)),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_node_agrees_with_the_model_after_every_operation(ops in proptest::collection::vec(op(), 1..80)) {
        rusm_rt::block_on(async {
            let limits = Limits {
                mailbox_len: MAILBOX_LEN,
                mailbox_bytes: MAILBOX_BYTES,
                ..Limits::default()
            };
            let mut real = Real { node: Node::new(limits), handles: BTreeMap::new() };
            let mut model = Model::default();
            let mut refs = Vec::new();
            for (step, op) in ops.iter().enumerate() {
                let Some(resolved) = resolve(op, model.issued, &refs) else { continue };
                let expected = model.apply(&resolved);
                let got = real.apply(&resolved);
                prop_assert_eq!(&got, &expected, "step {}: {:?}", step, resolved);
                if let Outcome::Monitor(Ok(r)) = got {
                    refs.push(r);
                }
                real.node.check_consistency();
                for raw in 1..=model.issued {
                    let pid = Pid::from_raw(raw);
                    let alive = model.procs.get(&pid);
                    prop_assert_eq!(real.node.is_alive(pid), alive.is_some(), "step {}: {} alive", step, pid);
                    prop_assert_eq!(
                        real.node.mailbox_len(pid),
                        alive.map(|p| p.mailbox.len()),
                        "step {}: mailbox of {}", step, pid
                    );
                    let handle = &real.handles[&pid];
                    prop_assert_eq!(handle.exit_reason(), model.ended.get(&pid).cloned(), "step {}: why {} ended", step, pid);
                    let held = model.monitors.values().filter(|(w, _)| *w == pid).count();
                    prop_assert_eq!(
                        real.node.monitors_held(pid),
                        alive.map(|_| held),
                        "step {}: monitors of {}", step, pid
                    );
                }
                for name in NAMES.iter().filter(|n| !n.is_empty()) {
                    prop_assert_eq!(real.node.whereis(name), model.names.get(*name).copied(), "step {}: {}", step, name);
                }
            }
            Ok(())
        })?;
    }
}
