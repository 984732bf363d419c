//! Session state (what the client has set) against backend state (what a pooled connection
//! has), and the replay that brings a backend to the session's state before a statement.

use std::collections::BTreeMap;
use std::time::Instant;

/// Variables whose value is handled apart from the generic replay, or that the server
/// reports but no client may set (last_gtid).
const UNTRACKED: [&str; 9] = [
    "last_insert_id",
    "insert_id",
    "identity",
    "last_gtid",
    "warning_count",
    "error_count",
    "session_track_schema",
    "session_track_system_variables",
    "session_track_state_change",
];

/// Variables about the connection's own life, not its statements: a client's value is
/// never replayed onto pooled connections (one `SET wait_timeout = 1` would get them closed
/// under other sessions); sqlmux applies the client's `wait_timeout` to the client itself.
const CONNECTION_LIFETIME: [&str; 4] = [
    "wait_timeout",
    "interactive_timeout",
    "net_read_timeout",
    "net_write_timeout",
];

/// Whether a variable is about the connection's own life (see [`CONNECTION_LIFETIME`]).
pub fn is_connection_lifetime(name: &str) -> bool {
    CONNECTION_LIFETIME.contains(&name)
}

/// Variables that a fresh connection takes from the handshake, not from the global default:
/// a backend that differs on them is reset rather than SET to DEFAULT.
const HANDSHAKE_VARIABLES: [&str; 4] = [
    "character_set_client",
    "character_set_connection",
    "character_set_results",
    "collation_connection",
];

/// What the client has made of its session.
#[derive(Debug, Clone, Default)]
pub struct SessionState {
    /// Current schema.
    pub schema: Option<String>,
    /// System variables the session changed: lower-case name -> value text.
    pub vars: BTreeMap<String, String>,
    /// User variables with a known literal value: lower-case name -> SQL literal.
    pub user_vars: BTreeMap<String, String>,
    /// LAST_INSERT_ID() as a direct connection would return it.
    pub last_insert_id: u64,
    /// ROW_COUNT() as a direct connection would return it.
    pub row_count: i64,
    /// When the session last wrote (read-your-writes window).
    pub last_write: Option<Instant>,
}

/// What sqlmux knows a backend connection's session looks like.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendState {
    /// Current schema.
    pub schema: String,
    /// System variables changed since the connection was opened or reset.
    pub vars: BTreeMap<String, String>,
    /// User variables set on it.
    pub user_vars: BTreeMap<String, String>,
    /// Its LAST_INSERT_ID().
    pub last_insert_id: u64,
}

/// Whether a variable is replayed generically.
pub fn is_tracked(name: &str) -> bool {
    !UNTRACKED.contains(&name) && !is_connection_lifetime(name)
}

/// Renders a system variable value as a SET literal.
pub fn literal(value: &str) -> String {
    let numeric = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
        && value.bytes().any(|b| b.is_ascii_digit());
    if numeric {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// What must run on a backend before the session's next statement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replay {
    /// The backend has state the session must not see: reset it first.
    pub reset_first: bool,
    /// One SET statement with every assignment, if any is needed.
    pub set: Option<String>,
}

impl Replay {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        !self.reset_first && self.set.is_none()
    }
}

impl SessionState {
    /// What brings `backend` to this session's state. `user_vars`: the statement reads user
    /// variables; `last_insert_id`: the statement may read or keep LAST_INSERT_ID().
    pub fn replay_for(
        &self,
        backend: &BackendState,
        user_vars: bool,
        last_insert_id: bool,
    ) -> Replay {
        let foreign_handshake_var = backend
            .vars
            .keys()
            .any(|k| HANDSHAKE_VARIABLES.contains(&k.as_str()) && !self.vars.contains_key(k));
        let reset_first = foreign_handshake_var;
        let empty = BackendState::default();
        let base = if reset_first { &empty } else { backend };
        let mut items: Vec<String> = Vec::new();
        for (name, value) in &self.vars {
            if base.vars.get(name) != Some(value) {
                items.push(format!("{name} = {}", literal(value)));
            }
        }
        for name in base.vars.keys() {
            if !self.vars.contains_key(name) {
                items.push(format!("{name} = DEFAULT"));
            }
        }
        if user_vars {
            for (name, value) in &self.user_vars {
                if base.user_vars.get(name) != Some(value) {
                    items.push(format!("@`{}` = {value}", name.replace('`', "``")));
                }
            }
            for name in base.user_vars.keys() {
                if !self.user_vars.contains_key(name) {
                    items.push(format!("@`{}` = NULL", name.replace('`', "``")));
                }
            }
        }
        if last_insert_id && base.last_insert_id != self.last_insert_id {
            items.push(format!("last_insert_id = {}", self.last_insert_id));
        }
        Replay {
            reset_first,
            set: (!items.is_empty()).then(|| format!("SET {}", items.join(", "))),
        }
    }
}

impl BackendState {
    /// Records what a replay did (after it succeeded).
    pub fn applied(
        &mut self,
        session: &SessionState,
        replay: &Replay,
        user_vars: bool,
        last_insert_id: bool,
    ) {
        if replay.reset_first {
            let schema = std::mem::take(&mut self.schema);
            *self = BackendState {
                schema,
                ..BackendState::default()
            };
        }
        self.vars = session.vars.clone();
        if user_vars {
            self.user_vars = session.user_vars.clone();
        }
        if last_insert_id {
            self.last_insert_id = session.last_insert_id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(vars: &[(&str, &str)]) -> SessionState {
        SessionState {
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..SessionState::default()
        }
    }

    #[test]
    fn replays_differences_and_defaults_foreign_vars() {
        let s = session(&[("sql_mode", "ANSI"), ("wait_timeout", "100")]);
        let mut b = BackendState::default();
        b.vars.insert("time_zone".into(), "+01:00".into());
        b.vars.insert("wait_timeout".into(), "100".into());
        let r = s.replay_for(&b, false, false);
        assert!(!r.reset_first);
        assert_eq!(
            r.set.as_deref(),
            Some("SET sql_mode = 'ANSI', time_zone = DEFAULT")
        );
        b.applied(&s, &r, false, false);
        assert!(s.replay_for(&b, false, false).is_empty());
    }

    #[test]
    fn foreign_charset_resets_the_backend() {
        let s = session(&[]);
        let mut b = BackendState::default();
        b.vars
            .insert("character_set_client".into(), "latin1".into());
        let r = s.replay_for(&b, false, false);
        assert!(r.reset_first);
        assert_eq!(r.set, None);
    }

    #[test]
    fn user_vars_and_last_insert_id_only_when_needed() {
        let mut s = session(&[]);
        s.user_vars.insert("x".into(), "'a''b'".into());
        s.last_insert_id = 42;
        let mut b = BackendState::default();
        b.user_vars.insert("y".into(), "1".into());
        assert!(s.replay_for(&b, false, false).is_empty());
        let r = s.replay_for(&b, true, true);
        assert_eq!(
            r.set.as_deref(),
            Some("SET @`x` = 'a''b', @`y` = NULL, last_insert_id = 42")
        );
    }

    #[test]
    fn literals() {
        assert_eq!(literal("100"), "100");
        assert_eq!(literal("-1.5"), "-1.5");
        assert_eq!(literal("OFF"), "'OFF'");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal("-"), "'-'");
    }
}
