//! Hostgroups, servers and their status: the snapshot the data path routes by.
//!
//! - [`publish`]: a new generation published by compare-and-set.

pub mod publish;

use sqlmux_config::{Runtime, ServerStatus};
use std::sync::Arc;

/// One server in one hostgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerEntry {
    /// Hostgroup.
    pub hostgroup: u32,
    /// `host:port`.
    pub address: Arc<str>,
    /// Relative weight.
    pub weight: u32,
    /// Upper bound of backend connections.
    pub max_connections: u32,
    /// Status.
    pub status: ServerStatus,
    /// Connect over TLS.
    pub tls: bool,
}

/// An immutable view of every hostgroup, swapped whole when it changes.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// Increases with every change.
    pub generation: u64,
    /// All servers.
    pub servers: Vec<ServerEntry>,
    /// The clusters' writer hostgroups (a server the monitor sees read-only takes no work
    /// there, and reads elsewhere).
    pub writer_hostgroups: Vec<u32>,
}

impl Topology {
    /// The topology the configuration describes.
    pub fn from_runtime(runtime: &Runtime, generation: u64) -> Self {
        let servers = runtime
            .servers
            .iter()
            .map(|s| ServerEntry {
                hostgroup: s.hostgroup,
                address: Arc::from(s.address.as_str()),
                weight: s.weight,
                max_connections: s.max_connections,
                status: s.status,
                tls: s.tls,
            })
            .collect();
        Self {
            generation,
            servers,
            writer_hostgroups: runtime
                .clusters
                .iter()
                .map(|c| c.writer_hostgroup)
                .collect(),
        }
    }

    /// Whether `hostgroup` is a cluster's writer hostgroup.
    pub fn is_writer(&self, hostgroup: u32) -> bool {
        self.writer_hostgroups.contains(&hostgroup)
    }

    /// ONLINE servers of a hostgroup.
    pub fn online_in(&self, hostgroup: u32) -> impl Iterator<Item = &ServerEntry> {
        self.servers
            .iter()
            .filter(move |s| s.hostgroup == hostgroup && s.status == ServerStatus::Online)
    }

    /// The server new work in `hostgroup` goes to: the heaviest ONLINE one.
    pub fn pick(&self, hostgroup: u32) -> Option<&ServerEntry> {
        self.online_in(hostgroup).max_by_key(|s| s.weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::ONE_CLUSTER;

    #[test]
    fn picks_online_servers_only() {
        let rt = sqlmux_config::parse(&format!(
            r#"
{ONE_CLUSTER}[[servers]]
hostgroup = 1
address = "127.0.0.1:1"
status = "OFFLINE_SOFT"
[[servers]]
hostgroup = 1
address = "127.0.0.1:2"
"#
        ))
        .unwrap();
        let t = Topology::from_runtime(&rt, 1);
        assert_eq!(&*t.pick(1).unwrap().address, "127.0.0.1:2");
        assert!(t.pick(2).is_none());
    }
}
