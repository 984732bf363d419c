//! Lifetime of a server child process: spawn, readiness polling, graceful stop, cleanup.

use std::fs::OpenOptions;
use std::io;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::ports::free_port;
use crate::sys;

/// How long a server may take to become ready.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running server; dropping it stops it (signal, grace period, then SIGKILL) and reaps it.
pub(crate) struct ServerProcess {
    name: &'static str,
    child: Child,
    /// Signal name for a graceful stop, as understood by `kill -s`.
    stop_signal: &'static str,
    grace: Duration,
    stopped: bool,
}

impl ServerProcess {
    /// Spawns `cmd`; `stop_signal` is sent on stop, SIGKILL follows after `grace`.
    pub(crate) fn spawn(
        name: &'static str,
        cmd: &mut Command,
        stop_signal: &'static str,
        grace: Duration,
    ) -> io::Result<Self> {
        let child = cmd
            .spawn()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start {name}: {e}")))?;
        Ok(Self {
            name,
            child,
            stop_signal,
            grace,
            stopped: false,
        })
    }

    /// Spawns `cmd` (stdin closed, stdout and stderr appended to `log`), then waits up to
    /// [`START_TIMEOUT`] for `ready` as [`ServerProcess::wait_ready`] does.
    pub(crate) fn start_logged(
        name: &'static str,
        cmd: &mut Command,
        (stop_signal, grace): (&'static str, Duration),
        log: &Path,
        ready: impl FnMut() -> bool,
    ) -> io::Result<Self> {
        let log_offset = sys::file_len(log);
        let out = OpenOptions::new().create(true).append(true).open(log)?;
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let mut server = Self::spawn(name, cmd, stop_signal, grace)?;
        server.wait_ready(START_TIMEOUT, log, log_offset, ready)?;
        Ok(server)
    }

    /// OS process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` once the process has exited.
    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Stops the process: graceful signal, wait up to the grace period, then SIGKILL; reaps it.
    /// Idempotent.
    pub(crate) fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-s", self.stop_signal, &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) => sleep(Duration::from_millis(20)),
                Err(_) => break,
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Polls `probe` until it succeeds. Fails (and stops the process) if the process exits or
    /// `timeout` passes; the error carries the tail of `log` (from byte `log_offset`) and has
    /// kind `AddrInUse` when the log says the port was taken.
    pub(crate) fn wait_ready(
        &mut self,
        timeout: Duration,
        log: &Path,
        log_offset: u64,
        mut probe: impl FnMut() -> bool,
    ) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut delay = Duration::from_millis(20);
        loop {
            if let Some(status) = self.try_wait()? {
                self.stopped = true;
                let tail = sys::tail(log, log_offset, 40);
                let kind = if tail.contains("Address already in use") {
                    io::ErrorKind::AddrInUse
                } else {
                    io::ErrorKind::Other
                };
                return Err(io::Error::new(
                    kind,
                    format!(
                        "{} exited with {status} during startup; tail of {}:\n{tail}",
                        self.name,
                        log.display()
                    ),
                ));
            }
            if probe() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.stop();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "{} not ready after {timeout:?}; tail of {}:\n{}",
                        self.name,
                        log.display(),
                        sys::tail(log, log_offset, 40)
                    ),
                ));
            }
            sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(200));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `launch` on a free port; if it fails with `AddrInUse` (port race), retries once
/// with another port.
pub(crate) fn on_free_port<T>(
    mut launch: impl FnMut(u16) -> io::Result<T>,
) -> io::Result<(u16, T)> {
    let port = free_port()?;
    match launch(port) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            let port = free_port()?;
            launch(port).map(|t| (port, t))
        }
        other => other.map(|t| (port, t)),
    }
}

/// Polls `check` (which returns `Ok(true)` when done) every 50–200 ms until `timeout`;
/// the timeout error names `what` and the last `Err`/state seen.
pub(crate) fn poll_until(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> io::Result<bool>,
) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut delay = Duration::from_millis(20);
    loop {
        let last = match check() {
            Ok(true) => return Ok(()),
            Ok(false) => String::from("condition not met"),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("timed out after {timeout:?} waiting for {what}: {last}"),
            ));
        }
        sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_free_port_retries_once_on_addr_in_use() {
        let mut tries = Vec::new();
        let (port, value) = on_free_port(|port| {
            tries.push(port);
            if tries.len() == 1 {
                Err(io::Error::new(io::ErrorKind::AddrInUse, "taken"))
            } else {
                Ok("up")
            }
        })
        .unwrap();
        assert_eq!(tries.len(), 2);
        assert_eq!(port, tries[1]);
        assert_eq!(value, "up");

        let mut calls = 0;
        let err = on_free_port(|_| -> io::Result<()> {
            calls += 1;
            Err(io::Error::other("broken"))
        })
        .unwrap_err();
        assert_eq!(calls, 1, "other errors are not retried");
        assert_eq!(err.to_string(), "broken");
    }

    #[test]
    fn stop_escalates_to_sigkill() {
        // `sh` ignores SIGTERM here, so stop() must fall back to SIGKILL after the grace period.
        let mut p = ServerProcess::spawn(
            "sh",
            Command::new("sh").args(["-c", "trap '' TERM; while :; do sleep 0.1; done"]),
            "TERM",
            Duration::from_millis(200),
        )
        .unwrap();
        let start = Instant::now();
        p.stop();
        assert!(p.try_wait().unwrap().is_some());
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
