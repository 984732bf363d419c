//! A throwaway single-member `etcd` (v3 API) in a temp dir on free ports, for the Patroni
//! tests: started, stopped and restarted on the same ports and data; a key watched with
//! `etcdctl`.

use std::fs::OpenOptions;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::ports::free_port;
use crate::process::{ServerProcess, START_TIMEOUT};
use crate::sys;

/// Grace period between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A running `etcd`; stopped and deleted on drop.
pub struct Etcd {
    server: Option<ServerProcess>,
    client_port: u16,
    peer_port: u16,
    log: PathBuf,
    dir: TempDir,
}

impl Etcd {
    /// Starts a one-member cluster.
    pub fn start() -> io::Result<Etcd> {
        let dir = sys::temp_dir("sqlmux-etcd-")?;
        let mut etcd = Etcd {
            server: None,
            client_port: free_port()?,
            peer_port: free_port()?,
            log: dir.path().join("etcd.log"),
            dir,
        };
        etcd.launch()?;
        Ok(etcd)
    }

    fn launch(&mut self) -> io::Result<()> {
        let offset = sys::file_len(&self.log);
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let mut cmd = Command::new("etcd");
        cmd.arg("--name=sqlmux")
            .arg(format!(
                "--data-dir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=sqlmux={peer}"))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let mut server = ServerProcess::spawn("etcd", &mut cmd, "TERM", STOP_GRACE)?;
        let endpoint = self.endpoint();
        server.wait_ready(START_TIMEOUT, &self.log, offset, || {
            crate::http::request(&endpoint, "GET", "/health", None)
                .is_ok_and(|(status, body)| status == 200 && body.contains("true"))
        })?;
        self.server = Some(server);
        Ok(())
    }

    /// The client endpoint, `127.0.0.1:PORT` (what `patroni = { etcd = [...] }` lists).
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    /// Stops etcd (SIGTERM, then SIGKILL); its data stays for [`Etcd::restart`].
    pub fn stop(&mut self) {
        if let Some(mut s) = self.server.take() {
            s.stop();
        }
    }

    /// Starts etcd again on the same ports and data.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        self.launch()
    }

    fn etcdctl(&self) -> Command {
        let mut cmd = Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint()));
        cmd
    }

    /// Watches `key` with `etcdctl watch` until the returned guard is dropped: every new
    /// value arrives with the instant it was read (a deletion as `None`).
    pub fn watch(&self, key: &str) -> io::Result<KeyWatch> {
        let mut cmd = self.etcdctl();
        cmd.args(["watch", key])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn()?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Events come as three lines: PUT or DELETE, the key, the value (empty for a
            // deletion).
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(event)) = lines.next() {
                let (Some(Ok(_key)), Some(Ok(value))) = (lines.next(), lines.next()) else {
                    break;
                };
                let value = (event == "PUT").then_some(value);
                if tx.send((Instant::now(), value)).is_err() {
                    break;
                }
            }
        });
        Ok(KeyWatch { child, events: rx })
    }
}

/// A running `etcdctl watch` of one key; killed on drop.
pub struct KeyWatch {
    child: std::process::Child,
    /// The key's changes: when each was read, and the new value (`None`: deleted).
    pub events: mpsc::Receiver<(Instant, Option<String>)>,
}

impl Drop for KeyWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etcd")
            .field("endpoint", &self.endpoint())
            .field("dir", &self.dir.path())
            .finish()
    }
}
