//! Real client programs driven by the tests: Python (PyMySQL on the `python3` in PATH,
//! MySQLdb on Debian's `/usr/bin/python3`), PHP, sysbench.

use crate::cli::{run, CliOutput};
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

fn python(interpreter: &str, script: &str, port: u16) -> io::Result<CliOutput> {
    let mut cmd = Command::new(interpreter);
    cmd.arg("-")
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string());
    run(&mut cmd, Some(script), Duration::from_secs(120))
}

/// Runs a PHP script (`php -r` is avoided: the script comes on stdin); `PORT` in the env.
pub fn php(script: &str, port: u16) -> io::Result<CliOutput> {
    let mut cmd = Command::new("php");
    cmd.env("HOST", "127.0.0.1").env("PORT", port.to_string());
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
