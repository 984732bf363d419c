//! The untagged packets that open a connection: SSLRequest, GSSENCRequest, CancelRequest
//! and StartupMessage (protocol 3.0, or 3.2 with its longer cancel keys).

use super::cstr;
use super::MessageError;
use bytes::{BufMut, Bytes, BytesMut};

/// Request code of an SSLRequest.
pub const SSL_REQUEST: i32 = 80_877_103;
/// Request code of a GSSENCRequest.
pub const GSSENC_REQUEST: i32 = 80_877_104;
/// Request code of a CancelRequest.
pub const CANCEL_REQUEST: i32 = 80_877_102;
/// Protocol 3.0.
pub const PROTOCOL_3_0: i32 = 3 << 16;
/// Protocol 3.2 (PostgreSQL 18: variable-length cancel keys).
pub const PROTOCOL_3_2: i32 = (3 << 16) | 2;

/// What a startup packet asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartupRequest {
    /// Upgrade to TLS first.
    Ssl,
    /// Upgrade to GSSAPI encryption first (sqlmux answers `N`).
    GssEnc,
    /// Cancel the statement running on the connection with this key.
    Cancel {
        /// Process id from BackendKeyData.
        pid: u32,
        /// Secret key from BackendKeyData (4 bytes in 3.0, up to 256 in 3.2).
        key: Bytes,
    },
    /// Open a session.
    Startup {
        /// Requested protocol version (major << 16 | minor).
        version: i32,
        /// Parameters in the order sent (`user`, `database`, `options`, GUCs, `_pq_.*`).
        params: Vec<(String, String)>,
    },
}

/// Parses a startup packet body (after its length).
pub fn parse(body: &[u8]) -> Result<StartupRequest, MessageError> {
    let code = cstr::read_i32(body, 0, "startup")?;
    match code {
        SSL_REQUEST => Ok(StartupRequest::Ssl),
        GSSENC_REQUEST => Ok(StartupRequest::GssEnc),
        CANCEL_REQUEST => {
            let pid = cstr::read_i32(body, 4, "CancelRequest")? as u32;
            let key = &body[8..];
            if key.is_empty() || key.len() > 256 {
                return Err(MessageError::Invalid("CancelRequest", "bad key length"));
            }
            Ok(StartupRequest::Cancel {
                pid,
                key: Bytes::copy_from_slice(key),
            })
        }
        version if version >> 16 == 3 => {
            let mut params = Vec::new();
            let mut pos = 4;
            loop {
                let (name, next) = cstr::read(body, pos, "StartupMessage")?;
                if name.is_empty() {
                    break;
                }
                let (value, next) = cstr::read(body, next, "StartupMessage")?;
                let name = std::str::from_utf8(name)
                    .map_err(|_| MessageError::Invalid("StartupMessage", "name is not UTF-8"))?;
                params.push((
                    name.to_string(),
                    String::from_utf8_lossy(value).into_owned(),
                ));
                pos = next;
            }
            Ok(StartupRequest::Startup { version, params })
        }
        _ => Err(MessageError::Invalid(
            "StartupMessage",
            "unsupported protocol version",
        )),
    }
}

/// A StartupMessage (protocol 3.0) with these parameters.
pub fn startup_message(params: &[(&str, &str)]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i32(0);
    b.put_i32(PROTOCOL_3_0);
    for (k, v) in params {
        b.put_slice(k.as_bytes());
        b.put_u8(0);
        b.put_slice(v.as_bytes());
        b.put_u8(0);
    }
    b.put_u8(0);
    let len = b.len() as i32;
    b[..4].copy_from_slice(&len.to_be_bytes());
    b.freeze()
}

/// An SSLRequest packet.
pub fn ssl_request() -> [u8; 8] {
    let mut p = [0u8; 8];
    p[..4].copy_from_slice(&8i32.to_be_bytes());
    p[4..].copy_from_slice(&SSL_REQUEST.to_be_bytes());
    p
}

/// A CancelRequest packet for a backend's key.
pub fn cancel_request(pid: u32, key: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(12 + key.len());
    b.put_i32(12 + key.len() as i32);
    b.put_i32(CANCEL_REQUEST);
    b.put_u32(pid);
    b.put_slice(key);
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_startup_with_parameters() {
        let packet = startup_message(&[
            ("user", "ledger"),
            ("database", "db"),
            ("application_name", "psql"),
        ]);
        let req = parse(&packet[4..]).unwrap();
        assert_eq!(
            req,
            StartupRequest::Startup {
                version: PROTOCOL_3_0,
                params: vec![
                    ("user".into(), "ledger".into()),
                    ("database".into(), "db".into()),
                    ("application_name".into(), "psql".into()),
                ]
            }
        );
    }

    #[test]
    fn parses_ssl_and_cancel_requests() {
        assert_eq!(parse(&ssl_request()[4..]).unwrap(), StartupRequest::Ssl);
        let c = cancel_request(42, &[1, 2, 3, 4]);
        assert_eq!(
            parse(&c[4..]).unwrap(),
            StartupRequest::Cancel {
                pid: 42,
                key: Bytes::from_static(&[1, 2, 3, 4])
            }
        );
        assert!(parse(&c[4..8]).is_err());
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse(b"").is_err());
        assert!(parse(b"\0\x02\0\0user\0").is_err());
        // Protocol 3.0 but the parameter list is not terminated.
        assert!(parse(b"\0\x03\0\0user\0ledger").is_err());
        assert!(parse(b"\0\x03\0\0user\0").is_err());
    }
}
