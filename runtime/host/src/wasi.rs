//! A guest's WASI world, wired to the `rt` seam: its clocks and randomness
//! are the node's, which under simulation means simulated time and seeded
//! randomness.

use std::convert::Infallible;
use std::time::{Duration, UNIX_EPOCH};

use rusm_rt::time::Instant;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

/// The WASI context of one process of `component`. Its stdout and stderr
/// reach the node's only when `allow_stdio` (otherwise they are discarded).
pub(crate) fn context(component: &str, allow_stdio: bool) -> WasiCtx {
    let mut builder = WasiCtxBuilder::new();
    builder
        .arg(component)
        .wall_clock(WallClock)
        .monotonic_clock(MonotonicClock {
            start: rusm_rt::time::now(),
        })
        .secure_random(RtRandom)
        .insecure_random(RtRandom)
        .insecure_random_seed(
            u128::from(rusm_rt::rand::u64()) << 64 | u128::from(rusm_rt::rand::u64()),
        );
    if allow_stdio {
        builder.inherit_stdout().inherit_stderr();
    }
    builder.build()
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
