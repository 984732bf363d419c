//! Backend connection pools, one per server, partitioned by (user, schema, flavor).
//!
//! `checkout` lends a connection; the [`Lease`] goes back with [`Lease::checkin`] when the
//! connection is clean, and closes it when dropped. Each server has a hard limit
//! (`max_connections`); a checkout that cannot get a connection within `wait_timeout`
//! fails with a clear error instead of queueing forever. Idle connections of another
//! partition are closed to make room when the server is at its limit.

mod stats;

pub use stats::ServerStats;

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
}

/// Reaps (one a second) over which the peak demand is remembered.
const DEMAND_WINDOW: usize = 10;

/// Which idle connections may serve a checkout: same user, schema and flavor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Partition {
    /// Backend user.
    pub user: Arc<str>,
    /// Schema / database the connection was opened with.
    pub schema: Arc<str>,
    /// Protocol-specific bits that change the wire format (capabilities, collation).
    pub flavor: u64,
}

struct Idle<C> {
    conn: C,
    permit: OwnedSemaphorePermit,
    created: Instant,
    since: Instant,
}

/// A checkout waiting for a connection of its partition, first come first served.
struct Waiter<C> {
    partition: Partition,
    handoff: tokio::sync::oneshot::Sender<Idle<C>>,
}

/// The pool of one server.
pub struct ServerPool<C> {
    address: Arc<str>,
    limit: Arc<Semaphore>,
    idle: Mutex<HashMap<Partition, Vec<Idle<C>>>>,
    returned: Notify,
    waiting: AtomicUsize,
    /// Checkouts waiting, oldest first: a returned connection goes straight to the oldest
    /// one of its partition (no thundering herd, no starvation).
    waiters: Mutex<std::collections::VecDeque<Waiter<C>>>,
    outstanding: AtomicUsize,
    /// Most connections lent at once since the last reap.
    peak: AtomicUsize,
    /// Peaks of the last reaps: the idle pool is trimmed to the recent demand.
    recent_peaks: Mutex<std::collections::VecDeque<usize>>,
    /// Whether the server takes work: [`Availability`] as a u8.
    availability: std::sync::atomic::AtomicU8,
    /// Woken when the server is closed (OFFLINE_HARD or removed).
    closed: Notify,
    /// Connect errors in a row.
    failures: std::sync::atomic::AtomicU32,
    /// Until when (ms after `born`) the server is SHUNNED; 0 when it is not.
    shunned_until_ms: std::sync::atomic::AtomicU64,
    born: Instant,
    /// Counters for this server.
    pub stats: ServerStats,
}

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

/// A connection lent to a session.
pub struct Lease<C> {
    conn: Option<C>,
    permit: Option<OwnedSemaphorePermit>,
    created: Instant,
    partition: Partition,
    server: Arc<ServerPool<C>>,
}

impl<C> Lease<C> {
    /// The connection.
    pub fn conn(&mut self) -> &mut C {
        self.conn
            .as_mut()
            .expect("a lease holds its connection until checkin")
    }

    /// Completes when the server is closed (OFFLINE_HARD or removed from the topology).
    pub async fn server_closed_wait(&self) {
        let notified = self.server.closed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.server_closed() {
            return;
        }
        notified.await;
    }

    /// The connection and a future that completes when its server is closed, borrowed
    /// together (to wait for either a message or the close).
    pub fn conn_and_closed(&mut self) -> (&mut C, impl Future<Output = ()> + '_) {
        let server = &self.server;
        let conn = self
            .conn
            .as_mut()
            .expect("a lease holds its connection until checkin");
        let closed = async move {
            let notified = server.closed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if server.availability() == Availability::Closed {
                return;
            }
            notified.await;
        };
        (conn, closed)
    }

    /// Counters of the server this connection belongs to.
    pub fn server_stats(&self) -> &ServerStats {
        &self.server.stats
    }

    /// The connection, read-only.
    pub fn conn_ref(&self) -> &C {
        self.conn
            .as_ref()
            .expect("a lease holds its connection until checkin")
    }

    /// The partition this connection belongs to.
    pub fn partition(&self) -> &Partition {
        &self.partition
    }

    /// Whether the server this connection belongs to was closed (OFFLINE_HARD or removed).
    pub fn server_closed(&self) -> bool {
        self.server.availability() == Availability::Closed
    }

    /// Address of the server.
    pub fn address(&self) -> &Arc<str> {
        &self.server.address
    }

    /// Returns a clean, healthy connection to the pool.
    pub fn checkin(self) {
        let partition = self.partition.clone();
        self.checkin_as(partition);
    }

    /// Returns the connection to the pool under another partition (its schema changed).
    pub fn checkin_as(mut self, partition: Partition) {
        self.partition = partition;
        let (Some(conn), Some(permit)) = (self.conn.take(), self.permit.take()) else {
            return;
        };
        self.server.outstanding.fetch_sub(1, Ordering::Relaxed);
        if self.server.availability() != Availability::Open {
            self.server.stats.closed();
            self.server.returned.notify_waiters();
            return;
        }
        let now = Instant::now();
        let mut item = Idle {
            conn,
            permit,
            created: self.created,
            since: now,
        };
        if let Ok(mut waiters) = self.server.waiters.lock() {
            while let Some(pos) = waiters.iter().position(|w| w.partition == self.partition) {
                let Some(w) = waiters.remove(pos) else {
                    break;
                };
                match w.handoff.send(item) {
                    Ok(()) => return,
                    // That checkout gave up: try the next one.
                    Err(back) => item = back,
                }
            }
        }
        if let Ok(mut idle) = self.server.idle.lock() {
            idle.entry(self.partition.clone()).or_default().push(item);
        }
        self.server.returned.notify_waiters();
    }
}

impl<C> Drop for Lease<C> {
    fn drop(&mut self) {
        if self.conn.take().is_some() {
            self.server.outstanding.fetch_sub(1, Ordering::Relaxed);
            self.server.stats.closed();
            self.server.returned.notify_waiters();
        }
    }
}

impl<C> ServerPool<C> {
    fn new(address: Arc<str>, max_connections: u32) -> Self {
        Self {
            address,
            limit: Arc::new(Semaphore::new(max_connections as usize)),
            idle: Mutex::new(HashMap::new()),
            returned: Notify::new(),
            waiting: AtomicUsize::new(0),
            waiters: Mutex::new(std::collections::VecDeque::new()),
            outstanding: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            recent_peaks: Mutex::new(std::collections::VecDeque::new()),
            availability: std::sync::atomic::AtomicU8::new(Availability::Open as u8),
            closed: Notify::new(),
            failures: std::sync::atomic::AtomicU32::new(0),
            shunned_until_ms: std::sync::atomic::AtomicU64::new(0),
            born: Instant::now(),
            stats: ServerStats::default(),
        }
    }

    /// An idle connection of `partition` still within its lifetime at `now`.
    fn take_idle(
        &self,
        partition: &Partition,
        settings: &PoolSettings,
        now: Instant,
    ) -> Option<Idle<C>> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(partition)?;
        while let Some(candidate) = list.pop() {
            if now.saturating_duration_since(candidate.created) < settings.max_lifetime {
                return Some(candidate);
            }
            self.stats.closed();
        }
        None
    }

    /// Whether a checkout of this partition is already waiting.
    fn has_waiter(&self, partition: &Partition) -> bool {
        self.waiters
            .lock()
            .map(|w| {
                w.iter()
                    .any(|x| &x.partition == partition && !x.handoff.is_closed())
            })
            .unwrap_or(false)
    }

    /// Closes one idle connection of another partition to free a slot.
    fn evict_other(&self, partition: &Partition) -> bool {
        let Ok(mut idle) = self.idle.lock() else {
            return false;
        };
        let victim = idle
            .iter_mut()
            .filter(|(p, list)| *p != partition && !list.is_empty())
            .min_by_key(|(_, list)| list.first().map(|i| i.since))
            .and_then(|(_, list)| (!list.is_empty()).then(|| list.remove(0)));
        match victim {
            Some(_) => {
                self.stats.closed();
                true
            }
            None => false,
        }
    }

    fn lent(&self) {
        let now = self.outstanding.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    /// Closes idle connections past their idle timeout or lifetime, and those beyond the
    /// typical recent peak demand (so the idle pool follows demand); returns how many.
    pub fn reap(&self, settings: &PoolSettings) -> usize {
        let outstanding = self.outstanding();
        let target = match self.recent_peaks.lock() {
            Ok(mut peaks) => {
                peaks.push_back(self.peak.swap(outstanding, Ordering::Relaxed));
                while peaks.len() > DEMAND_WINDOW {
                    peaks.pop_front();
                }
                // The typical recent peak (mean of per-reap peaks), not the rare spike:
                // a spike opens connections, the next reaps close them again.
                peaks.iter().sum::<usize>().div_ceil(peaks.len().max(1))
            }
            Err(_) => usize::MAX,
        };
        let Ok(mut idle) = self.idle.lock() else {
            return 0;
        };
        let mut closed = 0;
        for list in idle.values_mut() {
            let before = list.len();
            list.retain(|i| {
                i.since.elapsed() < settings.idle_timeout
                    && i.created.elapsed() < settings.max_lifetime
            });
            closed += before - list.len();
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
            list.remove(0);
            closed += 1;
            surplus -= 1;
        }
        idle.retain(|_, list| !list.is_empty());
        for _ in 0..closed {
            self.stats.closed();
        }
        closed
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
            let closed = match self.idle.lock() {
                Ok(mut idle) => idle.drain().map(|(_, list)| list.len()).sum(),
                Err(_) => 0,
            };
            for _ in 0..closed {
                self.stats.closed();
            }
            self.returned.notify_waiters();
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
        let now = self.now_ms();
        (until > now).then(|| until - now)
    }

    fn connect_failed(&self, settings: &PoolSettings) {
        self.stats.connect_failed();
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if settings.shun_after_errors > 0 && failures >= settings.shun_after_errors {
            let until = self.now_ms() + settings.shun_time.as_millis() as u64;
            self.shunned_until_ms.store(until.max(1), Ordering::Relaxed);
            tracing::warn!(address = %self.address, failures, "backend SHUNNED after repeated connect errors");
        }
    }

    /// Connections lent out now.
    pub fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Relaxed)
    }

    /// Idle connections now.
    pub fn idle_count(&self) -> usize {
        self.idle
            .lock()
            .map(|i| i.values().map(Vec::len).sum())
            .unwrap_or(0)
    }
}

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
}

/// All server pools of one proxy.
pub struct Pools<C> {
    servers: dashmap::DashMap<Arc<str>, Arc<ServerPool<C>>>,
}

impl<C> Default for Pools<C> {
    fn default() -> Self {
        Self {
            servers: dashmap::DashMap::new(),
        }
    }
}

impl<C> Pools<C> {
    /// The pool of one server, created on first use with its connection limit.
    pub fn server(&self, address: &Arc<str>, max_connections: u32) -> Arc<ServerPool<C>> {
        if let Some(p) = self.servers.get(address) {
            return p.clone();
        }
        self.servers
            .entry(address.clone())
            .or_insert_with(|| Arc::new(ServerPool::new(address.clone(), max_connections)))
            .clone()
    }

    /// The ONLINE server of `hostgroup` with the fewest statements outstanding per unit of
    /// weight (weight 0 only when nothing else is left).
    pub fn pick<'t>(
        &self,
        topology: &'t crate::topology::Topology,
        hostgroup: u32,
    ) -> Option<&'t crate::topology::ServerEntry> {
        let pool =
            |s: &crate::topology::ServerEntry| self.servers.get(&s.address).map(|p| p.clone());
        topology
            .online_in(hostgroup)
            .filter(|s| pool(s).is_none_or(|p| p.shunned_for().is_none()))
            .min_by_key(|s| {
                let outstanding = pool(s).map(|p| p.outstanding()).unwrap_or(0) as u64;
                ((outstanding + 1) * 1_000_000)
                    .checked_div(u64::from(s.weight))
                    .unwrap_or(u64::MAX)
            })
    }

    /// Why `pick` found nothing: every ONLINE server SHUNNED, or none ONLINE.
    pub fn no_server(&self, topology: &crate::topology::Topology, hostgroup: u32) -> PoolError {
        let retry = topology
            .online_in(hostgroup)
            .filter_map(|s| self.servers.get(&s.address).and_then(|p| p.shunned_for()))
            .min();
        match retry {
            Some(retry_ms) => PoolError::Shunned {
                hostgroup,
                retry_ms,
            },
            None => PoolError::NoServer { hostgroup },
        }
    }

    /// Applies a new topology: servers ONLINE somewhere stay open, OFFLINE_SOFT and SHUNNED
    /// ones drain, OFFLINE_HARD and removed ones are closed.
    pub fn apply_topology(&self, topology: &crate::topology::Topology) {
        use sqlmux_config::ServerStatus;
        for entry in self.servers.iter() {
            let statuses = topology
                .servers
                .iter()
                .filter(|s| s.address == *entry.key())
                .map(|s| s.status);
            let mut a = Availability::Closed;
            for status in statuses {
                let this = match status {
                    ServerStatus::Online => Availability::Open,
                    ServerStatus::OfflineSoft | ServerStatus::Shunned => Availability::Draining,
                    ServerStatus::OfflineHard => Availability::Closed,
                };
                if (this as u8) < (a as u8) {
                    a = this;
                }
            }
            entry.value().set_availability(a);
        }
    }

    /// The pool of a server, if one was created.
    pub fn get(&self, address: &Arc<str>) -> Option<Arc<ServerPool<C>>> {
        self.servers.get(address).map(|p| p.clone())
    }

    /// Every server pool.
    pub fn all(&self) -> Vec<Arc<ServerPool<C>>> {
        self.servers.iter().map(|e| e.value().clone()).collect()
    }

    /// Closes idle connections past their timeouts in every pool.
    pub fn reap(&self, settings: &PoolSettings) -> usize {
        self.all().iter().map(|p| p.reap(settings)).sum()
    }

    /// Lends a connection of `partition` on `server`, opening one with `connect` when none
    /// is idle and the server is below its limit; waits at most `settings.wait_timeout`.
    pub async fn checkout<F, Fut, E>(
        &self,
        server: &Arc<ServerPool<C>>,
        hostgroup: u32,
        partition: Partition,
        settings: &PoolSettings,
        connect: F,
    ) -> Result<Lease<C>, PoolError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<C, E>>,
        E: std::fmt::Display,
    {
        let started = Instant::now();
        // The wait deadline, from the same clock reading as `started`.
        let deadline = tokio::time::Instant::from_std(started) + settings.wait_timeout;
        let mut connect = Some(connect);
        // Once this checkout waits, it keeps its place in the queue until it returns.
        let mut handoff: Option<tokio::sync::oneshot::Receiver<Idle<C>>> = None;
        let lend = |idle: Idle<C>, partition: Partition| {
            server.stats.reused();
            server.stats.checked_out(started);
            server.lent();
            Lease {
                conn: Some(idle.conn),
                permit: Some(idle.permit),
                created: idle.created,
                partition,
                server: server.clone(),
            }
        };
        loop {
            // Older waiters of this partition come first.
            let queued_before = handoff.is_none() && server.has_waiter(&partition);
            if !queued_before {
                if let Some(idle) = server.take_idle(&partition, settings, started) {
                    return Ok(lend(idle, partition));
                }
            }
            let permit = match server.limit.clone().try_acquire_owned() {
                Ok(p) if !queued_before => Some(p),
                Ok(_) => None,
                Err(_) if !queued_before && server.evict_other(&partition) => continue,
                Err(_) => None,
            };
            let permit = match permit {
                Some(p) => p,
                None => {
                    let rx = handoff.get_or_insert_with(|| {
                        let (tx, rx) = tokio::sync::oneshot::channel();
                        if let Ok(mut w) = server.waiters.lock() {
                            // Checkouts that gave up are skipped by checkin; sweeping them
                            // at each doubling keeps the queue bounded in amortized O(1)
                            // (a sweep per enqueue costs O(waiters) with hundreds queued).
                            if w.len() >= 16 && w.len().is_power_of_two() {
                                w.retain(|x| !x.handoff.is_closed());
                            }
                            w.push_back(Waiter {
                                partition: partition.clone(),
                                handoff: tx,
                            });
                        }
                        rx
                    });
                    server.waiting.fetch_add(1, Ordering::Relaxed);
                    let woke = tokio::select! {
                        handed = &mut *rx => match handed {
                            Ok(idle) => {
                                server.waiting.fetch_sub(1, Ordering::Relaxed);
                                return Ok(lend(idle, partition));
                            }
                            Err(_) => None,
                        },
                        p = server.limit.clone().acquire_owned() => p.ok(),
                        _ = server.returned.notified() => None,
                        _ = tokio::time::sleep(Duration::from_millis(50)) => None,
                    };
                    server.waiting.fetch_sub(1, Ordering::Relaxed);
                    match woke {
                        Some(p) => p,
                        None if tokio::time::Instant::now() >= deadline => {
                            if let Some(Ok(idle)) = handoff.as_mut().map(|rx| rx.try_recv()) {
                                return Ok(lend(idle, partition));
                            }
                            server.stats.wait_timeout();
                            return Err(PoolError::WaitTimeout {
                                hostgroup,
                                waited_ms: started.elapsed().as_millis(),
                            });
                        }
                        None => {
                            // Woken without a handoff (this checkout is queued now): a
                            // connection may be idle, or one of another partition may go.
                            if let Some(idle) = server.take_idle(&partition, settings, started) {
                                return Ok(lend(idle, partition));
                            }
                            let freed = server.evict_other(&partition);
                            match freed.then(|| server.limit.clone().try_acquire_owned().ok()) {
                                Some(Some(p)) => p,
                                _ => continue,
                            }
                        }
                    }
                }
            };
            if let Some(rx) = handoff.as_mut() {
                // A handoff that raced with this permit goes back to the pool.
                rx.close();
                if let Ok(idle) = rx.try_recv() {
                    drop(permit);
                    return Ok(lend(idle, partition));
                }
            }
            let Some(connect) = connect.take() else {
                unreachable!("connect is used once: every path after it returns")
            };
            let attempt = tokio::time::timeout(settings.connect_timeout, connect()).await;
            return match attempt {
                Ok(Ok(conn)) => {
                    server.stats.connected();
                    server.stats.checked_out(started);
                    server.failures.store(0, Ordering::Relaxed);
                    server.lent();
                    Ok(Lease {
                        conn: Some(conn),
                        permit: Some(permit),
                        created: Instant::now(),
                        partition,
                        server: server.clone(),
                    })
                }
                Ok(Err(e)) => {
                    server.connect_failed(settings);
                    Err(PoolError::Connect {
                        address: server.address.to_string(),
                        hostgroup,
                        reason: e.to_string(),
                    })
                }
                Err(_) => {
                    server.connect_failed(settings);
                    Err(PoolError::Connect {
                        address: server.address.to_string(),
                        hostgroup,
                        reason: format!(
                            "timed out after {} ms",
                            settings.connect_timeout.as_millis()
                        ),
                    })
                }
            };
        }
    }
}

#[cfg(test)]
mod tests;
