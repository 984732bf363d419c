//! Waiting for a connection: the queue of checkouts, the handoff of freed capacity to the
//! oldest of them, and the expiry task that ends waits at their deadline.

use super::{Idle, Partition, ServerPool};
use sqlmux_config::PoolSettings;
use std::sync::atomic::Ordering;
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
    pub(super) handoff: tokio::sync::oneshot::Sender<Handoff<C>>,
    /// When it gives up: the pool's expiry task drops it then, which ends its wait.
    pub(super) deadline: Instant,
}

impl<C> ServerPool<C> {
    /// Gives a freed slot to the oldest waiting checkout, or back to the server.
    pub(super) fn release(&self, permit: OwnedSemaphorePermit) {
        match self.waiters.lock() {
            Ok(mut waiters) => self.hand_slot(&mut waiters, permit),
            Err(_) => drop(permit),
        }
    }

    /// [`release`](Self::release) with the queue already locked.
    pub(super) fn hand_slot(
        &self,
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
        // Nobody waits: the slot goes back to the semaphore (dropped with the lock held, so
        // a checkout about to queue sees it).
        drop(slot);
    }
}

impl<C: Send + 'static> ServerPool<C> {
    /// Queues a checkout of `partition` until a connection or a slot is handed to it, or
    /// `settings.wait_timeout` after `started` (`Err`). Before queueing it looks again, under
    /// the queue's lock, for what may have been freed since the caller looked.
    pub(super) async fn wait(
        self: &Arc<Self>,
        partition: &Arc<Partition>,
        started: Instant,
        settings: &PoolSettings,
    ) -> Result<Handoff<C>, ()> {
        let rx = {
            let Ok(mut waiters) = self.waiters.lock() else {
                return Err(());
            };
            if let Some(idle) = self.take_idle(partition) {
                return Ok(Handoff::Conn(idle));
            }
            if let Some(permit) = self.free_slot(partition) {
                return Ok(Handoff::Slot(permit));
            }
            // Checkouts that gave up are skipped by checkin; sweeping them at each doubling
            // keeps the queue bounded in amortized O(1) (a sweep per enqueue costs
            // O(waiters) with hundreds queued).
            if waiters.len() >= 16 && waiters.len().is_power_of_two() {
                waiters.retain(|x| !x.handoff.is_closed());
            }
            let (tx, rx) = tokio::sync::oneshot::channel();
            waiters.push_back(Waiter {
                partition: partition.clone(),
                handoff: tx,
                deadline: started + settings.wait_timeout,
            });
            if !self.expiry_running.swap(true, Ordering::Relaxed) {
                tokio::spawn(Self::expire_waiters(self.clone()));
            }
            rx
        };
        // A waiter whose deadline passed is dropped by the expiry task: `Err`.
        rx.await.map_err(|_| ())
    }

    /// While checkouts wait: drops those past their deadline (their wait ends with an
    /// error), sleeping until the earliest deadline left; ends when none waits.
    async fn expire_waiters(pool: Arc<Self>) {
        loop {
            let next = {
                let Ok(mut waiters) = pool.waiters.lock() else {
                    return;
                };
                let now = Instant::now();
                waiters.retain(|w| w.deadline > now && !w.handoff.is_closed());
                match waiters.iter().map(|w| w.deadline).min() {
                    Some(deadline) => deadline,
                    None => {
                        pool.expiry_running.store(false, Ordering::Relaxed);
                        return;
                    }
                }
            };
            tokio::time::sleep_until(tokio::time::Instant::from_std(next)).await;
        }
    }
}
