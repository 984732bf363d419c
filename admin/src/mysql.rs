//! The MySQL-protocol admin port: opensrv-mysql speaks the protocol, fed through
//! [`OnePacketReader`] and [`GatedWriter`]; each statement runs on a blocking thread against
//! the store and its [`Outcome`] is written as text columns.

use super::error::AdminError;
use super::mysql_io::{rejection, Gate, GatedWriter, OnePacketReader, HANDSHAKE_TIMEOUT};
use super::{Admin, Outcome};
use opensrv_mysql::{
    AsyncMysqlIntermediary, AsyncMysqlShim, Column, ColumnFlags, ColumnType, InitWriter,
    OkResponse, ParamParser, QueryResultWriter, StatementMetaWriter,
};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::AsyncWrite;
use tokio::net::{TcpListener, TcpStream};

/// Serves the MySQL-protocol admin interface on `listener` until the future is dropped
/// (which closes every admin connection: they are tasks of this future).
pub async fn serve_mysql(listener: TcpListener, admin: Arc<Admin>) {
    super::accept::accept_bounded(listener, "mysql", |stream, peer| {
        serve_connection(admin.clone(), stream, peer)
    })
    .await;
}

async fn serve_connection(admin: Arc<Admin>, stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let gate = Arc::new(Gate::default());
    let reader = OnePacketReader::new(read, gate.clone(), HANDSHAKE_TIMEOUT);
    let writer = GatedWriter::new(write, gate.clone());
    let shim = AdminShim {
        connection_id: admin.shared().next_connection_id(),
        salt: sqlmux_protocol::mysql::auth::new_salt(),
        admin,
        gate,
        peer,
    };
    match AsyncMysqlIntermediary::run_on(shim, reader, writer).await {
        Ok(()) => tracing::debug!(%peer, "admin: connection closed"),
        Err(e) => tracing::debug!(%peer, error = %e, "admin: connection ended"),
    }
}

/// One admin connection as opensrv sees it.
struct AdminShim {
    admin: Arc<Admin>,
    gate: Arc<Gate>,
    peer: SocketAddr,
    salt: [u8; 20],
    connection_id: u32,
}

impl AdminShim {
    /// Runs `query` on a blocking thread (SQLite, disk writes) and returns its outcome.
    async fn run(&self, query: &str) -> Result<Outcome, AdminError> {
        if let Some(rejected) = rejection(query) {
            return Err(rejected);
        }
        let admin = self.admin.clone();
        let query = query.to_string();
        tokio::task::spawn_blocking(move || admin.execute(&query))
            .await
            .unwrap_or_else(|e| Err(AdminError::Internal(e.to_string())))
    }
}

/// Writes an error as an ERR packet.
async fn write_error<W: AsyncWrite + Send + Unpin>(
    results: QueryResultWriter<'_, W>,
    error: &AdminError,
) -> io::Result<()> {
    let (kind, message) = error.mysql();
    results.error(kind, message.as_bytes()).await
}

#[async_trait::async_trait]
impl<W: AsyncWrite + Send + Unpin> AsyncMysqlShim<W> for AdminShim {
    type Error = io::Error;

    fn version(&self) -> String {
        super::admin_version(&self.admin.shared().runtime.load())
    }

    fn connect_id(&self) -> u32 {
        self.connection_id
    }

    fn salt(&self) -> [u8; 20] {
        self.salt
    }

    async fn authenticate(
        &self,
        _auth_plugin: &str,
        username: &[u8],
        salt: &[u8],
        auth_data: &[u8],
    ) -> bool {
        let ok = <&[u8; 20]>::try_from(salt)
            .is_ok_and(|salt| self.admin.check_mysql_login(username, salt, auth_data));
        if ok {
            self.gate.authenticated();
            tracing::debug!(peer = %self.peer, "admin: authenticated");
        } else {
            let denied = AdminError::AccessDenied {
                user: String::from_utf8_lossy(username).into_owned(),
                host: self.peer.ip().to_string(),
                using_password: !auth_data.is_empty(),
            };
            tracing::info!(peer = %self.peer, "admin: {denied}");
            self.gate.deny(denied.err_payload());
        }
        ok
    }

    async fn on_prepare<'a>(
        &'a mut self,
        _query: &'a str,
        info: StatementMetaWriter<'a, W>,
    ) -> io::Result<()> {
        let (kind, message) = AdminError::PreparedStatements.mysql();
        info.error(kind, message.as_bytes()).await
    }

    async fn on_execute<'a>(
        &'a mut self,
        _id: u32,
        _params: ParamParser<'a>,
        results: QueryResultWriter<'a, W>,
    ) -> io::Result<()> {
        write_error(results, &AdminError::UnknownStatement).await
    }

    async fn on_close<'a>(&'a mut self, _stmt: u32)
    where
        W: 'async_trait,
    {
    }

    async fn on_query<'a>(
        &'a mut self,
        query: &'a str,
        results: QueryResultWriter<'a, W>,
    ) -> io::Result<()> {
        match self.run(query).await {
            Ok(Outcome::Rows { columns, rows }) => {
                let columns: Vec<Column> = columns
                    .into_iter()
                    .map(|column| Column {
                        table: String::new(),
                        column,
                        coltype: ColumnType::MYSQL_TYPE_VAR_STRING,
                        colflags: ColumnFlags::empty(),
                    })
                    .collect();
                let mut writer = results.start(&columns).await?;
                for row in &rows {
                    for value in row {
                        writer.write_col(value.as_deref())?;
                    }
                    writer.end_row().await?;
                }
                writer.finish().await
            }
            Ok(Outcome::Done { affected, info }) => {
                results
                    .completed(OkResponse {
                        affected_rows: affected,
                        info,
                        ..Default::default()
                    })
                    .await
            }
            Err(e) => write_error(results, &e).await,
        }
    }

    /// `USE <schema>` / `COM_INIT_DB`: the store has one schema; any name is accepted.
    async fn on_init<'a>(
        &'a mut self,
        _schema: &'a str,
        writer: InitWriter<'a, W>,
    ) -> io::Result<()> {
        writer.ok().await
    }
}
