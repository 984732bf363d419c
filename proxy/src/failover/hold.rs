//! One cluster's hold queue: statements waiting for a usable writer, in arrival order,
//! bounded in count, bytes and time (when full, the oldest is failed first). A held
//! statement holds no backend connection.

use sqlmux_config::FailoverSettings;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Notify};

/// How often a held statement looks again even without news (a SHUNNED server comes back
/// by the clock alone).
pub const RECHECK: Duration = Duration::from_millis(100);

/// Why a held statement gives up (it never reached a backend: the client may send it again).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoldError {
    /// No writer became usable within `hold_timeout_ms`.
    #[error("cluster {cluster} has no usable writer: the statement was held {waited_ms} ms and did not run")]
    Timeout {
        /// Cluster name.
        cluster: String,
        /// How long it was held.
        waited_ms: u128,
    },
    /// Connects to the writer kept failing, then no writer became usable, until
    /// `hold_timeout_ms` after the statement came.
    #[error("cluster {cluster} has no usable writer: the statement waited {waited_ms} ms and did not run (its last attempt: {last_attempt})")]
    NoWriter {
        /// Cluster name.
        cluster: String,
        /// How long it waited in all.
        waited_ms: u128,
        /// Why its last attempt to reach the writer failed.
        last_attempt: String,
    },
    /// The queue was full (count or bytes) and this was the oldest statement in it.
    #[error("cluster {cluster} has no usable writer and its hold queue is full: the oldest held statement (held {waited_ms} ms) did not run")]
    Full {
        /// Cluster name.
        cluster: String,
        /// How long it was held.
        waited_ms: u128,
    },
}

/// A statement in the queue.
#[derive(Debug)]
struct Held {
    ticket: u64,
    bytes: u64,
    /// Told when the statement is pushed out by newer ones.
    evict: oneshot::Sender<()>,
}

#[derive(Debug, Default)]
struct Waiting {
    queue: VecDeque<Held>,
    bytes: u64,
    next_ticket: u64,
}

/// What a queue has done since start, for `/metrics`.
#[derive(Debug, Default)]
pub struct HoldCounters {
    /// Statements that waited in the queue.
    pub held: AtomicU64,
    /// Statements that gave up after `hold_timeout_ms`.
    pub timeouts: AtomicU64,
    /// Statements pushed out of a full queue.
    pub evicted: AtomicU64,
    /// Explicit holds started.
    pub explicit: AtomicU64,
}

/// One cluster's queue and explicit hold.
#[derive(Debug, Default)]
pub struct HoldQueue {
    /// Counters for `/metrics`.
    pub counters: HoldCounters,
    waiting: Mutex<Waiting>,
    wake: Notify,
    /// Until when (ms after `base`, 0 = none) an explicit hold is on.
    explicit_until_ms: AtomicU64,
    base: std::sync::OnceLock<Instant>,
}

impl HoldQueue {
    fn base(&self) -> Instant {
        *self.base.get_or_init(Instant::now)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base().elapsed().as_millis()).unwrap_or(u64::MAX) + 1
    }

    /// Whether an explicit hold is on (and its time is not up).
    pub fn explicitly_held(&self) -> bool {
        let until = self.explicit_until_ms.load(Ordering::Acquire);
        until != 0 && self.now_ms() < until
    }

    /// Time left of the explicit hold, if one is on.
    fn explicit_left(&self) -> Option<Duration> {
        let until = self.explicit_until_ms.load(Ordering::Acquire);
        (until != 0).then(|| Duration::from_millis(until.saturating_sub(self.now_ms())))
    }

    /// An explicit hold whose time is up.
    pub fn hold_expired(&self) -> bool {
        let until = self.explicit_until_ms.load(Ordering::Acquire);
        until != 0 && self.now_ms() >= until
    }

    /// Turns the explicit hold on (or extends it); true when it was off.
    pub fn hold_until(&self, until: Instant) -> bool {
        self.counters.explicit.fetch_add(1, Ordering::Relaxed);
        let ms = u64::try_from(until.saturating_duration_since(self.base()).as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        self.explicit_until_ms.swap(ms, Ordering::AcqRel) == 0
    }

    /// Turns the explicit hold off: `None` when none was set, else whether it was still on
    /// (its time not up).
    pub fn release(&self) -> Option<bool> {
        let until = self.explicit_until_ms.swap(0, Ordering::AcqRel);
        self.wake();
        (until != 0).then(|| self.now_ms() < until)
    }

    /// Resolves at the next [`HoldQueue::wake`].
    pub async fn woken(&self) {
        self.wake.notified().await
    }

    /// Held statements look again.
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }

    /// Statements held now.
    pub fn held(&self) -> usize {
        self.lock().queue.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until `usable` gives a server, at most `settings.hold_timeout`; `bytes` counts
    /// against `hold_max_bytes`. Admitting it may push the oldest held statements out.
    pub async fn wait<T>(
        &self,
        cluster: &str,
        bytes: u64,
        settings: &FailoverSettings,
        mut usable: impl FnMut() -> Option<T>,
    ) -> Result<T, HoldError> {
        let started = Instant::now();
        self.counters.held.fetch_add(1, Ordering::Relaxed);
        let (ticket, mut evicted) = self.admit(bytes, settings);
        let deadline = tokio::time::Instant::from_std(started + settings.hold_timeout);
        let result = loop {
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(t) = usable() {
                break Ok(t);
            }
            // Look again at the next recheck, or when an explicit hold runs out if sooner.
            let recheck = self
                .explicit_left()
                .map_or(RECHECK, |left| left.min(RECHECK));
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(recheck) => {}
                _ = &mut evicted => {
                    self.counters.evicted.fetch_add(1, Ordering::Relaxed);
                    return Err(HoldError::Full {
                        cluster: cluster.to_string(),
                        waited_ms: started.elapsed().as_millis(),
                    });
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                    break Err(HoldError::Timeout {
                        cluster: cluster.to_string(),
                        waited_ms: started.elapsed().as_millis(),
                    });
                }
            }
        };
        self.leave(ticket);
        result
    }

    /// Queues a statement; pushes out the oldest while over the bounds.
    fn admit(&self, bytes: u64, settings: &FailoverSettings) -> (u64, oneshot::Receiver<()>) {
        let (evict, evicted) = oneshot::channel();
        let mut w = self.lock();
        let ticket = w.next_ticket;
        w.next_ticket += 1;
        w.queue.push_back(Held {
            ticket,
            bytes,
            evict,
        });
        w.bytes += bytes;
        while w.queue.len() > settings.hold_max_statements.max(1)
            || (w.bytes > settings.hold_max_bytes && w.queue.len() > 1)
        {
            let Some(oldest) = w.queue.pop_front() else {
                break;
            };
            w.bytes -= oldest.bytes;
            let _ = oldest.evict.send(());
        }
        (ticket, evicted)
    }

    /// Takes a statement out of the queue (it runs, or gave up).
    fn leave(&self, ticket: u64) {
        let mut w = self.lock();
        if let Some(at) = w.queue.iter().position(|h| h.ticket == ticket) {
            if let Some(h) = w.queue.remove(at) {
                w.bytes -= h.bytes;
            }
        }
    }
}
