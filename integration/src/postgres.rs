//! Throwaway PostgreSQL servers: [`Postgres`] (one `postgres` in a temp dir on a free port)
//! and [`PostgresPair`] (primary + streaming hot standby).
//!
//! PostgreSQL refuses to run as root. When the tests run as root, `initdb`, `postgres` and
//! `pg_basebackup` run as the `postgres` OS user (or `nobody` if there is none) via
//! `Command::uid/gid`, and the temp dir (mode 0755 under `/tmp`) is chowned to that user.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::cli::{self, Psql};
use crate::process::{self, ServerProcess, START_TIMEOUT};
use crate::sys;

/// Bootstrap superuser (trusted on the unix socket only; no password).
pub const SUPERUSER: &str = "postgres";
/// Application role (LOGIN CREATEDB, SCRAM password over TCP).
pub const LEDGER_USER: &str = "ledger";
/// Password of [`LEDGER_USER`].
pub const LEDGER_PASSWORD: &str = "ledgerpw";
/// Database owned by [`LEDGER_USER`].
pub const LEDGER_DATABASE: &str = "ledger";
/// Second database owned by [`LEDGER_USER`].
pub const TEST_DATABASE: &str = "sqlmux_test";

/// Grace period between SIGINT (fast shutdown) and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Limit for the standby to catch up.
const REPL_TIMEOUT: Duration = Duration::from_secs(30);

/// Path of a PostgreSQL server-side binary (`initdb`, `postgres`, `pg_basebackup`, `psql`,
/// `pgbench`, ...): the highest `/usr/lib/postgresql/<N>/bin`, else the first in `PATH`,
/// else the bare name.
pub fn pg_binary(name: &str) -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin").join(name)))
        })
        .filter(|(_, p)| p.is_file())
        .collect();
    versions.sort();
    if let Some((_, p)) = versions.pop() {
        return p;
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| PathBuf::from(name))
}

/// How to start a [`Postgres`]; `Default` is a plain server with the ledger role and databases.
#[derive(Debug, Clone, Default)]
pub struct PostgresOptions {
    /// Extra `postgresql.conf` lines (`name = value`), appended after the defaults.
    pub settings: Vec<String>,
    /// Do not create [`LEDGER_USER`], [`LEDGER_DATABASE`] and [`TEST_DATABASE`].
    pub skip_setup: bool,
}

impl PostgresOptions {
    /// Same as `Default::default()`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `name = value` to `postgresql.conf` (value written verbatim, quote strings).
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.settings.push(format!("{name} = {value}"));
        self
    }

    /// Skips creating the ledger role and databases.
    pub fn skip_setup(mut self) -> Self {
        self.skip_setup = true;
        self
    }
}

/// A `postgres` running as a child process in its own temp dir; stopped and deleted on drop.
pub struct Postgres {
    server: ServerProcess,
    port: u16,
    datadir: PathBuf,
    log: PathBuf,
    owner: Option<(u32, u32)>,
    // Last field: the directory is removed only after the server has been stopped.
    dir: TempDir,
}

impl Postgres {
    /// Starts a server with default options.
    pub fn start() -> io::Result<Postgres> {
        Self::start_with(&PostgresOptions::default())
    }

    /// Starts a server with the given options.
    pub fn start_with(opts: &PostgresOptions) -> io::Result<Postgres> {
        let owner = sys::unprivileged_owner()?;
        let dir = owned_temp_dir("sqlmux-pg-", owner)?;
        let datadir = dir.path().join("data");
        let mut initdb = as_owner(Command::new(pg_binary("initdb")), owner, dir.path());
        initdb
            .arg("-D")
            .arg(&datadir)
            .args([
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--no-sync",
                "--no-instructions",
            ])
            .args(["--no-locale", "--encoding=UTF8"]);
        let out = cli::run(&mut initdb, None, START_TIMEOUT)?;
        if !out.success() {
            return Err(io::Error::other(format!(
                "initdb failed ({}): {}{}",
                out.status, out.stdout, out.stderr
            )));
        }
        fs::write(
            datadir.join("pg_hba.conf"),
            "# written by sqlmux-integration\n\
             local all         all                 trust\n\
             host  replication all 127.0.0.1/32    trust\n\
             host  all         all 127.0.0.1/32    scram-sha-256\n",
        )?;
        let mut conf = OpenOptions::new()
            .append(true)
            .open(datadir.join("postgresql.conf"))?;
        let mut extra = String::from(
            "\n# sqlmux-integration (port and unix_socket_directories come from the command line)\n\
             listen_addresses = '127.0.0.1'\n\
             fsync = off\n\
             synchronous_commit = off\n\
             shared_buffers = 16MB\n\
             max_connections = 200\n\
             password_encryption = 'scram-sha-256'\n\
             wal_level = replica\n\
             max_wal_senders = 5\n\
             wal_keep_size = '64MB'\n\
             hot_standby = on\n\
             logging_collector = off\n\
             log_destination = 'stderr'\n\
             dynamic_shared_memory_type = mmap\n",
        );
        for line in &opts.settings {
            extra.push_str(line);
            extra.push('\n');
        }
        conf.write_all(extra.as_bytes())?;
        drop(conf);

        let pg = Self::launch_in(dir, datadir, owner)?;
        if !opts.skip_setup {
            pg.sql(&format!(
                "CREATE ROLE {LEDGER_USER} LOGIN CREATEDB PASSWORD '{LEDGER_PASSWORD}';\n\
                 CREATE DATABASE {LEDGER_DATABASE} OWNER {LEDGER_USER};\n\
                 CREATE DATABASE {TEST_DATABASE} OWNER {LEDGER_USER};\n"
            ))?;
        }
        Ok(pg)
    }

    /// Starts a hot standby of `primary` (`pg_basebackup -R -X stream`).
    fn start_standby(primary: &Postgres) -> io::Result<Postgres> {
        let owner = primary.owner;
        let dir = owned_temp_dir("sqlmux-pgstandby-", owner)?;
        let datadir = dir.path().join("data");
        let mut backup = as_owner(Command::new(pg_binary("pg_basebackup")), owner, dir.path());
        backup
            .args(["-h", "127.0.0.1", "-p", &primary.port.to_string()])
            .args(["-U", SUPERUSER, "-D"])
            .arg(&datadir)
            .args(["-R", "-X", "stream", "-c", "fast", "--no-sync"])
            .env("PGCONNECT_TIMEOUT", "10");
        let out = cli::run(&mut backup, None, START_TIMEOUT)?;
        if !out.success() {
            return Err(io::Error::other(format!(
                "pg_basebackup failed ({}): {}{}",
                out.status, out.stdout, out.stderr
            )));
        }
        Self::launch_in(dir, datadir, owner)
    }

    /// Runs the server of `datadir` in `dir` (its socket dir, with `postgres.log`) on a free
    /// port.
    fn launch_in(
        dir: TempDir,
        datadir: PathBuf,
        owner: Option<(u32, u32)>,
    ) -> io::Result<Postgres> {
        let log = dir.path().join("postgres.log");
        let (port, server) =
            process::on_free_port(|port| launch(&datadir, dir.path(), &log, port, owner))?;
        Ok(Postgres {
            server,
            port,
            datadir,
            log,
            owner,
            dir,
        })
    }

    /// TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `"127.0.0.1:PORT"`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Directory holding the unix socket (`.s.PGSQL.<port>`); also the temp dir.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The data directory.
    pub fn datadir(&self) -> &Path {
        &self.datadir
    }

    /// The server log (postgres' stderr).
    pub fn log_file(&self) -> &Path {
        &self.log
    }

    /// Process id of the postmaster.
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// A `psql` builder for the superuser over the unix socket (database `postgres`).
    pub fn superuser_psql(&self) -> Psql {
        Psql::socket(self.dir.path(), self.port).user(SUPERUSER)
    }

    /// A `psql` builder for [`LEDGER_USER`] over TCP with its password (database `ledger`).
    pub fn ledger_psql(&self) -> Psql {
        Psql::tcp("127.0.0.1", self.port)
            .user(LEDGER_USER)
            .password(LEDGER_PASSWORD)
            .database(LEDGER_DATABASE)
    }

    /// Runs SQL as superuser over the socket in database `postgres`; stdout or `Err` with stderr.
    pub fn sql(&self, sql: &str) -> io::Result<String> {
        self.superuser_psql().query(sql)
    }

    /// Runs SQL as superuser over the socket in database `db`.
    pub fn sql_in(&self, db: &str, sql: &str) -> io::Result<String> {
        self.superuser_psql().database(db).query(sql)
    }

    /// Stops the server (SIGINT = fast shutdown, then SIGKILL after 10 s); files stay until drop.
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Stops the server if running and starts it again on the same port and data dir.
    pub fn restart(&mut self) -> io::Result<()> {
        self.server.stop();
        self.server = launch(
            &self.datadir,
            self.dir.path(),
            &self.log,
            self.port,
            self.owner,
        )?;
        Ok(())
    }
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("port", &self.port)
            .field("pid", &self.server.pid())
            .field("dir", &self.dir.path())
            .finish()
    }
}

pub(crate) fn owned_temp_dir(prefix: &str, owner: Option<(u32, u32)>) -> io::Result<TempDir> {
    let dir = sys::temp_dir(prefix)?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
    }
    Ok(dir)
}

pub(crate) fn as_owner(mut cmd: Command, owner: Option<(u32, u32)>, cwd: &Path) -> Command {
    if let Some((uid, gid)) = owner {
        cmd.uid(uid).gid(gid);
    }
    cmd.current_dir(cwd);
    cmd
}

fn launch(
    datadir: &Path,
    socket_dir: &Path,
    log: &Path,
    port: u16,
    owner: Option<(u32, u32)>,
) -> io::Result<ServerProcess> {
    let mut cmd = as_owner(Command::new(pg_binary("postgres")), owner, socket_dir);
    cmd.arg("-D")
        .arg(datadir)
        .arg("-p")
        .arg(port.to_string())
        .arg("-c")
        .arg(format!("unix_socket_directories={}", socket_dir.display()));
    let probe = Psql::socket(socket_dir, port)
        .user(SUPERUSER)
        .timeout(Duration::from_secs(10));
    let sock = socket_dir.join(format!(".s.PGSQL.{port}"));
    ServerProcess::start_logged("postgres", &mut cmd, ("INT", STOP_GRACE), log, || {
        sock.exists() && probe.query("SELECT 1").is_ok()
    })
}

/// A primary and a streaming hot standby of it (made with `pg_basebackup`); the ledger role
/// and databases exist on both.
#[derive(Debug)]
pub struct PostgresPair {
    /// The read-only hot standby (dropped first).
    pub standby: Postgres,
    /// The primary.
    pub primary: Postgres,
}

impl PostgresPair {
    /// Starts a primary with default options and a hot standby streaming from it.
    pub fn start() -> io::Result<PostgresPair> {
        Self::start_with(&PostgresOptions::default())
    }

    /// Like [`PostgresPair::start`]; the options apply to the primary (the standby copies its config).
    pub fn start_with(opts: &PostgresOptions) -> io::Result<PostgresPair> {
        let primary = Postgres::start_with(opts)?;
        let standby = Postgres::start_standby(&primary)?;
        let pair = PostgresPair { standby, primary };
        pair.wait_standby_caught_up()?;
        Ok(pair)
    }

    /// Waits until the standby has replayed the primary's WAL up to its current insert position.
    pub fn wait_standby_caught_up(&self) -> io::Result<()> {
        // The insert position, not pg_current_wal_lsn() (the write position): with
        // synchronous_commit = off a just-committed record may not be written yet. WAL is
        // streamed only once flushed, so then force a flush past it with a synchronous commit
        // (otherwise a trailing non-commit record could wait for the next checkpoint).
        let lsn = self.primary.sql("SELECT pg_current_wal_insert_lsn()")?;
        let lsn = lsn.trim().to_string();
        self.primary.sql(
            "BEGIN; SET LOCAL synchronous_commit = on; \
             SELECT pg_current_xact_id() IS NOT NULL; COMMIT;",
        )?;
        let query = format!(
            "SELECT coalesce(pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn, false), \
             pg_last_wal_replay_lsn()"
        );
        process::poll_until(
            &format!("standby to replay up to {lsn}"),
            REPL_TIMEOUT,
            || {
                let out = self.standby.sql(&query)?;
                if out.starts_with("t|") {
                    Ok(true)
                } else {
                    Err(io::Error::other(format!("standby replay position: {out}")))
                }
            },
        )
    }
}
