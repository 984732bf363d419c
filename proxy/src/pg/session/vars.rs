//! Run-time parameters a session set (startup packet, SET, RESET), kept as SQL value text
//! and replayed on whichever backend serves the session.

use sqlmux_protocol::dialect::postgres::{SetCommand, SetValue};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A set of run-time parameters (name -> SQL value), shared copy-on-write: sessions that
/// start with the same parameters share one map, so checking a pooled backend against a
/// session is usually a pointer comparison.
pub type Vars = Arc<BTreeMap<String, String>>;

/// Distinct startup parameter sets shared; past it, sessions keep their own copy.
const SHARED_STARTUP_SETS: usize = 256;

/// The shared copy of a session's startup parameters (its own when the table is full).
pub fn shared_startup_vars(
    table: &crate::shared::FastMap<BTreeMap<String, String>, Vars>,
    vars: BTreeMap<String, String>,
) -> Vars {
    crate::shared::shared_copy(table, &vars, SHARED_STARTUP_SETS, || {
        (vars.clone(), Arc::new(vars.clone()))
    })
}

/// Startup parameters that are not run-time parameters.
const NOT_GUCS: [&str; 3] = ["user", "database", "replication"];

/// A value as a quoted SQL literal.
pub fn literal(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    if value.contains('\\') {
        out.push('E');
    }
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A parameter name as SQL: plain when it is a simple (possibly dotted) identifier.
fn name_sql(name: &str) -> String {
    let simple = !name.is_empty()
        && name.split('.').all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        });
    if simple {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// The run-time parameters of a startup packet, `options` (`-c name=value`) included.
pub fn startup_vars(params: &[(String, String)]) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for (k, v) in params {
        if NOT_GUCS.contains(&k.as_str()) {
            continue;
        }
        if k == "options" {
            for (name, value) in parse_options(v) {
                vars.insert(name.to_ascii_lowercase(), literal(&value));
            }
            continue;
        }
        vars.insert(k.to_ascii_lowercase(), literal(v));
    }
    vars
}

/// `-c name=value` and `--name=value` settings of an `options` string (backslash escapes
/// spaces, as libpq does).
fn parse_options(options: &str) -> Vec<(String, String)> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let setting = if words[i] == "-c" {
            i += 1;
            words.get(i).cloned()
        } else if let Some(rest) = words[i].strip_prefix("-c") {
            Some(rest.to_string())
        } else {
            words[i].strip_prefix("--").map(str::to_string)
        };
        if let Some((k, v)) = setting.as_deref().and_then(|s| s.split_once('=')) {
            out.push((k.replace('-', "_"), v.to_string()));
        }
        i += 1;
    }
    out
}

/// The statements that turn a backend with `have` into one with `want`.
pub fn replay_sql(have: &BTreeMap<String, String>, want: &BTreeMap<String, String>) -> String {
    let mut sql = String::new();
    for (k, v) in want {
        if have.get(k) != Some(v) {
            sql.push_str(&format!("SET {} TO {v};", name_sql(k)));
        }
    }
    for k in have.keys() {
        if !want.contains_key(k) {
            sql.push_str(&format!("RESET {};", name_sql(k)));
        }
    }
    sql
}

/// Applies a successful session-level SET/RESET to the session's parameters; `startup` is
/// what RESET returns to. Returns false for commands that are not tracked this way.
pub fn apply(
    vars: &mut BTreeMap<String, String>,
    startup: &BTreeMap<String, String>,
    command: &SetCommand,
) -> bool {
    let reset = |vars: &mut BTreeMap<String, String>, name: &str| match startup.get(name) {
        Some(v) => {
            vars.insert(name.to_string(), v.clone());
        }
        None => {
            vars.remove(name);
        }
    };
    match command {
        SetCommand::Set { local: true, .. } | SetCommand::Transaction => true,
        SetCommand::Set {
            name,
            value: SetValue::Default,
            ..
        }
        | SetCommand::Reset { name } => {
            reset(vars, name);
            true
        }
        SetCommand::Set {
            name,
            value: SetValue::Text(v),
            ..
        } => {
            vars.insert(name.clone(), v.clone());
            true
        }
        SetCommand::ResetAll => {
            *vars = startup.clone();
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_startup_parameters_share_one_map_until_the_table_is_full() {
        let table = crate::shared::FastMap::default();
        let params = |app: &str| startup_vars(&[("application_name".into(), app.into())]);
        let a = shared_startup_vars(&table, params("a"));
        let again = shared_startup_vars(&table, params("a"));
        assert!(Arc::ptr_eq(&a, &again));
        let b = shared_startup_vars(&table, params("b"));
        assert!(!Arc::ptr_eq(&a, &b));
        assert_eq!(b["application_name"], "'b'");
        for i in 0..SHARED_STARTUP_SETS {
            shared_startup_vars(&table, params(&i.to_string()));
        }
        assert_eq!(table.len(), SHARED_STARTUP_SETS);
        let own = shared_startup_vars(&table, params("late"));
        let own_again = shared_startup_vars(&table, params("late"));
        assert!(
            !Arc::ptr_eq(&own, &own_again),
            "a full table shares no more"
        );
        assert_eq!(own, own_again);
    }

    #[test]
    fn startup_parameters_become_literals() {
        let v = startup_vars(&[
            ("user".into(), "u".into()),
            ("application_name".into(), "it's".into()),
            ("DateStyle".into(), "ISO".into()),
            (
                "options".into(),
                "-c search_path=a,b --statement-timeout=5s -cwork_mem=64kB".into(),
            ),
        ]);
        assert_eq!(v["application_name"], "'it''s'");
        assert_eq!(v["datestyle"], "'ISO'");
        assert_eq!(v["search_path"], "'a,b'");
        assert_eq!(v["statement_timeout"], "'5s'");
        assert_eq!(v["work_mem"], "'64kB'");
        assert!(!v.contains_key("user"));
        assert_eq!(literal("a\\b"), "E'a\\\\b'");
    }

    #[test]
    fn replay_sets_differences_and_resets_extras() {
        let have: BTreeMap<_, _> = [
            ("timezone".to_string(), "'UTC'".to_string()),
            ("x.y".into(), "'1'".into()),
        ]
        .into();
        let want: BTreeMap<_, _> = [
            ("timezone".to_string(), "'Europe/Paris'".to_string()),
            ("Odd".into(), "1".into()),
        ]
        .into();
        assert_eq!(
            replay_sql(&have, &want),
            "SET \"Odd\" TO 1;SET timezone TO 'Europe/Paris';RESET x.y;"
        );
        assert_eq!(replay_sql(&want, &want), "");
    }

    #[test]
    fn set_and_reset_track_values() {
        let startup: BTreeMap<_, _> =
            [("application_name".to_string(), "'psql'".to_string())].into();
        let mut vars = startup.clone();
        let set = |name: &str, v: &str| SetCommand::Set {
            local: false,
            name: name.into(),
            value: SetValue::Text(v.into()),
        };
        assert!(apply(&mut vars, &startup, &set("application_name", "'x'")));
        assert!(apply(&mut vars, &startup, &set("timezone", "'UTC'")));
        assert_eq!(vars["application_name"], "'x'");
        apply(
            &mut vars,
            &startup,
            &SetCommand::Reset {
                name: "application_name".into(),
            },
        );
        assert_eq!(vars["application_name"], "'psql'");
        apply(&mut vars, &startup, &SetCommand::ResetAll);
        assert_eq!(vars, startup);
        let local = SetCommand::Set {
            local: true,
            name: "timezone".into(),
            value: SetValue::Text("'UTC'".into()),
        };
        assert!(apply(&mut vars, &startup, &local));
        assert_eq!(vars, startup);
    }
}
