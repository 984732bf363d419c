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
}

impl ServerStats {
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
