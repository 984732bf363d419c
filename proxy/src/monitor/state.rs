//! One server's health as the monitor sees it, and its transitions: `down_after` failed
//! checks in a row make it DOWN, `up_after` good ones UP; a timed-out check is a failed one.
//! A server that flaps is held down longer each time: after its n-th DOWN within
//! [`FLAP_WINDOW`], it needs `up_after x 2^(n-1)` good checks in a row (at most x32).
//! A replica over its cluster's lag limit (or of unknown lag) is lagging at once, and
//! back after `up_after` good checks under it.

use super::{Check, Lag};
use sqlmux_config::MonitorSettings;
use std::time::{Duration, Instant};

/// How far back DOWN transitions count as flapping.
pub const FLAP_WINDOW: Duration = Duration::from_secs(60);

/// The most the good checks needed to come back are multiplied by.
const MAX_HOLD_DOWN_FACTOR: u32 = 32;

/// UP, DOWN, or not checked yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HealthState {
    /// No check has decided yet.
    #[default]
    Unknown,
    /// Answering.
    Up,
    /// `down_after` failed checks in a row.
    Down,
}

impl HealthState {
    /// Lower-case name, for the API, the admin table and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Unknown => "unknown",
            HealthState::Up => "up",
            HealthState::Down => "down",
        }
    }
}

/// What the monitor knows of one server.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// UP / DOWN.
    pub state: HealthState,
    /// Read-only / in recovery at the last good check (`None`: never checked well).
    pub read_only: Option<bool>,
    /// Replication lag at the last good check (`None`: never checked well).
    pub lag: Option<Lag>,
    /// Over its cluster's lag limit: it takes no reads.
    pub lagging: bool,
    /// Good checks in a row under the lag limit.
    under_lag_limit: u32,
    /// Failed checks in a row.
    pub failures: u32,
    /// Good checks in a row.
    pub successes: u32,
    /// When the last check ended.
    pub last_check: Option<Instant>,
    /// How long it took.
    pub latency: Duration,
    /// Its error, when it failed.
    pub last_error: Option<String>,
    /// When the state last changed.
    pub since: Option<Instant>,
    /// Checks that found it writable outside every writer hostgroup.
    pub fencing_alarms: u64,
    /// Checks done.
    pub checks: u64,
    /// When it went DOWN lately (within [`FLAP_WINDOW`]).
    downs: Vec<Instant>,
}

impl Health {
    /// Takes one check's result.
    pub fn observe(&mut self, check: &Check, settings: &MonitorSettings) {
        self.checks += 1;
        self.last_check = Some(Instant::now());
        self.latency = check.took;
        let next = match &check.result {
            Ok(o) => {
                self.successes += 1;
                self.failures = 0;
                self.read_only = Some(o.read_only);
                self.lag = Some(o.lag);
                self.judge_lag(o.lag, check.max_lag, settings);
                self.last_error = None;
                match self.state {
                    HealthState::Down if self.successes < self.needed_to_come_back(settings) => {
                        HealthState::Down
                    }
                    _ => HealthState::Up,
                }
            }
            Err(e) => {
                self.failures += 1;
                self.successes = 0;
                self.last_error = Some(e.clone());
                if self.failures >= settings.down_after {
                    HealthState::Down
                } else {
                    self.state
                }
            }
        };
        if next != self.state {
            let now = Instant::now();
            if next == HealthState::Down {
                self.downs.retain(|t| now.duration_since(*t) < FLAP_WINDOW);
                self.downs.push(now);
            }
            self.state = next;
            self.since = Some(now);
        }
    }

    /// Lagging as soon as one check finds the lag over `max` (or unknown); not lagging after
    /// `up_after` checks in a row under it, or at once when the cluster sets no limit.
    fn judge_lag(&mut self, lag: Lag, max: Option<Duration>, settings: &MonitorSettings) {
        let Some(max) = max else {
            self.lagging = false;
            self.under_lag_limit = 0;
            return;
        };
        if lag.is_over(max) {
            self.lagging = true;
            self.under_lag_limit = 0;
            return;
        }
        self.under_lag_limit = self.under_lag_limit.saturating_add(1);
        if self.under_lag_limit >= settings.up_after {
            self.lagging = false;
        }
    }

    /// Good checks in a row a DOWN server needs: `up_after`, doubled for each other time it
    /// went DOWN within the flap window.
    pub fn needed_to_come_back(&self, settings: &MonitorSettings) -> u32 {
        let recent = self
            .downs
            .iter()
            .filter(|t| t.elapsed() < FLAP_WINDOW)
            .count()
            .max(1) as u32;
        let factor = 1u32
            .checked_shl(recent - 1)
            .unwrap_or(u32::MAX)
            .min(MAX_HOLD_DOWN_FACTOR);
        settings.up_after.saturating_mul(factor)
    }

    /// The flags its pool takes ([`crate::pool::HEALTH_DOWN`], [`crate::pool::HEALTH_READ_ONLY`]).
    pub fn pool_flags(&self) -> u8 {
        let mut f = 0;
        if self.state == HealthState::Down {
            f |= crate::pool::HEALTH_DOWN;
        }
        if self.read_only == Some(true) {
            f |= crate::pool::HEALTH_READ_ONLY;
        }
        if self.lagging {
            f |= crate::pool::HEALTH_LAGGING;
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::Observation;

    fn seen(read_only: bool, lag: Lag, max_lag: Option<Duration>) -> Check {
        Check {
            result: Ok(Observation { read_only, lag }),
            took: Duration::ZERO,
            max_lag,
        }
    }

    fn failed(why: &str) -> Check {
        Check {
            result: Err(why.into()),
            took: Duration::ZERO,
            max_lag: None,
        }
    }

    fn settings() -> MonitorSettings {
        MonitorSettings {
            user: "m".into(),
            password: String::new(),
            database: "postgres".into(),
            interval: Duration::from_millis(500),
            timeout: Duration::from_millis(500),
            down_after: 3,
            up_after: 2,
        }
    }

    #[test]
    fn down_after_three_failures_up_after_two_successes() {
        let s = settings();
        let mut h = Health::default();
        let ok = seen(false, Lag::NotReplica, None);
        let fail = failed("timeout");
        h.observe(&ok, &s);
        assert_eq!(h.state, HealthState::Up);
        h.observe(&fail, &s);
        h.observe(&fail, &s);
        assert_eq!(h.state, HealthState::Up, "two failures are not enough");
        h.observe(&fail, &s);
        assert_eq!(h.state, HealthState::Down);
        assert_eq!(h.pool_flags(), crate::pool::HEALTH_DOWN);
        h.observe(&ok, &s);
        assert_eq!(h.state, HealthState::Down, "one good check is not enough");
        h.observe(&ok, &s);
        assert_eq!(h.state, HealthState::Up);
        h.observe(&seen(true, Lag::NotReplica, None), &s);
        assert_eq!(h.pool_flags(), crate::pool::HEALTH_READ_ONLY);
    }

    #[test]
    fn a_flapping_server_is_held_down_longer_each_time() {
        let s = settings();
        let mut h = Health::default();
        let ok = seen(false, Lag::NotReplica, None);
        let fail = failed("refused");
        let mut changes = 0;
        let mut last = h.state;
        // Up and down every second for a minute, checked every 500 ms: 2 good checks, 3 bad.
        for i in 0..120 {
            let r = if i % 5 < 2 { &ok } else { &fail };
            h.observe(r, &s);
            if h.state != last && last != HealthState::Unknown {
                changes += 1;
            }
            last = h.state;
        }
        assert!(changes <= 4, "{changes} changes of state");
        assert_eq!(h.state, HealthState::Down);
        assert!(h.needed_to_come_back(&s) > s.up_after);
    }

    #[test]
    fn a_lagging_replica_takes_no_reads_until_under_the_limit_for_up_after_checks() {
        let s = settings();
        let max = Some(Duration::from_millis(1000));
        let behind = |ms| Lag::Behind {
            time: Duration::from_millis(ms),
            bytes: None,
        };
        let mut h = Health::default();
        h.observe(&seen(true, behind(200), max), &s);
        assert!(!h.lagging);
        h.observe(&seen(true, behind(1500), max), &s);
        assert!(h.lagging, "one check over the limit is enough");
        assert_eq!(
            h.pool_flags(),
            crate::pool::HEALTH_READ_ONLY | crate::pool::HEALTH_LAGGING
        );
        h.observe(&seen(true, behind(10), max), &s);
        assert!(h.lagging, "one check under the limit is not enough");
        h.observe(&seen(true, Lag::Unknown, max), &s);
        h.observe(&seen(true, behind(10), max), &s);
        assert!(h.lagging, "unknown lag is not zero: the count starts again");
        h.observe(&seen(true, behind(10), max), &s);
        assert!(!h.lagging);
        // A primary has no lag; no limit means nobody lags.
        h.observe(&seen(false, Lag::NotReplica, max), &s);
        assert!(!h.lagging);
        h.observe(&seen(true, Lag::Unknown, None), &s);
        assert!(!h.lagging);
    }
}
