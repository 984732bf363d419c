//! The real `sqlmux` binary as a child process, on a config file of its own in a temp dir:
//! signals, readiness, its log, exit status. Killed on drop.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `sqlmux` process.
pub struct SqlmuxProcess {
    child: Child,
    /// Its control API, `127.0.0.1:PORT`.
    pub http: String,
    config: PathBuf,
    log: PathBuf,
    /// Holds the config and log until the process is gone.
    _dir: tempfile::TempDir,
}

impl SqlmuxProcess {
    /// Writes `config` (which must listen on `http`) to `sqlmux.toml` in a temp dir,
    /// starts the binary on it and waits until `/readyz` answers 200.
    pub fn start(config: &str, http: &str) -> io::Result<SqlmuxProcess> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("sqlmux.toml");
        std::fs::write(&path, config)?;
        let log = dir.path().join("sqlmux.log");
        let out = std::fs::File::create(&log)?;
        let child = Command::new(crate::proxy::sqlmux_binary()?)
            .arg("--config")
            .arg(&path)
            .stdout(out.try_clone()?)
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()?;
        let p = SqlmuxProcess {
            child,
            http: http.to_string(),
            config: path,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while p.ready() != Some(200) {
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "sqlmux never became ready: {}",
                    p.log_text()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(p)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The status of `GET /readyz`, if it answers.
    pub fn ready(&self) -> Option<u16> {
        self.get("/readyz").map(|(status, _)| status)
    }

    /// `GET path` on the control API.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        crate::http::request(&self.http, "GET", path, None).ok()
    }

    /// The config file it runs on.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// Everything it logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) -> io::Result<()> {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?
            .success();
        if ok {
            Ok(())
        } else {
            Err(io::Error::other("kill -TERM failed"))
        }
    }

    /// Whether it still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `within` for it to exit; its exit code and when it was seen gone.
    pub fn exited(&mut self, within: Duration) -> io::Result<(Option<i32>, Instant)> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok((status.code(), Instant::now()));
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "sqlmux did not exit within {within:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SqlmuxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
