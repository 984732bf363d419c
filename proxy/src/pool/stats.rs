//! Per-server pool counters (atomics: many sessions touch them).

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one server pool.
#[derive(Debug, Default)]
pub struct ServerStats {
    /// Connections opened successfully.
    pub connections_ok: AtomicU64,
    /// Connection attempts that failed.
    pub connections_failed: AtomicU64,
    /// Connections closed.
    pub connections_closed: AtomicU64,
    /// Checkouts served by an idle connection.
    pub reuses: AtomicU64,
    /// Checkouts that timed out waiting.
    pub wait_timeouts: AtomicU64,
    /// Successful checkouts.
    pub checkouts: AtomicU64,
    /// Time spent getting a connection (waiting, connecting), microseconds, all checkouts.
    pub checkout_us_total: AtomicU64,
    /// Statements run on this server's connections.
    pub statements: AtomicU64,
    /// Bytes relayed from this server to clients.
    pub bytes: AtomicU64,
    /// Statement time on this server, microseconds.
    pub latency_us_total: AtomicU64,
}

impl ServerStats {
    /// Counts a checkout; `since` is when it started waiting or connecting (`None`: it was
    /// served at once, in well under a microsecond).
    pub(super) fn checked_out(&self, since: Option<std::time::Instant>) {
        self.checkouts.fetch_add(1, Ordering::Relaxed);
        if let Some(since) = since {
            self.checkout_us_total
                .fetch_add(since.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
    }

    /// Counts one statement run on this server.
    pub fn statement(&self, bytes: u64, micros: u64) {
        self.statements.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.latency_us_total.fetch_add(micros, Ordering::Relaxed);
    }

    pub(super) fn connected(&self) {
        self.connections_ok.fetch_add(1, Ordering::Relaxed);
    }
    pub(super) fn connect_failed(&self) {
        self.connections_failed.fetch_add(1, Ordering::Relaxed);
    }
    pub(super) fn closed(&self) {
        self.connections_closed.fetch_add(1, Ordering::Relaxed);
    }
    pub(super) fn reused(&self) {
        self.reuses.fetch_add(1, Ordering::Relaxed);
    }
    pub(super) fn wait_timeout(&self) {
        self.wait_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// Connections currently open (lent or idle).
    pub fn open(&self) -> u64 {
        self.connections_ok.load(Ordering::Relaxed)
            - self
                .connections_closed
                .load(Ordering::Relaxed)
                .min(self.connections_ok.load(Ordering::Relaxed))
    }
}
