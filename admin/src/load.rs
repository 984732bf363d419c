//! `LOAD ... TO RUNTIME`: the edited tables become a configuration file model (the parts
//! not loaded come from the running runtime), `sqlmux_config` validates it exactly as it
//! validates the TOML file, and only a valid result is swapped in.

mod from_runtime;
mod variables;

pub(crate) use from_runtime::file_from_runtime;
use variables::read_variables;

use super::tables::Parts;
use rusqlite::types::Value;
use rusqlite::Connection;
use sqlmux_config::file::{
    AdminFile, ClusterFile, ConfigFile, ControlFile, ListenFile, LogFile, MysqlFile, PoolFile,
    RuleFile, ServerFile, ShutdownFile, TlsFile, UserFile,
};
use sqlmux_config::{ConfigError, Protocol, Runtime};

/// A refused table edit: which row and what is wrong.
pub(crate) type Problem = String;

/// The variables of the `variables` table, in the contract's dotted names.
pub(crate) const VARIABLE_NAMES: [&str; 24] = [
    "pool.connect_timeout_ms",
    "pool.idle_timeout_ms",
    "pool.max_lifetime_ms",
    "pool.wait_timeout_ms",
    "pool.shun_after_errors",
    "pool.shun_ms",
    "pool.query_timeout_ms",
    "pool.idle_transaction_timeout_ms",
    "failover.hold_timeout_ms",
    "failover.hold_max_statements",
    "failover.hold_max_bytes",
    "failover.min_interval_ms",
    "monitor.user",
    "monitor.password",
    "monitor.database",
    "monitor.interval_ms",
    "monitor.timeout_ms",
    "monitor.down_after",
    "monitor.up_after",
    "mysql.local_infile",
    "mysql.server_version",
    "mysql.default_auth_plugin",
    "mysql.backend_statement_limit",
    "log.level",
];

/// Builds and validates the runtime that `LOAD <parts> TO RUNTIME` would publish.
pub(crate) fn build(
    conn: &Connection,
    parts: Parts,
    current: &Runtime,
) -> Result<Runtime, Problem> {
    let mut file = file_from_runtime(current);
    let mut labels = Labels::default();
    if parts.servers {
        let sources = std::mem::take(&mut file.clusters);
        (file.clusters, labels.clusters) = read_clusters(conn)?;
        // A cluster's Patroni source is the config file's (no table has it): kept by name.
        for cluster in &mut file.clusters {
            cluster.patroni = sources
                .iter()
                .find(|c| c.name == cluster.name)
                .and_then(|c| c.patroni.clone());
        }
        (file.servers, labels.servers) = read_servers(conn)?;
        // No table has it either: the config file's, by address.
        for server in &mut file.servers {
            server.allow_cleartext_password = Some(current.allows_cleartext(&server.address));
            let (ca, verify) = current.backend_tls_of(&server.address);
            server.tls_ca = ca.map(str::to_string);
            server.tls_verify = Some(verify);
        }
    }
    if parts.users {
        (file.users, labels.users) = read_users(conn)?;
    }
    if parts.rules {
        (file.rules, labels.rules) = read_rules(conn)?;
    }
    if parts.variables {
        read_variables(conn, &mut file)?;
        labels.variables = true;
    }
    sqlmux_config::validate::compile(file).map_err(|e| labels.explain(e))
}

/// Row descriptions of the loaded tables, to name the row a validation error is about.
#[derive(Default)]
struct Labels {
    clusters: Vec<String>,
    servers: Vec<String>,
    users: Vec<String>,
    rules: Vec<String>,
    variables: bool,
}

impl Labels {
    /// Turns `servers[2].address: bad address` into
    /// `servers row (hostgroup=10, address='x'): address: bad address`.
    fn explain(&self, e: ConfigError) -> Problem {
        let ConfigError::Invalid { key, problem } = &e else {
            return e.to_string();
        };
        for (section, rows) in [
            ("clusters", &self.clusters),
            ("servers", &self.servers),
            ("users", &self.users),
            ("rules", &self.rules),
        ] {
            let Some(rest) = key.strip_prefix(section).and_then(|r| r.strip_prefix('[')) else {
                continue;
            };
            let Some((index, field)) = rest.split_once(']') else {
                continue;
            };
            let Some(label) = index.parse::<usize>().ok().and_then(|i| rows.get(i)) else {
                // Not from a table (the part was not loaded): the running runtime's key.
                return format!("{key}: {problem}");
            };
            let field = field.trim_start_matches('.');
            return format!("{label}: {field}: {problem}");
        }
        if self.variables
            && ["pool.", "failover.", "mysql.", "log."]
                .iter()
                .any(|p| key.starts_with(p))
        {
            return format!("variables row (name='{key}'): {problem}");
        }
        format!("{key}: {problem}")
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Reads one column as a u32 (the tables' CHECKs keep them in range; this names the row if
/// not).
fn u32_of(label: &str, column: &str, v: i64) -> Result<u32, Problem> {
    u32::try_from(v)
        .map_err(|_| format!("{label}: {column}: {v} is out of range (0 to 4294967295)"))
}

fn sql_err(table: &str, e: rusqlite::Error) -> Problem {
    format!("cannot read {table}: {e}")
}

/// Reads every row `sql` selects from `table`: `columns` takes a row's values, `item` makes
/// the config item and the label that names the row in error messages.
fn read_table<R, T>(
    conn: &Connection,
    table: &str,
    sql: &str,
    columns: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<R>,
    mut item: impl FnMut(R) -> Result<(T, String), Problem>,
) -> Result<(Vec<T>, Vec<String>), Problem> {
    let err = |e| sql_err(table, e);
    let mut stmt = conn.prepare(sql).map_err(err)?;
    let rows = stmt.query_map([], columns).map_err(err)?;
    let mut out = Vec::new();
    let mut labels = Vec::new();
    for row in rows {
        let (t, label) = item(row.map_err(err)?)?;
        out.push(t);
        labels.push(label);
    }
    Ok((out, labels))
}

fn read_clusters(conn: &Connection) -> Result<(Vec<ClusterFile>, Vec<String>), Problem> {
    read_table(
        conn,
        "clusters",
        "SELECT name, protocol, writer_hostgroup, reader_hostgroup, max_replication_lag_ms \
         FROM main.clusters ORDER BY rowid",
        |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                (r.get::<_, i64>(2)?, r.get::<_, i64>(3)?),
                r.get::<_, Option<i64>>(4)?,
            ))
        },
        |((name, protocol), (writer, reader), max_lag)| {
            let label = format!("clusters row (name={})", quote(&name));
            let cluster = ClusterFile {
                name,
                protocol,
                writer_hostgroup: u32_of(&label, "writer_hostgroup", writer)?,
                reader_hostgroup: u32_of(&label, "reader_hostgroup", reader)?,
                // The table's CHECK keeps it non-negative.
                max_replication_lag_ms: max_lag.map(|ms| ms.max(0) as u64),
                // Taken from the running cluster of that name (see `build`).
                patroni: None,
            };
            Ok((cluster, label))
        },
    )
}

fn read_servers(conn: &Connection) -> Result<(Vec<ServerFile>, Vec<String>), Problem> {
    read_table(
        conn,
        "servers",
        "SELECT hostgroup, address, status, weight, max_connections, tls \
         FROM main.servers ORDER BY rowid",
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, i64>(5)?,
            ))
        },
        |(hostgroup, address, status, weight, max_connections, tls)| {
            let label = format!(
                "servers row (hostgroup={hostgroup}, address={})",
                quote(&address)
            );
            let server = ServerFile {
                hostgroup: u32_of(&label, "hostgroup", hostgroup)?,
                address,
                weight: Some(u32_of(&label, "weight", weight)?),
                max_connections: Some(u32_of(&label, "max_connections", max_connections)?),
                status: Some(status),
                tls: Some(tls != 0),
                // Taken from the running server at that address (see `build`).
                allow_cleartext_password: None,
                tls_ca: None,
                tls_verify: None,
            };
            Ok((server, label))
        },
    )
}

fn read_users(conn: &Connection) -> Result<(Vec<UserFile>, Vec<String>), Problem> {
    read_table(
        conn,
        "users",
        "SELECT name, password, cluster, default_schema, read_your_writes_ms \
         FROM main.users ORDER BY rowid",
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<i64>>(4)?,
            ))
        },
        |(name, password, cluster, default_schema, ryw)| {
            let label = format!("users row (name={})", quote(&name));
            let read_your_writes_ms = ryw
                .map(|v| {
                    u64::try_from(v)
                        .map_err(|_| format!("{label}: read_your_writes_ms: {v} is negative"))
                })
                .transpose()?;
            let user = UserFile {
                name,
                password: Some(password),
                password_file: None,
                password_env: None,
                cluster,
                default_schema,
                read_your_writes_ms,
            };
            Ok((user, label))
        },
    )
}

fn read_rules(conn: &Connection) -> Result<(Vec<RuleFile>, Vec<String>), Problem> {
    read_table(
        conn,
        "query_rules",
        "SELECT rule_id, \"match\", hostgroup, user, schema FROM main.query_rules ORDER BY rule_id",
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        },
        |(rule_id, match_, hostgroup, user, schema)| {
            let label = format!("query_rules row (rule_id={rule_id})");
            let rule = RuleFile {
                match_,
                hostgroup: u32_of(&label, "hostgroup", hostgroup)?,
                user,
                schema,
            };
            Ok((rule, label))
        },
    )
}
