//! `GET /healthz` (the process answers) and `GET /readyz` (sqlmux takes connections).

use super::body::{json_response, text_response, Response};
use hyper::StatusCode;
use serde::Serialize;
use sqlmux_proxy::shared::Shared;

/// Liveness: answers as long as the control task runs.
pub fn healthz() -> Response {
    text_response(StatusCode::OK, "ok\n")
}

/// The readiness document.
#[derive(Debug, Serialize)]
struct Readiness<'a> {
    ready: bool,
    /// The listeners and tasks are not all up yet.
    starting: bool,
    /// A SIGTERM/SIGINT came: the drain has begun.
    shutting_down: bool,
    generation: u64,
    /// Clusters with no ONLINE writer: their writes are held (a failover), still ready.
    clusters_without_writer: Vec<&'a str>,
    /// Clusters under an explicit hold (a planned switch), still ready.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    clusters_held: Vec<&'a str>,
    /// Topology sources that cannot reach their store: the last topology stays in force
    /// (still ready), but it no longer follows changes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sources_unreachable: Vec<sqlmux_proxy::sources::SourceDoc>,
}

/// Readiness: 200 while sqlmux takes connections; 503 before every listener and task is up
/// and from the shutdown signal on. A database failover does not make it flap (sqlmux holds
/// the writes meanwhile): clusters without a writer, held, or whose source is unreachable
/// are listed in the document instead.
pub fn readyz(shared: &Shared) -> Response {
    let runtime = shared.runtime.load();
    let topology = shared.topology.load();
    let clusters_without_writer: Vec<&str> = runtime
        .clusters
        .iter()
        .filter(|c| topology.online_in(c.writer_hostgroup).next().is_none())
        .map(|c| c.name.as_str())
        .collect();
    let clusters_held: Vec<&str> = runtime
        .clusters
        .iter()
        .filter(|c| shared.failover.queue(c.writer_hostgroup).explicitly_held())
        .map(|c| c.name.as_str())
        .collect();
    let starting = !shared.started.load(std::sync::atomic::Ordering::Acquire);
    let shutting_down = shared.drain.draining();
    let ready = !starting && !shutting_down;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(
        status,
        &Readiness {
            ready,
            starting,
            shutting_down,
            generation: topology.generation,
            clusters_without_writer,
            clusters_held,
            sources_unreachable: sqlmux_proxy::sources::docs(shared)
                .into_iter()
                .filter(|s| !s.connected)
                .collect(),
        },
    )
}
