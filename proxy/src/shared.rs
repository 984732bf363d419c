//! What every session of one proxy shares: the runtime snapshots, pools, TLS, counters.

use crate::topology::Topology;
use arc_swap::ArcSwap;
use sqlmux_config::Runtime;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// A concurrent map touched on the per-statement path, with a fast hasher (foldhash,
/// seeded per process) instead of SipHash.
pub type FastMap<K, V> = dashmap::DashMap<K, V, foldhash::fast::RandomState>;

/// Distinct user and database names shared; past it, sessions keep their own copy.
const SHARED_NAMES: usize = 4096;

/// Distinct ParameterStatus sets shared at most (past it a session keeps its own).
pub const SHARED_PARAM_SETS: usize = 256;

/// ParameterStatus values as a PostgreSQL client knows them (name -> value).
pub type ParamSet = std::collections::BTreeMap<String, String>;

/// State shared by the sessions of one `run`; nothing global.
pub struct Shared {
    /// Users, rules, settings: swapped whole on reload.
    pub runtime: Arc<ArcSwap<Runtime>>,
    /// What the MySQL sessions share: pools, server identities, the caching_sha2 cache.
    pub mysql: crate::mysql::MysqlShared,
    /// What the PostgreSQL sessions share: pools, statements, cancel keys, SCRAM secrets.
    pub pg: crate::pg::PgShared,
    /// Hostgroups and servers: swapped whole on change.
    pub topology: Arc<ArcSwap<Topology>>,
    /// User and database names shared by the sessions that use them, so that comparing
    /// two sessions' pool partitions is usually a pointer comparison.
    pub names: FastMap<String, Arc<str>>,
    /// Acceptor for client TLS, when `[tls]` is configured.
    pub client_tls: Option<tokio_rustls::TlsAcceptor>,
    /// Connector for backends with `tls = true`.
    pub backend_tls: crate::tls::BackendTls,
    /// Live statistics.
    pub stats: crate::stats::ProxyStats,
    /// The hold queues of writer-bound statements, per cluster.
    pub failover: crate::failover::Failover,
    /// What the monitor sees of each server, by address.
    pub health: dashmap::DashMap<Arc<str>, crate::monitor::Health>,
    /// Wakes the monitor for a round of checks now (the topology changed: a server just
    /// pushed as the writer is looked at before writes wait for its next check).
    pub monitor_wake: tokio::sync::Notify,
    /// What each cluster's topology source (Patroni) last did, by cluster name.
    pub sources: dashmap::DashMap<String, crate::sources::SourceState>,
    /// Where a shutdown stands (readiness, accepting, idle sessions closing).
    pub drain: crate::drain::Drain,
    /// Client connections held now, and the cap on them.
    pub admission: crate::session::admission::Admission,
    /// What the config file reloads did.
    pub reloads: crate::reload::ReloadStats,
    /// Set once every listener and task runs: `/readyz` is 503 before.
    pub started: std::sync::atomic::AtomicBool,
    /// Live client sessions by connection id, for KILL.
    pub sessions: crate::session::SessionControls,
    next_connection_id: AtomicU32,
}

impl Shared {
    /// Builds the shared state for a runtime.
    pub fn new(runtime: Runtime, client_tls: Option<tokio_rustls::TlsAcceptor>) -> Arc<Self> {
        let topology = Topology::from_runtime(&runtime, 1);
        let pg = crate::pg::PgShared::new(&runtime);
        Arc::new(Self {
            runtime: Arc::new(ArcSwap::from_pointee(runtime)),
            topology: Arc::new(ArcSwap::from_pointee(topology)),
            mysql: Default::default(),
            pg,
            names: Default::default(),
            client_tls,
            backend_tls: Default::default(),
            failover: Default::default(),
            health: Default::default(),
            monitor_wake: tokio::sync::Notify::new(),
            sources: Default::default(),
            drain: Default::default(),
            admission: Default::default(),
            reloads: Default::default(),
            started: Default::default(),
            sessions: Default::default(),
            stats: crate::stats::ProxyStats::default(),
            next_connection_id: AtomicU32::new(1),
        })
    }

    /// The shared copy of a user or database name (a new one once the table is full).
    pub fn name(&self, name: &str) -> Arc<str> {
        shared_name(&self.names, name)
    }

    /// Gives back the room the session maps kept for clients that have left (called every
    /// second by the reaper).
    pub fn shrink_session_maps(&self) {
        crate::session::control::shrink_when_sparse(&self.stats.sessions);
        self.sessions.shrink();
        self.pg.cancel.shrink();
    }

    /// Publishes a topology built for the next generation (compare-and-set against any
    /// concurrent writer, such as the control API) and applies it to the pools: connections
    /// to servers that went OFFLINE_HARD or away are closed, OFFLINE_SOFT ones drain.
    pub fn replace_topology(&self, build: impl Fn(u64) -> Topology) {
        self.topology
            .rcu(|current| Arc::new(build(current.generation + 1)));
        self.apply_topology();
    }

    /// Makes the topology in force now the pools' and the failover holds' (held statements
    /// look again for a usable writer).
    pub fn apply_topology(&self) {
        let topology = self.topology.load();
        self.mysql.pools.apply_topology(&topology);
        self.pg.pools.apply_topology(&topology);
        self.failover.changed();
        self.monitor_wake.notify_one();
    }

    /// The pool of a topology server (created empty on first use, in the pools of its
    /// cluster's protocol), for the admin tables and metrics.
    pub fn pool_info(
        &self,
        server: &crate::topology::ServerEntry,
    ) -> Arc<dyn crate::pool::PoolInfo> {
        let rt = self.runtime.load();
        let postgres = rt.clusters.iter().any(|c| {
            c.protocol == sqlmux_config::Protocol::Postgres
                && (c.writer_hostgroup == server.hostgroup
                    || c.reader_hostgroup == server.hostgroup)
        });
        if postgres {
            self.pg
                .pools
                .server(&server.address, server.max_connections)
        } else {
            self.mysql
                .pools
                .server(&server.address, server.max_connections)
        }
    }

    /// A fresh client connection id.
    pub fn next_connection_id(&self) -> u32 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }
}

/// The copy of `key`'s value kept in `table`, so that equal values are one allocation that
/// sessions compare by pointer. `make` builds the entry (key, value) while the table has
/// fewer than `limit` entries; past it, each caller gets a value of its own.
pub fn shared_copy<K, Q, V>(
    table: &FastMap<K, Arc<V>>,
    key: &Q,
    limit: usize,
    make: impl FnOnce() -> (K, Arc<V>),
) -> Arc<V>
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
    V: ?Sized,
{
    if let Some(value) = table.get(key) {
        return value.clone();
    }
    let (key, value) = make();
    if table.len() >= limit {
        return value;
    }
    table.entry(key).or_insert(value).clone()
}

/// The copy of `name` in `table` (added while the table has room).
fn shared_name(table: &FastMap<String, Arc<str>>, name: &str) -> Arc<str> {
    shared_copy(table, name, SHARED_NAMES, || {
        (name.to_string(), Arc::from(name))
    })
}

/// One session's view of the runtime and topology snapshots. Checking that a cached snapshot
/// is still current is one atomic load, where `ArcSwap::load` takes and returns a guard on
/// every statement.
pub struct Snapshots {
    runtime: arc_swap::Cache<Arc<ArcSwap<Runtime>>, Arc<Runtime>>,
    topology: arc_swap::Cache<Arc<ArcSwap<Topology>>, Arc<Topology>>,
}

impl Snapshots {
    /// The current snapshots of `shared`.
    pub fn new(shared: &Shared) -> Self {
        Self {
            runtime: arc_swap::Cache::new(shared.runtime.clone()),
            topology: arc_swap::Cache::new(shared.topology.clone()),
        }
    }

    /// The runtime and topology now.
    pub fn load(&mut self) -> (&Arc<Runtime>, &Arc<Topology>) {
        (self.runtime.load(), self.topology.load())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_shared_until_the_table_is_full() {
        let table = FastMap::default();
        let a = shared_name(&table, "ledger");
        assert!(Arc::ptr_eq(&a, &shared_name(&table, "ledger")));
        for i in 0..SHARED_NAMES {
            shared_name(&table, &i.to_string());
        }
        assert_eq!(table.len(), SHARED_NAMES);
        let late = shared_name(&table, "late");
        assert_eq!(&*late, "late");
        assert!(!Arc::ptr_eq(&late, &shared_name(&table, "late")));
        assert!(Arc::ptr_eq(&a, &shared_name(&table, "ledger")));
    }
}
