//! Backend connection pools, one per server, partitioned by (user, schema, flavor).
//!
//! `checkout` lends a connection; the [`Lease`] goes back with [`Lease::checkin`] when the
//! connection is clean, and closes it when dropped. Each server has a hard limit
//! (`max_connections`); a checkout that cannot get a connection within `wait_timeout`
//! fails with a clear error instead of queueing forever. Idle connections of another
//! partition are closed to make room when the server is at its limit.
//!
//! Waiting checkouts queue first come first served. Whatever frees capacity hands it to the
//! oldest waiter directly: a returned connection goes to the oldest waiter of its partition,
//! a freed slot (a connection closed, a connect that failed) to the oldest waiter of any
//! partition. The idle lists and the queue share one lock: a checkout looks for an idle
//! connection, a free slot and then queues under it, and a return decides under it, so no
//! wakeup is lost, nothing polls, and each takes the lock once. While checkouts wait, one
//! expiry task per pool ends the waits that reach their deadline (one timer per pool, not
//! one per waiting checkout).
//!
//! Pools are shared by the data-path workers. A connection is at home on the worker whose
//! reactor its socket is registered with: a checkout prefers idle connections at home on its
//! worker and moves any other ([`crate::workers::Rehome`]); a returned connection goes to a waiter on its own
//! worker when one queued within a millisecond of the oldest waiter.
//!
//! - `choice`: [`PoolChoice`], a session's remembered pool for a one-server hostgroup.
//! - `idle`: a pool's idle connections and waiting checkouts, under its one lock.
//! - `lease`: [`Lease`], a lent connection, and its return (checkin, or close on drop).
//! - `pools`: [`Pools`], every server's pool: picking a server, checkout, topology changes.
//! - `wait`: the queue of waiting checkouts, the handoff, the expiry task.
//! - `stats`: [`ServerStats`], per-server counters.

mod choice;
mod demand;
mod idle;
mod lease;
mod pools;
mod stats;
mod wait;

pub use choice::PoolChoice;
pub use lease::Lease;
pub use pools::Pools;
pub use stats::{FlowTotals, ServerStats};

use idle::{Idle, PoolState};
use wait::{Claim, Handoff};

use crate::workers::{Pooled, WorkerId};
use sqlmux_config::PoolSettings;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Why no connection could be lent.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PoolError {
    /// The server is at `max_connections` and none came free in time.
    #[error("no backend connection available in hostgroup {hostgroup} within {waited_ms} ms")]
    WaitTimeout {
        /// Hostgroup asked for.
        hostgroup: u32,
        /// How long the session waited.
        waited_ms: u128,
    },
    /// Connecting (or authenticating) to the server failed.
    #[error("cannot connect to backend {address} in hostgroup {hostgroup}: {reason}")]
    Connect {
        /// Server address.
        address: String,
        /// Hostgroup.
        hostgroup: u32,
        /// What failed.
        reason: String,
    },
    /// The monitor saw the server DOWN while the session waited for one of its connections.
    #[error("backend {address} in hostgroup {hostgroup} went DOWN while the statement waited {waited_ms} ms for a connection; it did not run")]
    Down {
        /// Server address.
        address: String,
        /// Hostgroup.
        hostgroup: u32,
        /// How long the session waited.
        waited_ms: u128,
    },
    /// Every ONLINE server of the hostgroup is SHUNNED after repeated connect errors.
    #[error("every ONLINE server of hostgroup {hostgroup} is SHUNNED after repeated connect errors; retried in {retry_ms} ms")]
    Shunned {
        /// Hostgroup.
        hostgroup: u32,
        /// Time until the first one is tried again.
        retry_ms: u64,
    },
    /// No server of the hostgroup takes new work.
    #[error("no ONLINE server in hostgroup {hostgroup}")]
    NoServer {
        /// Hostgroup.
        hostgroup: u32,
    },
    /// The statement was held for a usable writer and none came (it did not run).
    #[error(transparent)]
    Held(#[from] crate::failover::HoldError),
}

/// Which idle connections may serve a checkout: same user, schema and flavor.
#[derive(Debug, Clone, Eq)]
pub struct Partition {
    user: Arc<str>,
    schema: Arc<str>,
    flavor: u64,
    /// A hash of the three, made once: the idle map is looked up twice per transaction.
    hash: u64,
}

impl Partition {
    /// The partition of `user` on `schema`; `flavor` holds protocol-specific bits that change
    /// the wire format (capabilities, collation).
    pub fn new(user: Arc<str>, schema: Arc<str>, flavor: u64) -> Self {
        use std::hash::BuildHasher;
        let hash = foldhash::fast::FixedState::with_seed(0).hash_one((&user, &schema, flavor));
        Self {
            user,
            schema,
            flavor,
            hash,
        }
    }

    /// The same partition on another schema.
    pub fn with_schema(&self, schema: Arc<str>) -> Self {
        Self::new(self.user.clone(), schema, self.flavor)
    }

    /// Backend user.
    pub fn user(&self) -> &Arc<str> {
        &self.user
    }

    /// Schema / database the connection was opened with.
    pub fn schema(&self) -> &Arc<str> {
        &self.schema
    }
}

impl std::hash::Hash for Partition {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl PartialEq for Partition {
    fn eq(&self, other: &Self) -> bool {
        // Sessions share their user and schema strings: pointers first, text when they differ.
        let same = |a: &Arc<str>, b: &Arc<str>| Arc::ptr_eq(a, b) || a == b;
        self.hash == other.hash
            && self.flavor == other.flavor
            && same(&self.user, &other.user)
            && same(&self.schema, &other.schema)
    }
}

/// The pool of one server.
pub struct ServerPool<C> {
    address: Arc<str>,
    limit: Arc<Semaphore>,
    state: Mutex<PoolState<C>>,
    outstanding: AtomicUsize,
    /// All time lent, in ns, by the connections returned so far.
    busy_ns: std::sync::atomic::AtomicU64,
    /// The recent demand: the idle pool is trimmed to it.
    demand: Mutex<demand::Demand>,
    /// Whether the server takes work: [`Availability`] as a u8.
    availability: std::sync::atomic::AtomicU8,
    /// Woken when the server is closed (OFFLINE_HARD or removed).
    closed: Notify,
    /// Connect errors in a row.
    failures: std::sync::atomic::AtomicU32,
    /// Until when (ms after `born`) the server is SHUNNED; 0 when it is not.
    shunned_until_ms: std::sync::atomic::AtomicU64,
    /// When (ms after `born`) a checkout last tried a SHUNNED server (see [`SHUN_PROBE`]).
    probed_at_ms: std::sync::atomic::AtomicU64,
    /// The pool's `max_lifetime`, in ms, as last seen by a checkout or the reaper.
    max_lifetime_ms: std::sync::atomic::AtomicU64,
    born: Instant,
    /// Counters for this server.
    pub stats: ServerStats,
    /// The sockets of the connections lent now, by lease: a failover cut shuts them down
    /// under their sessions (see [`ServerPool::cut_lent`]).
    lent_sockets: Mutex<HashMap<u64, crate::workers::CutHandle, foldhash::fast::RandomState>>,
    next_lease: std::sync::atomic::AtomicU64,
    /// What the monitor last concluded: [`HEALTH_DOWN`], [`HEALTH_READ_ONLY`],
    /// [`HEALTH_LAGGING`] bits.
    health: std::sync::atomic::AtomicU8,
}

/// The monitor sees the server DOWN: it takes no work in any hostgroup.
pub const HEALTH_DOWN: u8 = 1;
/// The monitor sees the server read-only / in recovery: it takes no work as a writer.
pub const HEALTH_READ_ONLY: u8 = 2;
/// The monitor sees the replica lag over its cluster's `max_replication_lag_ms` (or not
/// know it): it takes no work as a reader.
pub const HEALTH_LAGGING: u8 = 4;

/// Whether a server's connections may be used, from its status in the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// ONLINE in some hostgroup: connections are pooled.
    Open = 0,
    /// OFFLINE_SOFT or SHUNNED: lent connections finish, returned ones are closed.
    Draining = 1,
    /// OFFLINE_HARD or removed: every connection is closed; sessions holding one get an error.
    Closed = 2,
}

impl<C> ServerPool<C> {
    fn new(address: Arc<str>, max_connections: u32) -> Self {
        Self {
            address,
            limit: Arc::new(Semaphore::new(max_connections as usize)),
            state: Mutex::new(PoolState {
                idle: HashMap::default(),
                waiters: std::collections::VecDeque::new(),
                expiry_running: false,
            }),
            outstanding: AtomicUsize::new(0),
            busy_ns: std::sync::atomic::AtomicU64::new(0),
            demand: Mutex::new(demand::Demand::new(Instant::now())),
            availability: std::sync::atomic::AtomicU8::new(Availability::Open as u8),
            closed: Notify::new(),
            failures: std::sync::atomic::AtomicU32::new(0),
            shunned_until_ms: std::sync::atomic::AtomicU64::new(0),
            probed_at_ms: std::sync::atomic::AtomicU64::new(0),
            max_lifetime_ms: std::sync::atomic::AtomicU64::new(u64::MAX),
            born: Instant::now(),
            stats: ServerStats::default(),
            lent_sockets: Mutex::new(HashMap::default()),
            next_lease: std::sync::atomic::AtomicU64::new(1),
            health: std::sync::atomic::AtomicU8::new(0),
        }
    }

    /// Records the monitor's view ([`HEALTH_DOWN`] / [`HEALTH_READ_ONLY`] /
    /// [`HEALTH_LAGGING`] bits). A server
    /// seen DOWN keeps no idle connection: none is handed out again (a dying server's
    /// leftover processes could still take statements on them).
    pub fn set_health(&self, health: u8) {
        self.health.store(health, Ordering::Relaxed);
        if health & HEALTH_DOWN != 0 {
            // Checkouts waiting for a connection of it stop waiting ([`PoolError::Down`]);
            // then the idle connections go (their slots must not reach a waiter).
            if let Ok(mut state) = self.state.lock() {
                state.waiters.clear();
            }
            self.close_all_idle();
        }
    }

    /// Whether the monitor sees the server DOWN.
    fn is_down(&self) -> bool {
        self.health.load(Ordering::Relaxed) & HEALTH_DOWN != 0
    }

    /// Whether the server may take work in a hostgroup (`writer`: a writer hostgroup):
    /// not DOWN, for a writer not read-only, for a reader not lagging, and not SHUNNED
    /// (or SHUNNED with a probe due: one checkout may try it, see [`SHUN_PROBE`]).
    pub fn takes_work(&self, writer: bool) -> bool {
        let health = self.health.load(Ordering::Relaxed);
        let unfit = HEALTH_DOWN
            | if writer {
                HEALTH_READ_ONLY
            } else {
                HEALTH_LAGGING
            };
        health & unfit == 0 && (self.shunned_for().is_none() || self.probe_due())
    }

    /// Whether a SHUNNED server may be tried again: its last probe is [`SHUN_PROBE`] old.
    fn probe_due(&self) -> bool {
        let last = self.probed_at_ms.load(Ordering::Relaxed);
        self.now_ms() >= last + SHUN_PROBE.as_millis() as u64
    }

    /// Claims the probe of a SHUNNED server for one connect; `false` when another checkout
    /// probed it within [`SHUN_PROBE`].
    fn claim_probe(&self) -> bool {
        let last = self.probed_at_ms.load(Ordering::Relaxed);
        let now = self.now_ms();
        now >= last + SHUN_PROBE.as_millis() as u64
            && self
                .probed_at_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// A connect succeeded: the error count restarts and a shun ends.
    fn connect_succeeded(&self) {
        self.failures.store(0, Ordering::Relaxed);
        if self.shunned_until_ms.swap(0, Ordering::Relaxed) > self.now_ms() {
            tracing::info!(address = %self.address, "backend answers again: no longer SHUNNED");
        }
    }

    /// Notes the socket of a connection just lent (lease `id`).
    fn track_lent(&self, id: u64, socket: Option<crate::workers::CutHandle>) {
        if let Some(fd) = socket {
            self.lent_sockets
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(id, fd);
        }
    }

    /// Forgets a lent socket; called before the connection can be closed or lent again.
    pub(super) fn untrack_lent(&self, id: u64) {
        self.lent_sockets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&id);
    }

    /// Shuts down the sockets of every connection lent now (a failover cut): the statements
    /// running on them end with an error that says they may have run, and their sessions
    /// drop them. Returns how many there were.
    pub fn cut_lent(&self) -> usize {
        let lent = self
            .lent_sockets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for socket in lent.values() {
            let _ = socket2::SockRef::from(&**socket).shutdown(std::net::Shutdown::Both);
        }
        lent.len()
    }

    /// A free slot, or one made by closing an idle connection of another partition.
    fn free_slot(
        &self,
        state: &mut PoolState<C>,
        partition: &Partition,
    ) -> Option<OwnedSemaphorePermit> {
        // Looking before cloning the semaphore's Arc: at the limit, that is the usual case.
        if self.limit.available_permits() > 0 {
            if let Ok(permit) = self.limit.clone().try_acquire_owned() {
                return Some(permit);
            }
        }
        let victim = state.evict_other(partition)?;
        self.stats.closed();
        Some(victim.permit)
    }

    /// Counts a connection closed and hands its slot to the oldest waiter (or back).
    fn closed(&self, permit: OwnedSemaphorePermit) {
        self.stats.closed();
        self.release(permit);
    }

    /// Closes idle connections taken out of the idle lists; their slots go to waiters.
    /// Closes every idle connection (their slots handed on).
    fn close_all_idle(&self) {
        let closed: Vec<Idle<C>> = match self.state.lock() {
            Ok(mut state) => state.idle.drain().flat_map(|(_, list)| list).collect(),
            Err(_) => Vec::new(),
        };
        self.close_idle(closed);
    }

    fn close_idle(&self, closed: Vec<Idle<C>>) {
        for item in closed {
            self.closed(item.permit);
        }
    }

    fn max_lifetime(&self) -> Duration {
        Duration::from_millis(self.max_lifetime_ms.load(Ordering::Relaxed))
    }

    /// Remembers the settings the checkin path needs (it has none of its own).
    fn note_settings(&self, settings: &PoolSettings) {
        let ms = settings.max_lifetime.as_millis().min(u128::from(u64::MAX)) as u64;
        if self.max_lifetime_ms.load(Ordering::Relaxed) != ms {
            self.max_lifetime_ms.store(ms, Ordering::Relaxed);
        }
    }

    fn lent(&self) {
        self.outstanding.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection lent since `lent_at` is back (or gone) at `now`.
    fn returned(&self, lent_at: Instant, now: Instant) {
        self.outstanding.fetch_sub(1, Ordering::Relaxed);
        let ns = now.saturating_duration_since(lent_at).as_nanos();
        self.busy_ns
            .fetch_add(ns.min(u64::MAX as u128) as u64, Ordering::Relaxed);
    }

    /// Closes idle connections past their idle timeout or lifetime, and those beyond the
    /// recent demand ([`demand::Demand`]: so the idle pool follows the load); returns how many.
    pub fn reap(&self, settings: &PoolSettings) -> usize {
        let outstanding = self.outstanding();
        let busy_ns = self.busy_ns.load(Ordering::Relaxed);
        let target = match self.demand.lock() {
            Ok(mut demand) => demand.target(busy_ns, Instant::now()),
            Err(_) => usize::MAX,
        };
        self.note_settings(settings);
        let mut closed = Vec::new();
        {
            let Ok(mut state) = self.state.lock() else {
                return 0;
            };
            let idle = &mut state.idle;
            let now = Instant::now();
            for list in idle.values_mut() {
                let (keep, expired): (Vec<_>, Vec<_>) =
                    std::mem::take(list).into_iter().partition(|i| {
                        now.saturating_duration_since(i.since) < settings.idle_timeout
                            && now.saturating_duration_since(i.created) < settings.max_lifetime
                    });
                *list = keep;
                closed.extend(expired);
            }
            let idle_now: usize = idle.values().map(Vec::len).sum();
            let mut surplus = (outstanding + idle_now).saturating_sub(target.max(1));
            while surplus > 0 {
                // Close the connection idle the longest (lists are in return order).
                let Some(list) = idle
                    .values_mut()
                    .filter(|l| !l.is_empty())
                    .min_by_key(|l| l[0].since)
                else {
                    break;
                };
                closed.push(list.remove(0));
                surplus -= 1;
            }
            idle.retain(|_, list| !list.is_empty());
        }
        let n = closed.len();
        self.close_idle(closed);
        n
    }

    /// Whether the server's connections may be used.
    pub fn availability(&self) -> Availability {
        match self.availability.load(Ordering::Relaxed) {
            0 => Availability::Open,
            1 => Availability::Draining,
            _ => Availability::Closed,
        }
    }

    /// Sets the availability; idle connections are closed unless the server stays open.
    pub fn set_availability(&self, a: Availability) {
        self.availability.store(a as u8, Ordering::Relaxed);
        if a != Availability::Open {
            self.close_all_idle();
        }
        if a == Availability::Closed {
            self.closed.notify_waiters();
        }
    }

    fn now_ms(&self) -> u64 {
        self.born.elapsed().as_millis() as u64
    }

    /// Milliseconds until a SHUNNED server is tried again; `None` when it is not SHUNNED.
    pub fn shunned_for(&self) -> Option<u64> {
        let until = self.shunned_until_ms.load(Ordering::Relaxed);
        if until == 0 {
            return None;
        }
        let now = self.now_ms();
        (until > now).then(|| until - now)
    }

    fn connect_failed(&self, settings: &PoolSettings) {
        self.stats.connect_failed();
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if settings.shun_after_errors > 0 && failures >= settings.shun_after_errors {
            let now = self.now_ms();
            let until = now + settings.shun_time.as_millis() as u64;
            self.shunned_until_ms.store(until.max(1), Ordering::Relaxed);
            // The first probe comes one interval after the shun (or the failed probe).
            self.probed_at_ms.store(now, Ordering::Relaxed);
            tracing::warn!(address = %self.address, failures, "backend SHUNNED after repeated connect errors");
        }
    }

    /// Connections lent out now.
    pub fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// Idle connections now.
    pub fn idle_count(&self) -> usize {
        self.state
            .lock()
            .map(|s| s.idle.values().map(Vec::len).sum())
            .unwrap_or(0)
    }
}

/// A failed connect as the pool sees it: its text, and whether it counts against the server
/// (towards SHUNNED). A login the server refuses for the client's own reasons (unknown
/// database, wrong password, a per-user limit) is not the server's fault.
pub trait ConnectFailure: std::fmt::Display {
    /// Whether the failure counts against the server (default: it does).
    fn server_fault(&self) -> bool {
        true
    }
}

impl ConnectFailure for &str {}
impl ConnectFailure for String {}

/// A connect failure that says whose fault it was.
#[derive(Debug, Clone)]
pub struct Failure {
    /// What failed.
    pub reason: String,
    /// Whether it counts against the server.
    pub server_fault: bool,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl ConnectFailure for Failure {
    fn server_fault(&self) -> bool {
        self.server_fault
    }
}

/// How often a SHUNNED server is tried by one checkout (a half-open circuit breaker): a
/// server back before `shun_ms` is over takes work again at most this long after.
pub const SHUN_PROBE: Duration = Duration::from_millis(500);

/// What the admin tables and metrics read of a server's pool, whatever its protocol.
pub trait PoolInfo: Send + Sync {
    /// Connections lent out now.
    fn outstanding(&self) -> usize;
    /// Idle connections now.
    fn idle_count(&self) -> usize;
    /// Milliseconds until a SHUNNED server is tried again; `None` when it is not SHUNNED.
    fn shunned_for(&self) -> Option<u64>;
    /// The server's counters.
    fn stats(&self) -> &ServerStats;
    /// Shuts down the connections lent now (see [`ServerPool::cut_lent`]).
    fn cut_lent(&self) -> usize;
    /// Records the monitor's view (see [`ServerPool::set_health`]).
    fn set_health(&self, health: u8);
}

impl<C: Send> PoolInfo for ServerPool<C> {
    fn outstanding(&self) -> usize {
        ServerPool::outstanding(self)
    }
    fn idle_count(&self) -> usize {
        ServerPool::idle_count(self)
    }
    fn shunned_for(&self) -> Option<u64> {
        ServerPool::shunned_for(self)
    }
    fn stats(&self) -> &ServerStats {
        &self.stats
    }
    fn cut_lent(&self) -> usize {
        ServerPool::cut_lent(self)
    }
    fn set_health(&self, health: u8) {
        ServerPool::set_health(self, health)
    }
}

#[cfg(test)]
mod tests;
