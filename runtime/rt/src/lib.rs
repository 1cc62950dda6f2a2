//! The seam: the one place where the outside world enters rusm.
//!
//! Time, randomness, task spawning and sockets all come from here. In a normal
//! build this module is backed by tokio; built with `RUSTFLAGS="--cfg madsim"`
//! the very same calls are served by the madsim simulator, so a node runs
//! unchanged inside a deterministic, seeded world. `clippy.toml` forbids the
//! direct forms (`Instant::now`, `tokio::spawn`, `thread_rng`, ...) everywhere
//! else, which is why this crate alone allows them.
//!
//! ```
//! use std::time::Duration;
//! rusm_rt::block_on(async {
//!     let start = rusm_rt::time::now();
//!     rusm_rt::time::sleep(Duration::from_millis(5)).await;
//!     assert!(rusm_rt::time::now() >= start + Duration::from_millis(5));
//! });
//! ```
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::future::Future;

/// Simulated or real time.
pub mod time {
    use std::future::Future;
    pub use std::time::Duration;
    pub use tokio::time::Instant;

    /// The deadline of a [`timeout`] passed before its future finished.
    pub use tokio::time::error::Elapsed;

    /// The current monotonic instant.
    pub fn now() -> Instant {
        Instant::now()
    }

    /// The current wall-clock time (simulated under madsim).
    pub fn system_time() -> std::time::SystemTime {
        std::time::SystemTime::now()
    }

    /// Waits for `duration` without blocking the thread.
    pub async fn sleep(duration: Duration) {
        tokio::time::sleep(duration).await
    }

    /// Waits until `deadline`.
    pub async fn sleep_until(deadline: Instant) {
        tokio::time::sleep_until(deadline).await
    }

    /// Runs `future` until it finishes or `duration` passes.
    pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
        tokio::time::timeout(duration, future).await
    }
}

/// Task spawning.
pub mod task {
    use std::future::Future;
    pub use tokio::task::JoinHandle;

    /// Spawns `future` as an independent task on the current runtime.
    pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::task::spawn(future)
    }

    /// Lets other tasks run before this one continues.
    pub async fn yield_now() {
        tokio::task::yield_now().await
    }
}

/// OS threads, for the one job a task cannot do: ticking while every worker
/// is busy. Not available under simulation (madsim forbids threads), where
/// nothing needs it.
pub mod thread {
    use std::sync::mpsc;
    use std::time::Duration;

    /// Calls a function periodically on its own thread until dropped.
    pub struct Ticker {
        stop: Option<mpsc::Sender<()>>,
    }

    impl Ticker {
        /// Calls `tick` every `period` on a new OS thread named `name`.
        /// Epoch preemption needs this: its tick must come even when every
        /// runtime worker is busy running guests that yield only on a tick.
        pub fn start(
            name: &str,
            period: Duration,
            mut tick: impl FnMut() + Send + 'static,
        ) -> std::io::Result<Ticker> {
            let (stop, stopped) = mpsc::channel::<()>();
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
                        tick();
                    }
                })?;
            Ok(Ticker { stop: Some(stop) })
        }
    }

    impl Drop for Ticker {
        fn drop(&mut self) {
            // Disconnecting the channel ends the thread's loop.
            self.stop.take();
        }
    }
}

/// Randomness: seeded by the simulator under madsim, from the OS otherwise.
pub mod rand {
    use madsim::rand::{Rng, RngCore};

    /// A random `u64`.
    pub fn u64() -> u64 {
        madsim::rand::thread_rng().r#gen()
    }

    /// Fills `bytes` with random bytes.
    pub fn fill_bytes(bytes: &mut [u8]) {
        madsim::rand::thread_rng().fill_bytes(bytes)
    }
}

/// Sockets (simulated TCP under madsim).
pub mod net {
    pub use tokio::net::{TcpListener, TcpStream};
}

/// Synchronisation primitives. They hold no clock or thread of their own, so
/// the same types serve tokio and madsim.
pub mod sync {
    pub use tokio::sync::{Notify, mpsc, oneshot, watch};
}

/// Waits on several futures at once and runs the branch of the first ready
/// (tokio's `select!`, which madsim's shim provides too).
pub use tokio::select;

/// Runs `future` to completion on a fresh runtime: a multi-threaded tokio
/// runtime in production, a madsim world with seed 0 under simulation.
pub fn block_on<F: Future>(future: F) -> F::Output {
    block_on_seeded(0, future)
}

/// Like [`block_on`], with the simulated world's seed: every random draw,
/// every scheduling choice and every simulated delay follows from it. A
/// tokio runtime (production) has no seed and ignores it.
pub fn block_on_seeded<F: Future>(seed: u64, future: F) -> F::Output {
    #[cfg(not(madsim))]
    {
        let _ = seed;
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("the OS refused the threads or timers of a tokio runtime")
            .block_on(future)
    }
    #[cfg(madsim)]
    {
        madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default())
            .block_on(future)
    }
}
