//! `GET /metrics`: Prometheus text, built fresh at every scrape from the live snapshot and
//! the pools' atomics.
//!
//! No global recorder is installed (many proxies share one test process): each scrape
//! builds its own [`PrometheusRecorder`](metrics_exporter_prometheus::PrometheusRecorder),
//! registers the current values inside [`metrics::with_local_recorder`], renders, and drops
//! it.

use super::body::{with_type, Response};
use hyper::StatusCode;
use metrics::{counter, describe_counter, describe_gauge, gauge};
use metrics_exporter_prometheus::PrometheusBuilder;
use sqlmux_config::ServerStatus;
use sqlmux_proxy::shared::Shared;
use sqlmux_proxy::topology::ServerEntry;
use std::sync::atomic::Ordering;

/// The Prometheus text exposition content type.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

const ALL_STATUSES: [ServerStatus; 4] = [
    ServerStatus::Online,
    ServerStatus::Shunned,
    ServerStatus::OfflineSoft,
    ServerStatus::OfflineHard,
];

/// The `/metrics` response.
pub fn scrape(shared: &Shared) -> Response {
    with_type(StatusCode::OK, CONTENT_TYPE, render(shared))
}

/// Renders every `sqlmux_*` series as Prometheus text.
pub fn render(shared: &Shared) -> String {
    let recorder = PrometheusBuilder::new().build_recorder();
    let topology = shared.topology.load();
    metrics::with_local_recorder(&recorder, || {
        describe();
        gauge!("sqlmux_topology_generation").set(topology.generation as f64);
        for server in &topology.servers {
            record_server(server, &*shared.pool_info(server));
            record_health(server, shared);
        }
        record_sessions(&shared.stats);
        record_hostgroups(shared);
        record_failover(shared);
        record_sources(shared);
        counter!("sqlmux_reads_to_writer_total")
            .absolute(shared.failover.reads_to_writer.load(Ordering::Relaxed));
        let reloads = &shared.reloads;
        counter!("sqlmux_config_reloads_total", "result" => "applied")
            .absolute(reloads.applied.load(Ordering::Relaxed));
        counter!("sqlmux_config_reloads_total", "result" => "refused")
            .absolute(reloads.refused.load(Ordering::Relaxed));
        gauge!("sqlmux_config_generation").set(reloads.generation.load(Ordering::Relaxed) as f64);
    });
    recorder.handle().render()
}

/// Per server, when the monitor runs: its health state, read-only, checks and alarms.
fn record_health(server: &ServerEntry, shared: &Shared) {
    let Some(h) = shared.health.get(&server.address) else {
        return;
    };
    let base = [
        ("hostgroup", server.hostgroup.to_string()),
        ("address", server.address.to_string()),
    ];
    for state in [
        sqlmux_proxy::monitor::HealthState::Up,
        sqlmux_proxy::monitor::HealthState::Down,
        sqlmux_proxy::monitor::HealthState::Unknown,
    ] {
        let mut labels = base.to_vec();
        labels.push(("state", state.as_str().to_string()));
        gauge!("sqlmux_server_health", &labels).set(if h.state == state { 1.0 } else { 0.0 });
    }
    gauge!("sqlmux_server_read_only", &base).set(if h.read_only == Some(true) { 1.0 } else { 0.0 });
    let lag = match h.lag {
        Some(sqlmux_proxy::monitor::Lag::NotReplica) => 0.0,
        Some(l) => l.time().map_or(f64::NAN, |t| t.as_secs_f64()),
        None => f64::NAN,
    };
    gauge!("sqlmux_server_replication_lag_seconds", &base).set(lag);
    gauge!("sqlmux_server_lagging", &base).set(if h.lagging { 1.0 } else { 0.0 });
    counter!("sqlmux_monitor_checks_total", &base).absolute(h.checks);
    counter!("sqlmux_fencing_alarms_total", &base).absolute(h.fencing_alarms);
}

/// Per cluster with a topology source: whether it reaches its store, and the revision.
fn record_sources(shared: &Shared) {
    for source in sqlmux_proxy::sources::docs(shared) {
        let labels = [("cluster", source.cluster)];
        gauge!("sqlmux_topology_source_up", &labels).set(if source.connected { 1.0 } else { 0.0 });
        gauge!("sqlmux_topology_source_revision", &labels).set(source.revision as f64);
        gauge!("sqlmux_topology_source_switching", &labels).set(if source.switching {
            1.0
        } else {
            0.0
        });
    }
}

/// Per cluster: statements held now, the explicit hold, and what the queue has done.
fn record_failover(shared: &Shared) {
    let rt = shared.runtime.load();
    for cluster in &rt.clusters {
        let q = shared.failover.queue(cluster.writer_hostgroup);
        let labels = [("cluster", cluster.name.clone())];
        gauge!("sqlmux_failover_held_statements", &labels).set(q.held() as f64);
        gauge!("sqlmux_failover_hold_active", &labels).set(if q.explicitly_held() {
            1.0
        } else {
            0.0
        });
        let c = &q.counters;
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        counter!("sqlmux_failover_held_total", &labels).absolute(load(&c.held));
        counter!("sqlmux_failover_explicit_holds_total", &labels).absolute(load(&c.explicit));
        for (reason, n) in [("timeout", &c.timeouts), ("full", &c.evicted)] {
            let labels = [
                ("cluster", cluster.name.clone()),
                ("reason", reason.to_string()),
            ];
            counter!("sqlmux_failover_hold_failures_total", &labels).absolute(load(n));
        }
    }
}

/// Which cluster and role each hostgroup has (an info series, 1 each): dashboards join
/// per-hostgroup series to their cluster with it.
fn record_hostgroups(shared: &Shared) {
    for cluster in &shared.runtime.load().clusters {
        for (hostgroup, role) in [
            (cluster.writer_hostgroup, "writer"),
            (cluster.reader_hostgroup, "reader"),
        ] {
            let labels = [
                ("hostgroup", hostgroup.to_string()),
                ("cluster", cluster.name.clone()),
                ("role", role.to_string()),
            ];
            gauge!("sqlmux_hostgroup_info", &labels).set(1.0);
        }
    }
}

fn record_server(server: &ServerEntry, pool: &dyn sqlmux_proxy::pool::PoolInfo) {
    let hostgroup = server.hostgroup.to_string();
    let address = server.address.to_string();
    let labels = |extra: Option<(&'static str, &'static str)>| {
        let mut l = vec![
            ("hostgroup", hostgroup.clone()),
            ("address", address.clone()),
        ];
        if let Some((k, v)) = extra {
            l.push((k, v.to_string()));
        }
        l
    };
    let stats = pool.stats();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    gauge!("sqlmux_backend_max_connections", &labels(None)).set(f64::from(server.max_connections));
    gauge!("sqlmux_server_shunned", &labels(None)).set(if pool.shunned_for().is_some() {
        1.0
    } else {
        0.0
    });

    gauge!(
        "sqlmux_backend_connections",
        &labels(Some(("state", "in_use")))
    )
    .set(pool.outstanding() as f64);
    gauge!(
        "sqlmux_backend_connections",
        &labels(Some(("state", "idle")))
    )
    .set(pool.idle_count() as f64);
    counter!(
        "sqlmux_backend_connects_total",
        &labels(Some(("result", "ok")))
    )
    .absolute(load(&stats.connections_ok));
    counter!(
        "sqlmux_backend_connects_total",
        &labels(Some(("result", "failed")))
    )
    .absolute(load(&stats.connections_failed));
    counter!("sqlmux_backend_connections_closed_total", &labels(None))
        .absolute(load(&stats.connections_closed));
    let flow = stats.totals();
    counter!("sqlmux_pool_reuses_total", &labels(None)).absolute(flow.reuses);
    counter!("sqlmux_pool_wait_timeouts_total", &labels(None)).absolute(load(&stats.wait_timeouts));
    counter!("sqlmux_pool_checkouts_total", &labels(None)).absolute(flow.checkouts);
    counter!("sqlmux_pool_checkout_microseconds_total", &labels(None))
        .absolute(flow.checkout_us_total);
    counter!("sqlmux_server_statements_total", &labels(None)).absolute(flow.statements);
    counter!("sqlmux_server_bytes_total", &labels(None)).absolute(flow.bytes);
    counter!("sqlmux_server_statement_microseconds_total", &labels(None))
        .absolute(flow.latency_us_total);
    for status in ALL_STATUSES {
        let value = if status == server.status { 1.0 } else { 0.0 };
        gauge!(
            "sqlmux_server_status",
            &labels(Some(("status", status.as_str())))
        )
        .set(value);
    }
}

/// Session-side counters: clients, statements, errors, pins, bytes, latency.
fn record_sessions(stats: &sqlmux_proxy::stats::ProxyStats) {
    let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    gauge!("sqlmux_client_connections")
        .set(stats.client_connections.load(Ordering::Relaxed) as f64);
    counter!("sqlmux_client_connections_total").absolute(load(&stats.client_connections_total));
    for (worker, live) in stats
        .worker_sessions
        .get()
        .into_iter()
        .flatten()
        .enumerate()
    {
        gauge!("sqlmux_worker_sessions", "worker" => worker.to_string())
            .set(live.load(Ordering::Relaxed) as f64);
    }
    for (hostgroup, n) in stats.statements_by_hostgroup() {
        counter!("sqlmux_statements_total", "hostgroup" => hostgroup.to_string()).absolute(n);
    }
    for e in stats.errors.iter() {
        counter!("sqlmux_errors_total", "side" => *e.key()).absolute(load(e.value()));
    }
    for e in stats.pins.iter() {
        counter!("sqlmux_pins_total", "reason" => *e.key()).absolute(load(e.value()));
    }
    counter!("sqlmux_bytes_relayed_total").absolute(stats.bytes_relayed());
    let (latency_us_total, latency_count) = stats.latency();
    counter!("sqlmux_statement_latency_microseconds_sum").absolute(latency_us_total);
    counter!("sqlmux_statement_latency_microseconds_count").absolute(latency_count);
}

/// Every gauge sqlmux exports, with its help text.
const GAUGES: &[(&str, &str)] = &[
    (
        "sqlmux_backend_max_connections",
        "The server's max_connections: the most backend connections sqlmux opens to it.",
    ),
    (
        "sqlmux_hostgroup_info",
        "1 per hostgroup, labelled with its cluster and role (writer or reader).",
    ),
    (
        "sqlmux_server_shunned",
        "1 while sqlmux shuns the server after repeated connect errors (the server's faults only).",
    ),
    (
        "sqlmux_config_generation",
        "The generation of the config file in force: 1 at start, +1 per applied reload.",
    ),
    (
        "sqlmux_topology_source_up",
        "1 while the cluster's topology source (Patroni's etcd) is reachable and watched.",
    ),
    (
        "sqlmux_topology_source_revision",
        "The store revision (etcd) that produced the cluster's topology in force.",
    ),
    (
        "sqlmux_topology_source_switching",
        "1 while the source reports a switch under way (writes held).",
    ),
    (
        "sqlmux_server_health",
        "1 for the monitor's current view of the server: up, down or unknown.",
    ),
    (
        "sqlmux_server_read_only",
        "1 while the monitor sees the server read-only (MySQL) or in recovery (PostgreSQL).",
    ),
    (
        "sqlmux_server_replication_lag_seconds",
        "Replication lag the monitor saw (0 for a primary, NaN while unknown).",
    ),
    (
        "sqlmux_server_lagging",
        "1 while the server lags over its cluster's max_replication_lag_ms (or of unknown lag): it takes no reads.",
    ),
    (
        "sqlmux_failover_held_statements",
        "Writer-bound statements waiting for a usable writer now, per cluster.",
    ),
    (
        "sqlmux_failover_hold_active",
        "1 while an explicit hold (POST /v1/clusters/{name}/hold) is on, per cluster.",
    ),
    (
        "sqlmux_client_connections",
        "Client connections open now.",
    ),
    (
        "sqlmux_worker_sessions",
        "Client sessions on each data-path worker.",
    ),
    (
        "sqlmux_topology_generation",
        "Generation of the topology in force; increases with every change.",
    ),
    (
        "sqlmux_backend_connections",
        "Backend connections per server, by state (in_use: lent to a session; idle: pooled).",
    ),
    (
        "sqlmux_server_status",
        "1 for the server's current status, 0 for the others.",
    ),
];

/// Every counter sqlmux exports, with its help text.
const COUNTERS: &[(&str, &str)] = &[
    (
        "sqlmux_config_reloads_total",
        "Readings of the config file (SIGHUP or a change of it or its secret files), by result.",
    ),
    (
        "sqlmux_reads_to_writer_total",
        "Reads sent to the writer because no server of the reader hostgroup took work.",
    ),
    (
        "sqlmux_monitor_checks_total",
        "Health checks of the server.",
    ),
    (
        "sqlmux_fencing_alarms_total",
        "Checks that found the server writable outside every writer hostgroup (it gets no writes).",
    ),
    (
        "sqlmux_failover_held_total",
        "Writer-bound statements that waited in the hold queue, per cluster.",
    ),
    (
        "sqlmux_failover_explicit_holds_total",
        "Explicit holds started, per cluster.",
    ),
    (
        "sqlmux_failover_hold_failures_total",
        "Held statements that gave up: hold_timeout_ms passed, or pushed out of a full queue.",
    ),
    (
        "sqlmux_pool_checkouts_total",
        "Backend connections lent, per server.",
    ),
    (
        "sqlmux_pool_checkout_microseconds_total",
        "Time sessions spent getting a backend connection (pool wait and connect), per server.",
    ),
    (
        "sqlmux_server_statements_total",
        "Statements run per server.",
    ),
    (
        "sqlmux_server_bytes_total",
        "Bytes relayed from each server to clients.",
    ),
    (
        "sqlmux_server_statement_microseconds_total",
        "Statement time per server.",
    ),
    (
        "sqlmux_client_connections_total",
        "Client connections accepted.",
    ),
    (
        "sqlmux_statements_total",
        "Statements by destination hostgroup.",
    ),
    (
        "sqlmux_errors_total",
        "Errors sent to clients, by the side that failed.",
    ),
    (
        "sqlmux_pins_total",
        "Pins started (multiplexing off for a session), by reason.",
    ),
    (
        "sqlmux_bytes_relayed_total",
        "Bytes relayed from backends to clients.",
    ),
    (
        "sqlmux_statement_latency_microseconds_sum",
        "Total statement time seen by sqlmux.",
    ),
    (
        "sqlmux_statement_latency_microseconds_count",
        "Statements timed.",
    ),
    (
        "sqlmux_backend_connects_total",
        "Backend connection attempts per server, by result.",
    ),
    (
        "sqlmux_backend_connections_closed_total",
        "Backend connections closed per server.",
    ),
    (
        "sqlmux_pool_reuses_total",
        "Checkouts served by an idle pooled connection.",
    ),
    (
        "sqlmux_pool_wait_timeouts_total",
        "Checkouts that gave up waiting for a free connection (server at max_connections).",
    ),
];

/// Gives every metric its help text.
fn describe() {
    for (name, help) in GAUGES {
        describe_gauge!(*name, *help);
    }
    for (name, help) in COUNTERS {
        describe_counter!(*name, *help);
    }
}
