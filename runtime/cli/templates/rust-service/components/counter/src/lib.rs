//! counter: a service with state. The library holds the service and the
//! `CounterClient` the macro generates, so client components depend on
//! it; `main.rs` serves it.

use std::time::Duration;

#[derive(Default)]
pub struct Counter {
    total: i64,
}

#[rusm_rs::service]
impl Counter {
    /// Adds `n` and returns the new total.
    pub fn add(&mut self, n: i64) -> i64 {
        self.total += n;
        self.total
    }

    /// The total so far.
    pub fn total(&mut self) -> i64 {
        self.total
    }

    /// Adds `n` after `ms` milliseconds: a call that takes a while.
    pub fn slow_add(&mut self, n: i64, ms: u64) -> i64 {
        std::thread::sleep(Duration::from_millis(ms));
        self.add(n)
    }
}
