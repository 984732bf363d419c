//! Borrowing a backend for a transaction: route, checkout (or the held one), replay the
//! session's parameters, and give it back at ReadyForQuery `I` unless a pin holds.

use super::super::backend::{BackendConn, BackendError, ConnectParams};
use super::super::error::SessionError;
use super::Session;
use crate::pool::Lease;
use crate::router::{self, RouteContext, StatementFacts};
use crate::session::checkout::{checkout, Login, LoginError};
use sqlmux_protocol::postgres::backend as msg;

/// SQLSTATE of a server that takes no connections right now (starting, stopping, in crash
/// recovery).
const CANNOT_CONNECT_NOW: &str = "57P03";

impl Session {
    /// Where a statement goes when no held backend decides.
    pub(super) fn route(&mut self, sql: &[u8], facts: StatementFacts) -> Result<u32, SessionError> {
        let (rt, topology) = self.snapshots.load();
        let cluster = rt
            .cluster(&self.user.cluster)
            .ok_or_else(|| SessionError::NoCluster(self.user.name.clone()))?;
        let ctx = RouteContext {
            cluster,
            user: &self.user.name,
            schema: self.partition.schema(),
            recent_write: false,
        };
        Ok(router::route(rt, topology, &ctx, sql, facts).hostgroup)
    }

    /// Makes sure the session holds a backend, with the session's parameters on it.
    pub(super) async fn acquire(&mut self, hostgroup: u32) -> Result<(), SessionError> {
        if crate::session::hold_backend(self, hostgroup).await? {
            if let Some(lease) = &self.held.lease {
                self.cancel.set(lease.conn_ref().cancel.as_ref());
            }
        }
        self.replay().await
    }

    /// One checkout attempt in `hostgroup`.
    async fn checkout(&mut self, hostgroup: u32) -> Result<Lease<BackendConn>, SessionError> {
        let partition = self.partition.clone();
        let (attempt, statement_limit) = self.attempt(hostgroup, partition).await?;
        let (writes, timeout) = (attempt.picked.writer, attempt.settings.connect_timeout);
        let (user, database, cancels) =
            (&self.user, self.partition.schema(), &self.shared.pg.cancel);
        let login = move |login: Login| async move {
            let params = ConnectParams {
                address: &login.address,
                user: &user.name,
                password: &user.password,
                database,
                tls: login.tls.as_ref(),
                statement_limit,
                cancels,
                allow_cleartext: login.allow_cleartext,
            };
            let conn = BackendConn::connect(&params, timeout).await?;
            // A writer that came up as a standby (a crashed primary restarted in recovery, a
            // promotion not over) says so at startup: not a writer yet, like a refused
            // connect (a writer-bound statement waits).
            if writes && conn.in_hot_standby() {
                return Err(BackendError::Standby(login.address.to_string()));
            }
            Ok(conn)
        };
        let pools = &self.shared.pg.pools;
        checkout(&self.shared, pools, attempt, login, |e, info| {
            // "The database system is starting up / shutting down / in recovery mode": the
            // server is not there yet, as a refused connect (a writer-bound statement waits).
            if info.code == CANNOT_CONNECT_NOW {
                e.into()
            } else {
                SessionError::Refused(info)
            }
        })
        .await
    }

    /// Brings the held backend's parameters to the session's; ParameterStatus changes the
    /// client does not know yet are queued for it.
    async fn replay(&mut self) -> Result<(), SessionError> {
        let Some(lease) = self.held.lease.as_mut() else {
            return Ok(());
        };
        let conn = lease.conn();
        if !conn.dirty && conn.statements.to_close.is_empty() && conn.vars == self.vars {
            return Ok(());
        }
        let mut sql = String::new();
        let base = if conn.dirty {
            Default::default()
        } else {
            conn.vars.clone()
        };
        let statements = super::vars::replay_sql(&base, &self.vars);
        sql.push_str(&statements);
        let closes: Vec<u64> = std::mem::take(&mut conn.statements.to_close);
        if sql.is_empty() && closes.is_empty() {
            return Ok(());
        }
        let result = async {
            if conn.dirty {
                // Its own Query: DISCARD ALL cannot run inside an implicit transaction.
                conn.simple("DISCARD ALL").await?;
            }
            for id in &closes {
                let name = super::super::statements::backend_name(*id);
                conn.simple(&format!("DEALLOCATE {name}")).await.ok();
            }
            if !sql.is_empty() {
                conn.simple(&sql).await?;
            }
            Ok::<_, BackendError>(())
        }
        .await;
        match result {
            Ok(()) => {
                if conn.dirty {
                    conn.forget_session_state();
                }
                conn.vars = self.vars.clone();
                let changed: Vec<(String, String)> = conn
                    .params
                    .iter()
                    .filter(|(k, v)| self.params.get(*k) != Some(*v))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                for (k, v) in changed {
                    if !self.params.is_empty() {
                        self.client.queue(&msg::parameter_status(&k, &v));
                    }
                    std::sync::Arc::make_mut(&mut self.params).insert(k, v);
                }
                Ok(())
            }
            Err(BackendError::Server(info)) => {
                // The replay failed on a working connection: it is clean but unknown.
                conn.dirty = true;
                self.give_back_now();
                Err(SessionError::Replay(info))
            }
            Err(e) => {
                let address = lease.address().to_string();
                self.lose_backend();
                Err(SessionError::Backend { address, source: e })
            }
        }
    }

    /// Drops the held backend after a failure: what it held for the session is gone.
    pub(super) fn lose_backend(&mut self) {
        if let Some(lease) = self.held.lease.take() {
            // An open transaction is lost with it: failed ('E') until the client ends it.
            if self.tx_status != b'I' {
                self.lost_tx.lose(lease.address().clone());
            }
            self.pins.reset();
            self.tx_status = if self.lost_tx.is_lost() { b'E' } else { b'I' };
            self.tx_vars.clear();
        }
        self.cancel.clear();
    }

    /// Returns the held backend to the pool as it is.
    fn give_back_now(&mut self) {
        self.cancel.clear();
        self.held.give_back();
    }

    /// Gives the backend back when no transaction or pin holds it.
    pub(super) async fn release_if_unpinned(&mut self) {
        if self.tx_status != b'I' || self.pins.is_pinned() {
            return;
        }
        self.give_back_now();
    }
}

impl LoginError for BackendError {
    type Refusal = msg::ErrorFields;

    fn refusal(self) -> Option<Self::Refusal> {
        match self {
            BackendError::Server(info) => Some(info),
            _ => None,
        }
    }

    /// SQLSTATE class 28: authorization; 3D000: no such database; 53300: too many
    /// connections, for the role or the server.
    fn for_the_client(refusal: &Self::Refusal) -> bool {
        let code = &refusal.code;
        code.starts_with("28") || code == "3D000" || code == "53300"
    }
}

crate::session::held::backend_session!(Session, BackendConn, SessionError, pg, postgres);
