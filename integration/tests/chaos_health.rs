//! Chaos around the health monitor (issue 12), with real servers and real faults, always
//! undone: the old primary coming back writable after a switch (fencing: it gets nothing;
//! MariaDB and PostgreSQL), a reader that flaps (held down longer each time), and a writer
//! frozen (SIGSTOP; PostgreSQL's whole process tree) for longer than the hold timeout under
//! writers (PostgreSQL: also transactions, prepared statements and read-only clients).

use sqlmux_integration::faults::{process_tree, Frozen};
use sqlmux_integration::poll::within;
use sqlmux_integration::proxy::postgres_config;
use sqlmux_integration::raw_mysql::first_row;

mod support;
use sqlmux_integration::{
    mysql_config, with_control_api, MariaDb, MariaDbPair, Postgres, PostgresPair, Proxy,
};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Checks every 100 ms (each at most 300 ms), DOWN after 3 failed, UP after 2 good.
const MONITOR: &str = "[monitor]\nuser = \"app\"\npassword = \"apppw\"\ninterval_ms = 100\ntimeout_ms = 300\ndown_after = 3\nup_after = 2\n";

/// A MariaDB primary and replica, the table `w` (id) replicated.
fn mariadb_pair() -> MariaDbPair {
    support::mariadb_pair_with_w("id BIGINT PRIMARY KEY")
}

/// A PostgreSQL primary and standby, the table `w` (id) replicated.
fn postgres_pair() -> PostgresPair {
    support::postgres_pair_with_w("id bigint PRIMARY KEY")
}

/// The harness's MySQL config with a reader, the monitor and the control API.
fn mysql_proxy(pair: &MariaDbPair, extra: &str) -> Proxy {
    let extra = format!(
        "\n[[servers]]\nhostgroup = 20\naddress = \"{}\"\n\n{MONITOR}{extra}",
        pair.replica.addr()
    );
    Proxy::start(&with_control_api(&mysql_config(
        &pair.primary.addr(),
        &extra,
    )))
    .unwrap()
}

/// The harness's PostgreSQL config with the standby as reader, the monitor (as `ledger`),
/// `extra` and the control API.
fn pg_proxy(pair: &PostgresPair, extra: &str) -> Proxy {
    let config = postgres_config(
        &pair.primary.addr(),
        Some(&pair.standby.addr()),
        &format!("{}{extra}", support::ledger_monitor(MONITOR)),
    );
    Proxy::start(&with_control_api(&config)).unwrap()
}

/// Waits up to `limit` for the fencing alarm of `old` (the metric counts one).
fn wait_fencing_alarm(proxy: &Proxy, old: &str, limit: Duration) {
    let old_label = format!("address=\"{old}\"");
    let alarm = within(limit, || {
        metric(proxy, "sqlmux_fencing_alarms_total", &old_label) >= 1.0
    });
    assert!(alarm.is_some(), "no fencing alarm for {old}");
}

/// The monitor's state of `address` in `GET /v1/topology` (its first entry).
fn health_state(proxy: &Proxy, address: &str) -> String {
    health_of(proxy.http_addr(), address)
}

fn wait_state(proxy: &Proxy, address: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while health_state(proxy, address) != want {
        assert!(Instant::now() < deadline, "{address} never {want}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The value of the metric `name` whose labels mention `label` (0 when absent).
fn metric(proxy: &Proxy, name: &str, label: &str) -> f64 {
    let (_, metrics) = proxy.http("GET", "/metrics", None).unwrap();
    metrics
        .lines()
        .find(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .and_then(|l| l.rsplit(' ').next())
        .map_or(0.0, |v| v.parse().unwrap())
}

/// What MySQL writers saw: acknowledged ids, errors, the longest wait of a statement, and
/// when the last write was acknowledged.
#[derive(Default)]
struct MysqlSeen {
    acked: HashSet<u64>,
    errors: Vec<String>,
    longest: Duration,
    last_ack: Option<Instant>,
}

/// MySQL clients inserting unique ids until `stop`; what they saw, merged.
fn mysql_writers(port: u16, n: u64, stop: &Arc<AtomicBool>) -> std::thread::JoinHandle<MysqlSeen> {
    let clients: Vec<_> = (0..n)
        .map(|w| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = support::app_client(port);
                let mut seen = MysqlSeen::default();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let id = w * 1_000_000 + i;
                    i += 1;
                    let started = Instant::now();
                    let answer = c.query(&format!("INSERT INTO w VALUES ({id})"));
                    seen.longest = seen.longest.max(started.elapsed());
                    match answer {
                        Ok(Ok(_)) => {
                            seen.acked.insert(id);
                            seen.last_ack = Some(Instant::now());
                        }
                        Ok(Err(e)) => seen.errors.push(format!("{} {}", e.code, e.message)),
                        Err(e) => {
                            seen.errors.push(e.to_string());
                            break;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                seen
            })
        })
        .collect();
    std::thread::spawn(move || {
        let mut all = MysqlSeen::default();
        for c in clients {
            let seen = c.join().unwrap();
            all.acked.extend(seen.acked);
            all.errors.extend(seen.errors);
            all.longest = all.longest.max(seen.longest);
            all.last_ack = all.last_ack.max(seen.last_ack);
        }
        all
    })
}

/// After a switch: every acknowledged write is on the new writer, none only on the old one,
/// and writes went on after it.
fn assert_fenced<'a, T: std::hash::Hash + Eq + std::fmt::Debug + 'a>(
    acked: impl ExactSizeIterator<Item = &'a T>,
    on_new: &HashSet<T>,
    on_old: &HashSet<T>,
) {
    let acked_count = acked.len();
    for id in acked {
        assert!(
            on_new.contains(id),
            "acknowledged write {id:?} is not on the new writer"
        );
    }
    let only_on_old: Vec<_> = on_old.difference(on_new).collect();
    assert!(
        only_on_old.is_empty(),
        "writes reached the old primary: {only_on_old:?}"
    );
    assert!(
        acked_count > on_old.len(),
        "writes went on after the switch"
    );
}

/// The ids in a one-column output.
fn ids<T: std::str::FromStr + std::hash::Hash + Eq>(text: &str) -> HashSet<T> {
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// The ids in `db`'s table `w`.
fn mysql_ids(db: &MariaDb) -> HashSet<u64> {
    ids(&db.root_sql("SELECT id FROM sqlmux_test.w").unwrap())
}

/// The ids in `db`'s table `w`.
fn pg_ids(db: &Postgres) -> HashSet<i64> {
    ids(&db.ledger_psql().query("SELECT id FROM w").unwrap())
}

#[test]
fn the_old_primary_back_writable_after_a_switch_raises_an_alarm_and_gets_no_write() {
    let pair = mariadb_pair();
    let proxy = mysql_proxy(&pair, "");
    let (old, new) = (pair.primary.addr(), pair.replica.addr());
    wait_state(&proxy, &new, "up");
    let stop = Arc::new(AtomicBool::new(false));
    let writers = mysql_writers(proxy.mysql_port(), 4, &stop);
    std::thread::sleep(Duration::from_millis(500));
    // Planned switch; the orchestrator puts the old primary back as a reader.
    let (status, body) = proxy
        .http("POST", "/v1/clusters/shop/hold", Some("{}"))
        .unwrap();
    assert_eq!(status, 200, "{body}");
    pair.primary.root_sql("SET GLOBAL read_only = 1").unwrap();
    pair.wait_replica_caught_up().unwrap();
    pair.replica
        .root_sql("STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0")
        .unwrap();
    let (status, body) = proxy.put_servers(&[(10, &new), (20, &old)]).unwrap();
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(Duration::from_millis(300));
    // The old primary comes back writable (a restart with a stale config, say).
    pair.primary.root_sql("SET GLOBAL read_only = 0").unwrap();
    wait_fencing_alarm(&proxy, &old, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, Ordering::Relaxed);
    let MysqlSeen { acked, errors, .. } = writers.join().unwrap();
    assert!(
        errors.is_empty(),
        "a planned switch costs no error: {errors:?}"
    );
    let (on_new, on_old) = (mysql_ids(&pair.replica), mysql_ids(&pair.primary));
    assert_fenced(acked.iter(), &on_new, &on_old);
}

#[test]
fn a_flapping_reader_is_held_down_longer_each_time_and_reads_never_fail() {
    let pair = mariadb_pair();
    let proxy = mysql_proxy(&pair, "");
    let reader = pair.replica.addr();
    wait_state(&proxy, &reader, "up");
    let stop = Arc::new(AtomicBool::new(false));
    let port = proxy.mysql_port();
    let read_errors = Arc::new(Mutex::new(Vec::new()));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (stop, errors) = (stop.clone(), read_errors.clone());
            std::thread::spawn(move || {
                let mut c = support::app_client(port);
                while !stop.load(Ordering::Relaxed) {
                    match c.query("SELECT COUNT(*) FROM w") {
                        Ok(Ok(rows)) => assert_eq!(first_row(&rows).len(), 1),
                        Ok(Err(e)) => errors.lock().unwrap().push(e.message),
                        Err(e) => errors.lock().unwrap().push(e.to_string()),
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        })
        .collect();
    // The reader answers for 1 s, then not for 1 s, for 12 s; its state is sampled.
    let changes = Arc::new(Mutex::new(Vec::<(Instant, String)>::new()));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (changes, sampling) = (changes.clone(), sampling.clone());
        let http = proxy.http_addr();
        let reader = reader.clone();
        std::thread::spawn(move || {
            let mut last = String::from("up");
            while sampling.load(Ordering::Relaxed) {
                let state = health_of(http, &reader);
                if state != last {
                    changes
                        .lock()
                        .unwrap()
                        .push((Instant::now(), state.clone()));
                    last = state;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        })
    };
    let started = Instant::now();
    for _ in 0..6 {
        let frozen = Frozen::freeze(vec![pair.replica.pid()]).unwrap();
        std::thread::sleep(Duration::from_millis(1000));
        frozen.thaw();
        std::thread::sleep(Duration::from_millis(1000));
    }
    let flapped_until = Instant::now();
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    let changes = changes.lock().unwrap().clone();
    let described: Vec<String> = changes
        .iter()
        .map(|(at, s)| format!("{s}@{}ms", (*at - started).as_millis()))
        .collect();
    // Without the backoff it would go down and up every cycle (12 changes); with it, the
    // fourth DOWN needs 16 good checks (1.6 s) in a row, which 1 s up never gives.
    assert!(changes.len() <= 8, "{described:?}");
    let (last_at, last_state) = changes.last().expect("it went down at least once");
    assert_eq!(last_state, "down", "{described:?}");
    assert!(
        flapped_until - *last_at > Duration::from_secs(2),
        "held down through the last cycles: {described:?}"
    );
    let errors = read_errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "read-only clients saw {errors:?}");
    eprintln!("flapping reader, changes of state: {described:?}");
}

/// [`health_state`] from the control API at `http` (for a thread without the proxy).
fn health_of(http: std::net::SocketAddr, address: &str) -> String {
    let Ok((_, body)) = sqlmux_integration::http::request_with_token(
        &http.to_string(),
        "GET",
        "/v1/topology",
        None,
        Some(sqlmux_integration::proxy::TEST_TOKEN),
    ) else {
        return "none".into();
    };
    let Some(at) = body.find(&format!("\"address\":\"{address}\"")) else {
        return "none".into();
    };
    body[at..]
        .split("\"state\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("none")
        .to_string()
}

/// What one PostgreSQL client saw: acknowledged ids, errors (SQLSTATE and text), and its
/// longest wait for any statement.
#[derive(Default)]
struct PgSeen {
    acked: Vec<i64>,
    last_ack: Option<Instant>,
    errors: Vec<String>,
    longest: Duration,
}

/// A PostgreSQL client until `stop`: `kind` 0 inserts with a prepared statement, 1 runs
/// two-insert transactions (ROLLBACK after an error), 2 only reads.
fn pg_client(port: u16, n: i64, kind: u8, stop: Arc<AtomicBool>) -> PgSeen {
    support::runtime().block_on(async {
        let c = support::connect(port).await;
        let insert = c.prepare("INSERT INTO w VALUES ($1)").await.unwrap();
        let mut seen = PgSeen::default();
        let mut i = 0i64;
        let describe = |e: tokio_postgres::Error| {
            e.as_db_error()
                .map(|d| format!("{} {}", d.code().code(), d.message()))
                .unwrap_or_else(|| e.to_string())
        };
        while !stop.load(Ordering::Relaxed) {
            let id = n * 1_000_000 + i;
            i += 2;
            let started = Instant::now();
            let result = match kind {
                0 => c.execute(&insert, &[&id]).await.map(|_| vec![id]),
                1 => {
                    let tx = async {
                        c.batch_execute("BEGIN").await?;
                        c.execute(&insert, &[&id]).await?;
                        c.execute(&insert, &[&(id + 1)]).await?;
                        c.batch_execute("COMMIT").await?;
                        Ok::<_, tokio_postgres::Error>(vec![id, id + 1])
                    }
                    .await;
                    if tx.is_err() {
                        let _ = c.batch_execute("ROLLBACK").await;
                    }
                    tx
                }
                _ => c.query("SELECT count(*) FROM w", &[]).await.map(|_| vec![]),
            };
            seen.longest = seen.longest.max(started.elapsed());
            match result {
                Ok(ids) => {
                    if !ids.is_empty() {
                        seen.last_ack = Some(Instant::now());
                    }
                    seen.acked.extend(ids)
                }
                Err(e) => seen.errors.push(describe(e)),
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        seen
    })
}

#[test]
fn postgres_primary_frozen_longer_than_the_hold_timeout() {
    let pair = postgres_pair();
    let proxy = pg_proxy(&pair, "\n[failover]\nhold_timeout_ms = 3000\n");
    let primary = pair.primary.addr();
    wait_state(&proxy, &primary, "up");
    let port = proxy.postgres_port();
    let stop = Arc::new(AtomicBool::new(false));
    let kinds = [0u8, 0, 0, 1, 1, 2, 2];
    let clients: Vec<_> = kinds
        .iter()
        .enumerate()
        .map(|(n, kind)| {
            let (stop, kind) = (stop.clone(), *kind);
            std::thread::spawn(move || pg_client(port, n as i64, kind, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let frozen = Frozen::freeze(process_tree(pair.primary.pid())).unwrap();
    std::thread::sleep(Duration::from_millis(6000));
    frozen.thaw();
    let thawed = Instant::now();
    wait_state(&proxy, &primary, "up");
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<PgSeen> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    for (s, kind) in seen.iter().zip(kinds) {
        // Never a wait as long as the freeze: the hold timeout (3 s) plus detection.
        assert!(
            s.longest < Duration::from_millis(4800),
            "a statement of a client of kind {kind} waited {:?}; errors {:?}",
            s.longest,
            s.errors
        );
        if kind == 2 {
            assert!(s.errors.is_empty(), "a read-only client saw {:?}", s.errors);
            assert!(
                s.longest < Duration::from_millis(1500),
                "a read waited {:?} behind the frozen writer",
                s.longest
            );
        }
        for e in &s.errors {
            let known = (e.starts_with("08006")
                && (e.contains("may or may not have run") || e.contains("no usable writer")))
                || e.starts_with("25P02");
            assert!(known, "unexpected error: {e}");
        }
    }
    let errors: usize = seen.iter().map(|s| s.errors.len()).sum();
    eprintln!(
        "frozen primary: {errors} errors, longest waits {:?}",
        seen.iter().map(|s| s.longest).collect::<Vec<_>>()
    );
    assert!(
        errors > 0,
        "statements waited past the hold timeout and said so"
    );
    let present: HashSet<i64> = pg_ids(&pair.primary);
    let acked: Vec<i64> = seen.iter().flat_map(|s| s.acked.iter().copied()).collect();
    assert!(
        acked.iter().all(|id| present.contains(id)),
        "acked writes lost"
    );
    assert!(
        seen.iter()
            .any(|s| s.last_ack.is_some_and(|at| at > thawed)),
        "writes went on after the thaw"
    );
}

#[test]
fn mysql_writer_frozen_longer_than_the_hold_timeout() {
    let pair = mariadb_pair();
    let proxy = mysql_proxy(&pair, "\n[failover]\nhold_timeout_ms = 2000\n");
    let primary = pair.primary.addr();
    wait_state(&proxy, &primary, "up");
    let stop = Arc::new(AtomicBool::new(false));
    let writers = mysql_writers(proxy.mysql_port(), 6, &stop);
    std::thread::sleep(Duration::from_millis(500));
    let frozen = Frozen::freeze(vec![pair.primary.pid()]).unwrap();
    std::thread::sleep(Duration::from_millis(4000));
    frozen.thaw();
    let thawed = Instant::now();
    wait_state(&proxy, &primary, "up");
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, Ordering::Relaxed);
    let seen = writers.join().unwrap();
    // Never a wait as long as the freeze: the hold timeout (2 s) plus detection.
    assert!(
        seen.longest < Duration::from_millis(3600),
        "{:?}",
        seen.longest
    );
    assert!(
        !seen.errors.is_empty(),
        "statements waited past the hold timeout"
    );
    for e in &seen.errors {
        let known = (e.starts_with("2013 ") && e.contains("may or may not have run"))
            || (e.starts_with("9001 ") && e.contains("no usable writer"));
        assert!(known, "unexpected error: {e}");
    }
    assert!(
        seen.last_ack.is_some_and(|at| at > thawed),
        "writes resumed"
    );
    let present = mysql_ids(&pair.primary);
    assert!(
        seen.acked.iter().all(|id| present.contains(id)),
        "acked writes lost"
    );
    eprintln!(
        "frozen MySQL writer: {} errors, longest wait {:?}",
        seen.errors.len(),
        seen.longest
    );
}

#[test]
fn postgres_old_primary_restarted_writable_after_a_switch_gets_no_write() {
    let mut pair = postgres_pair();
    let (old, new) = (pair.primary.addr(), pair.standby.addr());
    let proxy = pg_proxy(&pair, "");
    wait_state(&proxy, &new, "up");
    let port = proxy.postgres_port();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|n| {
            let stop = stop.clone();
            std::thread::spawn(move || pg_client(port, n, if n < 3 { 0 } else { 2 }, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let (status, body) = proxy
        .http("POST", "/v1/clusters/ledger/hold", Some("{}"))
        .unwrap();
    assert_eq!(status, 200, "{body}");
    // A fast shutdown ships everything to the standby; it is promoted and pushed.
    pair.primary.stop();
    pair.standby.sql("SELECT pg_promote()").unwrap();
    let (status, body) = proxy.put_servers(&[(30, &new), (40, &new)]).unwrap();
    assert_eq!(status, 200, "{body}");
    // The old primary comes back as a primary (no standby.signal): writable; the
    // orchestrator lists it as a reader again.
    pair.primary.restart().unwrap();
    let (status, body) = proxy.put_servers(&[(30, &new), (40, &old)]).unwrap();
    assert_eq!(status, 200, "{body}");
    wait_fencing_alarm(&proxy, &old, Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<PgSeen> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    for s in &seen {
        assert!(
            s.errors.is_empty(),
            "a planned switch costs no error: {:?}",
            s.errors
        );
    }
    let (on_new, on_old) = (pg_ids(&pair.standby), pg_ids(&pair.primary));
    let acked: Vec<i64> = seen.iter().flat_map(|s| s.acked.iter().copied()).collect();
    assert_fenced(acked.iter(), &on_new, &on_old);
}
