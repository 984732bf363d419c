//! CancelRequest: sqlmux gives each client its own BackendKeyData and forwards a cancel to
//! the backend that runs that client's statement at that moment (or drops it when none does).

use super::startup_key::CancelKey;
use crate::shared::FastMap;
use bytes::Bytes;
use sqlmux_protocol::postgres::startup;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// Where a CancelRequest for one backend connection goes.
#[derive(Debug, Clone)]
pub struct CancelTarget {
    /// Server address.
    pub address: Arc<str>,
    /// Backend process id.
    pub pid: u32,
    /// Backend secret key.
    pub key: Bytes,
}

/// One session's slot: the registry number of the backend it uses now (0: none). Setting
/// it is one store, with no lock and no shared reference count touched per transaction.
#[derive(Debug, Default)]
pub struct CancelSlot(AtomicU64);

impl CancelSlot {
    /// Sets the backend the session uses now (`None`: a backend that gave no key).
    pub fn set(&self, backend: Option<&BackendCancel>) {
        self.0
            .store(backend.map_or(0, |b| b.number), Ordering::Release);
    }

    /// Clears it: the session holds no backend.
    pub fn clear(&self) {
        self.0.store(0, Ordering::Release);
    }
}

/// A backend connection's entry in the registry, removed when the connection is dropped.
pub struct BackendCancel {
    number: u64,
    registry: Arc<CancelRegistry>,
}

impl std::fmt::Debug for BackendCancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BackendCancel({})", self.number)
    }
}

impl BackendCancel {
    /// Where a cancel of this backend's running statement goes.
    pub fn target(&self) -> Option<CancelTarget> {
        self.registry.backends.get(&self.number).map(|t| t.clone())
    }
}

impl Drop for BackendCancel {
    fn drop(&mut self) {
        self.registry.backends.remove(&self.number);
    }
}

/// Every live session's key and slot, and every live backend's cancel target.
#[derive(Default)]
pub struct CancelRegistry {
    sessions: dashmap::DashMap<u32, (CancelKey, Arc<CancelSlot>)>,
    backends: FastMap<u64, CancelTarget>,
    last_backend: AtomicU64,
}

impl CancelRegistry {
    /// Registers a session under its process id.
    pub fn register(&self, pid: u32, key: CancelKey) -> Arc<CancelSlot> {
        let slot = Arc::new(CancelSlot::default());
        self.sessions.insert(pid, (key, slot.clone()));
        slot
    }

    /// Removes a session.
    pub fn unregister(&self, pid: u32) {
        self.sessions.remove(&pid);
    }

    /// Gives back the room of sessions and backends that ended.
    pub fn shrink(&self) {
        crate::session::control::shrink_when_sparse(&self.sessions);
        crate::session::control::shrink_when_sparse(&self.backends);
    }

    /// Registers a backend connection's target under a new number.
    pub fn add_backend(self: &Arc<Self>, target: CancelTarget) -> BackendCancel {
        let number = self.last_backend.fetch_add(1, Ordering::Relaxed) + 1;
        self.backends.insert(number, target);
        BackendCancel {
            number,
            registry: self.clone(),
        }
    }

    /// The target of the backend `pid`'s session uses now, if `key` is that session's.
    fn target(&self, pid: u32, key: &[u8]) -> Option<CancelTarget> {
        let number = match self.sessions.get(&pid) {
            Some(entry) if entry.0.matches(key) => entry.1 .0.load(Ordering::Acquire),
            _ => return None,
        };
        self.backends.get(&number).map(|t| t.clone())
    }

    /// Forwards a client's CancelRequest; a wrong key or an idle session is ignored, as a
    /// server would.
    pub async fn cancel(&self, pid: u32, key: &[u8]) {
        let Some(t) = self.target(pid, key) else {
            tracing::debug!(pid, "cancel request for no running statement");
            return;
        };
        send_cancel(t).await;
    }
}

/// Sends a CancelRequest for the statement running on `target` (a client's cancel, or
/// sqlmux's own at `pool.query_timeout_ms` or when the client left); failures are logged.
pub async fn send_cancel(target: CancelTarget) {
    let send = async {
        let mut s = tokio::net::TcpStream::connect(&*target.address).await?;
        s.write_all(&startup::cancel_request(target.pid, &target.key))
            .await?;
        s.shutdown().await
    };
    let (address, pid) = (&target.address, target.pid);
    match tokio::time::timeout(std::time::Duration::from_secs(5), send).await {
        Ok(Ok(())) => tracing::debug!(backend = %address, pid, "cancel sent"),
        Ok(Err(e)) => tracing::info!(backend = %address, pid, error = %e, "cancel failed"),
        Err(_) => tracing::info!(backend = %address, pid, "cancel timed out"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(pid: u32) -> CancelTarget {
        CancelTarget {
            address: Arc::from("127.0.0.1:5432"),
            pid,
            key: Bytes::from_static(b"\x01\x02\x03\x04"),
        }
    }

    #[test]
    fn a_cancel_finds_the_backend_the_session_uses_now() {
        let registry = Arc::new(CancelRegistry::default());
        let key = CancelKey::random(4);
        let slot = registry.register(7, key.clone());
        let (first, second) = (
            registry.add_backend(target(100)),
            registry.add_backend(target(200)),
        );
        let pid_of = |key: &[u8]| registry.target(7, key).map(|t| t.pid);
        assert_eq!(pid_of(key.bytes()), None, "no backend yet");
        slot.set(Some(&second));
        assert_eq!(pid_of(key.bytes()), Some(200));
        assert_eq!(pid_of(b"nope"), None, "a wrong key is ignored");
        slot.set(Some(&first));
        assert_eq!(pid_of(key.bytes()), Some(100));
        slot.clear();
        assert_eq!(pid_of(key.bytes()), None, "between transactions");
        slot.set(Some(&second));
        drop(second);
        assert_eq!(pid_of(key.bytes()), None, "a closed backend is forgotten");
        registry.unregister(7);
        slot.set(Some(&first));
        assert_eq!(pid_of(key.bytes()), None, "an ended session is forgotten");
    }
}
