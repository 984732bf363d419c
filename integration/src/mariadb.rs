//! Throwaway MariaDB servers: [`MariaDb`] (one `mariadbd` in a temp dir on a free port) and
//! [`MariaDbPair`] (binlog primary + GTID replica).

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::cli::{self, MariaDbCli};
use crate::process::{self, ServerProcess, START_TIMEOUT};
use crate::sys;

/// Application user created on every server (auth plugin `mysql_native_password`).
pub const APP_USER: &str = "app";
/// Password of [`APP_USER`].
pub const APP_PASSWORD: &str = "apppw";
/// Database created on every server.
pub const TEST_DATABASE: &str = "sqlmux_test";
/// Replication user created on a [`MariaDbPair`] primary.
pub const REPL_USER: &str = "repl";
/// Password of [`REPL_USER`].
pub const REPL_PASSWORD: &str = "replpw";

/// Grace period between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Limit for replication to start or catch up.
const REPL_TIMEOUT: Duration = Duration::from_secs(30);

/// How to start a [`MariaDb`]; `Default` is a plain server with the app user and database.
#[derive(Debug, Clone, Default)]
pub struct MariaDbOptions {
    /// Extra `mariadbd` arguments, appended after the defaults (so they override them).
    pub extra_args: Vec<String>,
    /// `--server-id`, if set.
    pub server_id: Option<u32>,
    /// Enable the binary log (`--log-bin`, `--binlog-format=ROW`).
    pub log_bin: bool,
    /// Replica settings: `--read-only=1`, relay log in the data dir, `--skip-slave-start`.
    pub replica: bool,
    /// Do not create [`APP_USER`] and [`TEST_DATABASE`].
    pub skip_setup: bool,
}

impl MariaDbOptions {
    /// Same as `Default::default()`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one extra server argument, e.g. `--max-connections=20`, `--local-infile=1`.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    /// Enables the binlog (ROW format) with the given server id.
    pub fn binlog(mut self, server_id: u32) -> Self {
        self.log_bin = true;
        self.server_id = Some(server_id);
        self
    }

    /// Configures a read-only replica with the given server id (replication is not started).
    pub fn replica(mut self, server_id: u32) -> Self {
        self.replica = true;
        self.server_id = Some(server_id);
        self
    }

    /// Skips creating the app user and test database.
    pub fn skip_setup(mut self) -> Self {
        self.skip_setup = true;
        self
    }
}

/// A `mariadbd` running as a child process in its own temp dir; stopped and deleted on drop.
pub struct MariaDb {
    server: ServerProcess,
    port: u16,
    args: Vec<String>,
    datadir: PathBuf,
    socket: PathBuf,
    error_log: PathBuf,
    out_log: PathBuf,
    // Last field: the directory is removed only after the server has been stopped.
    dir: TempDir,
}

impl MariaDb {
    /// Starts a server with default options (app user `app`/`apppw`, database `sqlmux_test`).
    pub fn start() -> io::Result<MariaDb> {
        Self::start_with(&MariaDbOptions::default())
    }

    /// Starts a server with the given options.
    pub fn start_with(opts: &MariaDbOptions) -> io::Result<MariaDb> {
        let dir = sys::temp_dir("sqlmux-mariadb-")?;
        let datadir = dir.path().join("data");
        let socket = dir.path().join("mysqld.sock");
        let error_log = dir.path().join("error.log");
        let out_log = dir.path().join("mariadbd.out");
        let tmpdir = dir.path().join("tmp");
        fs::create_dir(&tmpdir)?;
        install_db(dir.path(), &datadir, &tmpdir)?;

        let mut args: Vec<String> = vec![
            "--no-defaults".into(),
            format!("--datadir={}", datadir.display()),
            format!("--socket={}", socket.display()),
            format!("--tmpdir={}", tmpdir.display()),
            "--bind-address=127.0.0.1".into(),
            "--user=root".into(),
            format!("--log-error={}", error_log.display()),
            format!("--pid-file={}", dir.path().join("mariadbd.pid").display()),
            "--skip-name-resolve".into(),
            "--max-connections=500".into(),
        ];
        args.extend(small_innodb_args());
        if let Some(id) = opts.server_id {
            args.push(format!("--server-id={id}"));
        }
        if opts.log_bin {
            args.push("--log-bin=mysql-bin".into());
            args.push("--binlog-format=ROW".into());
        } else {
            args.push("--skip-log-bin".into());
        }
        if opts.replica {
            args.push("--read-only=1".into());
            args.push("--relay-log=relay-bin".into());
            args.push("--skip-slave-start".into());
        }
        args.extend(opts.extra_args.iter().cloned());

        let (port, server) =
            process::on_free_port(|port| launch(&args, port, &socket, &error_log, &out_log))?;
        let db = MariaDb {
            server,
            port,
            args,
            datadir,
            socket,
            error_log,
            out_log,
            dir,
        };
        if !opts.skip_setup {
            db.root_sql(&setup_sql())?;
        }
        Ok(db)
    }

    /// TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `"127.0.0.1:PORT"`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Path of the unix socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The data directory.
    pub fn datadir(&self) -> &Path {
        &self.datadir
    }

    /// The temp dir holding data dir, socket and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's error log (`--log-error`).
    pub fn error_log(&self) -> &Path {
        &self.error_log
    }

    /// Process id of `mariadbd`.
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// A `mariadb` CLI builder for root over the unix socket.
    pub fn root_cli(&self) -> MariaDbCli {
        MariaDbCli::socket(&self.socket).user("root")
    }

    /// A `mariadb` CLI builder for [`APP_USER`] over TCP.
    pub fn app_cli(&self) -> MariaDbCli {
        MariaDbCli::tcp("127.0.0.1", self.port)
            .user(APP_USER)
            .password(APP_PASSWORD)
    }

    /// Runs SQL as root over the socket (`-N -B`); stdout without trailing newline, or `Err` with stderr.
    pub fn root_sql(&self, sql: &str) -> io::Result<String> {
        self.root_cli().query(sql)
    }

    /// `SHOW SLAVE STATUS` as a column → value map; `None` if replication is not configured.
    pub fn replica_status(&self) -> io::Result<Option<HashMap<String, String>>> {
        let out = self
            .root_cli()
            .arg("-E")
            .arg("--column-names")
            .query("SHOW SLAVE STATUS")?;
        let map: HashMap<String, String> = out
            .lines()
            .filter_map(|line| {
                let (k, v) = line.split_once(':')?;
                let k = k.trim();
                (!k.starts_with('*')).then(|| (k.to_string(), v.trim().to_string()))
            })
            .collect();
        Ok((!map.is_empty()).then_some(map))
    }

    /// Stops the server (SIGTERM, then SIGKILL after 10 s); files stay until drop.
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Stops the server if running and starts it again on the same port and data dir.
    pub fn restart(&mut self) -> io::Result<()> {
        self.server.stop();
        self.server = launch(
            &self.args,
            self.port,
            &self.socket,
            &self.error_log,
            &self.out_log,
        )?;
        Ok(())
    }
}

impl std::fmt::Debug for MariaDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MariaDb")
            .field("port", &self.port)
            .field("pid", &self.server.pid())
            .field("dir", &self.dir.path())
            .finish()
    }
}

/// InnoDB/server settings that keep a throwaway server small and fast.
fn small_innodb_args() -> Vec<String> {
    [
        "--innodb-buffer-pool-size=32M",
        "--innodb-log-file-size=16M",
        "--innodb-log-buffer-size=4M",
        "--innodb-flush-log-at-trx-commit=2",
        "--innodb-doublewrite=0",
        "--innodb-use-native-aio=0",
        "--innodb-temp-data-file-path=ibtmp1:4M:autoextend",
        "--performance-schema=0",
        "--sync-binlog=0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Runs `mariadb-install-db`. Its bootstrap server gets a private `--tmpdir`: every mariadbd
/// deletes `#sql*` files in its tmpdir at startup, so parallel bootstraps sharing `/tmp`
/// would delete each other's internal temp tables.
fn install_db(dir: &Path, datadir: &Path, tmpdir: &Path) -> io::Result<()> {
    let mut cmd = Command::new("mariadb-install-db");
    cmd.current_dir(dir)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", datadir.display()))
        .arg("--user=root")
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        .arg(format!("--tmpdir={}", tmpdir.display()))
        .arg("--innodb-log-file-size=16M")
        .arg("--innodb-buffer-pool-size=32M")
        .arg("--innodb-doublewrite=0");
    let out = cli::run(&mut cmd, None, START_TIMEOUT)?;
    if out.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "mariadb-install-db failed ({}):\n{}\n{}",
            out.status,
            tail_str(&out.stdout, 20),
            tail_str(&out.stderr, 20)
        )))
    }
}

fn tail_str(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn launch(
    args: &[String],
    port: u16,
    socket: &Path,
    error_log: &Path,
    out_log: &Path,
) -> io::Result<ServerProcess> {
    let log_offset = sys::file_len(error_log);
    let out = OpenOptions::new().create(true).append(true).open(out_log)?;
    let mut cmd = Command::new("mariadbd");
    cmd.args(args)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    let mut server = ServerProcess::spawn("mariadbd", &mut cmd, "TERM", STOP_GRACE)?;
    let probe = MariaDbCli::socket(socket)
        .user("root")
        .timeout(Duration::from_secs(10));
    server.wait_ready(START_TIMEOUT, error_log, log_offset, || {
        socket.exists() && probe.query("SELECT 1").is_ok()
    })?;
    Ok(server)
}

fn setup_sql() -> String {
    let mut sql = String::new();
    for host in ["%", "localhost", "127.0.0.1"] {
        sql.push_str(&format!(
            "CREATE USER '{APP_USER}'@'{host}' IDENTIFIED VIA mysql_native_password \
             USING PASSWORD('{APP_PASSWORD}');\n\
             GRANT ALL PRIVILEGES ON *.* TO '{APP_USER}'@'{host}' WITH GRANT OPTION;\n"
        ));
    }
    sql.push_str(&format!("CREATE DATABASE {TEST_DATABASE};\n"));
    sql
}

/// A binlog primary (server-id 1, ROW) and a read-only GTID replica (server-id 2) replicating
/// from it. Users and the test database exist on both (created on the primary, replicated).
#[derive(Debug)]
pub struct MariaDbPair {
    /// The read-only replica (dropped first).
    pub replica: MariaDb,
    /// The primary with the binlog enabled.
    pub primary: MariaDb,
}

impl MariaDbPair {
    /// Starts primary and replica with default options and waits until the replica is in sync.
    pub fn start() -> io::Result<MariaDbPair> {
        Self::start_with(&MariaDbOptions::default())
    }

    /// Like [`MariaDbPair::start`]; `opts.extra_args` and `opts.skip_setup` apply to both servers.
    pub fn start_with(opts: &MariaDbOptions) -> io::Result<MariaDbPair> {
        let primary = MariaDb::start_with(&MariaDbOptions {
            replica: false,
            ..opts.clone().binlog(1)
        })?;
        primary.root_sql(&format!(
            "CREATE USER '{REPL_USER}'@'%' IDENTIFIED BY '{REPL_PASSWORD}';\n\
             GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '{REPL_USER}'@'%';"
        ))?;
        let replica = MariaDb::start_with(&MariaDbOptions {
            log_bin: false,
            ..opts.clone().replica(2).skip_setup()
        })?;
        // The replica's gtid_slave_pos is empty, so it replays the primary's whole binlog,
        // including the app user and database created above.
        replica.root_sql(&format!(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, \
             MASTER_USER='{REPL_USER}', MASTER_PASSWORD='{REPL_PASSWORD}', \
             MASTER_CONNECT_RETRY=1, MASTER_USE_GTID=slave_pos;\n\
             START SLAVE;",
            primary.port()
        ))?;
        let pair = MariaDbPair { replica, primary };
        pair.wait_replication_running()?;
        pair.wait_replica_caught_up()?;
        Ok(pair)
    }

    /// Waits until the replica's `Slave_IO_Running` and `Slave_SQL_Running` are both `Yes`.
    pub fn wait_replication_running(&self) -> io::Result<()> {
        let mut last = String::new();
        process::poll_until("replication threads to run", REPL_TIMEOUT, || {
            let status = self.replica.replica_status()?.unwrap_or_default();
            let field = |k: &str| status.get(k).cloned().unwrap_or_default();
            last = format!(
                "Slave_IO_Running={} Slave_SQL_Running={} Last_IO_Error={:?} Last_SQL_Error={:?}",
                field("Slave_IO_Running"),
                field("Slave_SQL_Running"),
                field("Last_IO_Error"),
                field("Last_SQL_Error"),
            );
            Ok(field("Slave_IO_Running") == "Yes" && field("Slave_SQL_Running") == "Yes")
        })
        .map_err(|e| io::Error::new(e.kind(), format!("{e}; {last}")))
    }

    /// Waits until the replica has applied everything in the primary's binlog so far.
    pub fn wait_replica_caught_up(&self) -> io::Result<()> {
        let pos = self.primary.root_sql("SELECT @@gtid_binlog_pos")?;
        let pos = pos.trim();
        if pos.is_empty() {
            return Ok(());
        }
        let res = self.replica.root_sql(&format!(
            "SELECT MASTER_GTID_WAIT('{pos}', {})",
            REPL_TIMEOUT.as_secs()
        ))?;
        if res.trim() == "0" {
            Ok(())
        } else {
            let status = self.replica.replica_status().ok().flatten();
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "replica did not reach GTID {pos} within {REPL_TIMEOUT:?} \
                     (MASTER_GTID_WAIT returned {res}); status: {status:?}"
                ),
            ))
        }
    }
}
