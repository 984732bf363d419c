//! The HTTP control API, driven over real sockets with raw HTTP/1.1 requests.

use serde_json::{json, Value};
use sqlmux_config::ServerStatus;
use sqlmux_control::{self as control, ControlSettings};
use sqlmux_proxy::shared::Shared;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[path = "control_api/health.rs"]
mod health;

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
