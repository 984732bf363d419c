//! Reaching a client session from outside it: `KILL [QUERY] id` names a session by the
//! connection id of its handshake, and the session (which alone holds its backend
//! connection) stops its statement or ends itself. Protocol-neutral: the MySQL session
//! uses it for KILL; the ids are the handshake ids every session already has.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// One session's remote control.
#[derive(Debug)]
pub struct SessionControl {
    user: Mutex<Arc<str>>,
    killed: AtomicBool,
    /// Woken for a kill of the running statement or of the whole session.
    wake: Notify,
}

impl SessionControl {
    /// The session's user (only that user may kill it).
    pub fn user(&self) -> Arc<str> {
        self.user
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// After COM_CHANGE_USER.
    pub fn set_user(&self, user: Arc<str>) {
        *self
            .user
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = user;
    }

    /// Stops the statement the session is running, if any (KILL QUERY).
    pub fn kill_statement(&self) {
        self.wake.notify_waiters();
    }

    /// Ends the session: its running statement is stopped and it closes (KILL CONNECTION).
    pub fn kill_session(&self) {
        self.killed.store(true, Ordering::Release);
        self.wake.notify_waiters();
    }

    /// Whether the session was killed.
    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// Resolves when the session is killed (not for a statement kill).
    pub async fn session_killed(&self) {
        while !self.is_killed() {
            self.killed().await;
        }
    }

    /// Resolves at the next kill (statement or session).
    pub async fn killed(&self) {
        let woken = self.wake.notified();
        if self.is_killed() {
            return;
        }
        woken.await;
    }
}

/// The live sessions' controls, by handshake connection id.
#[derive(Debug, Default)]
pub struct SessionControls {
    by_id: dashmap::DashMap<u32, Arc<SessionControl>>,
}

impl SessionControls {
    /// Registers a session; removed again with [`SessionControls::remove`].
    pub fn register(&self, id: u32, user: Arc<str>) -> Arc<SessionControl> {
        let control = Arc::new(SessionControl {
            user: Mutex::new(user),
            killed: AtomicBool::new(false),
            wake: Notify::new(),
        });
        self.by_id.insert(id, control.clone());
        control
    }

    /// The session with connection id `id`, if it is alive.
    pub fn get(&self, id: u32) -> Option<Arc<SessionControl>> {
        self.by_id.get(&id).map(|c| c.clone())
    }

    /// Forgets a session that ended.
    pub fn remove(&self, id: u32) {
        self.by_id.remove(&id);
    }

    /// Gives back the room of sessions that ended (see [`shrink_when_sparse`]).
    pub fn shrink(&self) {
        shrink_when_sparse(&self.by_id);
    }
}

/// Shrinks a map that holds far fewer entries than it has room for (10,000 clients gone):
/// the memory of a crowd that left goes back.
pub fn shrink_when_sparse<K, V, S>(map: &dashmap::DashMap<K, V, S>)
where
    K: Eq + std::hash::Hash,
    S: std::hash::BuildHasher + Clone,
{
    if map.capacity() > 4 * map.len() + 256 {
        map.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_a_crowd_left_gives_its_room_back() {
        let map: dashmap::DashMap<u32, [u8; 64]> = dashmap::DashMap::new();
        for i in 0..10_000 {
            map.insert(i, [0; 64]);
        }
        shrink_when_sparse(&map);
        assert!(map.capacity() >= 10_000, "a full map is left alone");
        for i in 0..9_990 {
            map.remove(&i);
        }
        shrink_when_sparse(&map);
        assert!(map.capacity() < 1_000, "{}", map.capacity());
        assert_eq!(map.len(), 10);
    }

    #[tokio::test]
    async fn a_kill_wakes_the_session_and_a_session_kill_stays() {
        let controls = SessionControls::default();
        let c = controls.register(7, Arc::from("app"));
        assert_eq!(&*controls.get(7).unwrap().user(), "app");
        assert!(controls.get(8).is_none());
        let waiting = tokio::spawn({
            let c = c.clone();
            async move { c.killed().await }
        });
        tokio::task::yield_now().await;
        c.kill_statement();
        waiting.await.unwrap();
        assert!(!c.is_killed(), "a statement kill leaves the session");
        c.kill_session();
        assert!(c.is_killed());
        // Already killed: resolves at once.
        c.killed().await;
        controls.remove(7);
        assert!(controls.get(7).is_none());
    }
}
