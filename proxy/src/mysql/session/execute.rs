//! Borrowing a backend for a command: route, checkout (or the pinned one), replay the
//! session's state, run the command, and give the backend back unless a pin holds.

use super::super::backend::{BackendConn, BackendError, ConnectParams, BACKEND_CAPABILITIES};
use super::super::error::SessionError;
use super::super::relay::{relay_response, RelayError, RelayOptions};
use super::tracking::Changes;
use super::Session;
use crate::pool::{Lease, Partition};
use crate::session::checkout::{checkout, Login, LoginError};
use crate::session::state::is_connection_lifetime;
use sqlmux_protocol::mysql::constants::CapabilityFlags;
use sqlmux_protocol::mysql::packet::{encode, Frame};
use sqlmux_protocol::mysql::scanner::{Expect, Scanner};
use std::sync::Arc;

/// Capabilities that change what goes over the wire: a pooled backend connection must
/// have been opened with the same ones as the client it serves.
const FLAVOR_CAPABILITIES: CapabilityFlags = CapabilityFlags::CLIENT_DEPRECATE_EOF
    .union(CapabilityFlags::CLIENT_FOUND_ROWS)
    .union(CapabilityFlags::CLIENT_IGNORE_SPACE)
    .union(CapabilityFlags::CLIENT_MULTI_STATEMENTS);

/// The query that reads LAST_INSERT_ID() after a statement that may have changed it.
const LAST_INSERT_ID_QUERY: &[u8] = b"\x03SELECT LAST_INSERT_ID()";

/// What a statement needs the backend to have besides the session variables.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Needs {
    /// The statement reads user variables.
    pub user_vars: bool,
    /// The statement may read or keep LAST_INSERT_ID().
    pub last_insert_id: bool,
}

/// Reading the backend's LAST_INSERT_ID() after the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FollowUp {
    /// Not needed.
    None,
    /// Sent right behind the statement (one round trip for both).
    Pipelined,
    /// Sent after the response (the statement may ask for a local file).
    After,
}

/// What a command's response told the session.
pub(super) struct Outcome {
    /// The scanner after the whole response.
    pub scanner: Scanner,
    /// Session-state changes from its OK packets.
    pub changes: Changes,
    /// LAST_INSERT_ID() read after it.
    pub last_insert_id: Option<u64>,
    /// Bytes relayed to the client.
    pub bytes: u64,
}

impl Session {
    fn flavor(&self) -> u64 {
        u64::from((self.capabilities & FLAVOR_CAPABILITIES).bits())
            | u64::from(self.collation) << 32
            | u64::from(self.mariadb_caps) << 40
    }

    /// Drops the held backend after a failure: what it held for the session is gone, and an
    /// open transaction on it stays lost until the client ends it.
    pub(super) fn lose_backend(&mut self) {
        if let Some(lease) = self.held.lease.take() {
            if self.pins.has(crate::session::PinReason::Transaction) {
                self.lost_tx.lose(lease.address().clone());
            }
            self.pins.reset();
            self.cursor_statement = None;
        }
        self.warnings_hold = false;
    }

    /// Returns a backend to the pool, filed under the schema it has now.
    pub(super) fn give_back(&mut self, mut lease: Lease<BackendConn>) {
        let pool = if **lease.partition().schema() == *lease.conn_ref().state.schema {
            lease.checkin()
        } else {
            let schema: Arc<str> = Arc::from(lease.conn().state.schema.as_str());
            let partition = lease.partition().with_schema(schema);
            lease.checkin_as(Arc::new(partition))
        };
        self.held.returned(pool);
    }

    /// Gives the backend back unless a pin (or a warnings read to come) holds it.
    pub(super) fn release_if_unpinned(&mut self) {
        if self.pins.is_pinned() || self.warnings_hold {
            return;
        }
        if let Some(lease) = self.held.lease.take() {
            self.give_back(lease);
        }
    }

    /// Makes sure the session holds a backend for its next command, with its state.
    pub(super) async fn acquire(
        &mut self,
        hostgroup: u32,
        needs: Needs,
        reads_warnings: bool,
    ) -> Result<(), SessionError> {
        if self.warnings_hold {
            self.warnings_hold = false;
            if !reads_warnings && !self.pins.is_pinned() {
                if let Some(lease) = self.held.lease.take() {
                    self.give_back(lease);
                }
            }
        }
        crate::session::hold_backend(self, hostgroup).await?;
        let lease = self.held.leased()?;
        let conn = lease.conn();
        let replay = self
            .state
            .replay_for(&conn.state, needs.user_vars, needs.last_insert_id);
        if replay.is_empty() {
            return Ok(());
        }
        let result = async {
            if replay.reset_first {
                conn.reset().await?;
            }
            if let Some(set) = &replay.set {
                conn.execute_simple(set).await?;
            }
            Ok::<_, BackendError>(())
        }
        .await;
        match result {
            Ok(()) => {
                conn.state
                    .applied(&self.state, &replay, needs.user_vars, needs.last_insert_id);
                Ok(())
            }
            Err(e) => {
                self.lose_backend();
                Err(match e {
                    BackendError::Server(info) => SessionError::BackendRefused(info),
                    other => SessionError::Backend(other),
                })
            }
        }
    }

    /// One checkout attempt in `hostgroup`.
    async fn checkout(&mut self, hostgroup: u32) -> Result<Lease<BackendConn>, SessionError> {
        let schema = self.state.schema.as_deref().unwrap_or("");
        let partition = match &self.partition {
            Some(p) if **p.schema() == *schema && **p.user() == *self.user.name => p.clone(),
            _ => Arc::new(Partition::new(
                self.user_name.clone(),
                Arc::from(schema),
                self.flavor(),
            )),
        };
        let (attempt, statement_limit) = self.attempt(hostgroup, partition.clone()).await?;
        self.partition = Some(partition);
        let schema = self.state.schema.as_deref().unwrap_or("");
        let (user, capabilities, collation, mariadb_caps) = (
            &self.user,
            BACKEND_CAPABILITIES | (self.capabilities & FLAVOR_CAPABILITIES),
            self.collation,
            self.mariadb_caps,
        );
        let identities = &self.shared.mysql.identities;
        let login = move |login: Login| async move {
            let params = ConnectParams {
                address: &login.address,
                user: &user.name,
                password: &user.password,
                schema: (!schema.is_empty()).then_some(schema),
                capabilities,
                collation,
                statement_limit,
                tls: login.tls.as_ref(),
                mariadb_caps,
                identities: Some(identities),
                allow_cleartext: login.allow_cleartext,
            };
            BackendConn::connect(&params).await
        };
        let pools = &self.shared.mysql.pools;
        checkout(&self.shared, pools, attempt, login, |_, info| {
            SessionError::BackendRefused(info)
        })
        .await
    }

    /// Sends `packet` (one whole command) on the held backend and relays the response.
    pub(super) async fn run_command(
        &mut self,
        packet: &[u8],
        expect: Expect,
        follow_up: FollowUp,
    ) -> Result<Outcome, SessionError> {
        let lease = self.held.leased()?;
        let started = std::time::Instant::now();
        let (conn, address) = lease.conn_and_address();
        let tracking = self
            .tracking
            .get_or_insert_with(|| conn.tracking_defaults.clone());
        let opts = RelayOptions {
            expect,
            deprecate_eof: self
                .capabilities
                .contains(CapabilityFlags::CLIENT_DEPRECATE_EOF),
            local_infile: self.shared.runtime.load().mysql.local_infile,
            tracking,
        };
        conn.close_evicted().await?;
        if follow_up == FollowUp::Pipelined {
            let mut both = Vec::with_capacity(packet.len() + 32);
            both.extend_from_slice(packet);
            both.extend_from_slice(&encode(0, LAST_INSERT_ID_QUERY));
            conn.write_all(&both).await?;
        } else {
            conn.write_all(packet).await?;
        }
        let mut changes = Changes::default();
        let backend_thread = conn.connection_id;
        let written_before = self.client.written();
        let shared = &self.shared;
        let user = &self.user;
        let watch = crate::session::watch::Watch {
            timeout: shared.runtime.load().pool.query_timeout,
            control: Some(&self.control),
        };
        // KILL [QUERY] of this session or the query timeout: the statement is stopped on its
        // backend (still held here, so no other session's statement can be hit), and its
        // answer (the server's "interrupted" error) is relayed as usual.
        let kill = || {
            let target = kill_target(shared, user, address, backend_thread);
            tokio::spawn(kill_backend_query(target));
        };
        let relay = relay_response(conn, &mut self.client, opts, |ok| changes.absorb(ok));
        let relayed = match watch.run(relay, kill).await {
            Ok(relayed) => relayed,
            Err(unanswered) => {
                return Err(SessionError::QueryTimeout {
                    timeout_ms: unanswered.timeout.as_millis() as u64,
                    mid_answer: self.client.written() != written_before,
                })
            }
        };
        let relayed = match relayed {
            Ok(r) => r,
            // The backend failed before any of its answer reached the client: one error
            // (the statement may or may not have run) and the session goes on.
            Err(RelayError::Backend(e)) if self.client.written() == written_before => {
                return Err(SessionError::Backend(e))
            }
            Err(RelayError::Client(e)) => {
                // The client is gone (or failing): its statement stops with it.
                tokio::spawn(kill_backend_query(kill_target(
                    &self.shared,
                    &self.user,
                    address,
                    backend_thread,
                )));
                return Err(RelayError::Client(e).into());
            }
            Err(e) => return Err(e.into()),
        };
        let last_insert_id = match follow_up {
            FollowUp::None => None,
            FollowUp::Pipelined => read_u64(conn).await?,
            FollowUp::After => {
                conn.write_all(&encode(0, LAST_INSERT_ID_QUERY)).await?;
                read_u64(conn).await?
            }
        };
        if changes
            .vars
            .iter()
            .any(|(name, _)| is_connection_lifetime(name))
        {
            self.idle_timeout = restore_connection_lifetime(conn, &changes).await?;
        }
        lease
            .server_stats()
            .statement(relayed.bytes, started.elapsed().as_micros() as u64);
        Ok(Outcome {
            scanner: relayed.scanner,
            changes,
            last_insert_id,
            bytes: relayed.bytes,
        })
    }

    /// Runs a command on a writer backend and relays its response (FIELD_LIST, ...).
    pub(super) async fn passthrough(
        &mut self,
        frame: &Frame,
        expect: Expect,
    ) -> Result<(), SessionError> {
        let hostgroup = self.writer_hostgroup()?;
        self.acquire(hostgroup, Needs::default(), false).await?;
        let outcome = self.run_command(&frame.raw, expect, FollowUp::None).await?;
        self.finish(&outcome, false);
        Ok(())
    }

    /// COM_INIT_DB: runs on a backend; on success the session's schema changes.
    pub(super) async fn init_db(&mut self, frame: &Frame) -> Result<(), SessionError> {
        let hostgroup = self.writer_hostgroup()?;
        self.acquire(hostgroup, Needs::default(), false).await?;
        let outcome = self
            .run_command(&frame.raw, Expect::OkOrErr, FollowUp::None)
            .await?;
        if outcome.scanner.error.is_none() {
            let schema = String::from_utf8_lossy(&frame.payload()[1..]).into_owned();
            if let Some(lease) = self.held.lease.as_mut() {
                lease.conn().state.schema = schema.clone();
            }
            self.state.schema = Some(schema);
        }
        self.finish(&outcome, false);
        Ok(())
    }

    /// The writer hostgroup of the session's cluster.
    pub(super) fn writer_hostgroup(&self) -> Result<u32, SessionError> {
        let rt = self.shared.runtime.load();
        rt.cluster(&self.user.cluster)
            .map(|c| c.writer_hostgroup)
            .ok_or_else(|| SessionError::NoCluster(self.user.name.clone()))
    }
}

/// What it takes to stop a statement on a backend from a connection of its own.
pub(super) struct KillTarget {
    address: Arc<str>,
    thread: u32,
    user: String,
    password: String,
    tls: Option<tokio_rustls::TlsConnector>,
    allow_cleartext: bool,
}

/// How to reach the statement running on backend thread `thread` of `address`, as `user`.
fn kill_target(
    shared: &crate::shared::Shared,
    user: &sqlmux_config::User,
    address: &Arc<str>,
    thread: u32,
) -> KillTarget {
    let tls = shared
        .topology
        .load()
        .servers
        .iter()
        .any(|s| s.address == *address && s.tls);
    let (tls, allow_cleartext) = shared
        .backend_tls
        .login_options(&shared.runtime, address, tls);
    KillTarget {
        address: address.clone(),
        thread,
        user: user.name.clone(),
        password: user.password.clone(),
        tls,
        allow_cleartext,
    }
}

/// Runs `KILL QUERY <thread>` on the target's server, over a connection opened for it (the
/// statement's own connection is busy with it). Failures are logged: the statement then
/// simply runs to its end.
async fn kill_backend_query(target: KillTarget) {
    let params = ConnectParams {
        allow_cleartext: target.allow_cleartext,
        ..ConnectParams::own(
            &target.address,
            &target.user,
            &target.password,
            target.tls.as_ref(),
        )
    };
    let kill = async {
        let mut conn = BackendConn::connect(&params).await?;
        conn.execute_simple(&format!("KILL QUERY {}", target.thread))
            .await
    };
    match tokio::time::timeout(std::time::Duration::from_secs(5), kill).await {
        Ok(Ok(_)) => {
            tracing::debug!(address = %target.address, thread = target.thread, "statement killed")
        }
        Ok(Err(e)) => {
            tracing::info!(address = %target.address, error = %e, "KILL QUERY on the backend failed")
        }
        Err(_) => tracing::info!(address = %target.address, "KILL QUERY on the backend timed out"),
    }
}

/// A statement changed a variable about the connection's own life (`wait_timeout`, ...):
/// the backend is set back to the server's default, so a pooled connection is never closed
/// by one client's timeout. Returns the session's idle timeout to keep, from `wait_timeout`.
async fn restore_connection_lifetime(
    conn: &mut BackendConn,
    changes: &Changes,
) -> Result<Option<std::time::Duration>, SessionError> {
    let mut names: Vec<&str> = Vec::new();
    let mut idle = None;
    for (name, value) in &changes.vars {
        if !is_connection_lifetime(name) {
            continue;
        }
        if name == "wait_timeout" {
            idle = value
                .parse::<u64>()
                .ok()
                .map(std::time::Duration::from_secs);
        }
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    let defaults: Vec<String> = names.iter().map(|n| format!("{n} = DEFAULT")).collect();
    conn.execute_simple(&format!("SET {}", defaults.join(", ")))
        .await?;
    Ok(idle)
}

async fn read_u64(conn: &mut BackendConn) -> Result<Option<u64>, SessionError> {
    let value = conn.read_single_value().await?;
    Ok(value.and_then(|v| std::str::from_utf8(&v).ok().and_then(|s| s.parse().ok())))
}

impl LoginError for BackendError {
    type Refusal = sqlmux_protocol::mysql::response::ErrInfo;

    fn refusal(self) -> Option<Self::Refusal> {
        match self {
            BackendError::Server(info) => Some(info),
            _ => None,
        }
    }

    /// No access to the database, wrong password, unknown database, the user's connection
    /// limit.
    fn for_the_client(refusal: &Self::Refusal) -> bool {
        matches!(refusal.code, 1044 | 1045 | 1049 | 1226 | 1698)
    }
}

crate::session::held::backend_session!(Session, BackendConn, SessionError, mysql, mysql);
