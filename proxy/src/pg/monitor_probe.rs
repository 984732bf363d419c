//! The monitor's check of a PostgreSQL server: a connection of the monitor user, kept
//! between checks, `pg_is_in_recovery()` and, on a standby, its replay lag from LSNs: bytes
//! received and not replayed yet, and how long ago it received the WAL it has not replayed
//! (from the receive positions its earlier checks saw). A standby that has replayed all it
//! received lags 0, however idle its primary; the time is known to one check interval.

use super::backend::{BackendConn, ConnectParams};
use super::cancel::CancelRegistry;
use crate::monitor::{Lag, Observation, Probe, ProbeLogin};
use sqlmux_config::MonitorSettings;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One server's probe.
pub struct PgProbe {
    login: ProbeLogin,
    database: String,
    cancels: Arc<CancelRegistry>,
    timeout: Duration,
    conn: Option<BackendConn>,
    received: ReceiveHistory,
}

impl PgProbe {
    /// A probe logging in as `login` says, to the monitor database of `settings`.
    pub fn new(settings: &MonitorSettings, login: ProbeLogin) -> Self {
        Self {
            login,
            database: settings.database.clone(),
            cancels: Arc::new(CancelRegistry::default()),
            timeout: settings.timeout,
            conn: None,
            received: ReceiveHistory::default(),
        }
    }

    async fn look(&mut self) -> Result<Observation, String> {
        if self.conn.is_none() {
            let params = ConnectParams {
                address: &self.login.address,
                user: &self.login.user,
                password: &self.login.password,
                database: &self.database,
                tls: self.login.tls.as_ref(),
                statement_limit: 1,
                cancels: &self.cancels,
                allow_cleartext: self.login.allow_cleartext,
            };
            let conn = BackendConn::connect(&params, self.timeout)
                .await
                .map_err(|e| e.to_string())?;
            self.conn = Some(conn);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err("no connection".into());
        };
        let row = conn
            .simple_rows(CHECK)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .next()
            .unwrap_or_default();
        Ok(self.received.observation(&row, Instant::now()))
    }
}

#[async_trait::async_trait]
impl Probe for PgProbe {
    async fn check(&mut self) -> Result<Observation, String> {
        let seen = self.look().await;
        if seen.is_err() {
            // A new connection may reach a new server at the address: its LSNs start anew.
            self.received = ReceiveHistory::default();
        }
        seen
    }
}

/// In recovery; WAL received (flushed) and replayed, as byte positions; whether a WAL
/// receiver runs (its pid is visible to any role).
const CHECK: &str = "SELECT pg_is_in_recovery(), \
     pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '0/0')::bigint, \
     pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint, \
     EXISTS (SELECT 1 FROM pg_stat_wal_receiver)";

/// The most receive positions kept: past it the oldest unreplayed one is kept, so the lag
/// still grows (about 8 minutes of checks at the default interval).
const MAX_SAMPLES: usize = 1024;

/// The receive positions earlier checks saw, from the oldest one not replayed yet.
#[derive(Debug, Default)]
struct ReceiveHistory {
    samples: VecDeque<(Instant, u64)>,
    /// A check has seen the standby before: an unreplayed position that arrived since is
    /// younger than one interval.
    primed: bool,
}

impl ReceiveHistory {
    /// What a row of [`CHECK`] says, at `now`. A standby without a WAL receiver (cut off
    /// from its primary), or whose positions are unknown, lags by an unknown amount.
    fn observation(&mut self, row: &[Option<String>], now: Instant) -> Observation {
        let column = |i: usize| row.get(i).and_then(|v| v.as_deref());
        let position = |i: usize| column(i).and_then(|v| v.parse::<u64>().ok());
        let in_recovery = column(0) == Some("t");
        let lag = match (in_recovery, position(1), position(2), column(3)) {
            (true, Some(received), Some(replayed), Some("t")) => self.lag(now, received, replayed),
            (replica, ..) => {
                *self = ReceiveHistory::default();
                if replica {
                    Lag::Unknown
                } else {
                    Lag::NotReplica
                }
            }
        };
        Observation {
            read_only: in_recovery,
            lag,
        }
    }

    /// Replay lag: bytes received and not replayed; time since the oldest check that saw
    /// WAL received beyond what is replayed now.
    fn lag(&mut self, now: Instant, received: u64, replayed: u64) -> Lag {
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push_back((now, received));
        }
        while self.samples.front().is_some_and(|(_, r)| *r <= replayed) {
            self.samples.pop_front();
        }
        let primed = std::mem::replace(&mut self.primed, true);
        let time = match self.samples.front() {
            None => Duration::ZERO,
            // First seen by this check: right after connecting, its age is unknown.
            Some((seen, _)) if *seen == now && !primed => return Lag::Unknown,
            Some((seen, _)) => now.duration_since(*seen),
        };
        Lag::Behind {
            time,
            bytes: Some(received.saturating_sub(replayed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: &[&str]) -> Vec<Option<String>> {
        values
            .iter()
            .map(|v| (*v != "NULL").then(|| v.to_string()))
            .collect()
    }

    #[test]
    fn a_primary_has_no_lag_a_cut_off_standby_an_unknown_one() {
        let now = Instant::now();
        let mut h = ReceiveHistory::default();
        let primary = h.observation(&row(&["f", "NULL", "NULL", "f"]), now);
        assert_eq!((primary.read_only, primary.lag), (false, Lag::NotReplica));
        let cut_off = h.observation(&row(&["t", "100", "100", "f"]), now);
        assert_eq!((cut_off.read_only, cut_off.lag), (true, Lag::Unknown));
        let no_position = h.observation(&row(&["t", "NULL", "100", "t"]), now);
        assert_eq!(no_position.lag, Lag::Unknown);
    }

    #[test]
    fn replay_lag_is_the_age_of_the_oldest_unreplayed_wal_an_idle_primary_none() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut h = ReceiveHistory::default();
        let mut lag = |ms, received: u64, replayed: u64| {
            h.observation(
                &row(&["t", &received.to_string(), &replayed.to_string(), "t"]),
                at(ms),
            )
            .lag
        };
        let behind = |ms, bytes| Lag::Behind {
            time: Duration::from_millis(ms),
            bytes: Some(bytes),
        };
        // Caught up, primary idle for a long time: no lag.
        assert_eq!(lag(0, 100, 100), behind(0, 0));
        assert_eq!(lag(500, 100, 100), behind(0, 0));
        // Replay paused: WAL arrives at 1000 ms and is not replayed.
        assert_eq!(lag(1000, 300, 100), behind(0, 200));
        assert_eq!(lag(1500, 500, 100), behind(500, 400));
        assert_eq!(lag(3000, 900, 100), behind(2000, 800));
        // Replay resumes and reaches what arrived at 1500 ms.
        assert_eq!(lag(3500, 900, 500), behind(500, 400));
        assert_eq!(lag(4000, 900, 600), behind(1000, 300));
        assert_eq!(lag(4500, 900, 900), behind(0, 0));
    }

    #[test]
    fn unreplayed_wal_seen_by_the_first_check_is_of_unknown_age() {
        let now = Instant::now();
        let mut h = ReceiveHistory::default();
        let first = h.observation(&row(&["t", "900", "100", "t"]), now);
        assert_eq!(first.lag, Lag::Unknown);
        let second = h.observation(
            &row(&["t", "900", "100", "t"]),
            now + Duration::from_millis(500),
        );
        assert_eq!(second.lag.time(), Some(Duration::from_millis(500)));
    }
}
