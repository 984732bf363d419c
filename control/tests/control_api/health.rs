//! The control API's health, token and metrics endpoints, its routing and body errors, keep-alive.

use super::*;

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
        sample(&samples, name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{}", reply.body))
    };
    assert_eq!(find("sqlmux_topology_generation", &[]), 1.0);
    let server = [r#"hostgroup="10""#, r#"address="127.0.0.1:3306""#];
    let with = |extra: &'static str| {
        let mut l = server.to_vec();
        l.push(extra);
        l
    };
    // The server's series: (name, the label besides the server's, value).
    for (name, label, want) in [
        ("sqlmux_backend_connections", Some(r#"state="in_use""#), 0.0),
        ("sqlmux_backend_connections", Some(r#"state="idle""#), 0.0),
        ("sqlmux_backend_connects_total", Some(r#"result="ok""#), 0.0),
        (
            "sqlmux_backend_connects_total",
            Some(r#"result="failed""#),
            0.0,
        ),
        ("sqlmux_backend_connections_closed_total", None, 0.0),
        ("sqlmux_pool_reuses_total", None, 0.0),
        ("sqlmux_pool_wait_timeouts_total", None, 0.0),
        ("sqlmux_server_status", Some(r#"status="ONLINE""#), 1.0),
        (
            "sqlmux_server_status",
            Some(r#"status="OFFLINE_HARD""#),
            0.0,
        ),
    ] {
        let labels = label.map_or_else(|| server.to_vec(), with);
        assert_eq!(find(name, &labels), want, "{name} {labels:?}");
    }

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
    let value = |name: &str, labels: &[&str]| sample(&samples, name, labels);
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

/// The value of the first sample named `name` whose labels contain all of `labels`.
fn sample(samples: &[(String, String, f64)], name: &str, labels: &[&str]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| n == name && labels.iter().all(|x| l.contains(x)))
        .map(|(_, _, v)| *v)
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
