//! One MySQL client session: authenticate, then read commands, lend a backend connection,
//! relay the answers. Data path: client frame -> backend (from the pool) -> raw relay back.

use super::backend::{BackendConn, BackendError, ConnectParams};
use super::client::{ClientConn, ClientError};
use super::client_auth::{authenticate, AuthError, Authenticated};
use super::error::SessionError;
use super::relay::{relay_response, RelayOptions};
use crate::pool::{Lease, Partition};
use crate::shared::Shared;
use sqlmux_config::User;
use sqlmux_protocol::mysql::auth::{self, CACHING_SHA2_PASSWORD, NATIVE_PASSWORD};
use sqlmux_protocol::mysql::constants::{command, CapabilityFlags, StatusFlags};
use sqlmux_protocol::mysql::handshake::{auth_switch_request, parse_change_user};
use sqlmux_protocol::mysql::packet::Frame;
use sqlmux_protocol::mysql::response::{err_packet, ok_packet};
use sqlmux_protocol::mysql::scanner::Expect;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

/// Capabilities that change what goes over the wire: a pooled backend connection must
/// have been opened with the same ones as the client it serves.
const FLAVOR_CAPABILITIES: CapabilityFlags = CapabilityFlags::CLIENT_DEPRECATE_EOF
    .union(CapabilityFlags::CLIENT_FOUND_ROWS)
    .union(CapabilityFlags::CLIENT_IGNORE_SPACE)
    .union(CapabilityFlags::CLIENT_SESSION_TRACK)
    .union(CapabilityFlags::CLIENT_MULTI_STATEMENTS);

/// Capabilities every backend connection asks for.
const BACKEND_CAPABILITIES: CapabilityFlags = CapabilityFlags::CLIENT_LONG_PASSWORD
    .union(CapabilityFlags::CLIENT_LONG_FLAG)
    .union(CapabilityFlags::CLIENT_PROTOCOL_41)
    .union(CapabilityFlags::CLIENT_TRANSACTIONS)
    .union(CapabilityFlags::CLIENT_SECURE_CONNECTION)
    .union(CapabilityFlags::CLIENT_MULTI_RESULTS)
    .union(CapabilityFlags::CLIENT_PS_MULTI_RESULTS)
    .union(CapabilityFlags::CLIENT_PLUGIN_AUTH)
    .union(CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA)
    .union(CapabilityFlags::CLIENT_LOCAL_FILES);

/// How long returning a connection to the pool (reset, schema) may take.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves one accepted client connection until it ends.
pub async fn serve(shared: Arc<Shared>, tcp: TcpStream, peer: SocketAddr) {
    let _ = tcp.set_nodelay(true);
    let mut client = ClientConn::new(tcp, peer);
    let connection_id = shared.next_connection_id();
    let auth = match authenticate(&mut client, &shared, connection_id).await {
        Ok(a) => a,
        Err((e, seq)) => {
            tracing::info!(%peer, error = %e, "mysql client refused");
            if let Some(packet) = auth_err_packet(&e) {
                let _ = client.send(seq, &packet).await;
            }
            return;
        }
    };
    let mut session = Session::new(shared, client, connection_id, auth);
    if let Err(e) = session.run().await {
        tracing::debug!(%peer, side = ?e.side(), error = %e, "mysql session ended with an error");
    }
    session.release().await;
}

fn auth_err_packet(e: &AuthError) -> Option<Vec<u8>> {
    match e {
        AuthError::Client(_) => None,
        AuthError::Denied { .. } => Some(err_packet(1045, "28000", &e.to_string())),
        AuthError::Malformed(_) => Some(err_packet(1043, "08S01", &format!("Bad handshake: {e}"))),
        AuthError::NoTls => Some(err_packet(1043, "08S01", &e.to_string())),
    }
}

enum Flow {
    Continue,
    Quit,
}

/// A client session after authentication.
struct Session {
    shared: Arc<Shared>,
    client: ClientConn,
    user: User,
    schema: Option<String>,
    capabilities: CapabilityFlags,
    collation: u8,
    salt: [u8; 20],
    backend: Option<Lease<BackendConn>>,
    schema_changed: bool,
}

impl Session {
    fn new(
        shared: Arc<Shared>,
        client: ClientConn,
        _connection_id: u32,
        auth: Authenticated,
    ) -> Self {
        Self {
            shared,
            client,
            user: auth.user,
            schema: auth.database,
            capabilities: auth.capabilities,
            collation: auth.collation,
            salt: auth.salt,
            backend: None,
            schema_changed: false,
        }
    }

    async fn run(&mut self) -> Result<(), SessionError> {
        loop {
            let frame = match self.client.read_frame().await {
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
            match self.dispatch(frame).await {
                Ok(Flow::Continue) => {}
                Ok(Flow::Quit) => return Ok(()),
                Err(e) => {
                    if !matches!(e, SessionError::Pool(_) | SessionError::BackendRefused(_)) {
                        // A backend that failed mid-command is never reused.
                        self.backend = None;
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

    async fn dispatch(&mut self, frame: Frame) -> Result<Flow, SessionError> {
        let reply_seq = frame.last_seq.wrapping_add(1);
        let Some(cmd) = frame.first_byte() else {
            return Err(SessionError::Malformed("empty command packet".into()));
        };
        let expect = match cmd {
            command::QUIT => return Ok(Flow::Quit),
            command::PING => {
                self.send_ok(reply_seq).await?;
                return Ok(Flow::Continue);
            }
            command::CHANGE_USER => return self.change_user(&frame).await,
            command::RESET_CONNECTION if self.backend.is_none() => {
                self.send_ok(reply_seq).await?;
                return Ok(Flow::Continue);
            }
            command::STMT_CLOSE | command::STMT_SEND_LONG_DATA => None,
            command::QUERY => Some(Expect::Query),
            command::STMT_EXECUTE => Some(Expect::Execute),
            command::STMT_FETCH => Some(Expect::Fetch),
            command::STMT_PREPARE => Some(Expect::Prepare),
            command::FIELD_LIST => Some(Expect::FieldList),
            command::STATISTICS => Some(Expect::Single),
            command::INIT_DB
            | command::SET_OPTION
            | command::STMT_RESET
            | command::RESET_CONNECTION => Some(Expect::OkOrErr),
            other => return Err(SessionError::UnknownCommand(other)),
        };
        if cmd == command::QUERY && starts_with_use(&frame.raw[5..]) || cmd == command::INIT_DB {
            self.schema_changed = true;
        }
        self.ensure_backend().await?;
        let local_infile = self.shared.runtime.load().mysql.local_infile;
        let deprecate_eof = self
            .capabilities
            .contains(CapabilityFlags::CLIENT_DEPRECATE_EOF);
        let Some(lease) = self.backend.as_mut() else {
            return Err(SessionError::NoCluster(self.user.name.clone()));
        };
        let conn = lease.conn();
        conn.write_all(&frame.raw).await?;
        let Some(expect) = expect else {
            return Ok(Flow::Continue);
        };
        let opts = RelayOptions {
            expect,
            deprecate_eof,
            local_infile,
        };
        let relayed = relay_response(conn, &mut self.client, opts).await?;
        if cmd == command::INIT_DB && relayed.scanner.error.is_none() {
            self.schema = Some(String::from_utf8_lossy(&frame.payload()[1..]).into_owned());
        }
        Ok(Flow::Continue)
    }

    async fn send_ok(&mut self, seq: u8) -> Result<(), ClientError> {
        self.client
            .send(
                seq,
                &ok_packet(0, 0, StatusFlags::SERVER_STATUS_AUTOCOMMIT, 0),
            )
            .await
    }

    fn flavor(&self) -> u64 {
        u64::from((self.capabilities & FLAVOR_CAPABILITIES).bits())
            | u64::from(self.collation) << 32
    }

    /// Makes sure the session holds a backend connection to its cluster's writer.
    async fn ensure_backend(&mut self) -> Result<(), SessionError> {
        if self.backend.is_some() {
            return Ok(());
        }
        let rt = self.shared.runtime.load_full();
        let topology = self.shared.topology.load_full();
        let cluster = rt
            .cluster(&self.user.cluster)
            .ok_or_else(|| SessionError::NoCluster(self.user.name.clone()))?;
        let hostgroup = cluster.writer_hostgroup;
        let server = topology
            .pick(hostgroup)
            .ok_or(crate::pool::PoolError::NoServer { hostgroup })?;
        let pool = self
            .shared
            .mysql_pools
            .server(&server.address, server.max_connections);
        let schema = self.schema.clone().unwrap_or_default();
        let partition = Partition {
            user: Arc::from(self.user.name.as_str()),
            schema: Arc::from(schema.as_str()),
            flavor: self.flavor(),
        };
        let params = ConnectParams {
            address: &server.address,
            user: &self.user.name,
            password: &self.user.password,
            schema: (!schema.is_empty()).then_some(schema.as_str()),
            capabilities: BACKEND_CAPABILITIES | (self.capabilities & FLAVOR_CAPABILITIES),
            collation: self.collation,
            tls: server.tls.then_some(&self.shared.backend_tls),
        };
        let mut refused = None;
        let refused_slot = &mut refused;
        let lease = self
            .shared
            .mysql_pools
            .checkout(&pool, hostgroup, partition, &rt.pool, move || async move {
                BackendConn::connect(&params).await.map_err(|e| {
                    let msg = e.to_string();
                    if let BackendError::Server(info) = e {
                        *refused_slot = Some(info);
                    }
                    msg
                })
            })
            .await;
        match (lease, refused) {
            (Ok(lease), _) => {
                self.backend = Some(lease);
                self.schema_changed = false;
                Ok(())
            }
            (Err(_), Some(info)) => Err(SessionError::BackendRefused(info)),
            (Err(e), None) => Err(e.into()),
        }
    }

    /// COM_CHANGE_USER: authenticate the new user with this connection's salt, drop the
    /// session's backend state, answer OK.
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
        let user = rt
            .user(&change.user)
            .filter(|u| u.cluster == self.user.cluster || rt.cluster(&u.cluster).is_some());
        let verified = user.is_some_and(|u| {
            if plugin == CACHING_SHA2_PASSWORD {
                auth::check_sha2(&self.salt, &u.password, &answer)
            } else {
                auth::check_native(&self.salt, &u.password, &answer)
            }
        });
        let Some(user) = user.filter(|_| verified).cloned() else {
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
        self.release().await;
        self.user = user;
        self.schema = change.database.or_else(|| self.user.default_schema.clone());
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

    /// Returns the backend to the pool in a clean state, or closes it.
    async fn release(&mut self) {
        let Some(mut lease) = self.backend.take() else {
            return;
        };
        let schema = lease.partition().schema.clone();
        let schema_changed = self.schema_changed;
        let clean = tokio::time::timeout(RELEASE_TIMEOUT, async {
            let conn = lease.conn();
            conn.reset().await?;
            if schema_changed && !schema.is_empty() {
                conn.init_db(&schema).await?;
            }
            Ok::<_, BackendError>(!schema_changed || !schema.is_empty())
        })
        .await;
        if matches!(clean, Ok(Ok(true))) {
            lease.checkin();
        }
    }
}

/// Whether a COM_QUERY text starts with `USE` (it changes the connection's schema).
fn starts_with_use(sql: &[u8]) -> bool {
    let trimmed = sql
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|i| &sql[i..])
        .unwrap_or(&[]);
    trimmed.len() > 3
        && trimmed[..3].eq_ignore_ascii_case(b"use")
        && trimmed[3].is_ascii_whitespace()
}
