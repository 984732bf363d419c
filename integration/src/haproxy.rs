//! A throwaway HAProxy ([`HaProxy`]) in plain TCP mode in front of one server: a byte
//! forwarder with one server connection per client and no protocol parsing. The load
//! harness measures it next to sqlmux as the floor of what any user-space TCP proxy costs on
//! this machine (the loopback sends, receives and wake-ups are the same for every proxy).
//!
//! Its own temp dir, a free port on 127.0.0.1, foreground child (`-db`), stopped on drop.

use std::fs;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{self, ServerProcess};
use crate::sys;

/// Grace period between SIGUSR1 (soft stop) and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Path of the `haproxy` binary: Debian's `/usr/sbin/haproxy` if present, else from `PATH`.
pub fn haproxy_binary() -> PathBuf {
    sys::sbin_binary("haproxy")
}

/// Whether an `haproxy` binary runs here.
pub fn available() -> bool {
    Command::new(haproxy_binary())
        .arg("-v")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// An `haproxy` forwarding TCP from its port to `127.0.0.1:<backend>`; stopped on drop.
pub struct HaProxy {
    server: ServerProcess,
    port: u16,
    // Last field: the directory is removed only after HAProxy has been stopped.
    _dir: TempDir,
}

impl HaProxy {
    /// Starts HAProxy in TCP mode in front of `127.0.0.1:backend_port`, with `threads`
    /// worker threads (`nbthread`).
    pub fn start(backend_port: u16, threads: u32) -> io::Result<HaProxy> {
        let dir = sys::temp_dir("sqlmux-haproxy-")?;
        let cfg = dir.path().join("haproxy.cfg");
        let log = dir.path().join("haproxy.log");
        let (port, server) = process::on_free_port(|port| {
            fs::write(
                &cfg,
                format!(
                    "# written by sqlmux-integration\n\
                     global\n\
                     \x20   nbthread {threads}\n\
                     \x20   maxconn 4000\n\
                     defaults\n\
                     \x20   mode tcp\n\
                     \x20   timeout connect 5s\n\
                     \x20   timeout client 1h\n\
                     \x20   timeout server 1h\n\
                     listen forward\n\
                     \x20   bind 127.0.0.1:{port}\n\
                     \x20   server backend 127.0.0.1:{backend_port}\n"
                ),
            )?;
            launch(&cfg, dir.path(), &log, port)
        })?;
        Ok(HaProxy {
            server,
            port,
            _dir: dir,
        })
    }

    /// TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Process id (`/proc/<pid>/stat` counts all of its threads).
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }
}

fn launch(cfg: &Path, dir: &Path, log: &Path, port: u16) -> io::Result<ServerProcess> {
    let mut cmd = Command::new(haproxy_binary());
    cmd.current_dir(dir).args(["-db", "-f"]).arg(cfg);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    ServerProcess::start_logged("haproxy", &mut cmd, ("USR1", STOP_GRACE), log, || {
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
    })
}
