//! The compiled, validated configuration the proxy runs on.

use regex::Regex;
use std::time::Duration;

/// Wire protocol of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// MySQL / MariaDB.
    Mysql,
    /// PostgreSQL.
    Postgres,
}

/// Administrative status of a backend server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServerStatus {
    /// Takes new work.
    Online,
    /// Set automatically after repeated errors; recovers on its own.
    Shunned,
    /// Drain: no new work, running transactions finish.
    OfflineSoft,
    /// Closed now.
    OfflineHard,
}

impl ServerStatus {
    /// Parses the upper-case name used in config, admin tables and the API.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "ONLINE" => Some(Self::Online),
            "SHUNNED" => Some(Self::Shunned),
            "OFFLINE_SOFT" => Some(Self::OfflineSoft),
            "OFFLINE_HARD" => Some(Self::OfflineHard),
            _ => None,
        }
    }

    /// The upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "ONLINE",
            Self::Shunned => "SHUNNED",
            Self::OfflineSoft => "OFFLINE_SOFT",
            Self::OfflineHard => "OFFLINE_HARD",
        }
    }
}

/// Listen addresses; `None` means that endpoint is off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenSettings {
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
    /// Data-path threads serving client sessions; `None`: half the CPUs, at least one.
    /// Read at start only.
    pub workers: Option<usize>,
}

/// Limits on application clients (`[listen] handshake_timeout_ms`, `max_client_connections`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientLimits {
    /// A client that has not logged in by then is closed.
    pub handshake_timeout: Duration,
    /// Client connections at most (both protocols); past it a client gets the server's
    /// "too many connections" error.
    pub max_connections: usize,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_millis(10_000),
            max_connections: 10_000,
        }
    }
}

/// Admin interface credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    /// Admin user name.
    pub user: String,
    /// Admin password.
    pub password: String,
    /// Directory of the embedded store.
    pub data_dir: String,
}

/// A replicated database: one writer hostgroup, one reader hostgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Unique name.
    pub name: String,
    /// Wire protocol.
    pub protocol: Protocol,
    /// Hostgroup of the writer.
    pub writer_hostgroup: u32,
    /// Hostgroup of the readers.
    pub reader_hostgroup: u32,
    /// Readers whose replication lag is over this (or unknown) get no reads; `None`: no limit.
    pub max_replication_lag_ms: Option<u64>,
    /// The Patroni cluster its writer and readers come from, if any.
    pub patroni: Option<PatroniSource>,
}

/// A Patroni cluster a cluster follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatroniSource {
    /// Where Patroni's state is read.
    pub store: PatroniStore,
    /// Patroni's namespace, with a leading and no trailing `/` (`/service`).
    pub namespace: String,
    /// Patroni's scope.
    pub scope: String,
}

impl PatroniSource {
    /// The etcd key prefix of the cluster's state: `<namespace>/<scope>/`.
    pub fn prefix(&self) -> String {
        format!("{}/{}/", self.namespace, self.scope)
    }
}

/// Where Patroni's state is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatroniStore {
    /// etcd endpoints (`host:port`), watched.
    Etcd(Vec<String>),
    /// Patroni REST endpoints (`http://host:port`), polled every `interval`.
    Rest {
        /// Endpoints, tried in order.
        endpoints: Vec<String>,
        /// Poll interval.
        interval: Duration,
    },
}

/// A backend server in a hostgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// Hostgroup.
    pub hostgroup: u32,
    /// `host:port`.
    pub address: String,
    /// Relative weight.
    pub weight: u32,
    /// Upper bound of backend connections.
    pub max_connections: u32,
    /// Initial status.
    pub status: ServerStatus,
    /// Connect over TLS.
    pub tls: bool,
    /// A password may go in clear over plain TCP when the server asks for it.
    pub allow_cleartext_password: bool,
    /// PEM file of the CA(s) that sign the server's certificate (`None`: the system's).
    pub tls_ca: Option<String>,
    /// Whether the server's certificate is verified.
    pub tls_verify: bool,
}

/// A login, valid towards clients and backends alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Password.
    pub password: String,
    /// Cluster the user's sessions go to.
    pub cluster: String,
    /// Default schema when the client names none.
    pub default_schema: Option<String>,
    /// Read-your-writes window.
    pub read_your_writes: Option<Duration>,
}

/// A query rule: first match wins.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The compiled regex over the statement text.
    pub pattern: Regex,
    /// Destination hostgroup.
    pub hostgroup: u32,
    /// Only for this user.
    pub user: Option<String>,
    /// Only for this schema.
    pub schema: Option<String>,
}

/// Backend pool timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSettings {
    /// Backend connect timeout.
    pub connect_timeout: Duration,
    /// Idle pooled connections are closed after this long.
    pub idle_timeout: Duration,
    /// Pooled connections older than this are closed.
    pub max_lifetime: Duration,
    /// Longest wait for a free backend connection.
    pub wait_timeout: Duration,
    /// Consecutive connect errors after which a server is SHUNNED (0: never).
    pub shun_after_errors: u32,
    /// How long a SHUNNED server gets no new connections.
    pub shun_time: Duration,
    /// A statement still running past this is cancelled on its server (`None`: never).
    pub query_timeout: Option<Duration>,
    /// A session idle inside a transaction past this is closed (`None`: never).
    pub idle_transaction_timeout: Option<Duration>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_millis(2_000),
            idle_timeout: Duration::from_secs(60),
            max_lifetime: Duration::from_secs(3_600),
            wait_timeout: Duration::from_millis(3_000),
            shun_after_errors: 3,
            shun_time: Duration::from_secs(10),
            query_timeout: None,
            idle_transaction_timeout: None,
        }
    }
}

/// `[failover]`: how writer-bound statements wait while a cluster has no usable writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverSettings {
    /// Longest a statement is held (then it fails naming the cluster and the wait); also
    /// how long an explicit hold lasts unless released.
    pub hold_timeout: Duration,
    /// Statements held per cluster at most (the oldest is failed first).
    pub hold_max_statements: usize,
    /// Bytes of held statements per cluster at most (the oldest are failed first).
    pub hold_max_bytes: u64,
    /// Shortest time between two writer changes of one cluster without `force`.
    pub min_interval: Duration,
}

impl Default for FailoverSettings {
    fn default() -> Self {
        Self {
            hold_timeout: Duration::from_millis(10_000),
            hold_max_statements: 10_000,
            hold_max_bytes: 64 << 20,
            min_interval: Duration::from_millis(60_000),
        }
    }
}

/// `[shutdown]`: how SIGTERM (or SIGINT) drains sqlmux.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShutdownSettings {
    /// A shared service or an application's sidecar.
    pub mode: ShutdownMode,
    /// Longest drain: then every session is closed and sqlmux exits.
    pub timeout: Duration,
    /// `service`: new connections are still served this long; `sidecar`: no client for
    /// this long means the application has gone.
    pub accept_grace: Duration,
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        Self {
            mode: ShutdownMode::Service,
            timeout: Duration::from_millis(25_000),
            accept_grace: Duration::from_millis(5_000),
        }
    }
}

/// Whom sqlmux serves, for its drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownMode {
    /// Many applications: stop taking connections after `accept_grace`, close idle sessions.
    Service,
    /// One application shutting down beside it: serve it until it has gone.
    Sidecar,
}

/// `[monitor]`: sqlmux's health checks of every server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorSettings {
    /// Login of the checks.
    pub user: String,
    /// Its password.
    pub password: String,
    /// Database the PostgreSQL checks connect to.
    pub database: String,
    /// Time between two checks of a server.
    pub interval: Duration,
    /// A check slower than this failed.
    pub timeout: Duration,
    /// Failed checks in a row after which a server is DOWN.
    pub down_after: u32,
    /// Good checks in a row after which a DOWN server is UP again.
    pub up_after: u32,
}

impl MonitorSettings {
    /// The defaults of every `[monitor]` key but the login (left empty).
    pub fn defaults() -> Self {
        Self {
            user: String::new(),
            password: String::new(),
            database: "postgres".to_string(),
            interval: Duration::from_millis(500),
            timeout: Duration::from_millis(500),
            down_after: 3,
            up_after: 2,
        }
    }
}

/// MySQL frontend settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlSettings {
    /// Relay LOAD DATA LOCAL INFILE.
    pub local_infile: bool,
    /// Server-side prepared statements kept per backend connection (LRU, closed on eviction).
    pub backend_statement_limit: usize,
    /// Version string announced to clients instead of the servers' own (learned from
    /// their greetings); `None`: the servers'.
    pub server_version: Option<String>,
    /// Auth plugin announced in the greeting.
    pub default_auth_plugin: String,
    /// Prepared statements one client session may hold (the server's own default limit of
    /// `max_prepared_stmt_count` per session); past it ERR 1461.
    pub max_session_statements: usize,
}

impl MysqlSettings {
    /// The version announced when no server has been reached yet and none is configured
    /// (and by the admin port).
    pub const FALLBACK_VERSION: &'static str = "8.0.36-sqlmux";
}

impl Default for MysqlSettings {
    fn default() -> Self {
        Self {
            local_infile: true,
            backend_statement_limit: 128,
            server_version: None,
            default_auth_plugin: "mysql_native_password".to_string(),
            max_session_statements: 16_382,
        }
    }
}

/// How PostgreSQL clients prove their password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgAuthMethod {
    /// SCRAM-SHA-256 (SCRAM-SHA-256-PLUS with channel binding over TLS).
    ScramSha256,
    /// md5.
    Md5,
    /// The password in clear (only sensible over TLS).
    Cleartext,
}

/// PostgreSQL frontend settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresSettings {
    /// Client authentication method.
    pub auth_method: PgAuthMethod,
    /// Server-side prepared statements kept per backend connection (LRU, closed on eviction).
    pub backend_statement_limit: usize,
    /// Bytes of extended-protocol messages a client may queue before a Sync or Flush; past
    /// it the session ends with an error.
    pub max_pending_bytes: usize,
    /// Named prepared statements one session may hold; past it a Parse gets 54000.
    pub max_session_statements: usize,
}

impl Default for PostgresSettings {
    fn default() -> Self {
        Self {
            auth_method: PgAuthMethod::ScramSha256,
            backend_statement_limit: 256,
            max_pending_bytes: 16 << 20,
            max_session_statements: 16_382,
        }
    }
}

/// Client-facing TLS material (PEM file paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// Certificate chain file.
    pub cert: String,
    /// Private key file.
    pub key: String,
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// Listen addresses.
    pub listen: ListenSettings,
    /// Limits on application clients.
    pub clients: ClientLimits,
    /// Admin credentials, if the admin interface is configured.
    pub admin: Option<AdminSettings>,
    /// Clusters.
    pub clusters: Vec<Cluster>,
    /// Servers.
    pub servers: Vec<Server>,
    /// Users.
    pub users: Vec<std::sync::Arc<User>>,
    /// Ordered query rules.
    pub rules: Vec<Rule>,
    /// Pool timing.
    pub pool: PoolSettings,
    /// The hold of writer-bound statements through writer changes.
    pub failover: FailoverSettings,
    /// `[shutdown]`.
    pub shutdown: ShutdownSettings,
    /// Health checks, when configured.
    pub monitor: Option<MonitorSettings>,
    /// MySQL frontend settings.
    pub mysql: MysqlSettings,
    /// `[postgres]`.
    pub postgres: PostgresSettings,
    /// Client-facing TLS.
    pub tls: Option<TlsSettings>,
    /// tracing filter.
    pub log_level: String,
    /// `[log] format = "json"`: one JSON object per log line.
    pub log_json: bool,
    /// The secret files the runtime was read from (`password_file`, `token_file`), watched
    /// beside the config file.
    pub secret_files: Vec<String>,
    /// Bearer token of the control API.
    pub control_token: Option<String>,
    /// `[stats]`.
    pub stats: StatsSettings,
}

/// `[stats]`: the statistics sqlmux keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsSettings {
    /// Statement digests kept; past it the least recently seen are dropped.
    pub max_digests: usize,
}

impl Default for StatsSettings {
    fn default() -> Self {
        Self {
            max_digests: 10_000,
        }
    }
}

impl Runtime {
    /// How a server's TLS certificate is checked: its entry's CA file (`None`: the system's
    /// roots) and whether it is verified at all. Servers without an entry (pushed through
    /// the control API, found by a topology source) take the first entry at that address,
    /// else the system's roots.
    pub fn backend_tls_of(&self, address: &str) -> (Option<&str>, bool) {
        self.servers
            .iter()
            .find(|s| s.address == address)
            .map_or((None, true), |s| (s.tls_ca.as_deref(), s.tls_verify))
    }

    /// Whether a server entry at `address` lets a password go in clear over plain TCP.
    pub fn allows_cleartext(&self, address: &str) -> bool {
        self.servers
            .iter()
            .any(|s| s.address == address && s.allow_cleartext_password)
    }

    /// The user with this name.
    pub fn user(&self, name: &str) -> Option<&std::sync::Arc<User>> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The cluster with this name.
    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.name == name)
    }

    /// The servers of one hostgroup.
    pub fn servers_in(&self, hostgroup: u32) -> impl Iterator<Item = &Server> {
        self.servers
            .iter()
            .filter(move |s| s.hostgroup == hostgroup)
    }
}
