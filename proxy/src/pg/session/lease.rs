//! Borrowing a backend for a transaction: route, checkout (or the held one), replay the
//! session's parameters, and give it back at ReadyForQuery `I` unless a pin holds.

use super::super::backend::{BackendConn, BackendError, ConnectParams};
use super::super::error::SessionError;
use super::Session;
use crate::pool::Lease;
use crate::router::{self, RouteContext, StatementFacts};
use sqlmux_protocol::pg::backend as msg;

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
        let picked = self.pick_pool(hostgroup).await?;
        let pools = &self.shared.pg.pools;
        let (pool, tls, writes) = (picked.pool, picked.tls, picked.writer);
        let (settings, statement_limit) = {
            let (rt, _) = self.snapshots.load();
            (rt.pool.clone(), rt.postgres.backend_statement_limit)
        };
        let partition = self.partition.clone();
        let worker = self.worker;
        let runtime = &self.shared.runtime;
        let (user, database, backend_tls, cancels) = (
            &self.user,
            self.partition.schema(),
            &self.shared.backend_tls,
            &self.shared.pg.cancel,
        );
        let mut refused = None;
        let refused_slot = &mut refused;
        let timeout = settings.connect_timeout;
        let lease = pools
            .checkout(
                pool,
                hostgroup,
                partition,
                worker,
                &settings,
                move |address| async move {
                    let (connector, allow_cleartext) =
                        backend_tls.login_options(runtime, &address, tls);
                    let params = ConnectParams {
                        address: &address,
                        user: &user.name,
                        password: &user.password,
                        database,
                        tls: connector.as_ref(),
                        statement_limit,
                        cancels,
                        allow_cleartext,
                    };
                    let conn = BackendConn::connect(&params, timeout).await.map_err(|e| {
                        let reason = e.to_string();
                        let server_fault = match &e {
                            BackendError::Server(info) => !refused_for_the_client(&info.code),
                            _ => true,
                        };
                        if let BackendError::Server(info) = e {
                            *refused_slot = Some(info);
                        }
                        crate::pool::Failure {
                            reason,
                            server_fault,
                        }
                    })?;
                    // A writer that came up as a standby (a crashed primary restarted in
                    // recovery, a promotion not over) says so at startup: not a writer yet,
                    // like a refused connect (a writer-bound statement waits).
                    if writes && conn.in_hot_standby() {
                        return Err(crate::pool::Failure {
                            reason: format!(
                                "{address} is in hot standby (read-only): not a writer yet"
                            ),
                            server_fault: true,
                        });
                    }
                    Ok(conn)
                },
            )
            .await;
        match (lease, refused) {
            (Ok(lease), _) => Ok(lease),
            // "The database system is starting up / shutting down / in recovery mode": the
            // server is not there yet, as a refused connect (a writer-bound statement waits).
            (Err(e), Some(info)) if info.code == CANNOT_CONNECT_NOW => Err(e.into()),
            (Err(_), Some(info)) => Err(SessionError::Refused(info)),
            (Err(e), None) => Err(e.into()),
        }
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

/// Whether a backend refused a login for the client's own reasons (SQLSTATE class 28:
/// authorization; 3D000: no such database; 53300: too many connections, for the role or
/// the server): the client hears it, and it never counts against the server.
fn refused_for_the_client(code: &str) -> bool {
    code.starts_with("28") || code == "3D000" || code == "53300"
}

crate::session::held::backend_session!(Session, BackendConn, SessionError, pg);
