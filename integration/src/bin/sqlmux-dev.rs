//! `sqlmux-dev`: sqlmux in front of throwaway local servers, for trying it out by hand.
//!
//! Starts a MariaDB primary + replica and a PostgreSQL primary + standby with the test
//! harness (temp dirs, free ports), writes a config shaped like `sqlmux.example.toml` that
//! points at them, runs sqlmux in-process and prints how to connect. Ctrl-C (or SIGTERM /
//! SIGHUP) stops sqlmux, stops the servers and removes every file it created.
//!
//! Usage: `sqlmux-dev [--mysql-port N]` (default 6033, PostgreSQL on 6432; if either is
//! taken, ephemeral ports for both).
//! `./dev.sh` at the repository root installs the servers if needed and runs this.

use std::io::{self, IsTerminal};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use sqlmux_integration::mariadb::{APP_PASSWORD, APP_USER, TEST_DATABASE};
use sqlmux_integration::postgres::{LEDGER_DATABASE, LEDGER_PASSWORD, LEDGER_USER};
use sqlmux_integration::proxy::{LEDGER_CLUSTER, SHOP_CLUSTER};
use sqlmux_integration::{MariaDbPair, PostgresPair};
use tokio::signal::unix::{signal, Signal, SignalKind};

/// `println!` that ignores write errors (closed terminal, broken pipe) instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `eprintln!` that ignores write errors instead of panicking.
macro_rules! complain {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// The MySQL endpoint of `sqlmux.example.toml`.
const DEFAULT_MYSQL_PORT: u16 = 6033;
/// sqlmux's PostgreSQL endpoint, as in `sqlmux.example.toml`.
const DEFAULT_POSTGRES_PORT: u16 = 6432;
/// How long sqlmux may take to stop before the servers are removed anyway.
const PROXY_STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Exit code after an interrupt during startup (128 + SIGINT).
const INTERRUPTED: u8 = 130;

const USAGE: &str = "\
usage: sqlmux-dev [--mysql-port N]

Runs sqlmux in front of throwaway MariaDB (primary + replica) and PostgreSQL
(primary + standby) servers and prints how to connect. Ctrl-C stops everything
and removes the servers and their files.

  --mysql-port N   port of sqlmux's MySQL endpoint on 127.0.0.1 (default 6033;
                   0 = any free port; if 6033 or 6432 is taken, free ports are
                   used for both endpoints)
  -h, --help       this text

RUST_LOG overrides the log filter (default: info).";

/// Command-line options.
struct Args {
    /// `--mysql-port`, when given.
    mysql_port: Option<u16>,
}

/// `Ok(None)` means `--help` was asked for.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut mysql_port = None;
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--mysql-port" => args
                .next()
                .ok_or_else(|| "--mysql-port needs a value".to_string())?,
            other => match other.strip_prefix("--mysql-port=") {
                Some(v) => v.to_string(),
                None => return Err(format!("unknown argument {other:?}")),
            },
        };
        let port = value
            .parse::<u16>()
            .map_err(|_| format!("--mysql-port: {value:?} is not a port number (0-65535)"))?;
        mysql_port = Some(port);
    }
    Ok(Some(Args { mysql_port }))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            say!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            complain!("sqlmux-dev: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let tokio = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            complain!("sqlmux-dev: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = tokio.block_on(dev(args));
    tokio.shutdown_timeout(Duration::from_secs(1));
    code
}

/// The servers sqlmux-dev runs; dropping them stops them and removes their temp dirs.
struct Servers {
    mariadb: MariaDbPair,
    postgres: PostgresPair,
}

/// SIGINT (Ctrl-C), SIGTERM and SIGHUP, registered before anything is started so that no
/// signal can end the process without cleanup.
struct StopSignals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl StopSignals {
    fn register() -> io::Result<Self> {
        Ok(Self {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for the next stop signal; returns its name.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "Ctrl-C (SIGINT)",
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
        }
    }
}

async fn dev(args: Args) -> ExitCode {
    let mut stop = match StopSignals::register() {
        Ok(s) => s,
        Err(e) => {
            complain!("sqlmux-dev: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };

    // Check the port before spending seconds on the servers; `serve` still handles a race.
    let mysql_port = match args.mysql_port {
        Some(port) if port != 0 && !port_free(port) => {
            complain!(
                "sqlmux-dev: port {port} on 127.0.0.1 is in use; choose another with \
                 --mysql-port N (0 = any free port)."
            );
            return ExitCode::FAILURE;
        }
        Some(port) => port,
        None if !port_free(DEFAULT_MYSQL_PORT) => {
            say!(
                "sqlmux-dev: note: port {DEFAULT_MYSQL_PORT} is in use; sqlmux listens on an \
                 ephemeral port instead (pick the MySQL one with --mysql-port N)."
            );
            0
        }
        None => DEFAULT_MYSQL_PORT,
    };

    say!(
        "sqlmux-dev: starting MariaDB (primary + replica) and PostgreSQL (primary + standby) \
         in temp dirs; this takes a few seconds ..."
    );
    let servers = match start_servers(&mut stop).await {
        Ok(Some(s)) => s,
        Ok(None) => return ExitCode::from(INTERRUPTED),
        Err(e) => {
            complain!("sqlmux-dev: could not start the database servers: {e}");
            complain!(
                "sqlmux-dev: are mariadbd, mariadb-install-db, mariadb, initdb, postgres and \
                 pg_basebackup installed? ./dev.sh installs them."
            );
            return ExitCode::FAILURE;
        }
    };

    let workdir = match tempfile::Builder::new().prefix("sqlmux-dev-").tempdir() {
        Ok(d) => d,
        Err(e) => {
            complain!("sqlmux-dev: cannot create a temp dir for the config: {e}");
            remove_servers(servers).await;
            return ExitCode::FAILURE;
        }
    };

    let fallback = args.mysql_port.is_none() && mysql_port != 0;
    let code = serve(mysql_port, fallback, &servers, workdir.path(), &mut stop).await;

    say!("sqlmux-dev: stopping the database servers and removing their files ...");
    let config_dir = workdir.path().display().to_string();
    remove_servers(servers).await;
    match workdir.close() {
        Ok(()) => say!("sqlmux-dev: done; removed {config_dir} and the servers' temp dirs."),
        Err(e) => complain!("sqlmux-dev: could not remove {config_dir}: {e}"),
    }
    code
}

/// Starts both server pairs in parallel. `Ok(None)`: a stop signal came first (whatever did
/// start has been removed again).
async fn start_servers(stop: &mut StopSignals) -> io::Result<Option<Servers>> {
    let mariadb = tokio::task::spawn_blocking(MariaDbPair::start);
    let postgres = tokio::task::spawn_blocking(PostgresPair::start);
    let both = async { (mariadb.await, postgres.await) };
    tokio::pin!(both);
    let (mariadb, postgres) = tokio::select! {
        started = &mut both => started,
        sig = stop.recv() => {
            say!(
                "sqlmux-dev: {sig} received; waiting for the servers that are starting, \
                 to remove them ..."
            );
            let (mariadb, postgres) = both.await;
            drop_blocking((mariadb, postgres)).await;
            say!("sqlmux-dev: stopped before sqlmux started; servers removed.");
            return Ok(None);
        }
    };
    // Evaluate both so that a pair that did start is dropped (stopped) if the other failed.
    match (started("MariaDB", mariadb), started("PostgreSQL", postgres)) {
        (Ok(mariadb), Ok(postgres)) => Ok(Some(Servers { mariadb, postgres })),
        (Err(e), other) => {
            drop_blocking(other).await;
            Err(e)
        }
        (other, Err(e)) => {
            drop_blocking(other).await;
            Err(e)
        }
    }
}

/// The outcome of one start-up task, with the server kind named in the error.
fn started<T>(what: &str, r: Result<io::Result<T>, tokio::task::JoinError>) -> io::Result<T> {
    r.map_err(|e| io::Error::other(format!("{what}: start-up task failed: {e}")))?
        .map_err(|e| io::Error::new(e.kind(), format!("{what}: {e}")))
}

/// Drops `value` on a blocking thread (stopping a server waits for it to exit).
async fn drop_blocking<T: Send + 'static>(value: T) {
    let _ = tokio::task::spawn_blocking(move || drop(value)).await;
}

async fn remove_servers(servers: Servers) {
    drop_blocking(servers).await;
}

/// Writes the config, runs sqlmux until a stop signal (or until it fails), and says how
/// to connect. With `fallback`, a taken `mysql_port` is replaced by an ephemeral one.
async fn serve(
    mysql_port: u16,
    fallback: bool,
    servers: &Servers,
    workdir: &Path,
    stop: &mut StopSignals,
) -> ExitCode {
    let config = config_text(servers, workdir, mysql_port, DEFAULT_POSTGRES_PORT);
    let (config, runtime, listeners) = match bind(&config).await {
        Ok((runtime, listeners)) => (config, runtime, listeners),
        Err(BindError::PortInUse(e)) if fallback => {
            say!(
                "sqlmux-dev: note: {e}; sqlmux listens on ephemeral ports instead \
                 (pick the MySQL one with --mysql-port N)."
            );
            let config = config_text(servers, workdir, 0, 0);
            match bind(&config).await {
                Ok((runtime, listeners)) => (config, runtime, listeners),
                Err(e) => {
                    complain!("sqlmux-dev: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        Err(e) => {
            complain!("sqlmux-dev: {e}");
            if matches!(e, BindError::PortInUse(_)) {
                complain!(
                    "sqlmux-dev: choose another port with --mysql-port N (0 = any free port)."
                );
            }
            return ExitCode::FAILURE;
        }
    };
    let (Some(mysql_addr), Some(postgres_addr)) =
        (listeners.mysql_addr(), listeners.postgres_addr())
    else {
        complain!("sqlmux-dev: sqlmux has no MySQL or PostgreSQL listener");
        return ExitCode::FAILURE;
    };
    let config_path = workdir.join("sqlmux.toml");
    if let Err(e) = std::fs::write(&config_path, &config) {
        complain!("sqlmux-dev: cannot write {}: {e}", config_path.display());
        return ExitCode::FAILURE;
    }

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&runtime.log_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .try_init();

    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    let mut proxy = tokio::spawn(sqlmux::run(runtime, listeners, async move {
        let _ = shutdown_rx.await;
    }));
    say!(
        "{}",
        banner(servers, mysql_addr, postgres_addr, &config_path)
    );

    tokio::select! {
        sig = stop.recv() => {
            say!("\nsqlmux-dev: {sig} received; stopping sqlmux ...");
            let _ = shutdown_tx.send(());
            match tokio::time::timeout(PROXY_STOP_TIMEOUT, &mut proxy).await {
                Ok(Ok(Ok(()))) => ExitCode::SUCCESS,
                Ok(Ok(Err(e))) => {
                    complain!("sqlmux-dev: sqlmux stopped with an error: {e}");
                    ExitCode::FAILURE
                }
                Ok(Err(e)) => {
                    complain!("sqlmux-dev: sqlmux task failed: {e}");
                    ExitCode::FAILURE
                }
                Err(_) => {
                    complain!(
                        "sqlmux-dev: sqlmux did not stop within {PROXY_STOP_TIMEOUT:?}; \
                         removing the servers anyway"
                    );
                    proxy.abort();
                    ExitCode::FAILURE
                }
            }
        }
        ended = &mut proxy => {
            match ended {
                Ok(Ok(())) => complain!("sqlmux-dev: sqlmux stopped unexpectedly"),
                Ok(Err(e)) => complain!("sqlmux-dev: sqlmux stopped: {e}"),
                Err(e) => complain!("sqlmux-dev: sqlmux task failed: {e}"),
            }
            ExitCode::FAILURE
        }
    }
}

/// Whether `port` on 127.0.0.1 can be listened on right now.
fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// Why sqlmux could not be set up with a config text.
#[derive(Debug)]
enum BindError {
    /// The generated config did not validate (a bug in this program).
    Config(sqlmux_config::ConfigError),
    /// A listen address is taken.
    PortInUse(sqlmux::ServerError),
    /// Any other bind failure.
    Bind(sqlmux::ServerError),
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindError::Config(e) => write!(f, "the generated config is invalid: {e}"),
            BindError::PortInUse(e) | BindError::Bind(e) => write!(f, "{e}"),
        }
    }
}

/// Parses the config and binds its listeners.
async fn bind(config: &str) -> Result<(sqlmux_config::Runtime, sqlmux::Listeners), BindError> {
    let mut runtime = sqlmux_config::parse(config).map_err(BindError::Config)?;
    // Ctrl-C in a terminal stops at once (no drain: nothing routes here to finish).
    runtime.shutdown.timeout = std::time::Duration::ZERO;
    match sqlmux::Listeners::bind(&runtime.listen).await {
        Ok(listeners) => Ok((runtime, listeners)),
        Err(e) => {
            let in_use = matches!(&e, sqlmux::ServerError::Bind { source, .. }
                if source.kind() == io::ErrorKind::AddrInUse);
            Err(if in_use {
                BindError::PortInUse(e)
            } else {
                BindError::Bind(e)
            })
        }
    }
}

/// The config: `sqlmux.example.toml`'s shape with the throwaway servers' real ports.
fn config_text(servers: &Servers, workdir: &Path, mysql_port: u16, postgres_port: u16) -> String {
    let m = &servers.mariadb;
    let p = &servers.postgres;
    let data_dir = workdir.join("sqlmux-data");
    format!(
        r#"# Generated by sqlmux-dev for throwaway local servers; removed when sqlmux-dev exits.
# Same shape as sqlmux.example.toml, with the real ports of the servers it started.

[listen]
mysql = "127.0.0.1:{mysql_port}"  # application endpoint, MySQL protocol
postgres = "127.0.0.1:{postgres_port}"  # application endpoint, PostgreSQL protocol
admin_mysql = "127.0.0.1:6032"     # admin SQL interface, MySQL protocol
admin_postgres = "127.0.0.1:6132"  # admin SQL interface, PostgreSQL protocol
http = "127.0.0.1:6070"            # control API, /metrics, /healthz, /readyz

[admin]
user = "admin"
password = "admin"
data_dir = "{data_dir}"

{SHOP_CLUSTER}
{LEDGER_CLUSTER}
# MariaDB primary
[[servers]]
hostgroup = 10
address = "{mariadb_primary}"
max_connections = 50

# MariaDB replica
[[servers]]
hostgroup = 20
address = "{mariadb_replica}"
weight = 1
max_connections = 50

# PostgreSQL primary
[[servers]]
hostgroup = 30
address = "{pg_primary}"
max_connections = 20

# PostgreSQL standby
[[servers]]
hostgroup = 40
address = "{pg_standby}"
max_connections = 20

[[users]]
name = "{APP_USER}"
password = "{APP_PASSWORD}"
cluster = "shop"

[[users]]
name = "{LEDGER_USER}"
password = "{LEDGER_PASSWORD}"
cluster = "ledger"

[[rules]]
match = "(?i)^\\s*select\\b.*\\bfrom\\s+report_"
hostgroup = 20
"#,
        data_dir = toml_escape(&data_dir.display().to_string()),
        mariadb_primary = m.primary.addr(),
        mariadb_replica = m.replica.addr(),
        pg_primary = p.primary.addr(),
        pg_standby = p.standby.addr(),
    )
}

/// Escapes a string for a TOML basic string.
fn toml_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The "how to connect" text.
fn banner(servers: &Servers, mysql: SocketAddr, postgres: SocketAddr, config: &Path) -> String {
    let m = &servers.mariadb;
    let p = &servers.postgres;
    let maria = |port: u16| {
        format!("mariadb -h127.0.0.1 -P{port} -u{APP_USER} -p{APP_PASSWORD} {TEST_DATABASE}")
    };
    let psql = |port: u16| {
        format!(
            "psql postgresql://{LEDGER_USER}:{LEDGER_PASSWORD}@127.0.0.1:{port}/{LEDGER_DATABASE}"
        )
    };
    format!(
        "
sqlmux is running. Connect through it:

    MySQL protocol:       {proxy}
    PostgreSQL protocol:  {pg_proxy}

Backends, directly (bypassing sqlmux):
    MariaDB primary    (hostgroup 10)  {maria_primary}
    MariaDB replica    (hostgroup 20)  {maria_replica}
    PostgreSQL primary (hostgroup 30)  {pg_primary}
    PostgreSQL standby (hostgroup 40)  {pg_standby}

Admin SQL:    mariadb -h127.0.0.1 -P6032 -uadmin -padmin
              psql -h127.0.0.1 -p6132 -Uadmin -d admin   (password admin)
Control API:  curl http://127.0.0.1:6070/v1/topology   (also /metrics, /healthz, /readyz)

Config:       {config}
Server dirs:  {dir1}  (data and logs)
              {dir2}
              {dir3}
              {dir4}

Press Ctrl-C to stop sqlmux and the servers; their data and temp dirs are removed.
",
        proxy = maria(mysql.port()),
        pg_proxy = psql(postgres.port()),
        maria_primary = maria(m.primary.port()),
        maria_replica = maria(m.replica.port()),
        pg_primary = psql(p.primary.port()),
        pg_standby = psql(p.standby.port()),
        config = config.display(),
        dir1 = m.primary.dir().display(),
        dir2 = m.replica.dir().display(),
        dir3 = p.primary.socket_dir().display(),
        dir4 = p.standby.socket_dir().display(),
    )
}
