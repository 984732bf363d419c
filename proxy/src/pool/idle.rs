//! A pool's idle connections and its waiting checkouts, under the pool's one lock.

use super::wait::Waiter;
use super::{Partition, ServerStats};
use crate::workers::{Pooled, WorkerId};
use std::collections::HashMap;
use std::time::Instant;
use tokio::sync::OwnedSemaphorePermit;

/// An idle connection with its slot. The connection is boxed: it moves through the idle
/// list, a handoff and a lease on every checkout.
pub(super) struct Idle<C> {
    pub(super) conn: Box<C>,
    pub(super) permit: OwnedSemaphorePermit,
    pub(super) created: Instant,
    pub(super) since: Instant,
    /// The worker whose reactor the socket is registered with.
    pub(super) home: WorkerId,
}

impl<C: Pooled> Idle<C> {
    /// Makes the connection usable on `worker`: a socket another worker opened moves to
    /// this worker's reactor. A connection its server closed while it was idle, or one that
    /// cannot move, is closed and its slot kept (the checkout opens a new one with it):
    /// no statement is ever written to a dead pooled connection.
    pub(super) fn settle(
        mut self,
        worker: WorkerId,
        stats: &ServerStats,
    ) -> Result<Self, OwnedSemaphorePermit> {
        if self.conn.peer_closed() {
            tracing::debug!("pooled connection closed by its server while idle");
            stats.closed();
            return Err(self.permit);
        }
        if self.home == worker {
            return Ok(self);
        }
        match self.conn.rehome() {
            Ok(conn) => {
                self.conn = conn;
                self.home = worker;
                Ok(self)
            }
            Err(e) => {
                tracing::debug!(error = %e, "pooled connection cannot move to this worker");
                stats.closed();
                Err(self.permit)
            }
        }
    }
}

/// What a pool's one lock guards: its idle connections and its waiting checkouts.
pub(super) struct PoolState<C> {
    pub(super) idle: HashMap<Partition, Vec<Idle<C>>, foldhash::fast::RandomState>,
    /// Checkouts waiting, oldest first: a returned connection goes straight to the oldest
    /// one of its partition, a freed slot to the oldest one (no thundering herd, no
    /// starvation).
    pub(super) waiters: std::collections::VecDeque<Waiter<C>>,
    /// An expiry task runs: one timer per pool while checkouts wait, instead of one per
    /// waiting checkout.
    pub(super) expiry_running: bool,
}

impl<C> PoolState<C> {
    /// The most recently returned idle connection of `partition` at home on `worker`, else
    /// the most recently returned one. Lifetimes are checked when a connection is returned
    /// and by the reaper, not here: this is the hot path.
    pub(super) fn take_idle(&mut self, partition: &Partition, worker: WorkerId) -> Option<Idle<C>> {
        let list = self.idle.get_mut(partition)?;
        if list.last()?.home != worker {
            if let Some(at) = list.iter().rposition(|i| i.home == worker) {
                return Some(list.remove(at));
            }
        }
        list.pop()
    }

    /// The idle connection of another partition idle the longest, taken out to be closed.
    pub(super) fn evict_other(&mut self, partition: &Partition) -> Option<Idle<C>> {
        self.idle
            .iter_mut()
            .filter(|(p, list)| *p != partition && !list.is_empty())
            .min_by_key(|(_, list)| list.first().map(|i| i.since))
            .and_then(|(_, list)| (!list.is_empty()).then(|| list.remove(0)))
    }
}
