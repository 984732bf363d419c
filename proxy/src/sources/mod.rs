//! What the data path knows of topology sources (clusters whose writer and readers come
//! from Patroni): each source's state, as the API, `/readyz`, `/metrics` and the admin tables
//! show it, and a source's view published as a topology generation. The clients that follow
//! the sources (etcd watch, Patroni REST) are in the `sqlmux-control` crate.
//!
//! - [`patroni`]: what Patroni's keys say (writer, readers, a switch under way).
//! - [`publish`]: a cluster's servers replaced by a source's view.

pub mod patroni;
pub mod publish;

use crate::shared::Shared;
use sqlmux_config::runtime::PatroniStore;
use sqlmux_config::Cluster;
use std::time::Instant;

/// What a cluster's source last did (for the API, `/readyz`, `/metrics`, admin tables).
#[derive(Debug, Clone, Default)]
pub struct SourceState {
    /// The store is reachable and watched.
    pub connected: bool,
    /// The store revision of the state in force (0 before the first read).
    pub revision: i64,
    /// The last error talking to the store.
    pub last_error: Option<String>,
    /// When the view last changed.
    pub changed: Option<Instant>,
    /// The view in force.
    pub view: patroni::PatroniView,
    /// The hold this source started for a switch (released when it ends).
    pub holding: bool,
}

/// A cluster's source as the API, `/readyz`, `/metrics` and the admin tables show it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourceDoc {
    /// The cluster.
    pub cluster: String,
    /// Where its topology comes from.
    pub source: String,
    /// The store is reachable and watched.
    pub connected: bool,
    /// The store revision that produced the topology in force (0: none yet).
    pub revision: i64,
    /// The leader's address.
    pub writer: Option<String>,
    /// The readers' addresses.
    pub readers: Vec<String>,
    /// A switch is under way (writes held).
    pub switching: bool,
    /// The last error talking to the store.
    pub error: Option<String>,
}

/// Every cluster's source, in the runtime's order (clusters without one are left out).
pub fn docs(shared: &Shared) -> Vec<SourceDoc> {
    let rt = shared.runtime.load();
    rt.clusters
        .iter()
        .filter(|c| c.patroni.is_some())
        .map(|c| {
            let state = shared
                .sources
                .get(&c.name)
                .map(|s| s.clone())
                .unwrap_or_default();
            SourceDoc {
                cluster: c.name.clone(),
                source: describe(c),
                connected: state.connected,
                revision: state.revision,
                writer: state.view.writer,
                readers: state.view.readers,
                switching: state.view.switching,
                error: state.last_error,
            }
        })
        .collect()
}

/// Where a cluster's topology comes from, in words (for errors and the API).
pub fn describe(cluster: &Cluster) -> String {
    match &cluster.patroni {
        Some(p) => match &p.store {
            PatroniStore::Etcd(endpoints) => format!(
                "Patroni (etcd {}, {})",
                endpoints.join(","),
                p.prefix().trim_end_matches('/')
            ),
            PatroniStore::Rest { endpoints, .. } => {
                format!("Patroni (REST {})", endpoints.join(","))
            }
        },
        None => "the control API".to_string(),
    }
}
