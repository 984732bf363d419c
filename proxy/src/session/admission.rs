//! Admission of application clients, both protocols: a cap on client connections
//! (`[listen] max_client_connections`; past it the client gets its server's "too many
//! connections" error) and the deadline of a login (`handshake_timeout_ms`, TLS handshake
//! included: a client that has not logged in by then is closed).

use sqlmux_config::ClientLimits;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Client connections held now, both protocols together.
#[derive(Debug, Default)]
pub struct Admission {
    connected: Arc<AtomicUsize>,
}

/// One admitted client connection; dropping it frees its place.
#[derive(Debug)]
pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    /// A place for one more client, unless `max` are connected already.
    pub fn admit(&self, max: usize) -> Option<Slot> {
        let before = self.connected.fetch_add(1, Ordering::AcqRel);
        if before >= max {
            self.connected.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Slot(self.connected.clone()))
    }

    /// Client connections held now (logged in or logging in).
    pub fn connected(&self) -> usize {
        self.connected.load(Ordering::Acquire)
    }
}

/// Runs a login within the limits' deadline; `None` when it took longer.
pub async fn within_deadline<T>(
    limits: &ClientLimits,
    login: impl std::future::Future<Output = T>,
) -> Option<T> {
    tokio::time::timeout(limits.handshake_timeout, login)
        .await
        .ok()
}

/// The most a client may send in one packet or message before it has logged in.
pub const MAX_PRELOGIN_PACKET: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_counted_and_freed() {
        let a = Admission::default();
        let one = a.admit(2).unwrap();
        let _two = a.admit(2).unwrap();
        assert!(a.admit(2).is_none(), "full");
        assert_eq!(a.connected(), 2);
        drop(one);
        assert!(a.admit(2).is_some(), "a freed place is taken again");
    }

    #[tokio::test]
    async fn a_login_past_the_deadline_is_given_up() {
        let limits = ClientLimits {
            handshake_timeout: std::time::Duration::from_millis(20),
            max_connections: 1,
        };
        assert_eq!(within_deadline(&limits, async { 7 }).await, Some(7));
        let slow = within_deadline(&limits, std::future::pending::<()>()).await;
        assert_eq!(slow, None);
    }
}
