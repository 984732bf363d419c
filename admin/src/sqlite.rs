//! The SQLite side of the admin store: a client's statement run under limits (time, rows,
//! bytes), the authorizer that keeps clients to what they may do, and the functions and
//! session variables the store answers.

use super::*;

/// Longest an admin statement runs.
pub(super) const ADMIN_STATEMENT_TIME: std::time::Duration = std::time::Duration::from_secs(5);
/// Most rows an admin statement returns.
pub(super) const ADMIN_MAX_ROWS: usize = 100_000;
/// Most bytes of values an admin statement returns.
pub(super) const ADMIN_MAX_BYTES: usize = 64 << 20;
/// Longest value SQLite makes in the admin store (strings and blobs).
pub(crate) const ADMIN_MAX_VALUE: i32 = 16 << 20;

/// Why one statement on the store failed.
pub(super) enum QueryError {
    /// SQLite's own error.
    Sql(rusqlite::Error),
    /// Past the rows or bytes an admin statement may return.
    Limit(&'static str),
}

impl From<QueryError> for AdminError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Sql(e) => AdminError::Sql(e),
            QueryError::Limit(what) => AdminError::Limit(what),
        }
    }
}

impl From<rusqlite::Error> for QueryError {
    fn from(e: rusqlite::Error) -> Self {
        QueryError::Sql(e)
    }
}

/// Runs one SQL statement on the store.
pub(super) fn query(conn: &Connection, sql: &str) -> Result<Outcome, QueryError> {
    let mut stmt = conn.prepare(sql)?;
    let n = stmt.column_count();
    if n == 0 {
        let affected = stmt.execute([])?;
        return Ok(Outcome::Done {
            affected: affected as u64,
            info: String::new(),
        });
    }
    let columns: Vec<String> = stmt.column_names().map(str::to_string).collect();
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    let mut bytes = 0;
    while let Some(row) = rows.next()? {
        if out.len() == ADMIN_MAX_ROWS {
            return Err(QueryError::Limit("more than 100,000 rows"));
        }
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            let value = render(row.get_ref(i)?);
            bytes += value.as_ref().map_or(0, String::len);
            values.push(value);
        }
        if bytes > ADMIN_MAX_BYTES {
            return Err(QueryError::Limit("more than 64 MiB of values"));
        }
        out.push(values);
    }
    Ok(Outcome::Rows { columns, rows: out })
}

/// A SQLite value as the text a MySQL client shows.
pub(super) fn render(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
    }
}

pub(super) const SCHEMA_CHANGES: &str = "changing the schema (CREATE, DROP, ALTER, ...)";

/// PRAGMAs a client may run (all read-only).
pub(super) const READ_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
];

/// What a client statement may do: read anything, write only the configuration tables; no
/// DDL, transactions, ATTACH or PRAGMA writes. The first refusal is kept in `denial` to
/// replace SQLite's generic "not authorized".
pub(super) fn client_authorizer(
    denial: Arc<Mutex<Option<AdminError>>>,
) -> impl for<'r> FnMut(AuthContext<'r>) -> Authorization + Send + 'static {
    move |ctx: AuthContext<'_>| {
        let verdict = match ctx.action {
            AuthAction::Select
            | AuthAction::Read { .. }
            | AuthAction::Function { .. }
            | AuthAction::Recursive => Ok(()),
            AuthAction::Insert { table_name }
            | AuthAction::Delete { table_name }
            | AuthAction::Update { table_name, .. } => {
                if ctx.database_name == Some("main") && schema::is_editable(table_name) {
                    Ok(())
                } else if table_name.to_ascii_lowercase().starts_with("sqlite_") {
                    // DDL writes the schema table first.
                    Err(AdminError::Unsupported(SCHEMA_CHANGES.into()))
                } else {
                    Err(AdminError::ReadOnly {
                        table: table_name.to_string(),
                        hint: schema::read_only_hint(table_name),
                    })
                }
            }
            AuthAction::Pragma {
                pragma_name,
                pragma_value,
            } => {
                if READ_PRAGMAS.contains(&pragma_name.to_ascii_lowercase().as_str()) {
                    Ok(())
                } else {
                    Err(AdminError::Unsupported(match pragma_value {
                        Some(v) => format!("PRAGMA {pragma_name} = {v}"),
                        None => format!("PRAGMA {pragma_name}"),
                    }))
                }
            }
            AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => Err(
                AdminError::Unsupported("a transaction (each statement commits on its own)".into()),
            ),
            AuthAction::Attach { .. } | AuthAction::Detach { .. } => {
                Err(AdminError::Unsupported("ATTACH, DETACH or VACUUM".into()))
            }
            _ => Err(AdminError::Unsupported(SCHEMA_CHANGES.into())),
        };
        match verdict {
            Ok(()) => Authorization::Allow,
            Err(e) => {
                denial
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert(e);
                Authorization::Deny
            }
        }
    }
}

/// SQL functions MySQL clients expect: `DATABASE()`, `SCHEMA()`, `VERSION()`, `USER()`,
/// `CURRENT_USER()`.
pub(super) fn register_functions(conn: &Connection, shared: &Arc<Shared>) -> rusqlite::Result<()> {
    for name in ["database", "schema"] {
        conn.create_scalar_function(name, 0, FunctionFlags::SQLITE_UTF8, |_| Ok("main"))?;
    }
    let s = shared.clone();
    conn.create_scalar_function("version", 0, FunctionFlags::SQLITE_UTF8, move |_| {
        Ok(admin_version(&s.runtime.load()))
    })?;
    for name in ["user", "current_user"] {
        let s = shared.clone();
        conn.create_scalar_function(name, 0, FunctionFlags::SQLITE_UTF8, move |_| {
            Ok(s.runtime.load().admin.as_ref().map(|a| a.user.clone()))
        })?;
    }
    Ok(())
}

/// The version the admin port announces: the configured one, else sqlmux's own.
pub(crate) fn admin_version(rt: &Runtime) -> String {
    rt.mysql
        .server_version
        .clone()
        .unwrap_or_else(|| sqlmux_config::MysqlSettings::FALLBACK_VERSION.to_string())
}

/// The value of a session variable a client may ask for with `SELECT @@name`.
pub(super) fn session_variable(rt: &Runtime, name: &str) -> Option<String> {
    let v = match name {
        "version_comment" => VERSION_COMMENT,
        "version" => return Some(admin_version(rt)),
        "max_allowed_packet" => "16777215",
        "autocommit" | "auto_increment_increment" | "auto_increment_offset" => "1",
        "character_set_client"
        | "character_set_connection"
        | "character_set_results"
        | "character_set_server"
        | "character_set_database"
        | "character_set_system" => "utf8",
        "collation_connection" | "collation_server" | "collation_database" => "utf8_general_ci",
        "sql_mode" | "init_connect" => "",
        "time_zone" => "SYSTEM",
        "system_time_zone" => "UTC",
        "transaction_isolation" | "tx_isolation" => "SERIALIZABLE",
        "transaction_read_only"
        | "tx_read_only"
        | "lower_case_table_names"
        | "warning_count"
        | "error_count"
        | "performance_schema"
        | "query_cache_size"
        | "identity"
        | "last_insert_id" => "0",
        "query_cache_type" => "OFF",
        "have_ssl" => "DISABLED",
        "wait_timeout" | "interactive_timeout" => "28800",
        "net_write_timeout" => "60",
        "net_read_timeout" => "30",
        "sql_select_limit" => "18446744073709551615",
        "license" => "Apache-2.0",
        "version_compile_os" => std::env::consts::OS,
        "version_compile_machine" => std::env::consts::ARCH,
        _ => return None,
    };
    Some(v.to_string())
}
