//! The control plane over HTTP (hyper), kept out of the data path crate: the control API on
//! `listen.http` (topology with generation fencing, health, metrics) and the clients that
//! follow topology sources (etcd, Patroni REST).
//!
//!
//! | method         | path                    | what                                            |
//! |----------------|-------------------------|-------------------------------------------------|
//! | GET            | `/v1/topology`          | the topology document                           |
//! | PUT            | `/v1/topology`          | replace it (compare-and-set on `generation`)    |
//! | PATCH          | `/v1/topology/servers`  | one server's `status` / `weight` (same fencing) |
//! | GET            | `/healthz`              | `ok` while the process serves (no token needed) |
//! | GET            | `/readyz`               | 200 while serving (no token needed)             |
//! | GET            | `/metrics`              | Prometheus text                                 |
//! | POST           | `/v1/clusters/{name}/hold`    | hold the cluster's writer-bound statements |
//! | POST           | `/v1/clusters/{name}/release` | end that hold                              |
//! | POST           | `/v1/clusters/{name}/writer`  | make one server the writer (hooks)         |
//!
//! - [`serve`]: the accept loop; each connection is a hyper HTTP/1.1 task owned by the
//!   `serve` future, so aborting it closes them all.
//! - `topology_api`: the document, its validation, the compare-and-set publication.
//! - `hold_api`: explicit failover holds.
//! - `writer_api`: an orchestrator hook sets a cluster's writer in one request.
//! - `health`: liveness and readiness.
//! - `metrics`: Prometheus text from the live counters, without a global recorder.
//! - `body`: bounded request bodies (1 MiB) and JSON / text responses.
//! - `error`: [`ApiError`], each mapped to its HTTP status in one place.
//! - [`sources`]: the clients that follow Patroni (etcd watch, REST) and publish its view.

mod body;
mod error;
mod health;
mod hold_api;
mod metrics;
pub mod sources;
mod topology_api;
mod writer_api;

pub use body::MAX_BODY;
pub use error::ApiError;
pub use metrics::render as render_metrics;

use body::Response;
use hyper::body::{Body, Incoming};
use hyper::header::{HeaderMap, AUTHORIZATION};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request};
use hyper_util::rt::{TokioIo, TokioTimer};
use sqlmux_proxy::shared::Shared;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Most control connections served at once; further ones wait in the listen backlog.
const MAX_CONNECTIONS: usize = 256;

/// Longest time a client may take to send a request's headers (also bounds idle
/// keep-alive connections).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How the control API is served.
#[derive(Clone, Default)]
pub struct ControlSettings {
    /// When set, every request except `GET /healthz` and `GET /readyz` must carry
    /// `Authorization: Bearer <token>` (else 401). An empty token matches nothing. `None`:
    /// the running runtime's `control_token`, read per request.
    pub token: Option<String>,
}

impl std::fmt::Debug for ControlSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlSettings")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// What every request handler sees.
struct Control {
    shared: Arc<Shared>,
    settings: ControlSettings,
}

/// Serves the control API on `listener` until the task running it is aborted (or the
/// future dropped), which also closes every connection it serves.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, settings: ControlSettings) {
    if settings.token.as_deref() == Some("") {
        tracing::warn!("control API token is empty: every request but /healthz is refused");
    }
    tracing::info!(address = ?listener.local_addr().ok(), "control API up");
    let control = Arc::new(Control { shared, settings });
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept(), if connections.len() < MAX_CONNECTIONS => {
                match accepted {
                    Ok((stream, _peer)) => {
                        connections.spawn(serve_connection(stream, control.clone()));
                    }
                    Err(e) => {
                        // Out of descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "control API accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, control: Arc<Control>) {
    let service = service_fn(move |request: Request<Incoming>| {
        let control = control.clone();
        async move { Ok::<_, Infallible>(control.handle(request).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(e) = connection.await {
        tracing::debug!(error = %e, "control API connection ended");
    }
}

impl Control {
    async fn handle<B>(&self, request: Request<B>) -> Response
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let response = match self.route(request).await {
            Ok(response) => response,
            Err(e) => {
                tracing::debug!(%method, %path, error = %e, "control API request refused");
                e.into_response()
            }
        };
        tracing::trace!(%method, %path, status = response.status().as_u16(), "control API");
        response
    }

    async fn route<B>(&self, request: Request<B>) -> Result<Response, ApiError>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path();
        let method = &parts.method;
        let is_get = method == Method::GET || method == Method::HEAD;
        // The probes answer without the token (a kubelet has none).
        if !(matches!(path, "/healthz" | "/readyz") && is_get) {
            self.authorize(&parts.headers, is_get)?;
        }
        let not_allowed = |allow: &'static str| ApiError::MethodNotAllowed {
            method: method.to_string(),
            path: path.to_string(),
            allow,
        };
        match path {
            "/healthz" if is_get => Ok(health::healthz()),
            "/healthz" => Err(not_allowed("GET, HEAD")),
            "/readyz" if is_get => Ok(health::readyz(&self.shared)),
            "/readyz" => Err(not_allowed("GET, HEAD")),
            "/metrics" if is_get => Ok(metrics::scrape(&self.shared)),
            "/metrics" => Err(not_allowed("GET, HEAD")),
            "/v1/topology" if is_get => Ok(topology_api::get(&self.shared)),
            "/v1/topology" if method == Method::PUT => {
                let request = body::read_json(&parts.headers, body).await?;
                topology_api::put(&self.shared, request)
            }
            "/v1/topology" => Err(not_allowed("GET, HEAD, PUT")),
            "/v1/topology/servers" if method == Method::PATCH => {
                let request = body::read_json(&parts.headers, body).await?;
                topology_api::patch(&self.shared, request)
            }
            "/v1/topology/servers" => Err(not_allowed("PATCH")),
            other => match other
                .strip_prefix("/v1/clusters/")
                .and_then(|rest| rest.rsplit_once('/'))
            {
                Some((name, "hold")) if method == Method::POST => {
                    let bytes = body::read_limited(&parts.headers, body, MAX_BODY).await?;
                    let request = if bytes.iter().all(u8::is_ascii_whitespace) {
                        hold_api::HoldRequest::default()
                    } else {
                        serde_json::from_slice(&bytes)
                            .map_err(|e| ApiError::BadJson(e.to_string()))?
                    };
                    hold_api::hold(&self.shared, name, request).await
                }
                Some((name, "release")) if method == Method::POST => {
                    hold_api::release(&self.shared, name)
                }
                Some((name, "writer")) if method == Method::POST => {
                    let request = body::read_json(&parts.headers, body).await?;
                    writer_api::set_writer(&self.shared, name, request)
                }
                Some((_, "hold" | "release" | "writer")) => Err(not_allowed("POST")),
                _ => Err(ApiError::NotFound(other.to_string())),
            },
        }
    }

    /// Checks `Authorization: Bearer <token>` when a token is configured: the settings'
    /// own, else the running runtime's (so a rotated `token_file` applies at once). Without
    /// any token only reads pass (`read`): nobody may change the topology unauthenticated.
    fn authorize(&self, headers: &HeaderMap, read: bool) -> Result<(), ApiError> {
        let expected = match &self.settings.token {
            Some(t) => t.clone(),
            None => match self.shared.runtime.load().control_token.clone() {
                Some(t) => t,
                None if read => return Ok(()),
                None => return Err(ApiError::ReadOnly),
            },
        };
        let given = headers
            .get(AUTHORIZATION)
            .map(|v| v.as_bytes())
            .and_then(|v| {
                let (scheme, token) = v.split_at_checked(7)?;
                scheme.eq_ignore_ascii_case(b"bearer ").then_some(token)
            });
        match given {
            Some(token) if !expected.is_empty() && constant_time_eq(token, expected.as_bytes()) => {
                Ok(())
            }
            _ => Err(ApiError::Unauthorized),
        }
    }
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper::StatusCode;

    /// The token tests get when they name none (changes need one); `call` sends it.
    use sqlmux_proxy::test_fixtures::ONE_CLUSTER;

    const TEST_TOKEN: &str = "test-token";

    fn control(token: Option<&str>) -> Control {
        let token = Some(token.unwrap_or(TEST_TOKEN));
        let runtime = sqlmux_config::parse(&format!(
            r#"
{ONE_CLUSTER}[[servers]]
hostgroup = 1
address = "127.0.0.1:1"
"#
        ))
        .unwrap();
        let shared = Shared::new(runtime, None);
        shared
            .started
            .store(true, std::sync::atomic::Ordering::Release);
        Control {
            shared,
            settings: ControlSettings {
                token: token.map(str::to_string),
            },
        }
    }

    async fn call(
        c: &Control,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: &str,
    ) -> (StatusCode, String) {
        let mut request = Request::builder().method(method).uri(path);
        let default = format!("Bearer {TEST_TOKEN}");
        let auth = auth.or((c.settings.token.as_deref() == Some(TEST_TOKEN)).then_some(&default));
        if let Some(a) = auth {
            request = request.header(AUTHORIZATION, a);
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        let response = c.handle(request).await;
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn bearer_scheme_is_case_insensitive_and_the_token_exact() {
        let c = control(Some("s3cret"));
        assert_eq!(
            call(&c, "GET", "/v1/topology", Some("bearer s3cret"), "")
                .await
                .0,
            StatusCode::OK
        );
        assert_eq!(
            call(&c, "GET", "/v1/topology", Some("Bearer s3cre"), "")
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            call(&c, "GET", "/v1/topology", Some("Basic s3cret"), "")
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            call(&c, "GET", "/v1/topology", Some("Bearer"), "").await.0,
            StatusCode::UNAUTHORIZED
        );
        for probe in ["/healthz", "/readyz"] {
            assert_eq!(
                call(&c, "GET", probe, None, "").await.0,
                StatusCode::OK,
                "{probe} needs no token"
            );
        }
        // The token hides which paths exist.
        assert_eq!(
            call(&c, "GET", "/nope", None, "").await.0,
            StatusCode::UNAUTHORIZED
        );
    }

    #[tokio::test]
    async fn without_a_token_the_api_answers_reads_only() {
        let mut c = control(None);
        c.settings.token = None;
        assert_eq!(
            call(&c, "GET", "/v1/topology", None, "").await.0,
            StatusCode::OK
        );
        assert_eq!(
            call(&c, "GET", "/metrics", None, "").await.0,
            StatusCode::OK
        );
        let (status, body) = call(&c, "POST", "/v1/clusters/c/hold", None, "").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains("read_only_without_token"), "{body}");
        assert!(!c.shared.failover.may_hold(), "nothing was held");
    }

    #[tokio::test]
    async fn an_empty_token_matches_nothing() {
        let c = control(Some(""));
        assert_eq!(
            call(&c, "GET", "/v1/topology", Some("Bearer "), "").await.0,
            StatusCode::UNAUTHORIZED
        );
    }

    #[tokio::test]
    async fn routing_errors() {
        let c = control(None);
        assert_eq!(
            call(&c, "GET", "/v2/topology", None, "").await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&c, "DELETE", "/v1/topology", None, "").await.0,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            call(&c, "GET", "/v1/topology/servers", None, "").await.0,
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            call(&c, "POST", "/healthz", None, "").await.0,
            StatusCode::METHOD_NOT_ALLOWED
        );
        let (status, body) = call(&c, "PUT", "/v1/topology", None, "[1,").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("bad_json"), "{body}");
        let (status, body) = call(
            &c,
            "PUT",
            "/v1/topology",
            None,
            r#"{"generation":1,"servers":[],"x":1}"#,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("unknown field"), "{body}");
    }

    #[tokio::test]
    async fn patch_without_a_change_is_refused() {
        let c = control(None);
        let (status, body) = call(
            &c,
            "PATCH",
            "/v1/topology/servers",
            None,
            r#"{"generation":1,"hostgroup":1,"address":"127.0.0.1:1"}"#,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(c.shared.topology.load().generation, 1);
    }

    #[tokio::test]
    async fn a_second_writer_change_too_soon_needs_force() {
        let c = control(None);
        let put = |generation: u64, writer: &str, force: bool| {
            format!(
                r#"{{"generation":{generation},"force":{force},"servers":[{{"hostgroup":1,"address":"{writer}"}}]}}"#
            )
        };
        let (status, body) = call(
            &c,
            "PUT",
            "/v1/topology",
            None,
            &put(1, "127.0.0.1:5", false),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = call(
            &c,
            "PUT",
            "/v1/topology",
            None,
            &put(2, "127.0.0.1:1", false),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(body.contains("writer_change_too_soon"), "{body}");
        assert_eq!(c.shared.topology.load().generation, 2, "nothing changed");
        let (status, body) = call(
            &c,
            "PUT",
            "/v1/topology",
            None,
            &put(2, "127.0.0.1:1", true),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    #[tokio::test]
    async fn readiness_follows_start_and_shutdown_not_failovers() {
        let c = control(None);
        let (status, body) = call(&c, "GET", "/readyz", None, "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        // A cluster on hold is reported, not unready.
        c.shared.failover.hold(1, std::time::Duration::from_secs(5));
        let (status, body) = call(&c, "GET", "/readyz", None, "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("\"clusters_held\":[\"c\"]"), "{body}");
        c.shared.drain.begin();
        let (status, body) = call(&c, "GET", "/readyz", None, "").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body.contains("\"shutting_down\":true"), "{body}");
        let starting = Control {
            shared: Shared::new(c.shared.runtime.load_full().as_ref().clone(), None),
            settings: ControlSettings { token: None },
        };
        let (status, body) = call(&starting, "GET", "/readyz", None, "").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body.contains("\"starting\":true"), "{body}");
    }

    #[tokio::test]
    async fn a_hook_sets_the_writer_in_one_request() {
        let c = control(None);
        let path = "/v1/clusters/c/writer";
        let (status, body) = call(&c, "POST", path, None, r#"{"address": "127.0.0.1:2"}"#).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("\"generation\":2"), "{body}");
        let topology = c.shared.topology.load();
        let writers: Vec<&str> = topology
            .servers
            .iter()
            .filter(|s| s.hostgroup == 1)
            .map(|s| &*s.address)
            .collect();
        assert_eq!(writers, vec!["127.0.0.1:2"], "the old writer is dropped");
        // Back at once: anti-flapping asks for force.
        let back = r#"{"address": "127.0.0.1:1"}"#;
        assert_eq!(
            call(&c, "POST", path, None, back).await.0,
            StatusCode::CONFLICT
        );
        let forced = r#"{"address": "127.0.0.1:1", "force": true}"#;
        assert_eq!(call(&c, "POST", path, None, forced).await.0, StatusCode::OK);
        let bad = r#"{"address": "nowhere"}"#;
        assert_eq!(
            call(&c, "POST", path, None, bad).await.0,
            StatusCode::BAD_REQUEST
        );
        let unknown = "/v1/clusters/nope/writer";
        assert_eq!(
            call(&c, "POST", unknown, None, back).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            call(&c, "GET", path, None, "").await.0,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[tokio::test]
    async fn tls_is_kept_when_a_put_omits_it() {
        let c = control(None);
        let mut t = (*c.shared.topology.load_full()).clone();
        t.servers[0].tls = true;
        c.shared.topology.store(Arc::new(t));
        let (status, body) = call(
            &c,
            "PUT",
            "/v1/topology",
            None,
            r#"{"generation":1,"servers":[{"hostgroup":1,"address":"127.0.0.1:1"},{"hostgroup":2,"address":"127.0.0.1:2"}]}"#,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let t = c.shared.topology.load();
        assert_eq!(t.generation, 2);
        assert!(t.servers[0].tls);
        assert!(!t.servers[1].tls);
        assert_eq!(t.servers[1].max_connections, 100);
    }

    #[test]
    fn constant_time_eq_compares_whole_slices() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
