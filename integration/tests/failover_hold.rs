//! Failover holds (issue 12): a statement bound for a cluster's writer that finds no usable
//! writer waits in the cluster's queue and runs once one is there, so a planned switch costs
//! clients a pause, not errors; an explicit hold drains the old writer first, so nothing sent
//! after it runs there; a hold that lasts too long fails its statements clearly.

use sqlmux_integration::proxy::{postgres_config, topology_generation as generation};
use sqlmux_integration::raw_mysql::RawClient;
use sqlmux_integration::{MariaDb, Postgres, Proxy};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod support;

#[path = "failover_hold/reads.rs"]
mod reads;

/// The harness's one-cluster config (`shop`, writer hostgroup 10) with a control API.
fn mysql_config(writer: &str, extra: &str) -> String {
    with_control_api(sqlmux_integration::mysql_config(writer, extra))
}

/// A config with the control API on a free port.
fn with_control_api(config: String) -> String {
    config.replace("[listen]\n", "[listen]\nhttp = \"127.0.0.1:0\"\n")
}

fn one_writer(generation: u64, hostgroup: u32, writer: &str, status: &str) -> String {
    format!(
        r#"{{"generation": {generation}, "servers": [{{"hostgroup": {hostgroup}, "address": "{writer}", "status": "{status}", "max_connections": 20}}]}}"#
    )
}

fn current_generation(proxy: &Proxy) -> u64 {
    let (status, body) = proxy.http("GET", "/v1/topology", None).unwrap();
    assert_eq!(status, 200, "{body}");
    generation(&body)
}

/// Phases of a switch, as the clients label their writes.
const BEFORE: u8 = 0;
const HELD: u8 = 1;
const AFTER: u8 = 2;
const PHASES: [&str; 3] = ["before", "held", "after"];

/// What writing clients saw.
#[derive(Default)]
struct Tally {
    acked: AtomicU64,
    errors: Mutex<Vec<String>>,
    /// Longest time between two acknowledged writes of one client.
    longest_gap_ms: AtomicU64,
}

/// `n` MySQL clients inserting their current phase until `stop`.
fn mysql_writers(
    port: u16,
    n: usize,
    phase: &Arc<AtomicU8>,
    stop: &Arc<AtomicBool>,
    tally: &Arc<Tally>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..n)
        .map(|_| {
            let (phase, stop, tally) = (phase.clone(), stop.clone(), tally.clone());
            std::thread::spawn(move || {
                let (mut c, _) =
                    RawClient::login(port, "app", "apppw", Some("sqlmux_test")).unwrap();
                let mut last = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    let label = PHASES[phase.load(Ordering::SeqCst) as usize];
                    match c.query(&format!("INSERT INTO w (phase) VALUES ('{label}')")) {
                        Ok(Ok(_)) => {
                            tally.acked.fetch_add(1, Ordering::Relaxed);
                            let gap = last.elapsed().as_millis() as u64;
                            tally.longest_gap_ms.fetch_max(gap, Ordering::Relaxed);
                            last = Instant::now();
                        }
                        Ok(Err(e)) => tally.errors.lock().unwrap().push(e.message),
                        Err(e) => {
                            tally.errors.lock().unwrap().push(e.to_string());
                            return;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect()
}

/// The orchestrator of a planned switch: hold (draining the old writer), its own steps
/// (300 ms), then `new_writer` through PUT. Clients label their writes by `phase`. Returns
/// how long writes were held.
fn planned_switch(
    proxy: &Proxy,
    cluster: &str,
    hostgroup: u32,
    new_writer: &str,
    phase: &AtomicU8,
) -> Duration {
    std::thread::sleep(Duration::from_millis(400));
    let (status, body) = proxy
        .http(
            "POST",
            &format!("/v1/clusters/{cluster}/hold"),
            Some(r#"{"drain_timeout_ms": 2000}"#),
        )
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"cut\":0"), "{body}");
    phase.store(HELD, Ordering::SeqCst);
    let held_at = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    let g = current_generation(proxy);
    let (status, body) = proxy
        .http(
            "PUT",
            "/v1/topology",
            Some(&one_writer(g, hostgroup, new_writer, "ONLINE")),
        )
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let pause = held_at.elapsed();
    phase.store(AFTER, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(400));
    pause
}

/// What a planned switch must give: no client error, nothing sent after the hold on the
/// old writer (`count(false, phase)`), the held writes on the new one (`count(true, ..)`),
/// every acknowledged write there once, and a pause of the switch's own time plus < 300 ms.
fn assert_planned_switch(tally: &Tally, count: impl Fn(bool, &str) -> u64, pause: Duration) {
    let errors = tally.errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "clients saw errors: {errors:?}");
    assert_eq!(
        count(false, "held") + count(false, "after"),
        0,
        "nothing sent after the hold ran on the old writer"
    );
    assert!(
        count(true, "before") + count(true, "held") > 0,
        "the held writes ran on the new writer"
    );
    let on_both: u64 = PHASES
        .iter()
        .map(|p| count(false, p) + count(true, p))
        .sum();
    assert_eq!(
        on_both,
        tally.acked.load(Ordering::Relaxed),
        "every acknowledged write is there once"
    );
    let gap = tally.longest_gap_ms.load(Ordering::Relaxed);
    assert!(
        gap < pause.as_millis() as u64 + 300,
        "writes paused {gap} ms for a {} ms switch",
        pause.as_millis()
    );
}

/// Two MariaDB servers, each with the table `w` (id, phase).
fn two_mariadbs() -> (MariaDb, MariaDb) {
    let (a, b) = (MariaDb::start().unwrap(), MariaDb::start().unwrap());
    for db in [&a, &b] {
        db.root_sql(
            "CREATE TABLE sqlmux_test.w (id INT AUTO_INCREMENT PRIMARY KEY, phase VARCHAR(10))",
        )
        .unwrap();
    }
    (a, b)
}

/// A load's shared state: its phase (starting `before`), its stop flag, its tally.
fn load_state() -> (Arc<AtomicU8>, Arc<AtomicBool>, Arc<Tally>) {
    (
        Arc::new(AtomicU8::new(BEFORE)),
        Arc::new(AtomicBool::new(false)),
        Arc::new(Tally::default()),
    )
}

#[test]
fn mysql_planned_switch_with_an_explicit_hold_costs_no_errors() {
    let (a, b) = two_mariadbs();
    let proxy = Proxy::start(&mysql_config(&a.addr(), "")).unwrap();
    let (phase, stop, tally) = load_state();
    let clients = mysql_writers(proxy.mysql_port(), 8, &phase, &stop, &tally);
    let pause = planned_switch(&proxy, "shop", 10, &b.addr(), &phase);
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert_planned_switch(
        &tally,
        |new, p| support::phase_count(if new { &b } else { &a }, p),
        pause,
    );
}

#[test]
fn mysql_statements_wait_while_no_writer_is_online() {
    let (a, b) = two_mariadbs();
    let proxy = Proxy::start(&mysql_config(&a.addr(), "")).unwrap();
    let (phase, stop, tally) = load_state();
    let clients = mysql_writers(proxy.mysql_port(), 6, &phase, &stop, &tally);
    std::thread::sleep(Duration::from_millis(300));
    let g = current_generation(&proxy);
    let (status, body) = proxy
        .http(
            "PATCH",
            "/v1/topology/servers",
            Some(&format!(
                r#"{{"generation": {g}, "hostgroup": 10, "address": "{}", "status": "OFFLINE_SOFT"}}"#,
                a.addr()
            )),
        )
        .unwrap();
    assert_eq!(status, 200, "{body}");
    phase.store(HELD, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(400));
    let (status, body) = proxy
        .http(
            "PUT",
            "/v1/topology",
            Some(&one_writer(g + 1, 10, &b.addr(), "ONLINE")),
        )
        .unwrap();
    assert_eq!(status, 200, "{body}");
    phase.store(AFTER, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let errors = tally.errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "clients saw errors: {errors:?}");
    assert_eq!(support::phase_count(&a, "after"), 0);
    assert!(support::phase_count(&b, "held") + support::phase_count(&b, "after") > 0);
}

#[test]
fn mysql_a_hold_that_lasts_too_long_fails_clearly() {
    let a = MariaDb::start().unwrap();
    let proxy = Proxy::start(&mysql_config(
        &a.addr(),
        "[failover]\nhold_timeout_ms = 300\n",
    ))
    .unwrap();
    let (mut c, _) =
        RawClient::login(proxy.mysql_port(), "app", "apppw", Some("sqlmux_test")).unwrap();
    c.query("SELECT 1").unwrap().unwrap();
    let g = current_generation(&proxy);
    let (status, _) = proxy
        .http(
            "PUT",
            "/v1/topology",
            Some(&one_writer(g, 10, &a.addr(), "OFFLINE_SOFT")),
        )
        .unwrap();
    assert_eq!(status, 200);
    let started = Instant::now();
    let err = c
        .query("INSERT INTO nowhere VALUES (1)")
        .unwrap()
        .unwrap_err();
    let waited = started.elapsed();
    assert_eq!(err.code, 9001, "{}", err.message);
    assert!(
        err.message.contains("cluster shop has no usable writer"),
        "{}",
        err.message
    );
    assert!(err.message.contains("did not run"), "{}", err.message);
    assert!(
        waited >= Duration::from_millis(280) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    // An explicit hold ends by itself after the same time.
    let (status, _) = proxy
        .http(
            "PUT",
            "/v1/topology",
            Some(&one_writer(g + 1, 10, &a.addr(), "ONLINE")),
        )
        .unwrap();
    assert_eq!(status, 200);
    let (status, body) = proxy.http("POST", "/v1/clusters/shop/hold", None).unwrap();
    assert_eq!(status, 200, "{body}");
    let started = Instant::now();
    c.query("SELECT 2").unwrap().unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "held until the hold ended"
    );
    let (_, metrics) = proxy.http("GET", "/metrics", None).unwrap();
    for series in [
        "sqlmux_failover_hold_failures_total{cluster=\"shop\",reason=\"timeout\"} 1",
        "sqlmux_failover_explicit_holds_total{cluster=\"shop\"} 1",
        "sqlmux_failover_held_total{cluster=\"shop\"} 2",
        "sqlmux_failover_held_statements{cluster=\"shop\"} 0",
    ] {
        assert!(metrics.contains(series), "{series}: {metrics}");
    }
    let (status, body) = proxy.http("POST", "/v1/clusters/nope/hold", None).unwrap();
    assert_eq!(status, 404, "{body}");
    let (status, body) = proxy
        .http("POST", "/v1/clusters/shop/release", None)
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"released\":false"), "already over: {body}");
}

#[test]
fn postgres_planned_switch_with_an_explicit_hold_costs_no_errors() {
    let (a, b) = (Postgres::start().unwrap(), Postgres::start().unwrap());
    for db in [&a, &b] {
        db.ledger_psql()
            .query("CREATE TABLE w (id serial PRIMARY KEY, phase text)")
            .unwrap();
    }
    let config = with_control_api(postgres_config(&a.addr(), None, ""));
    let proxy = Proxy::start(&config).unwrap();
    let port = proxy.postgres_port();
    let (phase, stop, tally) = load_state();
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (phase, stop, tally) = (phase.clone(), stop.clone(), tally.clone());
            std::thread::spawn(move || {
                support::runtime().block_on(async {
                    let c = support::connect(port).await;
                    let insert = c
                        .prepare("INSERT INTO w (phase) VALUES ($1)")
                        .await
                        .unwrap();
                    let mut last = Instant::now();
                    while !stop.load(Ordering::Relaxed) {
                        let label = PHASES[phase.load(Ordering::SeqCst) as usize];
                        match c.execute(&insert, &[&label]).await {
                            Ok(_) => {
                                tally.acked.fetch_add(1, Ordering::Relaxed);
                                let gap = last.elapsed().as_millis() as u64;
                                tally.longest_gap_ms.fetch_max(gap, Ordering::Relaxed);
                                last = Instant::now();
                            }
                            Err(e) => tally.errors.lock().unwrap().push(e.to_string()),
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                })
            })
        })
        .collect();
    let pause = planned_switch(&proxy, "ledger", 30, &b.addr(), &phase);
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let count = |db: &Postgres, phase: &str| -> u64 {
        db.ledger_psql()
            .query(&format!("SELECT count(*) FROM w WHERE phase = '{phase}'"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert_planned_switch(&tally, |new, p| count(if new { &b } else { &a }, p), pause);
}

#[test]
fn postgres_a_hold_that_lasts_too_long_fails_clearly() {
    let a = Postgres::start().unwrap();
    let config = with_control_api(postgres_config(
        &a.addr(),
        None,
        "[failover]\nhold_timeout_ms = 300\n",
    ));
    let proxy = Proxy::start(&config).unwrap();
    support::runtime().block_on(async {
        let c = support::connect(proxy.postgres_port()).await;
        c.simple_query("SELECT 1").await.unwrap();
        let g = current_generation(&proxy);
        let (status, _) = proxy
            .http(
                "PUT",
                "/v1/topology",
                Some(&one_writer(g, 30, &a.addr(), "OFFLINE_SOFT")),
            )
            .unwrap();
        assert_eq!(status, 200);
        let started = Instant::now();
        let err = c.simple_query("SELECT 2").await.unwrap_err();
        let waited = started.elapsed();
        let db = err.as_db_error().expect("an ErrorResponse");
        assert!(
            db.message().contains("cluster ledger has no usable writer"),
            "{db:?}"
        );
        assert!(waited >= Duration::from_millis(280), "{waited:?}");
        // The session goes on once a writer is back.
        let (status, _) = proxy
            .http(
                "PUT",
                "/v1/topology",
                Some(&one_writer(g + 1, 30, &a.addr(), "ONLINE")),
            )
            .unwrap();
        assert_eq!(status, 200);
        c.simple_query("SELECT 3").await.unwrap();
    });
}

#[test]
fn mysql_a_drain_that_times_out_cuts_what_still_runs_on_the_writer() {
    let a = MariaDb::start().unwrap();
    a.root_sql("CREATE TABLE sqlmux_test.w (id INT AUTO_INCREMENT PRIMARY KEY, phase VARCHAR(10))")
        .unwrap();
    let proxy = Proxy::start(&mysql_config(&a.addr(), "")).unwrap();
    let port = proxy.mysql_port();
    // One client in a long statement, one idle inside a transaction.
    let long = support::in_flight(port, "SELECT SLEEP(20)");
    let (mut tx, _) = RawClient::login(port, "app", "apppw", Some("sqlmux_test")).unwrap();
    tx.query("BEGIN").unwrap().unwrap();
    tx.query("INSERT INTO w (phase) VALUES ('tx')")
        .unwrap()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let (status, body) = proxy
        .http(
            "POST",
            "/v1/clusters/shop/hold",
            Some(r#"{"drain_timeout_ms": 300}"#),
        )
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"running_at_start\":2") && body.contains("\"cut\":2"),
        "{body}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    let (took, mut c) = support::cut_in_flight(long);
    assert!(
        took < Duration::from_secs(5),
        "cut, not waited out: {took:?}"
    );
    // The transaction is lost: refused until ROLLBACK; nothing of it was committed.
    assert_eq!(tx.query("SELECT 1").unwrap().unwrap_err().code, 2013);
    assert_eq!(tx.query("SELECT 1").unwrap().unwrap_err().code, 9002);
    tx.query("ROLLBACK").unwrap().unwrap();
    let (status, _) = proxy
        .http("POST", "/v1/clusters/shop/release", None)
        .unwrap();
    assert_eq!(status, 200);
    c.query("SELECT 1").unwrap().unwrap();
    tx.query("SELECT 1").unwrap().unwrap();
    assert_eq!(
        a.root_sql("SELECT COUNT(*) FROM sqlmux_test.w")
            .unwrap()
            .trim(),
        "0"
    );
}
