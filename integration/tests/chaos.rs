//! Chaos with real servers (issue 12): the MariaDB primary is killed (kill -9) under load;
//! the orchestrator promotes the replica and pushes it 2 s later. Writers see at most one
//! error per statement in flight ("may or may not have run"), then their writes wait for the
//! new writer; read-only clients never see an error; every write acknowledged after the kill
//! is on the new writer, none on the old one.

use sqlmux_integration::raw_mysql::RawClient;

mod support;
use sqlmux_integration::{mysql_config, with_control_api, Proxy};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MONITOR: &str = "[monitor]\nuser = \"app\"\npassword = \"apppw\"\ninterval_ms = 200\ntimeout_ms = 300\n\n[failover]\nhold_timeout_ms = 10000\n";

/// What one client saw: acknowledged ids and when (writers), errors with their codes.
#[derive(Default)]
struct Seen {
    acked: Vec<(u64, Instant)>,
    errors: Vec<(u16, String)>,
}

#[test]
fn mysql_primary_killed_then_replica_promoted_and_pushed() {
    let pair = support::mariadb_pair_with_w("id BIGINT PRIMARY KEY, writer INT");
    let extra = format!(
        "\n[[servers]]\nhostgroup = 20\naddress = \"{}\"\nmax_connections = 20\n\n{MONITOR}",
        pair.replica.addr()
    );
    let proxy = Proxy::start(&with_control_api(&mysql_config(
        &pair.primary.addr(),
        &extra,
    )))
    .unwrap();
    let port = proxy.mysql_port();
    let stop = Arc::new(AtomicBool::new(false));
    let killed_at = Arc::new(Mutex::new(None::<Instant>));
    let writers = mysql_writers(port, &stop);
    let readers = mysql_readers(port, &stop);
    std::thread::sleep(Duration::from_millis(500));
    // kill -9 of the primary; the replica still replays what it received.
    sqlmux_integration::faults::kill_tree(pair.primary.pid()).unwrap();
    *killed_at.lock().unwrap() = Some(Instant::now());
    std::thread::sleep(Duration::from_millis(2000));
    // The orchestrator: promote the replica, push it as the writer (and the only reader).
    pair.replica
        .root_sql("STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0;")
        .unwrap();
    let r = pair.replica.addr();
    let (status, body) = proxy.put_servers(&[(10, &r), (20, &r)]).unwrap();
    assert_eq!(status, 200, "{body}");
    let pushed_at = Instant::now();
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, Ordering::Relaxed);
    let writers: Vec<Seen> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let readers: Vec<Seen> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    // Read-only clients never erred.
    for r in &readers {
        assert!(r.errors.is_empty(), "a reader saw {:?}", r.errors);
    }
    // Writers: at most the statement each had in flight failed, saying it may have run.
    for w in &writers {
        assert!(w.errors.len() <= 1, "{:?}", w.errors);
        for (code, message) in &w.errors {
            assert_eq!(*code, 2013, "{message}");
            assert!(message.contains("may or may not have run"), "{message}");
        }
    }
    // Every write acknowledged after the kill ran on the new writer and is there; writes
    // acknowledged before it are there unless the replica had not received them when the
    // primary died (asynchronous replication: counted, not sqlmux's to keep).
    let killed_at = killed_at.lock().unwrap().expect("killed");
    let new_id = pair.replica.root_sql("SELECT @@server_id").unwrap();
    let rows = writers_by_id(
        &pair
            .replica
            .root_sql("SELECT id, writer FROM sqlmux_test.w")
            .unwrap(),
        '\t',
    );
    let acked: Vec<(u64, Instant)> = writers.iter().flat_map(|w| w.acked.clone()).collect();
    let after = after_the_kill_on_the_new_writer(&acked, killed_at, &rows, new_id.trim());
    let lost_before: usize = acked
        .iter()
        .filter(|(id, at)| *at <= killed_at + IN_FLIGHT && !rows.contains_key(id))
        .count();
    eprintln!(
        "chaos: {} writes acknowledged, {} after the kill (all on the new writer), {} acknowledged \
         before the kill not replicated; writers' errors {:?}; push {} ms after the kill",
        acked.len(),
        after.len(),
        lost_before,
        writers.iter().map(|w| w.errors.clone()).collect::<Vec<_>>(),
        pushed_at.duration_since(killed_at).as_millis()
    );
}

/// How long after the kill a reply may still come: the kill returns before the processes
/// are gone, and a reply already on its way may still arrive; 200 ms later none can.
const IN_FLIGHT: Duration = Duration::from_millis(200);

/// The writes of `acked` acknowledged after the kill (and [`IN_FLIGHT`]): there are some,
/// and each ran on the new writer, whose `rows` name it `new`.
fn after_the_kill_on_the_new_writer(
    acked: &[(u64, Instant)],
    killed_at: Instant,
    rows: &HashMap<u64, String>,
    new: &str,
) -> Vec<u64> {
    let after: Vec<u64> = acked
        .iter()
        .filter(|(_, at)| *at > killed_at + IN_FLIGHT)
        .map(|(id, _)| *id)
        .collect();
    assert!(!after.is_empty(), "writes went on after the push");
    for id in &after {
        assert_eq!(
            rows.get(id).map(String::as_str),
            Some(new),
            "write {id}, acknowledged after the kill, is on the new writer and ran there"
        );
    }
    after
}

/// The rows `id`, `writer` of a client's output (columns separated by `separator`), by id.
fn writers_by_id(text: &str, separator: char) -> HashMap<u64, String> {
    text.lines()
        .filter_map(|l| {
            let (id, writer) = l.split_once(separator)?;
            Some((id.trim().parse().ok()?, writer.trim().to_string()))
        })
        .collect()
}

/// `n` MySQL clients (`app` on `sqlmux_test`), each on its thread: `work(its number, its
/// client)` until `stop`, what it saw.
fn mysql_clients(
    port: u16,
    n: u64,
    stop: &Arc<AtomicBool>,
    work: fn(u64, RawClient, &AtomicBool) -> Seen,
) -> Vec<std::thread::JoinHandle<Seen>> {
    (0..n)
        .map(|n| {
            let stop = stop.clone();
            std::thread::spawn(move || work(n, support::app_client(port), &stop))
        })
        .collect()
}

/// Six clients inserting rows (`id`, `@@server_id`) every 5 ms until `stop`.
fn mysql_writers(port: u16, stop: &Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<Seen>> {
    mysql_clients(port, 6, stop, |n, mut c, stop| {
        let mut seen = Seen::default();
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) {
            let id = n * 1_000_000 + i;
            i += 1;
            match c.query(&format!("INSERT INTO w VALUES ({id}, @@server_id)")) {
                Ok(Ok(_)) => seen.acked.push((id, Instant::now())),
                Ok(Err(e)) => seen.errors.push((e.code, e.message)),
                Err(e) => {
                    seen.errors.push((0, e.to_string()));
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        seen
    })
}

/// Three clients counting the rows every 5 ms until `stop`.
fn mysql_readers(port: u16, stop: &Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<Seen>> {
    mysql_clients(port, 3, stop, |_, mut c, stop| {
        let mut errors = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            if let Ok(Err(e)) = c.query("SELECT COUNT(*) FROM w") {
                errors.push((e.code, e.message));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Seen {
            errors,
            ..Seen::default()
        }
    })
}

/// Eight clients inserting rows (`id`, the server's port) every 5 ms until `stop`.
fn pg_writers(port: u16, stop: &Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<Seen>> {
    (0..8u64)
        .map(|n| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                support::runtime().block_on(async {
                    let c = support::connect(port).await;
                    let mut seen = Seen::default();
                    let mut i = 0i64;
                    while !stop.load(Ordering::Relaxed) {
                        let id = n as i64 * 1_000_000 + i;
                        i += 1;
                        let sql = format!("INSERT INTO w VALUES ({id}, current_setting('port'))");
                        match c.batch_execute(&sql).await {
                            Ok(()) => seen.acked.push((id as u64, Instant::now())),
                            Err(e) => seen.errors.push((
                                0,
                                e.as_db_error()
                                    .map(|d| format!("{} {}", d.code().code(), d.message()))
                                    .unwrap_or_else(|| e.to_string()),
                            )),
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    seen
                })
            })
        })
        .collect()
}

#[test]
fn postgres_primary_killed_then_standby_promoted_and_pushed() {
    let pair = support::postgres_pair_with_w("id bigint PRIMARY KEY, writer text");
    let config = sqlmux_integration::proxy::postgres_config(
        &pair.primary.addr(),
        Some(&pair.standby.addr()),
        &support::ledger_monitor(MONITOR),
    );
    let proxy = Proxy::start(&with_control_api(&config)).unwrap();
    let port = proxy.postgres_port();
    let stop = Arc::new(AtomicBool::new(false));
    let clients = pg_writers(port, &stop);
    std::thread::sleep(Duration::from_millis(500));
    // The machine dies: the postmaster and every process of it at once (a postmaster
    // killed alone leaves its backends running a while, acknowledging writes that the
    // promotion then loses).
    sqlmux_integration::faults::kill_tree(pair.primary.pid()).unwrap();
    let killed_at = Instant::now();
    std::thread::sleep(Duration::from_millis(2000));
    pair.standby.sql("SELECT pg_promote()").unwrap();
    let s = pair.standby.addr();
    let (status, body) = proxy.put_servers(&[(30, &s), (40, &s)]).unwrap();
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<Seen> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    for s in &seen {
        assert!(s.errors.len() <= 1, "{:?}", s.errors);
        for (_, message) in &s.errors {
            assert!(
                message.starts_with("08006") && message.contains("may or may not have run"),
                "{message}"
            );
        }
    }
    let port_of_new = pair.standby.port().to_string();
    let rows = writers_by_id(
        &pair
            .standby
            .ledger_psql()
            .query("SELECT id, writer FROM w")
            .unwrap(),
        '|',
    );
    let acked: Vec<(u64, Instant)> = seen.iter().flat_map(|s| s.acked.clone()).collect();
    let after = after_the_kill_on_the_new_writer(&acked, killed_at, &rows, &port_of_new);
    eprintln!(
        "chaos pg: {} writes acknowledged after the kill (all on the new writer); errors {:?}",
        after.len(),
        seen.iter().map(|s| s.errors.len()).collect::<Vec<_>>()
    );
}
