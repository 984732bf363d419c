//! Why a PostgreSQL session or one of its requests failed, and the one place where that
//! becomes an ErrorResponse.

use super::backend::BackendError;
use super::conn::ConnError;
use crate::pool::PoolError;
use crate::session::{Fault, FaultKind};
use bytes::Bytes;
use sqlmux_protocol::postgres::backend::{error_response, ErrorFields};
use sqlmux_protocol::postgres::MessageError;

/// A failure while serving a client.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The client connection failed.
    #[error("client: {0}")]
    Client(ConnError),
    /// The client sent something the protocol does not allow.
    #[error("protocol violation: {0}")]
    Malformed(String),
    /// A message sqlmux does not serve.
    #[error("unsupported frontend message type {0:?}")]
    Unsupported(char),
    /// No backend connection could be had.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// The backend failed mid-request (connection lost, protocol error).
    #[error("backend {address}: {source}")]
    Backend {
        /// Server address.
        address: String,
        /// What failed.
        source: BackendError,
    },
    /// The backend connection was lost (it closed, failed or ended itself with FATAL)
    /// while the client's request ran on it: whatever was sent may or may not have run.
    #[error("lost connection to backend {address} while the request ran; it may or may not have run ({detail})")]
    Lost {
        /// Server address.
        address: String,
        /// What the backend said or what failed.
        detail: String,
    },
    /// The session's transaction was lost with its backend (at this address); requests are
    /// refused until the client ends it.
    #[error("current transaction is aborted, commands ignored until end of transaction block (sqlmux: the transaction was lost with its backend {0})")]
    TransactionLost(std::sync::Arc<str>),
    /// The backend refused the session's state replay (SET, prepared statements).
    #[error("backend refused session state replay: {0}")]
    Replay(ErrorFields),
    /// The backend refused the connection sqlmux opened for the session (unknown database,
    /// authentication, too many connections): its error, as the client would get it.
    #[error("backend refused the connection: {0}")]
    Refused(ErrorFields),
    /// The session's backend was closed by the topology (OFFLINE_HARD).
    #[error("backend {0} was taken OFFLINE_HARD; the session's transaction or session state on it is lost")]
    ServerClosed(String),
    /// The user's cluster is missing or not a PostgreSQL cluster.
    #[error("user {0} has no PostgreSQL cluster")]
    NoCluster(String),
    /// No backend held where one must be (a sqlmux bug).
    #[error(transparent)]
    NotHeld(#[from] crate::session::NotHeld),
    /// sqlmux is shutting down and the session holds nothing: it is closed.
    #[error("terminating connection due to administrator command")]
    ShuttingDown,
    /// The statement outlived `pool.query_timeout_ms` and its backend did not answer the
    /// CancelRequest: the backend was closed.
    #[error("canceling statement due to pool.query_timeout_ms ({0} ms); its backend did not answer the cancel and was closed, the statement may or may not have run")]
    QueryTimeout(u64),
    /// The session stayed idle inside a transaction past `pool.idle_transaction_timeout_ms`.
    #[error("terminating connection due to idle-in-transaction timeout (pool.idle_transaction_timeout_ms = {0} ms); the transaction was rolled back")]
    IdleInTransaction(u64),
    /// The client queued more than `postgres.max_pending_bytes` before a Sync or Flush.
    #[error("more than {0} bytes of messages queued before a Sync or Flush (postgres.max_pending_bytes)")]
    TooMuchPending(usize),
}

impl From<MessageError> for SessionError {
    fn from(e: MessageError) -> Self {
        SessionError::Malformed(e.to_string())
    }
}

impl Fault for SessionError {
    fn kind(&self) -> FaultKind {
        match self {
            SessionError::Client(_) => FaultKind::ClientFailed,
            SessionError::Malformed(_) | SessionError::Unsupported(_) => {
                FaultKind::ProtocolViolation
            }
            SessionError::TooMuchPending(_) => FaultKind::RequestTooLarge,
            SessionError::Pool(_) => FaultKind::PoolUnavailable,
            SessionError::Backend { .. } | SessionError::Lost { .. } => FaultKind::BackendLost,
            SessionError::Replay(_) | SessionError::Refused(_) => FaultKind::BackendRefused,
            SessionError::TransactionLost(_) => FaultKind::TransactionLost,
            SessionError::ServerClosed(_) => FaultKind::ServerClosed,
            SessionError::NoCluster(_) => FaultKind::NoCluster,
            SessionError::NotHeld(_) => FaultKind::NotHeld,
            SessionError::ShuttingDown => FaultKind::ShuttingDown,
            // An ErrorResponse may follow rows: the client can always be told.
            SessionError::QueryTimeout(_) => FaultKind::QueryTimeout { mid_answer: false },
            SessionError::IdleInTransaction(_) => FaultKind::IdleInTransaction,
        }
    }
}

impl SessionError {
    /// The ErrorResponse the client gets, if the client can still be told: ERROR when the
    /// session goes on, FATAL when it ends.
    pub fn to_error_response(&self) -> Option<Bytes> {
        self.error_response(if self.is_recoverable() {
            "ERROR"
        } else {
            "FATAL"
        })
    }

    /// The FATAL ErrorResponse of an error that ends the session whatever its kind (at
    /// startup, or when the backend a session holds is lost).
    pub fn to_fatal_response(&self) -> Option<Bytes> {
        self.error_response("FATAL")
    }

    fn error_response(&self, severity: &str) -> Option<Bytes> {
        let code = match self {
            SessionError::Client(_) => return None,
            SessionError::Malformed(_) | SessionError::Unsupported(_) => "08P01",
            SessionError::TooMuchPending(_) => "54000",
            SessionError::Pool(PoolError::WaitTimeout { .. }) => "53300",
            SessionError::Pool(_) => "08006",
            SessionError::Backend { .. }
            | SessionError::Lost { .. }
            | SessionError::ServerClosed(_) => "08006",
            SessionError::Replay(f) | SessionError::Refused(f) => {
                return Some(error_response(
                    severity,
                    &f.code,
                    &format!("sqlmux: {self}: {}", f.message),
                ))
            }
            SessionError::NoCluster(_) => "28000",
            SessionError::NotHeld(_) => "XX000",
            // The server's own codes: query_canceled, idle_in_transaction_session_timeout.
            SessionError::QueryTimeout(_) => "57014",
            SessionError::IdleInTransaction(_) => "25P03",
            // The server's own words at shutdown (admin_shutdown), so drivers reconnect.
            SessionError::ShuttingDown => {
                return Some(error_response(severity, "57P01", &self.to_string()))
            }
            // The server's own words for a failed transaction, then sqlmux's reason.
            SessionError::TransactionLost(_) => {
                return Some(error_response(severity, "25P02", &self.to_string()))
            }
        };
        Some(error_response(severity, code, &format!("sqlmux: {self}")))
    }
}
