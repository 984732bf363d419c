//! The `variables` table read back into the file sections it sets.

use super::*;

/// Reads the `variables` table into the sections of `file` it sets.
pub(super) fn read_variables(conn: &Connection, file: &mut ConfigFile) -> Result<(), Problem> {
    let err = |e| sql_err("variables", e);
    let mut stmt = conn
        .prepare("SELECT name, value FROM main.variables ORDER BY rowid")
        .map_err(err)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Value>(1)?)))
        .map_err(err)?;
    let mut vars = Variables::default();
    for row in rows {
        let (name, value) = row.map_err(err)?;
        vars.set(name, value)?;
    }
    if let Some(monitor) = vars.monitor {
        // An empty monitor.user turns the monitor off.
        file.monitor = Some(monitor).filter(|m| !m.user.is_empty());
    }
    file.pool = vars.pool;
    file.failover = vars.failover;
    file.mysql = vars.mysql;
    file.log = vars.log;
    Ok(())
}

/// The sections the `variables` table sets.
#[derive(Default)]
struct Variables {
    pool: PoolFile,
    failover: sqlmux_config::file::FailoverFile,
    mysql: MysqlFile,
    log: LogFile,
    /// Without any monitor.* row (a store saved before they existed) the monitor is kept.
    monitor: Option<sqlmux_config::file::MonitorFile>,
}

impl Variables {
    /// Sets variable `name` from its row's `value`.
    fn set(&mut self, name: String, value: Value) -> Result<(), Problem> {
        let vars = self;
        let value = match value {
            Value::Text(t) => t,
            Value::Integer(i) => i.to_string(),
            Value::Real(f) => f.to_string(),
            Value::Null | Value::Blob(_) => {
                return Err(format!(
                    "variables row (name={}): value must be text",
                    quote(&name)
                ))
            }
        };
        let label = format!("variables row (name={})", quote(&name));
        let number = |v: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("{label}: value {} is not a non-negative integer", quote(v)))
        };
        match name.as_str() {
            "pool.connect_timeout_ms" => vars.pool.connect_timeout_ms = Some(number(&value)?),
            "pool.idle_timeout_ms" => vars.pool.idle_timeout_ms = Some(number(&value)?),
            "pool.max_lifetime_ms" => vars.pool.max_lifetime_ms = Some(number(&value)?),
            "pool.wait_timeout_ms" => vars.pool.wait_timeout_ms = Some(number(&value)?),
            "pool.shun_after_errors" => {
                vars.pool.shun_after_errors =
                    Some(u32::try_from(number(&value)?).map_err(|_| format!("{name}: too large"))?)
            }
            "pool.shun_ms" => vars.pool.shun_ms = Some(number(&value)?),
            "pool.query_timeout_ms" => vars.pool.query_timeout_ms = Some(number(&value)?),
            "pool.idle_transaction_timeout_ms" => {
                vars.pool.idle_transaction_timeout_ms = Some(number(&value)?)
            }
            "failover.hold_timeout_ms" => vars.failover.hold_timeout_ms = Some(number(&value)?),
            "failover.hold_max_statements" => {
                vars.failover.hold_max_statements = Some(
                    usize::try_from(number(&value)?)
                        .map_err(|_| format!("{label}: value {} is out of range", quote(&value)))?,
                )
            }
            "failover.hold_max_bytes" => vars.failover.hold_max_bytes = Some(number(&value)?),
            "failover.min_interval_ms" => vars.failover.min_interval_ms = Some(number(&value)?),
            m if m.starts_with("monitor.") => {
                let monitor = vars.monitor.get_or_insert_with(monitor_defaults);
                let count = |v: &str| {
                    u32::try_from(number(v)?)
                        .map_err(|_| format!("{label}: value {} is out of range", quote(v)))
                };
                match m {
                    "monitor.user" => monitor.user = value,
                    "monitor.password" => monitor.password = value,
                    "monitor.database" => monitor.database = Some(value).filter(|v| !v.is_empty()),
                    "monitor.interval_ms" => monitor.interval_ms = Some(number(&value)?),
                    "monitor.timeout_ms" => monitor.timeout_ms = Some(number(&value)?),
                    "monitor.down_after" => monitor.down_after = Some(count(&value)?),
                    "monitor.up_after" => monitor.up_after = Some(count(&value)?),
                    other => return Err(unknown_variable(other)),
                }
            }
            "mysql.local_infile" => {
                vars.mysql.local_infile = Some(match value.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "on" | "yes" => true,
                    "false" | "0" | "off" | "no" => false,
                    _ => {
                        return Err(format!(
                            "{label}: value {} is not a boolean (true or false)",
                            quote(&value)
                        ))
                    }
                })
            }
            "mysql.server_version" => {
                vars.mysql.server_version = Some(value).filter(|v| !v.is_empty())
            }
            "mysql.default_auth_plugin" => vars.mysql.default_auth_plugin = Some(value),
            "mysql.backend_statement_limit" => {
                let n = number(&value)?;
                vars.mysql.backend_statement_limit =
                    Some(usize::try_from(n).map_err(|_| {
                        format!("{label}: value {} is out of range", quote(&value))
                    })?);
            }
            "log.level" => vars.log.level = Some(value),
            other => return Err(unknown_variable(other)),
        }
        Ok(())
    }
}

/// A monitor section with nothing set yet.
fn monitor_defaults() -> sqlmux_config::file::MonitorFile {
    sqlmux_config::file::MonitorFile {
        user: String::new(),
        password: String::new(),
        password_file: None,
        password_env: None,
        database: None,
        interval_ms: None,
        timeout_ms: None,
        down_after: None,
        up_after: None,
    }
}

/// The refusal of a variable sqlmux does not have.
fn unknown_variable(name: &str) -> Problem {
    format!(
        "variables row (name={}): unknown variable (known: {})",
        quote(name),
        VARIABLE_NAMES.join(", ")
    )
}
