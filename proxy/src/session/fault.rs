//! The error core both protocols share: what kind of fault interrupted a statement or a
//! session ([`FaultKind`]), which side it came from ([`Side`]) and what happens next
//! ([`Next`]), decided here once. A protocol's session error names its kind ([`Fault`]);
//! rendering it as an ERR packet or an ErrorResponse is the only per-protocol part.

/// Which side failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The client (socket, bad packets).
    Client,
    /// A backend server.
    Backend,
    /// sqlmux itself (pool limits, routing, configuration).
    Proxy,
}

impl Side {
    /// Lower-case name (stats, metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Backend => "backend",
            Side::Proxy => "proxy",
        }
    }
}

/// What happens to the session after a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The client is told and the session goes on.
    Continue,
    /// The session ends (the client is told when it still can be).
    End,
}

/// What interrupted a statement or a session, whatever the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The client's connection failed or closed.
    ClientFailed,
    /// A complete request sqlmux cannot serve (unknown or malformed command); the framing
    /// is intact, so the session can go on.
    BadRequest,
    /// The client broke the protocol's message flow: the stream cannot be trusted.
    ProtocolViolation,
    /// The client queued more than the protocol's limit before a sync point.
    RequestTooLarge,
    /// A per-session limit (prepared statements) was reached; nothing was done.
    LimitReached,
    /// The session stayed idle inside a transaction past its timeout.
    IdleInTransaction,
    /// No backend connection could be had (pool limit, wait timeout, connect failure).
    PoolUnavailable,
    /// The backend connection was lost while a request ran on it; the request may or may
    /// not have run, the client is told so.
    BackendLost,
    /// The backend was lost with part of its answer already relayed: the client cannot be
    /// told cleanly.
    AnswerCut,
    /// The backend refused the connection or the replay of the session's state.
    BackendRefused,
    /// The statement outlived `pool.query_timeout_ms`; `mid_answer`: part of the answer
    /// had reached the client.
    QueryTimeout {
        /// Part of the answer had reached the client.
        mid_answer: bool,
    },
    /// The session's backend was taken OFFLINE_HARD.
    ServerClosed,
    /// The session's transaction was lost with its backend; refused until it ends.
    TransactionLost,
    /// The user's cluster is gone from the running configuration.
    NoCluster,
    /// No backend held where one must be (a sqlmux bug).
    NotHeld,
    /// sqlmux is shutting down.
    ShuttingDown,
}

impl FaultKind {
    /// The side that failed.
    pub fn side(self) -> Side {
        match self {
            FaultKind::ClientFailed
            | FaultKind::BadRequest
            | FaultKind::ProtocolViolation
            | FaultKind::RequestTooLarge
            | FaultKind::LimitReached
            | FaultKind::IdleInTransaction => Side::Client,
            FaultKind::BackendLost
            | FaultKind::AnswerCut
            | FaultKind::BackendRefused
            | FaultKind::QueryTimeout { .. } => Side::Backend,
            FaultKind::PoolUnavailable
            | FaultKind::ServerClosed
            | FaultKind::TransactionLost
            | FaultKind::NoCluster
            | FaultKind::NotHeld
            | FaultKind::ShuttingDown => Side::Proxy,
        }
    }

    /// What happens to the session.
    pub fn next(self) -> Next {
        match self {
            FaultKind::BadRequest
            | FaultKind::LimitReached
            | FaultKind::PoolUnavailable
            | FaultKind::BackendLost
            | FaultKind::BackendRefused
            | FaultKind::QueryTimeout { mid_answer: false }
            | FaultKind::ServerClosed
            | FaultKind::TransactionLost => Next::Continue,
            FaultKind::ClientFailed
            | FaultKind::ProtocolViolation
            | FaultKind::RequestTooLarge
            | FaultKind::IdleInTransaction
            | FaultKind::AnswerCut
            | FaultKind::QueryTimeout { mid_answer: true }
            | FaultKind::NoCluster
            | FaultKind::NotHeld
            | FaultKind::ShuttingDown => Next::End,
        }
    }
}

/// A protocol's session error: its kind decides its side and what happens next.
pub trait Fault {
    /// What kind of fault this is.
    fn kind(&self) -> FaultKind;

    /// The side that failed.
    fn side(&self) -> Side {
        self.kind().side()
    }

    /// Whether the session goes on after telling the client.
    fn is_recoverable(&self) -> bool {
        self.kind().next() == Next::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mysql::error::SessionError as MySqlError;
    use crate::pg::error::SessionError as PgError;

    #[test]
    fn both_protocols_decide_alike_through_the_kind() {
        let user = || "u".to_string();
        let same = [
            (
                MySqlError::NoCluster(user()).kind(),
                PgError::NoCluster(user()).kind(),
            ),
            (
                MySqlError::ShuttingDown.kind(),
                PgError::ShuttingDown.kind(),
            ),
            (
                MySqlError::IdleInTransaction(1).kind(),
                PgError::IdleInTransaction(1).kind(),
            ),
            (
                MySqlError::ServerClosed(user()).kind(),
                PgError::ServerClosed(user()).kind(),
            ),
        ];
        for (mysql, pg) in same {
            assert_eq!(mysql, pg);
        }
        let timeout = MySqlError::QueryTimeout {
            timeout_ms: 1,
            mid_answer: false,
        };
        assert_eq!(timeout.kind(), PgError::QueryTimeout(1).kind());
        assert!(timeout.is_recoverable());
    }

    #[test]
    fn a_user_whose_cluster_is_gone_ends_the_session_in_both_protocols() {
        // MySQL went on (every statement then failed) while PostgreSQL ended the session.
        let mysql = MySqlError::NoCluster("u".into());
        let pg = PgError::NoCluster("u".into());
        assert!(!mysql.is_recoverable() && !pg.is_recoverable());
        assert_eq!((mysql.side(), pg.side()), (Side::Proxy, Side::Proxy));
    }

    #[test]
    fn what_the_client_can_still_use_goes_on() {
        for kind in [
            FaultKind::BadRequest,
            FaultKind::PoolUnavailable,
            FaultKind::BackendLost,
            FaultKind::BackendRefused,
            FaultKind::TransactionLost,
        ] {
            assert_eq!(kind.next(), Next::Continue, "{kind:?}");
        }
        for kind in [
            FaultKind::ClientFailed,
            FaultKind::ProtocolViolation,
            FaultKind::AnswerCut,
            FaultKind::QueryTimeout { mid_answer: true },
            FaultKind::NotHeld,
        ] {
            assert_eq!(kind.next(), Next::End, "{kind:?}");
        }
    }
}
