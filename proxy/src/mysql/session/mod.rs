//! One MySQL client session: authenticate, then read commands and lend a backend
//! connection per statement, keeping it only while a pin holds.
//!
//! - [`execute`]: borrowing a backend (route, checkout, replay), running a command on it,
//!   giving it back.
//! - [`query`]: COM_QUERY: local answers, SET tracking, LAST_INSERT_ID, pins by statement.
//! - [`prepared`]: COM_STMT_*: client ids over lazily prepared backend statements.
//! - [`tracking`]: what a response changed in the session (OK packets, status flags).

mod execute;
mod prepared;
mod query;
mod tracking;

use super::backend::BackendConn;
use super::client::{ClientConn, ClientError};
use super::client_auth::{authenticate, AuthError, Authenticated};
use super::error::SessionError;
use super::statements::ClientStatement;
use crate::session::{Fault, PinReason, Pins, SessionControl, SessionState};
use crate::shared::Shared;
use crate::workers::WorkerId;
use sqlmux_config::User;
use sqlmux_protocol::mysql::auth::{self, CACHING_SHA2_PASSWORD, NATIVE_PASSWORD};
use sqlmux_protocol::mysql::constants::{command, CapabilityFlags, StatusFlags};
use sqlmux_protocol::mysql::handshake::{auth_switch_request, parse_change_user};
use sqlmux_protocol::mysql::packet::Frame;
use sqlmux_protocol::mysql::response::{err_packet, ok_packet};
use sqlmux_protocol::mysql::scanner::Expect;
use sqlmux_protocol::mysql::session_track::ClientTracking;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;

/// Serves one accepted client connection until it ends.
pub async fn serve(shared: Arc<Shared>, tcp: TcpStream, peer: SocketAddr, worker: WorkerId) {
    // The login is boxed, like every command below: an idle session's task holds only
    // what it needs between commands, not what the login went through.
    let Some(mut session) = Box::pin(login(&shared, tcp, peer, worker)).await else {
        return;
    };
    session.publish();
    if let Err(e) = session.run().await {
        tracing::debug!(%peer, side = ?e.side(), error = %e, "mysql session ended with an error");
    }
    Box::pin(session.end()).await;
    let connection_id = session.id;
    drop(session);
    shared.sessions.remove(connection_id);
    shared.stats.session_ended(connection_id);
}

/// Admits and authenticates the client: its session, or `None` when it was refused (and
/// told why).
async fn login(
    shared: &Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    worker: WorkerId,
) -> Option<Session> {
    crate::stream::tune(&tcp);
    let mut client = ClientConn::new(tcp, peer);
    let limits = shared.runtime.load().clients.clone();
    let Some(slot) = shared.admission.admit(limits.max_connections) else {
        // The server's own answer, in place of the greeting.
        tracing::warn!(%peer, max = limits.max_connections, "mysql client refused: too many connections");
        if let Some(packet) = auth_err_packet(&AuthError::TooManyConnections) {
            let _ = client.send(0, &packet).await;
        }
        return None;
    };
    let connection_id = shared.next_connection_id();
    let login = authenticate(&mut client, shared, connection_id);
    let Some(login) = crate::session::admission::within_deadline(&limits, login).await else {
        tracing::info!(%peer, timeout_ms = limits.handshake_timeout.as_millis() as u64, "mysql client closed: no login in time");
        return None;
    };
    let auth = match login {
        Ok(a) => a,
        Err((e, seq)) => {
            tracing::info!(%peer, error = %e, "mysql client refused");
            if let Some(packet) = auth_err_packet(&e) {
                let _ = client.send(seq, &packet).await;
            }
            return None;
        }
    };
    client.logged_in();
    shared.stats.session_started();
    let control = shared
        .sessions
        .register(connection_id, Arc::from(auth.user.name.as_str()));
    Some(Session::new(
        shared.clone(),
        client,
        (connection_id, slot),
        auth,
        worker,
        control,
    ))
}

/// What a new session's client tracks: nothing without CLIENT_SESSION_TRACK, else the
/// server's defaults, learned from the first backend.
fn initial_tracking(capabilities: CapabilityFlags) -> Option<ClientTracking> {
    (!capabilities.contains(CapabilityFlags::CLIENT_SESSION_TRACK)).then(ClientTracking::none)
}

fn auth_err_packet(e: &AuthError) -> Option<Vec<u8>> {
    match e {
        AuthError::Client(_) => None,
        AuthError::Denied { .. } => Some(err_packet(1045, "28000", &e.to_string())),
        AuthError::Malformed(_) => Some(err_packet(1043, "08S01", &format!("Bad handshake: {e}"))),
        AuthError::NoTls => Some(err_packet(1043, "08S01", &e.to_string())),
        AuthError::TooManyConnections => Some(err_packet(1040, "08004", &e.to_string())),
    }
}

enum Flow {
    Continue,
    Quit,
}

/// What ended a session's wait for the client's next command.
enum Woken {
    /// The client's command, its end, or an end sqlmux chose (wait_timeout, KILL).
    Read(Result<Option<Frame>, ClientError>),
    /// The held backend's server was closed (OFFLINE_HARD).
    ServerClosed,
    /// The session sat inside a transaction past `pool.idle_transaction_timeout_ms`.
    IdleInTransaction(u64),
}

/// A client session after authentication.
pub(super) struct Session {
    shared: Arc<Shared>,
    client: ClientConn,
    id: u32,
    user: Arc<User>,
    user_name: Arc<str>,
    /// The pool partition of the last checkout (rebuilt when user or schema change).
    partition: Option<Arc<crate::pool::Partition>>,
    /// What was last published to `stats.sessions` (backend, pins, schema).
    published: Option<(Option<Arc<str>>, Pins, Option<String>)>,
    capabilities: CapabilityFlags,
    collation: u8,
    /// MariaDB extended capabilities the client negotiated (its backends get the same).
    mariadb_caps: u32,
    salt: [u8; 20],
    state: SessionState,
    pins: Pins,
    /// The backend side: the lent connection (pinned, or kept for a following warnings
    /// read), the remembered pool, a backend lost while idle.
    held: crate::session::Held<BackendConn>,
    /// The runtime and topology the session routes with, checked per statement.
    snapshots: crate::shared::Snapshots,
    /// The held backend is kept only because the last statement left warnings.
    warnings_hold: bool,
    statements: HashMap<u32, ClientStatement>,
    next_statement_id: u32,
    /// Client statement whose server-side cursor is open.
    cursor_statement: Option<u32>,
    /// The last statement text, classified and digested once while it repeats.
    memo: crate::session::StatementMemo<sqlmux_protocol::dialect::mysql::Classification>,
    /// The data-path worker this session runs on.
    worker: WorkerId,
    /// The session state this client gets in OK packets; `None` until a backend told the
    /// server's defaults.
    tracking: Option<ClientTracking>,
    /// The client's `wait_timeout`: sqlmux closes the session after that long idle, as the
    /// server would (the backends keep their own: the variable is not replayed).
    idle_timeout: Option<std::time::Duration>,
    /// KILL from other sessions reaches this one here.
    control: Arc<SessionControl>,
    /// Size of the command being served (bounds the failover hold queue in bytes).
    statement_bytes: u64,
    /// A transaction lost with its backend: statements are refused until it is ended.
    lost_tx: crate::session::LostTransaction,
    /// The session's place among `clients.max_connections`, given back when it ends.
    _slot: crate::session::admission::Slot,
}

impl Session {
    fn new(
        shared: Arc<Shared>,
        client: ClientConn,
        (id, slot): (u32, crate::session::admission::Slot),
        auth: Authenticated,
        worker: WorkerId,
        control: Arc<SessionControl>,
    ) -> Self {
        let state = SessionState {
            schema: auth.database,
            row_count: -1,
            ..SessionState::default()
        };
        let snapshots = crate::shared::Snapshots::new(&shared);
        Self {
            worker,
            shared,
            client,
            id,
            user_name: Arc::from(auth.user.name.as_str()),
            published: None,
            partition: None,
            user: auth.user,
            capabilities: auth.capabilities,
            collation: auth.collation,
            mariadb_caps: auth.mariadb_caps,
            salt: auth.salt,
            state,
            pins: Pins::default(),
            held: Default::default(),
            snapshots,
            warnings_hold: false,
            statements: HashMap::new(),
            next_statement_id: 1,
            cursor_statement: None,
            memo: Default::default(),
            tracking: initial_tracking(auth.capabilities),
            idle_timeout: None,
            control,
            statement_bytes: 0,
            lost_tx: Default::default(),
            _slot: slot,
        }
    }

    async fn run(&mut self) -> Result<(), SessionError> {
        loop {
            if self.control.is_killed() {
                // KILL CONNECTION: the server closes the connection without a word.
                return Ok(());
            }
            // Idle until the next command: no buffers held meanwhile.
            self.client.release_buffers();
            // A pinned session also watches its backend's server, and timeouts may run;
            // that wait is boxed so an idle unpinned session's task stays small.
            let watched = self.held.lease.is_some()
                || self.idle_timeout.is_some()
                || self.pins.has(PinReason::Transaction);
            let woken = if watched {
                Box::pin(self.wait_watched()).await
            } else {
                let client = &mut self.client;
                tokio::select! {
                    read = client.read_frame() => Woken::Read(read),
                    _ = self.control.session_killed() => Woken::Read(Ok(None)),
                }
            };
            let read = match woken {
                Woken::Read(read) => Some(read),
                Woken::ServerClosed => None,
                Woken::IdleInTransaction(ms) => {
                    let e = SessionError::IdleInTransaction(ms);
                    tracing::info!(peer = %self.client.peer, "{e}");
                    if let Some(packet) = e.to_err_packet() {
                        let _ = self.client.send(0, &packet).await;
                    }
                    return Err(e);
                }
            };
            let Some(read) = read else {
                self.held.note_closed_while_idle();
                self.lose_backend();
                self.publish();
                continue;
            };
            let frame = match read {
                Ok(Some(f)) => f,
                Ok(None) => return Ok(()),
                Err(e) => {
                    let e = SessionError::from(e);
                    if let Some(p) = e.to_err_packet() {
                        let _ = self.client.send(1, &p).await;
                    }
                    return Err(e);
                }
            };
            let reply_seq = frame.last_seq.wrapping_add(1);
            if crate::drain::closes_session(&self.shared.drain, self.held.lease.is_some()) {
                // sqlmux is shutting down: the server's own goodbye, so the driver
                // reconnects (elsewhere).
                if let Some(packet) = SessionError::ShuttingDown.to_err_packet() {
                    let _ = self.client.send(reply_seq, &packet).await;
                }
                return Ok(());
            }
            match Box::pin(self.dispatch(frame)).await {
                Ok(Flow::Continue) => {}
                Ok(Flow::Quit) => return Ok(()),
                Err(e) => {
                    self.shared.stats.error(e.side().as_str());
                    if !matches!(
                        e,
                        SessionError::Pool(_)
                            | SessionError::BackendRefused(_)
                            | SessionError::UnknownCommand(_)
                    ) {
                        // A backend that failed mid-command is never reused, and what it
                        // held for the session (transaction, locks) is gone with it.
                        self.lose_backend();
                    }
                    if let Some(packet) = e.to_err_packet() {
                        self.client.send(reply_seq, &packet).await?;
                    }
                    if !e.is_recoverable() {
                        return Err(e);
                    }
                    tracing::debug!(side = ?e.side(), error = %e, "mysql command failed");
                }
            }
        }
    }

    /// Waits for the client's next command while the session holds a backend or a timeout
    /// runs: the held backend's server closing (OFFLINE_HARD), the client's
    /// `wait_timeout`, a KILL, `pool.idle_transaction_timeout_ms`.
    async fn wait_watched(&mut self) -> Woken {
        let client = &mut self.client;
        let backend = &self.held.lease;
        let closed = async {
            match backend {
                Some(lease) => lease.server_closed_wait().await,
                None => std::future::pending().await,
            }
        };
        let idle = crate::session::watch::after(self.idle_timeout);
        let idle_in_transaction = self
            .pins
            .has(PinReason::Transaction)
            .then(|| self.shared.runtime.load().pool.idle_transaction_timeout)
            .flatten();
        let idle_tx = crate::session::watch::after(idle_in_transaction);
        tokio::select! {
            read = client.read_frame() => Woken::Read(read),
            _ = closed => Woken::ServerClosed,
            // The client's own wait_timeout: closed like the server closes it.
            _ = idle => Woken::Read(Ok(None)),
            _ = self.control.session_killed() => Woken::Read(Ok(None)),
            // pool.idle_transaction_timeout_ms: the client is told (as MySQL tells an idle
            // client it disconnects), the session ends, and its backend is reset (rolled
            // back) and reused.
            _ = idle_tx => Woken::IdleInTransaction(
                idle_in_transaction.map_or(0, |t| t.as_millis() as u64),
            ),
        }
    }

    async fn dispatch(&mut self, frame: Frame) -> Result<Flow, SessionError> {
        let reply_seq = frame.last_seq.wrapping_add(1);
        self.statement_bytes = frame.raw.len() as u64;
        let Some(cmd) = frame.first_byte() else {
            return Err(SessionError::Malformed("empty command packet".into()));
        };
        // While a transaction is lost, only statements (which may end it) and commands that
        // touch no data pass.
        if self.lost_tx.is_lost()
            && self.held.lost.is_none()
            && !matches!(
                cmd,
                command::QUIT
                    | command::PING
                    | command::CHANGE_USER
                    | command::RESET_CONNECTION
                    | command::QUERY
                    | command::STMT_CLOSE
                    | command::STMT_RESET
            )
        {
            // Only a statement can end a lost transaction: this command is refused.
            self.answer_lost(crate::session::TxStatement::Other, reply_seq)
                .await?;
            return Ok(Flow::Continue);
        }
        match cmd {
            command::QUIT => return Ok(Flow::Quit),
            command::PING => self.send_ok(reply_seq).await?,
            command::CHANGE_USER => return self.change_user(&frame).await,
            command::RESET_CONNECTION => {
                self.reset_session().await;
                self.send_ok(reply_seq).await?;
            }
            command::QUERY => self.query(&frame).await?,
            command::INIT_DB => self.init_db(&frame).await?,
            command::FIELD_LIST => self.passthrough(&frame, Expect::FieldList).await?,
            command::STATISTICS => self.passthrough(&frame, Expect::Single).await?,
            command::SET_OPTION => {
                // Multi-statement mode is connection state the pool does not track.
                self.pins.set(PinReason::UntrackedState, true);
                self.passthrough(&frame, Expect::OkOrErr).await?;
            }
            command::STMT_PREPARE => self.stmt_prepare(&frame).await?,
            command::STMT_EXECUTE => self.stmt_execute(&frame).await?,
            command::STMT_SEND_LONG_DATA => self.stmt_send_long_data(&frame).await?,
            command::STMT_CLOSE => self.stmt_close(&frame).await?,
            command::STMT_RESET => self.stmt_reset(&frame).await?,
            command::STMT_FETCH => self.stmt_fetch(&frame).await?,
            other => return Err(SessionError::UnknownCommand(other)),
        }
        Ok(Flow::Continue)
    }

    /// Whether the session turned autocommit off.
    fn autocommit_off(&self) -> bool {
        self.state
            .vars
            .get("autocommit")
            .is_some_and(|v| v.eq_ignore_ascii_case("OFF") || v == "0")
    }

    /// Publishes what the session holds to `stats.sessions` when it changed.
    fn publish(&mut self) {
        let held = self.held.lease.as_ref().map(|l| l.address());
        if let Some((b, p, s)) = &self.published {
            if b.as_ref() == held && *p == self.pins && *s == self.state.schema {
                return;
            }
        }
        // Cloned only when it changed: the address is shared by every session on the server.
        let backend = held.cloned();
        let now = (
            backend.clone(),
            self.pins.clone(),
            self.state.schema.clone(),
        );
        let pins: Vec<&str> = self.pins.reasons().map(PinReason::as_str).collect();
        let warnings = self.warnings_hold && pins.is_empty();
        self.shared.stats.sessions.insert(
            self.id,
            crate::stats::SessionSnapshot {
                id: self.id,
                user: self.user_name.clone(),
                client: self.client.peer,
                schema: Arc::from(self.state.schema.as_deref().unwrap_or("")),
                state: if self.pins.is_pinned() {
                    "pinned"
                } else if self.warnings_hold {
                    "warnings"
                } else {
                    "idle"
                },
                backend,
                pins: if warnings {
                    "warnings".to_string()
                } else {
                    pins.join(",")
                },
            },
        );
        self.published = Some(now);
    }

    /// Status flags for answers sqlmux makes itself.
    fn status(&self) -> StatusFlags {
        let mut s = StatusFlags::empty();
        if !self.autocommit_off() {
            s |= StatusFlags::SERVER_STATUS_AUTOCOMMIT;
        }
        if self.pins.has(PinReason::Transaction) {
            s |= StatusFlags::SERVER_STATUS_IN_TRANS;
        }
        s
    }

    async fn send_ok(&mut self, seq: u8) -> Result<(), ClientError> {
        let status = self.status();
        self.client.send(seq, &ok_packet(0, 0, status, 0)).await
    }

    /// COM_RESET_CONNECTION: the session starts over (its backend, if held, is reset).
    async fn reset_session(&mut self) {
        if let Some(mut lease) = self.held.lease.take() {
            if lease.conn().reset().await.is_ok() {
                self.give_back(lease);
            }
        }
        let schema = self.state.schema.take();
        self.state = SessionState {
            schema,
            row_count: -1,
            ..SessionState::default()
        };
        self.pins.reset();
        self.warnings_hold = false;
        self.statements.clear();
        self.cursor_statement = None;
        self.tracking = initial_tracking(self.capabilities);
        self.idle_timeout = None;
        self.lost_tx.clear();
    }

    /// COM_CHANGE_USER: authenticate the new user with this connection's salt, start the
    /// session over, answer OK.
    async fn change_user(&mut self, frame: &Frame) -> Result<Flow, SessionError> {
        let change = parse_change_user(&frame.payload(), self.capabilities)
            .map_err(|e| SessionError::Malformed(e.to_string()))?;
        let mut seq = frame.last_seq.wrapping_add(1);
        let mut plugin = change
            .auth_plugin
            .clone()
            .unwrap_or_else(|| NATIVE_PASSWORD.to_string());
        let mut answer = change.auth_response.clone();
        if plugin != NATIVE_PASSWORD && plugin != CACHING_SHA2_PASSWORD {
            plugin = NATIVE_PASSWORD.to_string();
            self.client
                .send(seq, &auth_switch_request(&plugin, &self.salt))
                .await?;
            let reply = self.client.expect_frame().await?;
            answer = reply.payload().into_owned();
            seq = reply.last_seq.wrapping_add(1);
        }
        let rt = self.shared.runtime.load_full();
        let user = crate::mysql::client_auth::mysql_user(&rt, &change.user).filter(|u| {
            if plugin == CACHING_SHA2_PASSWORD {
                auth::check_sha2(&self.salt, &u.password, &answer)
            } else {
                auth::check_native(&self.salt, &u.password, &answer)
            }
        });
        let Some(user) = user.cloned() else {
            let e = AuthError::Denied {
                user: change.user.clone(),
                host: self.client.peer.ip().to_string(),
                using_password: !answer.is_empty(),
            };
            self.client
                .send(seq, &err_packet(1045, "28000", &e.to_string()))
                .await?;
            return Ok(Flow::Quit);
        };
        self.reset_session().await;
        self.state.schema = change.database.or_else(|| user.default_schema.clone());
        self.user_name = Arc::from(user.name.as_str());
        self.control.set_user(self.user_name.clone());
        self.user = user;
        if let Some(c) = change.collation {
            self.collation = c;
        }
        if plugin == CACHING_SHA2_PASSWORD {
            self.client
                .queue(seq, &[0x01, auth::SHA2_FAST_AUTH_SUCCESS]);
            seq = seq.wrapping_add(1);
        }
        self.send_ok(seq).await?;
        Ok(Flow::Continue)
    }

    /// At the end of the session: a held backend with session state is reset before it
    /// goes back to the pool.
    async fn end(&mut self) {
        let Some(mut lease) = self.held.lease.take() else {
            return;
        };
        if self.pins.is_pinned() {
            let reset =
                tokio::time::timeout(std::time::Duration::from_secs(2), lease.conn().reset()).await;
            if !matches!(reset, Ok(Ok(()))) {
                return;
            }
        }
        self.give_back(lease);
    }
}

/// Bytes of a session's own state (the idle-memory test holds it to a bound).
#[cfg(test)]
pub(crate) const SESSION_SIZE: usize = std::mem::size_of::<Session>();
