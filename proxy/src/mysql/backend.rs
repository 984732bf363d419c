//! A connection to a MySQL/MariaDB server: connect, optional TLS, authenticate (through
//! mysql_common's client-side auth plugins), then carry commands.

mod login;

use crate::stream::MaybeTls;
use bytes::BytesMut;
use mysql_common::auth::plugins::{AuthProc, ChallengeResponsePlugin, Context};
use mysql_common::constants::MariadbCapabilities;
use mysql_common::io::ParseBuf;
use mysql_common::packets::{
    AuthPlugin, AuthSwitchRequest, HandshakePacket, HandshakeResponse, SslRequest,
};
use mysql_common::proto::MySerialize;
use sqlmux_protocol::mysql::constants::{command, CapabilityFlags};
use sqlmux_protocol::mysql::packet::{decode_frame, encode, Frame};
use sqlmux_protocol::mysql::response::{parse_err, parse_ok, ErrInfo, OkInfo};
use sqlmux_protocol::mysql::session_track::ClientTracking;
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Turns on session tracking for every statement on the connection.
const TRACKING: &str =
    "SET session_track_schema = 1, session_track_system_variables = '*', session_track_state_change = 1";

/// Where the collation byte sits in a HandshakeResponse41 payload (after the capability
/// flags and the maximum packet size).
const COLLATION_OFFSET: usize = 8;

/// Largest logical packet accepted from a server in a control position.
const MAX_SERVER_PACKET: usize = 1 << 30;

/// What went wrong talking to a backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Socket error.
    #[error("backend i/o error: {0}")]
    Io(#[from] io::Error),
    /// The server closed the connection.
    #[error("backend closed the connection")]
    Closed,
    /// The server sent something the proxy cannot follow.
    #[error("backend protocol error: {0}")]
    Protocol(String),
    /// The server answered with an ERR packet.
    #[error("backend error {}: {}", .0.code, .0.message)]
    Server(ErrInfo),
    /// TLS towards the backend failed.
    #[error("backend tls error: {0}")]
    Tls(String),
    /// The server asked for the password in clear over plain TCP.
    #[error("backend login refused: {}", crate::credentials::CLEARTEXT_REFUSED)]
    Cleartext,
}

/// Capabilities every backend connection asks for (session tracking included: the
/// relay strips it for clients that did not ask for it).
pub const BACKEND_CAPABILITIES: CapabilityFlags = CapabilityFlags::CLIENT_LONG_PASSWORD
    .union(CapabilityFlags::CLIENT_LONG_FLAG)
    .union(CapabilityFlags::CLIENT_PROTOCOL_41)
    .union(CapabilityFlags::CLIENT_TRANSACTIONS)
    .union(CapabilityFlags::CLIENT_SECURE_CONNECTION)
    .union(CapabilityFlags::CLIENT_MULTI_RESULTS)
    .union(CapabilityFlags::CLIENT_PS_MULTI_RESULTS)
    .union(CapabilityFlags::CLIENT_PLUGIN_AUTH)
    .union(CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA)
    .union(CapabilityFlags::CLIENT_LOCAL_FILES)
    .union(CapabilityFlags::CLIENT_SESSION_TRACK);

/// How to open a backend connection.
pub struct ConnectParams<'a> {
    /// `host:port`.
    pub address: &'a str,
    /// Backend user.
    pub user: &'a str,
    /// Backend password.
    pub password: &'a str,
    /// Initial schema.
    pub schema: Option<&'a str>,
    /// Capabilities sqlmux wants on this connection (intersected with the server's).
    pub capabilities: CapabilityFlags,
    /// Collation to open the connection with.
    pub collation: u8,
    /// Server-side prepared statements to keep on the connection.
    pub statement_limit: usize,
    /// TLS connector, when the server is configured with `tls = true`.
    pub tls: Option<&'a tokio_rustls::TlsConnector>,
    /// MariaDB extended capabilities wanted (those the server has are asked for).
    pub mariadb_caps: u32,
    /// Where the server's greeting is recorded.
    pub identities: Option<&'a super::identity::ServerIdentities>,
    /// The password may go in clear over plain TCP (`allow_cleartext_password`).
    pub allow_cleartext: bool,
}

/// An authenticated backend connection.
pub struct BackendConn {
    stream: MaybeTls,
    /// Bytes read from the server and not yet consumed.
    pub rbuf: BytesMut,
    /// Negotiated capabilities.
    pub capabilities: CapabilityFlags,
    /// The server's connection (thread) id.
    pub connection_id: u32,
    /// The server's version string.
    pub server_version: String,
    /// What sqlmux knows of this connection's session.
    pub state: crate::session::BackendState,
    /// The session state the server reports by default (before sqlmux turned tracking on
    /// for everything): what a client gets until it changes `session_track_*`.
    pub tracking_defaults: ClientTracking,
    /// Statements prepared on this connection.
    pub statements: super::statements::BackendStatements,
    /// A second descriptor of the socket, for a failover cut.
    cut_handle: Option<crate::workers::CutHandle>,
}

/// A result set read whole (sqlmux's own small queries).
#[derive(Debug, Default)]
pub struct ResultRows {
    /// Column names.
    pub names: Vec<String>,
    /// Rows, values as text bytes (NULL as `None`).
    pub rows: Vec<Vec<Option<Vec<u8>>>>,
}

impl ResultRows {
    /// The value of column `name` in `row` (`None` for NULL or no such column).
    pub fn get<'a>(&self, row: &'a [Option<Vec<u8>>], name: &str) -> Option<&'a [u8]> {
        let i = self
            .names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))?;
        row.get(i)?.as_deref()
    }
}

/// The name in a column definition (after catalog, schema, table and original table).
fn column_name(definition: &[u8]) -> Option<String> {
    let mut rest = definition;
    for _ in 0..4 {
        let (_, used) = sqlmux_protocol::mysql::lenenc::read_str(rest)?;
        rest = rest.get(used..)?;
    }
    let (name, _) = sqlmux_protocol::mysql::lenenc::read_str(rest)?;
    Some(String::from_utf8_lossy(name).into_owned())
}

fn protocol(what: impl Into<String>) -> BackendError {
    BackendError::Protocol(what.into())
}

impl crate::workers::Rehome for BackendConn {
    fn rehome(self: Box<Self>) -> std::io::Result<Box<Self>> {
        let mut conn = *self;
        let stream = conn.stream;
        conn.stream = stream.rehome()?;
        Ok(Box::new(conn))
    }
}

impl<'a> ConnectParams<'a> {
    /// A connection of sqlmux's own (the monitor, KILL, learning a server's greeting): no
    /// schema, the default collation, no prepared statements kept, nothing recorded.
    pub fn own(
        address: &'a str,
        user: &'a str,
        password: &'a str,
        tls: Option<&'a tokio_rustls::TlsConnector>,
    ) -> Self {
        Self {
            address,
            user,
            password,
            schema: None,
            capabilities: BACKEND_CAPABILITIES,
            collation: sqlmux_protocol::mysql::constants::DEFAULT_COLLATION,
            statement_limit: 1,
            tls,
            mariadb_caps: 0,
            identities: None,
            allow_cleartext: false,
        }
    }
}

impl crate::workers::Pooled for BackendConn {
    fn peer_closed(&self) -> bool {
        !self.rbuf.is_empty() || self.stream.peer_closed()
    }

    fn socket(&self) -> Option<crate::workers::CutHandle> {
        self.cut_handle.clone()
    }
}

impl BackendConn {
    /// Runs a query that returns one row and reads that row's values (NULL as `None`).
    pub async fn query_row(&mut self, sql: &str) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
        Ok(self
            .query_rows(sql)
            .await?
            .rows
            .into_iter()
            .next()
            .unwrap_or_default())
    }

    /// Runs a query of sqlmux's own and reads its whole (small) result set.
    pub async fn query_rows(&mut self, sql: &str) -> Result<ResultRows, BackendError> {
        let mut q = Vec::with_capacity(sql.len() + 1);
        q.push(command::QUERY);
        q.extend_from_slice(sql.as_bytes());
        self.write_all(&encode(0, &q)).await?;
        self.read_rows().await
    }

    /// Reads the first row of a result set already asked for (none without rows).
    async fn read_first_row(&mut self) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
        Ok(self
            .read_rows()
            .await?
            .rows
            .into_iter()
            .next()
            .unwrap_or_default())
    }

    /// Reads the result set of a query already sent: column names and rows (NULL as `None`).
    async fn read_rows(&mut self) -> Result<ResultRows, BackendError> {
        let deprecate_eof = self
            .capabilities
            .contains(CapabilityFlags::CLIENT_DEPRECATE_EOF);
        let first = self.read_frame().await?;
        let first = first.payload();
        if first.first() == Some(&0xFF) {
            return Err(server_error(&first));
        }
        let columns = sqlmux_protocol::mysql::lenenc::read_int(&first)
            .map(|(n, _)| n)
            .ok_or_else(|| protocol("bad column count"))?;
        let mut result = ResultRows::default();
        for _ in 0..columns {
            let definition = self.read_frame().await?;
            let name = column_name(&definition.payload()).ok_or_else(|| protocol("bad column"))?;
            result.names.push(name);
        }
        if !deprecate_eof {
            self.read_frame().await?;
        }
        loop {
            let packet = self.read_frame().await?;
            let packet = packet.payload();
            if packet.first() == Some(&0xFE) && packet.len() < 9 {
                return Ok(result);
            }
            if packet.first() == Some(&0xFF) {
                return Err(server_error(&packet));
            }
            let mut values = Vec::with_capacity(result.names.len());
            let mut rest: &[u8] = &packet;
            for _ in 0..columns {
                if rest.first() == Some(&0xFB) {
                    values.push(None);
                    rest = &rest[1..];
                    continue;
                }
                let (v, used) = sqlmux_protocol::mysql::lenenc::read_str(rest)
                    .ok_or_else(|| protocol("bad row"))?;
                values.push(Some(v.to_vec()));
                rest = &rest[used..];
            }
            result.rows.push(values);
        }
    }

    /// Reads one whole logical packet.
    pub async fn read_frame(&mut self) -> Result<Frame, BackendError> {
        read_frame_from(&mut self.stream, &mut self.rbuf).await
    }

    /// Reads more bytes from the server into `rbuf`.
    pub async fn fill(&mut self) -> Result<usize, BackendError> {
        if self.rbuf.capacity() - self.rbuf.len() < 4096 {
            self.rbuf.reserve(64 * 1024);
        }
        match self.stream.read_buf(&mut self.rbuf).await? {
            0 => Err(BackendError::Closed),
            n => Ok(n),
        }
    }

    /// Writes bytes to the server.
    pub async fn write_all(&mut self, bytes: &[u8]) -> Result<(), BackendError> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await?;
        Ok(())
    }

    /// Sends a one-packet command and reads its OK (or ERR as an error).
    pub async fn simple_command(&mut self, payload: &[u8]) -> Result<OkInfo, BackendError> {
        self.write_all(&encode(0, payload)).await?;
        let frame = self.read_frame().await?;
        let reply = frame.payload();
        match reply.first() {
            Some(0x00) | Some(0xFE) => parse_ok(&reply).ok_or_else(|| protocol("bad OK packet")),
            Some(0xFF) => Err(server_error(&reply)),
            _ => Err(protocol("expected OK or ERR")),
        }
    }

    /// COM_RESET_CONNECTION: clears the session state the last client left behind
    /// (and its prepared statements), then turns tracking back on.
    pub async fn reset(&mut self) -> Result<(), BackendError> {
        self.simple_command(&[command::RESET_CONNECTION]).await?;
        let schema = std::mem::take(&mut self.state.schema);
        self.state = crate::session::BackendState {
            schema,
            ..Default::default()
        };
        self.statements.clear();
        self.start_tracking().await
    }

    /// Runs one text statement and reads its OK (ERR as an error); for replays.
    pub async fn execute_simple(&mut self, sql: &str) -> Result<OkInfo, BackendError> {
        let mut q = Vec::with_capacity(sql.len() + 1);
        q.push(command::QUERY);
        q.extend_from_slice(sql.as_bytes());
        self.simple_command(&q).await
    }

    /// Sends COM_STMT_CLOSE for statements evicted from the cache (no response).
    pub async fn close_evicted(&mut self) -> Result<(), BackendError> {
        if self.statements.to_close.is_empty() {
            return Ok(());
        }
        let mut out = bytes::BytesMut::new();
        for id in std::mem::take(&mut self.statements.to_close) {
            let mut p = vec![command::STMT_CLOSE];
            p.extend_from_slice(&id.to_le_bytes());
            sqlmux_protocol::mysql::packet::write_packet(&mut out, 0, &p);
        }
        self.write_all(&out).await
    }

    /// Reads the one-value result of a query such as `SELECT LAST_INSERT_ID()`.
    pub async fn read_single_value(&mut self) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self.read_first_row().await?.into_iter().next().flatten())
    }

    /// COM_QUIT: a clean goodbye (the server counts no aborted connection).
    pub async fn quit(&mut self) {
        let _ = self.write_all(&encode(0, &[command::QUIT])).await;
    }

    /// COM_INIT_DB.
    pub async fn init_db(&mut self, schema: &str) -> Result<(), BackendError> {
        let mut p = vec![command::INIT_DB];
        p.extend_from_slice(schema.as_bytes());
        self.simple_command(&p).await.map(|_| ())
    }
}

fn server_error(payload: &[u8]) -> BackendError {
    match parse_err(payload) {
        Some(e) => BackendError::Server(e),
        None => protocol("malformed ERR packet"),
    }
}

/// Reads one whole logical packet from `stream`, buffering in `rbuf`.
async fn read_frame_from<S: tokio::io::AsyncRead + Unpin>(
    stream: &mut S,
    rbuf: &mut BytesMut,
) -> Result<Frame, BackendError> {
    loop {
        if let Some(frame) =
            decode_frame(rbuf, MAX_SERVER_PACKET).map_err(|e| protocol(e.to_string()))?
        {
            return Ok(frame);
        }
        if rbuf.capacity() - rbuf.len() < 4096 {
            rbuf.reserve(64 * 1024);
        }
        if stream.read_buf(rbuf).await? == 0 {
            return Err(BackendError::Closed);
        }
    }
}
