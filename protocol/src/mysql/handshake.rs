//! The greeting sqlmux sends to clients, and the client's replies: SSL request,
//! handshake response, COM_CHANGE_USER, auth switch.

use super::constants::{CapabilityFlags, StatusFlags};
use super::lenenc;

/// Capabilities sqlmux offers to clients.
pub fn server_capabilities(tls: bool, local_infile: bool) -> CapabilityFlags {
    let mut caps = CapabilityFlags::CLIENT_LONG_PASSWORD
        | CapabilityFlags::CLIENT_FOUND_ROWS
        | CapabilityFlags::CLIENT_LONG_FLAG
        | CapabilityFlags::CLIENT_CONNECT_WITH_DB
        | CapabilityFlags::CLIENT_NO_SCHEMA
        | CapabilityFlags::CLIENT_ODBC
        | CapabilityFlags::CLIENT_IGNORE_SPACE
        | CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_INTERACTIVE
        | CapabilityFlags::CLIENT_IGNORE_SIGPIPE
        | CapabilityFlags::CLIENT_TRANSACTIONS
        | CapabilityFlags::CLIENT_RESERVED
        | CapabilityFlags::CLIENT_SECURE_CONNECTION
        | CapabilityFlags::CLIENT_MULTI_STATEMENTS
        | CapabilityFlags::CLIENT_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PS_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PLUGIN_AUTH
        | CapabilityFlags::CLIENT_CONNECT_ATTRS
        | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
        | CapabilityFlags::CLIENT_SESSION_TRACK
        | CapabilityFlags::CLIENT_DEPRECATE_EOF;
    if tls {
        caps |= CapabilityFlags::CLIENT_SSL;
    }
    if local_infile {
        caps |= CapabilityFlags::CLIENT_LOCAL_FILES;
    }
    caps
}

/// Builds the initial handshake (protocol version 10) payload. With `mariadb_caps`, the
/// greeting is a MariaDB server's: CLIENT_LONG_PASSWORD ("CLIENT_MYSQL") clear and the
/// extended capabilities in the last 4 reserved bytes.
pub fn greeting(
    server_version: &str,
    connection_id: u32,
    salt: &[u8; 20],
    capabilities: CapabilityFlags,
    collation: u8,
    auth_plugin: &str,
    mariadb_caps: Option<u32>,
) -> Vec<u8> {
    let mut capabilities = capabilities;
    if mariadb_caps.is_some() {
        capabilities.remove(CapabilityFlags::CLIENT_LONG_PASSWORD);
    }
    let caps = capabilities.bits();
    let mut out = Vec::with_capacity(96);
    out.push(10);
    out.extend_from_slice(server_version.as_bytes());
    out.push(0);
    out.extend_from_slice(&connection_id.to_le_bytes());
    out.extend_from_slice(&salt[..8]);
    out.push(0);
    out.extend_from_slice(&(caps as u16).to_le_bytes());
    out.push(collation);
    out.extend_from_slice(&StatusFlags::SERVER_STATUS_AUTOCOMMIT.bits().to_le_bytes());
    out.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    out.push(21);
    out.extend_from_slice(&[0; 6]);
    out.extend_from_slice(&mariadb_caps.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&salt[8..]);
    out.push(0);
    out.extend_from_slice(auth_plugin.as_bytes());
    out.push(0);
    out
}

/// Why a client handshake packet could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HandshakeError {
    /// The packet ends before a required field.
    #[error("malformed handshake response: truncated at {0}")]
    Truncated(&'static str),
    /// The client does not speak protocol 4.1.
    #[error("client does not support protocol 4.1")]
    Protocol40,
}

/// The client's SSL request: its first packet when it wants TLS.
pub fn is_ssl_request(payload: &[u8]) -> bool {
    payload.len() == 32
        && payload
            .get(..4)
            .map(|c| {
                u32::from_le_bytes([c[0], c[1], c[2], c[3]]) & CapabilityFlags::CLIENT_SSL.bits()
                    != 0
            })
            .unwrap_or(false)
}

/// A parsed HandshakeResponse41.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HandshakeResponse {
    /// Capabilities the client asked for.
    pub capabilities: CapabilityFlags,
    /// Client's max packet size.
    pub max_packet: u32,
    /// Collation id.
    pub collation: u8,
    /// User name.
    pub user: String,
    /// Auth plugin response data.
    pub auth_response: Vec<u8>,
    /// Initial schema.
    pub database: Option<String>,
    /// Auth plugin the response was computed with.
    pub auth_plugin: Option<String>,
    /// Connection attributes.
    pub attributes: Vec<(String, String)>,
    /// MariaDB extended capabilities (0 from a MySQL client).
    pub mariadb_caps: u32,
}

/// A reader over a payload that turns short input into [`HandshakeError::Truncated`].
struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], HandshakeError> {
        if self.buf.len() < n {
            return Err(HandshakeError::Truncated(what));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn nul_str(&mut self, what: &'static str) -> Result<&'a [u8], HandshakeError> {
        let end = self
            .buf
            .iter()
            .position(|b| *b == 0)
            .ok_or(HandshakeError::Truncated(what))?;
        let s = &self.buf[..end];
        self.buf = &self.buf[end + 1..];
        Ok(s)
    }

    /// A NUL-terminated string that may also end at the end of the packet.
    fn opt_nul_str(&mut self) -> &'a [u8] {
        let end = self
            .buf
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(self.buf.len());
        let s = &self.buf[..end];
        self.buf = &self.buf[(end + 1).min(self.buf.len())..];
        s
    }

    fn lenenc_str(&mut self, what: &'static str) -> Result<&'a [u8], HandshakeError> {
        let (s, used) = lenenc::read_str(self.buf).ok_or(HandshakeError::Truncated(what))?;
        self.buf = &self.buf[used..];
        Ok(s)
    }

    fn auth_data(&mut self, caps: CapabilityFlags) -> Result<Vec<u8>, HandshakeError> {
        if caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
            Ok(self.lenenc_str("auth response")?.to_vec())
        } else if caps.contains(CapabilityFlags::CLIENT_SECURE_CONNECTION) {
            let n = self.take(1, "auth response length")?[0];
            Ok(self.take(n.into(), "auth response")?.to_vec())
        } else {
            Ok(self.nul_str("auth response")?.to_vec())
        }
    }

    fn attributes(&mut self) -> Result<Vec<(String, String)>, HandshakeError> {
        let all = self.lenenc_str("connection attributes")?;
        let mut inner = Cursor { buf: all };
        let mut out = Vec::new();
        while !inner.buf.is_empty() {
            let k = lossy(inner.lenenc_str("attribute key")?);
            let v = lossy(inner.lenenc_str("attribute value")?);
            out.push((k, v));
        }
        Ok(out)
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn non_empty(b: &[u8]) -> Option<String> {
    (!b.is_empty()).then(|| lossy(b))
}

/// Parses a HandshakeResponse41 payload.
pub fn parse_handshake_response(payload: &[u8]) -> Result<HandshakeResponse, HandshakeError> {
    let mut c = Cursor { buf: payload };
    let caps_raw = c.take(4, "capabilities")?;
    let capabilities = CapabilityFlags::from_bits_truncate(u32::from_le_bytes([
        caps_raw[0],
        caps_raw[1],
        caps_raw[2],
        caps_raw[3],
    ]));
    if !capabilities.contains(CapabilityFlags::CLIENT_PROTOCOL_41) {
        return Err(HandshakeError::Protocol40);
    }
    let mp = c.take(4, "max packet size")?;
    let max_packet = u32::from_le_bytes([mp[0], mp[1], mp[2], mp[3]]);
    let collation = c.take(1, "character set")?[0];
    let filler = c.take(23, "filler")?;
    // A MariaDB client clears CLIENT_MYSQL (CLIENT_LONG_PASSWORD) and sends its extended
    // capabilities in the last 4 filler bytes.
    let mariadb_caps = if capabilities.contains(CapabilityFlags::CLIENT_LONG_PASSWORD) {
        0
    } else {
        u32::from_le_bytes([filler[19], filler[20], filler[21], filler[22]])
    };
    let user = lossy(c.nul_str("user name")?);
    let auth_response = c.auth_data(capabilities)?;
    let mut database = None;
    if capabilities.contains(CapabilityFlags::CLIENT_CONNECT_WITH_DB) && !c.buf.is_empty() {
        database = non_empty(c.opt_nul_str());
    }
    let mut auth_plugin = None;
    if capabilities.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH) && !c.buf.is_empty() {
        auth_plugin = non_empty(c.opt_nul_str());
    }
    let mut attributes = Vec::new();
    if capabilities.contains(CapabilityFlags::CLIENT_CONNECT_ATTRS) && !c.buf.is_empty() {
        attributes = c.attributes()?;
    }
    Ok(HandshakeResponse {
        capabilities,
        max_packet,
        collation,
        user,
        auth_response,
        database,
        auth_plugin,
        attributes,
        mariadb_caps,
    })
}

/// A parsed COM_CHANGE_USER payload (command byte included).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeUser {
    /// New user.
    pub user: String,
    /// Auth response computed with the connection's salt.
    pub auth_response: Vec<u8>,
    /// New schema.
    pub database: Option<String>,
    /// New collation, when sent.
    pub collation: Option<u8>,
    /// Auth plugin of the response.
    pub auth_plugin: Option<String>,
}

/// Parses COM_CHANGE_USER (payload starting with the 0x11 command byte).
pub fn parse_change_user(
    payload: &[u8],
    caps: CapabilityFlags,
) -> Result<ChangeUser, HandshakeError> {
    let mut c = Cursor { buf: payload };
    c.take(1, "command")?;
    let user = lossy(c.nul_str("user name")?);
    let auth_response = if caps.contains(CapabilityFlags::CLIENT_SECURE_CONNECTION) {
        let n = c.take(1, "auth response length")?[0];
        c.take(n.into(), "auth response")?.to_vec()
    } else {
        c.nul_str("auth response")?.to_vec()
    };
    let database = non_empty(c.opt_nul_str());
    let mut collation = None;
    let mut auth_plugin = None;
    if c.buf.len() >= 2 {
        collation = Some(c.take(2, "character set")?[0]);
        if caps.contains(CapabilityFlags::CLIENT_PLUGIN_AUTH) {
            auth_plugin = non_empty(c.opt_nul_str());
        }
    }
    Ok(ChangeUser {
        user,
        auth_response,
        database,
        collation,
        auth_plugin,
    })
}

/// Builds an AuthSwitchRequest payload.
pub fn auth_switch_request(plugin: &str, salt: &[u8; 20]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + plugin.len() + 21);
    out.push(0xFE);
    out.extend_from_slice(plugin.as_bytes());
    out.push(0);
    out.extend_from_slice(salt);
    out.push(0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A HandshakeResponse41 as sent by the mariadb CLI (user `app`, db `shop`,
    /// mysql_native_password, one attribute).
    fn fixture() -> Vec<u8> {
        let caps = (CapabilityFlags::CLIENT_PROTOCOL_41
            | CapabilityFlags::CLIENT_SECURE_CONNECTION
            | CapabilityFlags::CLIENT_PLUGIN_AUTH
            | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
            | CapabilityFlags::CLIENT_CONNECT_WITH_DB
            | CapabilityFlags::CLIENT_CONNECT_ATTRS)
            .bits();
        let mut p = caps.to_le_bytes().to_vec();
        p.extend_from_slice(&0x0100_0000u32.to_le_bytes());
        p.push(45);
        p.extend_from_slice(&[0; 23]);
        p.extend_from_slice(b"app\0");
        p.push(20);
        p.extend_from_slice(&[0xAB; 20]);
        p.extend_from_slice(b"shop\0");
        p.extend_from_slice(b"mysql_native_password\0");
        p.extend_from_slice(&[
            13, 4, b'_', b'o', b's', b'!', 7, b'L', b'i', b'n', b'u', b'x', b'?', b'!',
        ]);
        p
    }

    #[test]
    fn parses_full_response() {
        let r = parse_handshake_response(&fixture()).unwrap();
        assert_eq!(r.user, "app");
        assert_eq!(r.auth_response, vec![0xAB; 20]);
        assert_eq!(r.database.as_deref(), Some("shop"));
        assert_eq!(r.auth_plugin.as_deref(), Some("mysql_native_password"));
        assert_eq!(r.collation, 45);
        assert_eq!(
            r.attributes,
            vec![("_os!".to_string(), "Linux?!".to_string())]
        );
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let full = fixture();
        for cut in 0..full.len() - 14 {
            let _ = parse_handshake_response(&full[..cut]);
        }
        assert!(parse_handshake_response(&full[..40]).is_err());
    }

    #[test]
    fn ssl_request_is_recognised() {
        let mut p = (CapabilityFlags::CLIENT_PROTOCOL_41 | CapabilityFlags::CLIENT_SSL)
            .bits()
            .to_le_bytes()
            .to_vec();
        p.extend_from_slice(&[0; 28]);
        assert!(is_ssl_request(&p));
        assert!(!is_ssl_request(&fixture()));
    }

    #[test]
    fn greeting_layout() {
        let salt = *b"abcdefghijklmnopqrst";
        let g = greeting(
            "8.0.36-sqlmux",
            7,
            &salt,
            server_capabilities(false, true),
            45,
            "mysql_native_password",
            None,
        );
        assert_eq!(g[0], 10);
        assert_eq!(&g[1..14], b"8.0.36-sqlmux");
        assert_eq!(&g[15..19], &7u32.to_le_bytes());
        assert_eq!(&g[19..27], b"abcdefgh");
        assert!(g.ends_with(b"mysql_native_password\0"));
        // mysql_common's parser agrees with our layout
        let parsed: mysql_common::packets::HandshakePacket<'_> =
            mysql_common::io::ParseBuf(&g).parse(()).unwrap();
        assert_eq!(parsed.nonce(), salt.to_vec());
        assert_eq!(parsed.connection_id(), 7);
        assert!(parsed
            .capabilities()
            .contains(CapabilityFlags::CLIENT_DEPRECATE_EOF));
    }

    #[test]
    fn a_mariadb_greeting_carries_extended_capabilities() {
        let salt = *b"abcdefghijklmnopqrst";
        let g = greeting(
            "5.5.5-10.11.6-MariaDB",
            7,
            &salt,
            server_capabilities(false, true),
            45,
            "mysql_native_password",
            Some(super::super::constants::mariadb::EXTENDED_METADATA),
        );
        let parsed: mysql_common::packets::HandshakePacket<'_> =
            mysql_common::io::ParseBuf(&g).parse(()).unwrap();
        assert!(!parsed
            .capabilities()
            .contains(CapabilityFlags::CLIENT_LONG_PASSWORD));
        assert_eq!(parsed.mariadb_ext_capabilities().bits(), 1 << 3);
        assert_eq!(parsed.nonce(), salt.to_vec());
        // A MariaDB client's response: CLIENT_MYSQL clear, extended capabilities at 28..32.
        let mut r = fixture();
        let caps = u32::from_le_bytes([r[0], r[1], r[2], r[3]]) & !1;
        r[..4].copy_from_slice(&caps.to_le_bytes());
        r[28..32].copy_from_slice(&8u32.to_le_bytes());
        assert_eq!(parse_handshake_response(&r).unwrap().mariadb_caps, 8);
        assert_eq!(
            parse_handshake_response(&fixture()).unwrap().mariadb_caps,
            0
        );
    }

    #[test]
    fn change_user_fixture() {
        let mut p = vec![0x11];
        p.extend_from_slice(b"bob\0");
        p.push(2);
        p.extend_from_slice(&[1, 2]);
        p.extend_from_slice(b"db\0");
        p.extend_from_slice(&[45, 0]);
        p.extend_from_slice(b"mysql_native_password\0");
        let caps = CapabilityFlags::CLIENT_SECURE_CONNECTION | CapabilityFlags::CLIENT_PLUGIN_AUTH;
        let c = parse_change_user(&p, caps).unwrap();
        assert_eq!(c.user, "bob");
        assert_eq!(c.auth_response, vec![1, 2]);
        assert_eq!(c.database.as_deref(), Some("db"));
        assert_eq!(c.collation, Some(45));
        assert_eq!(c.auth_plugin.as_deref(), Some("mysql_native_password"));
    }
}
