//! Messages a server sends: builders for those sqlmux makes itself, views of those it reads.

use super::cstr;
use super::MessageError;
use bytes::{BufMut, Bytes, BytesMut};

/// AuthenticationOk and friends.
pub const AUTHENTICATION: u8 = b'R';
/// ParameterStatus.
pub const PARAMETER_STATUS: u8 = b'S';
/// BackendKeyData.
pub const BACKEND_KEY_DATA: u8 = b'K';
/// ReadyForQuery.
pub const READY_FOR_QUERY: u8 = b'Z';
/// ErrorResponse.
pub const ERROR_RESPONSE: u8 = b'E';
/// NoticeResponse.
pub const NOTICE_RESPONSE: u8 = b'N';
/// NotificationResponse.
pub const NOTIFICATION_RESPONSE: u8 = b'A';
/// CommandComplete.
pub const COMMAND_COMPLETE: u8 = b'C';
/// EmptyQueryResponse.
pub const EMPTY_QUERY_RESPONSE: u8 = b'I';
/// RowDescription.
pub const ROW_DESCRIPTION: u8 = b'T';
/// DataRow.
pub const DATA_ROW: u8 = b'D';
/// NoData.
pub const NO_DATA: u8 = b'n';
/// ParameterDescription.
pub const PARAMETER_DESCRIPTION: u8 = b't';
/// ParseComplete.
pub const PARSE_COMPLETE: u8 = b'1';
/// BindComplete.
pub const BIND_COMPLETE: u8 = b'2';
/// CloseComplete.
pub const CLOSE_COMPLETE: u8 = b'3';
/// PortalSuspended.
pub const PORTAL_SUSPENDED: u8 = b's';
/// CopyInResponse.
pub const COPY_IN_RESPONSE: u8 = b'G';
/// CopyOutResponse.
pub const COPY_OUT_RESPONSE: u8 = b'H';
/// CopyBothResponse.
pub const COPY_BOTH_RESPONSE: u8 = b'W';
/// CopyData (both directions).
pub const COPY_DATA: u8 = b'd';
/// CopyDone (both directions).
pub const COPY_DONE: u8 = b'c';
/// NegotiateProtocolVersion.
pub const NEGOTIATE_PROTOCOL_VERSION: u8 = b'v';

fn message(tag: u8, body: impl FnOnce(&mut BytesMut)) -> Bytes {
    super::frame::build(tag, 64, body)
}

fn put_cstr(b: &mut BytesMut, s: &[u8]) {
    b.put_slice(s);
    b.put_u8(0);
}

/// An Authentication message: `code` and its data (salt, mechanisms, SASL data).
pub fn authentication(code: i32, data: &[u8]) -> Bytes {
    message(AUTHENTICATION, |b| {
        b.put_i32(code);
        b.put_slice(data);
    })
}

/// AuthenticationOk.
pub fn auth_ok() -> Bytes {
    authentication(0, &[])
}

/// AuthenticationSASL offering these mechanisms.
pub fn auth_sasl(mechanisms: &[&str]) -> Bytes {
    let mut data = Vec::new();
    for m in mechanisms {
        data.extend_from_slice(m.as_bytes());
        data.push(0);
    }
    data.push(0);
    authentication(10, &data)
}

/// ParameterStatus.
pub fn parameter_status(name: &str, value: &str) -> Bytes {
    message(PARAMETER_STATUS, |b| {
        put_cstr(b, name.as_bytes());
        put_cstr(b, value.as_bytes());
    })
}

/// BackendKeyData.
pub fn backend_key_data(pid: u32, key: &[u8]) -> Bytes {
    message(BACKEND_KEY_DATA, |b| {
        b.put_u32(pid);
        b.put_slice(key);
    })
}

/// ReadyForQuery with a transaction status (`I`, `T` or `E`).
pub fn ready_for_query(status: u8) -> Bytes {
    message(READY_FOR_QUERY, |b| b.put_u8(status))
}

/// An ErrorResponse (`severity` ERROR or FATAL) with SQLSTATE `code`.
pub fn error_response(severity: &str, code: &str, text: &str) -> Bytes {
    fields(ERROR_RESPONSE, severity, code, text)
}

/// A NoticeResponse (`severity` WARNING, NOTICE, ...) with SQLSTATE `code`.
pub fn notice_response(severity: &str, code: &str, text: &str) -> Bytes {
    fields(NOTICE_RESPONSE, severity, code, text)
}

/// An error or notice message: severity (localized and not), code and text.
fn fields(tag: u8, severity: &str, code: &str, text: &str) -> Bytes {
    message(tag, |b| {
        b.put_u8(b'S');
        put_cstr(b, severity.as_bytes());
        b.put_u8(b'V');
        put_cstr(b, severity.as_bytes());
        b.put_u8(b'C');
        put_cstr(b, code.as_bytes());
        b.put_u8(b'M');
        put_cstr(b, text.as_bytes());
        b.put_u8(0);
    })
}

/// CommandComplete with its tag (`ROLLBACK`, `SELECT 1`, ...).
pub fn command_complete(tag: &str) -> Bytes {
    message(COMMAND_COMPLETE, |b| put_cstr(b, tag.as_bytes()))
}

/// A message with an empty body (ParseComplete, BindComplete, CloseComplete, NoData, ...).
pub fn empty(tag: u8) -> Bytes {
    message(tag, |_| {})
}

/// NegotiateProtocolVersion: the newest minor version served and the options not known.
pub fn negotiate_protocol_version(minor: i32, unknown: &[&str]) -> Bytes {
    message(NEGOTIATE_PROTOCOL_VERSION, |b| {
        b.put_i32(minor);
        b.put_i32(unknown.len() as i32);
        for o in unknown {
            put_cstr(b, o.as_bytes());
        }
    })
}

/// The status byte of a ReadyForQuery body.
pub fn ready_status(body: &[u8]) -> Result<u8, MessageError> {
    match body.first() {
        Some(s @ (b'I' | b'T' | b'E')) => Ok(*s),
        Some(_) => Err(MessageError::Invalid("ReadyForQuery", "unknown status")),
        None => Err(MessageError::Truncated("ReadyForQuery")),
    }
}

/// The name and value of a ParameterStatus body.
pub fn parse_parameter_status(body: &[u8]) -> Result<(String, String), MessageError> {
    let (name, next) = cstr::read(body, 0, "ParameterStatus")?;
    let (value, _) = cstr::read(body, next, "ParameterStatus")?;
    Ok((
        String::from_utf8_lossy(name).into_owned(),
        String::from_utf8_lossy(value).into_owned(),
    ))
}

/// The process id and secret key of a BackendKeyData body.
pub fn parse_backend_key_data(body: &[u8]) -> Result<(u32, Bytes), MessageError> {
    let pid = cstr::read_i32(body, 0, "BackendKeyData")? as u32;
    let key = &body[4..];
    if key.is_empty() {
        return Err(MessageError::Truncated("BackendKeyData"));
    }
    Ok((pid, Bytes::copy_from_slice(key)))
}

/// The fields of an ErrorResponse or NoticeResponse that sqlmux reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorFields {
    /// Severity (non-localized when the server sent `V`).
    pub severity: String,
    /// SQLSTATE.
    pub code: String,
    /// Primary message.
    pub message: String,
}

impl std::fmt::Display for ErrorFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.severity, self.code, self.message)
    }
}

/// Reads the severity, SQLSTATE and message of an ErrorResponse body.
pub fn parse_error(body: &[u8]) -> Result<ErrorFields, MessageError> {
    let mut out = ErrorFields::default();
    let mut pos = 0;
    loop {
        let Some(&field) = body.get(pos) else {
            return Err(MessageError::Truncated("ErrorResponse"));
        };
        if field == 0 {
            return Ok(out);
        }
        let (value, next) = cstr::read(body, pos + 1, "ErrorResponse")?;
        let value = String::from_utf8_lossy(value).into_owned();
        match field {
            b'V' => out.severity = value,
            b'S' if out.severity.is_empty() => out.severity = value,
            b'C' => out.code = value,
            b'M' => out.message = value,
            _ => {}
        }
        pos = next;
    }
}

/// The tag of a CommandComplete body (`INSERT 0 1`, `SET`, ...).
pub fn command_tag(body: &[u8]) -> &[u8] {
    body.split(|b| *b == 0).next().unwrap_or(&[])
}

/// The authentication code of an Authentication body and the data after it.
pub fn parse_authentication(body: &[u8]) -> Result<(i32, &[u8]), MessageError> {
    let code = cstr::read_i32(body, 0, "Authentication")?;
    Ok((code, &body[4..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_reads_error_responses() {
        let m = error_response("FATAL", "28P01", "password authentication failed");
        assert_eq!(m[0], b'E');
        assert_eq!(
            i32::from_be_bytes([m[1], m[2], m[3], m[4]]) as usize,
            m.len() - 1
        );
        let f = parse_error(&m[5..]).unwrap();
        assert_eq!(f.severity, "FATAL");
        assert_eq!(f.code, "28P01");
        assert_eq!(f.message, "password authentication failed");
        assert!(parse_error(b"Sx").is_err());
        assert!(parse_error(b"").is_err());
    }

    #[test]
    fn command_complete_bytes() {
        assert_eq!(
            command_complete("ROLLBACK").as_ref(),
            b"C\0\0\0\x0dROLLBACK\0"
        );
    }

    #[test]
    fn fixtures_from_a_real_server() {
        // ReadyForQuery 'T', ParameterStatus TimeZone=UTC, CommandComplete "INSERT 0 1".
        assert_eq!(ready_status(b"T").unwrap(), b'T');
        assert!(ready_status(b"X").is_err());
        assert_eq!(
            parse_parameter_status(b"TimeZone\0UTC\0").unwrap(),
            ("TimeZone".to_string(), "UTC".to_string())
        );
        assert!(parse_parameter_status(b"TimeZone\0UTC").is_err());
        assert_eq!(command_tag(b"INSERT 0 1\0"), b"INSERT 0 1");
        let k = backend_key_data(7, &[9, 9, 9, 9]);
        assert_eq!(
            parse_backend_key_data(&k[5..]).unwrap(),
            (7, Bytes::from_static(&[9, 9, 9, 9]))
        );
        assert_eq!(
            parse_authentication(b"\0\0\0\x05salt").unwrap(),
            (5, &b"salt"[..])
        );
        assert_eq!(
            auth_sasl(&["SCRAM-SHA-256"]).as_ref(),
            b"R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0"
        );
    }
}
