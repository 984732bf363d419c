//! The serde model of the TOML file, exactly as written; unknown keys are refused.

use serde::Deserialize;

/// The whole configuration file.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[listen]`: addresses sqlmux listens on.
    #[serde(default)]
    pub listen: ListenFile,
    /// `[admin]`: admin interface credentials and store.
    pub admin: Option<AdminFile>,
    /// `[[clusters]]`.
    #[serde(default)]
    pub clusters: Vec<ClusterFile>,
    /// `[[servers]]`.
    #[serde(default)]
    pub servers: Vec<ServerFile>,
    /// `[[users]]`.
    #[serde(default)]
    pub users: Vec<UserFile>,
    /// `[[rules]]`.
    #[serde(default)]
    pub rules: Vec<RuleFile>,
    /// `[pool]`: backend pool timing.
    #[serde(default)]
    pub pool: PoolFile,
    /// `[failover]`: the hold of writer-bound statements.
    #[serde(default)]
    pub failover: FailoverFile,
    /// `[monitor]`: health checks (off without it).
    pub monitor: Option<MonitorFile>,
    /// `[mysql]`: MySQL frontend settings.
    #[serde(default)]
    pub mysql: MysqlFile,
    /// `[postgres]`: PostgreSQL frontend settings.
    #[serde(default)]
    pub postgres: PostgresFile,
    /// `[tls]`: certificate and key for client-facing TLS.
    pub tls: Option<TlsFile>,
    /// `[log]`: logging.
    #[serde(default)]
    pub log: LogFile,
    /// `[control]`: the HTTP control API.
    #[serde(default)]
    pub control: ControlFile,
    /// `[shutdown]`: how SIGTERM drains.
    #[serde(default)]
    pub shutdown: ShutdownFile,
    /// `[stats]`: the statistics sqlmux keeps.
    #[serde(default)]
    pub stats: StatsFile,
}

/// `[stats]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StatsFile {
    /// Statement digests kept (least recently seen dropped first).
    pub max_digests: Option<usize>,
}

/// `[shutdown]`: what SIGTERM (or SIGINT) does.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ShutdownFile {
    /// `service` (default) or `sidecar`.
    pub mode: Option<String>,
    /// Longest drain before sqlmux exits anyway.
    pub timeout_ms: Option<u64>,
    /// `service`: how long new connections are still served; `sidecar`: how long without a
    /// client means the application has gone.
    pub accept_grace_ms: Option<u64>,
}

/// `[control]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ControlFile {
    /// Bearer token required on the control API (all but GET /healthz).
    pub token: Option<String>,
    /// File holding the token.
    pub token_file: Option<String>,
    /// Environment variable holding the token.
    pub token_env: Option<String>,
}

/// `[listen]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListenFile {
    /// MySQL application endpoint.
    pub mysql: Option<String>,
    /// PostgreSQL application endpoint.
    pub postgres: Option<String>,
    /// Admin SQL interface, MySQL protocol.
    pub admin_mysql: Option<String>,
    /// Admin SQL interface, PostgreSQL protocol.
    pub admin_postgres: Option<String>,
    /// Control API.
    pub http: Option<String>,
    /// Data-path threads serving client sessions (default: half the CPUs, at least one).
    pub workers: Option<usize>,
    /// A client that has not logged in by then is closed (TLS handshake included).
    pub handshake_timeout_ms: Option<u64>,
    /// Client connections at most, both protocols together.
    pub max_client_connections: Option<usize>,
}

/// `[admin]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminFile {
    /// Admin user name.
    pub user: String,
    /// Admin password (or `password_file` / `password_env`).
    pub password: Option<String>,
    /// File holding the admin password (a mounted Secret).
    pub password_file: Option<String>,
    /// Environment variable holding the admin password.
    pub password_env: Option<String>,
    /// Directory of the embedded store.
    pub data_dir: Option<String>,
}

/// `[[clusters]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterFile {
    /// Unique cluster name.
    pub name: String,
    /// `mysql` or `postgres`.
    pub protocol: String,
    /// Hostgroup of the writer.
    pub writer_hostgroup: u32,
    /// Hostgroup of the readers.
    pub reader_hostgroup: u32,
    /// Readers lagging more than this get no reads (absent or 0: no limit).
    pub max_replication_lag_ms: Option<u64>,
    /// Follow a Patroni cluster (PostgreSQL) for this cluster's writer and readers.
    pub patroni: Option<PatroniFile>,
}

/// `[[clusters]] patroni = { ... }`: where Patroni keeps the cluster's state.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct PatroniFile {
    /// etcd endpoints (`host:port`), watched through etcd's v3 JSON gateway.
    pub etcd: Option<Vec<String>>,
    /// Patroni REST endpoints (`http://host:8008`), polled instead of etcd.
    pub rest: Option<Vec<String>>,
    /// Patroni's `namespace` (default `/service`).
    pub namespace: Option<String>,
    /// Patroni's `scope` (the cluster's name in Patroni).
    pub scope: String,
    /// Poll interval of the REST endpoints (default 1000).
    pub interval_ms: Option<u64>,
}

/// `[[servers]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerFile {
    /// Hostgroup this server belongs to.
    pub hostgroup: u32,
    /// `host:port`.
    pub address: String,
    /// Relative weight for reader choice.
    pub weight: Option<u32>,
    /// Upper bound of backend connections to this server.
    pub max_connections: Option<u32>,
    /// Initial status (ONLINE by default).
    pub status: Option<String>,
    /// Connect to this server over TLS.
    pub tls: Option<bool>,
    /// Send a password in clear over plain TCP when the server asks for it.
    pub allow_cleartext_password: Option<bool>,
    /// PEM file of the CA(s) that sign this server's certificate (default: the system's).
    pub tls_ca: Option<String>,
    /// Verify this server's certificate (default true; false is logged as a warning).
    pub tls_verify: Option<bool>,
}

/// `[[users]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserFile {
    /// Login name (client side and backend side).
    pub name: String,
    /// Password (client side and backend side), or `password_file` / `password_env`.
    pub password: Option<String>,
    /// File holding the password (a mounted Secret; re-read when it changes).
    pub password_file: Option<String>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    /// Cluster this user's sessions go to.
    pub cluster: String,
    /// Default schema / database when the client names none.
    pub default_schema: Option<String>,
    /// Read-your-writes window in milliseconds.
    pub read_your_writes_ms: Option<u64>,
}

/// `[[rules]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// Regex over the statement text.
    #[serde(rename = "match")]
    pub match_: String,
    /// Destination hostgroup.
    pub hostgroup: u32,
    /// Only for this user.
    pub user: Option<String>,
    /// Only for this schema.
    pub schema: Option<String>,
}

/// `[pool]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PoolFile {
    /// Backend connect timeout.
    pub connect_timeout_ms: Option<u64>,
    /// Close idle pooled connections after this long.
    pub idle_timeout_ms: Option<u64>,
    /// Close pooled connections older than this.
    pub max_lifetime_ms: Option<u64>,
    /// Longest wait for a free backend connection before an error.
    pub wait_timeout_ms: Option<u64>,
    /// Consecutive connect errors after which a server is SHUNNED.
    pub shun_after_errors: Option<u32>,
    /// How long a SHUNNED server gets no new connections.
    pub shun_ms: Option<u64>,
    /// A statement still running past this is cancelled on its server (0: off).
    pub query_timeout_ms: Option<u64>,
    /// A session idle inside a transaction past this is closed (0: off).
    pub idle_transaction_timeout_ms: Option<u64>,
}

/// `[failover]`: holding writer-bound statements while a cluster has no usable writer.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FailoverFile {
    /// Longest a statement waits for a usable writer (and longest an explicit hold lasts).
    pub hold_timeout_ms: Option<u64>,
    /// Statements held per cluster at most; past it the oldest is failed.
    pub hold_max_statements: Option<usize>,
    /// Bytes of held statements per cluster at most; past it the oldest are failed.
    pub hold_max_bytes: Option<u64>,
    /// Shortest time between two writer changes of one cluster without `force`.
    pub min_interval_ms: Option<u64>,
}

/// `[monitor]`: sqlmux's own health checks of every server.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MonitorFile {
    /// Login of the checks (a user of its own on the servers, not an application user).
    pub user: String,
    /// Its password (or `password_file` / `password_env`).
    #[serde(default)]
    pub password: String,
    /// File holding the monitor's password.
    pub password_file: Option<String>,
    /// Environment variable holding the monitor's password.
    pub password_env: Option<String>,
    /// Database the PostgreSQL checks connect to (default `postgres`).
    pub database: Option<String>,
    /// Time between two checks of a server.
    pub interval_ms: Option<u64>,
    /// A check slower than this failed.
    pub timeout_ms: Option<u64>,
    /// Failed checks in a row after which a server is DOWN.
    pub down_after: Option<u32>,
    /// Good checks in a row after which a DOWN server is UP again.
    pub up_after: Option<u32>,
}

/// `[mysql]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MysqlFile {
    /// Relay LOAD DATA LOCAL INFILE (default true).
    pub local_infile: Option<bool>,
    /// Server-side prepared statements kept per backend connection.
    pub backend_statement_limit: Option<usize>,
    /// Version string announced to clients (default: the servers' own).
    pub server_version: Option<String>,
    /// Auth plugin announced in the greeting.
    pub default_auth_plugin: Option<String>,
    /// Prepared statements one client session may hold (then ERR 1461).
    pub max_session_statements: Option<usize>,
}

/// `[postgres]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PostgresFile {
    /// How clients authenticate: `scram-sha-256` (default), `md5` or `cleartext`.
    pub auth_method: Option<String>,
    /// Server-side prepared statements kept per backend connection.
    pub backend_statement_limit: Option<usize>,
    /// Bytes of extended-protocol messages a client may queue before a Sync or Flush.
    pub max_pending_bytes: Option<usize>,
    /// Named prepared statements one session may hold.
    pub max_session_statements: Option<usize>,
}

/// `[tls]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    /// PEM certificate chain.
    pub cert: String,
    /// PEM private key.
    pub key: String,
}

/// `[log]`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LogFile {
    /// tracing filter, e.g. `info` or `sqlmux_proxy=debug`.
    pub level: Option<String>,
    /// `text` (default) or `json` (one object per line).
    pub format: Option<String>,
}
