//! Running the `mariadb` and `psql` command-line clients (with a timeout) and capturing
//! their stdout, stderr and exit status.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::postgres::pg_binary;

/// Default limit for one client invocation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What a finished command printed and how it exited.
#[derive(Debug, Clone)]
pub struct CliOutput {
    /// Exit status of the client.
    pub status: ExitStatus,
    /// Everything written to stdout (lossy UTF-8).
    pub stdout: String,
    /// Everything written to stderr (lossy UTF-8).
    pub stderr: String,
}

impl CliOutput {
    /// True if the client exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Stdout without trailing newlines on success; otherwise an error carrying status and stderr.
    pub fn into_result(self) -> io::Result<String> {
        if self.success() {
            Ok(self.stdout.trim_end_matches(['\n', '\r']).to_string())
        } else {
            Err(io::Error::other(format!(
                "command failed ({}): {}{}",
                self.status,
                self.stderr.trim_end(),
                if self.stdout.trim().is_empty() {
                    String::new()
                } else {
                    format!("\nstdout: {}", self.stdout.trim_end())
                }
            )))
        }
    }
}

/// Runs `cmd` to completion, feeding it `stdin`; kills it and fails with `TimedOut` after `timeout`.
pub fn run(cmd: &mut Command, stdin: Option<&str>, timeout: Duration) -> io::Result<CliOutput> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .spawn()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run {program}: {e}")))?;
    let writer = match (child.stdin.take(), stdin) {
        (Some(mut pipe), Some(text)) => {
            let text = text.to_owned();
            Some(thread::spawn(move || {
                let _ = pipe.write_all(text.as_bytes());
            }))
        }
        _ => None,
    };
    let out = reader(child.stdout.take());
    let err = reader(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(1);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = err.join().unwrap_or_default();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{program} did not finish within {timeout:?}; stderr: {stderr}"),
            ));
        }
        thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(20));
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    Ok(CliOutput {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

fn reader(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// The builder methods both clients have: user, password, an extra argument and the time
/// limit, each documented by the client's own words (the fields `user`, `password`, `args`
/// and `timeout` hold them).
macro_rules! common_options {
    ($user:literal, $password:literal, $arg:literal) => {
        #[doc = $user]
        pub fn user(mut self, user: &str) -> Self {
            self.user = user.to_string();
            self
        }

        #[doc = $password]
        pub fn password(mut self, password: &str) -> Self {
            self.password = Some(password.to_string());
            self
        }

        #[doc = $arg]
        pub fn arg(mut self, arg: &str) -> Self {
            self.args.push(arg.to_string());
            self
        }

        /// Sets the limit for the whole invocation (default [`DEFAULT_TIMEOUT`]).
        pub fn timeout(mut self, timeout: Duration) -> Self {
            self.timeout = timeout;
            self
        }
    };
}

#[derive(Debug, Clone)]
enum Endpoint {
    Tcp(String, u16),
    Socket(PathBuf),
}

/// Builder for one `mariadb` client invocation (`--no-defaults -N -B` plus the given options).
#[derive(Debug, Clone)]
pub struct MariaDbCli {
    endpoint: Endpoint,
    user: String,
    password: Option<String>,
    database: Option<String>,
    args: Vec<String>,
    timeout: Duration,
}

impl MariaDbCli {
    /// Connects over TCP to `host:port` (as `root` until [`MariaDbCli::user`] is called).
    pub fn tcp(host: &str, port: u16) -> Self {
        Self::new(Endpoint::Tcp(host.to_string(), port))
    }

    /// Connects over the unix socket at `path`.
    pub fn socket(path: &Path) -> Self {
        Self::new(Endpoint::Socket(path.to_path_buf()))
    }

    fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            user: "root".into(),
            password: None,
            database: None,
            args: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sets the default database.
    pub fn database(mut self, database: &str) -> Self {
        self.database = Some(database.to_string());
        self
    }

    common_options!(
        "Sets the user name (`-u`).",
        "Sets the password (`--password=`); without it no password is sent.",
        "Appends an extra client argument (e.g. `-E`, `--ssl`, `--local-infile=1`)."
    );

    /// The `Command` that [`MariaDbCli::run`] would execute for `sql`.
    pub fn command(&self, sql: &str) -> Command {
        let mut cmd = Command::new("mariadb");
        cmd.args(["--no-defaults", "-N", "-B", "--connect-timeout=10"]);
        match &self.endpoint {
            Endpoint::Tcp(host, port) => {
                cmd.arg("--protocol=TCP")
                    .arg(format!("--host={host}"))
                    .arg(format!("--port={port}"));
            }
            Endpoint::Socket(path) => {
                cmd.arg("--protocol=SOCKET")
                    .arg(format!("--socket={}", path.display()));
            }
        }
        cmd.arg(format!("--user={}", self.user));
        if let Some(pw) = &self.password {
            cmd.arg(format!("--password={pw}"));
        }
        cmd.args(&self.args);
        if let Some(db) = &self.database {
            cmd.arg(format!("--database={db}"));
        }
        cmd.arg("-e").arg(sql);
        cmd.env_remove("MYSQL_PWD").env_remove("MYSQL_HOST");
        cmd
    }

    /// Runs `sql` (one or more `;`-separated statements) and returns the raw outcome.
    pub fn run(&self, sql: &str) -> io::Result<CliOutput> {
        run(&mut self.command(sql), None, self.timeout)
    }

    /// Runs `sql`; stdout (tab-separated rows, no header) on success, `Err` with stderr otherwise.
    pub fn query(&self, sql: &str) -> io::Result<String> {
        self.run(sql)?.into_result()
    }
}

/// Builder for one `psql` invocation (`-X -A -t -q -v ON_ERROR_STOP=1`, SQL fed on stdin).
#[derive(Debug, Clone)]
pub struct Psql {
    host: String,
    port: u16,
    user: String,
    password: Option<String>,
    database: String,
    args: Vec<String>,
    envs: Vec<(String, String)>,
    timeout: Duration,
}

impl Psql {
    /// Connects over TCP to `host:port` (as `postgres`, database `postgres`, until changed).
    pub fn tcp(host: &str, port: u16) -> Self {
        Self::new(host.to_string(), port)
    }

    /// Connects over the unix socket in directory `dir` for server port `port`.
    pub fn socket(dir: &Path, port: u16) -> Self {
        Self::new(dir.display().to_string(), port)
    }

    fn new(host: String, port: u16) -> Self {
        Self {
            host,
            port,
            user: "postgres".into(),
            password: None,
            database: "postgres".into(),
            args: Vec::new(),
            envs: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sets the database (`-d`).
    pub fn database(mut self, database: &str) -> Self {
        self.database = database.to_string();
        self
    }

    common_options!(
        "Sets the user name (`-U`).",
        "Sets the password (passed as `PGPASSWORD`).",
        "Appends an extra psql argument."
    );

    /// Sets an environment variable for psql (e.g. `PGSSLMODE`).
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.to_string(), value.to_string()));
        self
    }

    /// The `Command` that [`Psql::run`] executes (the SQL goes to its stdin).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(pg_binary("psql"));
        cmd.args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"])
            .arg("-h")
            .arg(&self.host)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-U")
            .arg(&self.user)
            .arg("-d")
            .arg(&self.database)
            .args(&self.args)
            .args(["-f", "-"]);
        for var in ["PGPASSWORD", "PGSERVICE", "PGOPTIONS", "PGPASSFILE"] {
            cmd.env_remove(var);
        }
        cmd.env("PGCONNECT_TIMEOUT", "10");
        if let Some(pw) = &self.password {
            cmd.env("PGPASSWORD", pw);
        }
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs `sql` (statements executed one by one) and returns the raw outcome.
    pub fn run(&self, sql: &str) -> io::Result<CliOutput> {
        run(&mut self.command(), Some(sql), self.timeout)
    }

    /// Runs `sql`; stdout (`|`-separated rows, no header) on success, `Err` with stderr otherwise.
    pub fn query(&self, sql: &str) -> io::Result<String> {
        self.run(sql)?.into_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_captures_stdout_stderr_status_and_stdin() {
        let out = run(
            Command::new("sh").args(["-c", "cat; echo err >&2; exit 3"]),
            Some("hello\n"),
            DEFAULT_TIMEOUT,
        )
        .unwrap();
        assert_eq!(out.stdout, "hello\n");
        assert_eq!(out.stderr, "err\n");
        assert_eq!(out.status.code(), Some(3));
        assert!(out.into_result().unwrap_err().to_string().contains("err"));
    }

    #[test]
    fn run_times_out() {
        let start = Instant::now();
        let err = run(
            Command::new("sleep").arg("30"),
            None,
            Duration::from_millis(200),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn into_result_trims_trailing_newlines_only() {
        let out = run(
            Command::new("printf").arg("a\\tb\\n\\n"),
            None,
            DEFAULT_TIMEOUT,
        )
        .unwrap();
        assert_eq!(out.into_result().unwrap(), "a\tb");
    }
}
