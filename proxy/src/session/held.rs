//! [`Held`]: what a session holds on the backend side, the same for both protocols: the
//! lent connection, the remembered pool of a one-server hostgroup, a backend lost between
//! statements; how a checkout picks its pool ([`Held::pick`]) and how a session makes sure
//! it holds a backend ([`hold_backend`]), waiting through a failover hold.

use crate::failover::CheckoutRetry;
use crate::pool::{Lease, PoolChoice, PoolError, Pools, ServerPool};
use crate::shared::{Shared, Snapshots};
use crate::workers::Pooled;
use std::sync::Arc;

/// A session's backend side.
pub struct Held<C> {
    /// The backend lent to the session, while a statement, a transaction or a pin needs it.
    pub lease: Option<Lease<C>>,
    /// The pool of a one-server hostgroup, kept across checkouts while the topology stays.
    choice: Option<PoolChoice<C>>,
    /// A held backend the topology closed (OFFLINE_HARD) while the session was idle: its
    /// next statement hears of it.
    pub lost: Option<Arc<str>>,
}

impl<C> Default for Held<C> {
    fn default() -> Self {
        Held {
            lease: None,
            choice: None,
            lost: None,
        }
    }
}

/// No backend is held where the session's own bookkeeping says one must be: a sqlmux bug,
/// reported to the client as an error, never a panic.
#[derive(Debug, thiserror::Error)]
#[error("sqlmux holds no backend for the session's statement (an internal error)")]
pub struct NotHeld;

/// The pool a checkout goes to.
pub struct Picked<C> {
    /// The server's pool.
    pub pool: Arc<ServerPool<C>>,
    /// Whether connections to that server use TLS.
    pub tls: bool,
    /// Whether the hostgroup it was picked for is its cluster's writer hostgroup.
    pub writer: bool,
}

impl<C: Pooled + Send + 'static> Held<C> {
    /// The held backend.
    pub fn leased(&mut self) -> Result<&mut Lease<C>, NotHeld> {
        self.lease.as_mut().ok_or(NotHeld)
    }

    /// Whether a backend is held.
    pub fn is_held(&self) -> bool {
        self.lease.is_some()
    }

    /// The address of a server that went away under the session: one lost while it was
    /// idle, or the held backend's when its server closed. The statement fails with it.
    pub fn server_gone(&mut self) -> Option<Arc<str>> {
        if let Some(address) = self.lost.take() {
            return Some(address);
        }
        self.lease
            .as_ref()
            .filter(|l| l.server_closed())
            .map(|l| l.address().clone())
    }

    /// The held backend's server closed while the session was idle: remembered for the
    /// next statement (the caller drops the backend).
    pub fn note_closed_while_idle(&mut self) {
        if let Some(lease) = &self.lease {
            self.lost = Some(lease.address().clone());
        }
    }

    /// The pool a lease went back to: kept when it is the remembered one.
    pub fn returned(&mut self, pool: Arc<ServerPool<C>>) {
        if let Some(choice) = &mut self.choice {
            choice.give_back(pool);
        }
    }

    /// Returns the held backend to its pool as it is.
    pub fn give_back(&mut self) {
        if let Some(lease) = self.lease.take() {
            let pool = lease.checkin();
            self.returned(pool);
        }
    }

    /// The pool a checkout in `hostgroup` uses: the remembered one while the topology
    /// snapshot stays (no shared map or reference count touched), else one picked from the
    /// snapshot; with no usable server, or while a failover hold may be on, a writer-bound
    /// statement of `bytes` waits for a usable topology. `None`: the cluster is gone.
    pub async fn pick(
        &mut self,
        shared: &Shared,
        pools: &Pools<C>,
        snapshots: &mut Snapshots,
        cluster: &str,
        hostgroup: u32,
        bytes: u64,
    ) -> Result<Option<Picked<C>>, PoolError> {
        let failover = &shared.failover;
        if !failover.may_hold() {
            let (_, topology) = snapshots.load();
            if let Some((pool, tls)) = pools.pick_remembered(&mut self.choice, topology, hostgroup)
            {
                let writer = topology.is_writer(hostgroup);
                return Ok(Some(Picked { pool, tls, writer }));
            }
        }
        let rt = shared.runtime.load_full();
        let usable = failover
            .usable_topology_of(&rt, &shared.topology, pools, cluster, hostgroup, bytes)
            .await?;
        let Some((topology, to)) = usable else {
            return Ok(None);
        };
        let (server, pool) = pools
            .pick_pool(&topology, to)
            .ok_or_else(|| pools.no_server(&topology, to))?;
        Ok(Some(Picked {
            pool,
            tls: server.tls,
            writer: topology.is_writer(to),
        }))
    }
}

/// A protocol session as [`hold_backend`] sees it.
pub trait BackendSession {
    /// The protocol's backend connection.
    type Conn: Pooled + Send + 'static;
    /// The protocol's session error.
    type Error: From<PoolError>;

    /// The session's backend side.
    fn held(&mut self) -> &mut Held<Self::Conn>;

    /// What the session shares with every other.
    fn shared(&self) -> &Shared;

    /// The cluster the session's user belongs to.
    fn cluster(&self) -> &str;

    /// Drops the held backend after a failure, with what it held for the session.
    fn lose_backend(&mut self);

    /// The error of a statement whose server went away under the session.
    fn server_closed(address: &str) -> Self::Error;

    /// The pool error inside a checkout error, or the error itself when it is another.
    fn pool_error(e: Self::Error) -> Result<PoolError, Self::Error>;

    /// One checkout attempt in `hostgroup`.
    fn checkout(
        &mut self,
        hostgroup: u32,
    ) -> impl std::future::Future<Output = Result<Lease<Self::Conn>, Self::Error>> + Send;
}

/// Makes sure `session` holds a backend: fails when its server went away, else checks one
/// out in `hostgroup`, trying again while the failover rules allow. True when a backend
/// was checked out now.
pub async fn hold_backend<S: BackendSession + Send>(
    session: &mut S,
    hostgroup: u32,
) -> Result<bool, S::Error> {
    if let Some(address) = session.held().server_gone() {
        session.lose_backend();
        return Err(S::server_closed(&address));
    }
    if session.held().is_held() {
        return Ok(false);
    }
    let mut retry = CheckoutRetry::default();
    let lease = loop {
        match retry.attempt(session.checkout(hostgroup)).await {
            Ok(lease) => break lease,
            Err(e) => {
                let e = S::pool_error(e)?;
                retry.after(session.shared(), session.cluster(), e).await?;
            }
        }
    };
    session.held().lease = Some(lease);
    Ok(true)
}

/// Implements [`BackendSession`] for a protocol session type whose backend side is its
/// `held` field, whose user is `user` (with its `cluster`), that has `lose_backend` and
/// `checkout` methods, and whose error type has `Pool`, `NoCluster(String)` and
/// `ServerClosed(String)` variants; and its `pick_pool` from the pools `shared.<protocol>.pools`
/// and `attempt`, with the runtime's section `<config>`.
macro_rules! backend_session {
    ($session:ty, $conn:ty, $error:ident, $protocol:ident, $config:ident) => {
        impl $session {
            /// The pool a checkout in `hostgroup` goes to ([`Held::pick`]
            /// (crate::session::Held::pick)); the user's cluster gone is `NoCluster`.
            async fn pick_pool(
                &mut self,
                hostgroup: u32,
            ) -> Result<$crate::session::Picked<$conn>, $error> {
                self.held
                    .pick(
                        &self.shared,
                        &self.shared.$protocol.pools,
                        &mut self.snapshots,
                        &self.user.cluster,
                        hostgroup,
                        self.statement_bytes,
                    )
                    .await?
                    .ok_or_else(|| $error::NoCluster(self.user.name.clone()))
            }

            /// Where one checkout attempt in `hostgroup` for `partition` goes, and the
            /// runtime's limit of server-side statements on a backend.
            async fn attempt(
                &mut self,
                hostgroup: u32,
                partition: std::sync::Arc<$crate::pool::Partition>,
            ) -> Result<($crate::session::checkout::Attempt<$conn>, usize), $error> {
                let picked = self.pick_pool(hostgroup).await?;
                let (rt, _) = self.snapshots.load();
                let attempt = $crate::session::checkout::Attempt {
                    picked,
                    hostgroup,
                    partition,
                    worker: self.worker,
                    settings: rt.pool.clone(),
                };
                Ok((attempt, rt.$config.backend_statement_limit))
            }
        }

        impl $crate::session::BackendSession for $session {
            type Conn = $conn;
            type Error = $error;

            fn held(&mut self) -> &mut $crate::session::Held<$conn> {
                &mut self.held
            }

            fn shared(&self) -> &$crate::shared::Shared {
                &self.shared
            }

            fn cluster(&self) -> &str {
                &self.user.cluster
            }

            fn lose_backend(&mut self) {
                <$session>::lose_backend(self);
            }

            fn server_closed(address: &str) -> $error {
                $error::ServerClosed(address.to_string())
            }

            fn pool_error(e: $error) -> Result<$crate::pool::PoolError, $error> {
                match e {
                    $error::Pool(e) => Ok(e),
                    other => Err(other),
                }
            }

            fn checkout(
                &mut self,
                hostgroup: u32,
            ) -> impl std::future::Future<
                Output = Result<$crate::pool::Lease<$conn>, $error>,
            > + Send {
                <$session>::checkout(self, hostgroup)
            }
        }
    };
}

pub(crate) use backend_session;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Fault;

    // `u32` is a pooled connection in the pool's tests.

    #[test]
    fn a_server_lost_while_idle_is_told_once() {
        let mut held = Held::<u32>::default();
        assert!(held.server_gone().is_none() && !held.is_held());
        held.lost = Some(Arc::from("10.0.0.1:3306"));
        assert_eq!(held.server_gone().as_deref(), Some("10.0.0.1:3306"));
        assert!(held.server_gone().is_none());
    }

    #[test]
    fn no_lease_is_an_error_not_a_panic() {
        let mut held = Held::<u32>::default();
        assert!(matches!(held.leased(), Err(NotHeld)));
        held.give_back();
        held.note_closed_while_idle();
        assert!(held.lost.is_none());
    }

    #[test]
    fn not_held_ends_the_session_in_both_protocols() {
        let mysql = crate::mysql::error::SessionError::from(NotHeld);
        assert!(!mysql.is_recoverable());
        assert_eq!(mysql.side(), crate::session::Side::Proxy);
        let packet = mysql.to_err_packet().expect("the client is told");
        assert_eq!(u16::from_le_bytes([packet[1], packet[2]]), 9001);
        let pg = crate::pg::error::SessionError::from(NotHeld);
        assert!(!pg.is_recoverable());
        assert_eq!(pg.side(), crate::session::Side::Proxy);
        let fatal = pg.to_error_response().expect("the client is told");
        let text = String::from_utf8_lossy(&fatal);
        assert!(text.contains("FATAL") && text.contains("XX000"), "{text}");
    }
}
