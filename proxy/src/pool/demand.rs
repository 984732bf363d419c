//! [`Demand`]: how many connections a server's load needs, by Little's law: the mean number
//! lent at once over the last reaps (time lent divided by time passed), plus headroom for
//! bursts. Not the recent peaks: a burst opens connections, and the next reaps close them.

use std::collections::VecDeque;
use std::time::Instant;

/// Reaps (one a second) over which the demand is averaged.
pub(super) const DEMAND_WINDOW: usize = 10;

/// The recent demand on one server.
#[derive(Debug)]
pub(super) struct Demand {
    /// All lent time at the last reap, in ns.
    last_busy_ns: u64,
    /// When the last reap was.
    last_at: Instant,
    /// The mean number of connections lent at once between two reaps, newest last.
    window: VecDeque<f64>,
}

impl Demand {
    /// No demand seen yet, counting from `now`.
    pub(super) fn new(now: Instant) -> Self {
        Demand {
            last_busy_ns: 0,
            last_at: now,
            window: VecDeque::with_capacity(DEMAND_WINDOW + 1),
        }
    }

    /// Notes a reap at `now` (`busy_ns`: all time lent so far, by connections returned) and
    /// returns how many connections, lent and idle, the server should keep.
    pub(super) fn target(&mut self, busy_ns: u64, now: Instant) -> usize {
        let wall = now
            .saturating_duration_since(self.last_at)
            .as_nanos()
            .max(1) as f64;
        let busy = busy_ns.saturating_sub(self.last_busy_ns) as f64;
        self.last_busy_ns = busy_ns;
        self.last_at = now;
        self.window.push_back(busy / wall);
        while self.window.len() > DEMAND_WINDOW {
            self.window.pop_front();
        }
        let mean = self.window.iter().sum::<f64>() / self.window.len() as f64;
        with_headroom(mean)
    }
}

/// Connections for a mean concurrency `m`: `m` plus 2.33 standard deviations of a Poisson
/// load (its 99th percentile), plus one.
fn with_headroom(m: f64) -> usize {
    (m + 2.33 * m.sqrt() + 1.0).ceil() as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn the_target_is_the_mean_concurrency_with_headroom() {
        let t0 = Instant::now();
        let mut d = Demand::new(t0);
        // 4 connections lent all the time: 4 s lent per second.
        assert_eq!(d.target(4 * SECOND, t0 + Duration::from_secs(1)), 10);
        // No load: only the one spare connection.
        let mut idle = Demand::new(t0);
        assert_eq!(idle.target(0, t0 + Duration::from_secs(1)), 1);
        assert_eq!(with_headroom(0.25), 3);
        assert_eq!(with_headroom(100.0), 125);
    }

    #[test]
    fn a_burst_is_forgotten_after_a_window() {
        let t0 = Instant::now();
        let mut d = Demand::new(t0);
        let mut busy = 20 * SECOND;
        let mut at = t0 + Duration::from_secs(1);
        assert!(d.target(busy, at) >= 20);
        for _ in 0..DEMAND_WINDOW {
            busy += SECOND / 2;
            at += Duration::from_secs(1);
            d.target(busy, at);
        }
        assert_eq!(d.target(busy + SECOND / 2, at + Duration::from_secs(1)), 4);
    }
}
