//! Session-state information in OK packets (CLIENT_SESSION_TRACK): the schema, system
//! variables and "something else changed" a server reports after a statement.

use super::constants::StatusFlags;
use super::lenenc;

/// Entry type: a system variable changed (name, value).
const SYSTEM_VARIABLES: u8 = 0;
/// Entry type: the current schema changed.
const SCHEMA: u8 = 1;
/// Entry type: some other session state changed (temporary table, user variable, ...).
const STATE_CHANGE: u8 = 2;

/// What an OK packet says changed in the session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionChanges<'a> {
    /// New current schema.
    pub schema: Option<&'a [u8]>,
    /// System variables set, in order: (name, value).
    pub variables: Vec<(&'a [u8], &'a [u8])>,
    /// The server flagged a state change it does not describe.
    pub state_changed: bool,
}

/// Offsets inside an OK payload sent with CLIENT_SESSION_TRACK.
struct Layout<'a> {
    status: StatusFlags,
    /// Bytes up to and including the warnings field.
    head: &'a [u8],
    info: &'a [u8],
    state: Option<&'a [u8]>,
}

fn layout(payload: &[u8]) -> Option<Layout<'_>> {
    let (_, a) = lenenc::read_int(payload.get(1..)?)?;
    let (_, b) = lenenc::read_int(payload.get(1 + a..)?)?;
    let fixed = 1 + a + b;
    let s = payload.get(fixed..fixed + 2)?;
    let status = StatusFlags::from_bits_truncate(u16::from_le_bytes([s[0], s[1]]));
    let head_end = (fixed + 4).min(payload.len());
    let rest = &payload[head_end..];
    let (info, used) = if rest.is_empty() {
        (&rest[..0], 0)
    } else {
        lenenc::read_str(rest)?
    };
    let state = if status.contains(StatusFlags::SERVER_SESSION_STATE_CHANGED) && rest.len() > used {
        Some(lenenc::read_str(&rest[used..])?.0)
    } else {
        None
    };
    Some(Layout {
        status,
        head: &payload[..head_end],
        info,
        state,
    })
}

/// Reads the session-state changes of an OK payload (header 0x00 or 0xFE) from a
/// connection with CLIENT_SESSION_TRACK; `None` when the packet is malformed.
pub fn parse_changes(payload: &[u8]) -> Option<SessionChanges<'_>> {
    let l = layout(payload)?;
    let mut out = SessionChanges::default();
    let mut rest = l.state.unwrap_or(&[]);
    while let Some((&kind, tail)) = rest.split_first() {
        let (data, used) = lenenc::read_str(tail)?;
        rest = &tail[used..];
        match kind {
            SYSTEM_VARIABLES => {
                let (name, n) = lenenc::read_str(data)?;
                let (value, _) = lenenc::read_str(&data[n..])?;
                out.variables.push((name, value));
            }
            SCHEMA => out.schema = Some(lenenc::read_str(data)?.0),
            STATE_CHANGE => out.state_changed = true,
            _ => {}
        }
    }
    Some(out)
}

/// Rewrites an OK payload from a session-tracking connection for a client that did not
/// ask for CLIENT_SESSION_TRACK: the session state is dropped and the info string is kept
/// only when non-empty (length-encoded, as servers send it to such clients).
pub fn strip_session_state(payload: &[u8]) -> Option<Vec<u8>> {
    let l = layout(payload)?;
    let mut out = Vec::with_capacity(l.head.len() + l.info.len());
    out.extend_from_slice(l.head);
    if out.len() >= 2 && l.head.len() >= 4 {
        let at = l.head.len() - 4;
        let status = l.status & !StatusFlags::SERVER_SESSION_STATE_CHANGED;
        out[at..at + 2].copy_from_slice(&status.bits().to_le_bytes());
    }
    if !l.info.is_empty() {
        lenenc::write_str(&mut out, l.info);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OK after `SET sql_mode='ANSI'; USE shop` on MariaDB with tracking on.
    fn fixture() -> Vec<u8> {
        let mut p = vec![0x00, 0x00, 0x00];
        let status =
            StatusFlags::SERVER_STATUS_AUTOCOMMIT | StatusFlags::SERVER_SESSION_STATE_CHANGED;
        p.extend_from_slice(&status.bits().to_le_bytes());
        p.extend_from_slice(&[0, 0]);
        p.push(0); // empty info
        let mut state = Vec::new();
        let mut var = Vec::new();
        lenenc::write_str(&mut var, b"sql_mode");
        lenenc::write_str(&mut var, b"ANSI");
        state.push(SYSTEM_VARIABLES);
        lenenc::write_str(&mut state, &var);
        let mut schema = Vec::new();
        lenenc::write_str(&mut schema, b"shop");
        state.push(SCHEMA);
        lenenc::write_str(&mut state, &schema);
        state.push(STATE_CHANGE);
        lenenc::write_str(&mut state, b"\x011");
        lenenc::write_str(&mut p, &state);
        p
    }

    #[test]
    fn reads_variables_schema_and_state_change() {
        let p = fixture();
        let c = parse_changes(&p).unwrap();
        assert_eq!(c.variables, vec![(&b"sql_mode"[..], &b"ANSI"[..])]);
        assert_eq!(c.schema, Some(&b"shop"[..]));
        assert!(c.state_changed);
    }

    #[test]
    fn plain_ok_has_no_changes() {
        let p = [0x00, 0x01, 0x05, 0x02, 0x00, 0x00, 0x00];
        assert_eq!(parse_changes(&p).unwrap(), SessionChanges::default());
        let with_info = [0x00, 0x01, 0x05, 0x02, 0x00, 0x00, 0x00, 0x02, b'h', b'i'];
        assert_eq!(strip_session_state(&with_info).unwrap(), with_info.to_vec());
    }

    #[test]
    fn strip_clears_the_flag_and_the_state() {
        let stripped = strip_session_state(&fixture()).unwrap();
        assert_eq!(stripped.len(), 7);
        let ok = super::super::response::parse_ok(&stripped).unwrap();
        assert!(!ok
            .status
            .contains(StatusFlags::SERVER_SESSION_STATE_CHANGED));
        assert!(ok.status.contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT));
    }

    #[test]
    fn truncations_never_panic() {
        let p = fixture();
        for cut in 0..p.len() {
            let _ = parse_changes(&p[..cut]);
            let _ = strip_session_state(&p[..cut]);
        }
    }
}
