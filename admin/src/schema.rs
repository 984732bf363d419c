//! The tables of the admin store: their DDL and which ones a client may edit.

/// An editable table: name and column definitions (shared by the in-memory store and the
/// saved store on disk).
pub(crate) struct Editable {
    /// Table name.
    pub name: &'static str,
    /// Column list, in order.
    pub columns: &'static [&'static str],
    /// Column definitions for `CREATE TABLE ... (<ddl>) STRICT`.
    pub ddl: &'static str,
}

/// The configuration tables, edited by clients and loaded with `LOAD ... TO RUNTIME`.
pub(crate) const SERVERS: Editable = Editable {
    name: "servers",
    columns: &[
        "hostgroup",
        "address",
        "status",
        "weight",
        "max_connections",
        "tls",
    ],
    ddl: concat!(
        "hostgroup INTEGER NOT NULL CHECK (hostgroup BETWEEN 0 AND 4294967295), ",
        "address TEXT NOT NULL, ",
        "status TEXT NOT NULL DEFAULT 'ONLINE', ",
        "weight INTEGER NOT NULL DEFAULT 1 CHECK (weight BETWEEN 0 AND 4294967295), ",
        "max_connections INTEGER NOT NULL DEFAULT 100 ",
        "CHECK (max_connections BETWEEN 0 AND 4294967295), ",
        "tls INTEGER NOT NULL DEFAULT 0 CHECK (tls IN (0, 1)), ",
        "PRIMARY KEY (hostgroup, address)"
    ),
};

/// `users`.
pub(crate) const USERS: Editable = Editable {
    name: "users",
    columns: &[
        "name",
        "password",
        "cluster",
        "default_schema",
        "read_your_writes_ms",
    ],
    ddl: concat!(
        "name TEXT NOT NULL PRIMARY KEY, ",
        "password TEXT NOT NULL, ",
        "cluster TEXT NOT NULL, ",
        "default_schema TEXT, ",
        "read_your_writes_ms INTEGER CHECK (read_your_writes_ms >= 0)"
    ),
};

/// `clusters`.
pub(crate) const CLUSTERS: Editable = Editable {
    name: "clusters",
    columns: &[
        "name",
        "protocol",
        "writer_hostgroup",
        "reader_hostgroup",
        "max_replication_lag_ms",
    ],
    ddl: concat!(
        "name TEXT NOT NULL PRIMARY KEY, ",
        "protocol TEXT NOT NULL DEFAULT 'mysql', ",
        "writer_hostgroup INTEGER NOT NULL CHECK (writer_hostgroup BETWEEN 0 AND 4294967295), ",
        "reader_hostgroup INTEGER NOT NULL CHECK (reader_hostgroup BETWEEN 0 AND 4294967295), ",
        "max_replication_lag_ms INTEGER CHECK (max_replication_lag_ms >= 0)"
    ),
};

/// `query_rules`: `rule_id` orders them (lowest first).
pub(crate) const QUERY_RULES: Editable = Editable {
    name: "query_rules",
    columns: &["rule_id", "match", "hostgroup", "user", "schema"],
    ddl: concat!(
        "rule_id INTEGER PRIMARY KEY, ",
        "\"match\" TEXT NOT NULL, ",
        "hostgroup INTEGER NOT NULL CHECK (hostgroup BETWEEN 0 AND 4294967295), ",
        "user TEXT, ",
        "schema TEXT"
    ),
};

/// `variables`: `name` is the contract's dotted key (`pool.wait_timeout_ms`).
pub(crate) const VARIABLES: Editable = Editable {
    name: "variables",
    columns: &["name", "value"],
    ddl: "name TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL",
};

/// Every editable table.
pub(crate) const EDITABLE: [&Editable; 5] = [&SERVERS, &USERS, &CLUSTERS, &QUERY_RULES, &VARIABLES];

/// The tables showing what is live (refreshed from the running proxy before a statement
/// that names one).
pub(crate) const RUNTIME_DDL: &[(&str, &str)] = &[
    (
        "runtime_servers",
        "hostgroup INTEGER, address TEXT, status TEXT, weight INTEGER, \
         max_connections INTEGER, tls INTEGER, generation INTEGER",
    ),
    (
        "runtime_users",
        "name TEXT, password TEXT, cluster TEXT, default_schema TEXT, \
         read_your_writes_ms INTEGER",
    ),
    (
        "runtime_clusters",
        "name TEXT, protocol TEXT, writer_hostgroup INTEGER, reader_hostgroup INTEGER, \
         max_replication_lag_ms INTEGER",
    ),
    (
        "runtime_query_rules",
        "rule_id INTEGER, \"match\" TEXT, hostgroup INTEGER, user TEXT, schema TEXT",
    ),
    ("runtime_variables", "name TEXT, value TEXT"),
];

/// The statistics tables (refreshed before a statement that names one).
pub(crate) const STATS_DDL: &[(&str, &str)] = &[
    (
        "stats_connection_pool",
        "hostgroup INTEGER, address TEXT, status TEXT, used INTEGER, free INTEGER, \
         connections_ok INTEGER, connections_failed INTEGER, connections_closed INTEGER, \
         reuses INTEGER, wait_timeouts INTEGER, checkout_us_total INTEGER, statements INTEGER, \
         bytes INTEGER, latency_us_total INTEGER",
    ),
    (
        "stats_query_digest",
        "digest TEXT, digest_text TEXT, hostgroup INTEGER, user TEXT, count INTEGER, \
         sum_time_us INTEGER, min_time_us INTEGER, max_time_us INTEGER, rows INTEGER",
    ),
    (
        "stats_sessions",
        "id INTEGER, user TEXT, client TEXT, schema TEXT, state TEXT, backend TEXT, pins TEXT",
    ),
    (
        "stats_multiplexing",
        "hostgroup INTEGER, client_connections INTEGER, backend_connections INTEGER",
    ),
    (
        "stats_topology_sources",
        "cluster TEXT, source TEXT, connected INTEGER, revision INTEGER, writer TEXT, \
         readers TEXT, switching INTEGER, error TEXT",
    ),
    (
        "stats_monitor",
        "address TEXT, state TEXT, read_only INTEGER, replication TEXT, lag_ms INTEGER, \
         lag_bytes INTEGER, lagging INTEGER, last_check_ms_ago INTEGER, latency_us INTEGER, \
         since_ms_ago INTEGER, checks INTEGER, fencing_alarms INTEGER, error TEXT",
    ),
];

/// The statements creating every table of the in-memory store.
pub(crate) fn create_all() -> String {
    let mut sql = String::new();
    for t in EDITABLE {
        sql.push_str(&format!(
            "CREATE TABLE main.{} ({}) STRICT;\n",
            t.name, t.ddl
        ));
    }
    for (name, ddl) in RUNTIME_DDL.iter().chain(STATS_DDL) {
        sql.push_str(&format!("CREATE TABLE main.{name} ({ddl});\n"));
    }
    sql
}

/// Whether a client may write `table` (only the configuration tables).
pub(crate) fn is_editable(table: &str) -> bool {
    EDITABLE.iter().any(|t| t.name.eq_ignore_ascii_case(table))
}

/// The advice given when a client writes a read-only table.
pub(crate) fn read_only_hint(table: &str) -> &'static str {
    let t = table.to_ascii_lowercase();
    if t.starts_with("runtime_") {
        "edit the table without the runtime_ prefix, then LOAD ... TO RUNTIME"
    } else if t.starts_with("stats_") {
        "statistics are computed by sqlmux"
    } else {
        "only servers, users, clusters, query_rules and variables are editable"
    }
}

/// A column list quoted for SQL (`"match"` is a keyword).
pub(crate) fn column_list(columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}
