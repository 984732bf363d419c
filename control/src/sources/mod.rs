//! Topology sources followed: a cluster with `patroni = { etcd = [...] }` follows its
//! Patroni cluster through etcd: its state is read once, then watched (etcd v3 watch, not
//! polling). A `failover` key starts a hold on the cluster at once; a new leader is published
//! as a new topology generation (through the same compare-and-set as the control API) and
//! releases the hold onto it. etcd unreachable: the last topology stays, the source says so
//! (`GET /v1/topology`, `/readyz`, `/metrics`, the log) and reconnects with backoff, reading
//! the whole state again before watching (no change is missed).
//!
//! - [`etcd`]: the etcd v3 JSON-gateway client (range, watch).
//! - [`http`]: the HTTP/1.1 requests sources send (etcd gateway, Patroni REST).
//! - [`promotion`]: a new leader asked directly whether its promotion is over.

pub mod etcd;
pub mod http;
pub mod promotion;

use sqlmux_config::runtime::{PatroniSource, PatroniStore};
use sqlmux_proxy::shared::Shared;
use sqlmux_proxy::sources::{patroni, publish};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Longest wait between two attempts to reach a store.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Follows every cluster's source until dropped; a source added, changed or removed by a
/// reload is started, restarted or stopped within a second.
pub async fn run(shared: Arc<Shared>) {
    let mut running: HashMap<String, (PatroniSource, tokio::task::AbortHandle)> = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let rt = shared.runtime.load_full();
        running.retain(|name, (source, task)| {
            let same = rt
                .cluster(name)
                .and_then(|c| c.patroni.as_ref())
                .is_some_and(|s| s == source);
            if !same {
                task.abort();
                shared.sources.remove(name);
            }
            same
        });
        for cluster in &rt.clusters {
            let Some(source) = &cluster.patroni else {
                continue;
            };
            if running.contains_key(&cluster.name) {
                continue;
            }
            let task = match &source.store {
                PatroniStore::Etcd(endpoints) => tasks.spawn(follow_etcd(
                    shared.clone(),
                    cluster.name.clone(),
                    etcd::Etcd::new(endpoints.clone()),
                    source.prefix(),
                )),
                PatroniStore::Rest {
                    endpoints,
                    interval,
                } => tasks.spawn(follow_rest(
                    shared.clone(),
                    cluster.name.clone(),
                    endpoints.clone(),
                    *interval,
                )),
            };
            running.insert(cluster.name.clone(), (source.clone(), task));
        }
        // Reap finished tasks (they only end when aborted).
        while tasks.try_join_next().is_some() {}
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Reads and watches one cluster's Patroni state in etcd, forever, reconnecting with
/// backoff.
async fn follow_etcd(shared: Arc<Shared>, cluster: String, etcd: etcd::Etcd, prefix: String) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let error = watch_session(&shared, &cluster, &etcd, &prefix, &mut backoff).await;
        unreachable(&shared, &cluster, &error.to_string());
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Polls one cluster's Patroni REST API (`GET /cluster` of the first endpoint that answers)
/// every `interval`, forever. A poll cannot see a switch coming (no `failover` key): writes
/// are held from when the leader changes, not from when the switch is asked for.
async fn follow_rest(
    shared: Arc<Shared>,
    cluster: String,
    endpoints: Vec<String>,
    interval: Duration,
) {
    let mut confirmed = None;
    loop {
        match rest_view(&endpoints).await {
            Ok(view) => {
                let mut view = settled(view, &mut confirmed);
                if let Some(leader) = view.promoting.clone() {
                    if promotion::is_primary(&leader.api_url).await {
                        confirmed = Some(leader.address);
                        view = view.promoted();
                    }
                }
                reachable(&shared, &cluster, 0);
                publish::apply(&shared, &cluster, &view, 0);
            }
            Err(error) => unreachable(&shared, &cluster, &error.to_string()),
        }
        tokio::time::sleep(interval).await;
    }
}

/// The view from the first REST endpoint that answers `GET /cluster`.
async fn rest_view(endpoints: &[String]) -> Result<patroni::PatroniView, http::Unreachable> {
    let mut last = http::unreachable("-", "no endpoint configured");
    for endpoint in endpoints {
        let url = format!("{}/cluster", endpoint.trim_end_matches('/'));
        match http::get_json(&url).await {
            Ok(doc) => return Ok(patroni::view_of_cluster(&doc)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Records that the cluster's store answers (at `revision`), logging when it did not.
fn reachable(shared: &Shared, cluster: &str, revision: i64) {
    let mut state = shared.sources.entry(cluster.to_string()).or_default();
    if !state.connected {
        tracing::info!(%cluster, revision, "topology source: following Patroni");
    }
    state.connected = true;
    state.last_error = None;
}

/// Records that the cluster's store cannot be reached, logging it once per error.
fn unreachable(shared: &Shared, cluster: &str, error: &str) {
    let mut state = shared.sources.entry(cluster.to_string()).or_default();
    if state.connected || state.last_error.as_deref() != Some(error) {
        tracing::warn!(%cluster, %error, "topology source: Patroni's store unreachable; the last topology stays");
    }
    state.connected = false;
    state.last_error = Some(error.to_string());
}

/// One connection's worth: the whole state, then its changes until the watch fails.
async fn watch_session(
    shared: &Shared,
    cluster: &str,
    etcd: &etcd::Etcd,
    prefix: &str,
    backoff: &mut Duration,
) -> etcd::EtcdError {
    let (revision, mut keys) = match etcd.range(prefix).await {
        Ok(state) => state,
        Err(e) => return e,
    };
    let mut watch = match etcd.watch(prefix, revision + 1).await {
        Ok(w) => w,
        Err(e) => return e,
    };
    *backoff = Duration::from_millis(100);
    reachable(shared, cluster, revision);
    let mut revision = revision;
    let mut confirmed = None;
    let mut view = settled(patroni::view(&keys), &mut confirmed);
    publish::apply(shared, cluster, &view, revision);
    loop {
        let next = match view.promoting.clone() {
            Some(leader) => tokio::select! {
                changes = watch.next() => changes,
                () = promotion::promoted(&leader.api_url) => {
                    tracing::info!(%cluster, leader = %leader.address, "topology source: the new leader's promotion is over");
                    confirmed = Some(leader.address);
                    view = view.promoted();
                    publish::apply(shared, cluster, &view, revision);
                    continue;
                }
            },
            None => watch.next().await,
        };
        let changes = match next {
            Ok(c) => c,
            Err(e) => return e,
        };
        for change in changes.changes {
            match change {
                etcd::Change::Put(key, value) => keys.insert(key, value),
                etcd::Change::Delete(key) => keys.remove(&key),
            };
        }
        revision = changes.revision;
        view = settled(patroni::view(&keys), &mut confirmed);
        publish::apply(shared, cluster, &view, revision);
    }
}

/// The view with a promoting leader taken as the writer once it said it is the primary
/// (Patroni's own entry may say so a second later). `confirmed` is forgotten once another
/// member (or none) leads.
fn settled(view: patroni::PatroniView, confirmed: &mut Option<String>) -> patroni::PatroniView {
    let leader = view
        .promoting
        .as_ref()
        .map(|p| &p.address)
        .or(view.writer.as_ref());
    if leader != confirmed.as_ref() {
        *confirmed = None;
    }
    if view.promoting.is_some() && confirmed.is_some() {
        view.promoted()
    } else {
        view
    }
}

#[cfg(test)]
mod tests {
    use super::settled;
    use sqlmux_proxy::sources::patroni::{PatroniView, Promoting};

    fn promoting(address: &str) -> PatroniView {
        PatroniView {
            promoting: Some(Promoting {
                address: address.into(),
                api_url: format!("http://{address}/patroni"),
            }),
            ..PatroniView::default()
        }
    }

    #[test]
    fn a_confirmed_leader_stays_the_writer_until_another_leads() {
        let mut confirmed = None;
        assert_eq!(settled(promoting("a:1"), &mut confirmed).writer, None);
        confirmed = Some("a:1".to_string());
        let v = settled(promoting("a:1"), &mut confirmed);
        assert_eq!((v.writer.as_deref(), v.promoting), (Some("a:1"), None));
        // Another leader: asked again, and `a:1` is forgotten.
        assert_eq!(settled(promoting("b:1"), &mut confirmed).writer, None);
        assert_eq!(confirmed, None);
        assert_eq!(settled(promoting("a:1"), &mut confirmed).writer, None);
    }
}
