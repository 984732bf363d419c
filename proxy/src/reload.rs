//! Following the config file: on SIGHUP, or when the file or a secret file it names
//! (`password_file`, `token_file`) changes, it is read again and, when it validates, made
//! the running runtime; a file that does not validate is refused (logged and counted) and
//! the running runtime stays. Changes are seen by content, polled every second, so a
//! Kubernetes ConfigMap or Secret update (a symlink swap in the mounted directory) is
//! followed within two seconds without watching inotify events.

use sqlmux_config::Runtime;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How often the files are compared.
pub const POLL: Duration = Duration::from_secs(1);

/// A reading of the config file.
#[derive(Debug)]
pub enum Reload {
    /// It validates: the runtime to make live.
    Apply(Box<Runtime>),
    /// It does not: why (the running runtime stays).
    Refused(String),
}

/// What the reloads did, for `/metrics`.
#[derive(Debug)]
pub struct ReloadStats {
    /// Files applied.
    pub applied: AtomicU64,
    /// Files refused.
    pub refused: AtomicU64,
    /// The generation of the config file in force (1: the one sqlmux started with).
    pub generation: AtomicU64,
}

impl Default for ReloadStats {
    fn default() -> Self {
        Self {
            applied: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            generation: AtomicU64::new(1),
        }
    }
}

impl ReloadStats {
    /// Counts one reading.
    pub fn count(&self, reload: &Reload) {
        match reload {
            Reload::Apply(_) => {
                self.applied.fetch_add(1, Ordering::Relaxed);
                self.generation.fetch_add(1, Ordering::Relaxed);
            }
            Reload::Refused(_) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The config file and the secret files of `runtime`, as they read now (a missing file
/// reads as nothing).
fn fingerprint(path: &Path, secret_files: &[String]) -> Vec<Option<Vec<u8>>> {
    std::iter::once(path.to_path_buf())
        .chain(secret_files.iter().map(PathBuf::from))
        .map(|p| std::fs::read(p).ok())
        .collect()
}

/// Reads the file and tells `tx`: `None` once nobody listens, else the secret files of the
/// new runtime (`None` when the file was refused).
async fn read(path: &Path, tx: &tokio::sync::mpsc::Sender<Reload>) -> Option<Option<Vec<String>>> {
    let reload = match sqlmux_config::load(path) {
        Ok(rt) => Reload::Apply(Box::new(rt)),
        Err(e) => Reload::Refused(e.to_string()),
    };
    let secrets = match &reload {
        Reload::Apply(rt) => Some(rt.secret_files.clone()),
        Reload::Refused(_) => None,
    };
    tx.send(reload).await.ok()?;
    Some(secrets)
}

/// Follows `path` (started with `secret_files`) until `tx` is closed: SIGHUP, or a change
/// of any of the files seen by a poll every `poll`.
pub async fn follow(
    path: PathBuf,
    mut secret_files: Vec<String>,
    tx: tokio::sync::mpsc::Sender<Reload>,
    poll: Duration,
) {
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    if hup.is_none() {
        tracing::warn!("cannot listen for SIGHUP: the config file is still watched");
    }
    let mut seen = fingerprint(&path, &secret_files);
    let mut tick = tokio::time::interval(poll);
    loop {
        let signalled = tokio::select! {
            _ = tick.tick() => false,
            Some(()) = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            } => true,
        };
        let now = fingerprint(&path, &secret_files);
        if !signalled && now == seen {
            continue;
        }
        if !signalled {
            tracing::info!(path = %path.display(), "config or secret file changed: reloading");
        }
        match read(&path, &tx).await {
            None => return,
            Some(Some(files)) => secret_files = files,
            Some(None) => {}
        }
        seen = fingerprint(&path, &secret_files);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_changed_file_is_read_again_and_a_bad_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sqlmux.toml");
        let good = "[[clusters]]\nname = \"c\"\nprotocol = \"mysql\"\nwriter_hostgroup = 1\nreader_hostgroup = 2\n";
        std::fs::write(&path, good).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let task = tokio::spawn(follow(
            path.clone(),
            Vec::new(),
            tx,
            Duration::from_millis(20),
        ));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(rx.try_recv().is_err(), "nothing changed, nothing read");
        // A symlink swap, as Kubernetes updates a mounted ConfigMap.
        let next = dir.path().join("next.toml");
        std::fs::write(&next, good.replace("name = \"c\"", "name = \"d\"")).unwrap();
        let link = dir.path().join("link.tmp");
        std::os::unix::fs::symlink(&next, &link).unwrap();
        std::fs::rename(&link, &path).unwrap();
        match tokio::time::timeout(Duration::from_secs(2), rx.recv()).await {
            Ok(Some(Reload::Apply(rt))) => assert_eq!(rt.clusters[0].name, "d"),
            other => panic!("{other:?}"),
        }
        std::fs::write(&next, "not toml [").unwrap();
        match tokio::time::timeout(Duration::from_secs(2), rx.recv()).await {
            Ok(Some(Reload::Refused(why))) => assert!(!why.is_empty()),
            other => panic!("{other:?}"),
        }
        task.abort();
    }
}
