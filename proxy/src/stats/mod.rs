//! Live statistics many sessions touch, read by the admin tables (`stats_*`) and
//! `/metrics`.
//!
//! - [`stripes`]: one copy of a counter set per CPU, so cores do not share the cache lines
//!   they bump per statement.
//! - [`tally`]: the per-statement counters of one stripe and how readers add them up.
//!
//! Rare events (connections, errors, pins) and the session list are plain atomics and maps.

pub mod stripes;
mod tally;

use crate::shared::FastMap;
use dashmap::DashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use stripes::Stripes;
use tally::Tally;

/// The most of a digest's normalized text kept (a client's huge statements cost no more).
pub const MAX_DIGEST_TEXT: usize = 2048;

/// A digest text cut at [`MAX_DIGEST_TEXT`] bytes (on a character boundary), marked `...`.
fn cut_digest_text(mut text: String) -> String {
    if text.len() > MAX_DIGEST_TEXT {
        let mut end = MAX_DIGEST_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

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
    /// Errors sent to clients by side: "client", "backend", "proxy".
    pub errors: DashMap<&'static str, AtomicU64>,
    /// Pins started, by reason name.
    pub pins: DashMap<&'static str, AtomicU64>,
    /// Sessions by connection id.
    pub sessions: DashMap<u32, SessionSnapshot>,
    /// Live sessions on each data-path worker (set when the workers start).
    pub worker_sessions: std::sync::OnceLock<Vec<Arc<std::sync::atomic::AtomicUsize>>>,
    /// Per-statement counters, one set per CPU.
    tallies: Stripes<Mutex<Tally>>,
    /// Normalized text of each digest, made once per digest.
    digest_texts: FastMap<u64, Arc<str>>,
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

fn lock(tally: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    tally.lock().unwrap_or_else(PoisonError::into_inner)
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
    /// When it started.
    pub started: std::time::Instant,
    /// The dialect's normalized text of `sql`, computed once per new digest.
    pub digest_text: fn(&[u8]) -> String,
    /// `stats.max_digests`.
    pub max_digests: usize,
}

impl ProxyStats {
    /// Counts a statement, with its latency and affected rows, under its hostgroup and digest.
    pub fn statement(&self, s: Statement<'_>) {
        let dropped = lock(self.tallies.local()).count(&s, || self.digest_text(&s));
        // A text goes with the digest: a stripe that sees it again makes it anew.
        for digest in dropped {
            self.digest_texts.remove(&digest);
        }
    }

    /// The normalized text of `s`'s digest, made the first time any stripe sees it.
    fn digest_text(&self, s: &Statement<'_>) -> Arc<str> {
        if let Some(text) = self.digest_texts.get(&s.digest) {
            return text.clone();
        }
        self.digest_texts
            .entry(s.digest)
            .or_insert_with(|| Arc::from(cut_digest_text((s.digest_text)(s.sql))))
            .clone()
    }

    /// Counts a client session that logged in.
    pub fn session_started(&self) {
        self.client_connections.fetch_add(1, Ordering::Relaxed);
        self.client_connections_total
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Forgets the session `id` once it ended, and counts it gone.
    pub fn session_ended(&self, id: u32) {
        self.sessions.remove(&id);
        self.client_connections.fetch_sub(1, Ordering::Relaxed);
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
        lock(self.tallies.local()).bytes_relayed += bytes;
    }

    /// Statements by destination hostgroup, in hostgroup order.
    pub fn statements_by_hostgroup(&self) -> Vec<(u32, u64)> {
        let mut all: Vec<(u32, u64)> = Vec::new();
        for tally in self.tallies.iter() {
            for &(hostgroup, n) in &lock(tally).by_hostgroup {
                match all.iter_mut().find(|(h, _)| *h == hostgroup) {
                    Some((_, total)) => *total += n,
                    None => all.push((hostgroup, n)),
                }
            }
        }
        all.sort_unstable();
        all
    }

    /// Bytes relayed from backends to clients.
    pub fn bytes_relayed(&self) -> u64 {
        self.tallies.iter().map(|t| lock(t).bytes_relayed).sum()
    }

    /// Statement latency: total microseconds and the number of statements timed.
    pub fn latency(&self) -> (u64, u64) {
        self.tallies.iter().fold((0, 0), |(us, n), t| {
            let t = lock(t);
            (us + t.latency_us_total, n + t.latency_count)
        })
    }

    /// Per-digest statistics, by 64-bit hash: the `max` most recently seen.
    pub fn digests(&self, max: usize) -> Vec<(u64, DigestStats)> {
        let guards: Vec<MutexGuard<'_, Tally>> = self.tallies.iter().map(lock).collect();
        tally::merge_digests(guards.iter().map(|g| &**g), max)
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlmux_protocol::dialect::{mysql, postgres};

    #[test]
    fn a_new_digest_keeps_its_own_dialects_text() {
        let stats = ProxyStats::default();
        let user: Arc<str> = Arc::from("ledger");
        let text = br"SELECT $$it's$$, E'a\'b' FROM t WHERE id = 5";
        // The dialects read this text differently: the test tells which one was used.
        assert_ne!(mysql::digest(text).text, postgres::digest(text));
        let record = |digest_text| Statement {
            hostgroup: 30,
            user: &user,
            digest: postgres::digest_hash(text),
            sql: text,
            micros: 7,
            rows: 0,
            started: std::time::Instant::now(),
            digest_text,
            max_digests: 10,
        };
        stats.statement(record(postgres::digest));
        stats.statement(record(|_| unreachable!("a known digest keeps its text")));
        let d = stats
            .digests(10)
            .into_iter()
            .find(|(hash, _)| *hash == postgres::digest_hash(text))
            .map(|(_, d)| (d.text, d.count));
        assert_eq!(d, Some((Arc::from(postgres::digest(text)), 2)));
    }

    #[test]
    fn the_digest_table_keeps_the_most_recently_seen() {
        let stats = ProxyStats::default();
        let user: Arc<str> = Arc::from("app");
        let t0 = std::time::Instant::now();
        let record = |digest: u64, at: u64| Statement {
            hostgroup: 10,
            user: &user,
            digest,
            sql: b"SELECT 1",
            micros: 1,
            rows: 0,
            started: t0 + std::time::Duration::from_millis(at),
            digest_text: |_| "SELECT ?".to_string(),
            max_digests: 100,
        };
        // 1,000 distinct statements, digest 0 seen again all along.
        for n in 1..=1000 {
            stats.statement(record(n, n));
            stats.statement(record(0, n));
        }
        let kept = stats.digests(100);
        assert!(kept.len() <= 100, "{}", kept.len());
        let hashes: Vec<u64> = kept.iter().map(|(h, _)| *h).collect();
        assert!(hashes.contains(&0), "a digest seen all along stays");
        assert!(hashes.contains(&1000), "the newest stays");
        assert!(!hashes.contains(&1), "the least recently seen went first");
        assert!(
            stats.digest_texts.len() <= 100,
            "texts go with their digests"
        );
    }

    #[test]
    fn a_huge_digest_text_is_cut() {
        let long = format!("SELECT {}", "é".repeat(3000));
        let cut = cut_digest_text(long);
        assert!(
            cut.len() <= MAX_DIGEST_TEXT + 3 && cut.ends_with("..."),
            "{}",
            cut.len()
        );
        assert_eq!(cut_digest_text("SELECT ?".into()), "SELECT ?");
    }
}
