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

/// A server's per-checkout and per-statement counters, added up.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FlowTotals {
    /// Checkouts served by an idle connection.
    pub reuses: u64,
    /// Successful checkouts.
    pub checkouts: u64,
    /// Time spent getting a connection (waiting, connecting), microseconds, all checkouts.
    pub checkout_us_total: u64,
    /// Statements run on this server's connections.
    pub statements: u64,
    /// Bytes relayed from this server to clients.
    pub bytes: u64,
    /// Statement time on this server, microseconds.
    pub latency_us_total: u64,
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

    /// The per-checkout and per-statement counters, added up over the stripes.
    pub fn totals(&self) -> FlowTotals {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        self.flow
            .iter()
            .fold(FlowTotals::default(), |t, f| FlowTotals {
                reuses: t.reuses + load(&f.reuses),
                checkouts: t.checkouts + load(&f.checkouts),
                checkout_us_total: t.checkout_us_total + load(&f.checkout_us_total),
                statements: t.statements + load(&f.statements),
                bytes: t.bytes + load(&f.bytes),
                latency_us_total: t.latency_us_total + load(&f.latency_us_total),
            })
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
