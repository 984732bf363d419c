//! What the MySQL/MariaDB servers behind sqlmux say they are, learned from the greetings of
//! the backend connections sqlmux opens, and what sqlmux therefore announces to clients:
//! the servers' own version string (a MariaDB 10 greeting keeps its `5.5.5-` prefix) and
//! the MariaDB extended capabilities every server has and sqlmux can relay. Drivers adapt to
//! the server they see (node-mysql2 sends arrays as JSON text only to MariaDB, and reads JSON
//! columns from MariaDB's extended metadata).

use sqlmux_protocol::mysql::constants::mariadb;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// What one server's greeting said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeted {
    /// The version string, verbatim.
    pub version: String,
    /// MariaDB extended capabilities; `None` from a MySQL server.
    pub mariadb_caps: Option<u32>,
}

/// What sqlmux announces in its own greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    /// The version string.
    pub version: String,
    /// MariaDB extended capabilities to offer; `None` unless every server is MariaDB.
    pub mariadb_caps: Option<u32>,
}

/// The servers' greetings, by address, and the announcement made of them.
#[derive(Debug)]
pub struct ServerIdentities {
    greeted: Mutex<HashMap<String, Greeted>>,
    announced: watch::Sender<Option<Arc<Announced>>>,
}

impl Default for ServerIdentities {
    fn default() -> Self {
        Self {
            greeted: Mutex::new(HashMap::new()),
            announced: watch::Sender::new(None),
        }
    }
}

impl ServerIdentities {
    /// Records a backend's greeting (on every connect; the announcement changes only when a
    /// server says something new).
    pub fn record(&self, address: &str, greeted: Greeted) {
        let mut all = self
            .greeted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if all.get(address) == Some(&greeted) {
            return;
        }
        all.insert(address.to_string(), greeted);
        let next = announce(all.values());
        self.announced.send_if_modified(|current| {
            if current.as_deref() == next.as_ref() {
                return false;
            }
            *current = next.map(Arc::new);
            true
        });
    }

    /// The announcement, waiting up to `wait` for the first server to be known.
    pub async fn announced(&self, wait: Duration) -> Option<Arc<Announced>> {
        let mut rx = self.announced.subscribe();
        let known = tokio::time::timeout(wait, rx.wait_for(Option::is_some)).await;
        match known {
            Ok(Ok(a)) => a.clone(),
            _ => None,
        }
    }
}

/// At start: one connection to each MySQL server of each cluster (as the cluster's first
/// user, then closed with COM_QUIT), so the first clients are greeted as the servers would
/// greet them. An unreachable server is learned later, from the sessions' own connects.
pub async fn learn(shared: Arc<crate::shared::Shared>) {
    use super::backend::{BackendConn, ConnectParams};
    use sqlmux_config::Protocol;
    let rt = shared.runtime.load_full();
    let topology = shared.topology.load_full();
    for cluster in rt.clusters.iter().filter(|c| c.protocol == Protocol::Mysql) {
        let Some(user) = rt.users.iter().find(|u| u.cluster == cluster.name) else {
            continue;
        };
        let hostgroups = [cluster.writer_hostgroup, cluster.reader_hostgroup];
        for server in topology
            .servers
            .iter()
            .filter(|s| hostgroups.contains(&s.hostgroup))
        {
            let connector = server
                .tls
                .then(|| shared.backend_tls.for_server(&rt, &server.address));
            let params = ConnectParams {
                identities: Some(&shared.mysql.identities),
                allow_cleartext: rt.allows_cleartext(&server.address),
                ..ConnectParams::own(
                    &server.address,
                    &user.name,
                    &user.password,
                    connector.as_ref(),
                )
            };
            match tokio::time::timeout(rt.pool.connect_timeout, BackendConn::connect(&params)).await
            {
                Ok(Ok(mut conn)) => conn.quit().await,
                Ok(Err(e)) => {
                    tracing::info!(address = %server.address, error = %e, "mysql server not reached at start")
                }
                Err(_) => {
                    tracing::info!(address = %server.address, "mysql server not reached at start")
                }
            }
        }
    }
}

/// The oldest server's version (clients adapt to the least capable), and the MariaDB
/// extended capabilities all servers share, when all are MariaDB.
fn announce<'a>(servers: impl Iterator<Item = &'a Greeted> + Clone) -> Option<Announced> {
    let oldest = servers.clone().min_by_key(|g| version_number(&g.version))?;
    let mariadb_caps = servers
        .map(|g| g.mariadb_caps)
        .try_fold(mariadb::RELAYED, |all, caps| caps.map(|c| all & c));
    Some(Announced {
        version: oldest.version.clone(),
        mariadb_caps,
    })
}

/// `major.minor.patch` of a version string (MariaDB's `5.5.5-` prefix skipped).
fn version_number(version: &str) -> (u32, u32, u32) {
    let v = version.strip_prefix("5.5.5-").unwrap_or(version);
    let mut parts = v
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maria(version: &str, caps: u32) -> Greeted {
        Greeted {
            version: version.into(),
            mariadb_caps: Some(caps),
        }
    }

    #[tokio::test]
    async fn announces_the_oldest_server_and_the_shared_capabilities() {
        let ids = ServerIdentities::default();
        assert_eq!(ids.announced(Duration::from_millis(10)).await, None);
        ids.record("a:1", maria("5.5.5-10.11.6-MariaDB", 0b1_1111));
        let a = ids.announced(Duration::from_millis(10)).await.unwrap();
        assert_eq!(a.version, "5.5.5-10.11.6-MariaDB");
        assert_eq!(a.mariadb_caps, Some(mariadb::EXTENDED_METADATA));
        ids.record("b:1", maria("11.4.2-MariaDB", 0b1));
        let b = ids.announced(Duration::from_millis(10)).await.unwrap();
        assert_eq!(b.version, "5.5.5-10.11.6-MariaDB", "the oldest");
        assert_eq!(
            b.mariadb_caps,
            Some(0),
            "not every server has extended metadata"
        );
        ids.record(
            "c:1",
            Greeted {
                version: "8.0.36".into(),
                mariadb_caps: None,
            },
        );
        let c = ids.announced(Duration::from_millis(10)).await.unwrap();
        assert_eq!(c.mariadb_caps, None, "a MySQL server among them");
    }

    #[tokio::test]
    async fn a_greeting_waits_for_the_first_server() {
        let ids = Arc::new(ServerIdentities::default());
        let waiting = tokio::spawn({
            let ids = ids.clone();
            async move { ids.announced(Duration::from_secs(5)).await }
        });
        tokio::task::yield_now().await;
        ids.record("a:1", maria("10.11.6-MariaDB", 8));
        let got = waiting.await.unwrap().unwrap();
        assert_eq!(got.version, "10.11.6-MariaDB");
    }
}
