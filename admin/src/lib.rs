//! The admin SQL interface, kept out of the data path crate (it brings SQLite, opensrv-mysql
//! and pgwire's server side): an embedded SQLite store (like ProxySQL's) over the MySQL
//! protocol on `listen.admin_mysql` ([`serve_mysql`]) and the PostgreSQL protocol on
//! `listen.admin_postgres` ([`serve_postgres`]); [`Admin::execute`] is protocol-agnostic, so
//! both share the store.
//!
//! # Tables
//!
//! Column names are the configuration file's key names.
//!
//! | table | rows | editable |
//! |---|---|---|
//! | `servers` | hostgroup, address, status, weight, max_connections, tls | yes |
//! | `users` | name, password, cluster, default_schema, read_your_writes_ms | yes |
//! | `clusters` | name, protocol, writer_hostgroup, reader_hostgroup, max_replication_lag_ms | yes |
//! | `query_rules` | rule_id (evaluation order), match, hostgroup, user, schema | yes |
//! | `variables` | name (`pool.wait_timeout_ms`, `mysql.local_infile`, `log.level`, ...), value | yes |
//! | `runtime_servers` | the live topology, plus `generation` | no |
//! | `runtime_users`, `runtime_clusters`, `runtime_query_rules`, `runtime_variables` | the live runtime | no |
//! | `stats_connection_pool` | per server: used, free, connections_ok / failed / closed, reuses, wait_timeouts, checkout_us_total (pool wait + connect), statements, bytes, latency_us_total | no |
//! | `stats_query_digest` | digest, digest_text, hostgroup, user, count, sum/min/max_time_us, rows | no |
//! | `stats_sessions` | id, user, client, schema, state (idle / pinned / warnings), backend, pins | no |
//! | `stats_multiplexing` | hostgroup, client_connections (holding one of its backends), backend_connections | no |
//! | `stats_monitor` | address, state (up/down/unknown), read_only, replication, lag_ms, lag_bytes, lagging, last_check_ms_ago, latency_us, since_ms_ago, checks, fencing_alarms, error | no |
//! | `stats_topology_sources` | cluster, source, connected, revision, writer, readers, switching, error | no |
//!
//! The `runtime_*` and `stats_*` tables are refreshed from the running proxy right before
//! every statement that names one, under the store's lock, so any SELECT over them (WHERE,
//! JOIN, ORDER BY, aggregates) sees fresh values. The editable tables are `STRICT`, with
//! the config file's defaults and range checks; `INSERT`, `UPDATE`, `DELETE` work on them.
//! Other statements (DDL, transactions, ATTACH, PRAGMA writes) are refused.
//!
//! # Commands
//!
//! Case-insensitive, ProxySQL spellings accepted (`LOAD MYSQL SERVERS ...`, `QUERY RULES`).
//! `<part>` is `SERVERS` (servers and clusters), `USERS`, `RULES`, `VARIABLES` or `ALL`.
//!
//! - `LOAD <part> TO RUNTIME`: the part's tables plus the running runtime for the other
//!   parts are validated exactly like the config file; if valid, the runtime is swapped
//!   (and for `SERVERS` the topology is republished with the next generation when it
//!   differs). A bad edit is refused with an error naming the row, nothing changes.
//! - `SAVE <part> TO DISK`: writes the part's tables to `<data_dir>/sqlmux.db`.
//! - `LOAD <part> FROM DISK`: replaces the part's tables with the saved rows (then
//!   `LOAD ... TO RUNTIME` to apply them).
//! - `SAVE <part> FROM RUNTIME`: replaces the part's tables with what is live (e.g. a
//!   topology pushed through the control API).
//! - `SELECT @@version`, `SELECT @@version_comment LIMIT 1` and other session variables,
//!   `SHOW TABLES`, `SHOW DATABASES`; session `SET`s of client libraries are accepted and
//!   ignored.
//! - PgBouncer's console: `SHOW POOLS`, `CLIENTS`, `SERVERS`, `STATS`, `CLUSTERS`
//!   (`SHOW DATABASES` on the PostgreSQL port), `VERSION`: views over the stats tables
//!   (`console`).
//!
//! # Config file and saved store at start
//!
//! The tables are seeded from the running configuration (the config file). Then, when
//! `<data_dir>/sqlmux.db` exists, every table saved there replaces the config file's rows,
//! and the result is validated and made live, as a `LOAD ALL TO RUNTIME`: **the saved store
//! wins over the config file** for the tables it holds (listen addresses, `[admin]`,
//! `[tls]` and `[control]` always come from the file). A saved store that does not validate
//! stops the start with an error naming the row; delete the file to start from the config
//! file alone.
//!
//! Module map: `command` (what a statement asks for), `schema` (DDL), `sqlite` (a
//! client's statement under limits, the authorizer, functions), `tables` (runtime ->
//! tables), `load` (tables -> validated runtime), `disk` (the saved store), `mysql` (the
//! MySQL-protocol frontend), `mysql_io` (its one-packet-per-read reader and gated writer), [`error`] ([`AdminError`] -> MySQL errors in one place).
//! [`postgres`]: the PostgreSQL-protocol frontend on `listen.admin_postgres` ([`serve_postgres`]; pgwire, md5 auth, simple query protocol).

mod accept;
mod catalog;
mod command;
mod console;
mod disk;
pub mod error;
mod load;
mod mysql;
mod mysql_io;
pub mod postgres;
mod schema;
mod sqlite;
mod tables;

use sqlite::{
    admin_version, client_authorizer, query, register_functions, session_variable, QueryError,
    ADMIN_MAX_VALUE, ADMIN_STATEMENT_TIME,
};

pub use error::AdminError;
pub use mysql::serve_mysql;
pub use postgres::serve_postgres;

use command::Command;
use rusqlite::functions::FunctionFlags;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::ValueRef;
use rusqlite::Connection;
use sqlmux_config::Runtime;
use sqlmux_proxy::shared::Shared;
use sqlmux_proxy::topology::Topology;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use tables::Parts;

/// Comment shown by clients at connect (`@@version_comment`).
pub const VERSION_COMMENT: &str = "sqlmux admin";

/// The admin interface of one proxy: the store and the shared state it reads and steers.
pub struct Admin {
    shared: Arc<Shared>,
    store: Mutex<Connection>,
    data_dir: Option<PathBuf>,
}

/// What a statement returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A result set: column names and rows of text values (`None` is NULL).
    Rows {
        /// Column names.
        columns: Vec<String>,
        /// Rows.
        rows: Vec<Vec<Option<String>>>,
    },
    /// A statement without a result set.
    Done {
        /// Rows inserted, updated or deleted.
        affected: u64,
        /// A human-readable note (`LOAD`, `SAVE`).
        info: String,
    },
}

impl Outcome {
    fn done(info: impl Into<String>) -> Self {
        Outcome::Done {
            affected: 0,
            info: info.into(),
        }
    }
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// Creates the store, seeded from the running runtime; when `<data_dir>/sqlmux.db`
    /// exists, its tables override the config file's and are made live (see the module
    /// doc). Build it before serving clients.
    pub fn new(shared: Arc<Shared>, data_dir: Option<PathBuf>) -> Result<Admin, AdminError> {
        let store_err = |reason: rusqlite::Error| AdminError::Store {
            path: ":memory:".into(),
            reason: reason.to_string(),
        };
        let conn = Connection::open_in_memory().map_err(store_err)?;
        conn.set_limit(
            rusqlite::limits::Limit::SQLITE_LIMIT_LENGTH,
            ADMIN_MAX_VALUE,
        )
        .map_err(store_err)?;
        conn.execute_batch(&schema::create_all())
            .map_err(store_err)?;
        register_functions(&conn, &shared).map_err(store_err)?;
        tables::seed(&conn, &shared, Parts::ALL).map_err(store_err)?;
        if let Some(dir) = &data_dir {
            let path = disk::path(dir);
            if path.exists() {
                let read = disk::load(&conn, &path, &schema::EDITABLE).map_err(|reason| {
                    AdminError::Store {
                        path: path.display().to_string(),
                        reason,
                    }
                })?;
                if !read.is_empty() {
                    let current = shared.runtime.load_full();
                    let rt = load::build(&conn, Parts::ALL, &current).map_err(|problem| {
                        AdminError::SavedStoreInvalid {
                            path: path.display().to_string(),
                            problem,
                        }
                    })?;
                    publish(&shared, Arc::new(rt), true);
                    tracing::info!(path = %path.display(), tables = ?read, "admin: saved store loaded over the config file");
                }
            }
        }
        Ok(Admin {
            shared,
            store: Mutex::new(conn),
            data_dir,
        })
    }

    /// The shared state this admin steers.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The directory of the saved store, if any.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }

    /// Whether `user` with this scramble of `salt` is the `[admin]` user of the running
    /// configuration (mysql_native_password, or caching_sha2_password's fast scramble).
    /// Without `[admin]` nobody is.
    pub fn check_mysql_login(&self, user: &[u8], salt: &[u8; 20], response: &[u8]) -> bool {
        let rt = self.shared.runtime.load();
        let Some(admin) = &rt.admin else {
            return false;
        };
        user == admin.user.as_bytes()
            && (sqlmux_protocol::mysql::auth::check_native(salt, &admin.password, response)
                || sqlmux_protocol::mysql::auth::check_sha2(salt, &admin.password, response))
    }

    /// Answers one of psql's catalog queries from the store's schema (see `catalog`);
    /// `None` when `sql` is not one.
    pub fn psql_catalog(
        &self,
        sql: &str,
        user: &str,
        database: &str,
    ) -> Option<Result<Outcome, AdminError>> {
        let normalized = sql
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        let query = catalog::recognize(&normalized)?;
        let conn = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        Some(catalog::answer(&conn, &query, user, database))
    }

    /// Runs one statement or admin command.
    pub fn execute(&self, sql: &str) -> Result<Outcome, AdminError> {
        let command = command::parse(sql)?;
        let mut conn = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        match command {
            Command::LoadToRuntime(parts, name) => self.load_to_runtime(&conn, parts, name),
            Command::LoadFromDisk(parts, name) => {
                let command = format!("LOAD {name} FROM DISK");
                let dir = self
                    .data_dir
                    .as_deref()
                    .ok_or_else(|| AdminError::NoDataDir(command.clone()))?;
                let read = disk::load(&conn, &disk::path(dir), &parts.tables())
                    .map_err(|reason| AdminError::Disk { command, reason })?;
                Ok(Outcome::done(if read.is_empty() {
                    "nothing saved for these tables".to_string()
                } else {
                    format!(
                        "read {}; LOAD {name} TO RUNTIME applies them",
                        read.join(", ")
                    )
                }))
            }
            Command::SaveToDisk(parts, name) => {
                let command = format!("SAVE {name} TO DISK");
                let dir = self
                    .data_dir
                    .as_deref()
                    .ok_or_else(|| AdminError::NoDataDir(command.clone()))?;
                let path = disk::save(&conn, dir, &parts.tables())
                    .map_err(|reason| AdminError::Disk { command, reason })?;
                Ok(Outcome::done(format!("saved to {}", path.display())))
            }
            Command::SaveFromRuntime(parts, name) => {
                tables::seed(&conn, &self.shared, parts)?;
                Ok(Outcome::done(format!(
                    "{name} tables replaced with the runtime"
                )))
            }
            Command::Variables(names) => self.variables(&names),
            Command::ShowTables => Ok(query(
                &conn,
                "SELECT name AS tables FROM sqlite_master WHERE type = 'table' ORDER BY name",
            )?),
            Command::ShowDatabases => Ok(Outcome::Rows {
                columns: vec!["Database".into()],
                rows: vec![vec![Some("main".into())]],
            }),
            Command::SessionSet => Ok(Outcome::done("")),
            Command::Hold(name) => self.hold(name, true),
            Command::Release(name) => self.hold(name, false),
            Command::Sql(sql) => self.run_sql(&mut conn, sql),
        }
    }

    /// `HOLD CLUSTER` / `RELEASE CLUSTER`: the explicit failover hold of a cluster.
    fn hold(&self, name: &str, hold: bool) -> Result<Outcome, AdminError> {
        let rt = self.shared.runtime.load();
        let cluster = rt
            .cluster(name)
            .ok_or_else(|| AdminError::BadCommand(format!("no cluster {name:?}")))?;
        let failover = &self.shared.failover;
        if !hold {
            let released = failover.release(cluster.writer_hostgroup);
            return Ok(Outcome::done(if released {
                format!("cluster {name} released")
            } else {
                format!("cluster {name} was not held")
            }));
        }
        failover.hold(cluster.writer_hostgroup, rt.failover.hold_timeout);
        let running = sqlmux_proxy::failover::running_on_writer(&self.shared, cluster);
        Ok(Outcome::done(format!(
            "cluster {name} held for at most {} ms; {running} statements or transactions still \
             running on its writer (POST /v1/clusters/{name}/hold waits for them and cuts the rest)",
            rt.failover.hold_timeout.as_millis()
        )))
    }

    fn load_to_runtime(
        &self,
        conn: &Connection,
        parts: Parts,
        name: &'static str,
    ) -> Result<Outcome, AdminError> {
        // Compare-and-swap against a concurrent reload (SIGHUP) so neither is lost.
        for _ in 0..8 {
            let current = self.shared.runtime.load_full();
            let rt =
                load::build(conn, parts, &current).map_err(|problem| AdminError::LoadRefused {
                    what: name,
                    problem,
                })?;
            let rt = Arc::new(rt);
            let previous = self.shared.runtime.compare_and_swap(&current, rt.clone());
            if !Arc::ptr_eq(&previous, &current) {
                continue;
            }
            let mut info = format!("LOAD {name} TO RUNTIME: runtime replaced");
            if parts.servers {
                match publish_topology(&self.shared, &rt) {
                    Some(g) => info.push_str(&format!(", topology generation {g}")),
                    None => info.push_str(", topology unchanged"),
                }
            }
            tracing::info!(what = name, "admin: LOAD TO RUNTIME");
            return Ok(Outcome::done(info));
        }
        Err(AdminError::Internal(
            "the runtime kept changing during LOAD; try again".into(),
        ))
    }

    fn variables(&self, names: &[(String, String)]) -> Result<Outcome, AdminError> {
        let rt = self.shared.runtime.load();
        let mut row = Vec::with_capacity(names.len());
        for (_, name) in names {
            row.push(Some(
                session_variable(&rt, name)
                    .ok_or_else(|| AdminError::UnknownVariable(name.clone()))?,
            ));
        }
        Ok(Outcome::Rows {
            columns: names.iter().map(|(column, _)| column.clone()).collect(),
            rows: vec![row],
        })
    }

    /// A client statement, run by SQLite with the authorizer of [`client_authorizer`].
    fn run_sql(&self, conn: &mut Connection, sql: &str) -> Result<Outcome, AdminError> {
        let lower = sql.to_ascii_lowercase();
        if lower.contains("runtime_") {
            tables::refresh_runtime(conn, &self.shared)?;
        }
        if lower.contains("stats_") {
            tables::refresh_stats(conn, &self.shared)?;
        }
        let denial: Arc<Mutex<Option<AdminError>>> = Arc::default();
        conn.authorizer(Some(client_authorizer(denial.clone())))?;
        // An endless recursive CTE cannot hold the admin store (or the process's memory).
        let deadline = std::time::Instant::now() + ADMIN_STATEMENT_TIME;
        conn.progress_handler(10_000, Some(move || std::time::Instant::now() > deadline))?;
        let result = query(conn, sql);
        conn.progress_handler(0, None::<fn() -> bool>)?;
        let cleared = conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>);
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        cleared?;
        match result {
            Ok(outcome) => Ok(outcome),
            Err(QueryError::Limit(what)) => Err(AdminError::Limit(what)),
            // Only comments: SQLite prepares nothing.
            Err(QueryError::Sql(rusqlite::Error::SqliteFailure(f, _)))
                if f.code == rusqlite::ErrorCode::ApiMisuse =>
            {
                Err(AdminError::EmptyQuery)
            }
            Err(QueryError::Sql(rusqlite::Error::SqliteFailure(f, _)))
                if f.code == rusqlite::ErrorCode::OperationInterrupted =>
            {
                Err(AdminError::Limit("it ran for longer than 5 s"))
            }
            Err(QueryError::Sql(e)) => {
                let denied = denial.lock().unwrap_or_else(PoisonError::into_inner).take();
                Err(denied.unwrap_or(AdminError::Sql(e)))
            }
        }
    }
}

/// Swaps in `rt` (and its topology when `servers` is set and it differs).
fn publish(shared: &Shared, rt: Arc<Runtime>, servers: bool) {
    shared.runtime.store(rt.clone());
    if servers {
        publish_topology(shared, &rt);
    }
}

/// Publishes the topology of `rt` with the next generation when its servers differ from the
/// live ones; returns the new generation.
fn publish_topology(shared: &Shared, rt: &Runtime) -> Option<u64> {
    let wanted = Topology::from_runtime(rt, 0).servers;
    if shared.topology.load().servers == wanted {
        return None;
    }
    shared.replace_topology(|generation| Topology::from_runtime(rt, generation));
    Some(shared.topology.load().generation)
}

#[cfg(test)]
mod tests;
