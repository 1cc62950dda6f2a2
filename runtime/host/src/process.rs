//! One process = one component instance, run to its end inside a task of
//! the actor core.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rusm_config::{Capabilities, Preemption, Runtime};
use rusm_core::{ExitReason, OpError, Pid, Process, Ref};
use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, Trap};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxView, WasiView};

use crate::session::{Session, SessionState};
use crate::{HostError, Shared};

/// What a process's store holds: its WASI context, its handle on the actor
/// core, and what it is allowed to do.
pub(crate) struct ProcState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) process: Process,
    pub(crate) shared: Arc<Shared>,
    pub(crate) capabilities: Arc<Capabilities>,
    pub(crate) component: Arc<str>,
    pub(crate) init: Vec<u8>,
    memory: MemoryLimit,
    /// When the process started: zero on its WASI monotonic clock.
    pub(crate) started: rusm_rt::time::Instant,
    /// What it serves, if the node spawned it for a client.
    pub(crate) session: Option<SessionState>,
    /// The program it runs, if it is a script component's runner.
    pub(crate) script: Option<crate::Script>,
    /// The reason this process ends with, when the host decided it (a
    /// `fail`, a refused call, an exit signal noticed during a call).
    pub(crate) exit: Option<ExitReason>,
    /// The fetch processes it started that may still run: at most
    /// `[runtime] max-fetches`.
    pub(crate) fetches: Vec<Pid>,
}

impl WasiView for ProcState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Spawns `component` as a new process of the node, monitored by `watcher`
/// from its first instant when one is given.
pub(crate) fn spawn(
    shared: &Arc<Shared>,
    watcher: Option<&Process>,
    component: &str,
    init: Vec<u8>,
    session: Option<Session>,
) -> Result<(Pid, Option<Ref>), HostError> {
    let (name, loaded) =
        shared
            .components
            .get_key_value(component)
            .ok_or_else(|| HostError::UnknownComponent {
                name: component.to_string(),
                known: shared.components.keys().cloned().collect(),
            })?;
    let pre = loaded.pre.clone();
    let capabilities = loaded.capabilities.clone();
    let script = loaded.script.clone();
    let initial = loaded.initial_memory.load(Ordering::Relaxed);
    // A session's request is held by the host for the process's life.
    let holding = initial + session.as_ref().map_or(0, Session::bytes);
    let component: Arc<str> = Arc::from(name.as_str());
    let owner = shared.clone();
    let body = move |process: Process| async move {
        let started = rusm_rt::time::now();
        let state = ProcState {
            wasi: crate::wasi::context(&component, &process, capabilities.allow_stdio, started),
            started,
            table: ResourceTable::new(),
            memory: MemoryLimit::new(owner.settings.memory_limit_mib, process.clone(), initial),
            process,
            shared: owner,
            capabilities,
            component,
            init,
            session: session.map(SessionState::new),
            script,
            exit: None,
            fetches: Vec::new(),
        };
        run(pre, state).await
    };
    let spawned = match watcher {
        None => shared
            .node
            .spawn_holding(name, holding, body)
            .map(|pid| (pid, None)),
        Some(watcher) => watcher
            .spawn_monitor_holding(name, holding, body)
            .map(|(pid, m)| (pid, Some(m))),
    };
    spawned.map_err(HostError::Spawn)
}

/// Instantiates the component and runs its `main` to the end; the process's
/// exit reason is what happened.
async fn run(pre: CommandPre<ProcState>, state: ProcState) -> ExitReason {
    let settings = state.shared.settings.clone();
    let mut store = Store::new(&state.shared.engine.clone(), state);
    store.limiter(|state| &mut state.memory);
    if let Err(e) = schedule(&mut store, &settings) {
        return ExitReason::Trap(format!("cannot schedule the process: {e}"));
    }
    // Under simulation each slice of fuel costs simulated time, one
    // nanosecond per unit: busy guests advance the clock as they would
    // occupy a CPU, so timers still fire while they spin.
    let slice = rusm_rt::time::Duration::from_nanos(settings.fuel_per_slice);
    let outcome = rusm_rt::cpu::metered(
        async {
            let command = pre.instantiate_async(&mut store).await?;
            // Learned once per component: after that a spawn charges what
            // instantiation holds, and there is nothing to look up.
            let state = store.data();
            if state.memory.held > state.memory.charged_at_spawn
                && let Some(loaded) = state.shared.components.get(&*state.component)
            {
                loaded
                    .initial_memory
                    .fetch_max(state.memory.held, Ordering::Relaxed);
            }
            command.wasi_cli_run().call_run(&mut store).await
        },
        slice,
    )
    .await;
    exit_reason(outcome, store.data())
}

/// Preemption (a yield every slice of fuel, or at every epoch tick) and the
/// lifetime fuel budget.
fn schedule(store: &mut Store<ProcState>, settings: &Runtime) -> wasmtime::Result<()> {
    let preemption = crate::engine::preemption(settings);
    if preemption == Preemption::Fuel || settings.max_fuel.is_some() {
        store.set_fuel(settings.max_fuel.unwrap_or(u64::MAX))?;
    }
    match preemption {
        Preemption::Fuel => {
            store.fuel_async_yield_interval(Some(settings.fuel_per_slice.max(1)))?
        }
        Preemption::Epoch => {
            store.set_epoch_deadline(1);
            store.epoch_deadline_async_yield_and_update(1);
        }
    }
    Ok(())
}

fn exit_reason(outcome: wasmtime::Result<Result<(), ()>>, state: &ProcState) -> ExitReason {
    if let Some(reason) = &state.exit {
        return reason.clone();
    }
    if state.memory.exceeded {
        return ExitReason::OutOfMemory;
    }
    let error = match outcome {
        // Returning after its client left is how a serving process is
        // meant to end; the reason says why it returned.
        Ok(Ok(()))
            if state
                .session
                .as_ref()
                .is_some_and(SessionState::client_gone) =>
        {
            return ExitReason::Disconnect;
        }
        Ok(Ok(())) => return ExitReason::Normal,
        Ok(Err(())) => return ExitReason::Trap("main returned an error".into()),
        Err(error) => error,
    };
    if let Some(I32Exit(code)) = error.downcast_ref::<I32Exit>() {
        return match code {
            0 => ExitReason::Normal,
            code => ExitReason::Trap(format!("exited with code {code}")),
        };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => ExitReason::OutOfFuel,
        Some(Trap::StackOverflow) => ExitReason::Trap("stack overflow".into()),
        Some(trap) => {
            let text = trap.to_string();
            ExitReason::Trap(
                text.strip_prefix("wasm trap: ")
                    .unwrap_or(&text)
                    .to_string(),
            )
        }
        None => ExitReason::Trap(format!("{error}")),
    }
}

/// Caps linear memory, and counts it against the node's memory budget:
/// growing past the cap, or past what the budget lets this process hold,
/// ends the process with `out-of-memory` (rather than a guest abort that
/// reads like any trap).
struct MemoryLimit {
    max_bytes: usize,
    exceeded: bool,
    process: Process,
    /// Bytes the spawn already counted against the budget (the component's
    /// initial memory), used up by the first growths.
    prepaid: usize,
    /// What `prepaid` was at the spawn.
    charged_at_spawn: usize,
    /// Bytes of linear memory held, over all of the process's memories.
    held: usize,
}

/// Table growth is not a resource a guest should hoard either.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl MemoryLimit {
    fn new(limit_mib: u64, process: Process, prepaid: usize) -> MemoryLimit {
        MemoryLimit {
            max_bytes: usize::try_from(limit_mib.saturating_mul(1 << 20)).unwrap_or(usize::MAX),
            exceeded: false,
            process,
            prepaid,
            charged_at_spawn: prepaid,
            held: 0,
        }
    }
}

impl ResourceLimiter for MemoryLimit {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.exceeded = true;
            wasmtime::bail!("memory limit of {} bytes exceeded", self.max_bytes);
        }
        let more = desired.saturating_sub(current);
        let prepaid = more.min(self.prepaid);
        self.prepaid -= prepaid;
        match Some(more - prepaid)
            .filter(|&bytes| bytes > 0)
            .map_or(Ok(()), |bytes| self.process.hold(bytes))
        {
            Ok(()) => {}
            Err(e @ OpError::MemoryBudget { .. }) => {
                self.exceeded = true;
                wasmtime::bail!("{e}");
            }
            // Ended meanwhile: its reason is already set.
            Err(e) => wasmtime::bail!("{e}"),
        }
        self.held += more;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
