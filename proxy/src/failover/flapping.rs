//! Anti-flapping of pushed writer changes: a cluster's writer may change again only after
//! `failover.min_interval_ms`, unless the request says `force` (Orchestrator's
//! RecoveryPeriodBlockSeconds, for the API). A writer change is a new non-empty set of
//! ONLINE servers in the writer hostgroup, compared with the last non-empty one: taking the
//! writer OFFLINE_SOFT and back is no change.

use crate::topology::ServerEntry;
use sqlmux_config::{Cluster, ServerStatus};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A cluster's last writer (its ONLINE servers) and when it became the writer through a
/// change (`None`: the first one seen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWriter {
    /// Hostgroup of the cluster's writer.
    pub hostgroup: u32,
    /// The ONLINE servers, sorted.
    pub servers: Vec<String>,
    /// Whether this is a change (timed) rather than the first writer seen.
    pub changed: bool,
}

/// What is known of a cluster's writer: its servers and when they became the writer.
type Seen = (Vec<String>, Option<Instant>);

/// The last writer of each cluster and when it last changed.
#[derive(Debug, Default)]
pub struct WriterHistory {
    by_hostgroup: Mutex<HashMap<u32, Seen>>,
}

/// A writer change refused for coming too soon after the previous one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cluster {cluster}'s writer changed {since_ms} ms ago; another change needs {min_interval_ms} ms in between or \"force\": true")]
pub struct TooSoon {
    /// Cluster name.
    pub cluster: String,
    /// Time since the last writer change.
    pub since_ms: u128,
    /// `failover.min_interval_ms`.
    pub min_interval_ms: u128,
}

/// The ONLINE servers of `hostgroup`, sorted.
fn online(servers: &[ServerEntry], hostgroup: u32) -> Vec<String> {
    let mut w: Vec<String> = servers
        .iter()
        .filter(|s| s.hostgroup == hostgroup && s.status == ServerStatus::Online)
        .map(|s| s.address.to_string())
        .collect();
    w.sort();
    w
}

impl WriterHistory {
    /// Checks a change from `before` to `after`; returns the writer changes it makes (to be
    /// recorded once published), or the first one that comes too soon.
    pub fn check(
        &self,
        clusters: &[Cluster],
        before: &[ServerEntry],
        after: &[ServerEntry],
        min_interval: Duration,
        force: bool,
    ) -> Result<Vec<LastWriter>, TooSoon> {
        let history = self
            .by_hostgroup
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut changes = Vec::new();
        for cluster in clusters {
            let hostgroup = cluster.writer_hostgroup;
            let next = online(after, hostgroup);
            let (last, changed_at) = match history.get(&hostgroup) {
                Some((set, at)) => (set.clone(), *at),
                None => (online(before, hostgroup), None),
            };
            if next.is_empty() {
                // The writer goes offline: the one it was stays the one to compare with.
                if !history.contains_key(&hostgroup) && !last.is_empty() {
                    changes.push(LastWriter {
                        hostgroup,
                        servers: last,
                        changed: false,
                    });
                }
                continue;
            }
            if last == next {
                continue;
            }
            if let Some(at) = changed_at.filter(|at| at.elapsed() < min_interval && !force) {
                return Err(TooSoon {
                    cluster: cluster.name.clone(),
                    since_ms: at.elapsed().as_millis(),
                    min_interval_ms: min_interval.as_millis(),
                });
            }
            // From no writer at all to the first one is no change of writer.
            changes.push(LastWriter {
                hostgroup,
                changed: !last.is_empty(),
                servers: next,
            });
        }
        Ok(changes)
    }

    /// Records published writer changes.
    pub fn record(&self, changes: Vec<LastWriter>) {
        let mut history = self
            .by_hostgroup
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for w in changes {
            let at = w.changed.then(Instant::now);
            history.insert(w.hostgroup, (w.servers, at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlmux_config::Protocol;
    use std::sync::Arc;

    fn server(address: &str, status: ServerStatus) -> ServerEntry {
        ServerEntry {
            hostgroup: 1,
            address: Arc::from(address),
            weight: 1,
            max_connections: 10,
            status,
            tls: false,
        }
    }

    #[test]
    fn a_second_writer_change_needs_the_interval_or_force() {
        let clusters = [Cluster {
            name: "c".into(),
            protocol: Protocol::Mysql,
            writer_hostgroup: 1,
            reader_hostgroup: 2,
            max_replication_lag_ms: None,
            patroni: None,
        }];
        let h = WriterHistory::default();
        let a = [server("a:1", ServerStatus::Online)];
        let a_soft = [server("a:1", ServerStatus::OfflineSoft)];
        let b = [server("b:1", ServerStatus::Online)];
        let minute = Duration::from_secs(60);
        // Offline and back: no change.
        let offline = h.check(&clusters, &a, &a_soft, minute, false).unwrap();
        assert!(offline.iter().all(|w| !w.changed), "{offline:?}");
        h.record(offline);
        assert_eq!(h.check(&clusters, &a_soft, &a, minute, false), Ok(vec![]));
        // The first change is free, the second within a minute is not.
        let first = h.check(&clusters, &a, &b, minute, false).unwrap();
        assert_eq!(
            first,
            vec![LastWriter {
                hostgroup: 1,
                servers: vec!["b:1".to_string()],
                changed: true
            }]
        );
        h.record(first);
        let err = h.check(&clusters, &b, &a, minute, false).unwrap_err();
        assert_eq!(err.cluster, "c");
        assert!(h.check(&clusters, &b, &a, minute, true).is_ok(), "forced");
        assert!(h.check(&clusters, &b, &a, Duration::ZERO, false).is_ok());
    }
}
