//! Waiting in a test for something to become true, with a bound.

use std::time::{Duration, Instant};

/// Checks `done` every 50 ms until it holds; how long that took (`None`: not within `limit`).
pub fn within(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}
