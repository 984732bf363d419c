//! sqlmux's own health checks (`[monitor]`): every server is checked every `interval_ms`
//! over a connection of the monitor user (connect, then whether it is read-only / in
//! recovery). `down_after` failed checks in a row (a check slower than `timeout_ms` fails)
//! make it DOWN, `up_after` good ones UP again. Health is kept apart from the pushed
//! topology: a DOWN server takes no work, a read-only one none as a writer, so writer-bound
//! statements are held (see [`crate::failover`]); statements running on a writer that went
//! DOWN are cut, so a frozen writer never holds its clients longer than the hold timeout
//! plus detection. A server outside every writer hostgroup that reports itself writable
//! raises a fencing alarm (it never gets writes). A replica lagging over its cluster's
//! `max_replication_lag_ms` (or whose lag is unknown) takes no reads until it is back under
//! for `up_after` checks; reads then go to other readers, or to the writer.
//!
//! - [`state`]: one server's health and its transitions.
//! - [`login`]: where and as whom a probe logs in.
//!
//! The checks themselves speak each protocol: a [`Probe`] per server, made by the caller.

pub mod login;
pub mod state;

pub use login::ProbeLogin;

pub use state::{Health, HealthState};

use crate::shared::Shared;
use sqlmux_config::{MonitorSettings, Protocol};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// What one good check saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// The server refuses writes (MySQL `read_only`, PostgreSQL in recovery).
    pub read_only: bool,
    /// How far behind its primary it replays.
    pub lag: Lag,
}

/// A server's replication lag at one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lag {
    /// It replicates from no one (a primary).
    NotReplica,
    /// It replicates, this far behind (`bytes`: WAL received and not replayed yet, on
    /// PostgreSQL).
    Behind {
        /// How old the newest change it has applied is, against what it has received.
        time: std::time::Duration,
        /// Bytes received and not applied yet, where the server says.
        bytes: Option<u64>,
    },
    /// It replicates, but how far behind is unknown (applier stopped, no connection to
    /// its primary, lag not readable): never taken as zero.
    Unknown,
}

impl Lag {
    /// `none` (not a replica), `replica` or `unknown` (a replica of unknown lag).
    pub fn as_str(&self) -> &'static str {
        match self {
            Lag::NotReplica => "none",
            Lag::Behind { .. } => "replica",
            Lag::Unknown => "unknown",
        }
    }

    /// The lag in time, when known.
    pub fn time(&self) -> Option<std::time::Duration> {
        match self {
            Lag::Behind { time, .. } => Some(*time),
            _ => None,
        }
    }

    /// The lag in bytes, when the server says.
    pub fn bytes(&self) -> Option<u64> {
        match self {
            Lag::Behind { bytes, .. } => *bytes,
            _ => None,
        }
    }

    /// Whether the lag is over `max` (unknown lag is).
    pub fn is_over(&self, max: std::time::Duration) -> bool {
        match self {
            Lag::NotReplica => false,
            Lag::Behind { time, .. } => *time > max,
            Lag::Unknown => true,
        }
    }
}

/// One server's check, over a connection it keeps between checks.
#[async_trait::async_trait]
pub trait Probe: Send {
    /// Connects if needed and looks at the server. An error (or a timeout, by the caller)
    /// is a failed check; the probe is then dropped with its connection and the next check
    /// starts from a new one.
    async fn check(&mut self) -> Result<Observation, String>;
}

/// Makes the probe of a server (`address`, TLS, its cluster's protocol).
pub type ProbeFactory =
    Arc<dyn Fn(&Shared, &MonitorSettings, &str, bool, Protocol) -> Box<dyn Probe> + Send + Sync>;

/// Checks every server until the task is dropped.
pub async fn run(shared: Arc<Shared>, probes: ProbeFactory) {
    let mut by_address: HashMap<Arc<str>, Option<Box<dyn Probe>>> = HashMap::new();
    loop {
        let rt = shared.runtime.load_full();
        let Some(settings) = rt.monitor.clone() else {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        };
        let topology = shared.topology.load_full();
        let mut checks = tokio::task::JoinSet::new();
        let mut scheduled = std::collections::HashSet::new();
        for server in &topology.servers {
            // A server in several hostgroups is checked once.
            if !scheduled.insert(server.address.clone()) {
                continue;
            }
            let Some(cluster) = rt.clusters.iter().find(|c| {
                c.writer_hostgroup == server.hostgroup || c.reader_hostgroup == server.hostgroup
            }) else {
                continue;
            };
            let (protocol, max_lag) = (
                cluster.protocol,
                cluster
                    .max_replication_lag_ms
                    .map(std::time::Duration::from_millis),
            );
            let slot = by_address.entry(server.address.clone()).or_default();
            let Some(mut probe) = slot.take().or_else(|| {
                Some(probes(
                    &shared,
                    &settings,
                    &server.address,
                    server.tls,
                    protocol,
                ))
            }) else {
                continue;
            };
            let (address, timeout) = (server.address.clone(), settings.timeout);
            checks.spawn(async move {
                let started = Instant::now();
                let result = match tokio::time::timeout(timeout, probe.check()).await {
                    Ok(r) => r,
                    Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
                };
                (address, probe, result, started.elapsed(), max_lag)
            });
        }
        let round = tokio::time::sleep(settings.interval);
        while let Some(done) = checks.join_next().await {
            let Ok((address, probe, result, took, max_lag)) = done else {
                continue;
            };
            // A failed check's probe (and its connection, maybe half-used) goes.
            by_address.insert(address.clone(), result.is_ok().then_some(probe));
            let check = Check {
                result,
                took,
                max_lag,
            };
            apply(&shared, &settings, &topology, &address, check);
        }
        by_address.retain(|a, _| topology.servers.iter().any(|s| s.address == *a));
        // The next round at the interval, or at once when the topology changes (a writer
        // just pushed is checked before writes wait on its last, read-only, look).
        tokio::select! {
            _ = round => {}
            _ = shared.monitor_wake.notified() => {}
        }
    }
}

/// One check's outcome, with the lag its server's cluster allows.
pub struct Check {
    /// What it saw, or why it failed.
    pub result: Result<Observation, String>,
    /// How long it took.
    pub took: std::time::Duration,
    /// The cluster's `max_replication_lag_ms`.
    pub max_lag: Option<std::time::Duration>,
}

/// Applies one check's result: the server's health, its pool's flags, held statements
/// woken, statements on a writer that went DOWN cut, fencing alarms.
fn apply(
    shared: &Shared,
    settings: &MonitorSettings,
    topology: &crate::topology::Topology,
    address: &Arc<str>,
    check: Check,
) {
    let result = &check.result;
    let mut entry = shared.health.entry(address.clone()).or_default();
    let before = (entry.state, entry.read_only, entry.lagging);
    entry.observe(&check, settings);
    let after = (entry.state, entry.read_only, entry.lagging);
    let writer_somewhere = topology
        .servers
        .iter()
        .any(|s| s.address == *address && topology.is_writer(s.hostgroup));
    if entry.read_only == Some(false) && !writer_somewhere {
        entry.fencing_alarms += 1;
        tracing::warn!(%address, "fencing alarm: a server outside every writer hostgroup reports itself writable; it gets no writes");
    }
    let flags = entry.pool_flags();
    drop(entry);
    if before == after {
        return;
    }
    tracing::info!(%address, state = ?after.0, read_only = ?after.1, lagging = after.2, lag = ?result.as_ref().ok().map(|o| o.lag), error = ?result.as_ref().err(), "monitor: server health changed");
    for server in topology.servers.iter().filter(|s| s.address == *address) {
        shared.pool_info(server).set_health(flags);
    }
    if after.0 == HealthState::Down && before.0 != HealthState::Down && writer_somewhere {
        if let Some(server) = topology.servers.iter().find(|s| s.address == *address) {
            let cut = shared.pool_info(server).cut_lent();
            if cut > 0 {
                tracing::warn!(%address, cut, "monitor: statements on a DOWN writer were cut");
            }
        }
    }
    shared.failover.changed();
}
