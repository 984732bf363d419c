//! `/v1/clusters/{name}/hold` and `/release`: an orchestrator's explicit hold of a cluster's
//! writer-bound statements around a planned switch.
//!
//! `POST .../hold` (body optional: `{"drain_timeout_ms": 5000}`) starts holding, then waits
//! until the statements and transactions running on the writer through sqlmux have ended
//! (at most the drain timeout; what still runs then is cut) and answers how many there were.
//! After it returns, nothing sent through sqlmux runs on the writer until the hold ends: by `POST
//! .../release`, by a `PUT`/`PATCH` that changes the cluster's writer to a usable one, or by
//! itself after `failover.hold_timeout_ms`.

use super::body::{json_response, Response};
use super::error::ApiError;
use hyper::StatusCode;
use serde::Deserialize;
use sqlmux_config::Cluster;
use sqlmux_proxy::failover::{cut_writer, running_on_writer};
use sqlmux_proxy::shared::Shared;
use std::time::{Duration, Instant};

/// Drain timeout when the request names none.
const DEFAULT_DRAIN: Duration = Duration::from_millis(5_000);

/// How often the drain looks at the writer's running statements.
const DRAIN_POLL: Duration = Duration::from_millis(5);

/// The body of `POST /v1/clusters/{name}/hold`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HoldRequest {
    drain_timeout_ms: Option<u64>,
}

/// The cluster named in the path, from the running runtime.
fn cluster(shared: &Shared, name: &str) -> Result<Cluster, ApiError> {
    shared
        .runtime
        .load()
        .cluster(name)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("/v1/clusters/{name}: no such cluster")))
}

/// `POST /v1/clusters/{name}/hold`.
pub async fn hold(shared: &Shared, name: &str, request: HoldRequest) -> Result<Response, ApiError> {
    let cluster = cluster(shared, name)?;
    let hold_timeout = shared.runtime.load().failover.hold_timeout;
    shared.failover.hold(cluster.writer_hostgroup, hold_timeout);
    tracing::info!(cluster = name, "failover hold started");
    let drain = request
        .drain_timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_DRAIN);
    let started = Instant::now();
    let running_at_start = running_on_writer(shared, &cluster);
    let mut running = running_at_start;
    while running > 0 && started.elapsed() < drain {
        tokio::time::sleep(DRAIN_POLL).await;
        running = running_on_writer(shared, &cluster);
    }
    // Past the drain timeout, what still runs is cut: its clients get an error that says
    // it may or may not have run, and nothing more goes to the old writer through them.
    let cut = if running > 0 {
        let n = cut_writer(shared, &cluster);
        tracing::warn!(
            cluster = name,
            cut = n,
            "failover hold: statements still running on the writer were cut"
        );
        n
    } else {
        0
    };
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({
            "cluster": name,
            "held": true,
            "running_at_start": running_at_start,
            "drained": running_at_start.saturating_sub(running),
            "cut": cut,
            "drain_ms": started.elapsed().as_millis() as u64,
            "hold_timeout_ms": hold_timeout.as_millis() as u64,
        }),
    ))
}

/// `POST /v1/clusters/{name}/release`.
pub fn release(shared: &Shared, name: &str) -> Result<Response, ApiError> {
    let cluster = cluster(shared, name)?;
    let released = shared.failover.release(cluster.writer_hostgroup);
    if released {
        tracing::info!(cluster = name, "failover hold released");
    }
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({ "cluster": name, "released": released }),
    ))
}
