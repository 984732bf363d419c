//! [`Lease`]: a connection lent to a session, and its return to the pool.

use super::wait::{hand_slot, Handoff, Waiter};
use super::{Availability, Idle, Partition, ServerPool, ServerStats};
use crate::workers::WorkerId;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::OwnedSemaphorePermit;

/// A connection lent to a session.
pub struct Lease<C> {
    pub(super) conn: Option<Box<C>>,
    pub(super) permit: Option<OwnedSemaphorePermit>,
    pub(super) created: Instant,
    /// When it was lent (the pool's demand counts the time lent).
    pub(super) lent_at: Instant,
    /// The session's own copy: cloning it touches no reference count other sessions share.
    pub(super) partition: Arc<Partition>,
    /// The pool (taken out at checkin, to be given back to the session).
    pub(super) server: Option<Arc<ServerPool<C>>>,
    /// The worker whose reactor the socket is registered with.
    pub(super) home: WorkerId,
    /// This lending's number in its pool (its socket is known under it while lent).
    pub(super) id: u64,
}

impl<C> Lease<C> {
    /// Lends an idle connection of `server` (`started`: when the checkout began waiting;
    /// `None` when it was served at once).
    pub(super) fn lend(
        server: Arc<ServerPool<C>>,
        idle: Idle<C>,
        partition: Arc<Partition>,
        started: Option<Instant>,
    ) -> Self {
        server.stats.reused();
        server.stats.checked_out(started);
        server.lent();
        let id = server.next_lease.fetch_add(1, Ordering::Relaxed);
        Lease {
            conn: Some(idle.conn),
            permit: Some(idle.permit),
            created: idle.created,
            lent_at: Instant::now(),
            partition,
            server: Some(server),
            home: idle.home,
            id,
        }
    }

    pub(super) fn pool(&self) -> &Arc<ServerPool<C>> {
        self.server
            .as_ref()
            .expect("a lease holds its pool until checkin")
    }

    /// The connection.
    pub fn conn(&mut self) -> &mut C {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until checkin")
    }

    /// Completes when the server is closed (OFFLINE_HARD or removed from the topology).
    pub async fn server_closed_wait(&self) {
        let notified = self.pool().closed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.server_closed() {
            return;
        }
        notified.await;
    }

    /// The connection and a future that completes when its server is closed, borrowed
    /// together (to wait for either a message or the close).
    pub fn conn_and_closed(&mut self) -> (&mut C, impl Future<Output = ()> + '_) {
        let server = self
            .server
            .as_ref()
            .expect("a lease holds its pool until checkin");
        let conn = self
            .conn
            .as_mut()
            .expect("a lease holds its connection until checkin");
        let closed = async move {
            let notified = server.closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if server.availability() == Availability::Closed {
                return;
            }
            notified.await;
        };
        (conn, closed)
    }

    /// The connection and its server's address, borrowed together.
    pub fn conn_and_address(&mut self) -> (&mut C, &Arc<str>) {
        let conn = self
            .conn
            .as_mut()
            .expect("a lease holds its connection until checkin");
        (
            conn,
            &self
                .server
                .as_ref()
                .expect("a lease holds its pool until checkin")
                .address,
        )
    }

    /// Counters of the server this connection belongs to.
    pub fn server_stats(&self) -> &ServerStats {
        &self.pool().stats
    }

    /// The connection, read-only.
    pub fn conn_ref(&self) -> &C {
        self.conn
            .as_ref()
            .expect("a lease holds its connection until checkin")
    }

    /// The partition this connection belongs to.
    pub fn partition(&self) -> &Partition {
        &self.partition
    }

    /// Whether the server this connection belongs to was closed (OFFLINE_HARD or removed).
    pub fn server_closed(&self) -> bool {
        self.pool().availability() == Availability::Closed
    }

    /// Address of the server.
    pub fn address(&self) -> &Arc<str> {
        &self.pool().address
    }

    /// Returns a clean, healthy connection to the pool; gives back the pool's handle (for a
    /// [`PoolChoice`](super::PoolChoice) that lent it).
    pub fn checkin(mut self) -> Arc<ServerPool<C>> {
        self.put_back();
        self.server
            .take()
            .expect("a lease holds its pool until checkin")
    }

    /// Returns the connection to the pool under another partition (its schema changed), and
    /// hands back the pool as [`checkin`](Self::checkin) does.
    pub fn checkin_as(mut self, partition: Arc<Partition>) -> Arc<ServerPool<C>> {
        self.partition = partition;
        self.checkin()
    }

    /// The connection goes to a waiter of its partition, or to the idle list; it is closed
    /// (its slot handed on) when the server no longer takes work, when it is past its
    /// lifetime, or when only other partitions wait.
    fn put_back(&mut self) {
        if let Some(server) = &self.server {
            server.untrack_lent(self.id);
        }
        let (Some(conn), Some(permit)) = (self.conn.take(), self.permit.take()) else {
            return;
        };
        let Some(server) = &self.server else {
            return;
        };
        let now = Instant::now();
        server.returned(self.lent_at, now);
        if server.availability() != Availability::Open
            || now.saturating_duration_since(self.created) >= server.max_lifetime()
        {
            drop(conn);
            server.closed(permit);
            return;
        }
        let item = Idle {
            conn,
            permit,
            created: self.created,
            since: now,
            home: self.home,
        };
        let Ok(mut state) = server.state.lock() else {
            return;
        };
        let waiters = &mut state.waiters;
        let mut item = Handoff::Conn(item);
        while let Some(pos) = next_waiter(waiters, &self.partition, self.home) {
            let Some(w) = waiters.remove(pos) else {
                break;
            };
            match w.handoff.send(item) {
                Ok(()) => return,
                // That checkout gave up: try the next one.
                Err(back) => item = back,
            }
        }
        let Handoff::Conn(item) = item else {
            unreachable!("only a connection is handed to a waiter of its partition")
        };
        if waiters.iter().any(|w| !w.handoff.is_closed()) {
            // Only other partitions wait, and they wait because the server is at its
            // limit: this connection is closed and its slot goes to the oldest of them.
            let Idle { conn, permit, .. } = item;
            drop(conn);
            server.stats.closed();
            hand_slot(waiters, permit);
            return;
        }
        match state.idle.get_mut(&*self.partition) {
            Some(list) => list.push(item),
            None => {
                state.idle.insert((*self.partition).clone(), vec![item]);
            }
        }
    }
}

/// How much longer than a waiter on another worker a waiter on the connection's own worker
/// may have queued and still be served first (its socket then need not move, nor another
/// thread be woken). Bounded, so no worker's checkouts starve.
const SAME_WORKER_SLACK: std::time::Duration = std::time::Duration::from_millis(1);

/// Which waiter a returned connection of `partition`, at home on `home`, goes to: the oldest
/// of its partition, or a waiter on `home` that queued within [`SAME_WORKER_SLACK`] of it.
pub(super) fn next_waiter<C>(
    waiters: &VecDeque<Waiter<C>>,
    partition: &Partition,
    home: WorkerId,
) -> Option<usize> {
    let mut of_partition = waiters
        .iter()
        .enumerate()
        .filter(|(_, w)| *w.partition == *partition);
    let (oldest, first) = of_partition.next()?;
    if first.worker == home {
        return Some(oldest);
    }
    let until = first.deadline + SAME_WORKER_SLACK;
    of_partition
        .take_while(|(_, w)| w.deadline <= until)
        .find(|(_, w)| w.worker == home)
        .map_or(Some(oldest), |(at, _)| Some(at))
}

impl<C> Drop for Lease<C> {
    fn drop(&mut self) {
        if let (Some(server), true) = (&self.server, self.conn.is_some()) {
            // Before the socket closes: a cut must never reach a reused descriptor.
            server.untrack_lent(self.id);
        }
        if let (Some(_), Some(server)) = (self.conn.take(), &self.server) {
            server.returned(self.lent_at, Instant::now());
            if let Some(permit) = self.permit.take() {
                server.closed(permit);
            }
        }
    }
}
