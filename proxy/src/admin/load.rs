//! `LOAD ... TO RUNTIME`: the edited tables become a configuration file model (the parts
//! not loaded come from the running runtime), `sqlmux_config` validates it exactly as it
//! validates the TOML file, and only a valid result is swapped in.

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

fn read_variables(conn: &Connection, file: &mut ConfigFile) -> Result<(), Problem> {
    let err = |e| sql_err("variables", e);
    let mut stmt = conn
        .prepare("SELECT name, value FROM main.variables ORDER BY rowid")
        .map_err(err)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Value>(1)?)))
        .map_err(err)?;
    let mut pool = PoolFile::default();
    let mut failover = sqlmux_config::file::FailoverFile::default();
    let mut mysql = MysqlFile::default();
    let mut log = LogFile::default();
    // Without any monitor.* row (a store saved before they existed) the monitor is kept.
    let mut monitor: Option<sqlmux_config::file::MonitorFile> = None;
    let monitor_defaults = || sqlmux_config::file::MonitorFile {
        user: String::new(),
        password: String::new(),
        password_file: None,
        password_env: None,
        database: None,
        interval_ms: None,
        timeout_ms: None,
        down_after: None,
        up_after: None,
    };
    for row in rows {
        let (name, value) = row.map_err(err)?;
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
            "pool.connect_timeout_ms" => pool.connect_timeout_ms = Some(number(&value)?),
            "pool.idle_timeout_ms" => pool.idle_timeout_ms = Some(number(&value)?),
            "pool.max_lifetime_ms" => pool.max_lifetime_ms = Some(number(&value)?),
            "pool.wait_timeout_ms" => pool.wait_timeout_ms = Some(number(&value)?),
            "pool.shun_after_errors" => {
                pool.shun_after_errors =
                    Some(u32::try_from(number(&value)?).map_err(|_| format!("{name}: too large"))?)
            }
            "pool.shun_ms" => pool.shun_ms = Some(number(&value)?),
            "pool.query_timeout_ms" => pool.query_timeout_ms = Some(number(&value)?),
            "pool.idle_transaction_timeout_ms" => {
                pool.idle_transaction_timeout_ms = Some(number(&value)?)
            }
            "failover.hold_timeout_ms" => failover.hold_timeout_ms = Some(number(&value)?),
            "failover.hold_max_statements" => {
                failover.hold_max_statements = Some(
                    usize::try_from(number(&value)?)
                        .map_err(|_| format!("{label}: value {} is out of range", quote(&value)))?,
                )
            }
            "failover.hold_max_bytes" => failover.hold_max_bytes = Some(number(&value)?),
            "failover.min_interval_ms" => failover.min_interval_ms = Some(number(&value)?),
            m if m.starts_with("monitor.") => {
                let monitor = monitor.get_or_insert_with(monitor_defaults);
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
                mysql.local_infile = Some(match value.trim().to_ascii_lowercase().as_str() {
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
            "mysql.server_version" => mysql.server_version = Some(value).filter(|v| !v.is_empty()),
            "mysql.default_auth_plugin" => mysql.default_auth_plugin = Some(value),
            "mysql.backend_statement_limit" => {
                let n = number(&value)?;
                mysql.backend_statement_limit =
                    Some(usize::try_from(n).map_err(|_| {
                        format!("{label}: value {} is out of range", quote(&value))
                    })?);
            }
            "log.level" => log.level = Some(value),
            other => return Err(unknown_variable(other)),
        }
    }
    if let Some(monitor) = monitor {
        // An empty monitor.user turns the monitor off.
        file.monitor = Some(monitor).filter(|m| !m.user.is_empty());
    }
    file.pool = pool;
    file.failover = failover;
    file.mysql = mysql;
    file.log = log;
    Ok(())
}

/// The file form of a Patroni source.
fn patroni_file(p: &sqlmux_config::runtime::PatroniSource) -> sqlmux_config::file::PatroniFile {
    use sqlmux_config::runtime::PatroniStore;
    let (etcd, rest, interval_ms) = match &p.store {
        PatroniStore::Etcd(e) => (Some(e.clone()), None, None),
        PatroniStore::Rest {
            endpoints,
            interval,
        } => (
            None,
            Some(endpoints.clone()),
            Some(u64::try_from(interval.as_millis()).unwrap_or(u64::MAX)),
        ),
    };
    sqlmux_config::file::PatroniFile {
        etcd,
        rest,
        namespace: Some(p.namespace.clone()),
        scope: p.scope.clone(),
        interval_ms,
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

/// The file model of a running runtime: what `LOAD` keeps for the parts it does not load.
pub(crate) fn file_from_runtime(rt: &Runtime) -> ConfigFile {
    let ms = |d: std::time::Duration| Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    ConfigFile {
        listen: ListenFile {
            mysql: rt.listen.mysql.clone(),
            postgres: rt.listen.postgres.clone(),
            admin_mysql: rt.listen.admin_mysql.clone(),
            admin_postgres: rt.listen.admin_postgres.clone(),
            http: rt.listen.http.clone(),
            workers: rt.listen.workers,
            handshake_timeout_ms: ms(rt.clients.handshake_timeout),
            max_client_connections: Some(rt.clients.max_connections),
        },
        admin: rt.admin.as_ref().map(|a| AdminFile {
            user: a.user.clone(),
            password: Some(a.password.clone()),
            password_file: None,
            password_env: None,
            data_dir: Some(a.data_dir.clone()),
        }),
        clusters: rt
            .clusters
            .iter()
            .map(|c| ClusterFile {
                name: c.name.clone(),
                protocol: match c.protocol {
                    Protocol::Mysql => "mysql",
                    Protocol::Postgres => "postgres",
                }
                .to_string(),
                writer_hostgroup: c.writer_hostgroup,
                reader_hostgroup: c.reader_hostgroup,
                max_replication_lag_ms: c.max_replication_lag_ms,
                patroni: c.patroni.as_ref().map(patroni_file),
            })
            .collect(),
        servers: rt
            .servers
            .iter()
            .map(|s| ServerFile {
                hostgroup: s.hostgroup,
                address: s.address.clone(),
                weight: Some(s.weight),
                max_connections: Some(s.max_connections),
                status: Some(s.status.as_str().to_string()),
                tls: Some(s.tls),
                allow_cleartext_password: Some(s.allow_cleartext_password),
                tls_ca: s.tls_ca.clone(),
                tls_verify: Some(s.tls_verify),
            })
            .collect(),
        users: rt
            .users
            .iter()
            .map(|u| UserFile {
                name: u.name.clone(),
                password: Some(u.password.clone()),
                password_file: None,
                password_env: None,
                cluster: u.cluster.clone(),
                default_schema: u.default_schema.clone(),
                read_your_writes_ms: u
                    .read_your_writes
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            })
            .collect(),
        rules: rt
            .rules
            .iter()
            .map(|r| RuleFile {
                match_: r.pattern.as_str().to_string(),
                hostgroup: r.hostgroup,
                user: r.user.clone(),
                schema: r.schema.clone(),
            })
            .collect(),
        pool: PoolFile {
            connect_timeout_ms: ms(rt.pool.connect_timeout),
            idle_timeout_ms: ms(rt.pool.idle_timeout),
            max_lifetime_ms: ms(rt.pool.max_lifetime),
            wait_timeout_ms: ms(rt.pool.wait_timeout),
            shun_after_errors: Some(rt.pool.shun_after_errors),
            shun_ms: ms(rt.pool.shun_time),
            query_timeout_ms: Some(rt.pool.query_timeout.and_then(ms).unwrap_or(0)),
            idle_transaction_timeout_ms: Some(
                rt.pool.idle_transaction_timeout.and_then(ms).unwrap_or(0),
            ),
        },
        monitor: rt
            .monitor
            .as_ref()
            .map(|m| sqlmux_config::file::MonitorFile {
                user: m.user.clone(),
                password: m.password.clone(),
                password_file: None,
                password_env: None,
                database: Some(m.database.clone()),
                interval_ms: ms(m.interval),
                timeout_ms: ms(m.timeout),
                down_after: Some(m.down_after),
                up_after: Some(m.up_after),
            }),
        failover: sqlmux_config::file::FailoverFile {
            hold_timeout_ms: ms(rt.failover.hold_timeout),
            hold_max_statements: Some(rt.failover.hold_max_statements),
            hold_max_bytes: Some(rt.failover.hold_max_bytes),
            min_interval_ms: ms(rt.failover.min_interval),
        },
        mysql: MysqlFile {
            local_infile: Some(rt.mysql.local_infile),
            backend_statement_limit: Some(rt.mysql.backend_statement_limit),
            server_version: rt.mysql.server_version.clone(),
            default_auth_plugin: Some(rt.mysql.default_auth_plugin.clone()),
            max_session_statements: Some(rt.mysql.max_session_statements),
        },
        postgres: sqlmux_config::file::PostgresFile {
            auth_method: Some(
                match rt.postgres.auth_method {
                    sqlmux_config::PgAuthMethod::ScramSha256 => "scram-sha-256",
                    sqlmux_config::PgAuthMethod::Md5 => "md5",
                    sqlmux_config::PgAuthMethod::Cleartext => "cleartext",
                }
                .to_string(),
            ),
            backend_statement_limit: Some(rt.postgres.backend_statement_limit),
            max_pending_bytes: Some(rt.postgres.max_pending_bytes),
            max_session_statements: Some(rt.postgres.max_session_statements),
        },
        tls: rt.tls.as_ref().map(|t| TlsFile {
            cert: t.cert.clone(),
            key: t.key.clone(),
        }),
        log: LogFile {
            level: Some(rt.log_level.clone()),
            format: rt.log_json.then(|| "json".to_string()),
        },
        control: ControlFile {
            token: rt.control_token.clone(),
            token_file: None,
            token_env: None,
        },
        shutdown: ShutdownFile {
            mode: Some(
                match rt.shutdown.mode {
                    sqlmux_config::ShutdownMode::Service => "service",
                    sqlmux_config::ShutdownMode::Sidecar => "sidecar",
                }
                .to_string(),
            ),
            timeout_ms: ms(rt.shutdown.timeout),
            accept_grace_ms: ms(rt.shutdown.accept_grace),
        },
        stats: sqlmux_config::file::StatsFile {
            max_digests: Some(rt.stats.max_digests),
        },
    }
}
