//! `POST /v1/clusters/{name}/writer`: what an orchestrator's post-failover hook calls with
//! the server it promoted, in one command line, without reading the topology first. The
//! cluster's writer hostgroup becomes that server alone (ONLINE; limits copied from the
//! cluster's other servers when it is new), it leaves the reader hostgroup, and the old
//! writer is dropped, or becomes a reader with `"old_writer": "reader"` (a graceful
//! takeover makes it a replica of the new one). Published at whatever generation is
//! current, so it releases a hold like any writer change; anti-flapping applies unless
//! `"force": true`. A cluster that follows Patroni gets 409 `managed_by_source`.

use super::body::{json_response, Response};
use super::error::ApiError;
use hyper::StatusCode;
use serde::Deserialize;
use sqlmux_proxy::shared::Shared;
use sqlmux_proxy::sources::patroni::PatroniView;

/// What becomes of the old writer.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum OldWriter {
    /// It leaves the cluster (it died, or will be re-added once it replicates).
    #[default]
    Drop,
    /// It stays as a reader.
    Reader,
}

/// The body of `POST /v1/clusters/{name}/writer`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WriterRequest {
    /// The new writer, `host:port`.
    address: String,
    /// Pass anti-flapping (`failover.min_interval_ms`).
    #[serde(default)]
    force: bool,
    /// What becomes of the old writer.
    #[serde(default)]
    old_writer: OldWriter,
}

/// `POST /v1/clusters/{name}/writer`.
pub(super) fn set_writer(
    shared: &Shared,
    name: &str,
    request: WriterRequest,
) -> Result<Response, ApiError> {
    let rt = shared.runtime.load_full();
    let cluster = rt
        .cluster(name)
        .ok_or_else(|| ApiError::NotFound(format!("/v1/clusters/{name}: no such cluster")))?;
    if cluster.patroni.is_some() {
        return Err(ApiError::Managed {
            cluster: cluster.name.clone(),
            origin: sqlmux_proxy::sources::describe(cluster),
        });
    }
    sqlmux_config::validate::check_address("address", &request.address)
        .map_err(|e| ApiError::Invalid(e.to_string()))?;
    let view = {
        let current = shared.topology.load();
        view_with_writer(
            &current,
            cluster.writer_hostgroup,
            cluster.reader_hostgroup,
            &request,
        )
    };
    let next =
        sqlmux_proxy::sources::publish::replace_cluster(shared, cluster, &view, request.force)?;
    tracing::info!(
        cluster = name,
        writer = %request.address,
        generation = next.generation,
        "writer set through the control API"
    );
    Ok(json_response(
        StatusCode::OK,
        &serde_json::json!({
            "cluster": name,
            "writer": request.address,
            "readers": view.readers,
            "generation": next.generation,
        }),
    ))
}

/// The cluster's servers after the change: the new writer alone, the readers without it,
/// plus the old writers when they stay as readers.
fn view_with_writer(
    current: &sqlmux_proxy::topology::Topology,
    writer_hostgroup: u32,
    reader_hostgroup: u32,
    request: &WriterRequest,
) -> PatroniView {
    let in_group = |hostgroup: u32| {
        current
            .servers
            .iter()
            .filter(move |s| s.hostgroup == hostgroup)
            .map(|s| s.address.to_string())
    };
    let mut readers: Vec<String> = in_group(reader_hostgroup).collect();
    if request.old_writer == OldWriter::Reader {
        readers.extend(in_group(writer_hostgroup));
    }
    readers.retain(|r| *r != request.address);
    readers.sort();
    readers.dedup();
    PatroniView {
        writer: Some(request.address.clone()),
        readers,
        ..PatroniView::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlmux_proxy::topology::{ServerEntry, Topology};
    use std::sync::Arc;

    fn topology() -> Topology {
        let entry = |hostgroup, address: &str| ServerEntry {
            hostgroup,
            address: Arc::from(address),
            weight: 1,
            max_connections: 10,
            status: sqlmux_config::ServerStatus::Online,
            tls: false,
        };
        Topology {
            generation: 3,
            servers: vec![entry(10, "a:1"), entry(20, "b:1"), entry(20, "c:1")],
            writer_hostgroups: vec![10],
        }
    }

    fn request(address: &str, old_writer: OldWriter) -> WriterRequest {
        WriterRequest {
            address: address.into(),
            force: false,
            old_writer,
        }
    }

    #[test]
    fn the_promoted_replica_writes_and_leaves_the_readers() {
        let v = view_with_writer(&topology(), 10, 20, &request("b:1", OldWriter::Drop));
        assert_eq!(v.writer.as_deref(), Some("b:1"));
        assert_eq!(v.readers, vec!["c:1"]);
        let v = view_with_writer(&topology(), 10, 20, &request("b:1", OldWriter::Reader));
        assert_eq!(v.readers, vec!["a:1", "c:1"], "the old writer reads");
    }
}
