//! calc: a service with state. Each kind of method the wire has: calls
//! (`add`, `total`, `slow`), a cast (`reset`), a stream (`count`) and a
//! callback (`fold`). The library holds the service and its generated
//! `CalcClient`, so client components depend on it; `main.rs` serves it.

use std::time::Duration;

use rusm_rs::service::{Callback, Stream};

#[derive(Default)]
pub struct Calc {
    total: i64,
}

#[rusm_rs::service]
impl Calc {
    /// Adds `n` to the total and returns the new total.
    pub fn add(&mut self, n: i64) -> i64 {
        self.total += n;
        self.total
    }

    pub fn total(&mut self) -> i64 {
        self.total
    }

    /// Answers with what it was given (tests tell replies apart by it).
    pub fn echo(&mut self, tag: String) -> String {
        tag
    }

    /// Sets the total back to zero; the caller does not wait.
    #[cast]
    pub fn reset(&mut self) {
        self.total = 0;
    }

    /// Streams 0..to, one item every `every_ms` milliseconds.
    pub fn count(&mut self, to: u32, every_ms: u64, out: Stream<u32>) {
        for n in 0..to {
            std::thread::sleep(Duration::from_millis(every_ms));
            out.send(&n);
        }
    }

    /// Folds `xs` with the caller's function `f(acc, x)`, from 0; `None` if
    /// a callback failed.
    pub fn fold(&mut self, xs: Vec<i64>, f: Callback<(i64, i64), i64>) -> Option<i64> {
        let mut acc = 0;
        for x in xs {
            acc = f.call((acc, x)).ok()?;
        }
        Some(acc)
    }

    /// Panics: the process ends, and with it the total (a resident calc is
    /// restarted from zero).
    pub fn crash(&mut self) {
        panic!("told to crash with a total of {}", self.total);
    }

    /// Answers after `ms` milliseconds.
    pub fn slow(&mut self, ms: u64) -> u64 {
        std::thread::sleep(Duration::from_millis(ms));
        ms
    }
}
