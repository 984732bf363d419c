//! The HTTP control API, driven over real sockets with raw HTTP/1.1 requests.

use serde_json::{json, Value};
use sqlmux_config::ServerStatus;
use sqlmux_proxy::control::{self, ControlSettings};
use sqlmux_proxy::shared::Shared;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const CONFIG: &str = include_str!("fixtures/control_api.toml");

struct Api {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: JoinHandle<()>,
    token: Option<String>,
}

impl Drop for Api {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Reply {
    status: u16,
    headers: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// A control API on a free port; without a `token` of the test's own, a default one (changes
/// need a token), sent by [`Api::call`].
async fn start(token: Option<&str>) -> Api {
    let token = Some(token.unwrap_or("test-token"));
    let runtime = sqlmux_config::parse(CONFIG).unwrap();
    let shared = Shared::new(runtime, None);
    // What `run` marks once every listener and task is up.
    shared
        .started
        .store(true, std::sync::atomic::Ordering::Release);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let settings = ControlSettings {
        token: token.map(str::to_string),
    };
    let task = tokio::spawn(control::serve(listener, shared.clone(), settings));
    Api {
        shared,
        addr,
        task,
        token: token.map(str::to_string),
    }
}

/// Sends one request on a fresh connection and reads the whole reply. The request is
/// written while the reply is read, and a write error is ignored: a server may answer (413)
/// and close before it has read all of a large body.
async fn raw(addr: SocketAddr, request: &[u8]) -> Reply {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let request = request.to_vec();
    let write = tokio::spawn(async move {
        let _ = writer.write_all(&request).await;
        writer
    });
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match reader.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                // A reset after the reply (unread request bytes) still leaves the reply read.
                Err(e) if !bytes.is_empty() => {
                    eprintln!("connection ended with {e} after the reply");
                    break;
                }
                Err(e) => panic!("reading the reply: {e}"),
            }
        }
    });
    read.await.expect("reply within 10 s");
    drop(write.await);
    let text = String::from_utf8(bytes).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete HTTP reply");
    let (status_line, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    Reply {
        status,
        headers: headers.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<&str>,
) -> Reply {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    if let Some(token) = auth {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || matches!(method, "PUT" | "PATCH" | "POST") {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body);
    raw(addr, request.as_bytes()).await
}

impl Api {
    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        let body = body.map(Value::to_string);
        send(
            self.addr,
            method,
            path,
            self.token.as_deref(),
            body.as_deref(),
        )
        .await
    }

    async fn topology(&self) -> Value {
        let reply = self.call("GET", "/v1/topology", None).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()
    }
}

fn writer_switch(generation: u64) -> Value {
    json!({
        "generation": generation,
        "servers": [
            {"hostgroup": 10, "address": "127.0.0.1:3307", "status": "ONLINE", "weight": 1, "max_connections": 50},
            {"hostgroup": 20, "address": "127.0.0.1:3306", "status": "ONLINE", "weight": 1, "max_connections": 50},
            {"hostgroup": 30, "address": "127.0.0.1:3308", "status": "ONLINE", "weight": 1, "max_connections": 100},
        ]
    })
}

#[tokio::test]
async fn get_topology_returns_the_document() {
    let api = start(None).await;
    let reply = api.call("GET", "/v1/topology", None).await;
    assert_eq!(reply.status, 200);
    assert!(reply.headers.contains("content-type: application/json"));
    assert_eq!(
        reply.json(),
        json!({
            "generation": 1,
            "servers": [
                {"hostgroup": 10, "address": "127.0.0.1:3306", "status": "ONLINE", "weight": 1, "max_connections": 50, "tls": false},
                {"hostgroup": 20, "address": "127.0.0.1:3307", "status": "ONLINE", "weight": 2, "max_connections": 100, "tls": false},
                {"hostgroup": 30, "address": "127.0.0.1:3308", "status": "ONLINE", "weight": 1, "max_connections": 100, "tls": false},
            ]
        })
    );
}

#[tokio::test]
async fn put_with_the_current_generation_swaps_and_bumps_it() {
    let api = start(None).await;
    let reply = api
        .call("PUT", "/v1/topology", Some(&writer_switch(1)))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let doc = reply.json();
    assert_eq!(doc["generation"], 2);
    assert_eq!(doc["servers"][0]["address"], "127.0.0.1:3307");
    assert_eq!(api.topology().await, doc);
    let live = api.shared.topology.load();
    assert_eq!(live.generation, 2);
    assert_eq!(&*live.pick(10).unwrap().address, "127.0.0.1:3307");
}

#[tokio::test]
async fn stale_put_is_a_conflict_and_changes_nothing() {
    let api = start(None).await;
    assert_eq!(
        api.call("PUT", "/v1/topology", Some(&writer_switch(1)))
            .await
            .status,
        200
    );
    let before = api.topology().await;
    let mut stale = writer_switch(1);
    stale["servers"][0]["status"] = json!("OFFLINE_HARD");
    let reply = api.call("PUT", "/v1/topology", Some(&stale)).await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    let err = reply.json();
    assert_eq!(err["error"], "generation_conflict");
    assert_eq!(err["current_generation"], 2);
    assert_eq!(api.topology().await, before);
    assert_eq!(api.shared.topology.load().generation, 2);
}

#[tokio::test]
async fn concurrent_puts_with_one_generation_let_exactly_one_win() {
    let api = Arc::new(start(None).await);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            api.call("PUT", "/v1/topology", Some(&writer_switch(1)))
                .await
                .status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409, 409, 409, 409, 409, 409, 409]);
    assert_eq!(api.shared.topology.load().generation, 2);
}

#[tokio::test]
async fn patch_status_is_visible_in_get_and_in_the_shared_snapshot() {
    let api = start(None).await;
    let patch = json!({"generation": 1, "hostgroup": 20, "address": "127.0.0.1:3307", "status": "OFFLINE_SOFT", "weight": 3});
    let reply = api
        .call("PATCH", "/v1/topology/servers", Some(&patch))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["generation"], 2);
    let doc = api.topology().await;
    assert_eq!(doc["generation"], 2);
    assert_eq!(doc["servers"][1]["status"], "OFFLINE_SOFT");
    assert_eq!(doc["servers"][1]["weight"], 3);
    let live = api.shared.topology.load();
    assert_eq!(live.servers[1].status, ServerStatus::OfflineSoft);
    assert_eq!(live.servers[1].weight, 3);
    assert!(live.pick(20).is_none());

    // The same generation again is stale.
    let reply = api
        .call("PATCH", "/v1/topology/servers", Some(&patch))
        .await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    // An unknown server is 404 and changes nothing.
    let unknown =
        json!({"generation": 2, "hostgroup": 20, "address": "127.0.0.1:9", "status": "ONLINE"});
    let reply = api
        .call("PATCH", "/v1/topology/servers", Some(&unknown))
        .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert_eq!(reply.json()["error"], "no_such_server");
    // A bad status is 400.
    let bad =
        json!({"generation": 2, "hostgroup": 20, "address": "127.0.0.1:3307", "status": "ASLEEP"});
    let reply = api.call("PATCH", "/v1/topology/servers", Some(&bad)).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(api.shared.topology.load().generation, 2);
}

#[tokio::test]
async fn invalid_puts_are_refused_naming_the_problem() {
    let api = start(None).await;
    let cases: [(&str, Value, &str); 5] = [
        (
            "servers[0].hostgroup",
            json!({"hostgroup": 99}),
            "belongs to no cluster",
        ),
        (
            "servers[0].address",
            json!({"address": "no-port"}),
            "bad address",
        ),
        (
            "servers[0].status",
            json!({"status": "SLEEPING"}),
            "unknown status",
        ),
        (
            "servers[0].max_connections",
            json!({"max_connections": 0}),
            "at least 1",
        ),
        (
            "servers[1].address",
            json!({"address": "127.0.0.1:3306", "hostgroup": 10}),
            "listed twice",
        ),
    ];
    for (key, change, problem) in cases {
        let mut doc = writer_switch(1);
        let index = if key.starts_with("servers[1]") { 1 } else { 0 };
        for (k, v) in change.as_object().unwrap() {
            doc["servers"][index][k] = v.clone();
        }
        if index == 1 {
            doc["servers"][0]["address"] = json!("127.0.0.1:3306");
        }
        let reply = api.call("PUT", "/v1/topology", Some(&doc)).await;
        assert_eq!(reply.status, 400, "{key}: {}", reply.body);
        let message = reply.json()["message"].as_str().unwrap().to_string();
        assert!(
            message.contains(key) && message.contains(problem),
            "{message}"
        );
    }
    assert_eq!(api.shared.topology.load().generation, 1);
    assert_eq!(api.topology().await["generation"], 1);
}

#[tokio::test]
async fn readyz_lists_a_cluster_whose_writer_went_offline_hard_and_stays_ready() {
    let api = start(None).await;
    let reply = api.call("GET", "/readyz", None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["ready"], true);

    let patch = json!({"generation": 1, "hostgroup": 10, "address": "127.0.0.1:3306", "status": "OFFLINE_HARD"});
    let reply = api
        .call("PATCH", "/v1/topology/servers", Some(&patch))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    // A failover does not make sqlmux unready (its writes are held): it is reported.
    let reply = api.call("GET", "/readyz", None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["ready"], true);
    assert_eq!(body["clusters_without_writer"], json!(["main"]));
}

#[tokio::test]
async fn healthz_answers_ok() {
    let api = start(None).await;
    let reply = api.call("GET", "/healthz", None).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok\n"));
}

#[tokio::test]
async fn the_bearer_token_is_enforced() {
    let api = start(Some("s3cret")).await;
    let without = send(api.addr, "GET", "/v1/topology", None, None).await;
    assert_eq!(without.status, 401, "{}", without.body);
    assert!(without.headers.contains("www-authenticate: bearer"));
    let wrong = send(api.addr, "GET", "/v1/topology", Some("nope"), None).await;
    assert_eq!(wrong.status, 401);
    let put = send(
        api.addr,
        "PUT",
        "/v1/topology",
        None,
        Some(&writer_switch(1).to_string()),
    )
    .await;
    assert_eq!(put.status, 401);
    assert_eq!(api.shared.topology.load().generation, 1);
    let with = send(api.addr, "GET", "/v1/topology", Some("s3cret"), None).await;
    assert_eq!(with.status, 200, "{}", with.body);
    // Liveness needs no token.
    assert_eq!(
        send(api.addr, "GET", "/healthz", None, None).await.status,
        200
    );
    assert_eq!(
        send(api.addr, "GET", "/metrics", None, None).await.status,
        401
    );
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let api = start(None).await;
    let reply = api.call("GET", "/metrics", None).await;
    assert_eq!(reply.status, 200);
    assert!(reply.headers.contains("content-type: text/plain"));
    let samples = parse_prometheus(&reply.body);
    let find = |name: &str, labels: &[&str]| {
        samples
            .iter()
            .find(|(n, l, _)| n == name && labels.iter().all(|x| l.contains(x)))
            .map(|(_, _, v)| *v)
            .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{}", reply.body))
    };
    assert_eq!(find("sqlmux_topology_generation", &[]), 1.0);
    let server = [r#"hostgroup="10""#, r#"address="127.0.0.1:3306""#];
    let with = |extra: &'static str| {
        let mut l = server.to_vec();
        l.push(extra);
        l
    };
    assert_eq!(
        find("sqlmux_backend_connections", &with(r#"state="in_use""#)),
        0.0
    );
    assert_eq!(
        find("sqlmux_backend_connections", &with(r#"state="idle""#)),
        0.0
    );
    assert_eq!(
        find("sqlmux_backend_connects_total", &with(r#"result="ok""#)),
        0.0
    );
    assert_eq!(
        find("sqlmux_backend_connects_total", &with(r#"result="failed""#)),
        0.0
    );
    assert_eq!(
        find("sqlmux_backend_connections_closed_total", &server),
        0.0
    );
    assert_eq!(find("sqlmux_pool_reuses_total", &server), 0.0);
    assert_eq!(find("sqlmux_pool_wait_timeouts_total", &server), 0.0);
    assert_eq!(
        find("sqlmux_server_status", &with(r#"status="ONLINE""#)),
        1.0
    );
    assert_eq!(
        find("sqlmux_server_status", &with(r#"status="OFFLINE_HARD""#)),
        0.0
    );

    // A change shows at the next scrape.
    let patch = json!({"generation": 1, "hostgroup": 10, "address": "127.0.0.1:3306", "status": "OFFLINE_HARD"});
    assert_eq!(
        api.call("PATCH", "/v1/topology/servers", Some(&patch))
            .await
            .status,
        200
    );
    let body = api.call("GET", "/metrics", None).await.body;
    let samples = parse_prometheus(&body);
    let value = |name: &str, labels: &[&str]| {
        samples
            .iter()
            .find(|(n, l, _)| n == name && labels.iter().all(|x| l.contains(x)))
            .map(|(_, _, v)| *v)
    };
    assert_eq!(value("sqlmux_topology_generation", &[]), Some(2.0));
    assert_eq!(
        value("sqlmux_server_status", &with(r#"status="OFFLINE_HARD""#)),
        Some(1.0)
    );
    assert_eq!(
        value("sqlmux_server_status", &with(r#"status="ONLINE""#)),
        Some(0.0)
    );
}

/// Parses Prometheus text: every non-comment line is `name{labels} value`; returns
/// (name, labels text, value).
fn parse_prometheus(text: &str) -> Vec<(String, String, f64)> {
    let mut samples = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value in {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("value is no float in {line:?}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let labels = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
                for pair in labels.split(',') {
                    let (k, v) = pair
                        .split_once('=')
                        .unwrap_or_else(|| panic!("bad label {pair:?} in {line:?}"));
                    assert!(valid_name(k), "bad label name in {line:?}");
                    assert!(
                        v.len() >= 2 && v.starts_with('"') && v.ends_with('"'),
                        "unquoted label value in {line:?}"
                    );
                }
                (name, labels)
            }
            None => (series, ""),
        };
        assert!(valid_name(name), "bad metric name in {line:?}");
        assert!(name.starts_with("sqlmux_"), "{line:?}");
        samples.push((name.to_string(), labels.to_string(), value));
    }
    assert!(!samples.is_empty());
    samples
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[tokio::test]
async fn routing_and_body_errors() {
    let api = start(None).await;
    let reply = api.call("GET", "/v1/nothing", None).await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"], "not_found");
    let reply = api.call("DELETE", "/v1/topology", None).await;
    assert_eq!(reply.status, 405);
    assert!(reply.headers.contains("allow: get, head, put"));
    let reply = api.call("POST", "/metrics", None).await;
    assert_eq!(reply.status, 405);

    let reply = send(
        api.addr,
        "PUT",
        "/v1/topology",
        api.token.as_deref(),
        Some("{\"generation\": 1,"),
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let err = reply.json();
    assert_eq!(err["error"], "bad_json");
    assert!(err["message"].as_str().unwrap().contains("EOF"), "{err}");
    let reply = send(
        api.addr,
        "PUT",
        "/v1/topology",
        api.token.as_deref(),
        Some("{\"servers\": []}"),
    )
    .await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("missing field"), "{}", reply.body);

    // Declared too large: refused before the body is read.
    let request = "PUT /v1/topology HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
                   Authorization: Bearer test-token\r\nContent-Length: 2097152\r\n\r\n";
    let reply = raw(api.addr, request.as_bytes()).await;
    assert_eq!(reply.status, 413, "{}", reply.body);

    // Chunked, growing past 1 MiB: cut off at the limit.
    let mut request = b"PUT /v1/topology HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
                        Authorization: Bearer test-token\r\nTransfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..16 {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(&chunk);
        request.extend_from_slice(b"\r\n");
    }
    // One byte past the limit.
    request.extend_from_slice(b"1\r\n \r\n");
    request.extend_from_slice(b"0\r\n\r\n");
    let reply = raw(api.addr, &request).await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert_eq!(api.shared.topology.load().generation, 1);

    // Garbage instead of HTTP never takes the server down.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let mut s = TcpStream::connect(api.addr).await.unwrap();
        let _ = s.write_all(b"\x00\x01\x02 not http\r\n\r\n").await;
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink).await;
    })
    .await;
    assert_eq!(api.call("GET", "/healthz", None).await.status, 200);
}

#[tokio::test]
async fn keep_alive_serves_several_requests_and_abort_closes_connections() {
    let api = start(None).await;
    let mut stream = TcpStream::connect(api.addr).await.unwrap();
    for _ in 0..3 {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.ends_with("ok\n"), "{text}");
    }
    api.task.abort();
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("the connection is closed when serve is aborted");
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
}
