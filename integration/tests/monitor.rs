//! The health monitor (issue 12): a writer that reports itself read-only, or stops
//! answering (SIGSTOP, the semi-sync hang), takes no writes: writer-bound statements are
//! held and run once it is back, and statements running on a writer that froze are cut
//! instead of hanging. Real faults, always undone (SIGCONT in a guard).

use sqlmux_integration::faults::Frozen;
use sqlmux_integration::raw_mysql::RawClient;

mod support;
use sqlmux_integration::{mysql_config, MariaDb, Proxy};
use std::time::{Duration, Instant};

/// Checks every 100 ms, DOWN after 3 failed ones (each at most 300 ms), UP after 2.
const MONITOR: &str = "[monitor]\nuser = \"app\"\npassword = \"apppw\"\ninterval_ms = 100\ntimeout_ms = 300\ndown_after = 3\nup_after = 2\n\n[failover]\nhold_timeout_ms = 8000\n";

/// A proxy with the monitor, the control API and the MySQL admin port (`data_dir`).
fn proxy(db: &MariaDb, data_dir: &std::path::Path) -> Proxy {
    let admin = format!(
        "[admin]\nuser = \"admin\"\npassword = \"adminpw\"\ndata_dir = \"{}\"\n\n",
        data_dir.display()
    );
    let config = mysql_config(&db.addr(), &format!("{admin}{MONITOR}")).replace(
        "[listen]\n",
        "[listen]\nhttp = \"127.0.0.1:0\"\nadmin_mysql = \"127.0.0.1:0\"\n",
    );
    Proxy::start(&config).unwrap()
}

/// `stats_monitor` through the admin port.
fn stats_monitor(proxy: &Proxy) -> String {
    sqlmux_integration::MariaDbCli::tcp("127.0.0.1", proxy.admin_mysql_port())
        .user("admin")
        .password("adminpw")
        .query("SELECT state, read_only, checks > 0, error IS NULL FROM stats_monitor")
        .unwrap()
}

/// Waits until the topology document's health of the writer contains `what`.
fn wait_health(proxy: &Proxy, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = proxy.http("GET", "/v1/topology", None).unwrap();
        if body.contains(what) {
            return body;
        }
        assert!(Instant::now() < deadline, "never {what}: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_read_only_writer_holds_writes_until_it_is_writable_again() {
    let db = MariaDb::start().unwrap();
    db.root_sql("CREATE TABLE sqlmux_test.m (id INT PRIMARY KEY)")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(&db, dir.path());
    wait_health(&proxy, "\"state\":\"up\",\"read_only\":false");
    assert_eq!(stats_monitor(&proxy).trim(), "up\t0\t1\t1");
    let port = proxy.mysql_port();
    let (mut c, _) = RawClient::login(port, "app", "apppw", Some("sqlmux_test")).unwrap();
    c.query("INSERT INTO m VALUES (1)").unwrap().unwrap();
    db.root_sql("SET GLOBAL read_only = 1").unwrap();
    wait_health(&proxy, "\"read_only\":true");
    assert_eq!(stats_monitor(&proxy).trim(), "up\t1\t1\t1");
    let writer = std::thread::spawn(move || {
        let started = Instant::now();
        let answer = c.query("INSERT INTO m VALUES (2)").unwrap();
        (answer, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(600));
    db.root_sql("SET GLOBAL read_only = 0").unwrap();
    let (answer, waited) = writer.join().unwrap();
    assert!(answer.is_ok(), "held, then run: {answer:?}");
    assert!(
        waited >= Duration::from_millis(500),
        "it waited for the writer: {waited:?}"
    );
    assert_eq!(
        db.root_sql("SELECT GROUP_CONCAT(id ORDER BY id) FROM sqlmux_test.m")
            .unwrap()
            .trim(),
        "1,2"
    );
}

#[test]
fn a_frozen_writer_is_down_its_statements_are_cut_and_writes_wait_for_it() {
    let db = MariaDb::start().unwrap();
    db.root_sql("CREATE TABLE sqlmux_test.m (id INT PRIMARY KEY)")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(&db, dir.path());
    wait_health(&proxy, "\"state\":\"up\"");
    let port = proxy.mysql_port();
    let long = support::in_flight(port, "SELECT SLEEP(30)");
    std::thread::sleep(Duration::from_millis(300));
    let frozen = Frozen::freeze(vec![db.pid()]).unwrap();
    let frozen_at = Instant::now();
    let body = wait_health(&proxy, "\"state\":\"down\"");
    let detected = frozen_at.elapsed();
    assert!(
        detected < Duration::from_secs(4),
        "down after {detected:?}: {body}"
    );
    // The statement in flight is cut, not left hanging on the frozen server.
    let (took, mut c) = support::cut_in_flight(long);
    assert!(took < Duration::from_secs(6), "{took:?}");
    // A write now waits for the writer instead of hanging on it or failing.
    let writer = std::thread::spawn(move || {
        let started = Instant::now();
        (
            c.query("INSERT INTO m VALUES (7)").unwrap(),
            started.elapsed(),
        )
    });
    std::thread::sleep(Duration::from_millis(1000));
    drop(frozen);
    let (answer, waited) = writer.join().unwrap();
    assert!(answer.is_ok(), "run once the writer is back: {answer:?}");
    assert!(waited >= Duration::from_millis(900), "{waited:?}");
    wait_health(&proxy, "\"state\":\"up\"");
    let (_, metrics) = proxy.http("GET", "/metrics", None).unwrap();
    assert!(metrics.contains("sqlmux_server_health{"), "{metrics}");
    assert!(
        metrics.contains("sqlmux_monitor_checks_total{"),
        "{metrics}"
    );
    assert_eq!(
        db.root_sql("SELECT COUNT(*) FROM sqlmux_test.m")
            .unwrap()
            .trim(),
        "1"
    );
}

#[test]
fn postgres_writes_to_a_standby_wait_for_its_promotion() {
    let pair = sqlmux_integration::PostgresPair::start().unwrap();
    pair.primary
        .ledger_psql()
        .query("CREATE TABLE m (id int PRIMARY KEY)")
        .unwrap();
    pair.wait_standby_caught_up().unwrap();
    // The pushed topology names the standby as writer (the orchestrator is ahead of the
    // promotion): it is in recovery, so writes wait instead of failing as read-only.
    let monitor = MONITOR.replace(
        "user = \"app\"\npassword = \"apppw\"",
        "user = \"ledger\"\npassword = \"ledgerpw\"\ndatabase = \"ledger\"",
    );
    let config = sqlmux_integration::proxy::postgres_config(&pair.standby.addr(), None, &monitor)
        .replace("[listen]\n", "[listen]\nhttp = \"127.0.0.1:0\"\n");
    let proxy = Proxy::start(&config).unwrap();
    wait_health(&proxy, "\"read_only\":true");
    let port = proxy.postgres_port();
    let writer = std::thread::spawn(move || {
        support::runtime().block_on(async {
            // (A new session starts on a writer backend too: its start waits as well.)
            let started = Instant::now();
            let c = support::connect(port).await;
            let r = c.batch_execute("INSERT INTO m VALUES (1)").await;
            (r.map_err(|e| e.to_string()), started.elapsed())
        })
    });
    std::thread::sleep(Duration::from_millis(600));
    pair.standby.sql("SELECT pg_promote()").unwrap();
    let (answer, waited) = writer.join().unwrap();
    assert!(
        answer.is_ok(),
        "held, then run on the promoted server: {answer:?}"
    );
    assert!(waited >= Duration::from_millis(500), "{waited:?}");
    wait_health(&proxy, "\"read_only\":false");
    assert_eq!(
        pair.standby
            .ledger_psql()
            .query("SELECT count(*) FROM m")
            .unwrap()
            .trim(),
        "1"
    );
}

#[test]
fn reads_go_to_the_writer_when_no_reader_takes_work() {
    let db = MariaDb::start().unwrap();
    let dead = format!("127.0.0.1:{}", sqlmux_integration::free_port().unwrap());
    let reader =
        format!("[[servers]]\nhostgroup = 20\naddress = \"{dead}\"\nmax_connections = 5\n\n");
    let config = mysql_config(&db.addr(), &format!("{reader}{MONITOR}"))
        .replace("[listen]\n", "[listen]\nhttp = \"127.0.0.1:0\"\n");
    let proxy = Proxy::start(&config).unwrap();
    wait_health(&proxy, "\"state\":\"down\"");
    let (mut c, _) =
        RawClient::login(proxy.mysql_port(), "app", "apppw", Some("sqlmux_test")).unwrap();
    for _ in 0..3 {
        let rows = c.query("SELECT @@port").unwrap().unwrap();
        let text: String = rows
            .iter()
            .map(|r| String::from_utf8_lossy(r).to_string())
            .collect();
        assert!(text.contains(&db.port().to_string()), "{text}");
    }
    let (_, metrics) = proxy.http("GET", "/metrics", None).unwrap();
    assert!(
        metrics.contains("sqlmux_reads_to_writer_total 3"),
        "{metrics}"
    );
}
