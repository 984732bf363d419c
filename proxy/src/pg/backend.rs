//! A pooled connection to a PostgreSQL server: connect (optional TLS), authenticate with
//! SCRAM-SHA-256, md5 or cleartext (pgwire's client-side SCRAM), and the state sqlmux knows
//! the connection has (variables it set, statements prepared on it, reported parameters).

use super::cancel::{BackendCancel, CancelRegistry, CancelTarget};
use super::conn::{ConnError, PgConn};
use super::statements::BackendStatements;
use crate::stream::MaybeTls;
use pgwire::api::auth::sasl::scram::ScramClientAuth;
use sqlmux_protocol::postgres::backend::{self as msg, ErrorFields};
use sqlmux_protocol::postgres::{frontend, startup};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// What went wrong with a backend connection.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Socket or framing failure.
    #[error(transparent)]
    Conn(#[from] ConnError),
    /// Connecting took longer than `pool.connect_timeout_ms`.
    #[error("connect timed out after {0} ms")]
    Timeout(u128),
    /// The server answered with an ErrorResponse.
    #[error("{0}")]
    Server(ErrorFields),
    /// Authentication could not be completed.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// The server sent something out of protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A writer's server (at this address) came up as a hot standby: not a writer yet.
    #[error("{0} is in hot standby (read-only): not a writer yet")]
    Standby(String),
}

impl From<sqlmux_protocol::postgres::MessageError> for BackendError {
    fn from(e: sqlmux_protocol::postgres::MessageError) -> Self {
        BackendError::Protocol(e.to_string())
    }
}

/// How to open a backend connection.
pub struct ConnectParams<'a> {
    /// `host:port`.
    pub address: &'a str,
    /// Login.
    pub user: &'a str,
    /// Password.
    pub password: &'a str,
    /// Database.
    pub database: &'a str,
    /// TLS connector, when the server is configured with `tls = true`.
    pub tls: Option<&'a tokio_rustls::TlsConnector>,
    /// Server-side statements kept on the connection.
    pub statement_limit: usize,
    /// Where the connection registers its cancel target.
    pub cancels: &'a Arc<CancelRegistry>,
    /// The password may go in clear over plain TCP (`allow_cleartext_password`).
    pub allow_cleartext: bool,
}

/// One authenticated backend connection.
pub struct BackendConn {
    /// The framed stream.
    pub conn: PgConn,
    /// Its entry among the cancel targets (`None`: the server sent no BackendKeyData).
    pub cancel: Option<BackendCancel>,
    /// Parameters as the server last reported them (ParameterStatus).
    pub params: HashMap<String, String>,
    /// Variables sqlmux set on this connection (name -> SQL value text).
    pub vars: super::session::Vars,
    /// Protocol-level statements prepared here by sqlmux.
    pub statements: BackendStatements,
    /// SQL-level PREPAREd statements here: name -> PREPARE text.
    pub sql_prepared: HashMap<String, Arc<str>>,
    /// Session-level state sqlmux cannot describe was left here (cleaned before reuse).
    pub dirty: bool,
    /// Sequence values (currval/lastval) may be set here: cleared before the next use.
    pub seq_dirty: bool,
    /// A second descriptor of the socket, for a failover cut.
    cut_handle: Option<crate::workers::CutHandle>,
}

impl crate::workers::Rehome for BackendConn {
    fn rehome(mut self: Box<Self>) -> std::io::Result<Box<Self>> {
        self.conn.rehome()?;
        Ok(self)
    }
}

impl crate::workers::Pooled for BackendConn {
    fn peer_closed(&self) -> bool {
        self.conn.peer_closed()
    }

    fn socket(&self) -> Option<crate::workers::CutHandle> {
        self.cut_handle.clone()
    }
}

impl BackendConn {
    /// Connects and authenticates.
    pub async fn connect(p: &ConnectParams<'_>, timeout: Duration) -> Result<Self, BackendError> {
        match tokio::time::timeout(timeout, Self::open(p)).await {
            Ok(r) => r,
            Err(_) => Err(BackendError::Timeout(timeout.as_millis())),
        }
    }

    async fn open(p: &ConnectParams<'_>) -> Result<Self, BackendError> {
        let tcp = TcpStream::connect(p.address).await.map_err(ConnError::Io)?;
        crate::stream::tune(&tcp);
        let mut conn = PgConn::new(MaybeTls::Plain(tcp));
        if let Some(connector) = p.tls {
            conn.send(&startup::ssl_request()).await?;
            match conn.read_byte().await? {
                b'S' => {
                    conn.connect_tls(connector, p.address).await?;
                }
                _ => return Err(BackendError::Protocol("server refused TLS".into())),
            }
        }
        conn.send(&startup::startup_message(&[
            ("user", p.user),
            ("database", p.database),
        ]))
        .await?;
        authenticate(&mut conn, p.user, p.password, p.allow_cleartext).await?;
        let mut backend = BackendConn {
            cut_handle: conn.cut_handle(),
            conn,
            cancel: None,
            params: HashMap::new(),
            vars: Default::default(),
            statements: BackendStatements::with_limit(p.statement_limit),
            sql_prepared: HashMap::new(),
            dirty: false,
            seq_dirty: false,
        };
        loop {
            let m = backend.conn.expect().await?;
            match m.tag() {
                msg::PARAMETER_STATUS => {
                    backend.note_parameter(m.body())?;
                }
                msg::BACKEND_KEY_DATA => {
                    let (pid, key) = msg::parse_backend_key_data(m.body())?;
                    backend.cancel = Some(p.cancels.add_backend(CancelTarget {
                        address: Arc::from(p.address),
                        pid,
                        key,
                    }));
                }
                msg::READY_FOR_QUERY => return Ok(backend),
                msg::ERROR_RESPONSE => {
                    return Err(BackendError::Server(msg::parse_error(m.body())?))
                }
                msg::NOTICE_RESPONSE | msg::NEGOTIATE_PROTOCOL_VERSION => {}
                other => {
                    return Err(BackendError::Protocol(format!(
                        "unexpected message {:?} during startup",
                        char::from(other)
                    )))
                }
            }
        }
    }

    /// Whether the server said at startup that it is a hot standby (`in_hot_standby`,
    /// reported by PostgreSQL 14 and later): it takes no writes.
    pub fn in_hot_standby(&self) -> bool {
        self.params.get("in_hot_standby").is_some_and(|v| v == "on")
    }

    /// Records a ParameterStatus body; returns the name and value.
    pub fn note_parameter(&mut self, body: &[u8]) -> Result<(String, String), BackendError> {
        let (name, value) = msg::parse_parameter_status(body)?;
        self.params.insert(name.clone(), value.clone());
        Ok((name, value))
    }

    /// Runs SQL that sqlmux sends itself (simple protocol) and reads to ReadyForQuery.
    /// Returns the first column of the first row, if any; the first error as `Server`.
    pub async fn simple(&mut self, sql: &str) -> Result<Option<String>, BackendError> {
        Ok(self.simple_column(sql).await?.into_iter().next().flatten())
    }

    /// Clears every piece of session state (DISCARD ALL): variables, prepared statements,
    /// temporary tables, LISTEN, advisory locks, cursors.
    pub async fn discard_all(&mut self) -> Result<(), BackendError> {
        self.simple("DISCARD ALL").await?;
        self.forget_session_state();
        Ok(())
    }

    /// What sqlmux knows of the connection's session state after a DISCARD ALL/RESET.
    pub fn forget_session_state(&mut self) {
        self.vars = Default::default();
        self.statements.clear();
        self.sql_prepared.clear();
        self.dirty = false;
        self.seq_dirty = false;
    }

    /// Runs SQL that sqlmux sends itself; returns the first column of every row (the first
    /// error as `Server`).
    pub async fn simple_column(&mut self, sql: &str) -> Result<Vec<Option<String>>, BackendError> {
        Ok(self
            .simple_rows(sql)
            .await?
            .into_iter()
            .map(|row| row.into_iter().next().flatten())
            .collect())
    }

    /// Runs SQL that sqlmux sends itself; returns every row's columns as text (NULL as
    /// `None`; the first error as `Server`).
    pub async fn simple_rows(
        &mut self,
        sql: &str,
    ) -> Result<Vec<Vec<Option<String>>>, BackendError> {
        self.conn.send(&frontend::query(sql)).await?;
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            let m = self.conn.expect().await?;
            match m.tag() {
                msg::DATA_ROW => rows.push(columns(m.body())),
                msg::PARAMETER_STATUS => {
                    self.note_parameter(m.body())?;
                }
                msg::ERROR_RESPONSE if error.is_none() => error = Some(msg::parse_error(m.body())?),
                msg::COPY_IN_RESPONSE => {
                    // sqlmux's own statements never copy: refuse, then read to ReadyForQuery.
                    self.conn.send(b"f\0\0\0\x05\0").await?;
                }
                msg::READY_FOR_QUERY => {
                    return match error {
                        Some(e) => Err(BackendError::Server(e)),
                        None => Ok(rows),
                    };
                }
                _ => {}
            }
        }
    }
}

/// The first column of a DataRow body, as text (`None` for NULL or a malformed row).
pub fn first_column(body: &[u8]) -> Option<String> {
    let n = i16::from_be_bytes([*body.first()?, *body.get(1)?]);
    if n < 1 {
        return None;
    }
    let len = i32::from_be_bytes(body.get(2..6)?.try_into().ok()?);
    if len < 0 {
        return None;
    }
    let v = body.get(6..6 + len as usize)?;
    Some(String::from_utf8_lossy(v).into_owned())
}

/// The columns of a DataRow body, as text (NULL, or what a malformed row lacks, as `None`).
fn columns(body: &[u8]) -> Vec<Option<String>> {
    let Some(n) = body.get(..2).map(|b| i16::from_be_bytes([b[0], b[1]])) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(n.max(0) as usize);
    let mut rest = &body[2..];
    for _ in 0..n.max(0) {
        let Some(len) = rest
            .get(..4)
            .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        else {
            out.push(None);
            continue;
        };
        rest = &rest[4..];
        let value = usize::try_from(len)
            .ok()
            .and_then(|len| rest.get(..len).map(|v| (v, len)));
        match value {
            Some((v, len)) => {
                out.push(Some(String::from_utf8_lossy(v).into_owned()));
                rest = &rest[len..];
            }
            None => out.push(None),
        }
    }
    out
}

/// Answers the server's authentication request.
async fn authenticate(
    conn: &mut PgConn,
    user: &str,
    password: &str,
    allow_cleartext: bool,
) -> Result<(), BackendError> {
    let mut scram_first = None;
    let mut scram_final = None;
    loop {
        let m = conn.expect().await?;
        match m.tag() {
            msg::AUTHENTICATION => {}
            msg::ERROR_RESPONSE => return Err(BackendError::Server(msg::parse_error(m.body())?)),
            msg::NOTICE_RESPONSE => continue,
            other => {
                return Err(BackendError::Protocol(format!(
                    "expected authentication, got {:?}",
                    char::from(other)
                )))
            }
        }
        let (code, data) = msg::parse_authentication(m.body())?;
        match code {
            0 => return Ok(()),
            3 if !crate::credentials::may_send_cleartext(conn.is_tls(), allow_cleartext) => {
                return Err(BackendError::Auth(
                    crate::credentials::CLEARTEXT_REFUSED.into(),
                ))
            }
            3 => conn.send(&frontend::password(password.as_bytes())).await?,
            5 => {
                let salt = data
                    .get(..4)
                    .ok_or_else(|| BackendError::Protocol("short md5 salt".into()))?;
                let hashed = pgwire::api::auth::md5pass::hash_md5_password(user, password, salt);
                conn.send(&frontend::password(hashed.as_bytes())).await?;
            }
            10 => {
                let offers_scram = data.split(|b| *b == 0).any(|m| m == b"SCRAM-SHA-256");
                if !offers_scram {
                    return Err(BackendError::Auth("server offers no SCRAM-SHA-256".into()));
                }
                let client = ScramClientAuth::new(user.to_string(), password.to_string());
                let (first, waiting) = client
                    .build_client_first()
                    .map_err(|e| BackendError::Auth(e.to_string()))?;
                conn.send(&frontend::sasl_initial_response(
                    "SCRAM-SHA-256",
                    first.as_bytes(),
                ))
                .await?;
                scram_first = Some(waiting);
            }
            11 => {
                let waiting = scram_first
                    .take()
                    .ok_or_else(|| BackendError::Protocol("SASLContinue before SASL".into()))?;
                let (fin, verify) = waiting
                    .build_client_final(data)
                    .map_err(|e| BackendError::Auth(e.to_string()))?;
                conn.send(&frontend::sasl_response(fin.as_bytes())).await?;
                scram_final = Some(verify);
            }
            12 => {
                let verify = scram_final.take().ok_or_else(|| {
                    BackendError::Protocol("SASLFinal before SASLContinue".into())
                })?;
                verify
                    .verify_server_final(data)
                    .map_err(|e| BackendError::Auth(e.to_string()))?;
            }
            other => {
                return Err(BackendError::Auth(format!(
                    "unsupported authentication request {other}"
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_column_of_data_rows() {
        assert_eq!(first_column(b"\0\x01\0\0\0\x0242"), Some("42".into()));
        assert_eq!(first_column(b"\0\x01\xff\xff\xff\xff"), None);
        assert_eq!(first_column(b"\0\x01\0\0\0\x09ab"), None);
        assert_eq!(first_column(b""), None);
        assert_eq!(
            columns(b"\0\x03\0\0\0\x01t\xff\xff\xff\xff\0\0\0\x0212"),
            [Some("t".into()), None, Some("12".into())]
        );
        assert_eq!(columns(b"\0\x02\0\0\0\x09ab"), [None, None]);
    }
}
