//! `GET /healthz` (the process answers) and `GET /readyz` (every cluster has a writer).

use super::body::{json_response, text_response, Response};
use crate::shared::Shared;
use hyper::StatusCode;
use serde::Serialize;

/// Liveness: answers as long as the control task runs.
pub fn healthz() -> Response {
    text_response(StatusCode::OK, "ok\n")
}

/// The readiness document.
#[derive(Debug, Serialize)]
struct Readiness<'a> {
    ready: bool,
    generation: u64,
    clusters_without_writer: Vec<&'a str>,
    /// Topology sources that cannot reach their store: the last topology stays in force
    /// (still ready), but it no longer follows changes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sources_unreachable: Vec<crate::sources::SourceDoc>,
}

/// Readiness: 200 when every cluster of the runtime has an ONLINE server in its writer
/// hostgroup, else 503 naming the clusters without one. (The listeners are bound before the
/// control API is served, so "listeners up" holds whenever this answers.)
pub fn readyz(shared: &Shared) -> Response {
    let runtime = shared.runtime.load();
    let topology = shared.topology.load();
    let clusters_without_writer: Vec<&str> = runtime
        .clusters
        .iter()
        .filter(|c| topology.online_in(c.writer_hostgroup).next().is_none())
        .map(|c| c.name.as_str())
        .collect();
    let ready = clusters_without_writer.is_empty();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(
        status,
        &Readiness {
            ready,
            generation: topology.generation,
            clusters_without_writer,
            sources_unreachable: crate::sources::docs(shared)
                .into_iter()
                .filter(|s| !s.connected)
                .collect(),
        },
    )
}
