//! Filling tables from the running proxy: the configuration tables at start (and on
//! `SAVE ... FROM RUNTIME`), the `runtime_*` and `stats_*` tables before every statement that
//! reads them.

mod stats;

pub(crate) use stats::refresh_stats;

use super::schema::{self, Editable};
use rusqlite::types::Value;
use rusqlite::Connection;
use sqlmux_config::{Protocol, Runtime};
use sqlmux_proxy::shared::Shared;
use sqlmux_proxy::topology::Topology;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Which parts of the configuration a command covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts {
    /// `servers` and `clusters` (clusters define the hostgroups servers live in).
    pub servers: bool,
    /// `users`.
    pub users: bool,
    /// `query_rules`.
    pub rules: bool,
    /// `variables`.
    pub variables: bool,
}

impl Parts {
    /// Nothing.
    pub const NONE: Parts = Parts {
        servers: false,
        users: false,
        rules: false,
        variables: false,
    };

    /// Everything.
    pub const ALL: Parts = Parts {
        servers: true,
        users: true,
        rules: true,
        variables: true,
    };

    /// The configuration tables these parts cover.
    pub fn tables(self) -> Vec<&'static Editable> {
        let mut t = Vec::new();
        if self.servers {
            t.push(&schema::CLUSTERS);
            t.push(&schema::SERVERS);
        }
        if self.users {
            t.push(&schema::USERS);
        }
        if self.rules {
            t.push(&schema::QUERY_RULES);
        }
        if self.variables {
            t.push(&schema::VARIABLES);
        }
        t
    }
}

fn int(v: impl Into<i64>) -> Value {
    Value::Integer(v.into())
}

fn big(v: u64) -> Value {
    Value::Integer(i64::try_from(v).unwrap_or(i64::MAX))
}

fn text(v: impl Into<String>) -> Value {
    Value::Text(v.into())
}

fn opt_text(v: Option<&str>) -> Value {
    v.map(|s| Value::Text(s.to_string())).unwrap_or(Value::Null)
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Mysql => "mysql",
        Protocol::Postgres => "postgres",
    }
}

/// Rows of `servers` / `runtime_servers` (without the generation) from a topology.
pub(crate) fn server_rows(topology: &Topology) -> Vec<Vec<Value>> {
    topology
        .servers
        .iter()
        .map(|s| {
            vec![
                int(s.hostgroup),
                text(&*s.address),
                text(s.status.as_str()),
                int(s.weight),
                int(s.max_connections),
                int(i64::from(s.tls)),
            ]
        })
        .collect()
}

/// Rows of `users`.
pub(crate) fn user_rows(rt: &Runtime) -> Vec<Vec<Value>> {
    rt.users
        .iter()
        .map(|u| {
            vec![
                text(&u.name),
                text(&u.password),
                text(&u.cluster),
                opt_text(u.default_schema.as_deref()),
                u.read_your_writes
                    .map(|d| big(d.as_millis().try_into().unwrap_or(u64::MAX)))
                    .unwrap_or(Value::Null),
            ]
        })
        .collect()
}

/// Rows of `clusters`.
pub(crate) fn cluster_rows(rt: &Runtime) -> Vec<Vec<Value>> {
    rt.clusters
        .iter()
        .map(|c| {
            vec![
                text(&c.name),
                text(protocol_name(c.protocol)),
                int(c.writer_hostgroup),
                int(c.reader_hostgroup),
                c.max_replication_lag_ms
                    .map(|ms| Value::Integer(ms.min(i64::MAX as u64) as i64))
                    .unwrap_or(Value::Null),
            ]
        })
        .collect()
}

/// Rows of `query_rules`: `rule_id` is the 1-based position.
pub(crate) fn rule_rows(rt: &Runtime) -> Vec<Vec<Value>> {
    rt.rules
        .iter()
        .zip(1i64..)
        .map(|(r, id)| {
            vec![
                int(id),
                text(r.pattern.as_str()),
                int(r.hostgroup),
                opt_text(r.user.as_deref()),
                opt_text(r.schema.as_deref()),
            ]
        })
        .collect()
}

/// Rows of `variables`: every variable with its value in the runtime.
pub(crate) fn variable_rows(rt: &Runtime) -> Vec<Vec<Value>> {
    let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).to_string();
    let monitor = rt
        .monitor
        .clone()
        .unwrap_or_else(sqlmux_config::MonitorSettings::defaults);
    [
        ("pool.connect_timeout_ms", ms(rt.pool.connect_timeout)),
        ("pool.idle_timeout_ms", ms(rt.pool.idle_timeout)),
        ("pool.max_lifetime_ms", ms(rt.pool.max_lifetime)),
        ("pool.wait_timeout_ms", ms(rt.pool.wait_timeout)),
        (
            "pool.shun_after_errors",
            rt.pool.shun_after_errors.to_string(),
        ),
        ("pool.shun_ms", ms(rt.pool.shun_time)),
        (
            "pool.query_timeout_ms",
            rt.pool.query_timeout.map_or_else(|| "0".to_string(), ms),
        ),
        (
            "pool.idle_transaction_timeout_ms",
            rt.pool
                .idle_transaction_timeout
                .map_or_else(|| "0".to_string(), ms),
        ),
        ("failover.hold_timeout_ms", ms(rt.failover.hold_timeout)),
        (
            "failover.hold_max_statements",
            rt.failover.hold_max_statements.to_string(),
        ),
        (
            "failover.hold_max_bytes",
            rt.failover.hold_max_bytes.to_string(),
        ),
        ("failover.min_interval_ms", ms(rt.failover.min_interval)),
        // Without a monitor: an empty user (setting one turns it on).
        ("monitor.user", monitor.user.clone()),
        ("monitor.password", monitor.password.clone()),
        ("monitor.database", monitor.database.clone()),
        ("monitor.interval_ms", ms(monitor.interval)),
        ("monitor.timeout_ms", ms(monitor.timeout)),
        ("monitor.down_after", monitor.down_after.to_string()),
        ("monitor.up_after", monitor.up_after.to_string()),
        ("mysql.local_infile", rt.mysql.local_infile.to_string()),
        (
            "mysql.server_version",
            rt.mysql.server_version.clone().unwrap_or_default(),
        ),
        (
            "mysql.default_auth_plugin",
            rt.mysql.default_auth_plugin.clone(),
        ),
        (
            "mysql.backend_statement_limit",
            rt.mysql.backend_statement_limit.to_string(),
        ),
        ("log.level", rt.log_level.clone()),
    ]
    .into_iter()
    .map(|(name, value)| vec![text(name), text(value)])
    .collect()
}

/// Replaces every row of `table` (in schema `db`) with `rows`.
pub(crate) fn replace_rows(
    conn: &Connection,
    db: &str,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value>],
) -> rusqlite::Result<()> {
    conn.execute(&format!("DELETE FROM {db}.{table}"), [])?;
    let placeholders = vec!["?"; columns.len()].join(", ");
    let mut insert = conn.prepare(&format!(
        "INSERT INTO {db}.{table} ({}) VALUES ({placeholders})",
        schema::column_list(columns)
    ))?;
    for row in rows {
        insert.execute(rusqlite::params_from_iter(row.iter()))?;
    }
    Ok(())
}

/// Fills the configuration tables of `parts` from the running proxy: servers from the live
/// topology, the rest from the runtime.
pub(crate) fn seed(conn: &Connection, shared: &Shared, parts: Parts) -> rusqlite::Result<()> {
    let (rt, topology) = (shared.runtime.load(), shared.topology.load());
    for table in parts.tables() {
        let rows = live_rows(table, &rt, &topology);
        replace_rows(conn, "main", table.name, table.columns, &rows)?;
    }
    Ok(())
}

/// The rows of the configuration table `table` in the running proxy: servers from the live
/// topology, the rest from the runtime.
fn live_rows(table: &Editable, rt: &Runtime, topology: &Topology) -> Vec<Vec<Value>> {
    match table.name {
        "servers" => server_rows(topology),
        "users" => user_rows(rt),
        "clusters" => cluster_rows(rt),
        "query_rules" => rule_rows(rt),
        _ => variable_rows(rt),
    }
}

/// Refreshes the `runtime_*` tables from the running proxy.
pub(crate) fn refresh_runtime(conn: &Connection, shared: &Shared) -> rusqlite::Result<()> {
    let rt = shared.runtime.load();
    let topology = shared.topology.load();
    let generation = big(topology.generation);
    let servers: Vec<Vec<Value>> = server_rows(&topology)
        .into_iter()
        .map(|mut row| {
            row.push(generation.clone());
            row
        })
        .collect();
    let mut server_columns = schema::SERVERS.columns.to_vec();
    server_columns.push("generation");
    replace_rows(conn, "main", "runtime_servers", &server_columns, &servers)?;
    for table in [
        &schema::USERS,
        &schema::CLUSTERS,
        &schema::QUERY_RULES,
        &schema::VARIABLES,
    ] {
        let name = format!("runtime_{}", table.name);
        let rows = live_rows(table, &rt, &topology);
        replace_rows(conn, "main", &name, table.columns, &rows)?;
    }
    Ok(())
}
