//! hyper's timers (the header read timeout) on the `rt` clock, so they run
//! on simulated time in a scenario.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::rt::{Sleep, Timer};

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RtTimer;

struct RtSleep(Pin<Box<dyn Future<Output = ()> + Send + Sync>>);

impl Future for RtSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl Sleep for RtSleep {}

impl Timer for RtTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        Box::pin(RtSleep(Box::pin(rusm_rt::time::sleep(duration))))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        let deadline = rusm_rt::time::from_std(deadline);
        Box::pin(RtSleep(Box::pin(rusm_rt::time::sleep_until(deadline))))
    }
}
