//! Watching a statement while its backend answers, for both protocols: a KILL from another
//! session and `pool.query_timeout_ms` cancel it on its server (the protocol says how:
//! `KILL QUERY` or a CancelRequest); a backend that has not finished its answer
//! [`CANCEL_GRACE`] after a timeout's cancel is given up (the caller closes it and tells the
//! client). A statement is never re-sent.

use super::SessionControl;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// How long a backend has to finish its answer after the query timeout cancelled its
/// statement; past it the backend is closed.
pub const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// Resolves after `t`, or never without one (an optional timeout in a `select!`).
pub async fn after(t: Option<Duration>) {
    match t {
        Some(t) => tokio::time::sleep(t).await,
        None => std::future::pending().await,
    }
}

/// The statement outlived `query_timeout_ms` and its backend did not answer the cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unanswered {
    /// The timeout that ran out.
    pub timeout: Duration,
}

/// What watches one statement.
#[derive(Clone, Copy, Default)]
pub struct Watch<'a> {
    /// `pool.query_timeout_ms`.
    pub timeout: Option<Duration>,
    /// KILL [QUERY] from other sessions.
    pub control: Option<&'a SessionControl>,
}

impl Watch<'_> {
    /// Runs `answer` (the relay of one statement's answer); `cancel` stops the statement on
    /// its server (it must not block: it spawns what it sends). Unwatched statements cost
    /// nothing more than the answer itself.
    pub async fn run<T>(
        self,
        answer: impl Future<Output = T>,
        mut cancel: impl FnMut(),
    ) -> Result<T, Unanswered> {
        if self.timeout.is_none() && self.control.is_none() {
            return Ok(answer.await);
        }
        tokio::pin!(answer);
        let mut deadline = self.timeout.map(|t| Instant::now() + t);
        let mut cancelled = false;
        let mut control = self.control;
        loop {
            let woken = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let killed = async {
                match control {
                    Some(c) => c.killed().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                out = &mut answer => return Ok(out),
                () = killed => {
                    cancel();
                    // A killed session stays killed: its kill is sent once.
                    if control.is_some_and(SessionControl::is_killed) {
                        control = None;
                    }
                }
                () = woken => {
                    if cancelled {
                        return Err(Unanswered {
                            timeout: self.timeout.unwrap_or_default(),
                        });
                    }
                    tracing::info!(timeout_ms = self.timeout.unwrap_or_default().as_millis() as u64, "statement past query_timeout_ms: cancelled on its server");
                    cancel();
                    cancelled = true;
                    deadline = Some(Instant::now() + CANCEL_GRACE);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_statement_past_the_timeout_is_cancelled_then_given_up() {
        let cancels = AtomicU32::new(0);
        let watch = Watch {
            timeout: Some(Duration::from_secs(5)),
            control: None,
        };
        let started = Instant::now();
        let out = watch
            .run(std::future::pending::<()>(), || {
                cancels.fetch_add(1, Ordering::Relaxed);
            })
            .await;
        assert_eq!(
            out,
            Err(Unanswered {
                timeout: Duration::from_secs(5)
            })
        );
        assert_eq!(cancels.load(Ordering::Relaxed), 1);
        assert_eq!(started.elapsed(), Duration::from_secs(5) + CANCEL_GRACE);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_after_the_cancel_is_the_statements_answer() {
        let cancels = AtomicU32::new(0);
        let watch = Watch {
            timeout: Some(Duration::from_secs(1)),
            control: None,
        };
        let answer = async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            "interrupted"
        };
        let out = watch
            .run(answer, || {
                cancels.fetch_add(1, Ordering::Relaxed);
            })
            .await;
        assert_eq!(out, Ok("interrupted"));
        assert_eq!(cancels.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fast_answer_is_not_cancelled_and_a_kill_cancels_once_per_kill() {
        let cancels = AtomicU32::new(0);
        let watch = Watch {
            timeout: Some(Duration::from_secs(1)),
            control: None,
        };
        let out = watch
            .run(async { 7 }, || {
                cancels.fetch_add(1, Ordering::Relaxed);
            })
            .await;
        assert_eq!(out, Ok(7));
        assert_eq!(cancels.load(Ordering::Relaxed), 0);

        let controls = crate::session::SessionControls::default();
        let control = controls.register(1, std::sync::Arc::from("app"));
        let watch = Watch {
            timeout: None,
            control: Some(&control),
        };
        let answer = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            control.kill_session();
            tokio::time::sleep(Duration::from_millis(10)).await;
            "killed"
        };
        let out = watch
            .run(answer, || {
                cancels.fetch_add(1, Ordering::Relaxed);
            })
            .await;
        assert_eq!(out, Ok("killed"));
        assert_eq!(
            cancels.load(Ordering::Relaxed),
            1,
            "a session kill is sent once"
        );
    }
}
