//! Recognizes the statements the admin interface answers itself (`LOAD`, `SAVE`,
//! `SELECT @@var`, `SHOW`, session `SET`); everything else is SQL for SQLite.

use super::error::AdminError;
use super::tables::Parts;

/// What a statement asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command<'a> {
    /// `LOAD <parts> TO RUNTIME` (also `FROM MEMORY`).
    LoadToRuntime(Parts, &'static str),
    /// `LOAD <parts> FROM DISK` (also `TO MEMORY`): saved store -> tables.
    LoadFromDisk(Parts, &'static str),
    /// `SAVE <parts> TO DISK` (also `FROM MEMORY`): tables -> saved store.
    SaveToDisk(Parts, &'static str),
    /// `SAVE <parts> FROM RUNTIME` (also `TO MEMORY`): live runtime -> tables.
    SaveFromRuntime(Parts, &'static str),
    /// `SELECT @@a, @@b [LIMIT n]`: (column name as written, variable name without `@@`,
    /// scope or case) of each item.
    Variables(Vec<(String, String)>),
    /// `SHOW TABLES`.
    ShowTables,
    /// `SHOW DATABASES` / `SHOW SCHEMAS`.
    ShowDatabases,
    /// A session `SET` a client library sends (names, autocommit, sql_mode, ...): accepted,
    /// no effect.
    SessionSet,
    /// `HOLD CLUSTER name`: an explicit failover hold (as `POST /v1/clusters/{name}/hold`,
    /// without waiting for the drain).
    Hold(&'a str),
    /// `RELEASE CLUSTER name`.
    Release(&'a str),
    /// Anything else: SQL for the store.
    Sql(&'a str),
}

/// Session variables a client library may set at connect; accepted without effect.
const SESSION_VARIABLES: &[&str] = &[
    "autocommit",
    "sql_mode",
    "time_zone",
    "character_set_client",
    "character_set_connection",
    "character_set_results",
    "character_set_server",
    "collation_connection",
    "transaction_isolation",
    "tx_isolation",
    "transaction_read_only",
    "tx_read_only",
    "net_write_timeout",
    "net_read_timeout",
    "wait_timeout",
    "interactive_timeout",
    "sql_select_limit",
    "sql_auto_is_null",
    "sql_safe_updates",
    "session_track_schema",
    "session_track_state_change",
    "session_track_system_variables",
    "session_track_transaction_info",
];

/// The statement without surrounding blanks, trailing `;` and leading `/* ... */` comments.
pub(crate) fn trim_statement(sql: &str) -> &str {
    let mut s = sql.trim();
    while let Some(rest) = s.strip_prefix("/*") {
        match rest.find("*/") {
            Some(end) => s = rest[end + 2..].trim_start(),
            None => break,
        }
    }
    while let Some(rest) = s.strip_suffix(';') {
        s = rest.trim_end();
    }
    s
}

/// Classifies one statement.
pub(crate) fn parse(sql: &str) -> Result<Command<'_>, AdminError> {
    let s = trim_statement(sql);
    if s.is_empty() {
        return Err(AdminError::EmptyQuery);
    }
    let words: Vec<String> = s
        .split_whitespace()
        .map(|w| w.to_ascii_uppercase())
        .collect();
    match words[0].as_str() {
        "LOAD" | "SAVE" => parse_load_save(&words),
        "SELECT" => Ok(parse_variables(s).map_or(Command::Sql(s), Command::Variables)),
        "SHOW" => match words.get(1..).unwrap_or_default() {
            [t] if t == "TABLES" => Ok(Command::ShowTables),
            [d] if d == "DATABASES" || d == "SCHEMAS" => Ok(Command::ShowDatabases),
            [v] => super::console::view(v).map(Command::Sql).ok_or_else(|| {
                AdminError::Unsupported(format!(
                    "{s:?} (SHOW TABLES, DATABASES, POOLS, CLIENTS, SERVERS, STATS, CLUSTERS and VERSION are; query sqlite_master for more)"
                ))
            }),
            _ => Err(AdminError::Unsupported(format!(
                "{s:?} (SHOW TABLES, DATABASES, POOLS, CLIENTS, SERVERS, STATS, CLUSTERS and VERSION are; query sqlite_master for more)"
            ))),
        },
        "SET" => parse_set(s),
        "HOLD" | "RELEASE" if words.get(1).is_some_and(|w| w == "CLUSTER") => {
            let name = s.split_whitespace().nth(2);
            match (name, words.len()) {
                (Some(name), 3) if words[0] == "HOLD" => Ok(Command::Hold(name)),
                (Some(name), 3) => Ok(Command::Release(name)),
                _ => Err(AdminError::BadCommand(format!(
                    "cannot parse {s:?}: expected HOLD CLUSTER <name> or RELEASE CLUSTER <name>"
                ))),
            }
        }
        _ => Ok(Command::Sql(s)),
    }
}

const LOAD_SAVE_SYNTAX: &str = "expected LOAD {SERVERS|USERS|RULES|VARIABLES|ALL} TO RUNTIME, \
     LOAD ... FROM DISK, SAVE ... TO DISK or SAVE ... FROM RUNTIME";

/// The parts LOAD and SAVE name.
const PARTS: [(&str, Parts); 5] = [
    (
        "SERVERS",
        Parts {
            servers: true,
            ..Parts::NONE
        },
    ),
    (
        "USERS",
        Parts {
            users: true,
            ..Parts::NONE
        },
    ),
    (
        "RULES",
        Parts {
            rules: true,
            ..Parts::NONE
        },
    ),
    (
        "VARIABLES",
        Parts {
            variables: true,
            ..Parts::NONE
        },
    ),
    ("ALL", Parts::ALL),
];

fn parse_load_save(words: &[String]) -> Result<Command<'static>, AdminError> {
    let bad = || {
        AdminError::BadCommand(format!(
            "cannot parse {:?}: {LOAD_SAVE_SYNTAX}",
            words.join(" ")
        ))
    };
    let load = words[0] == "LOAD";
    // ProxySQL spellings: an optional MYSQL before the part, QUERY RULES for RULES.
    let mut i = 1;
    if words.get(i).is_some_and(|w| w == "MYSQL") {
        i += 1;
    }
    if words.get(i).is_some_and(|w| w == "QUERY") && words.get(i + 1).is_some_and(|w| w == "RULES")
    {
        i += 1;
    }
    let named = words.get(i).map(String::as_str);
    let (name, parts) = *PARTS
        .iter()
        .find(|(name, _)| named == Some(*name))
        .ok_or_else(bad)?;
    let direction: Vec<&str> = words[i + 1..].iter().map(String::as_str).collect();
    match (load, direction.as_slice()) {
        (true, ["TO", "RUNTIME" | "RUN"] | ["FROM", "MEMORY" | "MEM"]) => {
            Ok(Command::LoadToRuntime(parts, name))
        }
        (true, ["FROM", "DISK"] | ["TO", "MEMORY" | "MEM"]) => {
            Ok(Command::LoadFromDisk(parts, name))
        }
        (false, ["TO", "DISK"] | ["FROM", "MEMORY" | "MEM"]) => {
            Ok(Command::SaveToDisk(parts, name))
        }
        (false, ["FROM", "RUNTIME" | "RUN"] | ["TO", "MEMORY" | "MEM"]) => {
            Ok(Command::SaveFromRuntime(parts, name))
        }
        _ => Err(bad()),
    }
}

/// `SELECT @@a, @@session.b [LIMIT n]` -> `[("@@a", "a"), ("@@session.b", "b")]`; `None`
/// when the statement is anything else.
fn parse_variables(s: &str) -> Option<Vec<(String, String)>> {
    let rest = s.get(6..)?.trim();
    if !rest.starts_with("@@") {
        return None;
    }
    // An optional trailing LIMIT <n>.
    let lower = rest.to_ascii_lowercase();
    let list = match lower.rfind(" limit ") {
        Some(at) if rest[at + 7..].trim().parse::<u64>().is_ok() => &rest[..at],
        _ => rest,
    };
    let mut names = Vec::new();
    for item in list.split(',') {
        let column = item.trim();
        let name = column.strip_prefix("@@")?;
        let name = name.to_ascii_lowercase();
        let name = name
            .strip_prefix("session.")
            .or_else(|| name.strip_prefix("global."))
            .or_else(|| name.strip_prefix("local."))
            .unwrap_or(&name)
            .to_string();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        names.push((column.to_string(), name));
    }
    Some(names)
}

/// `SET NAMES ...`, `SET CHARACTER SET ...` and `SET [SESSION] <session variable> = ...` are
/// accepted without effect; any other `SET` is refused.
fn parse_set(s: &str) -> Result<Command<'static>, AdminError> {
    let lower = s.to_ascii_lowercase();
    let rest = lower[3..].trim_start();
    if rest.starts_with("names") || rest.starts_with("character set") || rest.starts_with("charset")
    {
        return Ok(Command::SessionSet);
    }
    let all_session = rest.split(',').all(|assignment| {
        let target = assignment.split('=').next().unwrap_or("").trim();
        let target = target
            .strip_prefix("session ")
            .or_else(|| target.strip_prefix("local "))
            .unwrap_or(target)
            .trim();
        let target = target
            .strip_prefix("@@session.")
            .or_else(|| target.strip_prefix("@@local."))
            .or_else(|| target.strip_prefix("@@"))
            .unwrap_or(target);
        SESSION_VARIABLES.contains(&target)
    });
    if all_session {
        Ok(Command::SessionSet)
    } else {
        Err(AdminError::Unsupported(format!(
            "{s:?} (to change a setting, UPDATE variables and LOAD VARIABLES TO RUNTIME)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_and_save_commands_in_any_case() {
        let servers = Parts {
            servers: true,
            users: false,
            rules: false,
            variables: false,
        };
        assert_eq!(
            parse("load servers to runtime").unwrap(),
            Command::LoadToRuntime(servers, "SERVERS")
        );
        assert_eq!(
            parse("LOAD MYSQL SERVERS TO RUNTIME;").unwrap(),
            Command::LoadToRuntime(servers, "SERVERS")
        );
        assert_eq!(
            parse("Save All To Disk").unwrap(),
            Command::SaveToDisk(Parts::ALL, "ALL")
        );
        assert!(matches!(
            parse("LOAD MYSQL QUERY RULES TO RUNTIME").unwrap(),
            Command::LoadToRuntime(p, "RULES") if p.rules && !p.servers
        ));
        assert!(matches!(
            parse("save variables from runtime").unwrap(),
            Command::SaveFromRuntime(p, "VARIABLES") if p.variables
        ));
        assert!(matches!(
            parse("LOAD USERS FROM DISK").unwrap(),
            Command::LoadFromDisk(p, "USERS") if p.users
        ));
        assert!(matches!(
            parse("LOAD SERVERS"),
            Err(AdminError::BadCommand(_))
        ));
        assert!(matches!(
            parse("LOAD NOTHING TO RUNTIME"),
            Err(AdminError::BadCommand(_))
        ));
        assert!(matches!(
            parse("SAVE SERVERS TO RUNTIME"),
            Err(AdminError::BadCommand(_))
        ));
    }

    #[test]
    fn variables_selects() {
        assert_eq!(
            parse("select @@version_comment limit 1").unwrap(),
            Command::Variables(vec![("@@version_comment".into(), "version_comment".into())])
        );
        assert_eq!(
            parse("SELECT @@session.autocommit, @@VERSION").unwrap(),
            Command::Variables(vec![
                ("@@session.autocommit".into(), "autocommit".into()),
                ("@@VERSION".into(), "version".into())
            ])
        );
        assert_eq!(
            parse("SELECT @@version + 1").unwrap(),
            Command::Sql("SELECT @@version + 1")
        );
        assert_eq!(
            parse("SELECT * FROM servers").unwrap(),
            Command::Sql("SELECT * FROM servers")
        );
    }

    #[test]
    fn show_set_and_empty() {
        assert_eq!(parse("show tables").unwrap(), Command::ShowTables);
        assert_eq!(parse("SHOW DATABASES;").unwrap(), Command::ShowDatabases);
        assert!(matches!(
            parse("SHOW PROCESSLIST"),
            Err(AdminError::Unsupported(_))
        ));
        assert_eq!(parse("SET NAMES utf8mb4").unwrap(), Command::SessionSet);
        assert_eq!(
            parse("SET autocommit=1, sql_mode = ''").unwrap(),
            Command::SessionSet
        );
        assert_eq!(
            parse("SET @@session.autocommit = 0").unwrap(),
            Command::SessionSet
        );
        assert!(matches!(
            parse("SET weight = 5"),
            Err(AdminError::Unsupported(_))
        ));
        assert!(matches!(parse("  ;; "), Err(AdminError::EmptyQuery)));
        assert!(matches!(parse("/* c */ "), Err(AdminError::EmptyQuery)));
    }
}
