//! Real client programs driven by the tests: Python (PyMySQL and psycopg2 on the `python3` in
//! PATH, MySQLdb on Debian's `/usr/bin/python3`), PHP, sysbench, pgbench.

use crate::cli::{run, CliOutput};
use crate::postgres::{pg_binary, LEDGER_DATABASE, LEDGER_PASSWORD, LEDGER_USER};
use std::io;
use std::process::Command;
use std::time::Duration;

/// Runs a Python script with the `python3` on PATH (where PyMySQL is installed);
/// `PORT` and `HOST` are passed in the environment.
pub fn pymysql(script: &str, port: u16) -> io::Result<CliOutput> {
    python("python3", script, port)
}

/// Runs a Python script with Debian's `/usr/bin/python3` (which sees python3-mysqldb).
pub fn mysqldb(script: &str, port: u16) -> io::Result<CliOutput> {
    python("/usr/bin/python3", script, port)
}

/// Runs a Python script with the `python3` on PATH (where psycopg2 is installed); `HOST`,
/// `PORT`, `PGHOST` and `PGPORT` are set (so `psycopg2.connect(user=.., password=..,
/// dbname=..)` reaches the port). No other libpq variable is inherited (`PGPASSWORD`,
/// `PGUSER`, `PGDATABASE`, `PGOPTIONS`, ... are removed): scripts name user, password and
/// database themselves.
pub fn psycopg2(script: &str, port: u16) -> io::Result<CliOutput> {
    let mut cmd = python_command("python3", port);
    for var in LIBPQ_ENV {
        cmd.env_remove(var);
    }
    cmd.env("PGHOST", "127.0.0.1")
        .env("PGPORT", port.to_string())
        .env("PGCONNECT_TIMEOUT", "10");
    run(&mut cmd, Some(script), Duration::from_secs(120))
}

/// libpq environment variables that must not leak from the caller's environment.
const LIBPQ_ENV: &[&str] = &[
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGDATABASE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGOPTIONS",
    "PGSSLMODE",
    "PGAPPNAME",
    "PGCONNECT_TIMEOUT",
    "PGTARGETSESSIONATTRS",
];

fn python(interpreter: &str, script: &str, port: u16) -> io::Result<CliOutput> {
    let mut cmd = python_command(interpreter, port);
    run(&mut cmd, Some(script), Duration::from_secs(120))
}

fn python_command(interpreter: &str, port: u16) -> Command {
    let mut cmd = Command::new(interpreter);
    cmd.arg("-")
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string());
    cmd
}

/// Runs a PHP script (`php -r` is avoided: the script comes on stdin); `PORT` in the env.
pub fn php(script: &str, port: u16) -> io::Result<CliOutput> {
    let mut cmd = Command::new("php");
    cmd.env("HOST", "127.0.0.1").env("PORT", port.to_string());
    run(&mut cmd, Some(script), Duration::from_secs(120))
}

/// The directory whose `node_modules` holds the Node drivers (`integration/node`, filled
/// by `npm ci` there, which `.ci/run` does).
pub fn node_clients_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("node")
}

/// Runs a Node script (on stdin) with `HOST`, `PORT` and `NODE_CLIENTS` (where the drivers
/// are) in the env; fails with the command to run when the drivers are not installed.
pub fn node(script: &str, port: u16) -> io::Result<CliOutput> {
    let dir = node_clients_dir();
    if !dir.join("node_modules").is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "Node drivers missing: run `npm ci --prefix {}` (as .ci/run does)",
                dir.display()
            ),
        ));
    }
    let mut cmd = Command::new("node");
    cmd.arg("-")
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("NODE_CLIENTS", &dir);
    run(&mut cmd, Some(script), Duration::from_secs(120))
}

/// Runs sysbench `test` (`prepare`, `run`, `cleanup`) against a MySQL endpoint as `app`.
pub fn sysbench(test: &str, action: &str, port: u16, extra: &[&str]) -> io::Result<CliOutput> {
    let mut cmd = Command::new("sysbench");
    cmd.arg(test)
        .arg("--mysql-host=127.0.0.1")
        .arg(format!("--mysql-port={port}"))
        .arg("--mysql-user=app")
        .arg("--mysql-password=apppw")
        .arg("--mysql-db=sqlmux_test")
        .args(extra)
        .arg(action);
    run(&mut cmd, None, Duration::from_secs(600))
}

/// A counter from sysbench's summary, e.g. `queries:` or `ignored errors:`.
pub fn sysbench_counter(output: &str, label: &str) -> Option<u64> {
    output
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .and_then(|l| l.trim_start()[label.len()..].split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Runs `pgbench` (the harness's [`pg_binary`]) against `127.0.0.1:port` as
/// [`LEDGER_USER`] (password via `PGPASSWORD`) on database [`LEDGER_DATABASE`], with `args`
/// before the database name (e.g. `["-i", "-s", "1", "-q"]` or `["-S", "-T", "2"]`).
/// Limited to 10 minutes; see [`pgbench_with_timeout`].
///
/// pgbench exits with 2 when a client aborted (e.g. a server error) but still prints its
/// summary on stdout: read it with [`pgbench_tps`], [`pgbench_processed`],
/// [`pgbench_failed`] and [`pgbench_aborted`] (stderr).
pub fn pgbench(port: u16, args: &[&str]) -> io::Result<CliOutput> {
    pgbench_with_timeout(port, args, Duration::from_secs(600))
}

/// [`pgbench`] with a limit for the whole invocation (killed and `TimedOut` after it).
pub fn pgbench_with_timeout(port: u16, args: &[&str], timeout: Duration) -> io::Result<CliOutput> {
    let mut cmd = Command::new(pg_binary("pgbench"));
    for var in LIBPQ_ENV {
        cmd.env_remove(var);
    }
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        LEDGER_USER,
    ])
    .args(args)
    .arg(LEDGER_DATABASE)
    .env("PGPASSWORD", LEDGER_PASSWORD)
    .env("PGCONNECT_TIMEOUT", "10");
    run(&mut cmd, None, timeout)
}

/// Transactions per second from pgbench's summary (stdout): the
/// `tps = N (without initial connection time)` line (PostgreSQL >= 14), else the older
/// `tps = N (excluding connections establishing)` line.
pub fn pgbench_tps(output: &str) -> Option<f64> {
    [
        "(without initial connection time)",
        "(excluding connections establishing)",
    ]
    .iter()
    .find_map(|suffix| {
        output.lines().find_map(|l| {
            let rest = l.trim().strip_prefix("tps = ")?;
            let (n, tail) = rest.split_once(' ')?;
            if tail.trim() != *suffix {
                return None;
            }
            n.parse().ok()
        })
    })
}

/// `number of transactions actually processed: N` (also `N/M` with `-t`) from the summary.
pub fn pgbench_processed(output: &str) -> Option<u64> {
    let label = "number of transactions actually processed:";
    output.lines().find_map(|l| {
        let rest = l.trim().strip_prefix(label)?;
        rest.trim().split(['/', ' ']).next()?.parse().ok()
    })
}

/// `number of failed transactions: N (x%)` from the summary (PostgreSQL >= 15); `Some(0)`
/// when the line is absent but the summary is there (older pgbench, or no failure
/// accounting), `None` when there is no summary at all.
///
/// pgbench only counts serialization and deadlock failures here; other errors abort the
/// client instead: see [`pgbench_aborted`].
pub fn pgbench_failed(output: &str) -> Option<u64> {
    let label = "number of failed transactions:";
    let found = output.lines().find_map(|l| {
        let rest = l.trim().strip_prefix(label)?;
        rest.split_whitespace().next()?.parse().ok()
    });
    found.or_else(|| pgbench_processed(output).map(|_| 0))
}

/// Number of clients pgbench reports as aborted on stderr (`client N aborted in command ...`,
/// `client N script S aborted in command ...`, `client N aborted while establishing
/// connection`).
pub fn pgbench_aborted(stderr: &str) -> u64 {
    stderr
        .lines()
        .filter(|l| {
            l.split_once("client ").is_some_and(|(_, rest)| {
                let n = rest.split(' ').next().unwrap_or("");
                !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && rest.contains(" aborted")
            })
        })
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG15_SUMMARY: &str = "pgbench (15.14 (Debian 15.14-0+deb12u1))
transaction type: <builtin: select only>
scaling factor: 1
query mode: simple
number of clients: 4
number of threads: 2
maximum number of tries: 1
duration: 2 s
number of transactions actually processed: 41234
number of failed transactions: 3 (0.007%)
latency average = 0.193 ms
initial connection time = 10.412 ms
tps = 20653.441820 (without initial connection time)
";

    #[test]
    fn parses_pgbench_summary() {
        assert_eq!(pgbench_tps(PG15_SUMMARY), Some(20653.44182));
        assert_eq!(pgbench_processed(PG15_SUMMARY), Some(41234));
        assert_eq!(pgbench_failed(PG15_SUMMARY), Some(3));
        let no_failures = PG15_SUMMARY.replace("number of failed transactions: 3 (0.007%)\n", "");
        assert_eq!(pgbench_failed(&no_failures), Some(0));
        assert_eq!(pgbench_failed("pgbench: error: connection refused"), None);
        assert_eq!(pgbench_tps("pgbench: error: connection refused"), None);
    }

    #[test]
    fn parses_older_pgbench_summary() {
        let old = "number of transactions actually processed: 1000/1000\n\
                   tps = 812.5 (including connections establishing)\n\
                   tps = 830.25 (excluding connections establishing)\n";
        assert_eq!(pgbench_tps(old), Some(830.25));
        assert_eq!(pgbench_processed(old), Some(1000));
        assert_eq!(pgbench_failed(old), Some(0));
    }

    #[test]
    fn counts_aborted_clients() {
        let stderr = "pgbench: error: client 3 aborted in command 1 (SQL) of script 0; \
                      ERROR:  prepared statement \"P0_1\" does not exist\n\
                      pgbench: error: client 12 aborted in command 1 (SQL) of script 0; x\n\
                      pgbench: error: client 363 script 0 aborted in command 1 query 0: ERROR: y\n\
                      pgbench: error: client 7 aborted while establishing connection\n\
                      pgbench: error: Run was aborted; the above results are incomplete.\n";
        assert_eq!(pgbench_aborted(stderr), 4);
        assert_eq!(pgbench_aborted(""), 0);
    }
}
