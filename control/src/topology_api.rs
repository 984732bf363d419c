//! `/v1/topology`: read the topology, replace it (`PUT`) or change one server (`PATCH`),
//! both fenced by the generation number.
//!
//! Writers never lock the data path: a new [`Topology`] is built aside and published with
//! [`ArcSwap::compare_and_swap`](arc_swap::ArcSwap) against the snapshot whose generation
//! was checked, so two writers can't interleave (the loser sees the new generation: 409).

use super::body::{json_response, Response};
use super::error::ApiError;
use hyper::StatusCode;
use serde::{Deserialize, Serialize};
use sqlmux_config::{ConfigError, ServerStatus};
use sqlmux_proxy::shared::Shared;
use sqlmux_proxy::topology::publish::compare_and_set;
use sqlmux_proxy::topology::{ServerEntry, Topology};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

/// `max_connections` when a PUT omits it (as in the config file).
const DEFAULT_MAX_CONNECTIONS: u32 = 100;

/// The topology document (what GET returns and PUT/PATCH answer).
#[derive(Debug, Serialize)]
struct TopologyDoc<'a> {
    generation: u64,
    servers: Vec<ServerDoc<'a>>,
    /// Clusters whose servers come from a source (Patroni), with its store revision.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sources: Vec<sqlmux_proxy::sources::SourceDoc>,
}

#[derive(Debug, Serialize)]
struct ServerDoc<'a> {
    hostgroup: u32,
    address: &'a str,
    status: &'static str,
    weight: u32,
    max_connections: u32,
    tls: bool,
    /// What the monitor sees (absent without `[monitor]`); not part of a PUT.
    #[serde(skip_serializing_if = "Option::is_none")]
    health: Option<HealthDoc>,
}

/// A server's health in the topology document.
#[derive(Debug, Serialize)]
struct HealthDoc {
    state: &'static str,
    read_only: Option<bool>,
    /// `none`, `replica` or `unknown` (a replica of unknown lag); absent before a good check.
    replication: Option<&'static str>,
    lag_ms: Option<u128>,
    lag_bytes: Option<u64>,
    /// Over its cluster's `max_replication_lag_ms`: it takes no reads.
    lagging: bool,
    last_check_ms_ago: Option<u128>,
    latency_us: u128,
    since_ms_ago: Option<u128>,
    error: Option<String>,
}

impl<'a> TopologyDoc<'a> {
    fn of(t: &'a Topology, shared: &Shared) -> Self {
        Self {
            generation: t.generation,
            servers: t
                .servers
                .iter()
                .map(|s| ServerDoc {
                    hostgroup: s.hostgroup,
                    address: &s.address,
                    status: s.status.as_str(),
                    weight: s.weight,
                    max_connections: s.max_connections,
                    tls: s.tls,
                    health: shared.health.get(&s.address).map(|h| HealthDoc {
                        state: h.state.as_str(),
                        read_only: h.read_only,
                        replication: h.lag.map(|l| l.as_str()),
                        lag_ms: h.lag.and_then(|l| l.time()).map(|t| t.as_millis()),
                        lag_bytes: h.lag.and_then(|l| l.bytes()),
                        lagging: h.lagging,
                        last_check_ms_ago: h.last_check.map(|t| t.elapsed().as_millis()),
                        latency_us: h.latency.as_micros(),
                        since_ms_ago: h.since.map(|t| t.elapsed().as_millis()),
                        error: h.last_error.clone(),
                    }),
                })
                .collect(),
            sources: sqlmux_proxy::sources::docs(shared),
        }
    }
}

/// The body of `PUT /v1/topology`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PutRequest {
    generation: u64,
    servers: Vec<PutServer>,
    /// Change the writer even within `failover.min_interval_ms` of the last change.
    #[serde(default)]
    force: bool,
    /// What GET shows of the sources; ignored (a GET document can be PUT back).
    #[serde(default, rename = "sources")]
    _sources: Option<serde::de::IgnoredAny>,
}

/// One server of a PUT; omitted fields default as in the config file (status ONLINE,
/// weight 1, max_connections 100), and `tls` keeps the server's current setting.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PutServer {
    hostgroup: u32,
    address: String,
    status: Option<String>,
    weight: Option<u32>,
    max_connections: Option<u32>,
    tls: Option<bool>,
}

/// The body of `PATCH /v1/topology/servers`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PatchRequest {
    generation: u64,
    hostgroup: u32,
    address: String,
    status: Option<String>,
    weight: Option<u32>,
    /// As for PUT.
    #[serde(default)]
    force: bool,
}

/// `GET /v1/topology`.
pub fn get(shared: &Shared) -> Response {
    let topology = shared.topology.load();
    json_response(StatusCode::OK, &TopologyDoc::of(&topology, shared))
}

/// `PUT /v1/topology`: validates the document, then swaps it in as generation N+1.
pub fn put(shared: &Shared, request: PutRequest) -> Result<Response, ApiError> {
    let validated = validate_put(shared, &request)?;
    refuse_managed_changes(shared, &validated)?;
    let next = compare_and_set::<ApiError>(shared, request.generation, request.force, |current| {
        Ok(validated
            .iter()
            .map(|(s, tls)| ServerEntry {
                tls: tls.unwrap_or_else(|| current_tls(current, &s.address)),
                ..s.clone()
            })
            .collect())
    })?;
    tracing::info!(
        generation = next.generation,
        servers = next.servers.len(),
        "topology replaced through the control API"
    );
    Ok(json_response(
        StatusCode::OK,
        &TopologyDoc::of(&next, shared),
    ))
}

/// `PATCH /v1/topology/servers`: changes the status and/or weight of one server.
pub fn patch(shared: &Shared, request: PatchRequest) -> Result<Response, ApiError> {
    let status = request
        .status
        .as_deref()
        .map(|s| parse_status("status", s))
        .transpose()?;
    if status.is_none() && request.weight.is_none() {
        return Err(ApiError::Invalid(
            "nothing to change: give `status` and/or `weight`".to_string(),
        ));
    }
    let next = compare_and_set::<ApiError>(shared, request.generation, request.force, |current| {
        let mut servers = current.servers.clone();
        let server = servers
            .iter_mut()
            .find(|s| s.hostgroup == request.hostgroup && *s.address == *request.address)
            .ok_or_else(|| ApiError::NoSuchServer {
                hostgroup: request.hostgroup,
                address: request.address.clone(),
            })?;
        if let Some(status) = status {
            server.status = status;
        }
        if let Some(weight) = request.weight {
            server.weight = weight;
        }
        Ok(servers)
    })?;
    tracing::info!(
        generation = next.generation,
        hostgroup = request.hostgroup,
        address = %request.address,
        status = ?status.map(ServerStatus::as_str),
        weight = ?request.weight,
        "server changed through the control API"
    );
    Ok(json_response(
        StatusCode::OK,
        &TopologyDoc::of(&next, shared),
    ))
}

/// A PUT must leave the servers of a cluster that follows a source (Patroni) as they are
/// (their status and weight may change).
fn refuse_managed_changes(
    shared: &Shared,
    servers: &[(ServerEntry, Option<bool>)],
) -> Result<(), ApiError> {
    let rt = shared.runtime.load();
    let current = shared.topology.load();
    for cluster in rt.clusters.iter().filter(|c| c.patroni.is_some()) {
        let of_cluster = |s: &ServerEntry| {
            (s.hostgroup == cluster.writer_hostgroup || s.hostgroup == cluster.reader_hostgroup)
                .then(|| (s.hostgroup, s.address.clone()))
        };
        let now: BTreeSet<_> = current.servers.iter().filter_map(of_cluster).collect();
        let asked: BTreeSet<_> = servers.iter().filter_map(|(s, _)| of_cluster(s)).collect();
        if now != asked {
            return Err(ApiError::Managed {
                cluster: cluster.name.clone(),
                origin: sqlmux_proxy::sources::describe(cluster),
            });
        }
    }
    Ok(())
}

/// Checks a PUT document against the running runtime; returns each server with the `tls`
/// it asked for (`None`: keep the current setting).
fn validate_put(
    shared: &Shared,
    request: &PutRequest,
) -> Result<Vec<(ServerEntry, Option<bool>)>, ApiError> {
    let runtime = shared.runtime.load();
    let hostgroups: BTreeSet<u32> = runtime
        .clusters
        .iter()
        .flat_map(|c| [c.writer_hostgroup, c.reader_hostgroup])
        .collect();
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(request.servers.len());
    for (i, s) in request.servers.iter().enumerate() {
        let key = |field: &str| format!("servers[{i}].{field}");
        if !hostgroups.contains(&s.hostgroup) {
            let known: Vec<String> = hostgroups.iter().map(u32::to_string).collect();
            return Err(ApiError::Invalid(format!(
                "{}: hostgroup {} belongs to no cluster (known hostgroups: {})",
                key("hostgroup"),
                s.hostgroup,
                known.join(", ")
            )));
        }
        sqlmux_config::validate::check_address(&key("address"), &s.address).map_err(invalid)?;
        if !seen.insert((s.hostgroup, s.address.as_str())) {
            return Err(ApiError::Invalid(format!(
                "{}: server {} is listed twice in hostgroup {}",
                key("address"),
                s.address,
                s.hostgroup
            )));
        }
        let max_connections = s.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
        if max_connections == 0 {
            return Err(ApiError::Invalid(format!(
                "{}: must be at least 1",
                key("max_connections")
            )));
        }
        let status = match &s.status {
            None => ServerStatus::Online,
            Some(v) => parse_status(&key("status"), v)?,
        };
        out.push((
            ServerEntry {
                hostgroup: s.hostgroup,
                address: Arc::from(s.address.as_str()),
                weight: s.weight.unwrap_or(1),
                max_connections,
                status,
                tls: false,
            },
            s.tls,
        ));
    }
    Ok(out)
}

/// Whether the server at `address` is reached over TLS now (false for a new server).
fn current_tls(current: &Topology, address: &str) -> bool {
    current
        .servers
        .iter()
        .find(|s| *s.address == *address)
        .is_some_and(|s| s.tls)
}

fn parse_status(key: &str, value: &str) -> Result<ServerStatus, ApiError> {
    ServerStatus::parse(value).ok_or_else(|| {
        ApiError::Invalid(format!(
            "{key}: unknown status {value:?} (ONLINE, SHUNNED, OFFLINE_SOFT, OFFLINE_HARD)"
        ))
    })
}

/// A config validation error as an API error, without the `config:` prefix.
fn invalid(e: ConfigError) -> ApiError {
    match e {
        ConfigError::Invalid { key, problem } => ApiError::Invalid(format!("{key}: {problem}")),
        other => ApiError::Invalid(other.to_string()),
    }
}
