//! Failover in the protocol-neutral core: while a cluster has no usable writer, a statement
//! bound for it that has not left sqlmux waits in the cluster's hold queue instead of
//! failing, and runs as soon as a writer is usable again. Both protocols call
//! [`Failover::writer_or_hold`] at the one place they pick a server.
//!
//! - [`hold`]: one cluster's queue: bounded in count, bytes and time, oldest failed first.
//! - [`flapping`]: a pushed writer change too soon after the previous one needs `force`.

pub mod flapping;
pub mod hold;

pub use hold::{HoldError, HoldQueue};

use crate::pool::{PoolError, Pools};
use crate::topology::Topology;
use sqlmux_config::{Cluster, FailoverSettings};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The hold queues of every cluster, keyed by its writer hostgroup.
#[derive(Debug, Default)]
pub struct Failover {
    queues: dashmap::DashMap<u32, Arc<HoldQueue>>,
    /// Clusters under an explicit hold right now: while none is, a checkout reads this one
    /// counter and nothing else.
    explicit_holds: AtomicUsize,
    /// The last writer of each cluster, for anti-flapping.
    pub writers: flapping::WriterHistory,
    /// Reads sent to the writer because no reader took work.
    pub reads_to_writer: std::sync::atomic::AtomicU64,
}

/// What a checkout that found no usable writer gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Picked<T> {
    /// A server to use.
    Server(T),
    /// No server, and the hostgroup is no cluster's writer: nothing to hold for.
    NoServer,
}

impl Failover {
    /// The queue of the cluster whose writer hostgroup is `writer_hostgroup`.
    pub fn queue(&self, writer_hostgroup: u32) -> Arc<HoldQueue> {
        if let Some(q) = self.queues.get(&writer_hostgroup) {
            return q.clone();
        }
        self.queues
            .entry(writer_hostgroup)
            .or_insert_with(|| Arc::new(HoldQueue::default()))
            .clone()
    }

    /// Picks a server for `hostgroup` with `pick`. When it is the writer hostgroup of
    /// `cluster` and there is none usable (none ONLINE, all SHUNNED, or the cluster held),
    /// the caller waits in the cluster's queue until `pick` finds one (re-tried whenever
    /// the topology or a hold changes, and every [`hold::RECHECK`]), at most
    /// `settings.hold_timeout`. `bytes` is the statement's size, for the bound.
    pub async fn writer_or_hold<T>(
        &self,
        cluster: &str,
        hostgroup: u32,
        writer_hostgroup: u32,
        bytes: u64,
        settings: &FailoverSettings,
        mut pick: impl FnMut() -> Option<T>,
    ) -> Result<Picked<T>, HoldError> {
        let explicit = self.explicit_holds.load(Ordering::Acquire) > 0;
        let is_writer = hostgroup == writer_hostgroup;
        if !explicit || !is_writer || !self.queue(writer_hostgroup).explicitly_held() {
            if let Some(t) = pick() {
                return Ok(Picked::Server(t));
            }
        }
        if !is_writer {
            return Ok(Picked::NoServer);
        }
        let queue = self.queue(writer_hostgroup);
        queue
            .wait(cluster, bytes, settings, || {
                (!queue.explicitly_held()).then(&mut pick).flatten()
            })
            .await
            .map(Picked::Server)
    }

    /// Whether some cluster is under an explicit hold (then a checkout of a writer takes the
    /// slow path, [`Failover::usable_topology_of`], even when a server is there).
    pub fn may_hold(&self) -> bool {
        self.explicit_holds.load(Ordering::Acquire) > 0
    }

    /// The slow path of a checkout that found no server for `hostgroup` (or any explicit
    /// hold on), for a session of the cluster named `cluster` in `runtime` (`Ok(None)` when
    /// that cluster is gone): a topology snapshot and the hostgroup to pick from in it. A
    /// read bound for the reader hostgroup when no reader takes work (DOWN, SHUNNED) goes to
    /// the writer instead (counted in [`Failover::reads_to_writer`]); for the writer, the
    /// statement waits in the cluster's queue for a snapshot in which `pools` can pick a
    /// server; for any other hostgroup the current snapshot comes back at once (the caller
    /// reports that no server is there). What both protocols' checkouts call.
    pub async fn usable_topology_of<C: Send + 'static>(
        &self,
        runtime: &sqlmux_config::Runtime,
        topology: &arc_swap::ArcSwap<Topology>,
        pools: &Pools<C>,
        cluster: &str,
        hostgroup: u32,
        bytes: u64,
    ) -> Result<Option<(Arc<Topology>, u32)>, PoolError> {
        let Some(cluster) = runtime.cluster(cluster) else {
            return Ok(None);
        };
        let mut hostgroup = hostgroup;
        let reader_bound =
            hostgroup == cluster.reader_hostgroup && hostgroup != cluster.writer_hostgroup;
        if reader_bound && pools.pick(&topology.load(), hostgroup).is_none() {
            self.reads_to_writer.fetch_add(1, Ordering::Relaxed);
            hostgroup = cluster.writer_hostgroup;
        }
        loop {
            let picked = self
                .writer_or_hold(
                    &cluster.name,
                    hostgroup,
                    cluster.writer_hostgroup,
                    bytes,
                    &runtime.failover,
                    || {
                        let t = topology.load_full();
                        pools.pick(&t, hostgroup).is_some().then_some(t)
                    },
                )
                .await?;
            match picked {
                Picked::Server(t) => return Ok(Some((t, hostgroup))),
                // The last reader left between the look above and the pick (a switchover
                // takes the replica to the writer hostgroup): the read goes to the writer
                // like one that found no reader at all.
                Picked::NoServer if reader_bound && hostgroup != cluster.writer_hostgroup => {
                    self.reads_to_writer.fetch_add(1, Ordering::Relaxed);
                    hostgroup = cluster.writer_hostgroup;
                }
                Picked::NoServer => return Ok(Some((topology.load_full(), hostgroup))),
            }
        }
    }

    /// After a failed checkout: whether to try again. A writer-bound statement whose
    /// connect to the writer failed (refused, timed out: the writer is down before the
    /// monitor or the shunning says so), whose wait for a connection ended as the monitor
    /// saw the writer DOWN, or that found the SHUNNED writer being probed by another
    /// checkout, never reached a server, so it waits a recheck (or a
    /// change) and tries again, within `hold_timeout` of `started`; past that it is
    /// [`Retry::OutOfTime`]; anything else is final.
    pub async fn retry_checkout(
        &self,
        error: &PoolError,
        writer_hostgroup: u32,
        started: Instant,
        settings: &FailoverSettings,
    ) -> Retry {
        let (PoolError::Connect { hostgroup, .. }
        | PoolError::Down { hostgroup, .. }
        | PoolError::Shunned { hostgroup, .. }) = error
        else {
            return Retry::Final;
        };
        if *hostgroup != writer_hostgroup {
            return Retry::Final;
        }
        if started.elapsed() >= settings.hold_timeout {
            return Retry::OutOfTime;
        }
        let queue = self.queue(writer_hostgroup);
        let woken = queue.woken();
        tokio::select! {
            _ = woken => {}
            _ = tokio::time::sleep(hold::RECHECK) => {}
        }
        Retry::Again
    }

    /// Starts an explicit hold of the cluster (until released, or `hold_timeout` from now).
    pub fn hold(&self, writer_hostgroup: u32, hold_timeout: Duration) {
        if self
            .queue(writer_hostgroup)
            .hold_until(Instant::now() + hold_timeout)
        {
            self.explicit_holds.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Ends an explicit hold; held statements re-try at once. Returns whether one was on.
    pub fn release(&self, writer_hostgroup: u32) -> bool {
        self.end_hold(writer_hostgroup).unwrap_or(false)
    }

    /// Clears an explicit hold: `None` when none was set, else whether it was still on.
    fn end_hold(&self, writer_hostgroup: u32) -> Option<bool> {
        let ended = self.queue(writer_hostgroup).release();
        if ended.is_some() {
            self.explicit_holds.fetch_sub(1, Ordering::AcqRel);
        }
        ended
    }

    /// Explicit holds whose time is up end by themselves (called by the reaper; until then
    /// they hold nothing already).
    pub fn expire_holds(&self) {
        let expired: Vec<u32> = self
            .queues
            .iter()
            .filter(|q| q.hold_expired())
            .map(|q| *q.key())
            .collect();
        for hostgroup in expired {
            if self.end_hold(hostgroup).is_some() {
                tracing::info!(
                    writer_hostgroup = hostgroup,
                    "failover hold ended by its timeout"
                );
            }
        }
    }

    /// Something that decides whether a writer is usable changed (topology, health): every
    /// held statement looks again.
    pub fn changed(&self) {
        for q in self.queues.iter() {
            q.wake();
        }
    }
}

/// What a failed checkout of a writer-bound statement leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// It never reached a server and there is time left: try again.
    Again,
    /// It never reached a server, and `hold_timeout` is up.
    OutOfTime,
    /// Not a failure to reach the writer: report it as it is.
    Final,
}

/// The checkout retries of one statement. A read whose connect to a reader failed (refused,
/// timed out, the server seen DOWN) never reached it: it picks again at once, at most
/// `shun_after_errors` times (by then the failing server is SHUNNED and the pick goes to
/// another reader, or to the writer). A connect to the writer that failed is tried
/// again (see [`Failover::retry_checkout`]) until `hold_timeout` after the statement first
/// asked, one deadline for all its attempts (a connect still running then is given up: it
/// sent nothing). When it gives up, the client hears that the cluster had no usable writer,
/// how long it waited, and why its last attempt failed.
#[derive(Debug)]
pub struct CheckoutRetry {
    started: Instant,
    last_connect: Option<PoolError>,
    /// Reads picked again after a failed connect to a reader.
    read_retries: u32,
    /// Set once a retry begins: the cluster and when the statement gives up.
    deadline: Option<(String, Instant)>,
}

impl Default for CheckoutRetry {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            last_connect: None,
            read_retries: 0,
            deadline: None,
        }
    }
}

impl CheckoutRetry {
    /// Runs one checkout attempt, within the statement's deadline once retrying.
    pub async fn attempt<T, E: From<PoolError>>(
        &self,
        checkout: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let Some((cluster, deadline)) = &self.deadline else {
            return checkout.await;
        };
        match tokio::time::timeout_at((*deadline).into(), checkout).await {
            Ok(result) => result,
            Err(_) => Err(E::from(PoolError::Held(HoldError::Timeout {
                cluster: cluster.clone(),
                waited_ms: self.started.elapsed().as_millis(),
            }))),
        }
    }

    /// After a failed checkout of a session of `cluster`: `Ok` to try again, else the
    /// error to report.
    pub async fn after(
        &mut self,
        shared: &crate::shared::Shared,
        cluster: &str,
        error: PoolError,
    ) -> Result<(), PoolError> {
        let rt = shared.runtime.load_full();
        let Some(c) = rt.cluster(cluster) else {
            return Err(error);
        };
        if let PoolError::Connect { hostgroup, .. }
        | PoolError::Down { hostgroup, .. }
        | PoolError::Shunned { hostgroup, .. } = &error
        {
            if *hostgroup != c.writer_hostgroup
                && self.read_retries < rt.pool.shun_after_errors.max(1)
            {
                self.read_retries += 1;
                tracing::debug!(%error, "a read's connect failed; picking again");
                return Ok(());
            }
        }
        let retry = shared
            .failover
            .retry_checkout(&error, c.writer_hostgroup, self.started, &rt.failover)
            .await;
        let waited_ms = self.started.elapsed().as_millis();
        match (retry, error) {
            (Retry::Again, error) => {
                self.last_connect = Some(error);
                self.deadline.get_or_insert_with(|| {
                    (c.name.clone(), self.started + rt.failover.hold_timeout)
                });
                Ok(())
            }
            // Its one attempt (or its last) outlasted the hold timeout.
            (Retry::OutOfTime, error) => Err(PoolError::Held(HoldError::NoWriter {
                cluster: c.name.clone(),
                waited_ms,
                last_attempt: error.to_string(),
            })),
            (Retry::Final, PoolError::Held(HoldError::Timeout { cluster, waited_ms })) => {
                match self.last_connect.take() {
                    Some(connect) => Err(PoolError::Held(HoldError::NoWriter {
                        cluster,
                        waited_ms,
                        last_attempt: connect.to_string(),
                    })),
                    None => Err(PoolError::Held(HoldError::Timeout { cluster, waited_ms })),
                }
            }
            (Retry::Final, error) => Err(error),
        }
    }
}

/// The pools of the cluster's writer servers.
fn writer_pools(
    shared: &crate::shared::Shared,
    cluster: &Cluster,
) -> Vec<Arc<dyn crate::pool::PoolInfo>> {
    shared
        .topology
        .load()
        .servers
        .iter()
        .filter(|s| s.hostgroup == cluster.writer_hostgroup)
        .map(|s| shared.pool_info(s))
        .collect()
}

/// Statements and transactions running now on the cluster's writer servers through sqlmux.
pub fn running_on_writer(shared: &crate::shared::Shared, cluster: &Cluster) -> usize {
    writer_pools(shared, cluster)
        .iter()
        .map(|p| p.outstanding())
        .sum()
}

/// Shuts down the connections lent on the cluster's writer servers; returns how many.
pub fn cut_writer(shared: &crate::shared::Shared, cluster: &Cluster) -> usize {
    writer_pools(shared, cluster)
        .iter()
        .map(|p| p.cut_lent())
        .sum()
}

#[cfg(test)]
mod tests;
