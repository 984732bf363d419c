//! Lagging readers (issue 12): a replica whose applier is stopped (`STOP SLAVE SQL_THREAD`)
//! or a standby whose replay is paused (`pg_wal_replay_pause()`) lags over the cluster's
//! `max_replication_lag_ms` (or by an unknown amount, which is not zero): it gets no reads,
//! they go to the writer (counted), and read-only clients under load never see an error
//! nor stale data. Once it has caught up for `up_after` checks it takes reads again.

use sqlmux_integration::raw_mysql::{first_row, RawClient};

mod support;
use sqlmux_integration::{mysql_config, MariaDbCli, MariaDbPair, PostgresPair, Proxy};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Checks every 100 ms, back after 2 good ones; the MySQL admin port and the control API.
const MONITOR: &str = "[monitor]\nuser = \"app\"\npassword = \"apppw\"\ninterval_ms = 100\ntimeout_ms = 400\ndown_after = 3\nup_after = 2\n\n[admin]\nuser = \"admin\"\npassword = \"adminpw\"\n";

/// Adds the listeners the test reads health through.
fn with_admin(config: String) -> String {
    config.replace(
        "[listen]\n",
        "[listen]\nhttp = \"127.0.0.1:0\"\nadmin_mysql = \"127.0.0.1:0\"\n",
    )
}

/// `replication`, `lagging` of `address` in `stats_monitor`.
fn lag_state(proxy: &Proxy, address: &str) -> String {
    MariaDbCli::tcp("127.0.0.1", proxy.admin_mysql_port())
        .user("admin")
        .password("adminpw")
        .query(&format!(
            "SELECT replication, lagging FROM stats_monitor WHERE address = '{address}'"
        ))
        .unwrap()
        .trim()
        .to_string()
}

/// Waits until `lag_state` of `address` is `want`.
fn wait_lag_state(proxy: &Proxy, address: &str, want: &str) -> Duration {
    let started = Instant::now();
    loop {
        let now = lag_state(proxy, address);
        if now == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{address} never {want:?}, still {now:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `sqlmux_reads_to_writer_total` from `/metrics` (0 before the first).
fn reads_to_writer(proxy: &Proxy) -> u64 {
    let (_, metrics) = proxy.http("GET", "/metrics", None).unwrap();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("sqlmux_reads_to_writer_total "))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// What the read-only clients saw: answers by server, and errors.
#[derive(Default)]
struct Reads {
    by_server: std::collections::HashMap<String, u64>,
    errors: Vec<String>,
}

/// While the replica (named `replica` in `reads`) lags, the reads counted since went to
/// the writer (`writer`) only.
fn reads_only_on(reads: &Mutex<Reads>, writer: &str, replica: &str) {
    let seen = reads.lock().unwrap();
    assert!(
        !seen.by_server.contains_key(replica) && seen.by_server.contains_key(writer),
        "reads while the {replica} lags go to the {writer}: {:?}",
        seen.by_server
    );
}

/// Once the lag ended: within 500 ms the replica (`replica` in `reads`) takes reads again,
/// and no read-only client saw an error; the readers are stopped.
fn reads_come_back<T>(
    reads: &Mutex<Reads>,
    stop: &AtomicBool,
    readers: Vec<std::thread::JoinHandle<T>>,
    replica: &str,
) {
    reads.lock().unwrap().by_server.clear();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    let seen = reads.lock().unwrap();
    assert!(
        seen.by_server.contains_key(replica),
        "the {replica} takes reads again: {:?}",
        seen.by_server
    );
    assert!(
        seen.errors.is_empty(),
        "read-only clients saw {:?}",
        seen.errors
    );
}

#[test]
fn mysql_replica_with_a_stopped_applier_gets_no_reads_until_it_caught_up() {
    let pair = MariaDbPair::start().unwrap();
    pair.primary
        .root_sql("CREATE TABLE sqlmux_test.l (id INT PRIMARY KEY)")
        .unwrap();
    pair.wait_replica_caught_up().unwrap();
    let replica = pair.replica.addr();
    let extra = format!(
        "\n[[servers]]\nhostgroup = 20\naddress = \"{replica}\"\nmax_connections = 20\n\n{MONITOR}"
    );
    let config = mysql_config(&pair.primary.addr(), &extra).replace(
        "reader_hostgroup = 20\n",
        "reader_hostgroup = 20\nmax_replication_lag_ms = 1000\n",
    );
    let proxy = Proxy::start(&with_admin(config)).unwrap();
    wait_lag_state(&proxy, &replica, "replica\t0");
    let port = proxy.mysql_port();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(Mutex::new(Reads::default()));
    // Read-only clients: which server answers, and whether any read fails.
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (stop, reads) = (stop.clone(), reads.clone());
            std::thread::spawn(move || {
                let (mut c, _) =
                    RawClient::login(port, "app", "apppw", Some("sqlmux_test")).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let answer = c.query("SELECT @@server_id, COUNT(*) FROM l");
                    let mut reads = reads.lock().unwrap();
                    match answer {
                        Ok(Ok(rows)) => {
                            let server = first_row(&rows).swap_remove(0);
                            *reads.by_server.entry(server).or_default() += 1;
                        }
                        Ok(Err(e)) => reads.errors.push(format!("{} {}", e.code, e.message)),
                        Err(e) => reads.errors.push(e.to_string()),
                    }
                    drop(reads);
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        reads.lock().unwrap().by_server.contains_key("2"),
        "the replica (server_id 2) takes reads while caught up"
    );
    pair.replica.root_sql("STOP SLAVE SQL_THREAD").unwrap();
    let detected = wait_lag_state(&proxy, &replica, "unknown\t1");
    let to_writer_before = reads_to_writer(&proxy);
    // A write the stopped replica will not see; every read from now on must see it.
    let (mut w, _) = RawClient::login(port, "app", "apppw", Some("sqlmux_test")).unwrap();
    w.query("INSERT INTO l VALUES (1)").unwrap().unwrap();
    reads.lock().unwrap().by_server.clear();
    std::thread::sleep(Duration::from_millis(500));
    let (mut r, _) = RawClient::login(port, "app", "apppw", Some("sqlmux_test")).unwrap();
    let fresh = r.query("SELECT COUNT(*) FROM l").unwrap().unwrap();
    assert_eq!(first_row(&fresh), ["1"], "a read saw stale data");
    reads_only_on(&reads, "1", "2");
    assert!(reads_to_writer(&proxy) > to_writer_before);
    pair.replica.root_sql("START SLAVE SQL_THREAD").unwrap();
    let back = wait_lag_state(&proxy, &replica, "replica\t0");
    reads_come_back(&reads, &stop, readers, "2");
    eprintln!("lagging detected after {detected:?}, back after {back:?}");
}

/// Three clients reading every 10 ms until `stop`, counting in `reads` which server
/// answered (the standby says it is in recovery).
fn pg_readers(
    port: u16,
    stop: &Arc<AtomicBool>,
    reads: &Arc<Mutex<Reads>>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..3)
        .map(|_| {
            let (stop, reads) = (stop.clone(), reads.clone());
            std::thread::spawn(move || {
                support::runtime().block_on(async {
                    let c = support::connect(port).await;
                    while !stop.load(Ordering::Relaxed) {
                        let answer = c
                            .query_one("SELECT pg_is_in_recovery()::text, count(*) FROM l", &[])
                            .await;
                        {
                            let mut reads = reads.lock().unwrap();
                            match answer {
                                Ok(row) => {
                                    let server = if row.get::<_, String>(0) == "true" {
                                        "standby"
                                    } else {
                                        "primary"
                                    };
                                    *reads.by_server.entry(server.into()).or_default() += 1;
                                }
                                Err(e) => reads.errors.push(e.to_string()),
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                })
            })
        })
        .collect()
}

#[test]
fn postgres_standby_with_paused_replay_gets_no_reads_until_it_caught_up() {
    let pair = PostgresPair::start().unwrap();
    pair.primary
        .ledger_psql()
        .query("CREATE TABLE l (id int PRIMARY KEY)")
        .unwrap();
    pair.wait_standby_caught_up().unwrap();
    let standby = pair.standby.addr();
    let monitor = MONITOR.replace(
        "user = \"app\"\npassword = \"apppw\"",
        "user = \"ledger\"\npassword = \"ledgerpw\"\ndatabase = \"ledger\"",
    );
    let config =
        sqlmux_integration::proxy::postgres_config(&pair.primary.addr(), Some(&standby), &monitor)
            .replace(
                "reader_hostgroup = 40\n",
                "reader_hostgroup = 40\nmax_replication_lag_ms = 1000\n",
            );
    let proxy = Proxy::start(&with_admin(config)).unwrap();
    wait_lag_state(&proxy, &standby, "replica\t0");
    let port = proxy.postgres_port();
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(Mutex::new(Reads::default()));
    let readers = pg_readers(port, &stop, &reads);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        reads.lock().unwrap().by_server.contains_key("standby"),
        "the standby takes reads while caught up"
    );
    // An idle primary does not make the standby look behind.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(lag_state(&proxy, &standby), "replica\t0");
    pair.standby.sql("SELECT pg_wal_replay_pause()").unwrap();
    let to_writer_before = reads_to_writer(&proxy);
    let paused_at = Instant::now();
    support::runtime().block_on(async {
        let c = support::connect(port).await;
        c.execute("INSERT INTO l VALUES (1)", &[]).await.unwrap();
    });
    let detected = wait_lag_state(&proxy, &standby, "replica\t1");
    assert!(
        paused_at.elapsed() >= Duration::from_millis(1000),
        "lagging only once the lag passed the limit"
    );
    reads.lock().unwrap().by_server.clear();
    std::thread::sleep(Duration::from_millis(500));
    let fresh = support::runtime().block_on(async {
        let c = support::connect(port).await;
        c.query_one("SELECT count(*) FROM l", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    });
    assert_eq!(fresh, 1, "a read saw stale data");
    reads_only_on(&reads, "primary", "standby");
    assert!(reads_to_writer(&proxy) > to_writer_before);
    pair.standby.sql("SELECT pg_wal_replay_resume()").unwrap();
    let back = wait_lag_state(&proxy, &standby, "replica\t0");
    reads_come_back(&reads, &stop, readers, "standby");
    eprintln!("lagging detected after {detected:?}, back after {back:?}");
}
