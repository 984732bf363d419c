//! CancelRequest: sqlmux gives each client its own BackendKeyData and forwards a cancel to
//! the backend that runs that client's statement at that moment (or drops it when none does).

use super::startup_key::CancelKey;
use bytes::Bytes;
use sqlmux_protocol::pg::startup;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;

/// Where a session's statement runs now.
#[derive(Debug, Clone)]
pub struct CancelTarget {
    /// Server address.
    pub address: Arc<str>,
    /// Backend process id.
    pub pid: u32,
    /// Backend secret key.
    pub key: Bytes,
}

/// One session's slot, updated when it borrows or returns a backend.
#[derive(Debug, Default)]
pub struct CancelSlot(Mutex<Option<Arc<CancelTarget>>>);

impl CancelSlot {
    /// Sets (or clears) the backend the session is using.
    pub fn set(&self, target: Option<Arc<CancelTarget>>) {
        if let Ok(mut t) = self.0.lock() {
            *t = target;
        }
    }

    fn get(&self) -> Option<Arc<CancelTarget>> {
        self.0.lock().ok().and_then(|t| t.clone())
    }
}

/// Every live session's key and slot.
#[derive(Default)]
pub struct CancelRegistry {
    sessions: dashmap::DashMap<u32, (CancelKey, Arc<CancelSlot>)>,
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

    /// Forwards a client's CancelRequest; a wrong key or an idle session is ignored, as a
    /// server would.
    pub async fn cancel(&self, pid: u32, key: &[u8]) {
        let target = match self.sessions.get(&pid) {
            Some(entry) if entry.0.matches(key) => entry.1.get(),
            _ => None,
        };
        let Some(t) = target else {
            tracing::debug!(pid, "cancel request for no running statement");
            return;
        };
        let send = async {
            let mut s = tokio::net::TcpStream::connect(&*t.address).await?;
            s.write_all(&startup::cancel_request(t.pid, &t.key)).await?;
            s.shutdown().await
        };
        match tokio::time::timeout(std::time::Duration::from_secs(5), send).await {
            Ok(Ok(())) => tracing::debug!(pid, backend = %t.address, "cancel forwarded"),
            Ok(Err(e)) => {
                tracing::info!(pid, backend = %t.address, error = %e, "cancel forward failed")
            }
            Err(_) => tracing::info!(pid, backend = %t.address, "cancel forward timed out"),
        }
    }
}
