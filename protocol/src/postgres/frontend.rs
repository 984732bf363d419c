//! Messages a client sends: builders for those sqlmux sends to backends itself, views of the
//! extended-protocol messages it routes, and rewriting of their statement names.

use super::cstr;
use super::MessageError;
use bytes::{BufMut, Bytes, BytesMut};

/// Query (simple protocol).
pub const QUERY: u8 = b'Q';
/// Parse.
pub const PARSE: u8 = b'P';
/// Bind.
pub const BIND: u8 = b'B';
/// Describe.
pub const DESCRIBE: u8 = b'D';
/// Execute.
pub const EXECUTE: u8 = b'E';
/// Close.
pub const CLOSE: u8 = b'C';
/// Sync.
pub const SYNC: u8 = b'S';
/// Flush.
pub const FLUSH: u8 = b'H';
/// Terminate.
pub const TERMINATE: u8 = b'X';
/// PasswordMessage, SASLInitialResponse, SASLResponse.
pub const PASSWORD: u8 = b'p';
/// CopyData.
pub const COPY_DATA: u8 = b'd';
/// CopyDone.
pub const COPY_DONE: u8 = b'c';
/// CopyFail.
pub const COPY_FAIL: u8 = b'f';
/// FunctionCall.
pub const FUNCTION_CALL: u8 = b'F';

fn message(tag: u8, capacity: usize, body: impl FnOnce(&mut BytesMut)) -> Bytes {
    super::frame::build(tag, capacity + 5, body)
}

/// A Query message.
pub fn query(sql: &str) -> Bytes {
    query_bytes(sql.as_bytes())
}

/// A Query message for statement text that need not be UTF-8.
pub fn query_bytes(sql: &[u8]) -> Bytes {
    message(QUERY, sql.len() + 1, |b| {
        b.put_slice(sql);
        b.put_u8(0);
    })
}

/// Sync.
pub fn sync() -> Bytes {
    message(SYNC, 0, |_| {})
}

/// Terminate.
pub fn terminate() -> Bytes {
    message(TERMINATE, 0, |_| {})
}

/// A PasswordMessage (cleartext or md5 hash), NUL-terminated.
pub fn password(secret: &[u8]) -> Bytes {
    message(PASSWORD, secret.len() + 1, |b| {
        b.put_slice(secret);
        b.put_u8(0);
    })
}

/// SASLInitialResponse.
pub fn sasl_initial_response(mechanism: &str, data: &[u8]) -> Bytes {
    message(PASSWORD, mechanism.len() + data.len() + 5, |b| {
        b.put_slice(mechanism.as_bytes());
        b.put_u8(0);
        b.put_i32(data.len() as i32);
        b.put_slice(data);
    })
}

/// SASLResponse.
pub fn sasl_response(data: &[u8]) -> Bytes {
    message(PASSWORD, data.len(), |b| b.put_slice(data))
}

/// Close of a prepared statement (`S`) or portal (`P`).
pub fn close(kind: u8, name: &str) -> Bytes {
    message(CLOSE, name.len() + 2, |b| {
        b.put_u8(kind);
        b.put_slice(name.as_bytes());
        b.put_u8(0);
    })
}

/// The query text of a Query body (without its NUL).
pub fn query_text(body: &[u8]) -> Result<&[u8], MessageError> {
    Ok(cstr::read(body, 0, "Query")?.0)
}

/// A Parse body: the statement name, the query, and where the parameter types start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseView<'a> {
    /// Statement name (empty: the unnamed statement).
    pub name: &'a [u8],
    /// Query text.
    pub query: &'a [u8],
    /// Offset in the body of what follows the name (query, parameter types): the part that
    /// identifies the statement across sessions.
    pub after_name: usize,
}

/// Reads a Parse body.
pub fn parse_view(body: &[u8]) -> Result<ParseView<'_>, MessageError> {
    let (name, after_name) = cstr::read(body, 0, "Parse")?;
    let (query, next) = cstr::read(body, after_name, "Parse")?;
    let n = cstr::read_i16(body, next, "Parse")?;
    if n < 0 || body.len() < next + 2 + 4 * n as usize {
        return Err(MessageError::Truncated("Parse"));
    }
    Ok(ParseView {
        name,
        query,
        after_name,
    })
}

/// The portal and statement names of a Bind body, and where the rest starts.
pub fn bind_names(body: &[u8]) -> Result<(&[u8], &[u8], usize), MessageError> {
    let (portal, next) = cstr::read(body, 0, "Bind")?;
    let (statement, rest) = cstr::read(body, next, "Bind")?;
    Ok((portal, statement, rest))
}

/// The kind (`S` statement or `P` portal) and name of a Describe or Close body.
pub fn target<'a>(body: &'a [u8], what: &'static str) -> Result<(u8, &'a [u8]), MessageError> {
    let kind = *body.first().ok_or(MessageError::Truncated(what))?;
    if kind != b'S' && kind != b'P' {
        return Err(MessageError::Invalid(what, "kind is neither S nor P"));
    }
    Ok((kind, cstr::read(body, 1, what)?.0))
}

/// The portal name of an Execute body.
pub fn execute_portal(body: &[u8]) -> Result<&[u8], MessageError> {
    let (portal, next) = cstr::read(body, 0, "Execute")?;
    cstr::read_i32(body, next, "Execute")?;
    Ok(portal)
}

/// A Parse that names the statement `name` instead (`identity` is the body after the
/// original name, from [`ParseView::after_name`]).
pub fn parse_named(name: &str, identity: &[u8]) -> Bytes {
    message(PARSE, name.len() + 1 + identity.len(), |b| {
        b.put_slice(name.as_bytes());
        b.put_u8(0);
        b.put_slice(identity);
    })
}

/// A Bind body rewritten to bind the statement `name`.
pub fn bind_with_statement(body: &[u8], name: &str) -> Result<Bytes, MessageError> {
    let (portal, _, rest) = bind_names(body)?;
    let rest = &body[rest..];
    Ok(message(
        BIND,
        portal.len() + name.len() + 2 + rest.len(),
        |b| {
            b.put_slice(portal);
            b.put_u8(0);
            b.put_slice(name.as_bytes());
            b.put_u8(0);
            b.put_slice(rest);
        },
    ))
}

/// A Describe of the statement `name`.
pub fn describe_statement(name: &str) -> Bytes {
    message(DESCRIBE, name.len() + 2, |b| {
        b.put_u8(b'S');
        b.put_slice(name.as_bytes());
        b.put_u8(0);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parse "s1" "SELECT $1" with one int4 parameter, as libpq sends it.
    const PARSE_S1: &[u8] = b"s1\0SELECT $1\0\0\x01\0\0\0\x17";

    #[test]
    fn reads_and_renames_parse() {
        let v = parse_view(PARSE_S1).unwrap();
        assert_eq!(v.name, b"s1");
        assert_eq!(v.query, b"SELECT $1");
        let renamed = parse_named("sqlmux_7", &PARSE_S1[v.after_name..]);
        assert_eq!(renamed[0], PARSE);
        let v2 = parse_view(&renamed[5..]).unwrap();
        assert_eq!(v2.name, b"sqlmux_7");
        assert_eq!(v2.query, b"SELECT $1");
        assert!(parse_view(b"s1\0SELECT 1\0\0\x02\0\0\0\x17").is_err());
        assert!(parse_view(b"s1\0SELECT 1\0").is_err());
    }

    #[test]
    fn renames_bind_keeping_parameters() {
        // portal "", statement "s1", 0 format codes, 1 parameter "42", 0 result formats.
        let body = b"\0s1\0\0\0\0\x01\0\0\0\x0242\0\0";
        let (portal, stmt, _) = bind_names(body).unwrap();
        assert_eq!((portal, stmt), (&b""[..], &b"s1"[..]));
        let b = bind_with_statement(body, "sqlmux_1").unwrap();
        assert_eq!(&b[5..], b"\0sqlmux_1\0\0\0\0\x01\0\0\0\x0242\0\0");
        assert!(bind_names(b"\0s1").is_err());
    }

    #[test]
    fn describe_close_execute() {
        assert_eq!(target(b"Ss1\0", "Describe").unwrap(), (b'S', &b"s1"[..]));
        assert!(target(b"Xs1\0", "Describe").is_err());
        assert!(target(b"", "Close").is_err());
        assert_eq!(execute_portal(b"\0\0\0\0\0").unwrap(), b"");
        assert!(execute_portal(b"p\0\0").is_err());
        assert_eq!(&close(b'S', "a")[..], b"C\0\0\0\x07Sa\0");
        assert_eq!(&query("SELECT 1")[..], b"Q\0\0\0\x0dSELECT 1\0");
        assert_eq!(query_text(b"SELECT 1\0").unwrap(), b"SELECT 1");
    }
}
