//! The drain on SIGTERM/SIGINT (`[shutdown]`). At once: `/readyz` answers 503. Then, for
//! `accept_grace` (`service`), or until the application beside it has gone (`sidecar`: no
//! client for `accept_grace`), sqlmux serves as before, new connections included. Then it
//! stops accepting and closes the sessions that hold nothing at their next statement, with
//! the server's own shutdown error (MySQL 1053, PostgreSQL 57P01); a session in a
//! transaction (or holding another pin) finishes it first. sqlmux exits when the last
//! session has gone or `timeout` has passed. Held (failover) statements keep waiting until
//! then.

use sqlmux_config::{ShutdownMode, ShutdownSettings};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How often the drain looks at the sessions left.
const POLL: Duration = Duration::from_millis(20);

/// Where the shutdown stands; shared by the accept loops, the sessions and `/readyz`.
#[derive(Debug, Default)]
pub struct Drain {
    /// When the signal came.
    began: OnceLock<Instant>,
    /// Sessions that hold nothing close at their next statement.
    closing: AtomicBool,
}

impl Drain {
    /// The signal came: `/readyz` turns 503. Returns false when it had already come.
    pub fn begin(&self) -> bool {
        self.began.set(Instant::now()).is_ok()
    }

    /// Whether a shutdown has begun.
    pub fn draining(&self) -> bool {
        self.began.get().is_some()
    }

    /// Whether a session that holds no backend must close at its next statement.
    pub fn closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }

    fn close_idle(&self) {
        self.closing.store(true, Ordering::Relaxed);
    }
}

/// Whether a session must close now, at a statement boundary: sqlmux is closing sessions
/// and this one holds no backend (no transaction or other pin to finish).
pub fn closes_session(drain: &Drain, holds_backend: bool) -> bool {
    !holds_backend && drain.closing()
}

/// Runs the drain after the signal: serves on while new connections are welcome, then
/// calls `stop_accepting` and closes idle sessions, and returns when `sessions()` is 0 or
/// the timeout has passed.
pub async fn run<F: std::future::Future<Output = ()>>(
    drain: &Drain,
    settings: &ShutdownSettings,
    sessions: impl Fn() -> usize,
    stop_accepting: impl FnOnce() -> F,
) {
    drain.begin();
    let deadline = Instant::now() + settings.timeout;
    match settings.mode {
        ShutdownMode::Service => {
            let grace_end = (Instant::now() + settings.accept_grace).min(deadline);
            tokio::time::sleep_until(grace_end.into()).await;
        }
        ShutdownMode::Sidecar => {
            // The application has gone once no client was there for `accept_grace`.
            let mut alone_since = None;
            while Instant::now() < deadline {
                if sessions() == 0 {
                    let since = *alone_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= settings.accept_grace {
                        break;
                    }
                } else {
                    alone_since = None;
                }
                tokio::time::sleep(POLL).await;
            }
        }
    }
    stop_accepting().await;
    drain.close_idle();
    tracing::info!(
        sessions = sessions(),
        "shutdown: no new connections; idle sessions close at their next statement"
    );
    while sessions() > 0 && Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
    }
    let left = sessions();
    if left > 0 {
        tracing::warn!(
            sessions = left,
            "shutdown timeout: closing the sessions left"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    fn settings(mode: ShutdownMode, timeout_ms: u64, grace_ms: u64) -> ShutdownSettings {
        ShutdownSettings {
            mode,
            timeout: Duration::from_millis(timeout_ms),
            accept_grace: Duration::from_millis(grace_ms),
        }
    }

    #[tokio::test]
    async fn a_service_serves_for_the_grace_then_waits_for_its_sessions() {
        let drain = Drain::default();
        let sessions = Arc::new(AtomicUsize::new(2));
        let started = Instant::now();
        let stopped = Arc::new(std::sync::Mutex::new(None));
        let ending = tokio::spawn({
            let sessions = sessions.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(150)).await;
                sessions.store(0, Ordering::Relaxed);
            }
        });
        let s = settings(ShutdownMode::Service, 5_000, 50);
        run(
            &drain,
            &s,
            || sessions.load(Ordering::Relaxed),
            || {
                *stopped.lock().unwrap() = Some(started.elapsed());
                async {}
            },
        )
        .await;
        ending.await.unwrap();
        let stopped = stopped.lock().unwrap().unwrap();
        assert!(
            stopped >= Duration::from_millis(50),
            "accepted during the grace"
        );
        assert!(drain.draining() && drain.closing());
        assert!(closes_session(&drain, false) && !closes_session(&drain, true));
        assert!(
            started.elapsed() >= Duration::from_millis(150),
            "waited for sessions"
        );
        assert!(started.elapsed() < Duration::from_millis(2_000));
    }

    #[tokio::test]
    async fn a_sidecar_serves_until_its_application_has_gone_or_the_timeout() {
        let drain = Drain::default();
        let sessions = AtomicUsize::new(1);
        let started = Instant::now();
        run(
            &drain,
            &settings(ShutdownMode::Sidecar, 300, 50),
            || sessions.load(Ordering::Relaxed),
            || async {},
        )
        .await;
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(300),
            "a client stayed: the timeout"
        );
        let drain = Drain::default();
        let started = Instant::now();
        run(
            &drain,
            &settings(ShutdownMode::Sidecar, 5_000, 50),
            || 0,
            || async {},
        )
        .await;
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(50) && took < Duration::from_millis(1_000));
    }
}
