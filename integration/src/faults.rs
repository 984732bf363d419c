//! Real faults for chaos tests and the failover load runs: freeze a process (SIGSTOP,
//! always undone by a guard), kill a server's whole process tree (kill -9), the way a
//! machine dies.

use std::io;
use std::process::Command;

/// A process and its direct children (a PostgreSQL postmaster and its backends), the
/// parent first.
pub fn process_tree(pid: u32) -> Vec<u32> {
    let children = Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    std::iter::once(pid)
        .chain(children.split_whitespace().filter_map(|p| p.parse().ok()))
        .collect()
}

/// Sends `signal` (`-9`, `-STOP`, ...) to `pids`, the first one alone first: it must get
/// it; the others (children) may have exited by then.
fn signal(signal: &str, pids: &[u32]) -> io::Result<()> {
    let Some((first, rest)) = pids.split_first() else {
        return Ok(());
    };
    let ok = Command::new("kill")
        .args([signal, &first.to_string()])
        .status()?
        .success();
    if !ok {
        return Err(io::Error::other(format!("kill {signal} {first} failed")));
    }
    if !rest.is_empty() {
        Command::new("kill")
            .arg(signal)
            .args(rest.iter().map(u32::to_string))
            .stderr(std::process::Stdio::null())
            .status()?;
    }
    Ok(())
}

/// kill -9 of a server and its children at once, the parent first (a PostgreSQL postmaster
/// must not see its backends die and start crash recovery; backends left running would
/// acknowledge writes a promotion then loses).
pub fn kill_tree(pid: u32) -> io::Result<()> {
    signal("-9", &process_tree(pid))
}

/// Processes stopped with SIGSTOP; dropping the guard continues them (SIGCONT), whatever
/// happened in between.
pub struct Frozen(Vec<u32>);

impl Frozen {
    /// Freezes `pids`.
    pub fn freeze(pids: Vec<u32>) -> io::Result<Frozen> {
        let frozen = Frozen(pids);
        signal("-STOP", &frozen.0)?;
        Ok(frozen)
    }

    /// Continues them now.
    pub fn thaw(self) {}
}

impl Drop for Frozen {
    fn drop(&mut self) {
        let _ = signal("-CONT", &self.0);
    }
}
