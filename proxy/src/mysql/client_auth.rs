//! The client-facing handshake: greeting, optional TLS, authentication against the
//! configured users (mysql_native_password, caching_sha2_password fast and full), auth switch.

use super::client::{ClientConn, ClientError};
use crate::shared::Shared;
use sqlmux_config::{Protocol, User};
use sqlmux_protocol::mysql::auth::{self, CACHING_SHA2_PASSWORD, NATIVE_PASSWORD};
use sqlmux_protocol::mysql::constants::{CapabilityFlags, StatusFlags, DEFAULT_COLLATION};
use sqlmux_protocol::mysql::handshake::{
    auth_switch_request, greeting, is_ssl_request, parse_handshake_response, server_capabilities,
    HandshakeError,
};
use sqlmux_protocol::mysql::response::ok_packet;

/// Why a client was not let in.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Client-side socket or framing problem.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The handshake response was malformed.
    #[error("bad handshake: {0}")]
    Malformed(#[from] HandshakeError),
    /// Unknown user or wrong password.
    #[error("Access denied for user '{user}'@'{host}' (using password: {})", if *.using_password { "YES" } else { "NO" })]
    Denied {
        /// User name the client sent.
        user: String,
        /// Client host.
        host: String,
        /// Whether the client sent a password.
        using_password: bool,
    },
    /// The client asked for TLS but none is configured.
    #[error("TLS is not configured on this sqlmux listener")]
    NoTls,
    /// `listen.max_client_connections` clients are connected already.
    #[error("Too many connections")]
    TooManyConnections,
}

/// A client that passed authentication.
pub struct Authenticated {
    /// The configured user.
    pub user: std::sync::Arc<User>,
    /// Initial schema the client asked for.
    pub database: Option<String>,
    /// Capabilities in effect (client's, limited to what sqlmux offers).
    pub capabilities: CapabilityFlags,
    /// Collation the client asked for.
    pub collation: u8,
    /// The salt of this connection (COM_CHANGE_USER scrambles with it).
    pub salt: [u8; 20],
    /// MariaDB extended capabilities in effect (client's, limited to what was offered).
    pub mariadb_caps: u32,
    /// Sequence id for the next packet sqlmux sends (after the final OK).
    pub next_seq: u8,
}

/// Runs the handshake; on success the client has received its OK packet.
pub async fn authenticate(
    client: &mut ClientConn,
    shared: &Shared,
    connection_id: u32,
) -> Result<Authenticated, (AuthError, u8)> {
    let rt = shared.runtime.load_full();
    let salt = auth::new_salt();
    let offered = server_capabilities(shared.client_tls.is_some(), rt.mysql.local_infile);
    // The servers' own identity (waiting for the first backend greeting right after start),
    // unless `[mysql] server_version` overrides the version.
    let learned = shared
        .mysql
        .identities
        .announced(rt.pool.connect_timeout)
        .await;
    let version = rt
        .mysql
        .server_version
        .as_deref()
        .or(learned.as_ref().map(|a| a.version.as_str()))
        .unwrap_or(sqlmux_config::MysqlSettings::FALLBACK_VERSION);
    let offered_mariadb = learned.as_ref().and_then(|a| a.mariadb_caps);
    let hello = greeting(
        version,
        connection_id,
        &salt,
        offered,
        DEFAULT_COLLATION,
        &rt.mysql.default_auth_plugin,
        offered_mariadb,
    );
    client.send(0, &hello).await.map_err(|e| (e.into(), 0))?;
    let mut frame = client.read_frame_exact().await.map_err(|e| (e.into(), 1))?;
    if is_ssl_request(&frame.payload()) {
        let acceptor = shared
            .client_tls
            .as_ref()
            .ok_or((AuthError::NoTls, frame.last_seq.wrapping_add(1)))?;
        client
            .accept_tls(acceptor)
            .await
            .map_err(|e| (e.into(), 2))?;
        frame = client.expect_frame().await.map_err(|e| (e.into(), 2))?;
    }
    let mut seq = frame.last_seq.wrapping_add(1);
    let response = parse_handshake_response(&frame.payload()).map_err(|e| (e.into(), seq))?;
    let capabilities = response.capabilities & offered;
    let host = client.peer.ip().to_string();
    let user = mysql_user(&rt, &response.user).cloned();
    let mut plugin = response
        .auth_plugin
        .clone()
        .unwrap_or_else(|| NATIVE_PASSWORD.to_string());
    let mut answer = response.auth_response.clone();
    if plugin != NATIVE_PASSWORD && plugin != CACHING_SHA2_PASSWORD {
        plugin = rt.mysql.default_auth_plugin.clone();
        client
            .send(seq, &auth_switch_request(&plugin, &salt))
            .await
            .map_err(|e| (e.into(), seq))?;
        let reply = client.expect_frame().await.map_err(|e| (e.into(), seq))?;
        answer = reply.payload().into_owned();
        seq = reply.last_seq.wrapping_add(1);
    }
    let denied = |using_password: bool| AuthError::Denied {
        user: response.user.clone(),
        host: host.clone(),
        using_password,
    };
    let Some(user) = user else {
        return Err((denied(!answer.is_empty()), seq));
    };
    let verified = if plugin == CACHING_SHA2_PASSWORD {
        let (ok, next) = caching_sha2(client, shared, &user, &salt, &answer, seq)
            .await
            .map_err(|e| (e.into(), seq))?;
        seq = next;
        ok
    } else {
        auth::check_native(&salt, &user.password, &answer)
    };
    if !verified {
        return Err((denied(!answer.is_empty()), seq));
    }
    let ok = ok_packet(0, 0, StatusFlags::SERVER_STATUS_AUTOCOMMIT, 0);
    let next_seq = client
        .send(seq, &ok)
        .await
        .map(|_| seq.wrapping_add(1))
        .map_err(|e| (e.into(), seq))?;
    Ok(Authenticated {
        database: response.database.or_else(|| user.default_schema.clone()),
        user,
        capabilities,
        collation: response.collation,
        salt,
        mariadb_caps: response.mariadb_caps & offered_mariadb.unwrap_or(0),
        next_seq,
    })
}

/// caching_sha2_password: fast path when the user is cached (or the link is plain and the
/// scramble proves the password); full authentication (cleartext over TLS) otherwise.
/// Returns whether the password is right and the next sequence id.
async fn caching_sha2(
    client: &mut ClientConn,
    shared: &Shared,
    user: &User,
    salt: &[u8; 20],
    scramble: &[u8],
    seq: u8,
) -> Result<(bool, u8), ClientError> {
    let cached = shared.mysql.sha2_cache.contains(&user.name);
    if client.is_tls() && !cached {
        client
            .send(seq, &[0x01, auth::SHA2_PERFORM_FULL_AUTH])
            .await?;
        let reply = client.expect_frame().await?;
        let ok = auth::check_cleartext(&user.password, &reply.payload());
        if ok {
            shared.mysql.sha2_cache.insert(user.name.clone());
        }
        return Ok((ok, reply.last_seq.wrapping_add(1)));
    }
    if !auth::check_sha2(salt, &user.password, scramble) {
        return Ok((false, seq));
    }
    client.queue(seq, &[0x01, auth::SHA2_FAST_AUTH_SUCCESS]);
    Ok((true, seq.wrapping_add(1)))
}

/// The user `name` of a MySQL cluster (a PostgreSQL cluster's user does not log in here,
/// at connect or by COM_CHANGE_USER).
pub(crate) fn mysql_user<'a>(
    rt: &'a sqlmux_config::Runtime,
    name: &str,
) -> Option<&'a std::sync::Arc<sqlmux_config::User>> {
    rt.users.iter().find(|u| {
        u.name == name
            && rt
                .cluster(&u.cluster)
                .is_some_and(|c| c.protocol == Protocol::Mysql)
    })
}
