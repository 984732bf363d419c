//! A throwaway PgBouncer ([`PgBouncer`]) in front of one PostgreSQL server, for comparisons
//! with sqlmux: its own temp dir, a free port on 127.0.0.1, no unix socket, foreground child.
//!
//! Every database name is routed (`* = host=127.0.0.1 port=<backend>`) to the backend under
//! the same name. Clients authenticate with SCRAM-SHA-256 as [`LEDGER_USER`] /
//! [`LEDGER_PASSWORD`] (plaintext in `userlist.txt`, so PgBouncer can also do SCRAM to the
//! server, whose `password_encryption` is `scram-sha-256`); [`LEDGER_USER`] is also an
//! admin and stats user of the `pgbouncer` console database (`SHOW POOLS`).
//!
//! PgBouncer refuses to run as root: like the PostgreSQL harness, when the tests run as root
//! it runs as the `postgres` OS user (or `nobody`) via `Command::uid/gid`, and the temp dir
//! is chowned to that user.

use std::fs;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use tempfile::TempDir;

use crate::postgres::{as_owner, LEDGER_PASSWORD, LEDGER_USER};
use crate::process::{self, ServerProcess};
use crate::sys;

/// Grace period between SIGINT (safe shutdown) and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Path of the `pgbouncer` binary: Debian's `/usr/sbin/pgbouncer` if present (not in a
/// non-root `PATH`), else `pgbouncer` from `PATH`.
pub fn pgbouncer_binary() -> PathBuf {
    sys::sbin_binary("pgbouncer")
}

/// `(major, minor, patch)` of the installed PgBouncer (`pgbouncer --version`), if it runs.
pub fn version() -> Option<(u32, u32, u32)> {
    static VERSION: OnceLock<Option<(u32, u32, u32)>> = OnceLock::new();
    *VERSION.get_or_init(|| {
        let out = Command::new(pgbouncer_binary())
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .ok()?;
        parse_version(&String::from_utf8_lossy(&out.stdout))
    })
}

fn parse_version(text: &str) -> Option<(u32, u32, u32)> {
    let v = text.lines().next()?.strip_prefix("PgBouncer ")?.trim();
    let mut parts = v.split(['.', ' ', '-']).map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// Whether this PgBouncer relays protocol-level prepared statements in transaction mode
/// (`max_prepared_statements`, PgBouncer >= 1.21; [`PgBouncer::start`] turns it on there).
/// Without it, `pgbench -M prepared` through transaction pooling fails with
/// `prepared statement "P0_1" does not exist`.
pub fn supports_prepared_statements() -> bool {
    version().is_some_and(|v| v >= (1, 21, 0))
}

/// A `pgbouncer` running as a child process in its own temp dir; stopped and deleted on drop.
pub struct PgBouncer {
    server: ServerProcess,
    port: u16,
    log: PathBuf,
    // Last field: the directory is removed only after PgBouncer has been stopped.
    dir: TempDir,
}

impl PgBouncer {
    /// Starts PgBouncer in front of the PostgreSQL server on `127.0.0.1:backend_port`.
    ///
    /// `pool_mode` is `session`, `transaction` or `statement`; `pool_size` is
    /// `default_pool_size` (server connections per user+database pair, no reserve pool);
    /// `max_client_conn` is the client connection limit. Where supported (>= 1.21),
    /// `max_prepared_statements = 200`.
    pub fn start(
        backend_port: u16,
        pool_mode: &str,
        pool_size: u32,
        max_client_conn: u32,
    ) -> io::Result<PgBouncer> {
        Self::start_with_settings(backend_port, pool_mode, pool_size, max_client_conn, &[])
    }

    /// Like [`PgBouncer::start`], with extra `[pgbouncer]` settings `(name, value)` appended
    /// after the defaults (a later line overrides an earlier one).
    pub fn start_with_settings(
        backend_port: u16,
        pool_mode: &str,
        pool_size: u32,
        max_client_conn: u32,
        settings: &[(&str, &str)],
    ) -> io::Result<PgBouncer> {
        let owner = sys::unprivileged_owner()?;
        let dir = sys::temp_dir("sqlmux-pgbouncer-")?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
        }
        let userlist = dir.path().join("userlist.txt");
        fs::write(
            &userlist,
            format!("\"{LEDGER_USER}\" \"{LEDGER_PASSWORD}\"\n"),
        )?;
        fs::set_permissions(&userlist, fs::Permissions::from_mode(0o600))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&userlist, Some(uid), Some(gid))?;
        }
        let log = dir.path().join("pgbouncer.log");
        let ini = dir.path().join("pgbouncer.ini");
        let (port, server) = process::on_free_port(|port| {
            let mut text = format!(
                "; written by sqlmux-integration\n\
                 [databases]\n\
                 * = host=127.0.0.1 port={backend_port}\n\
                 \n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {port}\n\
                 unix_socket_dir =\n\
                 logfile =\n\
                 pidfile =\n\
                 syslog = 0\n\
                 auth_type = scram-sha-256\n\
                 auth_file = {userlist}\n\
                 admin_users = {LEDGER_USER}\n\
                 stats_users = {LEDGER_USER}\n\
                 pool_mode = {pool_mode}\n\
                 default_pool_size = {pool_size}\n\
                 min_pool_size = 0\n\
                 reserve_pool_size = 0\n\
                 max_client_conn = {max_client_conn}\n\
                 max_db_connections = 0\n\
                 server_tls_sslmode = disable\n\
                 ignore_startup_parameters = extra_float_digits\n\
                 log_connections = 0\n\
                 log_disconnections = 0\n\
                 log_pooler_errors = 1\n",
                userlist = userlist.display(),
            );
            if supports_prepared_statements() {
                text.push_str("max_prepared_statements = 200\n");
            }
            for (name, value) in settings {
                text.push_str(&format!("{name} = {value}\n"));
            }
            fs::write(&ini, text)?;
            let mut cmd = as_owner(Command::new(pgbouncer_binary()), owner, dir.path());
            cmd.arg(&ini);
            // The log line tells that the port is ours (a connect alone could reach a process
            // that took the port first; PgBouncer then exits and the retry on another port
            // kicks in).
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let listening = format!("listening on 127.0.0.1:{port}");
            let log_offset = sys::file_len(&log);
            ServerProcess::start_logged("pgbouncer", &mut cmd, ("INT", STOP_GRACE), &log, || {
                sys::read_from(&log, log_offset).contains(&listening)
                    && TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
            })
        })?;
        Ok(PgBouncer {
            server,
            port,
            log,
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

    /// Process id (PgBouncer is single-threaded: `/proc/<pid>/stat` is all of its CPU).
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// PgBouncer's log (its stderr).
    pub fn log_file(&self) -> &Path {
        &self.log
    }

    /// The temp dir holding `pgbouncer.ini`, `userlist.txt` and the log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops PgBouncer (SIGINT, then SIGKILL after 3 s); files stay until drop.
    pub fn stop(&mut self) {
        self.server.stop();
    }
}

impl std::fmt::Debug for PgBouncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBouncer")
            .field("port", &self.port)
            .field("pid", &self.server.pid())
            .field("dir", &self.dir.path())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_version_line() {
        assert_eq!(
            parse_version("PgBouncer 1.18.0\nlibevent 2.1.12-stable\n"),
            Some((1, 18, 0))
        );
        assert_eq!(parse_version("PgBouncer 1.23\n"), Some((1, 23, 0)));
        assert_eq!(parse_version("something else"), None);
    }
}
