//! Waiting for a connection: the queue of checkouts, the handoff of freed capacity to the
//! oldest of them, and the expiry task that ends waits at their deadline.

use super::{Idle, Partition, ServerPool};
use crate::workers::WorkerId;
use sqlmux_config::PoolSettings;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::OwnedSemaphorePermit;

/// What a waiting checkout is handed.
pub(super) enum Handoff<C> {
    /// An idle connection of its partition.
    Conn(Idle<C>),
    /// A free slot: the checkout opens a connection.
    Slot(OwnedSemaphorePermit),
}

/// A checkout waiting for a connection of its partition, first come first served.
pub(super) struct Waiter<C> {
    pub(super) partition: Arc<Partition>,
    /// The worker it runs on: a returned connection goes to a waiter on its own worker
    /// first, so its socket need not move.
    pub(super) worker: WorkerId,
    pub(super) handoff: tokio::sync::oneshot::Sender<Handoff<C>>,
    /// When it gives up: the pool's expiry task drops it then, which ends its wait.
    pub(super) deadline: Instant,
}

/// What a checkout gets under the pool's lock.
pub(super) enum Claim<C> {
    /// An idle connection of its partition.
    Idle(Idle<C>),
    /// A free slot: the checkout opens a connection.
    Slot(OwnedSemaphorePermit),
    /// Neither: it waits in the queue (from `started`) for what `handoff` brings.
    Queued {
        handoff: tokio::sync::oneshot::Receiver<Handoff<C>>,
        started: Instant,
    },
}

impl<C> ServerPool<C> {
    /// Gives a freed slot to the oldest waiting checkout, or back to the server.
    pub(super) fn release(&self, permit: OwnedSemaphorePermit) {
        match self.state.lock() {
            Ok(mut state) => hand_slot(&mut state.waiters, permit),
            Err(_) => drop(permit),
        }
    }
}

/// [`ServerPool::release`] with the pool already locked.
pub(super) fn hand_slot<C>(
    waiters: &mut std::collections::VecDeque<Waiter<C>>,
    permit: OwnedSemaphorePermit,
) {
    let mut slot = Handoff::Slot(permit);
    while let Some(w) = waiters.pop_front() {
        match w.handoff.send(slot) {
            Ok(()) => return,
            // That checkout gave up: try the next one.
            Err(back) => slot = back,
        }
    }
    // Nobody waits: the slot goes back to the semaphore (dropped with the lock held, so a
    // checkout about to queue sees it).
    drop(slot);
}

impl<C: Send + 'static> ServerPool<C> {
    /// Under the pool's lock: an idle connection of `partition`, else a free slot, else a
    /// place in the queue until a connection or a slot is handed over, or until
    /// `settings.wait_timeout` has passed (the handoff is then dropped).
    pub(super) fn claim(
        self: &Arc<Self>,
        partition: &Arc<Partition>,
        worker: WorkerId,
        settings: &PoolSettings,
    ) -> Claim<C> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(idle) = state.take_idle(partition, worker) {
            return Claim::Idle(idle);
        }
        if let Some(permit) = self.free_slot(&mut state, partition) {
            return Claim::Slot(permit);
        }
        let waiters = &mut state.waiters;
        // Checkouts that gave up are skipped by checkin; sweeping them at each doubling keeps
        // the queue bounded in amortized O(1) (a sweep per enqueue costs O(waiters) with
        // hundreds queued).
        if waiters.len() >= 16 && waiters.len().is_power_of_two() {
            waiters.retain(|x| !x.handoff.is_closed());
        }
        let started = Instant::now();
        let (tx, handoff) = tokio::sync::oneshot::channel();
        waiters.push_back(Waiter {
            partition: partition.clone(),
            worker,
            handoff: tx,
            deadline: started + settings.wait_timeout,
        });
        if !state.expiry_running {
            state.expiry_running = true;
            tokio::spawn(Self::expire_waiters(self.clone()));
        }
        Claim::Queued { handoff, started }
    }

    /// While checkouts wait: drops those past their deadline (their wait ends with an
    /// error), sleeping until the earliest deadline left; ends when none waits.
    async fn expire_waiters(pool: Arc<Self>) {
        loop {
            let next = {
                let Ok(mut state) = pool.state.lock() else {
                    return;
                };
                let now = Instant::now();
                state
                    .waiters
                    .retain(|w| w.deadline > now && !w.handoff.is_closed());
                match state.waiters.iter().map(|w| w.deadline).min() {
                    Some(deadline) => deadline,
                    None => {
                        state.expiry_running = false;
                        return;
                    }
                }
            };
            tokio::time::sleep_until(tokio::time::Instant::from_std(next)).await;
        }
    }
}
