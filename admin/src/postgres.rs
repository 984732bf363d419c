//! The PostgreSQL-protocol admin port (`listen.admin_postgres`): `psql -h 127.0.0.1 -p 6132
//! -U admin`. pgwire does the startup and md5 authentication against the `[admin]` user of
//! the running configuration (any database name is accepted); the client's bytes reach it
//! only through `io::FrontendStream`, which refuses what pgwire must not decode.
//!
//! The simple query protocol only. A query string may hold several statements: each runs
//! on its own through [`Admin::execute`] (each commits on its own; an error skips the rest
//! of the string). A result set is sent as text columns with `SELECT n`; other statements
//! complete with `INSERT 0 n`, `UPDATE n`, `DELETE n`, `LOAD`, `SAVE`, `SET` or `OK`, and
//! the note of a `LOAD`/`SAVE` comes as a NOTICE. Errors are ErrorResponses with a SQLSTATE
//! ([`sqlstate`]), and the session goes on. The extended query protocol (Parse/Bind/...)
//! is refused with SQLSTATE 0A000.
//!
//! Besides the admin SQL, the port answers what PostgreSQL clients send on their own:
//! `SELECT version()` (a fixed string: the store is SQLite), `current_database()`,
//! `current_user`, `SHOW <parameter>` for the parameters announced at startup, and `SET`,
//! `RESET`, `DISCARD ALL` of session parameters (accepted, no effect). Queries of the
//! PostgreSQL catalog (psql's `\d` commands) get a clear 0A000 instead of SQLite's error.

mod io;
mod local;
mod split;

use super::error::AdminError;
use super::mysql_io::HANDSHAKE_TIMEOUT;
use super::{Admin, Outcome};
use async_trait::async_trait;
use bytes::{BufMut, BytesMut};
use futures_util::{SinkExt, StreamExt};
use io::{FrontendStream, Opening, Rejection};
use local::local_answer;
use pgwire::api::auth::md5pass::{hash_md5_password, Md5PasswordAuthStartupHandler};
use pgwire::api::auth::{
    AuthSource, DefaultServerParameterProvider, LoginInfo, Password, ServerParameterProvider,
    StartupHandler,
};
use pgwire::api::{
    ClientInfo, DefaultClient, PgWireConnectionState, PidSecretKeyGenerator, METADATA_DATABASE,
    METADATA_USER,
};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::data::{DataRow, FieldDescription, RowDescription};
use pgwire::messages::response::{
    CommandComplete, EmptyQueryResponse, NoticeResponse, ReadyForQuery, TransactionStatus,
};
use pgwire::messages::startup::SecretKey;
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage, ProtocolVersion};
use pgwire::tokio::server::PgWireMessageServerCodec;
use split::split_statements;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::codec::{Framed, FramedParts};

/// `server_version` announced at startup. psql and drivers read the number; the suffix
/// says what answers.
pub const SERVER_VERSION: &str = "16.0 (sqlmux admin)";
/// `server_version_num` for `SHOW`.
const SERVER_VERSION_NUM: &str = "160000";
/// The answer to `SELECT version()` (SQLite has no such function).
pub const VERSION: &str = "PostgreSQL 16.0 (sqlmux admin interface, SQLite store)";

/// OID of `text`: every column is sent as text.
const TEXT_OID: u32 = 25;

type Socket = Framed<FrontendStream<TcpStream>, PgWireMessageServerCodec<()>>;
type Startup = Md5PasswordAuthStartupHandler<AdminPassword, DefaultServerParameterProvider>;

/// Serves the PostgreSQL-protocol admin interface on `listener` until the future is dropped
/// (which closes every admin connection: they are tasks of this future).
pub async fn serve_postgres(listener: TcpListener, admin: Arc<Admin>) {
    let port = Arc::new(Port::new(admin));
    super::accept::accept_bounded(listener, "postgres", |stream, peer| {
        serve_connection(port.clone(), stream, peer)
    })
    .await;
}

/// What every connection of one listener shares.
struct Port {
    admin: Arc<Admin>,
    startup: Startup,
    parameters: Arc<DefaultServerParameterProvider>,
}

impl Port {
    fn new(admin: Arc<Admin>) -> Port {
        let mut parameters = DefaultServerParameterProvider::default();
        parameters.server_version = SERVER_VERSION.to_string();
        let parameters = Arc::new(parameters);
        let startup = Md5PasswordAuthStartupHandler::new(
            Arc::new(AdminPassword {
                admin: admin.clone(),
            }),
            parameters.clone(),
        )
        .with_pid_secret_key_generator(Arc::new(ConnectionIds {
            admin: admin.clone(),
        }));
        Port {
            admin,
            startup,
            parameters,
        }
    }
}

async fn serve_connection(port: Arc<Port>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    match connection(&port, stream, peer).await {
        Ok(()) => tracing::debug!(%peer, "admin (PostgreSQL): connection closed"),
        Err(e) => tracing::debug!(%peer, error = %e, "admin (PostgreSQL): connection ended"),
    }
}

async fn connection(port: &Port, mut stream: TcpStream, peer: SocketAddr) -> std::io::Result<()> {
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let opening = tokio::time::timeout_at(deadline, io::read_opening(&mut stream))
        .await
        .map_err(|_| timed_out())??;
    let Opening::Startup(packet) = opening else {
        return Ok(());
    };
    let mut parts = FramedParts::new(
        FrontendStream::new(stream),
        PgWireMessageServerCodec::new(DefaultClient::<()>::new(peer, false)),
    );
    parts.read_buf = packet;
    let mut socket: Socket = Framed::from_parts(parts);
    socket.set_state(PgWireConnectionState::AwaitingStartup);
    let mut authenticated = false;
    loop {
        let next = if authenticated {
            socket.next().await
        } else {
            tokio::time::timeout_at(deadline, socket.next())
                .await
                .map_err(|_| timed_out())?
        };
        let message = match next {
            Some(Ok(message)) => message,
            // pgwire refused a message (the startup packet of an unsupported protocol, ...).
            Some(Err(e)) => {
                tracing::debug!(%peer, error = %e, "admin (PostgreSQL): bad message");
                return fatal(&mut socket, e).await;
            }
            None => return Ok(()),
        };
        match message {
            PgWireFrontendMessage::Terminate(_) => return Ok(()),
            PgWireFrontendMessage::Query(query) => {
                if let Some(rejection) = io::rejection(&query.query) {
                    match rejection {
                        Rejection::Sync => ready_for_query(&mut socket).await?,
                        Rejection::Error {
                            fatal,
                            code,
                            message,
                        } => {
                            tracing::debug!(%peer, code, %message, "admin (PostgreSQL): message refused");
                            let severity = if fatal { "FATAL" } else { "ERROR" };
                            socket.feed(error_response(severity, code, message)).await?;
                            if fatal {
                                return socket.flush().await;
                            }
                            ready_for_query(&mut socket).await?;
                        }
                    }
                } else if authenticated {
                    answer_query(port, &mut socket, &query.query).await?;
                }
            }
            message if !authenticated => {
                if let Err(e) = port.startup.on_startup(&mut socket, message).await {
                    if let PgWireError::InvalidPassword(user) = &e {
                        tracing::info!(%peer, user, "admin (PostgreSQL): password authentication failed");
                    }
                    // Any failure before authentication ends the connection, as on the server.
                    return fatal(&mut socket, e).await;
                }
                if matches!(socket.state(), PgWireConnectionState::ReadyForQuery) {
                    authenticated = true;
                    socket.get_mut().set_authenticated();
                    tracing::debug!(%peer, "admin (PostgreSQL): authenticated");
                }
            }
            // FrontendStream lets nothing else through after authentication.
            _ => {}
        }
    }
}

/// Sends `e` as a FATAL ErrorResponse (the caller then closes the connection).
async fn fatal(socket: &mut Socket, e: PgWireError) -> std::io::Result<()> {
    let mut info: ErrorInfo = e.into();
    info.severity = "FATAL".to_string();
    info.severity_nonlocalized = Some("FATAL".to_string());
    socket
        .send(PgWireBackendMessage::ErrorResponse(info.into()))
        .await
}

fn timed_out() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "no authentication within the time limit",
    )
}

/// The `[admin]` password of the running configuration, md5-hashed with a fresh salt.
#[derive(Debug)]
struct AdminPassword {
    admin: Arc<Admin>,
}

#[async_trait]
impl AuthSource for AdminPassword {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let mut salt = [0u8; 4];
        getrandom::fill(&mut salt)
            .map_err(|e| PgWireError::ApiError(format!("cannot draw an md5 salt: {e}").into()))?;
        let rt = self.admin.shared().runtime.load();
        let user = login.user().unwrap_or_default();
        let expected = match &rt.admin {
            Some(admin) if admin.user == user => hash_md5_password(user, &admin.password, &salt),
            // Never equal to a client's answer ("md5" + 32 hex digits): the same exchange
            // as for the right user, then "password authentication failed".
            _ => String::from("!"),
        };
        Ok(Password::new(Some(salt.to_vec()), expected.into_bytes()))
    }
}

/// BackendKeyData: the proxy's connection ids (shared with the MySQL admin port) and a
/// random key. Cancel requests are not acted on.
#[derive(Debug)]
struct ConnectionIds {
    admin: Arc<Admin>,
}

impl PidSecretKeyGenerator for ConnectionIds {
    fn generate(&self, client: &dyn ClientInfo) -> (i32, SecretKey) {
        let pid = (self.admin.shared().next_connection_id() & 0x7FFF_FFFF) as i32;
        let key = match client.protocol_version() {
            ProtocolVersion::PROTOCOL3_0 => {
                let mut key = [0u8; 4];
                let _ = getrandom::fill(&mut key);
                SecretKey::I32(i32::from_be_bytes(key))
            }
            _ => {
                let mut key = [0u8; 32];
                let _ = getrandom::fill(&mut key);
                SecretKey::Bytes(bytes::Bytes::copy_from_slice(&key))
            }
        };
        (pid, key)
    }
}

/// An error for the client: SQLSTATE and message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PgError {
    code: &'static str,
    message: String,
}

impl From<AdminError> for PgError {
    fn from(e: AdminError) -> Self {
        PgError {
            code: sqlstate(&e),
            message: e.to_string(),
        }
    }
}

fn error_response(severity: &str, code: &str, message: String) -> PgWireBackendMessage {
    let mut info = ErrorInfo::new(severity.to_string(), code.to_string(), message);
    info.severity_nonlocalized = Some(severity.to_string());
    PgWireBackendMessage::ErrorResponse(info.into())
}

async fn ready_for_query(socket: &mut Socket) -> std::io::Result<()> {
    socket
        .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
            TransactionStatus::Idle,
        )))
        .await
}

/// Runs every statement of a simple query and ends with ReadyForQuery.
async fn answer_query(port: &Port, socket: &mut Socket, text: &str) -> std::io::Result<()> {
    let statements = split_statements(text);
    if statements.is_empty() {
        socket.feed(empty_query()).await?;
    }
    for statement in statements {
        let result = match local_answer(port, socket, statement) {
            Some(answer) => answer,
            None => {
                let metadata = socket.metadata();
                let (user, database) = (
                    metadata.get(METADATA_USER).cloned().unwrap_or_default(),
                    metadata.get(METADATA_DATABASE).cloned().unwrap_or_default(),
                );
                execute(&port.admin, console_spelling(statement), user, database).await
            }
        };
        match result.and_then(|outcome| answer_messages(outcome, statement)) {
            Ok(messages) => {
                for message in messages {
                    socket.feed(message).await?;
                }
            }
            Err(e) if e.code == EMPTY_QUERY => socket.feed(empty_query()).await?,
            Err(e) => {
                socket
                    .feed(error_response("ERROR", e.code, e.message))
                    .await?;
                break;
            }
        }
    }
    ready_for_query(socket).await
}

/// The messages that answer `statement` with `outcome`: a result set or a command tag
/// (after a notice of its `info`).
fn answer_messages(
    outcome: Outcome,
    statement: &str,
) -> Result<Vec<PgWireBackendMessage>, PgError> {
    let complete = |tag| PgWireBackendMessage::CommandComplete(CommandComplete::new(tag));
    Ok(match outcome {
        Outcome::Rows { columns, rows } => {
            let (description, data) = encode_rows(&columns, &rows)?;
            let mut messages = Vec::with_capacity(data.len() + 2);
            messages.push(PgWireBackendMessage::RowDescription(description));
            messages.extend(data.into_iter().map(PgWireBackendMessage::DataRow));
            messages.push(complete(format!("SELECT {}", rows.len())));
            messages
        }
        Outcome::Done { affected, info } => {
            let mut messages = Vec::with_capacity(2);
            if !info.is_empty() {
                let mut notice = ErrorInfo::new("NOTICE".to_string(), "00000".to_string(), info);
                notice.severity_nonlocalized = Some("NOTICE".to_string());
                messages.push(PgWireBackendMessage::NoticeResponse(NoticeResponse::from(
                    notice,
                )));
            }
            messages.push(complete(command_tag(statement, affected)));
            messages
        }
    })
}

/// EmptyQueryResponse.
fn empty_query() -> PgWireBackendMessage {
    PgWireBackendMessage::EmptyQueryResponse(EmptyQueryResponse::new())
}

/// Marks [`AdminError::EmptyQuery`], which PostgreSQL answers with EmptyQueryResponse.
const EMPTY_QUERY: &str = "";

/// PgBouncer's console spelling on this port: `SHOW DATABASES` lists the clusters.
fn console_spelling(statement: &str) -> &str {
    let words: Vec<&str> = statement.split_whitespace().collect();
    match words.as_slice() {
        [show, databases] | [show, databases, ";"]
            if show.eq_ignore_ascii_case("show")
                && databases
                    .trim_end_matches(';')
                    .eq_ignore_ascii_case("databases") =>
        {
            "SHOW CLUSTERS"
        }
        _ => statement,
    }
}

/// Runs one statement on a blocking thread (SQLite, disk writes): psql's catalog queries
/// answered from the store's schema, the rest by [`Admin::execute`].
async fn execute(
    admin: &Arc<Admin>,
    statement: &str,
    user: String,
    database: String,
) -> Result<Outcome, PgError> {
    let admin = admin.clone();
    let statement = statement.to_string();
    tokio::task::spawn_blocking(move || {
        admin
            .psql_catalog(&statement, &user, &database)
            .unwrap_or_else(|| admin.execute(&statement))
    })
    .await
    .unwrap_or_else(|e| Err(AdminError::Internal(e.to_string())))
    .map_err(PgError::from)
}

/// RowDescription (all columns text) and DataRows; refused before anything is sent when
/// the result does not fit the protocol.
fn encode_rows(
    columns: &[String],
    rows: &[Vec<Option<String>>],
) -> Result<(RowDescription, Vec<DataRow>), PgError> {
    let too_big = |what: &str| PgError {
        code: "54000",
        message: format!("result has {what} than the PostgreSQL protocol can carry"),
    };
    let count = i16::try_from(columns.len()).map_err(|_| too_big("more columns"))?;
    let fields = columns
        .iter()
        .map(|name| FieldDescription::new(name.clone(), 0, 0, TEXT_OID, -1, -1, 0))
        .collect();
    let mut data = Vec::with_capacity(rows.len());
    for row in rows {
        if row.len() != columns.len() {
            return Err(PgError {
                code: "XX000",
                message: "sqlmux admin internal error: a row does not match its columns".into(),
            });
        }
        let mut bytes = BytesMut::new();
        for value in row {
            match value {
                None => bytes.put_i32(-1),
                Some(v) => {
                    let len = i32::try_from(v.len()).map_err(|_| too_big("a longer value"))?;
                    bytes.put_i32(len);
                    bytes.extend_from_slice(v.as_bytes());
                }
            }
        }
        data.push(DataRow::new(bytes, count));
    }
    Ok((RowDescription::new(fields), data))
}

/// The CommandComplete tag of a statement without a result set.
fn command_tag(statement: &str, affected: u64) -> String {
    let first = statement
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    match first.as_str() {
        "INSERT" | "REPLACE" => format!("INSERT 0 {affected}"),
        "UPDATE" | "DELETE" => format!("{first} {affected}"),
        "LOAD" | "SAVE" | "SET" | "RESET" => first,
        "DISCARD" => "DISCARD ALL".into(),
        _ => "OK".into(),
    }
}

/// The SQLSTATE of an admin error.
pub fn sqlstate(e: &AdminError) -> &'static str {
    match e {
        AdminError::Sql(e) => sqlite_sqlstate(e),
        AdminError::ReadOnly { .. } => "42501",
        AdminError::Unsupported(_) | AdminError::PreparedStatements => "0A000",
        AdminError::LoadRefused { .. } => "22023",
        AdminError::Disk { .. } | AdminError::Store { .. } => "58030",
        AdminError::NoDataDir(_) => "55000",
        AdminError::BadCommand(_) => "42601",
        AdminError::UnknownVariable(_) => "42704",
        AdminError::EmptyQuery => EMPTY_QUERY,
        AdminError::AccessDenied { .. } => "28P01",
        AdminError::UnknownCommand(_) | AdminError::EmptyCommand => "08P01",
        AdminError::PacketTooLarge | AdminError::Limit(_) => "54000",
        AdminError::InvalidUtf8 => "22021",
        AdminError::UnknownStatement => "26000",
        AdminError::SavedStoreInvalid { .. } | AdminError::Internal(_) => "XX000",
    }
}

/// The closest SQLSTATE for a SQLite failure.
fn sqlite_sqlstate(e: &rusqlite::Error) -> &'static str {
    let message = e.to_string();
    if message.starts_with("no such table") {
        "42P01"
    } else if message.starts_with("no such column") {
        "42703"
    } else if message.starts_with("no such function") {
        "42883"
    } else if message.starts_with("UNIQUE constraint failed") {
        "23505"
    } else if message.starts_with("NOT NULL constraint failed") {
        "23502"
    } else if message.starts_with("CHECK constraint failed") {
        "23514"
    } else if message.starts_with("cannot store") {
        "42804"
    } else if message.contains("syntax error") || message.contains("incomplete input") {
        "42601"
    } else {
        "XX000"
    }
}

#[cfg(test)]
mod tests;
