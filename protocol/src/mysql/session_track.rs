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

/// The session state a client would get from its server: what the server tracks by default
/// plus what the client itself enabled (`session_track_*`). sqlmux's backends track
/// everything; OK packets are cut down to this before they reach the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTracking {
    /// The client negotiated CLIENT_SESSION_TRACK (else no session state at all).
    pub enabled: bool,
    /// `session_track_schema`.
    pub schema: bool,
    /// `session_track_state_change`.
    pub state_change: bool,
    /// `session_track_system_variables`: `None` for `*`, else the lower-cased names.
    pub variables: Option<Vec<String>>,
}

impl ClientTracking {
    /// A client without CLIENT_SESSION_TRACK: its OK packets carry no session state.
    pub fn none() -> Self {
        Self {
            enabled: false,
            schema: false,
            state_change: false,
            variables: Some(Vec::new()),
        }
    }

    /// Everything the backends report (what sqlmux asks them for): no rewriting needed.
    pub fn everything() -> Self {
        Self {
            enabled: true,
            schema: true,
            state_change: true,
            variables: None,
        }
    }

    /// From the values of `@@session_track_system_variables`, `@@session_track_schema` and
    /// `@@session_track_state_change` as a server returns them.
    pub fn from_server_values(variables: &str, schema: &str, state_change: &str) -> Self {
        let on =
            |v: &str| v.eq_ignore_ascii_case("ON") || v.eq_ignore_ascii_case("TRUE") || v == "1";
        let names: Vec<String> = variables
            .split(',')
            .map(|n| n.trim().to_ascii_lowercase())
            .filter(|n| !n.is_empty())
            .collect();
        Self {
            enabled: true,
            schema: on(schema),
            state_change: on(state_change),
            variables: (!names.iter().any(|n| n == "*")).then_some(names),
        }
    }

    /// Applies `SET name = value` to these settings (`None`: DEFAULT, taken from
    /// `defaults`); other names are ignored.
    pub fn set(&mut self, name: &str, value: Option<&str>, defaults: &ClientTracking) {
        let parsed = |v: &str| Self::from_server_values(v, v, v);
        match name {
            "session_track_system_variables" => {
                self.variables = value.map_or(defaults.variables.clone(), |v| parsed(v).variables)
            }
            "session_track_schema" => {
                self.schema = value.map_or(defaults.schema, |v| parsed(v).schema)
            }
            "session_track_state_change" => {
                self.state_change = value.map_or(defaults.state_change, |v| parsed(v).state_change)
            }
            _ => {}
        }
    }

    /// These settings, when the client negotiated session tracking at all.
    pub fn into_enabled(self) -> Option<ClientTracking> {
        self.enabled.then_some(self)
    }

    /// What either of two settings keeps: the statement that changes the tracking is
    /// reported under both its old and its new settings, as servers do.
    pub fn union(&self, other: &ClientTracking) -> ClientTracking {
        let variables = match (&self.variables, &other.variables) {
            (Some(a), Some(b)) => {
                let mut all = a.clone();
                all.extend(b.iter().filter(|n| !a.contains(n)).cloned());
                Some(all)
            }
            _ => None,
        };
        ClientTracking {
            enabled: self.enabled || other.enabled,
            schema: self.schema || other.schema,
            state_change: self.state_change || other.state_change,
            variables,
        }
    }

    /// Whether every entry a backend reports reaches the client unchanged.
    pub fn keeps_everything(&self) -> bool {
        self.enabled && self.schema && self.state_change && self.variables.is_none()
    }

    /// Whether the client gets one session-state entry.
    fn keeps(&self, kind: u8, data: &[u8]) -> bool {
        match kind {
            SYSTEM_VARIABLES => match &self.variables {
                None => true,
                Some(names) => lenenc::read_str(data).is_some_and(|(name, _)| {
                    names
                        .iter()
                        .any(|n| n.as_bytes().eq_ignore_ascii_case(name))
                }),
            },
            SCHEMA => self.schema,
            STATE_CHANGE => self.state_change,
            // GTIDs and transaction state: reported only when the session itself enabled
            // them (those variables are replayed like any other).
            _ => true,
        }
    }
}

/// Rewrites an OK payload from a backend (which tracks everything) into what `client`
/// would get from its server: session-state entries it did not ask for are dropped, and
/// with them the SERVER_SESSION_STATE_CHANGED flag when none is left. The info string is
/// written as servers do (length-encoded, only when there is info or state). `None` when
/// nothing changes or the packet is malformed.
pub fn rewrite_for_client(payload: &[u8], client: &ClientTracking) -> Option<Vec<u8>> {
    let l = layout(payload)?;
    if !l.status.contains(StatusFlags::SERVER_SESSION_STATE_CHANGED) {
        return None;
    }
    let mut kept = Vec::new();
    if client.enabled {
        let mut rest = l.state.unwrap_or(&[]);
        while let Some((&kind, tail)) = rest.split_first() {
            let (data, used) = lenenc::read_str(tail)?;
            let entry = &rest[..1 + used];
            rest = &tail[used..];
            if client.keeps(kind, data) {
                kept.extend_from_slice(entry);
            }
        }
    }
    if kept.len() == l.state.map_or(0, <[u8]>::len) && client.enabled {
        return None;
    }
    let mut out = Vec::with_capacity(payload.len());
    out.extend_from_slice(l.head);
    if kept.is_empty() && l.head.len() >= 4 {
        let at = l.head.len() - 4;
        let status = l.status & !StatusFlags::SERVER_SESSION_STATE_CHANGED;
        out[at..at + 2].copy_from_slice(&status.bits().to_le_bytes());
    }
    if !kept.is_empty() || !l.info.is_empty() {
        lenenc::write_str(&mut out, l.info);
    }
    if !kept.is_empty() {
        lenenc::write_str(&mut out, &kept);
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
        assert_eq!(
            rewrite_for_client(&with_info, &ClientTracking::none()),
            None
        );
    }

    #[test]
    fn strip_clears_the_flag_and_the_state() {
        let stripped = rewrite_for_client(&fixture(), &ClientTracking::none()).unwrap();
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
            let _ = rewrite_for_client(&p[..cut], &ClientTracking::none());
            let _ = rewrite_for_client(&p[..cut], &server_defaults());
        }
    }

    /// MariaDB 10.11's defaults.
    fn server_defaults() -> ClientTracking {
        ClientTracking::from_server_values(
            "autocommit,character_set_client,character_set_connection,character_set_results,time_zone",
            "ON",
            "OFF",
        )
    }

    #[test]
    fn a_client_gets_only_what_it_tracks() {
        let p = fixture();
        // Defaults: the schema stays, sql_mode and the state change go.
        let out = rewrite_for_client(&p, &server_defaults()).unwrap();
        let c = parse_changes(&out).unwrap();
        assert_eq!(c.schema, Some(&b"shop"[..]));
        assert!(c.variables.is_empty());
        assert!(!c.state_changed);
        let ok = super::super::response::parse_ok(&out).unwrap();
        assert!(ok
            .status
            .contains(StatusFlags::SERVER_SESSION_STATE_CHANGED));
        // A client tracking sql_mode keeps it too.
        let mut t = server_defaults();
        t.variables.as_mut().unwrap().push("sql_mode".into());
        let c2 = rewrite_for_client(&p, &t).unwrap();
        let c2 = parse_changes(&c2).unwrap();
        assert_eq!(c2.variables, vec![(&b"sql_mode"[..], &b"ANSI"[..])]);
        // Everything tracked: unchanged.
        assert_eq!(rewrite_for_client(&p, &ClientTracking::everything()), None);
        assert!(ClientTracking::everything().keeps_everything());
        assert!(!server_defaults().keeps_everything());
    }

    #[test]
    fn nothing_left_clears_the_flag_like_a_server() {
        // OK after an INSERT on a binlogged MariaDB: only last_gtid, which no default tracks.
        let mut p = vec![0x00, 0x01, 0x05];
        let status =
            StatusFlags::SERVER_STATUS_AUTOCOMMIT | StatusFlags::SERVER_SESSION_STATE_CHANGED;
        p.extend_from_slice(&status.bits().to_le_bytes());
        p.extend_from_slice(&[0, 0]);
        p.push(0);
        let mut var = Vec::new();
        lenenc::write_str(&mut var, b"last_gtid");
        lenenc::write_str(&mut var, b"0-1-7");
        let mut state = vec![SYSTEM_VARIABLES];
        lenenc::write_str(&mut state, &var);
        lenenc::write_str(&mut p, &state);
        let out = rewrite_for_client(&p, &server_defaults()).unwrap();
        assert_eq!(out, vec![0x00, 0x01, 0x05, 0x02, 0x00, 0x00, 0x00]);
        let star = ClientTracking::from_server_values("*", "ON", "OFF");
        assert_eq!(star.variables, None);
        let kept = rewrite_for_client(&p, &star);
        assert_eq!(
            kept, None,
            "a client tracking every variable sees last_gtid"
        );
    }
}
