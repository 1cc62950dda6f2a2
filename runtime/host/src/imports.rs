//! The `rusm:runtime/process` imports: what a guest may ask of the node.
//!
//! Every argument is untrusted. A call that cannot be honoured either returns
//! an error value (an operating error: capability denied, name taken) or
//! ends the caller with a clear reason (a bug in the guest: a pid that was
//! never issued, a message over the size limit). Nothing a guest passes can
//! panic the host.

use rusm_config::Capability;
use rusm_core::{ExitReason, Message, OpError, Pid, Ref};
use rusm_rt::time::Duration;

use crate::process::ProcState;

wasmtime::component::bindgen!({
    path: "wit",
    world: "rusm:runtime/guest",
    imports: {
        "rusm:runtime/process.receive": async | trappable,
        "rusm:runtime/process.receive-timeout": async | trappable,
        "rusm:runtime/serving.write": async | trappable,
        "rusm:runtime/serving.send-frame": async | trappable,
        "rusm:runtime/kv": async,
        default: trappable,
    },
});

use rusm::runtime::process as wit;

/// Longer timeouts wait forever; they would overflow an instant otherwise.
const MAX_TIMEOUT_MS: u64 = 10 * 365 * 24 * 3600 * 1000;
/// Exit reason texts from guests are cut to this length.
const MAX_REASON_BYTES: usize = 4096;

impl wit::Host for ProcState {
    fn self_pid(&mut self) -> wasmtime::Result<u64> {
        Ok(self.process.pid().as_raw())
    }

    fn init(&mut self) -> wasmtime::Result<Vec<u8>> {
        Ok(self.init.clone())
    }

    fn spawn(&mut self, component: String, init: Vec<u8>) -> wasmtime::Result<Result<u64, String>> {
        if let Err(denied) = self.require(Capability::Spawn) {
            return Ok(Err(denied));
        }
        let limit = self.process.node().limits().message_bytes;
        if init.len() > limit {
            return Ok(Err(format!(
                "init payload of {} bytes exceeds the limit of {limit} bytes",
                init.len()
            )));
        }
        let spawned =
            crate::process::spawn(&self.shared, None, &component, init, None).map(|(pid, _)| pid);
        self.still_alive()?;
        Ok(spawned.map(Pid::as_raw).map_err(|e| e.to_string()))
    }

    fn send(&mut self, to: u64, bytes: Vec<u8>) -> wasmtime::Result<()> {
        let sent = self.process.send(Pid::from_raw(to), bytes);
        self.checked("send", sent)
    }

    async fn receive(&mut self) -> wasmtime::Result<wit::Message> {
        let _waiting = self.await_messages()?;
        Ok(self.process.receive().await.into())
    }

    async fn receive_timeout(&mut self, timeout_ms: u64) -> wasmtime::Result<Option<wit::Message>> {
        let _waiting = self.await_messages()?;
        if timeout_ms > MAX_TIMEOUT_MS {
            return Ok(Some(self.process.receive().await.into()));
        }
        let timeout = Duration::from_millis(timeout_ms);
        Ok(self.process.receive_timeout(timeout).await.map(Into::into))
    }

    fn link(&mut self, other: u64) -> wasmtime::Result<()> {
        let linked = self.process.link(Pid::from_raw(other));
        self.checked("link", linked)
    }

    fn unlink(&mut self, other: u64) -> wasmtime::Result<()> {
        let unlinked = self.process.unlink(Pid::from_raw(other));
        self.checked("unlink", unlinked)
    }

    fn monitor(&mut self, target: u64) -> wasmtime::Result<u64> {
        let monitor = self.process.monitor(Pid::from_raw(target));
        self.checked("monitor", monitor).map(Ref::as_raw)
    }

    fn demonitor(&mut self, monitor: u64) -> wasmtime::Result<()> {
        let removed = self.process.demonitor(Ref::from_raw(monitor));
        self.checked("demonitor", removed)
    }

    fn set_aside(&mut self, count: u32) -> wasmtime::Result<()> {
        let result = self.process.set_aside(count as usize);
        self.checked("set-aside", result)
    }

    fn trap_exit(&mut self, on: bool) -> wasmtime::Result<bool> {
        let previous = self.process.trap_exit(on);
        self.checked("trap-exit", previous)
    }

    fn register(&mut self, name: String, pid: u64) -> wasmtime::Result<Result<(), String>> {
        if let Err(denied) = self.require(Capability::Register) {
            return Ok(Err(denied));
        }
        match self.process.register(&name, Pid::from_raw(pid)) {
            Err(e @ (OpError::InvalidPid(_) | OpError::CallerExited(_))) => {
                self.checked("register", Err(e))
            }
            result => Ok(result.map_err(|e| e.to_string())),
        }
    }

    fn unregister(&mut self, name: String) -> wasmtime::Result<Result<(), String>> {
        if let Err(denied) = self.require(Capability::Register) {
            return Ok(Err(denied));
        }
        Ok(self.process.unregister(&name).map_err(|e| e.to_string()))
    }

    fn whereis(&mut self, name: String) -> wasmtime::Result<Option<u64>> {
        Ok(self.process.whereis(&name).map(Pid::as_raw))
    }

    fn exit(&mut self, to: u64, reason: wit::ExitReason) -> wasmtime::Result<()> {
        let signalled = self.process.exit(Pid::from_raw(to), reason.into());
        self.checked("exit", signalled)
    }

    fn fail(&mut self, message: String) -> wasmtime::Result<()> {
        Err(self.end(ExitReason::Trap(bounded(message))))
    }
}

impl ProcState {
    /// Ends this process with `reason`: the returned error unwinds the guest,
    /// and the run loop reports `reason` rather than the unwinding trap.
    pub(crate) fn end(&mut self, reason: ExitReason) -> wasmtime::Error {
        let error = wasmtime::Error::msg(reason.to_string());
        self.exit.get_or_insert(reason);
        error
    }

    /// The result of a core operation: a refusal is a bug in the guest, so
    /// it ends the guest; success still ends it if the operation killed it
    /// (say, linking to a dead pid without trapping exits).
    pub(crate) fn checked<T>(
        &mut self,
        call: &str,
        result: Result<T, OpError>,
    ) -> wasmtime::Result<T> {
        match result {
            Ok(value) => {
                self.still_alive()?;
                Ok(value)
            }
            Err(OpError::CallerExited(_)) => Err(self.still_alive().err().unwrap_or_else(|| {
                self.end(ExitReason::Trap(format!(
                    "{call}: the process had already exited"
                )))
            })),
            Err(refusal) => Err(self.end(ExitReason::Trap(format!("{call}: {refusal}")))),
        }
    }

    /// Stops the guest at once if an exit signal has ended this process.
    fn still_alive(&mut self) -> wasmtime::Result<()> {
        match self.process.exit_reason() {
            None => Ok(()),
            Some(reason) => Err(self.end(reason)),
        }
    }

    /// Refuses a call this process's profile does not allow, saying how
    /// to grant it.
    pub(crate) fn require(&self, capability: Capability) -> Result<(), String> {
        if self.capabilities.grants(capability) {
            return Ok(());
        }
        Err(crate::gate::denied(capability, &self.component))
    }
}

fn bounded(mut text: String) -> String {
    if text.len() > MAX_REASON_BYTES {
        let mut cut = MAX_REASON_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

impl From<Message> for wit::Message {
    fn from(message: Message) -> wit::Message {
        match message {
            Message::Data { from, bytes } => wit::Message::Data(wit::Data {
                from: from.as_raw(),
                bytes,
            }),
            Message::Down {
                monitor,
                pid,
                reason,
            } => wit::Message::Down(wit::Down {
                monitor: monitor.as_raw(),
                pid: pid.as_raw(),
                reason: reason.into(),
            }),
            Message::Exit { from, reason } => wit::Message::Exit(wit::ExitSignal {
                from: from.as_raw(),
                reason: reason.into(),
            }),
        }
    }
}

impl From<ExitReason> for wit::ExitReason {
    fn from(reason: ExitReason) -> wit::ExitReason {
        match reason {
            ExitReason::Normal => wit::ExitReason::Normal,
            ExitReason::Killed => wit::ExitReason::Killed,
            ExitReason::Trap(m) => wit::ExitReason::Trap(m),
            ExitReason::OutOfFuel => wit::ExitReason::OutOfFuel,
            ExitReason::OutOfMemory => wit::ExitReason::OutOfMemory,
            ExitReason::Disconnect => wit::ExitReason::Disconnect,
            ExitReason::Noproc => wit::ExitReason::Noproc,
            ExitReason::MailboxOverflow => wit::ExitReason::MailboxOverflow,
            ExitReason::MemoryBudget => wit::ExitReason::MemoryBudget,
            ExitReason::Timeout => wit::ExitReason::Timeout,
            ExitReason::Shutdown => wit::ExitReason::Shutdown,
            ExitReason::Custom(m) => wit::ExitReason::Custom(m),
        }
    }
}

impl From<wit::ExitReason> for ExitReason {
    fn from(reason: wit::ExitReason) -> ExitReason {
        match reason {
            wit::ExitReason::Normal => ExitReason::Normal,
            wit::ExitReason::Killed => ExitReason::Killed,
            wit::ExitReason::Trap(m) => ExitReason::Trap(bounded(m)),
            wit::ExitReason::OutOfFuel => ExitReason::OutOfFuel,
            wit::ExitReason::OutOfMemory => ExitReason::OutOfMemory,
            wit::ExitReason::Disconnect => ExitReason::Disconnect,
            wit::ExitReason::Noproc => ExitReason::Noproc,
            wit::ExitReason::MailboxOverflow => ExitReason::MailboxOverflow,
            wit::ExitReason::MemoryBudget => ExitReason::MemoryBudget,
            wit::ExitReason::Timeout => ExitReason::Timeout,
            wit::ExitReason::Shutdown => ExitReason::Shutdown,
            wit::ExitReason::Custom(m) => ExitReason::Custom(bounded(m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_reasons_are_cut_on_a_char_boundary() {
        let long = "é".repeat(MAX_REASON_BYTES);
        let cut = bounded(long);
        assert!(cut.len() <= MAX_REASON_BYTES + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(bounded("short".into()), "short");
    }
}
