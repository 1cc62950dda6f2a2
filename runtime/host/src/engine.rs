//! The wasmtime engine, and compiling components once.

use std::hash::Hasher;
use std::path::Path;

use rusm_config::{Preemption, Runtime};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi::p2::bindings::CommandPre;

use crate::imports::Guest;
use crate::process::ProcState;
use crate::{ComponentSource, HostError};

/// Per process a Rust component instantiates a few core instances (main
/// module, shim, fixups) and tables; the pool is sized with this headroom.
const CORE_INSTANCES_PER_PROCESS: u32 = 4;
const TABLES_PER_PROCESS: u32 = 3;
const MEMORIES_PER_PROCESS: u32 = 2;
/// The most a free pool slot keeps resident of its last process's linear
/// memory, reset in place for the next one: the pages a Rust process
/// dirties (about 50 KiB) and most of what a TypeScript one dirties in the
/// runner's snapshot, scattered over its first 2 MiB. (256 KiB left a
/// TypeScript cold start at 184 us, 2 MiB made it 109 us, 4 MiB no faster:
/// wasmtime's scan then stops at its 32 dirty regions.) Less when the
/// memory budget is small: see [`keep_resident`].
const MEMORY_KEEP_RESIDENT_BYTES: usize = 2 << 20;
const TABLE_KEEP_RESIDENT_BYTES: usize = 64 << 10;
/// The share of the memory budget that free slots may keep resident
/// altogether, outside the budget's own count: one in this many bytes (of
/// the half of the machine an unset budget leaves the node).
const KEEP_RESIDENT_SHARE: usize = 4;
/// Unmapped bytes after each linear memory slot.
const MEMORY_GUARD_BYTES: u64 = 64 << 10;

/// The preemption in force: fuel under simulation whatever the config says,
/// because only fuel is deterministic (and epochs need a ticker thread).
pub(crate) fn preemption(settings: &Runtime) -> Preemption {
    if cfg!(madsim) {
        Preemption::Fuel
    } else {
        settings.preemption
    }
}

/// What each free slot keeps resident: at most `most`, and no more than
/// lets all `slots` together stay within 1/4 of the memory budget. The
/// budget counts live processes only; the pages a slot keeps after its
/// process ended are the node's, and without this bound a burst of
/// processes that each touched 2 MiB left 2 MiB in every slot they used
/// (seen: the hostile app, its budget 384 MiB in a 512 MiB cgroup, OOM-killed).
fn keep_resident(most: usize, slots: u32, memory_budget: usize) -> usize {
    const PAGE: usize = 4 << 10;
    let share = memory_budget / KEEP_RESIDENT_SHARE / (slots.max(1) as usize);
    share.min(most) / PAGE * PAGE
}

pub(crate) fn new(settings: &Runtime, memory_budget: usize) -> Result<Engine, HostError> {
    let slots = u32::try_from(settings.max_processes)
        .map_err(|_| HostError::Engine("max-processes does not fit in 32 bits".into()))?;
    let memory_bytes = settings
        .memory_limit_mib
        .checked_mul(1 << 20)
        .ok_or_else(|| HostError::Engine("memory-limit-mib is too large".into()))?;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        .total_core_instances(slots.saturating_mul(CORE_INSTANCES_PER_PROCESS))
        .total_tables(slots.saturating_mul(TABLES_PER_PROCESS))
        .total_memories(slots.saturating_mul(MEMORIES_PER_PROCESS))
        .total_stacks(slots)
        .max_memory_size(memory_bytes as usize);
    // A slot is reset for its next process by rewriting the pages its last
    // process dirtied (found with Linux's PAGEMAP_SCAN, or the lowest ones
    // where the kernel lacks it) rather than by `madvise`, whose TLB
    // shootdown across cores cost most of a spawn (ARCHITECTURE.md).
    // The reset restores the image either way: no process sees another's
    // bytes. The price: a free slot keeps up to this much resident.
    // Every component rusm builds (a Rust guest, the TypeScript runner)
    // has one linear memory: at most one memory slot per process is ever
    // in use, though the pool has room for two.
    let tables = slots.saturating_mul(TABLES_PER_PROCESS);
    let memory_keep = match settings.pool_keep_resident_kib {
        Some(kib) => usize::try_from(kib.saturating_mul(1 << 10)).unwrap_or(usize::MAX),
        None => keep_resident(MEMORY_KEEP_RESIDENT_BYTES, slots, memory_budget),
    };
    pool.linear_memory_keep_resident(memory_keep)
        .table_keep_resident(keep_resident(
            TABLE_KEEP_RESIDENT_BYTES,
            tables,
            memory_budget,
        ))
        .pagemap_scan(wasmtime::Enabled::Auto);

    let mut config = Config::new();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        // Each slot reserves only the memory limit (not wasmtime's 4 GiB
        // default), so thousands of slots stay a modest address-space
        // reservation; the price is explicit bounds checks.
        .memory_reservation(memory_bytes)
        .memory_guard_size(MEMORY_GUARD_BYTES)
        .memory_init_cow(true)
        // No exit reason shows a trap's wasm backtrace, and capturing one
        // cost a tenth of every crash and restart.
        .wasm_backtrace_max_frames(None)
        .consume_fuel(preemption(settings) == Preemption::Fuel || settings.max_fuel.is_some())
        .epoch_interruption(preemption(settings) == Preemption::Epoch);
    // For profiling guests: `perf` names their compiled functions from the
    // map wasmtime then writes to /tmp/perf-<pid>.map.
    if std::env::var_os("RUSM_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    // Under simulation nothing may start OS threads (see TOOLCHAIN.md).
    #[cfg(madsim)]
    config.parallel_compilation(false);
    Engine::new(&config).map_err(|e| HostError::Engine(e.to_string()))
}

/// Ticks the engine's epoch so that epoch-preempted guests yield. A thread,
/// not a task: a task would need a free worker, and busy guests yield only
/// on a tick (a livelock with every worker busy).
pub(crate) fn start_epoch_ticker(
    engine: &Engine,
    tick_ms: u64,
) -> Result<rusm_rt::thread::Ticker, HostError> {
    let engine = engine.clone();
    let period = rusm_rt::time::Duration::from_millis(tick_ms.max(1));
    rusm_rt::thread::Ticker::start("rusm-epoch", period, move || engine.increment_epoch())
        .map_err(|e| HostError::Engine(format!("cannot start the epoch ticker thread: {e}")))
}

/// Compiles (or loads from the cache) one component and links it, once, so
/// that every spawn is only an instantiation.
pub(crate) fn load(
    engine: &Engine,
    source: &ComponentSource,
    cache_dir: Option<&Path>,
) -> Result<CommandPre<ProcState>, HostError> {
    let fail = |message: String| HostError::Compile {
        component: source.name.clone(),
        message,
    };
    let mut wasm = std::fs::read(&source.wasm).map_err(|e| {
        fail(format!(
            "cannot read {}: {e} (run `rusm build`?)",
            source.wasm.display()
        ))
    })?;
    // A script component runs on the runner's snapshot, never the bare
    // runner: a process starts with QuickJS and rusm-ts ready.
    if source.script.is_some() {
        wasm = crate::snapshot::runner(&wasm, cache_dir).map_err(fail)?;
    }
    let component = match cache_dir {
        Some(dir) => cached(engine, &wasm, dir),
        None => Component::from_binary(engine, &wasm),
    }
    .map_err(|e| fail(format!("{e:#}")))?;
    let mut linker = Linker::<ProcState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| fail(format!("{e:#}")))?;
    crate::wasi::add_clock_timers(&mut linker).map_err(|e| fail(format!("{e:#}")))?;
    Guest::add_to_linker::<ProcState, HasSelf<ProcState>>(&mut linker, |state| state)
        .map_err(|e| fail(format!("{e:#}")))?;
    let pre = linker
        .instantiate_pre(&component)
        .map_err(|e| fail(format!("does not fit the rusm:runtime world: {e:#}")))?;
    CommandPre::new(pre).map_err(|e| fail(format!("is not a WASI command (no main?): {e:#}")))
}

/// The compiled form of `wasm`, from `dir` when an identical module was
/// compiled before by a compatible engine, else compiled and stored there.
fn cached(engine: &Engine, wasm: &[u8], dir: &Path) -> wasmtime::Result<Component> {
    let path = dir.join(format!("{}.cwasm", cache_key(engine, wasm)));
    let digest = path.with_extension("cwasm.sha256");
    if let Some(component) = load_verified(engine, &path, &digest) {
        return Ok(component);
    }
    let component = Component::from_binary(engine, wasm)?;
    let compiled = component.serialize()?;
    write_atomically(&path, &compiled)?;
    // Written second: a compiled file is trusted only once its digest is.
    write_atomically(&digest, hex(&Sha256::digest(&compiled)).as_bytes())?;
    Ok(component)
}

/// The compiled component at `path`, if its bytes hash to the digest
/// written beside it; `None` (compile it again) for a file truncated,
/// corrupted or missing its digest.
fn load_verified(engine: &Engine, path: &Path, digest: &Path) -> Option<Component> {
    let expected = std::fs::read_to_string(digest).ok()?;
    let compiled = std::fs::read(path).ok()?;
    if hex(&Sha256::digest(&compiled)) != expected.trim() {
        return None;
    }
    // SAFETY: `deserialize` trusts that the bytes are unmodified output of
    // `Component::serialize`: they hash to the digest written when they
    // were (the cache is written only by `cached`, atomically), and the
    // key covers both the module and the engine's compatibility hash;
    // wasmtime itself still checks the version and configuration and errs
    // on a mismatch.
    #[allow(unsafe_code)]
    let loaded = unsafe { Component::deserialize(engine, &compiled) };
    loaded.ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes a file of the cache (creating its directory) so that no reader
/// ever sees it half written: to a file of its own, then renamed.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Unique per write: hosts built at once in one process (tests do) would
    // otherwise write, and rename away, the same partial file under each
    // other (seen: a rename that found its file gone).
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let write = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let partial = path.with_extension(format!("partial-{}-{write}", std::process::id()));
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path)
}

pub(crate) fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    struct Sha(Sha256);
    impl Hasher for Sha {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            unreachable!("only the digest is used")
        }
    }
    let mut sha = Sha(Sha256::new());
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut sha);
    sha.0.update(wasm);
    hex(&sha.0.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_slots_keep_at_most_a_quarter_of_the_budget_together() {
        const MIB: usize = 1 << 20;
        // This machine's defaults: 10,000 slots, a 12 GiB budget.
        let keep = keep_resident(MEMORY_KEEP_RESIDENT_BYTES, 10_000, 12 << 30);
        assert_eq!(keep, 312 << 10);
        assert!(keep * 10_000 <= (12 << 30) / 4);
        // A small budget keeps little; a large one at most the cap.
        assert_eq!(
            keep_resident(MEMORY_KEEP_RESIDENT_BYTES, 2_000, 96 * MIB),
            12 << 10
        );
        assert_eq!(
            keep_resident(MEMORY_KEEP_RESIDENT_BYTES, 100, 1 << 40),
            MEMORY_KEEP_RESIDENT_BYTES
        );
        // Whole pages only, and none at all rather than a fraction of one.
        assert_eq!(
            keep_resident(MEMORY_KEEP_RESIDENT_BYTES, 10_000, 100 * MIB) % (4 << 10),
            0
        );
        assert_eq!(keep_resident(MEMORY_KEEP_RESIDENT_BYTES, 10_000, MIB), 0);
    }
}
