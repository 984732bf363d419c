//! The `stats_*` tables, refreshed from the live counters before a statement reads them.

use super::*;

/// Refreshes the `stats_*` tables from the live counters.
pub(crate) fn refresh_stats(conn: &Connection, shared: &Shared) -> rusqlite::Result<()> {
    let topology = shared.topology.load();
    let sessions: Vec<sqlmux_proxy::stats::SessionSnapshot> = shared
        .stats
        .sessions
        .iter()
        .map(|e| e.value().clone())
        .collect();
    connection_pool(conn, shared, &topology)?;
    query_digest(conn, shared)?;
    sessions_table(conn, &sessions)?;
    multiplexing(conn, shared, &topology, &sessions)?;
    topology_sources(conn, shared)?;
    monitor(conn, shared)
}

fn load(a: &std::sync::atomic::AtomicU64) -> Value {
    big(a.load(Ordering::Relaxed))
}

/// `stats_connection_pool`: one row per server of the topology (a server in two
/// hostgroups shares one pool, so both rows show the same pool).
fn connection_pool(
    conn: &Connection,
    shared: &Shared,
    topology: &Topology,
) -> rusqlite::Result<()> {
    let pool_rows: Vec<Vec<Value>> = topology
        .servers
        .iter()
        .map(|s| {
            let pool = Some(shared.pool_info(s));
            let (used, free) = pool
                .as_ref()
                .map(|p| (p.outstanding() as u64, p.idle_count() as u64))
                .unwrap_or((0, 0));
            // A server sqlmux shunned after connect errors shows as SHUNNED here (the
            // pushed topology keeps the orchestrator's status).
            let shunned = pool.as_ref().is_some_and(|p| p.shunned_for().is_some());
            let status = if shunned && s.status == sqlmux_config::ServerStatus::Online {
                "SHUNNED"
            } else {
                s.status.as_str()
            };
            let mut row = vec![
                int(s.hostgroup),
                text(&*s.address),
                text(status),
                big(used),
                big(free),
            ];
            match &pool {
                Some(p) => row.extend({
                    let flow = p.stats().totals();
                    [
                        load(&p.stats().connections_ok),
                        load(&p.stats().connections_failed),
                        load(&p.stats().connections_closed),
                        big(flow.reuses),
                        load(&p.stats().wait_timeouts),
                        big(flow.checkout_us_total),
                        big(flow.statements),
                        big(flow.bytes),
                        big(flow.latency_us_total),
                    ]
                }),
                None => row.extend(vec![int(0); 9]),
            }
            row
        })
        .collect();
    replace_rows(
        conn,
        "main",
        "stats_connection_pool",
        &[
            "hostgroup",
            "address",
            "status",
            "used",
            "free",
            "connections_ok",
            "connections_failed",
            "connections_closed",
            "reuses",
            "wait_timeouts",
            "checkout_us_total",
            "statements",
            "bytes",
            "latency_us_total",
        ],
        &pool_rows,
    )
}

/// `stats_query_digest`.
fn query_digest(conn: &Connection, shared: &Shared) -> rusqlite::Result<()> {
    let digests: Vec<Vec<Value>> = shared
        .stats
        .digests(shared.runtime.load().stats.max_digests)
        .into_iter()
        .map(|(digest, d)| {
            vec![
                text(format!("0x{digest:016X}")),
                text(&*d.text),
                int(d.hostgroup),
                text(&*d.user),
                big(d.count),
                big(d.sum_us),
                big(d.min_us),
                big(d.max_us),
                big(d.rows),
            ]
        })
        .collect();
    replace_rows(
        conn,
        "main",
        "stats_query_digest",
        &[
            "digest",
            "digest_text",
            "hostgroup",
            "user",
            "count",
            "sum_time_us",
            "min_time_us",
            "max_time_us",
            "rows",
        ],
        &digests,
    )
}

/// `stats_sessions`.
fn sessions_table(
    conn: &Connection,
    sessions: &[sqlmux_proxy::stats::SessionSnapshot],
) -> rusqlite::Result<()> {
    let session_rows: Vec<Vec<Value>> = sessions
        .iter()
        .map(|s| {
            vec![
                int(s.id),
                text(&*s.user),
                text(s.client.to_string()),
                text(&*s.schema),
                text(s.state),
                opt_text(s.backend.as_deref()),
                text(&s.pins),
            ]
        })
        .collect();
    replace_rows(
        conn,
        "main",
        "stats_sessions",
        &["id", "user", "client", "schema", "state", "backend", "pins"],
        &session_rows,
    )
}

/// `stats_multiplexing`: per hostgroup (of the topology and of the clusters), the client
/// sessions holding a backend connection of one of its servers, and the backend
/// connections open to its servers (lent + idle).
fn multiplexing(
    conn: &Connection,
    shared: &Shared,
    topology: &Topology,
    sessions: &[sqlmux_proxy::stats::SessionSnapshot],
) -> rusqlite::Result<()> {
    let rt = shared.runtime.load();
    let mut hostgroups: BTreeMap<u32, BTreeSet<&str>> = BTreeMap::new();
    for c in &rt.clusters {
        hostgroups.entry(c.writer_hostgroup).or_default();
        hostgroups.entry(c.reader_hostgroup).or_default();
    }
    for s in &topology.servers {
        hostgroups
            .entry(s.hostgroup)
            .or_default()
            .insert(&s.address);
    }
    let mux_rows: Vec<Vec<Value>> = hostgroups
        .iter()
        .map(|(hostgroup, addresses)| {
            let clients = sessions
                .iter()
                .filter(|s| s.backend.as_deref().is_some_and(|b| addresses.contains(b)))
                .count() as u64;
            let backends: u64 = addresses
                .iter()
                .map(|a| {
                    let a: Arc<str> = Arc::from(*a);
                    let m = shared
                        .mysql
                        .pools
                        .get(&a)
                        .map(|p| p.outstanding() + p.idle_count());
                    let p = shared
                        .pg
                        .pools
                        .get(&a)
                        .map(|p| p.outstanding() + p.idle_count());
                    (m.unwrap_or(0) + p.unwrap_or(0)) as u64
                })
                .sum();
            vec![int(*hostgroup), big(clients), big(backends)]
        })
        .collect();
    replace_rows(
        conn,
        "main",
        "stats_multiplexing",
        &["hostgroup", "client_connections", "backend_connections"],
        &mux_rows,
    )
}

/// `stats_topology_sources`: clusters whose servers come from Patroni.
fn topology_sources(conn: &Connection, shared: &Shared) -> rusqlite::Result<()> {
    let source_rows: Vec<Vec<Value>> = sqlmux_proxy::sources::docs(shared)
        .into_iter()
        .map(|s| {
            vec![
                Value::Text(s.cluster),
                Value::Text(s.source),
                int(u32::from(s.connected)),
                Value::Integer(s.revision),
                opt_text(s.writer.as_deref()),
                Value::Text(s.readers.join(",")),
                int(u32::from(s.switching)),
                opt_text(s.error.as_deref()),
            ]
        })
        .collect();
    replace_rows(
        conn,
        "main",
        "stats_topology_sources",
        &[
            "cluster",
            "source",
            "connected",
            "revision",
            "writer",
            "readers",
            "switching",
            "error",
        ],
        &source_rows,
    )
}

/// `stats_monitor`: what the health monitor sees of each server (empty without it).
fn monitor(conn: &Connection, shared: &Shared) -> rusqlite::Result<()> {
    let ms = |t: Option<std::time::Instant>| match t {
        Some(t) => big(t.elapsed().as_millis() as u64),
        None => Value::Null,
    };
    let mut seen: Vec<_> = shared.health.iter().collect();
    seen.sort_by(|a, b| a.key().cmp(b.key()));
    let monitor_rows: Vec<Vec<Value>> = seen
        .iter()
        .map(|h| {
            vec![
                Value::Text(h.key().to_string()),
                Value::Text(h.state.as_str().to_string()),
                h.read_only.map_or(Value::Null, |r| int(u32::from(r))),
                h.lag
                    .map_or(Value::Null, |l| Value::Text(l.as_str().to_string())),
                h.lag
                    .and_then(|l| l.time())
                    .map_or(Value::Null, |t| big(t.as_millis() as u64)),
                h.lag.and_then(|l| l.bytes()).map_or(Value::Null, big),
                int(u32::from(h.lagging)),
                ms(h.last_check),
                big(h.latency.as_micros() as u64),
                ms(h.since),
                big(h.checks),
                big(h.fencing_alarms),
                opt_text(h.last_error.as_deref()),
            ]
        })
        .collect();
    replace_rows(
        conn,
        "main",
        "stats_monitor",
        &[
            "address",
            "state",
            "read_only",
            "replication",
            "lag_ms",
            "lag_bytes",
            "lagging",
            "last_check_ms_ago",
            "latency_us",
            "since_ms_ago",
            "checks",
            "fencing_alarms",
            "error",
        ],
        &monitor_rows,
    )
}
