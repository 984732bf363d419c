//! [`MysqlShared`]: what the MySQL sessions of one proxy share.

use crate::pool::Pools;

/// The MySQL part of the shared state.
#[derive(Default)]
pub struct MysqlShared {
    /// MySQL backend pools.
    pub pools: Pools<super::backend::BackendConn>,
    /// What the MySQL servers are, from their greetings (announced to clients).
    pub identities: super::identity::ServerIdentities,
    /// Users who completed caching_sha2 full authentication (as a server's cache).
    pub sha2_cache: dashmap::DashSet<String>,
}
