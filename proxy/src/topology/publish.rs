//! Publishing a new topology generation: one compare-and-set for every writer of
//! `shared.topology` (the control API, the topology sources), the failover's minimum
//! interval between writer changes, and the holds released onto a new writer.

use super::{ServerEntry, Topology};
use crate::shared::Shared;
use std::sync::Arc;

/// How often a writer retries when the snapshot changed under it without a new generation.
const CAS_ATTEMPTS: usize = 16;

/// Why a new topology generation was not published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The caller's generation is not the current one.
    #[error("generation {expected} is stale: the current topology generation is {current}")]
    Conflict {
        /// The generation the caller named.
        expected: u64,
        /// The generation in force.
        current: u64,
    },
    /// The generation counter is at its maximum.
    #[error("the topology generation cannot grow any further")]
    GenerationExhausted,
    /// A writer change within `failover.min_interval_ms` of the previous one, not forced.
    #[error("{0}")]
    TooSoon(String),
    /// Other writers kept swapping the topology under this one.
    #[error("the topology kept changing concurrently; nothing was changed, retry")]
    Busy,
}

/// Publishes the servers `build` makes from the current snapshot as generation
/// `expected + 1`, if and only if the current generation is `expected` (else [`PublishError::Conflict`]) — atomic
/// against every other writer of `shared.topology`, whether or not it goes through here.
pub fn compare_and_set<E: From<PublishError>>(
    shared: &Shared,
    expected: u64,
    force: bool,
    build: impl Fn(&Topology) -> Result<Vec<ServerEntry>, E>,
) -> Result<Arc<Topology>, E> {
    for _ in 0..CAS_ATTEMPTS {
        let current = shared.topology.load_full();
        if current.generation != expected {
            return Err(PublishError::Conflict {
                expected,
                current: current.generation,
            }
            .into());
        }
        let generation = expected
            .checked_add(1)
            .ok_or(PublishError::GenerationExhausted)?;
        let servers = build(&current)?;
        let writer_changes = {
            let rt = shared.runtime.load();
            shared
                .failover
                .writers
                .check(
                    &rt.clusters,
                    &current.servers,
                    &servers,
                    rt.failover.min_interval,
                    force,
                )
                .map_err(|e| PublishError::TooSoon(e.to_string()))?
        };
        let next = Arc::new(Topology {
            generation,
            servers,
            writer_hostgroups: current.writer_hostgroups.clone(),
        });
        let previous = shared.topology.compare_and_swap(&current, next.clone());
        if Arc::ptr_eq(&previous, &current) {
            // Apply the snapshot in force now (not `next`): if another writer got in right
            // after us, the pools still end up following the newest topology.
            shared.failover.writers.record(writer_changes);
            shared.apply_topology();
            release_changed_writers(shared, &current);
            return Ok(next);
        }
        // Swapped under us: re-check the generation against the new snapshot.
    }
    Err(PublishError::Busy.into())
}

/// After a topology change: a cluster under an explicit hold whose writer hostgroup changed
/// and now has an ONLINE server is released onto it.
fn release_changed_writers(shared: &Shared, before: &Topology) {
    let now = shared.topology.load();
    let rt = shared.runtime.load();
    for cluster in &rt.clusters {
        let writers = |t: &Topology| {
            let mut w: Vec<(String, &'static str)> = t
                .servers
                .iter()
                .filter(|s| s.hostgroup == cluster.writer_hostgroup)
                .map(|s| (s.address.to_string(), s.status.as_str()))
                .collect();
            w.sort();
            w
        };
        let online = now.online_in(cluster.writer_hostgroup).next().is_some();
        if online
            && writers(before) != writers(&now)
            && shared.failover.release(cluster.writer_hostgroup)
        {
            tracing::info!(cluster = %cluster.name, "failover hold released onto the new writer");
        }
    }
}
