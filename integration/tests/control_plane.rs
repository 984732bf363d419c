//! The control API steers a running sqlmux: a writer switch through PUT /v1/topology
//! under load gives no client errors and sends every later write to the new writer;
//! stale generations get 409; OFFLINE_HARD ends sessions pinned to the server.

use sqlmux_integration::proxy::topology_generation as generation;
use sqlmux_integration::raw_mysql::RawClient;
use sqlmux_integration::{mysql_config_listening, MariaDb, Proxy};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn config(writer: &str) -> String {
    mysql_config_listening(writer, "http = \"127.0.0.1:0\"", "")
}

fn topology_doc(generation: u64, writer: &str, status: &str) -> String {
    format!(
        r#"{{"generation": {generation}, "servers": [{{"hostgroup": 10, "address": "{writer}", "status": "{status}", "weight": 1, "max_connections": 20}}]}}"#
    )
}

#[test]
fn writer_switch_under_load_without_client_errors() {
    let a = MariaDb::start().unwrap();
    let b = MariaDb::start().unwrap();
    for db in [&a, &b] {
        db.root_sql(
            "CREATE TABLE sqlmux_test.w (id INT AUTO_INCREMENT PRIMARY KEY, phase VARCHAR(10))",
        )
        .unwrap();
    }
    let proxy = Proxy::start(&config(&a.addr())).unwrap();
    let port = proxy.mysql_port();
    let (status, body) = proxy.http("GET", "/v1/topology", None).unwrap();
    assert_eq!(status, 200, "{body}");
    let g = generation(&body);

    let stop = Arc::new(AtomicBool::new(false));
    let switched = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let writes = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..6)
        .map(|_| {
            let (stop, switched, errors, writes) = (
                stop.clone(),
                switched.clone(),
                errors.clone(),
                writes.clone(),
            );
            std::thread::spawn(move || {
                let (mut c, _) =
                    RawClient::login(port, "app", "apppw", Some("sqlmux_test")).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let phase = if switched.load(Ordering::Relaxed) {
                        "after"
                    } else {
                        "before"
                    };
                    for sql in [
                        format!("INSERT INTO w (phase) VALUES ('{phase}')"),
                        "SELECT COUNT(*) FROM w".into(),
                    ] {
                        match c.query(&sql) {
                            Ok(Ok(_)) => {
                                writes.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => {
                                errors.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let (stale, _) = proxy
        .http(
            "PUT",
            "/v1/topology",
            Some(&topology_doc(g + 5, &b.addr(), "ONLINE")),
        )
        .unwrap();
    assert_eq!(stale, 409, "a stale generation is refused");
    let (status, body) = proxy
        .http(
            "PUT",
            "/v1/topology",
            Some(&topology_doc(g, &b.addr(), "ONLINE")),
        )
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(generation(&body), g + 1);
    switched.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(errors.load(Ordering::Relaxed), 0, "no client saw an error");
    assert!(writes.load(Ordering::Relaxed) > 50);
    let on_a = a
        .root_sql("SELECT COUNT(*) FROM sqlmux_test.w WHERE phase = 'after'")
        .unwrap();
    let on_b = b
        .root_sql("SELECT COUNT(*) FROM sqlmux_test.w WHERE phase = 'after'")
        .unwrap();
    assert_eq!(
        on_a, "0",
        "no write after the switch landed on the old writer"
    );
    assert!(
        on_b.parse::<u64>().unwrap() > 0,
        "writes after the switch landed on the new writer"
    );
    let (status, metrics) = proxy.http("GET", "/metrics", None).unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.contains(&format!("sqlmux_topology_generation {}", g + 1)),
        "{metrics}"
    );
}

#[test]
fn offline_hard_ends_pinned_sessions_with_a_clear_error() {
    let a = MariaDb::start().unwrap();
    // Writer-bound statements are held while no writer is ONLINE: briefly, here.
    let config = config(&a.addr()).replace(
        "[[users]]",
        "[failover]\nhold_timeout_ms = 200\n\n[[users]]",
    );
    let proxy = Proxy::start(&config).unwrap();
    let (mut c, _) =
        RawClient::login(proxy.mysql_port(), "app", "apppw", Some("sqlmux_test")).unwrap();
    c.query("BEGIN").unwrap().unwrap();
    let (_, body) = proxy.http("GET", "/v1/topology", None).unwrap();
    let g = generation(&body);
    let (status, body) = proxy
        .http(
            "PUT",
            "/v1/topology",
            Some(&topology_doc(g, &a.addr(), "OFFLINE_HARD")),
        )
        .unwrap();
    assert_eq!(status, 200, "{body}");
    // The pinned connection is closed now, not at the session's next statement.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let n = a
            .root_sql("SELECT COUNT(*) FROM information_schema.processlist WHERE user = 'app'")
            .unwrap();
        if n == "0" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "backend connection still open: {n}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let err = c.query("SELECT 1").unwrap().unwrap_err();
    assert_eq!(err.code, 9001);
    assert!(err.message.contains("OFFLINE_HARD"), "{}", err.message);
    let (_, metrics) = proxy.http("GET", "/metrics", None).unwrap();
    assert!(
        metrics.contains("sqlmux_pins_total{reason=\"transaction\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sqlmux_errors_total{side=\"proxy\"} 1"),
        "{metrics}"
    );
    // The test proxy runs two workers; the client above is live on one of them.
    let per_worker: Vec<f64> = metrics
        .lines()
        .filter(|l| l.starts_with("sqlmux_worker_sessions{worker="))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    assert_eq!(per_worker.len(), 2, "{metrics}");
    assert!(per_worker.iter().sum::<f64>() >= 1.0, "{metrics}");
    let (ready, body) = proxy.http("GET", "/readyz", None).unwrap();
    assert_eq!(
        ready, 200,
        "a failover does not make sqlmux unready: {body}"
    );
    assert!(
        body.contains("\"clusters_without_writer\":[\"shop\"]"),
        "{body}"
    );
    // The transaction was lost with the backend: refused until the client ends it.
    assert_eq!(c.query("SELECT 1").unwrap().unwrap_err().code, 9002);
    c.query("ROLLBACK").unwrap().unwrap();
    let err = c.query("SELECT 1").unwrap().unwrap_err();
    assert_eq!(err.code, 9001);
    assert!(
        err.message
            .contains("cluster shop has no usable writer: the statement was held"),
        "{}",
        err.message
    );
}
