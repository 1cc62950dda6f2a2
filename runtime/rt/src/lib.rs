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

    /// A deadline a library computed with `std::time::Instant` (hyper's
    /// timers) on this clock. Under madsim they are the same clock.
    pub fn from_std(instant: std::time::Instant) -> Instant {
        #[cfg(madsim)]
        {
            instant
        }
        #[cfg(not(madsim))]
        {
            Instant::from_std(instant)
        }
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

    /// Runs `work`, which blocks its thread (a file write and its fsync),
    /// without stalling the tasks that share the thread: on tokio's pool of
    /// blocking threads in production. Under simulation it runs in place:
    /// madsim allows no threads, and a simulated world does not charge a
    /// disk's time anyway. A panic in `work` resumes here.
    pub async fn blocking<R: Send + 'static>(work: impl FnOnce() -> R + Send + 'static) -> R {
        #[cfg(not(madsim))]
        {
            match tokio::task::spawn_blocking(work).await {
                Ok(result) => result,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => panic!("blocking work did not run: {e}"),
            }
        }
        #[cfg(madsim)]
        {
            work()
        }
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
    use std::io;
    use std::net::SocketAddr;

    pub use tokio::net::{TcpListener, TcpStream};

    /// Listens on `address` (port 0: one the OS picks).
    pub async fn bind(address: SocketAddr) -> io::Result<TcpListener> {
        TcpListener::bind(address).await
    }

    /// Opens a connection to `address`.
    pub async fn connect(address: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect(address).await
    }

    /// The addresses of `host` (a DNS name or an IP address literal) on
    /// `port`: the system resolver in production, the simulator's table
    /// under madsim (where an IP literal needs no entry).
    pub async fn lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        // An IPv6 literal comes bracketed from a URL.
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        Ok(tokio::net::lookup_host((bare, port)).await?.collect())
    }
}

/// CPU time, as the simulator sees it.
pub mod cpu {
    use std::future::Future;
    use std::time::Duration;

    /// Runs `future`, and under simulation charges `per_yield` of simulated
    /// time each time it yields while still runnable (it woke itself: a
    /// guest preempted after a slice of fuel). Without this a busy guest
    /// would cost no simulated time at all: madsim's clock only moves when
    /// every task waits, so a spinning guest would stall the clock and
    /// every timer behind it. In production time passes by itself and
    /// `future` runs as it is.
    pub fn metered<F: Future>(future: F, per_yield: Duration) -> impl Future<Output = F::Output> {
        #[cfg(not(madsim))]
        {
            let _ = per_yield;
            future
        }
        #[cfg(madsim)]
        {
            sim::Metered {
                inner: Box::pin(future),
                per_yield,
            }
        }
    }

    #[cfg(madsim)]
    mod sim {
        use std::future::Future;
        use std::pin::Pin;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::task::{Context, Poll, Wake, Waker};
        use std::time::Duration;

        pub(super) struct Metered<F: Future> {
            pub(super) inner: Pin<Box<F>>,
            pub(super) per_yield: Duration,
        }

        /// Notes whether the future woke itself during a poll.
        struct Flagged {
            woken: AtomicBool,
            waker: Waker,
        }

        impl Wake for Flagged {
            fn wake(self: Arc<Self>) {
                self.wake_by_ref();
            }

            fn wake_by_ref(self: &Arc<Self>) {
                self.woken.store(true, Ordering::Relaxed);
                self.waker.wake_by_ref();
            }
        }

        impl<F: Future> Future for Metered<F> {
            type Output = F::Output;

            fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
                let flagged = Arc::new(Flagged {
                    woken: AtomicBool::new(false),
                    waker: cx.waker().clone(),
                });
                let waker = Waker::from(flagged.clone());
                let poll = self.inner.as_mut().poll(&mut Context::from_waker(&waker));
                if poll.is_pending() && flagged.woken.load(Ordering::Relaxed) {
                    madsim::time::advance(self.per_yield);
                }
                poll
            }
        }
    }
}

/// Byte streams: the traits the host's stream adapters implement.
pub mod io {
    pub use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
}

/// Synchronisation primitives. They hold no clock or thread of their own, so
/// the same types serve tokio and madsim.
pub mod sync {
    use std::sync::{Arc, Mutex};

    pub use tokio::sync::{Notify, mpsc, oneshot};

    /// A value set once, which any number of tasks may wait for. They wake
    /// in the order they began waiting, which is what the simulator needs:
    /// tokio's `watch` spreads its waiters over eight queues picked by a
    /// thread-local random number that comes from the OS, not from the
    /// world's seed, so the order its waiters woke in (and with it a
    /// scenario's trace) changed from run to run.
    pub struct Latch<T> {
        inner: Arc<LatchInner<T>>,
    }

    struct LatchInner<T> {
        value: Mutex<Option<T>>,
        set: Notify,
    }

    impl<T> Clone for Latch<T> {
        fn clone(&self) -> Self {
            Latch {
                inner: self.inner.clone(),
            }
        }
    }

    impl<T: Clone> Default for Latch<T> {
        fn default() -> Self {
            Latch::new()
        }
    }

    impl<T: Clone> Latch<T> {
        /// A latch not yet set.
        pub fn new() -> Latch<T> {
            Latch {
                inner: Arc::new(LatchInner {
                    value: Mutex::new(None),
                    set: Notify::new(),
                }),
            }
        }

        /// Sets the value and wakes every waiter, unless it was set
        /// already; whether this call set it.
        pub fn set(&self, value: T) -> bool {
            {
                let mut slot = self.inner.value.lock().expect("latch lock");
                if slot.is_some() {
                    return false;
                }
                *slot = Some(value);
            }
            self.inner.set.notify_waiters();
            true
        }

        /// The value, if it is set.
        pub fn get(&self) -> Option<T> {
            self.inner.value.lock().expect("latch lock").clone()
        }

        /// Waits until the value is set and returns it.
        pub async fn wait(&self) -> T {
            loop {
                let notified = self.inner.set.notified();
                let mut notified = std::pin::pin!(notified);
                // Registered before the check, so a `set` in between
                // still wakes this waiter.
                notified.as_mut().enable();
                if let Some(value) = self.get() {
                    return value;
                }
                notified.await;
            }
        }
    }
}

/// The requests to stop that come from outside: SIGTERM and SIGINT.
pub mod signal {
    /// SIGTERM and SIGINT (Ctrl-C), caught from the moment this is made
    /// until it is dropped: while it lives, they no longer end the process.
    /// Under simulation there are no signals (a scenario drains a node with
    /// a step), and none ever arrives.
    pub struct Stops {
        #[cfg(not(madsim))]
        term: tokio::signal::unix::Signal,
        #[cfg(not(madsim))]
        int: tokio::signal::unix::Signal,
    }

    impl Stops {
        /// Starts catching them; from inside the runtime.
        pub fn catch() -> std::io::Result<Stops> {
            #[cfg(not(madsim))]
            {
                use tokio::signal::unix::{SignalKind, signal};
                Ok(Stops {
                    term: signal(SignalKind::terminate())?,
                    int: signal(SignalKind::interrupt())?,
                })
            }
            #[cfg(madsim)]
            Ok(Stops {})
        }

        /// Waits for the next one.
        pub async fn next(&mut self) {
            #[cfg(not(madsim))]
            crate::select! {
                _ = self.term.recv() => {}
                _ = self.int.recv() => {}
            }
            #[cfg(madsim)]
            std::future::pending::<()>().await
        }
    }
}

#[doc(hidden)]
pub use tokio as __tokio;

/// Waits on several futures at once and runs the branch of the first one
/// ready: tokio's `select!` (madsim's shim provides it too), always
/// `biased`, polling the branches in the order written. Unbiased, tokio
/// picks the branch to poll first with a thread-local random number that
/// comes from the OS, not the world's seed, so two runs of one seed could
/// take different branches when several are ready.
#[macro_export]
macro_rules! select {
    ($($branches:tt)*) => {
        $crate::__tokio::select! { biased; $($branches)* }
    };
}

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
        madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default()).block_on(
            async {
                begin_world();
                future.await
            },
        )
    }
}

/// madsim's own determinism check: runs `make()` in two fresh simulated
/// worlds with `seed`, each on a new thread, logging every random draw of
/// the first and panicking ("non-determinism detected") where the second
/// draws differently. It sees divergence a trace may not show yet.
#[cfg(madsim)]
pub fn check_determinism<F>(seed: u64, make: fn() -> F) -> F::Output
where
    F: Future + 'static,
    F::Output: Send,
{
    madsim::runtime::Runtime::check_determinism(seed, madsim::Config::default(), make)
}

/// What [`block_on_seeded`] does first in every simulated world; a world
/// started elsewhere (by [`check_determinism`]) calls it first itself, so
/// both kinds of world draw the same randomness.
#[cfg(madsim)]
pub fn begin_world() {
    reseed_thread_rng();
}

/// Puts the thread's `rand` generator in a state that follows from the
/// world's seed. wasmtime-wasi draws from it for every WASI context, and it
/// reseeds from the OS (which madsim serves from the seed) after every 64 KiB
/// of output: left alone, that reseed would land at a moment set by every
/// earlier simulation on this thread, and two runs of one seed would part
/// ways (seen: the 4th seed of a sweep diverged after ~100 earlier runs).
#[cfg(madsim)]
fn reseed_thread_rng() {
    ::rand::rng()
        .reseed()
        .expect("madsim serves the OS randomness a reseed asks for");
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use crate::sync::Latch;

    #[test]
    fn a_latch_is_set_once_and_wakes_every_waiter_with_its_value() {
        crate::block_on(async {
            let latch = Latch::new();
            let woken = Arc::new(Mutex::new(Vec::new()));
            let mut waiters = Vec::new();
            for n in 0..20 {
                let (latch, woken) = (latch.clone(), woken.clone());
                waiters.push(crate::task::spawn(async move {
                    let value: u32 = latch.wait().await;
                    woken.lock().unwrap().push((n, value));
                }));
                // Each waiter is waiting before the next one starts.
                crate::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            assert_eq!(latch.get(), None);
            assert!(latch.set(7));
            assert!(!latch.set(8), "a latch is set once");
            for waiter in waiters {
                waiter.await.unwrap();
            }
            assert_eq!(latch.get(), Some(7));
            let woken = woken.lock().unwrap().clone();
            assert_eq!(woken.len(), 20);
            assert!(woken.iter().all(|&(_, value)| value == 7));
            // A late waiter returns at once.
            assert_eq!(latch.wait().await, 7);
        });
    }
}
