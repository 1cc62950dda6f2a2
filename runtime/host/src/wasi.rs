//! A guest's WASI world, wired to the `rt` seam: its clocks and randomness
//! are the node's, which under simulation means simulated time and seeded
//! randomness.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;

use wasmtime_wasi::WasiView;

use crate::process::ProcState;
use rusm_core::{Process, Stdio};
use rusm_rt::io::AsyncWrite;
use rusm_rt::time::Instant;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamError};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

/// The WASI context of `process`, an instance of `component`. Its stdout and
/// stderr become node events (the lifecycle log prints them, a trace records
/// them) only when `allow_stdio`; otherwise they are discarded.
/// `started` is the instant the guest's monotonic clock counts from.
pub(crate) fn context(
    component: &str,
    process: &Process,
    allow_stdio: bool,
    started: Instant,
) -> WasiCtx {
    let mut builder = WasiCtxBuilder::new();
    builder
        .arg(component)
        .wall_clock(WallClock)
        .monotonic_clock(MonotonicClock { start: started })
        .secure_random(RtRandom)
        .insecure_random(RtRandom)
        .insecure_random_seed(
            u128::from(rusm_rt::rand::u64()) << 64 | u128::from(rusm_rt::rand::u64()),
        );
    if allow_stdio {
        builder
            .stdout(NodeOutput::new(process, Stdio::Stdout))
            .stderr(NodeOutput::new(process, Stdio::Stderr));
    }
    builder.build()
}

/// The most a guest may write in one call; `check-write` grants no more, so
/// a guest cannot make the host copy an unbounded buffer at once.
const OUTPUT_CHUNK_BYTES: usize = 64 * 1024;

/// A guest's stdout or stderr: every write is reported to the node as an
/// [`rusm_core::Event::Output`], so it lands in order with the process's
/// other events, synchronously (no background task, which the simulator
/// could not order).
#[derive(Clone)]
struct NodeOutput {
    node: rusm_core::Node,
    pid: rusm_core::Pid,
    stream: Stdio,
}

impl NodeOutput {
    fn new(process: &Process, stream: Stdio) -> NodeOutput {
        NodeOutput {
            node: process.node().clone(),
            pid: process.pid(),
            stream,
        }
    }
}

impl IsTerminal for NodeOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for NodeOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for NodeOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        if bytes.len() > OUTPUT_CHUNK_BYTES {
            return Err(StreamError::Trap(wasmtime::format_err!(
                "wrote {} bytes after a permit of {OUTPUT_CHUNK_BYTES}",
                bytes.len()
            )));
        }
        self.node.output(self.pid, self.stream, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(OUTPUT_CHUNK_BYTES)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for NodeOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for NodeOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let chunk = &buf[..buf.len().min(OUTPUT_CHUNK_BYTES)];
        self.node.output(self.pid, self.stream, chunk);
        Poll::Ready(Ok(chunk.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The WASI monotonic clock's timers (`subscribe-duration`,
/// `subscribe-instant`, behind a guest's `sleep`) replaced by timers of the
/// seam. wasmtime-wasi's own use tokio's clock directly: under simulation
/// there is no tokio timer to serve them, and their deadlines would not be
/// the simulated clock the guest reads `now` from.
pub(crate) fn add_clock_timers(linker: &mut Linker<ProcState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap("subscribe-duration", |mut store, (nanos,): (u64,)| {
        let deadline = rusm_rt::time::now().checked_add(Duration::from_nanos(nanos));
        Ok((timer(store.data_mut().ctx().table, deadline)?,))
    })?;
    // An instant of the guest's monotonic clock: nanoseconds since its
    // process started (see `MonotonicClock`).
    clock.func_wrap("subscribe-instant", |mut store, (when,): (u64,)| {
        let state: &mut ProcState = store.data_mut();
        let deadline = state.started.checked_add(Duration::from_nanos(when));
        Ok((timer(state.ctx().table, deadline)?,))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The interface whose timers [`add_clock_timers`] replaces (the version
/// wasmtime-wasi defines; guests importing older 0.2 versions resolve to it).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// A pollable that is ready at `deadline` (never, if it overflowed).
fn timer(
    table: &mut wasmtime::component::ResourceTable,
    deadline: Option<Instant>,
) -> wasmtime::Result<Resource<DynPollable>> {
    let timer = table.push(Timer { deadline })?;
    wasmtime_wasi::p2::subscribe(table, timer)
}

struct Timer {
    deadline: Option<Instant>,
}

#[wasmtime_wasi::async_trait]
impl Pollable for Timer {
    async fn ready(&mut self) {
        match self.deadline {
            Some(deadline) if deadline > rusm_rt::time::now() => {
                rusm_rt::time::sleep_until(deadline).await
            }
            Some(_) => {}
            None => std::future::pending().await,
        }
    }
}

struct WallClock;

impl HostWallClock for WallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        rusm_rt::time::system_time()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    }
}

/// Nanoseconds since the process started.
struct MonotonicClock {
    start: Instant,
}

impl HostMonotonicClock for MonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        let elapsed = rusm_rt::time::now().saturating_duration_since(self.start);
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Randomness from the seam (seeded under simulation).
struct RtRandom;

impl rand_core::TryRng for RtRandom {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(rusm_rt::rand::u64() as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(rusm_rt::rand::u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        rusm_rt::rand::fill_bytes(dst);
        Ok(())
    }
}
