//! Resident components: spawned when the node boots and restarted when they
//! end abnormally, at most `max_restarts` times within a window (Erlang's
//! restart intensity); past that the supervisor gives up on that one and the
//! node goes on. Every decision is an event (`restart …`, `give up on …`).
//! A drain stops them as an Erlang supervisor stops its children: the last
//! started first, each sent `shutdown` (which it may trap, to save its
//! state) and waited for.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rusm_core::{Event, ExitReason, Message, Pid, Process};
use rusm_rt::time::{Duration, Instant};

use crate::{Host, HostError};

/// A component the node keeps running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resident {
    pub component: String,
    pub init: Vec<u8>,
    pub max_restarts: u32,
    pub window: Duration,
}

impl Resident {
    /// The `[components.<name>]` marked `resident = true`, in name order.
    pub fn from_config(config: &rusm_config::AppConfig) -> Vec<Resident> {
        config
            .residents()
            .map(|(name, c)| Resident {
                component: name.to_string(),
                init: c.init.clone().into_bytes(),
                max_restarts: c.max_restarts,
                window: Duration::from_millis(c.restart_window_ms),
            })
            .collect()
    }
}

impl Host {
    /// Spawns each resident under one supervisor process (`supervisor`),
    /// which restarts them as they end abnormally. Call it from inside the
    /// runtime: the supervisor is a task.
    pub fn start_residents(&self, residents: Vec<Resident>) -> Result<(), HostError> {
        if residents.is_empty() {
            return Ok(());
        }
        let me = self.node().attach("supervisor").map_err(HostError::Spawn)?;
        // A drain's `shutdown` must reach it as a message, to stop the
        // residents before it ends.
        me.trap_exit(true).map_err(HostError::Spawn)?;
        let mut children = BTreeMap::new();
        for (n, resident) in residents.iter().enumerate() {
            let (pid, _) = self.spawn_monitor(&me, &resident.component, resident.init.clone())?;
            children.insert(pid, n);
        }
        let supervisor = Supervisor {
            host: self.clone(),
            restarts: vec![VecDeque::new(); residents.len()],
            residents,
            children,
        };
        *self.shared.supervisor.lock().expect("supervisor lock") = Some(me.pid());
        rusm_rt::task::spawn(supervisor.run(me));
        Ok(())
    }

    /// Stops the residents for a drain: their supervisor restarts none any
    /// more and sends each a `shutdown` exit signal, the last started
    /// first, waiting for each to end. Resolves once all have (at once if
    /// there are none).
    pub async fn stop_residents(&self) {
        let Some(supervisor) = self
            .shared
            .supervisor
            .lock()
            .expect("supervisor lock")
            .take()
        else {
            return;
        };
        let ended = self.node().join(supervisor);
        // Issued by this node: valid, whether or not it still runs.
        let _ = self.node().exit(supervisor, ExitReason::Shutdown);
        ended.await;
    }
}

struct Supervisor {
    host: Host,
    residents: Vec<Resident>,
    /// Live child -> which resident it is.
    children: BTreeMap<Pid, usize>,
    /// Per resident: when it was restarted, within its window.
    restarts: Vec<VecDeque<Instant>>,
}

impl Supervisor {
    async fn run(mut self, me: Process) {
        loop {
            let message = rusm_rt::select! {
                // The node stopped (a shutdown): so does supervision.
                _ = me.exited() => return,
                message = me.receive() => message,
            };
            match message {
                Message::Exit {
                    reason: ExitReason::Shutdown,
                    ..
                } => return self.stop(me).await,
                Message::Down { pid, reason, .. } => {
                    if let Some(n) = self.children.remove(&pid)
                        && !reason.is_normal()
                    {
                        self.restart(&me, n, pid);
                    }
                }
                _ => {}
            }
        }
    }

    /// Stops every child, the last started first, then itself.
    async fn stop(self, me: Process) {
        let mut children: Vec<(usize, Pid)> =
            self.children.iter().map(|(&pid, &n)| (n, pid)).collect();
        children.sort_unstable_by(|a, b| b.cmp(a));
        // Children whose `down` has come: one may end on its own while
        // another is being waited for.
        let mut ended = BTreeSet::new();
        for (_, child) in children {
            // Its own child: the pid is valid, whether or not it still runs.
            let _ = me.exit(child, ExitReason::Shutdown);
            while !ended.contains(&child) {
                let message = rusm_rt::select! {
                    _ = me.exited() => return,
                    message = me.receive() => message,
                };
                if let Message::Down { pid, .. } = message {
                    ended.insert(pid);
                }
            }
        }
        // Trapping, it would only get its own signal as a message.
        let _ = me.trap_exit(false);
        let _ = me.exit(me.pid(), ExitReason::Shutdown);
    }

    fn restart(&mut self, me: &Process, n: usize, old: Pid) {
        let resident = &self.residents[n];
        let now = rusm_rt::time::now();
        let recent = &mut self.restarts[n];
        while recent
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= resident.window)
        {
            recent.pop_front();
        }
        let window_ms = u64::try_from(resident.window.as_millis()).unwrap_or(u64::MAX);
        let give_up = |host: &Host| {
            host.node().report(Event::GaveUp {
                label: &resident.component,
                pid: old,
                restarts: resident.max_restarts,
                window_ms,
            })
        };
        if recent.len() >= resident.max_restarts as usize {
            give_up(&self.host);
            return;
        }
        match self
            .host
            .spawn_monitor(me, &resident.component, resident.init.clone())
        {
            Ok((new, _)) => {
                recent.push_back(now);
                self.children.insert(new, n);
                self.host.node().report(Event::Restarted {
                    label: &resident.component,
                    old,
                    new,
                    restarts: recent.len() as u32,
                    window_ms,
                });
            }
            // No room for it (the process limit): nothing better to do.
            Err(_) => give_up(&self.host),
        }
    }
}
