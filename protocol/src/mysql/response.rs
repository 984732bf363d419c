//! OK, ERR and EOF packets: build the ones sqlmux sends, parse what the proxy must know.

use super::constants::{CapabilityFlags, StatusFlags};
use super::lenenc;

/// What an OK packet (or a 0xFE OK terminator) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OkInfo {
    /// Affected rows.
    pub affected_rows: u64,
    /// Last insert id reported by the server.
    pub last_insert_id: u64,
    /// Server status flags.
    pub status: StatusFlags,
    /// Warning count.
    pub warnings: u16,
}

/// What an ERR packet says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrInfo {
    /// Error code.
    pub code: u16,
    /// SQLSTATE (five characters), when the packet had one.
    pub sqlstate: Option<[u8; 5]>,
    /// Message text.
    pub message: String,
}

/// Parses an OK packet payload (header 0x00, or 0xFE for an OK terminator).
pub fn parse_ok(payload: &[u8]) -> Option<OkInfo> {
    let body = payload.get(1..)?;
    let (affected_rows, a) = lenenc::read_int(body)?;
    let (last_insert_id, b) = lenenc::read_int(body.get(a..)?)?;
    let rest = body.get(a + b..)?;
    let status = rest
        .get(..2)
        .map(|s| StatusFlags::from_bits_truncate(u16::from_le_bytes([s[0], s[1]])))
        .unwrap_or_default();
    let warnings = rest
        .get(2..4)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .unwrap_or(0);
    Some(OkInfo {
        affected_rows,
        last_insert_id,
        status,
        warnings,
    })
}

/// Parses a pre-4.1-style EOF packet (0xFE, warnings, status).
pub fn parse_eof(payload: &[u8]) -> Option<OkInfo> {
    let w = payload.get(1..3)?;
    let s = payload.get(3..5)?;
    Some(OkInfo {
        warnings: u16::from_le_bytes([w[0], w[1]]),
        status: StatusFlags::from_bits_truncate(u16::from_le_bytes([s[0], s[1]])),
        ..OkInfo::default()
    })
}

/// Parses an ERR packet payload (header 0xFF).
pub fn parse_err(payload: &[u8]) -> Option<ErrInfo> {
    if payload.first() != Some(&0xFF) {
        return None;
    }
    let code = u16::from_le_bytes([*payload.get(1)?, *payload.get(2)?]);
    let rest = &payload[3..];
    let (sqlstate, msg) = match rest.first() {
        Some(b'#') if rest.len() >= 6 => {
            let mut s = [0u8; 5];
            s.copy_from_slice(&rest[1..6]);
            (Some(s), &rest[6..])
        }
        _ => (None, rest),
    };
    Some(ErrInfo {
        code,
        sqlstate,
        message: String::from_utf8_lossy(msg).into_owned(),
    })
}

/// Builds an OK packet payload.
pub fn ok_packet(
    affected_rows: u64,
    last_insert_id: u64,
    status: StatusFlags,
    warnings: u16,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.push(0x00);
    lenenc::write_int(&mut out, affected_rows);
    lenenc::write_int(&mut out, last_insert_id);
    out.extend_from_slice(&status.bits().to_le_bytes());
    out.extend_from_slice(&warnings.to_le_bytes());
    out
}

/// Builds the packet that ends a result set: an EOF, or an OK with header 0xFE when the
/// client set CLIENT_DEPRECATE_EOF.
pub fn end_of_rows(caps: CapabilityFlags, status: StatusFlags, warnings: u16) -> Vec<u8> {
    if caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF) {
        let mut out = ok_packet(0, 0, status, warnings);
        out[0] = 0xFE;
        out
    } else {
        eof_packet(status, warnings)
    }
}

/// Builds an EOF packet payload.
pub fn eof_packet(status: StatusFlags, warnings: u16) -> Vec<u8> {
    let mut out = vec![0xFE];
    out.extend_from_slice(&warnings.to_le_bytes());
    out.extend_from_slice(&status.bits().to_le_bytes());
    out
}

/// Builds an ERR packet payload.
pub fn err_packet(code: u16, sqlstate: &str, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + message.len());
    out.push(0xFF);
    out.extend_from_slice(&code.to_le_bytes());
    out.push(b'#');
    let state = sqlstate.as_bytes();
    let mut s = *b"HY000";
    if state.len() == 5 {
        s.copy_from_slice(state);
    }
    out.extend_from_slice(&s);
    out.extend_from_slice(message.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_fixture() {
        // affected 1, last insert id 300 (0xFC 2c 01), status autocommit, 0 warnings
        let p = [0x00, 0x01, 0xFC, 0x2C, 0x01, 0x02, 0x00, 0x00, 0x00];
        let ok = parse_ok(&p).unwrap();
        assert_eq!(ok.affected_rows, 1);
        assert_eq!(ok.last_insert_id, 300);
        assert!(ok.status.contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT));
        assert_eq!(parse_ok(&p[..2]).map(|o| o.affected_rows), None);
        assert_eq!(
            parse_ok(&ok_packet(5, 7, StatusFlags::SERVER_MORE_RESULTS_EXISTS, 2)).unwrap(),
            OkInfo {
                affected_rows: 5,
                last_insert_id: 7,
                status: StatusFlags::SERVER_MORE_RESULTS_EXISTS,
                warnings: 2,
            }
        );
    }

    #[test]
    fn err_fixture() {
        let p = err_packet(1045, "28000", "Access denied");
        assert_eq!(&p[..4], &[0xFF, 0x15, 0x04, b'#']);
        let e = parse_err(&p).unwrap();
        assert_eq!(e.code, 1045);
        assert_eq!(&e.sqlstate.unwrap(), b"28000");
        assert_eq!(e.message, "Access denied");
        assert!(parse_err(&[0xFF, 1]).is_none());
        assert!(parse_err(&[0x00]).is_none());
    }

    #[test]
    fn eof_fixture() {
        let e = parse_eof(&[0xFE, 0x01, 0x00, 0x08, 0x00]).unwrap();
        assert_eq!(e.warnings, 1);
        assert!(e.status.contains(StatusFlags::SERVER_MORE_RESULTS_EXISTS));
    }
}
