//! Live statistics many sessions touch: atomics and `dashmap`, read by the admin tables
//! (`stats_*`) and `/metrics`.

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
    pub statements: DashMap<u32, AtomicU64>,
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
    pub digests: DashMap<u64, DigestStats>,
    /// Sessions by connection id.
    pub sessions: DashMap<u32, SessionSnapshot>,
}

fn bump<K: std::hash::Hash + Eq>(map: &DashMap<K, AtomicU64>, key: K, by: u64) {
    if let Some(c) = map.get(&key) {
        c.fetch_add(by, Ordering::Relaxed);
        return;
    }
    map.entry(key).or_default().fetch_add(by, Ordering::Relaxed);
}

impl ProxyStats {
    /// Counts a statement sent to `hostgroup`, with its latency and affected rows.
    pub fn statement(
        &self,
        hostgroup: u32,
        user: &Arc<str>,
        digest: u64,
        sql: &[u8],
        micros: u64,
        rows: u64,
    ) {
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
            if d.user != *user {
                d.user = user.clone();
            }
            return;
        }
        let text: Arc<str> = Arc::from(sqlmux_protocol::sql::digest(sql).text);
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
