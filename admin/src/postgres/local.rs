//! What the PostgreSQL admin port answers itself: what PostgreSQL clients send on their
//! own (`version()`, `current_user`, `SHOW`/`SET` of session parameters).

use super::*;

/// Session parameters a `SET` (or `RESET`) of which is accepted without effect.
const SESSION_PARAMETERS: &[&str] = &[
    "application_name",
    "bytea_output",
    "client_encoding",
    "client_min_messages",
    "datestyle",
    "default_transaction_isolation",
    "default_transaction_read_only",
    "extra_float_digits",
    "idle_in_transaction_session_timeout",
    "intervalstyle",
    "lock_timeout",
    "search_path",
    "session characteristics",
    "standard_conforming_strings",
    "statement_timeout",
    "time zone",
    "timezone",
];

/// Statements of PostgreSQL clients the port answers itself (module doc); `None` for the
/// rest, which go to [`Admin::execute`].
pub(super) fn local_answer(
    port: &Port,
    socket: &Socket,
    statement: &str,
) -> Option<Result<Outcome, PgError>> {
    let normalized = statement
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    let one = |column: &str, value: Option<String>| {
        Some(Ok(Outcome::Rows {
            columns: vec![column.to_string()],
            rows: vec![vec![value]],
        }))
    };
    let accepted = || {
        Some(Ok(Outcome::Done {
            affected: 0,
            info: String::new(),
        }))
    };
    match normalized.as_str() {
        "select version()" | "select pg_catalog.version()" => {
            return one("version", Some(VERSION.to_string()))
        }
        "select current_database()" | "select pg_catalog.current_database()" => {
            let database = socket.metadata().get(METADATA_DATABASE).cloned();
            return one("current_database", database);
        }
        "select current_user" | "select session_user" | "select user" => {
            let user = socket.metadata().get(METADATA_USER).cloned();
            let column = normalized.trim_start_matches("select ");
            return one(column, user);
        }
        "discard all" | "reset all" => return accepted(),
        _ => {}
    }
    if (normalized.contains("pg_catalog.") || normalized.contains("information_schema."))
        && crate::catalog::recognize(&normalized).is_none()
    {
        return Some(Err(PgError {
            code: "0A000",
            message: "the sqlmux admin interface has no PostgreSQL catalog (pg_catalog, \
                      information_schema) beyond what psql's \\dt, \\d TABLE and \\l ask: list the \
                      tables with SHOW TABLES, their columns with PRAGMA table_info(<table>)"
                .into(),
        }));
    }
    if let Some(name) = normalized.strip_prefix("show ") {
        return show(port, socket, name);
    }
    set_or_reset(&normalized)
}

/// `SHOW name`: the admin's own SHOW commands go on (`None`); a parameter announced at
/// startup (and a few more PostgreSQL clients ask for) is answered.
fn show(port: &Port, socket: &Socket, name: &str) -> Option<Result<Outcome, PgError>> {
    if matches!(
        name,
        "tables"
            | "databases"
            | "schemas"
            | "pools"
            | "clients"
            | "servers"
            | "stats"
            | "clusters"
            | "version"
    ) {
        return None;
    }
    let name = name.trim_matches('"');
    let mut parameters = port
        .parameters
        .server_parameters(socket)
        .unwrap_or_default();
    parameters.insert("server_version_num".into(), SERVER_VERSION_NUM.into());
    parameters.insert("transaction_isolation".into(), "serializable".into());
    parameters.insert("max_identifier_length".into(), "63".into());
    Some(
        match parameters
            .into_iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
        {
            Some((key, value)) => Ok(Outcome::Rows {
                columns: vec![key],
                rows: vec![vec![Some(value)]],
            }),
            None => Err(PgError {
                code: "42704",
                message: format!("unrecognized configuration parameter \"{name}\""),
            }),
        },
    )
}

/// `SET` / `RESET` of a session parameter: accepted without effect; `None` for the rest.
fn set_or_reset(normalized: &str) -> Option<Result<Outcome, PgError>> {
    let target = normalized
        .strip_prefix("set ")
        .or_else(|| normalized.strip_prefix("reset "))?;
    let target = target
        .strip_prefix("session ")
        .or_else(|| target.strip_prefix("local "))
        .unwrap_or(target);
    let known = SESSION_PARAMETERS.iter().any(|p| {
        target
            .strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '=']))
    });
    known.then(|| {
        Ok(Outcome::Done {
            affected: 0,
            info: String::new(),
        })
    })
}
