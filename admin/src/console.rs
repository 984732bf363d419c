//! PgBouncer's console commands as views over the stats and runtime tables, on both admin
//! ports: `SHOW POOLS`, `SHOW CLIENTS`, `SHOW SERVERS`, `SHOW STATS`, `SHOW CLUSTERS` (what
//! `SHOW DATABASES` is on the PostgreSQL port; on the MySQL port it keeps MySQL's meaning)
//! and `SHOW VERSION`.

/// The SQL of the console view `name` (upper case), if it is one.
pub(crate) fn view(name: &str) -> Option<&'static str> {
    Some(match name {
        // One row per server pool: its cluster and role, connections against the limit.
        "POOLS" => {
            "SELECT c.name AS cluster, p.hostgroup, \
             CASE WHEN p.hostgroup = c.writer_hostgroup THEN 'writer' ELSE 'reader' END AS role, \
             p.address, p.status, p.used AS sv_active, p.free AS sv_idle, \
             s.max_connections AS pool_size, p.wait_timeouts, \
             CASE WHEN p.reuses + p.connections_ok > 0 \
                  THEN p.checkout_us_total / (p.reuses + p.connections_ok) ELSE 0 END AS avg_wait_us \
             FROM stats_connection_pool p \
             LEFT JOIN runtime_clusters c ON p.hostgroup IN (c.writer_hostgroup, c.reader_hostgroup) \
             LEFT JOIN runtime_servers s ON s.hostgroup = p.hostgroup AND s.address = p.address \
             ORDER BY c.name, p.hostgroup, p.address"
        }
        "CLIENTS" => {
            "SELECT id, user, client AS addr, schema AS database, state, backend, pins \
             FROM stats_sessions ORDER BY id"
        }
        "SERVERS" => {
            "SELECT hostgroup, address, status, used AS active, free AS idle, \
             connections_ok, connections_failed, connections_closed, reuses \
             FROM stats_connection_pool ORDER BY hostgroup, address"
        }
        "STATS" => {
            "SELECT hostgroup, address, statements AS total_query_count, \
             bytes AS total_sent, latency_us_total AS total_query_time_us, \
             CASE WHEN statements > 0 THEN latency_us_total / statements ELSE 0 END \
             AS avg_query_time_us \
             FROM stats_connection_pool ORDER BY hostgroup, address"
        }
        "CLUSTERS" => {
            "SELECT c.name, c.protocol, c.writer_hostgroup, c.reader_hostgroup, \
             (SELECT group_concat(address, ',') FROM runtime_servers s \
              WHERE s.hostgroup = c.writer_hostgroup AND s.status = 'ONLINE') AS writer, \
             (SELECT group_concat(address, ',') FROM runtime_servers s \
              WHERE s.hostgroup = c.reader_hostgroup AND s.status = 'ONLINE') AS readers \
             FROM runtime_clusters c ORDER BY c.name"
        }
        "VERSION" => concat!("SELECT 'sqlmux ", env!("CARGO_PKG_VERSION"), "' AS version"),
        _ => return None,
    })
}
