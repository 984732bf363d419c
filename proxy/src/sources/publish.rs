//! A source's view made the cluster's topology: the writer hostgroup holds the leader (none
//! while there is no leader: writes are held), the reader hostgroup the readers. Servers
//! that stay keep their status, weight and limits (an operator's OFFLINE_SOFT survives);
//! new ones take those of the cluster's other servers. Published through the control API's
//! compare-and-set, so generations, anti-flapping records and hold releases are the same.

use super::patroni::PatroniView;
use crate::shared::Shared;
use crate::topology::publish::{compare_and_set, PublishError};
use crate::topology::{ServerEntry, Topology};
use sqlmux_config::{Cluster, ServerStatus};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

/// `max_connections` of a new server when the cluster has no other to copy from.
const DEFAULT_MAX_CONNECTIONS: u32 = 100;

/// Times a publication is tried again when another writer swapped the topology meanwhile.
const ATTEMPTS: usize = 16;

/// Takes a source's view of `cluster` at store `revision`: holds on a switch asked for,
/// publishes a changed writer or readers, releases the hold once the switch is over.
pub fn apply(shared: &Shared, cluster: &str, view: &PatroniView, revision: i64) {
    let rt = shared.runtime.load_full();
    let Some(c) = rt.cluster(cluster) else {
        return;
    };
    let before = shared
        .sources
        .get(cluster)
        .map(|s| (s.view.clone(), s.holding))
        .unwrap_or_default();
    let mut holding = before.1;
    if view.switching && !holding {
        shared
            .failover
            .hold(c.writer_hostgroup, rt.failover.hold_timeout);
        holding = true;
        tracing::info!(%cluster, revision, "topology source: Patroni switch asked for; writes held");
    }
    let topology = shared.topology.load_full();
    if servers_of(&topology, c) != wanted(c, view) {
        publish(shared, c, view, revision);
    }
    if holding && !view.switching && view.writer.is_some() {
        // The switch is over (or was called off): the hold ends on the writer in force.
        if shared.failover.release(c.writer_hostgroup) {
            tracing::info!(%cluster, revision, writer = ?view.writer, "topology source: hold released");
        }
        holding = false;
    }
    let mut state = shared.sources.entry(cluster.to_string()).or_default();
    if state.view != *view {
        state.changed = Some(Instant::now());
    }
    state.view = view.clone();
    state.revision = revision;
    state.holding = holding;
}

/// The (hostgroup, address) pairs of the cluster's servers in `topology`.
fn servers_of(topology: &Topology, c: &Cluster) -> BTreeSet<(u32, String)> {
    topology
        .servers
        .iter()
        .filter(|s| in_cluster(c, s.hostgroup))
        .map(|s| (s.hostgroup, s.address.to_string()))
        .collect()
}

/// The (hostgroup, address) pairs the view asks for.
fn wanted(c: &Cluster, view: &PatroniView) -> BTreeSet<(u32, String)> {
    view.writer
        .iter()
        .map(|w| (c.writer_hostgroup, w.clone()))
        .chain(view.readers.iter().map(|r| (c.reader_hostgroup, r.clone())))
        .collect()
}

fn in_cluster(c: &Cluster, hostgroup: u32) -> bool {
    hostgroup == c.writer_hostgroup || hostgroup == c.reader_hostgroup
}

/// The servers of `current` with the cluster's replaced by the view's.
pub(crate) fn servers_for(current: &Topology, c: &Cluster, view: &PatroniView) -> Vec<ServerEntry> {
    let template = current
        .servers
        .iter()
        .find(|s| in_cluster(c, s.hostgroup))
        .cloned();
    let mut out: Vec<ServerEntry> = current
        .servers
        .iter()
        .filter(|s| !in_cluster(c, s.hostgroup))
        .cloned()
        .collect();
    for (hostgroup, address) in wanted(c, view) {
        let kept = current
            .servers
            .iter()
            .find(|s| s.hostgroup == hostgroup && *s.address == *address)
            .cloned();
        out.push(kept.unwrap_or_else(|| {
            ServerEntry {
                hostgroup,
                address: Arc::from(address.as_str()),
                weight: 1,
                max_connections: template
                    .as_ref()
                    .map_or(DEFAULT_MAX_CONNECTIONS, |t| t.max_connections),
                status: ServerStatus::Online,
                tls: template.as_ref().is_some_and(|t| t.tls),
            }
        }));
    }
    out
}

/// Publishes the view as the next generation (anti-flapping does not apply: the source
/// decides who the writer is).
fn publish(shared: &Shared, c: &Cluster, view: &PatroniView, revision: i64) {
    match replace_cluster(shared, c, view, true) {
        Ok(next) => tracing::info!(
            cluster = %c.name,
            revision,
            generation = next.generation,
            writer = ?view.writer,
            readers = ?view.readers,
            "topology source: new topology published"
        ),
        Err(PublishError::Busy) => tracing::warn!(
            cluster = %c.name,
            "topology source: the topology kept changing; will retry at the next change"
        ),
        Err(e) => {
            tracing::warn!(cluster = %c.name, error = %e, "topology source: cannot publish")
        }
    }
}

/// Replaces the cluster's servers by the view's as the next generation of whatever
/// generation is current (tried again when another writer swapped the topology meanwhile);
/// `force` passes anti-flapping.
pub fn replace_cluster(
    shared: &Shared,
    c: &Cluster,
    view: &PatroniView,
    force: bool,
) -> Result<Arc<Topology>, PublishError> {
    for _ in 0..ATTEMPTS {
        let expected = shared.topology.load().generation;
        match compare_and_set(shared, expected, force, |current| {
            Ok(servers_for(current, c, view))
        }) {
            Err(PublishError::Conflict { .. }) => continue,
            other => return other,
        }
    }
    Err(PublishError::Busy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(hostgroup: u32, address: &str, status: ServerStatus) -> ServerEntry {
        ServerEntry {
            hostgroup,
            address: Arc::from(address),
            weight: 3,
            max_connections: 20,
            status,
            tls: false,
        }
    }

    #[test]
    fn the_view_replaces_the_clusters_servers_and_keeps_what_stays() {
        let rt = sqlmux_config::parse(
            "[[clusters]]\nname = \"ledger\"\nprotocol = \"postgres\"\nwriter_hostgroup = 30\nreader_hostgroup = 40\n\
             [[clusters]]\nname = \"other\"\nprotocol = \"postgres\"\nwriter_hostgroup = 50\nreader_hostgroup = 60\n",
        )
        .unwrap();
        let c = rt.cluster("ledger").unwrap();
        let current = Topology {
            generation: 4,
            servers: vec![
                entry(30, "a:1", ServerStatus::Online),
                entry(40, "b:1", ServerStatus::OfflineSoft),
                entry(50, "z:1", ServerStatus::Online),
            ],
            writer_hostgroups: vec![30, 50],
        };
        let view = PatroniView {
            writer: Some("b:1".into()),
            readers: vec!["a:1".into(), "b:1".into()],
            switching: false,
            promoting: None,
        };
        let servers = servers_for(&current, c, &view);
        let find = |hg, a: &str| {
            servers
                .iter()
                .find(|s| s.hostgroup == hg && &*s.address == a)
                .cloned()
        };
        assert_eq!(servers.len(), 4);
        assert!(find(50, "z:1").is_some(), "another cluster's server stays");
        let new_writer = find(30, "b:1").unwrap();
        assert_eq!(
            (
                new_writer.status,
                new_writer.max_connections,
                new_writer.weight
            ),
            (ServerStatus::Online, 20, 1)
        );
        assert_eq!(
            find(40, "b:1").unwrap().status,
            ServerStatus::OfflineSoft,
            "an operator's status on a server that stays is kept"
        );
        assert!(find(30, "a:1").is_none(), "the old leader is no writer");
        let leaderless = PatroniView {
            writer: None,
            ..view
        };
        assert!(servers_for(&current, c, &leaderless)
            .iter()
            .all(|s| s.hostgroup != 30));
    }
}
