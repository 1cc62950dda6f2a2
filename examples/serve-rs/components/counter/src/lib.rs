//! The counter service: state that outlives every request lives here, in a
//! resident process (`[components.counter] resident = true`), not in the
//! per-request processes that call it.

/// Counts visits.
#[derive(Default)]
pub struct Counter {
    visits: u64,
}

#[rusm_rs::service]
impl Counter {
    /// Counts one more visit; returns the count.
    pub fn visit(&mut self) -> u64 {
        self.visits += 1;
        self.visits
    }

    /// The count so far.
    pub fn visits(&mut self) -> u64 {
        self.visits
    }
}
