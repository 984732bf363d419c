//! Live statistics many sessions touch: atomics and `dashmap`, read by the admin tables
//! (`stats_*`) and `/metrics`.

use crate::shared::FastMap;
use dashmap::DashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

/// Per-digest statement statistics (`stats_query_digest`).
#[derive(Debug, Clone)]
pub struct DigestStats {
    /// Normalized statement text.
    pub text: Arc<str>,
    /// Hostgroup of the last execution.
    pub hostgroup: u32,
    /// User of the last execution.
    pub user: Arc<str>,
    /// Executions.
    pub count: u64,
    /// Total time, microseconds.
    pub sum_us: u64,
    /// Fastest, microseconds.
    pub min_us: u64,
    /// Slowest, microseconds.
    pub max_us: u64,
    /// Rows affected (from OK packets).
    pub rows: u64,
}

/// What one client session is doing (`stats_sessions`).
#[derive(Debug, Clone)]
pub struct SessionSnapshot {
    /// Connection id sqlmux gave the client.
    pub id: u32,
    /// Login name.
    pub user: Arc<str>,
    /// Client address.
    pub client: SocketAddr,
    /// Schema.
    pub schema: Arc<str>,
    /// `idle` (no backend), `pinned`, or `warnings` (kept for a warnings read).
    pub state: &'static str,
    /// Address of the backend it holds, if any.
    pub backend: Option<Arc<str>>,
    /// Why it holds it (pin reasons, comma-separated; empty when not pinned).
    pub pins: String,
}

/// Counters shared by every session of one proxy.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Client connections open now.
    pub client_connections: AtomicI64,
    /// Client connections accepted since start.
    pub client_connections_total: AtomicU64,
    /// Statements by destination hostgroup.
    pub statements: FastMap<u32, AtomicU64>,
    /// Errors sent to clients by side: "client", "backend", "proxy".
    pub errors: DashMap<&'static str, AtomicU64>,
    /// Pins started, by reason name.
    pub pins: DashMap<&'static str, AtomicU64>,
    /// Bytes relayed from backends to clients.
    pub bytes_relayed: AtomicU64,
    /// Statement latency: total microseconds and count (for an average).
    pub latency_us_total: AtomicU64,
    /// Statements timed.
    pub latency_count: AtomicU64,
    /// Statement digests by 64-bit hash.
    pub digests: FastMap<u64, DigestStats>,
    /// Sessions by connection id.
    pub sessions: DashMap<u32, SessionSnapshot>,
}

fn bump<K: std::hash::Hash + Eq, S: std::hash::BuildHasher + Clone>(
    map: &DashMap<K, AtomicU64, S>,
    key: K,
    by: u64,
) {
    if let Some(c) = map.get(&key) {
        c.fetch_add(by, Ordering::Relaxed);
        return;
    }
    map.entry(key).or_default().fetch_add(by, Ordering::Relaxed);
}

/// One finished statement, as the statistics count it.
pub struct Statement<'a> {
    /// Hostgroup it was sent to.
    pub hostgroup: u32,
    /// The session's user.
    pub user: &'a Arc<str>,
    /// Its digest hash (in its SQL dialect).
    pub digest: u64,
    /// Its text.
    pub sql: &'a [u8],
    /// Latency in microseconds.
    pub micros: u64,
    /// Affected rows.
    pub rows: u64,
    /// The dialect's normalized text of `sql`, computed once per new digest.
    pub digest_text: fn(&[u8]) -> String,
}

impl ProxyStats {
    /// Counts a statement, with its latency and affected rows, under its hostgroup and digest.
    pub fn statement(&self, s: Statement<'_>) {
        let Statement {
            hostgroup,
            user,
            digest,
            sql,
            micros,
            rows,
            digest_text,
        } = s;
        bump(&self.statements, hostgroup, 1);
        self.latency_us_total.fetch_add(micros, Ordering::Relaxed);
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        if let Some(mut d) = self.digests.get_mut(&digest) {
            d.count += 1;
            d.sum_us += micros;
            d.min_us = d.min_us.min(micros);
            d.max_us = d.max_us.max(micros);
            d.rows += rows;
            d.hostgroup = hostgroup;
            if !Arc::ptr_eq(&d.user, user) && d.user != *user {
                d.user = user.clone();
            }
            return;
        }
        let text: Arc<str> = Arc::from(digest_text(sql));
        self.digests.insert(
            digest,
            DigestStats {
                text,
                hostgroup,
                user: user.clone(),
                count: 1,
                sum_us: micros,
                min_us: micros,
                max_us: micros,
                rows,
            },
        );
    }

    /// Counts an error sent to a client.
    pub fn error(&self, side: &'static str) {
        bump(&self.errors, side, 1);
    }

    /// Counts a pin that started.
    pub fn pin(&self, reason: &'static str) {
        bump(&self.pins, reason, 1);
    }

    /// Counts relayed bytes.
    pub fn relayed(&self, bytes: u64) {
        self.bytes_relayed.fetch_add(bytes, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlmux_protocol::{pgsql, sql};

    #[test]
    fn a_new_digest_keeps_its_own_dialects_text() {
        let stats = ProxyStats::default();
        let user: Arc<str> = Arc::from("ledger");
        let text = br"SELECT $$it's$$, E'a\'b' FROM t WHERE id = 5";
        // The dialects read this text differently: the test tells which one was used.
        assert_ne!(sql::digest(text).text, pgsql::digest(text));
        let record = |digest_text| Statement {
            hostgroup: 30,
            user: &user,
            digest: pgsql::digest_hash(text),
            sql: text,
            micros: 7,
            rows: 0,
            digest_text,
        };
        stats.statement(record(pgsql::digest));
        stats.statement(record(|_| unreachable!("a known digest keeps its text")));
        let d = stats
            .digests
            .get(&pgsql::digest_hash(text))
            .map(|d| (d.text.clone(), d.count));
        assert_eq!(d, Some((Arc::from(pgsql::digest(text)), 2)));
    }
}
