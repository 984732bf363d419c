//! One PostgreSQL client session: startup, then a backend per transaction. The backend goes
//! back to the pool at ReadyForQuery `I` unless a pin (LISTEN, advisory lock, temporary
//! table, WITH HOLD cursor, untracked state) keeps it.
//!
//! - [`lease`]: borrowing a backend (route, checkout, SET replay) and giving it back.
//! - [`simple`]: the simple query protocol.
//! - [`effects`]: what a completed statement changes in the session (parameters, SQL-level
//!   prepared statements, pins and their release).
//! - [`extended`]: Parse/Bind/Describe/Execute/Close batches, named statements mapped to
//!   the backend's own.
//! - [`relay`]: relaying the backend's answer raw, in step with what the client sent.
//! - [`sequences`]: lastval()/currval() answered from the session's own values.
//! - [`vars`]: tracked run-time parameters (SET/RESET) and their replay.

mod effects;
mod extended;
mod lease;
mod relay;
mod sequences;
mod simple;
mod vars;

pub use vars::{startup_vars, Vars};

use super::auth::{accept, Login, Opening};
use super::backend::BackendConn;
use super::cancel::CancelSlot;
use super::conn::PgConn;
use super::error::SessionError;
use super::startup_key::CancelKey;
use super::statements::ClientStatement;
use crate::session::{Fault, PinReason, Pins, StatementMemo};
use crate::shared::Shared;
use crate::stream::MaybeTls;
use crate::workers::WorkerId;
use sqlmux_config::User;
use sqlmux_protocol::dialect::postgres;
use sqlmux_protocol::postgres::backend as msg;
use sqlmux_protocol::postgres::frame::Message;
use sqlmux_protocol::postgres::frontend as fe;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpStream;

/// Serves one accepted client connection until it ends.
pub async fn serve(shared: Arc<Shared>, tcp: TcpStream, peer: SocketAddr, worker: WorkerId) {
    // The login is boxed, like every request below: an idle session's task holds only
    // what it needs between requests, not what the login went through.
    let Some(mut session) = Box::pin(login(&shared, tcp, peer, worker)).await else {
        return;
    };
    let result = session.run().await;
    Box::pin(session.close(result)).await;
}

/// Admits, authenticates and starts the client's session; `None` when it was refused or
/// its start failed (the client was told why).
async fn login(
    shared: &Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    worker: WorkerId,
) -> Option<Session> {
    crate::stream::tune(&tcp);
    let mut client = PgConn::new(MaybeTls::Plain(tcp));
    client.limit_messages(crate::session::admission::MAX_PRELOGIN_PACKET);
    let limits = shared.runtime.load().clients.clone();
    // Full: the startup is still read (a CancelRequest is served), then refused.
    let slot = shared.admission.admit(limits.max_connections);
    let opening = accept(&mut client, shared, slot.is_none());
    let Some(opening) = crate::session::admission::within_deadline(&limits, opening).await else {
        tracing::info!(%peer, timeout_ms = limits.handshake_timeout.as_millis() as u64, "postgres client closed: no login in time");
        return None;
    };
    let login = match opening {
        Ok(Opening::Session(login)) => login,
        Ok(Opening::Cancelled | Opening::Gone) => return None,
        Err(e) => {
            tracing::info!(%peer, error = %e, "postgres client refused");
            if let Some(m) = e.to_error_response() {
                let _ = client.send(&m).await;
            }
            return None;
        }
    };
    client.limit_messages(super::conn::MAX_MESSAGE);
    let id = shared.next_connection_id();
    let key = CancelKey::random(if login.minor >= 2 { 32 } else { 4 });
    let cancel = shared.pg.cancel.register(id, key.clone());
    shared.stats.session_started();
    let mut session = Session::new(shared.clone(), client, peer, id, login, cancel, worker);
    session._slot = slot;
    match session.start(&key).await {
        Ok(()) => Some(session),
        Err(e) => {
            if let Some(fatal) = e.to_fatal_response() {
                let _ = session.client.send(&fatal).await;
            }
            session.close(Err(e)).await;
            None
        }
    }
}

/// What woke the session up.
enum Event {
    /// A client message (or the client's end).
    Client(Result<Option<Message>, super::conn::ConnError>),
    /// A message from the held backend between requests.
    Backend(Result<Option<Message>, super::conn::ConnError>),
    /// The held backend's server was closed (OFFLINE_HARD).
    Closed,
    /// The session sat inside a transaction past `pool.idle_transaction_timeout_ms`.
    IdleInTransaction(u64),
}

/// A client session after authentication.
pub(super) struct Session {
    shared: Arc<Shared>,
    client: PgConn,
    peer: SocketAddr,
    id: u32,
    user: Arc<User>,
    /// The pool partition of the session's backends: its user name and database.
    partition: Arc<crate::pool::Partition>,
    /// Run-time parameters from the startup packet (name -> SQL value): what RESET ALL and
    /// DISCARD ALL return to.
    startup_vars: Vars,
    /// Run-time parameters the session has set (name -> SQL value), replayed on backends.
    vars: Vars,
    /// A SET ran inside the open transaction: re-read those values when it ends.
    tx_vars: Vec<String>,
    /// ParameterStatus values as the client knows them (shared with the sessions that know
    /// the same; copied on a change).
    params: Arc<crate::shared::ParamSet>,
    pins: Pins,
    /// The backend side: the lent connection, the remembered pool, a backend lost idle.
    held: crate::session::Held<BackendConn>,
    /// Transaction status of the last ReadyForQuery the client got.
    tx_status: u8,
    /// The client's named statements.
    statements: HashMap<Vec<u8>, Arc<ClientStatement>>,
    /// The client's last unnamed Parse (re-sent when a Bind needs it on another backend).
    unnamed: Option<extended::UnnamedStatement>,
    /// SQL-level PREPAREd statements: name -> PREPARE text.
    sql_prepared: HashMap<String, Arc<str>>,
    /// Extended-protocol messages waiting for Sync or Flush.
    batch: Vec<Message>,
    /// Bytes of `batch` (bounded by `postgres.max_pending_bytes`).
    batch_bytes: usize,
    /// The batch being served was flushed without a Sync.
    awaiting_sync: bool,
    /// A request failed before its Sync: messages up to the Sync are dropped, as a server
    /// does after an error.
    skip_to_sync: bool,
    cancel: Arc<CancelSlot>,
    published: Option<(Option<Arc<str>>, Pins)>,
    /// The session's lastval()/currval() values.
    seq: sequences::SequenceState,
    /// The last statement text, classified and digested once while it repeats.
    memo: StatementMemo<postgres::Classification>,
    /// The runtime and topology the session routes with, checked per statement.
    snapshots: crate::shared::Snapshots,
    /// The step queue of the last answer relayed, kept for the next (no allocation per
    /// statement).
    spare_steps: std::collections::VecDeque<relay::Step>,
    /// The buffer of the last extended batch planned, kept for the next.
    spare_out: bytes::BytesMut,
    /// The completed-statements vector of the last answer, kept for the next.
    spare_completed: Vec<usize>,
    /// The classes of the last extended batch's messages, kept for the next.
    spare_classes: Vec<postgres::Classification>,
    /// The next relay may take back a Bind that failed on a stale backend statement (the
    /// batch can be re-sent from that Bind: nothing before it ran).
    retry_stale_plan: bool,
    /// Size of the request being served (bounds the failover hold queue in bytes).
    statement_bytes: u64,
    /// A transaction lost with its backend: failed until the client ends it.
    lost_tx: crate::session::LostTransaction,
    /// The next relay drops one ParameterDescription: the client already has it from the
    /// Describe that found its statement stale.
    skip_parameter_description: bool,
    /// The effects vector of the last extended batch, kept for the next.
    spare_effects: Vec<simple::Effect>,
    /// The data-path worker this session runs on.
    worker: WorkerId,
    /// The session's place among `clients.max_connections`, given back when it ends.
    _slot: Option<crate::session::admission::Slot>,
}

impl Session {
    fn new(
        shared: Arc<Shared>,
        client: PgConn,
        peer: SocketAddr,
        id: u32,
        login: Login,
        cancel: Arc<CancelSlot>,
        worker: WorkerId,
    ) -> Self {
        let startup_vars =
            vars::shared_startup_vars(&shared.pg.startup_vars, vars::startup_vars(&login.params));
        let partition = Arc::new(crate::pool::Partition::new(
            shared.name(&login.user.name),
            shared.name(&login.database),
            0,
        ));
        let snapshots = crate::shared::Snapshots::new(&shared);
        Self {
            worker,
            shared,
            client,
            peer,
            id,
            partition,
            user: login.user,
            vars: startup_vars.clone(),
            startup_vars,
            tx_vars: Vec::new(),
            params: Default::default(),
            pins: Pins::default(),
            held: Default::default(),
            tx_status: b'I',
            statements: HashMap::new(),
            unnamed: None,
            sql_prepared: HashMap::new(),
            batch: Vec::new(),
            batch_bytes: 0,
            awaiting_sync: false,
            skip_to_sync: false,
            cancel,
            published: None,
            seq: Default::default(),
            memo: StatementMemo::with_integer_literals(postgres::integer_literals),
            snapshots,
            spare_steps: Default::default(),
            spare_out: Default::default(),
            spare_completed: Vec::new(),
            spare_classes: Vec::new(),
            retry_stale_plan: false,
            skip_parameter_description: false,
            statement_bytes: 0,
            lost_tx: Default::default(),
            spare_effects: Vec::new(),
            _slot: None,
        }
    }

    /// Ends the session: logs how, gives its backend back, unregisters it.
    async fn close(mut self, result: Result<(), SessionError>) {
        if let Err(e) = result {
            tracing::debug!(peer = %self.peer, side = ?e.side(), error = %e, "postgres session ended with an error");
        }
        self.end().await;
        let (shared, id) = (self.shared.clone(), self.id);
        drop(self);
        shared.pg.cancel.unregister(id);
        shared.stats.session_ended(id);
    }

    /// Finishes the startup: a backend with the session's parameters tells the client the
    /// server's ParameterStatus values; then BackendKeyData and ReadyForQuery.
    async fn start(&mut self, key: &CancelKey) -> Result<(), SessionError> {
        let writer = self.cluster()?.writer_hostgroup;
        self.acquire(writer).await?;
        if let Some(lease) = self.held.lease.as_mut() {
            let mut params: Vec<_> = lease
                .conn()
                .params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            params.sort();
            for (k, v) in &params {
                self.client.queue(&msg::parameter_status(k, v));
            }
            let known: crate::shared::ParamSet = params.into_iter().collect();
            self.params = crate::shared::shared_copy(
                &self.shared.pg.param_sets,
                &known,
                crate::shared::SHARED_PARAM_SETS,
                || (known.clone(), Arc::new(known.clone())),
            );
        }
        self.release_if_unpinned().await;
        self.client
            .queue(&msg::backend_key_data(self.id, key.bytes()));
        self.client.queue(&msg::ready_for_query(b'I'));
        self.client.flush().await.map_err(SessionError::Client)?;
        self.publish();
        Ok(())
    }

    fn cluster(&self) -> Result<sqlmux_config::Cluster, SessionError> {
        self.shared
            .runtime
            .load()
            .cluster(&self.user.cluster)
            .cloned()
            .ok_or_else(|| SessionError::NoCluster(self.user.name.clone()))
    }

    /// Queues an extended-protocol message until its Sync or Flush, within
    /// `postgres.max_pending_bytes` (past it the session ends: a client cannot grow sqlmux's
    /// memory without bound).
    fn queue_batch(&mut self, m: Message) -> Result<(), SessionError> {
        let limit = self.snapshots.load().0.postgres.max_pending_bytes;
        self.batch_bytes += m.body().len() + 5;
        if self.batch_bytes > limit {
            self.batch.clear();
            self.batch_bytes = 0;
            return Err(SessionError::TooMuchPending(limit));
        }
        self.batch.push(m);
        Ok(())
    }

    /// Waits for the next event of a session holding a backend: the client's request, a
    /// message from the backend (LISTEN), its server closing, the idle-in-transaction
    /// timeout.
    async fn wait_pinned(&mut self) -> Event {
        let Some(lease) = self.held.lease.as_mut() else {
            return Event::Client(self.client.read().await);
        };
        let client = &mut self.client;
        let idle_in_transaction = (self.tx_status != b'I')
            .then(|| self.snapshots.load().0.pool.idle_transaction_timeout)
            .flatten();
        let idle_tx = crate::session::watch::after(idle_in_transaction);
        let (conn, closed) = lease.conn_and_closed();
        tokio::select! {
            read = client.read() => Event::Client(read),
            m = conn.conn.read() => Event::Backend(m),
            _ = closed => Event::Closed,
            _ = idle_tx => Event::IdleInTransaction(
                idle_in_transaction.map_or(0, |t| t.as_millis() as u64),
            ),
        }
    }

    async fn run(&mut self) -> Result<(), SessionError> {
        loop {
            // Idle until the next request: no client buffers held meanwhile.
            self.client.release_buffers();
            // A session holding a backend between requests (a pin) also watches it: LISTEN
            // notifications are relayed as they come, and an OFFLINE_HARD close ends it.
            // Boxed: an idle session without a backend keeps only the client read.
            let event = match self.held.lease.is_some() {
                // The usual case between transactions: only the client can speak.
                false => Event::Client(self.client.read().await),
                true => Box::pin(self.wait_pinned()).await,
            };
            let read = match event {
                Event::Client(read) => read,
                Event::IdleInTransaction(ms) => {
                    // PgBouncer's idle_transaction_timeout: the server's own FATAL; the
                    // session ends and its backend is rolled back and reused.
                    let e = SessionError::IdleInTransaction(ms);
                    tracing::info!(peer = %self.peer, "{e}");
                    if let Some(fatal) = e.to_fatal_response() {
                        let _ = self.client.send(&fatal).await;
                    }
                    return Err(e);
                }
                Event::Closed => {
                    self.held.note_closed_while_idle();
                    self.lose_backend();
                    self.publish();
                    continue;
                }
                Event::Backend(m) => {
                    Box::pin(self.idle_backend_message(m)).await?;
                    continue;
                }
            };
            let m = match read {
                Ok(Some(m)) => m,
                Ok(None) => return Ok(()),
                Err(e) => {
                    let e = match e {
                        super::conn::ConnError::Frame(f) => SessionError::Malformed(f.to_string()),
                        other => SessionError::Client(other),
                    };
                    if let Some(r) = e.to_error_response() {
                        let _ = self.client.send(&r).await;
                    }
                    return Err(e);
                }
            };
            if m.tag() == fe::TERMINATE {
                return Ok(());
            }
            if crate::drain::closes_session(&self.shared.drain, self.held.lease.is_some()) {
                // sqlmux is shutting down: the server's own FATAL (57P01), so the driver
                // reconnects (elsewhere).
                if let Some(r) = SessionError::ShuttingDown.to_fatal_response() {
                    let _ = self.client.send(&r).await;
                }
                return Ok(());
            }
            if let Err(e) = Box::pin(self.dispatch(m)).await {
                Box::pin(self.fail(e)).await?;
            }
            self.publish();
        }
    }

    /// A message from a held backend while no request runs: notifications, notices and
    /// parameter changes go to the client; anything else means the connection is unusable.
    async fn idle_backend_message(
        &mut self,
        m: Result<Option<Message>, super::conn::ConnError>,
    ) -> Result<(), SessionError> {
        match m {
            Ok(Some(m))
                if matches!(
                    m.tag(),
                    msg::NOTIFICATION_RESPONSE | msg::NOTICE_RESPONSE | msg::PARAMETER_STATUS
                ) =>
            {
                self.client.send(&m.raw).await.map_err(SessionError::Client)
            }
            other if self.pins.only_a_transaction() && self.tx_status != b'I' => {
                // Only the transaction was on it: lost, and failed until the client ends it;
                // the session goes on.
                tracing::info!(message = ?other.as_ref().map(|m| m.as_ref().map(|m| char::from(m.tag()))), "backend of an open transaction lost while idle");
                self.lose_backend();
                Ok(())
            }
            other => {
                let address = self
                    .held
                    .lease
                    .as_ref()
                    .map(|l| l.address().to_string())
                    .unwrap_or_default();
                tracing::info!(%address, message = ?other.as_ref().map(|m| m.as_ref().map(|m| char::from(m.tag()))), "held backend failed while idle");
                self.lose_backend();
                let e = match other {
                    Err(e) => SessionError::Backend {
                        address,
                        source: e.into(),
                    },
                    _ => SessionError::Backend {
                        address,
                        source: super::backend::BackendError::Protocol(
                            "backend closed the connection or sent an unexpected message".into(),
                        ),
                    },
                };
                // The session's transaction or session state is gone: a server would end it.
                if let Some(fatal) = e.to_fatal_response() {
                    let _ = self.client.send(&fatal).await;
                }
                Err(e)
            }
        }
    }

    /// Tells the client about a failed request; ends the session when it cannot go on.
    async fn fail(&mut self, e: SessionError) -> Result<(), SessionError> {
        self.shared.stats.error(e.side().as_str());
        // A backend that failed, or that may be in the middle of an answer the client will
        // never read (the client side failed), is never returned to the pool.
        if !e.is_recoverable()
            || matches!(
                e,
                SessionError::Backend { .. }
                    | SessionError::Lost { .. }
                    | SessionError::ServerClosed(_)
                    | SessionError::QueryTimeout(_)
            )
        {
            self.lose_backend();
        }
        self.batch.clear();
        if let Some(r) = e.to_error_response() {
            self.client.queue(&r);
            if e.is_recoverable() && self.awaiting_sync {
                self.skip_to_sync = true;
            } else if e.is_recoverable() {
                let status = if self.held.lease.is_some() || self.lost_tx.is_lost() {
                    self.tx_status
                } else {
                    b'I'
                };
                self.tx_status = status;
                self.client.queue(&msg::ready_for_query(status));
            }
            self.client.flush().await.map_err(SessionError::Client)?;
        }
        if e.is_recoverable() {
            tracing::debug!(side = ?e.side(), error = %e, "postgres request failed");
            Ok(())
        } else {
            Err(e)
        }
    }

    async fn dispatch(&mut self, m: Message) -> Result<(), SessionError> {
        self.statement_bytes = m.raw.len() as u64;
        if self.skip_to_sync {
            if m.tag() == fe::SYNC {
                self.skip_to_sync = false;
                self.awaiting_sync = false;
                self.client.queue(&msg::ready_for_query(self.tx_status));
                self.client.flush().await.map_err(SessionError::Client)?;
            }
            return Ok(());
        }
        self.awaiting_sync = false;
        match m.tag() {
            fe::QUERY => self.simple_query(m).await,
            fe::PARSE | fe::BIND | fe::DESCRIBE | fe::EXECUTE | fe::CLOSE => self.queue_batch(m),
            fe::SYNC => {
                self.queue_batch(m)?;
                self.run_batch().await
            }
            fe::FLUSH => self.run_batch().await,
            fe::FUNCTION_CALL => self.function_call(m).await,
            // Copy messages outside COPY are ignored, as a server does after a failed COPY.
            fe::COPY_DATA | fe::COPY_DONE | fe::COPY_FAIL => Ok(()),
            other => Err(SessionError::Unsupported(char::from(other))),
        }
    }

    /// Publishes what the session holds to `stats.sessions` when it changed.
    fn publish(&mut self) {
        let held = self.held.lease.as_ref().map(|l| l.address());
        if let Some((b, p)) = &self.published {
            if b.as_ref() == held && *p == self.pins {
                return;
            }
        }
        // Cloned only when it changed: the address is shared by every session on the server.
        let backend = held.cloned();
        let pins: Vec<&str> = self.pins.reasons().map(PinReason::as_str).collect();
        self.shared.stats.sessions.insert(
            self.id,
            crate::stats::SessionSnapshot {
                id: self.id,
                user: self.partition.user().clone(),
                client: self.peer,
                schema: self.partition.schema().clone(),
                state: if self.pins.is_pinned() {
                    "pinned"
                } else {
                    "idle"
                },
                backend: backend.clone(),
                pins: pins.join(","),
            },
        );
        self.published = Some((backend, self.pins.clone()));
    }

    /// At the end of the session: a held backend is cleaned before it goes back.
    async fn end(&mut self) {
        let Some(mut lease) = self.held.lease.take() else {
            return;
        };
        self.cancel.clear();
        let clean = async {
            let conn = lease.conn();
            if self.tx_status != b'I' {
                conn.simple("ROLLBACK").await?;
            }
            conn.discard_all().await
        };
        if matches!(
            tokio::time::timeout(std::time::Duration::from_secs(2), clean).await,
            Ok(Ok(()))
        ) {
            lease.checkin();
        }
    }
}

/// Bytes of a session's own state (the idle-memory test holds it to a bound).
#[cfg(test)]
pub(crate) const SESSION_SIZE: usize = std::mem::size_of::<Session>();
