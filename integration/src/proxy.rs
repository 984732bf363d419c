//! sqlmux started in-process on port 0, on a tokio runtime of its own thread, so tests can
//! drive it with blocking real clients; stopped on drop.

use sqlmux_config::Runtime;
use std::io;
use std::net::SocketAddr;
use std::thread::JoinHandle;

/// A running in-process sqlmux.
pub struct Proxy {
    mysql: Option<SocketAddr>,
    postgres: Option<SocketAddr>,
    http: Option<SocketAddr>,
    admin_mysql: Option<SocketAddr>,
    admin_postgres: Option<SocketAddr>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// The control token [`Proxy::http`] sends.
    token: Option<String>,
}

/// The control token of a test proxy whose config sets none (changes need one).
pub const TEST_TOKEN: &str = "sqlmux-test-token";

/// The `[[clusters]]` section of the test configs' MySQL cluster `shop`: writer hostgroup
/// 10, reader hostgroup 20.
pub const SHOP_CLUSTER: &str = "[[clusters]]\nname = \"shop\"\nprotocol = \"mysql\"\nwriter_hostgroup = 10\nreader_hostgroup = 20\n";

/// The `[[clusters]]` section of the test configs' PostgreSQL cluster `ledger`: writer
/// hostgroup 30, reader hostgroup 40.
pub const LEDGER_CLUSTER: &str = "[[clusters]]\nname = \"ledger\"\nprotocol = \"postgres\"\nwriter_hostgroup = 30\nreader_hostgroup = 40\n";

/// A config text with one MySQL cluster `shop` whose writer hostgroup 10 holds `writer`,
/// reader hostgroup 20 empty, and user `app`/`apppw`; `extra` is appended as is.
pub fn mysql_config(writer: &str, extra: &str) -> String {
    mysql_config_listening(writer, "", extra)
}

/// [`mysql_config`] with `listen_extra` lines in its `[listen]` section (admin endpoints,
/// `http`).
pub fn mysql_config_listening(writer: &str, listen_extra: &str, extra: &str) -> String {
    format!(
        r#"
[listen]
mysql = "127.0.0.1:0"
{listen_extra}

{SHOP_CLUSTER}
[[servers]]
hostgroup = 10
address = "{writer}"
max_connections = 50

[[users]]
name = "app"
password = "apppw"
cluster = "shop"
{extra}
"#
    )
}

/// A config text with one PostgreSQL cluster `ledger`: writer hostgroup 30 holds `writer`,
/// reader hostgroup 40 holds `reader` when given, user `ledger`/`ledgerpw`; `extra` is
/// appended as is.
pub fn postgres_config(writer: &str, reader: Option<&str>, extra: &str) -> String {
    let reader = reader
        .map(|r| format!("[[servers]]\nhostgroup = 40\naddress = \"{r}\"\nmax_connections = 20\n"))
        .unwrap_or_default();
    format!(
        r#"
[listen]
postgres = "127.0.0.1:0"

{LEDGER_CLUSTER}
[[servers]]
hostgroup = 30
address = "{writer}"
max_connections = 20

{reader}
[[users]]
name = "ledger"
password = "ledgerpw"
cluster = "ledger"
{extra}
"#
    )
}

/// A config text with both clusters (`shop` on MySQL `mysql_writer`, `ledger` on PostgreSQL
/// `pg_writer`): one `[listen]` with both endpoints and `http`, then `listen_extra` lines,
/// then `sections` (whole sections such as `[monitor]`), then the clusters.
pub fn both_protocols_config(
    mysql_writer: &str,
    pg_writer: &str,
    listen_extra: &str,
    sections: &str,
) -> String {
    let clusters = |c: String| {
        c.split_once("[[clusters]]")
            .map(|(_, rest)| format!("[[clusters]]{rest}"))
            .unwrap_or_default()
    };
    format!(
        "[listen]\nmysql = \"127.0.0.1:0\"\npostgres = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\n{listen_extra}\n\n{sections}\n{}\n{}",
        clusters(mysql_config(mysql_writer, "")),
        clusters(postgres_config(pg_writer, None, ""))
    )
}

/// `config` with the control API (`http`) on a free port in its `[listen]` section.
pub fn with_control_api(config: &str) -> String {
    config.replace("[listen]\n", "[listen]\nhttp = \"127.0.0.1:0\"\n")
}

/// Data-path workers of a test proxy whose config does not say: two, so that sessions
/// share backend connections across workers (a socket moves between reactors) even on a
/// machine where sqlmux's own default would be one worker.
const TEST_WORKERS: usize = 2;

/// The worker count SQLMUX_TEST_WORKERS asks for, if any.
fn workers_from_env() -> Option<usize> {
    std::env::var("SQLMUX_TEST_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
}

impl Proxy {
    /// Parses `config` (listen addresses are forced to port 0 on loopback) and starts sqlmux.
    pub fn start(config: &str) -> io::Result<Proxy> {
        Self::start_runtime(parse(config)?)
    }

    /// Like [`Proxy::start`], but with the worker count sqlmux itself would pick (half the
    /// CPUs) unless the config or SQLMUX_TEST_WORKERS sets it: for benchmarks.
    pub fn start_as_shipped(config: &str) -> io::Result<Proxy> {
        let mut runtime = parse(config)?;
        runtime.listen.workers = runtime
            .listen
            .workers
            .or_else(workers_from_env)
            .or_else(|| Some(sqlmux_proxy::workers::default_count()));
        Self::start_runtime(runtime)
    }

    /// Starts sqlmux with a runtime built in code.
    pub fn start_runtime(mut runtime: Runtime) -> io::Result<Proxy> {
        if runtime.control_token.is_none() {
            runtime.control_token = Some(TEST_TOKEN.to_string());
        }
        let token = runtime.control_token.clone();
        for address in [
            &mut runtime.listen.mysql,
            &mut runtime.listen.postgres,
            &mut runtime.listen.http,
            &mut runtime.listen.admin_mysql,
            &mut runtime.listen.admin_postgres,
        ] {
            if address.is_some() {
                *address = Some("127.0.0.1:0".into());
            }
        }
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sqlmux".into())
            .spawn(move || {
                // The config's `[listen] workers`, else SQLMUX_TEST_WORKERS, else two.
                runtime.listen.workers = runtime
                    .listen
                    .workers
                    .or_else(workers_from_env)
                    .or(Some(TEST_WORKERS));
                let tokio = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(t) => t,
                    Err(e) => {
                        let _ = addr_tx.send(Err(e));
                        return;
                    }
                };
                tokio.block_on(async move {
                    let listeners = match sqlmux::Listeners::bind(&runtime.listen).await {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = addr_tx.send(Err(io::Error::other(e.to_string())));
                            return;
                        }
                    };
                    let shutdown = async move {
                        let _ = shutdown_rx.await;
                    };
                    let addrs = Addrs {
                        mysql: listeners.mysql_addr(),
                        postgres: listeners.postgres_addr(),
                        http: listeners.http_addr(),
                        admin_mysql: listeners.admin_mysql_addr(),
                        admin_postgres: listeners.admin_postgres_addr(),
                    };
                    let _ = addr_tx.send(Ok(addrs));
                    if let Err(e) = sqlmux::run(runtime, listeners, shutdown).await {
                        eprintln!("sqlmux stopped: {e}");
                    }
                });
                tokio.shutdown_timeout(std::time::Duration::from_secs(1));
            })?;
        let addrs = addr_rx
            .recv()
            .map_err(|_| io::Error::other("sqlmux thread ended before listening"))??;
        Ok(Proxy {
            mysql: addrs.mysql,
            postgres: addrs.postgres,
            http: addrs.http,
            admin_mysql: addrs.admin_mysql,
            admin_postgres: addrs.admin_postgres,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
            token,
        })
    }

    /// The MySQL-protocol admin endpoint.
    pub fn admin_mysql_addr(&self) -> SocketAddr {
        self.admin_mysql
            .expect("this proxy has an admin_mysql listener")
    }

    /// The MySQL-protocol admin endpoint's port.
    pub fn admin_mysql_port(&self) -> u16 {
        self.admin_mysql_addr().port()
    }

    /// The PostgreSQL-protocol admin endpoint.
    pub fn admin_postgres_addr(&self) -> SocketAddr {
        self.admin_postgres
            .expect("this proxy has an admin_postgres listener")
    }

    /// The PostgreSQL-protocol admin endpoint's port.
    pub fn admin_postgres_port(&self) -> u16 {
        self.admin_postgres_addr().port()
    }

    /// The MySQL endpoint.
    pub fn mysql_addr(&self) -> SocketAddr {
        self.mysql.expect("this proxy has a MySQL listener")
    }

    /// The control API endpoint.
    pub fn http_addr(&self) -> SocketAddr {
        self.http.expect("this proxy has a control API listener")
    }

    /// Sends one HTTP/1.1 request to the control API; returns (status, body).
    pub fn http(&self, method: &str, path: &str, body: Option<&str>) -> io::Result<(u16, String)> {
        crate::http::request_with_token(
            &self.http_addr().to_string(),
            method,
            path,
            body,
            self.token.as_deref(),
        )
    }

    /// What an orchestrator does after a promotion: `PUT /v1/topology` with these
    /// (hostgroup, address) servers, all ONLINE, at the current generation. Returns the
    /// response's status and body.
    pub fn put_servers(&self, servers: &[(u32, &str)]) -> io::Result<(u16, String)> {
        let (_, current) = self.http("GET", "/v1/topology", None)?;
        let servers: Vec<String> = servers
            .iter()
            .map(|(hg, address)| format!(r#"{{"hostgroup": {hg}, "address": "{address}"}}"#))
            .collect();
        let doc = format!(
            r#"{{"generation": {}, "servers": [{}]}}"#,
            topology_generation(&current),
            servers.join(", ")
        );
        self.http("PUT", "/v1/topology", Some(&doc))
    }

    /// The PostgreSQL endpoint.
    pub fn postgres_addr(&self) -> SocketAddr {
        self.postgres.expect("this proxy has a PostgreSQL listener")
    }

    /// The PostgreSQL endpoint's port.
    pub fn postgres_port(&self) -> u16 {
        self.postgres_addr().port()
    }

    /// The MySQL endpoint's port.
    pub fn mysql_port(&self) -> u16 {
        self.mysql_addr().port()
    }
}

/// The `generation` of a topology document (the body of `GET /v1/topology`).
pub fn topology_generation(body: &str) -> u64 {
    let at = body.find("\"generation\"").expect("a generation") + "\"generation\"".len();
    body[at..]
        .trim_start_matches([':', ' '])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("a numeric generation")
}

/// The bound addresses, sent back to [`Proxy::start_runtime`].
struct Addrs {
    mysql: Option<SocketAddr>,
    postgres: Option<SocketAddr>,
    http: Option<SocketAddr>,
    admin_mysql: Option<SocketAddr>,
    admin_postgres: Option<SocketAddr>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A config text parsed, or the reason as an `InvalidInput` error.
/// Parses a test config. Without a `[shutdown]` section the drain is off (timeout 0): a
/// test proxy stops at once when dropped.
fn parse(config: &str) -> io::Result<Runtime> {
    let mut runtime = sqlmux_config::parse(config)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    if !config.contains("[shutdown]") {
        runtime.shutdown.timeout = std::time::Duration::ZERO;
    }
    Ok(runtime)
}

/// The `sqlmux` binary `cargo test --workspace` built beside the test binaries (the proxy
/// package's own tests make cargo build it).
pub fn sqlmux_binary() -> io::Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?;
    // A test binary lives in target/<profile>/deps, a program (the load harness) in
    // target/<profile>: the binary is beside one or the other.
    let candidates: Vec<std::path::PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("sqlmux"))
        .collect();
    candidates
        .iter()
        .find(|binary| binary.is_file())
        .cloned()
        .ok_or_else(|| {
            io::Error::other(format!(
                "{} is missing: run `./test.sh` (or `cargo build -p sqlmux`, with --release for the load harness)",
                candidates.last().map(|b| b.display().to_string()).unwrap_or_default()
            ))
        })
}
