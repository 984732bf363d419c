//! Session errors, and the one place where each becomes the ERR packet the client sees.

use super::backend::BackendError;
use super::client::ClientError;
use super::relay::RelayError;
use crate::pool::PoolError;
use sqlmux_protocol::mysql::response::{err_packet, ErrInfo};

pub use crate::session::{Fault, FaultKind, Side};

/// Everything that can interrupt a MySQL session's command.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Client side failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Backend failed outside a relay.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Relay failed (either side).
    #[error(transparent)]
    Relay(#[from] RelayError),
    /// No backend connection could be had.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// The backend refused the connection with its own ERR (unknown database, ...).
    #[error("backend refused the connection: {}", .0.message)]
    BackendRefused(ErrInfo),
    /// The client sent a command sqlmux does not support.
    #[error("unsupported command 0x{0:02x}")]
    UnknownCommand(u8),
    /// The client sent a malformed command.
    #[error("malformed command: {0}")]
    Malformed(String),
    /// The backend the session was pinned to was taken offline (OFFLINE_HARD or removed).
    #[error("backend {0} was taken offline (OFFLINE_HARD); the session's transaction and locks on it are lost")]
    ServerClosed(String),
    /// The user's cluster is gone from the configuration.
    #[error("user {0:?} has no cluster in the running configuration")]
    NoCluster(String),
    /// No backend held where one must be (a sqlmux bug).
    #[error(transparent)]
    NotHeld(#[from] crate::session::NotHeld),
    /// sqlmux is shutting down and the session holds nothing: it is closed.
    #[error("Server shutdown in progress")]
    ShuttingDown,
    /// The statement outlived `pool.query_timeout_ms` and its backend did not answer the
    /// KILL QUERY: the backend was closed.
    #[error("sqlmux: statement cancelled after pool.query_timeout_ms ({timeout_ms} ms); its backend did not answer the cancel and was closed, the statement may or may not have run")]
    QueryTimeout {
        /// The timeout.
        timeout_ms: u64,
        /// Part of the answer had reached the client: it cannot be told, the session ends.
        mid_answer: bool,
    },
    /// The session stayed idle inside a transaction past `pool.idle_transaction_timeout_ms`.
    #[error("sqlmux: the session was idle inside a transaction for longer than pool.idle_transaction_timeout_ms ({0} ms); the transaction was rolled back and the connection closed")]
    IdleInTransaction(u64),
    /// The session holds `mysql.max_session_statements` prepared statements already.
    #[error("Can't create more than max_prepared_stmt_count statements (current value: {0})")]
    TooManyStatements(usize),
}

impl Fault for SessionError {
    fn kind(&self) -> FaultKind {
        match self {
            SessionError::Client(_) | SessionError::Relay(RelayError::Client(_)) => {
                FaultKind::ClientFailed
            }
            SessionError::Relay(_) => FaultKind::AnswerCut,
            SessionError::Backend(_) => FaultKind::BackendLost,
            SessionError::BackendRefused(_) => FaultKind::BackendRefused,
            SessionError::Pool(_) => FaultKind::PoolUnavailable,
            SessionError::UnknownCommand(_) | SessionError::Malformed(_) => FaultKind::BadRequest,
            SessionError::ServerClosed(_) => FaultKind::ServerClosed,
            SessionError::NoCluster(_) => FaultKind::NoCluster,
            SessionError::NotHeld(_) => FaultKind::NotHeld,
            SessionError::ShuttingDown => FaultKind::ShuttingDown,
            SessionError::QueryTimeout { mid_answer, .. } => FaultKind::QueryTimeout {
                mid_answer: *mid_answer,
            },
            SessionError::IdleInTransaction(_) => FaultKind::IdleInTransaction,
            SessionError::TooManyStatements(_) => FaultKind::LimitReached,
        }
    }
}

impl SessionError {
    /// The ERR packet payload for the client, or `None` when the client cannot be told.
    pub fn to_err_packet(&self) -> Option<Vec<u8>> {
        let (code, state, msg) = match self {
            SessionError::Client(ClientError::TooLarge(_)) => (
                1153,
                "08S01",
                "Got a packet bigger than 'max_allowed_packet' bytes".to_string(),
            ),
            SessionError::Client(_) | SessionError::Relay(RelayError::Client(_)) => return None,
            SessionError::BackendRefused(e) => {
                let state = e.sqlstate.map(|s| String::from_utf8_lossy(&s).into_owned());
                return Some(err_packet(
                    e.code,
                    state.as_deref().unwrap_or("HY000"),
                    &e.message,
                ));
            }
            SessionError::Pool(e) => (9001, "HY000", format!("sqlmux: {e}")),
            SessionError::Backend(e) => (
                2013,
                "HY000",
                format!("sqlmux: lost connection to backend: {e}; the statement may or may not have run"),
            ),
            SessionError::Relay(e) => (
                2013,
                "HY000",
                format!("sqlmux: lost connection to backend: {e}"),
            ),
            SessionError::UnknownCommand(c) => (
                1047,
                "08S01",
                format!("Unknown command (0x{c:02x}) not supported by sqlmux"),
            ),
            SessionError::Malformed(why) => (1047, "08S01", format!("Malformed packet: {why}")),
            SessionError::NoCluster(_)
            | SessionError::NotHeld(_)
            | SessionError::ServerClosed(_) => {
                (9001, "HY000", format!("sqlmux: {self}"))
            }
            // The server's own error, so drivers reconnect (elsewhere).
            SessionError::ShuttingDown => (1053, "08S01", self.to_string()),
            SessionError::TooManyStatements(_) => (1461, "42000", self.to_string()),
            // MariaDB's own code for max_statement_time.
            SessionError::QueryTimeout {
                mid_answer: false, ..
            } => (1969, "70100", self.to_string()),
            SessionError::QueryTimeout { .. } => return None,
            // MySQL's own code for a connection closed for inactivity.
            SessionError::IdleInTransaction(_) => (4031, "HY000", self.to_string()),
        };
        Some(err_packet(code, state, &msg))
    }
}
