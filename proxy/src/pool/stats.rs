//! Per-server pool counters (atomics: many sessions touch them; those bumped per checkout
//! or statement are striped per CPU).

use crate::stats::stripes::Stripes;
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
    /// Checkouts that timed out waiting.
    pub wait_timeouts: AtomicU64,
    /// What every checkout and statement bumps, one set per CPU.
    flow: Stripes<Flow>,
}

/// The counters bumped per checkout or statement (one CPU's share).
#[derive(Debug, Default)]
struct Flow {
    reuses: AtomicU64,
    checkouts: AtomicU64,
    checkout_us_total: AtomicU64,
    statements: AtomicU64,
    bytes: AtomicU64,
    latency_us_total: AtomicU64,
}

impl ServerStats {
    /// Counts a checkout; `since` is when it started waiting or connecting (`None`: it was
    /// served at once, in well under a microsecond).
    pub(super) fn checked_out(&self, since: Option<std::time::Instant>) {
        let flow = self.flow.local();
        flow.checkouts.fetch_add(1, Ordering::Relaxed);
        if let Some(since) = since {
            flow.checkout_us_total
                .fetch_add(since.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
    }

    /// Counts one statement run on this server.
    pub fn statement(&self, bytes: u64, micros: u64) {
        let flow = self.flow.local();
        flow.statements.fetch_add(1, Ordering::Relaxed);
        flow.bytes.fetch_add(bytes, Ordering::Relaxed);
        flow.latency_us_total.fetch_add(micros, Ordering::Relaxed);
    }

    fn sum(&self, field: fn(&Flow) -> &AtomicU64) -> u64 {
        self.flow
            .iter()
            .map(|f| field(f).load(Ordering::Relaxed))
            .sum()
    }

    /// Checkouts served by an idle connection.
    pub fn reuses(&self) -> u64 {
        self.sum(|f| &f.reuses)
    }

    /// Successful checkouts.
    pub fn checkouts(&self) -> u64 {
        self.sum(|f| &f.checkouts)
    }

    /// Time spent getting a connection (waiting, connecting), microseconds, all checkouts.
    pub fn checkout_us_total(&self) -> u64 {
        self.sum(|f| &f.checkout_us_total)
    }

    /// Statements run on this server's connections.
    pub fn statements(&self) -> u64 {
        self.sum(|f| &f.statements)
    }

    /// Bytes relayed from this server to clients.
    pub fn bytes(&self) -> u64 {
        self.sum(|f| &f.bytes)
    }

    /// Statement time on this server, microseconds.
    pub fn latency_us_total(&self) -> u64 {
        self.sum(|f| &f.latency_us_total)
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
        self.flow.local().reuses.fetch_add(1, Ordering::Relaxed);
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
