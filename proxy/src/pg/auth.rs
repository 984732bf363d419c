//! The client-facing startup: SSLRequest and TLS, CancelRequest, the StartupMessage
//! (protocol 3.0, or 3.2 when asked), and password authentication with SCRAM-SHA-256
//! (SCRAM-SHA-256-PLUS with channel binding over TLS; pgwire's server-side SCRAM), md5 or
//! cleartext, against the configured users of PostgreSQL clusters.

use super::conn::{ConnError, PgConn};
use crate::shared::Shared;
use pgwire::api::auth::sasl::scram::{gen_salted_password, ScramSecret, ScramServerAuth};
use sqlmux_config::{PgAuthMethod, Protocol, User};
use sqlmux_protocol::postgres::backend::{self as msg, error_response};
use sqlmux_protocol::postgres::startup::{self, StartupRequest};
use sqlmux_protocol::postgres::{cstr, frontend};

/// SCRAM iterations announced to clients.
const SCRAM_ITERATIONS: usize = 4096;

/// Why a client was not let in.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Socket or framing failure on the client side.
    #[error(transparent)]
    Client(#[from] ConnError),
    /// The startup packet or an authentication message is malformed.
    #[error("invalid startup: {0}")]
    Malformed(String),
    /// No `user` in the startup packet.
    #[error("no PostgreSQL user name specified in startup packet")]
    NoUser,
    /// Wrong password, or a user sqlmux does not know for a PostgreSQL cluster.
    #[error("password authentication failed for user \"{0}\"")]
    Denied(String),
    /// The client sent a replication or other unsupported startup.
    #[error("{0}")]
    Unsupported(String),
    /// `listen.max_client_connections` clients are connected already.
    #[error("sorry, too many clients already")]
    TooManyClients,
}

impl LoginError {
    /// The FATAL ErrorResponse the client gets, if it can still be told.
    pub fn to_error_response(&self) -> Option<bytes::Bytes> {
        let code = match self {
            LoginError::Client(ConnError::Frame(_)) => "08P01",
            LoginError::Client(_) => return None,
            LoginError::Malformed(_) => "08P01",
            LoginError::NoUser => "28000",
            LoginError::Denied(_) => "28P01",
            LoginError::Unsupported(_) => "0A000",
            LoginError::TooManyClients => "53300",
        };
        Some(error_response("FATAL", code, &self.to_string()))
    }
}

/// A client that passed authentication.
pub struct Login {
    /// The configured user.
    pub user: std::sync::Arc<User>,
    /// Database asked for (the user name when not given).
    pub database: String,
    /// Run-time parameters from the startup packet (application_name, client_encoding,
    /// `options -c`, ...), in order.
    pub params: Vec<(String, String)>,
    /// Protocol minor version in use (0 or 2).
    pub minor: i32,
}

/// What the first packets asked for.
pub enum Opening {
    /// A session, authenticated.
    Session(Login),
    /// A CancelRequest (already forwarded).
    Cancelled,
    /// The client went away.
    Gone,
}

/// Runs the startup and authentication; on success AuthenticationOk was queued.
pub async fn accept(conn: &mut PgConn, shared: &Shared, full: bool) -> Result<Opening, LoginError> {
    let (version, params) = loop {
        let Some(body) = conn.read_startup().await? else {
            return Ok(Opening::Gone);
        };
        match startup::parse(&body).map_err(|e| LoginError::Malformed(e.to_string()))? {
            StartupRequest::Ssl => match &shared.client_tls {
                Some(acceptor) if !conn.is_tls() => {
                    conn.send(b"S").await?;
                    conn.accept_tls(acceptor).await?;
                }
                _ => conn.send(b"N").await?,
            },
            StartupRequest::GssEnc => conn.send(b"N").await?,
            StartupRequest::Cancel { pid, key } => {
                shared.pg.cancel.cancel(pid, &key).await;
                return Ok(Opening::Cancelled);
            }
            StartupRequest::Startup { version, params } => break (version, params),
        }
    };
    if full {
        return Err(LoginError::TooManyClients);
    }
    let minor = (version & 0xffff).min(2);
    let mut unknown = Vec::new();
    let mut user_name = None;
    let mut database = None;
    let mut gucs = Vec::new();
    for (k, v) in params {
        match k.as_str() {
            "user" => user_name = Some(v),
            "database" => database = Some(v),
            "replication" if v != "false" && v != "0" && v != "off" => {
                return Err(LoginError::Unsupported(
                    "sqlmux does not proxy replication connections".into(),
                ))
            }
            "replication" => {}
            k if k.starts_with("_pq_.") => unknown.push(k.to_string()),
            _ => gucs.push((k, v)),
        }
    }
    let startup_vars = super::session::startup_vars(&gucs);
    if startup_vars
        .get("standard_conforming_strings")
        .is_some_and(|v| sqlmux_protocol::dialect::postgres::setting_is_off(v))
    {
        return Err(LoginError::Unsupported(
            "sqlmux: standard_conforming_strings = off is not supported (sqlmux reads statements as the server does with it on)".into(),
        ));
    }
    if version & 0xffff > 2 || !unknown.is_empty() {
        let names: Vec<&str> = unknown.iter().map(String::as_str).collect();
        conn.queue(&msg::negotiate_protocol_version(minor, &names));
    }
    let user_name = user_name
        .filter(|u| !u.is_empty())
        .ok_or(LoginError::NoUser)?;
    let rt = shared.runtime.load_full();
    let user = rt
        .user(&user_name)
        .filter(|u| {
            rt.cluster(&u.cluster)
                .is_some_and(|c| c.protocol == Protocol::Postgres)
        })
        .cloned();
    let password = user.as_ref().map(|u| u.password.clone());
    let ok = match rt.postgres.auth_method {
        PgAuthMethod::ScramSha256 => scram(conn, shared, &user_name, password.as_deref()).await?,
        PgAuthMethod::Md5 => md5(conn, &user_name, password.as_deref()).await?,
        PgAuthMethod::Cleartext => cleartext(conn, password.as_deref()).await?,
    };
    let user = user
        .filter(|_| ok)
        .ok_or(LoginError::Denied(user_name.clone()))?;
    conn.queue(&msg::auth_ok());
    Ok(Opening::Session(Login {
        database: database.filter(|d| !d.is_empty()).unwrap_or(user_name),
        user,
        params: gucs,
        minor,
    }))
}

/// Reads the client's next password-family message body.
async fn password_message(conn: &mut PgConn) -> Result<bytes::Bytes, LoginError> {
    let m = conn.expect().await?;
    if m.tag() != frontend::PASSWORD {
        return Err(LoginError::Malformed(format!(
            "expected a password message, got {:?}",
            char::from(m.tag())
        )));
    }
    Ok(m.raw.slice(5..))
}

async fn cleartext(conn: &mut PgConn, password: Option<&str>) -> Result<bool, LoginError> {
    conn.send(&msg::authentication(3, &[])).await?;
    let body = password_message(conn).await?;
    let (given, _) = cstr::read(&body, 0, "PasswordMessage")
        .map_err(|e| LoginError::Malformed(e.to_string()))?;
    Ok(same_answer(password.map(str::as_bytes), given))
}

/// Whether the client's answer is the expected one, compared in constant time (and, for a
/// user sqlmux does not know, compared all the same against a stand-in, then refused).
fn same_answer(expected: Option<&[u8]>, given: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    let equal: bool = expected.unwrap_or(given).ct_eq(given).into();
    equal && expected.is_some()
}

async fn md5(conn: &mut PgConn, user: &str, password: Option<&str>) -> Result<bool, LoginError> {
    let mut salt = [0u8; 4];
    getrandom::fill(&mut salt).map_err(|e| LoginError::Malformed(e.to_string()))?;
    conn.send(&msg::authentication(5, &salt)).await?;
    let body = password_message(conn).await?;
    let (given, _) = cstr::read(&body, 0, "PasswordMessage")
        .map_err(|e| LoginError::Malformed(e.to_string()))?;
    // An unknown user costs the same hash as a known one.
    let expected =
        pgwire::api::auth::md5pass::hash_md5_password(user, password.unwrap_or(""), &salt);
    Ok(same_answer(password.map(|_| expected.as_bytes()), given))
}

/// The salted password of a user, computed once per password (4096 PBKDF2 rounds).
fn secret_for(shared: &Shared, user: &str, password: Option<&str>) -> ScramSecret {
    let Some(password) = password else {
        // An unknown user goes through the whole exchange and fails at the end; its salt is
        // the same at every try, like a real user's, so a name cannot be probed by it.
        let salt = mock_salt(&shared.pg.scram_mock_key, user);
        let mut junk = vec![0u8; 32];
        let _ = getrandom::fill(&mut junk);
        return ScramSecret::SaltedPassword {
            salt,
            salted_password: junk,
        };
    };
    if let Some(entry) = shared.pg.scram_secrets.get(user) {
        if entry.0 == password {
            return ScramSecret::SaltedPassword {
                salt: entry.1.clone(),
                salted_password: entry.2.clone(),
            };
        }
    }
    let mut salt = vec![0u8; 16];
    let _ = getrandom::fill(&mut salt);
    let salted = gen_salted_password(password, &salt, SCRAM_ITERATIONS);
    shared.pg.scram_secrets.insert(
        user.to_string(),
        (password.to_string(), salt.clone(), salted.clone()),
    );
    ScramSecret::SaltedPassword {
        salt,
        salted_password: salted,
    }
}

/// The salt shown for an unknown user: derived from the process's key and the name.
fn mock_salt(key: &[u8; 32], user: &str) -> Vec<u8> {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    hash.update(key);
    hash.update(user.as_bytes());
    hash.finalize()[..16].to_vec()
}

async fn scram(
    conn: &mut PgConn,
    shared: &Shared,
    user: &str,
    password: Option<&str>,
) -> Result<bool, LoginError> {
    let server = match (&shared.pg.scram_tls, conn.is_tls()) {
        (Some(with_cert), true) => with_cert.clone(),
        _ => ScramServerAuth::new(),
    };
    let mechanisms: &[&str] = if server.supports_channel_binding() {
        &["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
    } else {
        &["SCRAM-SHA-256"]
    };
    conn.send(&msg::auth_sasl(mechanisms)).await?;
    let body = password_message(conn).await?;
    let malformed =
        |e: sqlmux_protocol::postgres::MessageError| LoginError::Malformed(e.to_string());
    let (mechanism, next) = cstr::read(&body, 0, "SASLInitialResponse").map_err(malformed)?;
    if !mechanisms.iter().any(|m| m.as_bytes() == mechanism) {
        return Err(LoginError::Malformed("unsupported SASL mechanism".into()));
    }
    let len = cstr::read_i32(&body, next, "SASLInitialResponse").map_err(malformed)?;
    let data = body
        .get(next + 4..)
        .filter(|d| len >= 0 && d.len() == len as usize)
        .ok_or_else(|| LoginError::Malformed("bad SASLInitialResponse length".into()))?;
    let secret = secret_for(shared, user, password);
    let Ok((server_first, waiting)) = server.on_client_first_message_with_secret(data, secret)
    else {
        return Ok(false);
    };
    conn.send(&msg::authentication(11, server_first.as_bytes()))
        .await?;
    let body = password_message(conn).await?;
    match waiting.on_client_final_message(&body) {
        Ok(server_final) if password.is_some() => {
            conn.queue(&msg::authentication(12, server_final.as_bytes()));
            Ok(true)
        }
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_match_only_for_a_known_user_with_the_right_password() {
        assert!(same_answer(Some(b"secret"), b"secret"));
        assert!(!same_answer(Some(b"secret"), b"secreT"));
        assert!(!same_answer(Some(b"secret"), b"secret2"));
        assert!(
            !same_answer(None, b"secret"),
            "an unknown user never gets in"
        );
        assert!(!same_answer(None, b""));
    }

    #[test]
    fn an_unknown_users_salt_is_stable_and_its_own() {
        let key = [7u8; 32];
        assert_eq!(mock_salt(&key, "ghost"), mock_salt(&key, "ghost"));
        assert_ne!(mock_salt(&key, "ghost"), mock_salt(&key, "ghost2"));
        assert_ne!(mock_salt(&key, "ghost"), mock_salt(&[8u8; 32], "ghost"));
        assert_eq!(mock_salt(&key, "ghost").len(), 16);
    }
}
