//! Timeouts towards backends (issue 15), on both protocols against real servers:
//! `pool.query_timeout_ms` cancels a statement on its server and gives up a backend that
//! does not answer the cancel; `pool.idle_transaction_timeout_ms` closes sessions that sit
//! inside a transaction; a client that leaves mid-statement frees its backend at once.
//! Every test checks that another session is served afterwards.

mod support;

use sqlmux_integration::faults::Frozen;
use sqlmux_integration::poll::within;
use sqlmux_integration::proxy::postgres_config;
use sqlmux_integration::raw_mysql::RawClient;
use sqlmux_integration::{MariaDb, MariaDbCli, Postgres, Proxy, Psql};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A MySQL proxy in front of `mariadb` with `pool` settings and at most `max` backends.
fn mysql_proxy(mariadb: &MariaDb, max: u32, pool: &str) -> Proxy {
    let config = sqlmux_integration::mysql_config(&mariadb.addr(), &format!("\n[pool]\n{pool}\n"))
        .replace("max_connections = 50", &format!("max_connections = {max}"));
    Proxy::start(&config).unwrap()
}

/// A PostgreSQL proxy in front of `pg` with `pool` settings and at most `max` backends.
fn postgres_proxy(pg: &Postgres, max: u32, pool: &str) -> Proxy {
    let config = postgres_config(&pg.addr(), None, &format!("\n[pool]\n{pool}\n"))
        .replace("max_connections = 20", &format!("max_connections = {max}"));
    Proxy::start(&config).unwrap()
}

fn app(p: &Proxy) -> RawClient {
    RawClient::login(p.mysql_port(), "app", "apppw", Some("sqlmux_test"))
        .unwrap()
        .0
}

fn sqlstate(e: &tokio_postgres::Error) -> Option<&str> {
    e.as_db_error().map(|d| d.code().code())
}

#[test]
fn a_statement_past_the_query_timeout_is_cancelled_on_its_server() {
    let (mariadb, pg) = (MariaDb::start().unwrap(), Postgres::start().unwrap());
    let p = mysql_proxy(&mariadb, 5, "query_timeout_ms = 1000");
    let mut c = app(&p);
    let started = Instant::now();
    let err = c
        .query("SELECT COUNT(*) FROM seq_1_to_100000 a, seq_1_to_100000 b WHERE a.seq + b.seq = 3")
        .unwrap()
        .unwrap_err();
    eprintln!("mysql: cancelled after {:?}", started.elapsed());
    assert_eq!(
        err.code, 1317,
        "the server's interrupted error: {}",
        err.message
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // The session and its backend go on.
    c.query("SELECT 1").unwrap().expect("the session goes on");

    let p = postgres_proxy(&pg, 5, "query_timeout_ms = 1000");
    let runtime = support::runtime();
    let client = runtime.block_on(support::connect(p.postgres_port()));
    let started = Instant::now();
    let err = runtime
        .block_on(client.simple_query("SELECT pg_sleep(30)"))
        .unwrap_err();
    eprintln!("postgres: cancelled after {:?}", started.elapsed());
    assert_eq!(sqlstate(&err), Some("57014"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    runtime
        .block_on(client.simple_query("SELECT 1"))
        .expect("the session goes on");
}

#[test]
fn a_stopped_backend_is_given_up_when_it_does_not_answer_the_cancel() {
    let pg = Postgres::start().unwrap();
    let p = postgres_proxy(&pg, 5, "query_timeout_ms = 1000");
    let runtime = support::runtime();
    let client = runtime.block_on(support::connect(p.postgres_port()));
    let other = runtime.block_on(support::connect(p.postgres_port()));
    runtime.block_on(client.simple_query("BEGIN")).unwrap();
    // (Simple protocol: a prepared statement's Close, sent when it is dropped, would be
    // the request that meets the frozen backend.)
    let pid = match &runtime
        .block_on(client.simple_query("SELECT pg_backend_pid()"))
        .unwrap()[1]
    {
        tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).unwrap().parse().unwrap(),
        other => panic!("a row: {other:?}"),
    };
    let frozen = Frozen::freeze(vec![pid]).unwrap();
    let started = Instant::now();
    let err = runtime
        .block_on(client.simple_query("SELECT 1"))
        .unwrap_err();
    eprintln!(
        "postgres: stopped backend given up after {:?}",
        started.elapsed()
    );
    assert_eq!(sqlstate(&err), Some("57014"), "{err}");
    assert!(format!("{err:?}").contains("query_timeout_ms"), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(15));
    // The transaction went with the backend: refused until the client ends it.
    let lost = runtime
        .block_on(client.simple_query("SELECT 1"))
        .unwrap_err();
    assert_eq!(sqlstate(&lost), Some("25P02"), "{lost}");
    runtime.block_on(client.simple_query("ROLLBACK")).unwrap();
    runtime
        .block_on(client.simple_query("SELECT 1"))
        .expect("the session goes on");
    runtime
        .block_on(other.simple_query("SELECT 1"))
        .expect("another session is served meanwhile");
    drop(frozen);

    let mariadb = MariaDb::start().unwrap();
    let p = mysql_proxy(
        &mariadb,
        5,
        "query_timeout_ms = 1000\nwait_timeout_ms = 20000",
    );
    let mut c = app(&p);
    c.query("SELECT 1").unwrap().unwrap();
    let frozen = Frozen::freeze(vec![mariadb.pid()]).unwrap();
    let started = Instant::now();
    let err = c.query("SELECT 2").unwrap().unwrap_err();
    eprintln!(
        "mysql: stopped server given up after {:?}",
        started.elapsed()
    );
    assert_eq!(err.code, 1969, "{}", err.message);
    assert!(err.message.contains("query_timeout_ms"), "{}", err.message);
    drop(frozen);
    c.query("SELECT 3")
        .unwrap()
        .expect("the session goes on once the server is back");
}

#[test]
fn sessions_idle_in_a_transaction_do_not_hold_the_pool() {
    let (mariadb, pg) = (MariaDb::start().unwrap(), Postgres::start().unwrap());
    let pool = "idle_transaction_timeout_ms = 1000\nwait_timeout_ms = 5000";
    mariadb
        .root_sql("CREATE TABLE sqlmux_test.kv (k VARCHAR(64) PRIMARY KEY, v TEXT)")
        .unwrap();
    let p = mysql_proxy(&mariadb, 2, pool);
    let mut idle: Vec<RawClient> = (0..2).map(|_| app(&p)).collect();
    for c in &mut idle {
        c.query("BEGIN").unwrap().unwrap();
        c.query("INSERT INTO kv (k, v) VALUES (UUID(), 'idle')")
            .unwrap()
            .unwrap();
    }
    // Both backends are held: a third session waits until the idle ones are closed.
    let started = Instant::now();
    app(&p)
        .query("SELECT 1")
        .unwrap()
        .expect("a fresh session is served");
    eprintln!("mysql: third session served after {:?}", started.elapsed());
    for c in &mut idle {
        let frame = c.read_frame().unwrap();
        let payload = frame.payload();
        assert_eq!(payload[0], 0xff, "an ERR before the close");
        assert_eq!(u16::from_le_bytes([payload[1], payload[2]]), 4031);
    }
    // Rolled back: nothing of the idle transactions stayed.
    let count = mariadb
        .root_sql("SELECT COUNT(*) FROM sqlmux_test.kv WHERE v = 'idle'")
        .unwrap();
    assert_eq!(count.trim(), "0");

    let p = postgres_proxy(&pg, 2, pool);
    let runtime = support::runtime();
    let idle: Vec<_> = (0..2)
        .map(|_| runtime.block_on(support::connect(p.postgres_port())))
        .collect();
    for c in &idle {
        runtime
            .block_on(c.batch_execute("BEGIN; SELECT 1"))
            .unwrap();
    }
    let started = Instant::now();
    let fresh = runtime.block_on(support::connect(p.postgres_port()));
    runtime
        .block_on(fresh.simple_query("SELECT 1"))
        .expect("a fresh session is served");
    eprintln!(
        "postgres: third session served after {:?}",
        started.elapsed()
    );
    // Both transactions rolled back, their backends idle in the pool.
    let in_transaction = || {
        pg.sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'ledger' AND state = 'idle in transaction'")
            .unwrap()
            .trim()
            .to_string()
    };
    within(Duration::from_secs(10), || in_transaction() == "0").expect("rolled back");
    for c in &idle {
        let err = runtime.block_on(c.simple_query("SELECT 1")).unwrap_err();
        assert!(
            sqlstate(&err) == Some("25P03") || c.is_closed(),
            "closed with the idle-in-transaction error: {err}"
        );
    }
    // The backends were reused, not replaced: still two at most, both idle.
    let backends = pg
        .sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'ledger'")
        .unwrap();
    assert!(backends.trim().parse::<u32>().unwrap() <= 2, "{backends}");
}

#[test]
fn a_client_that_leaves_mid_statement_frees_its_backend() {
    let (mariadb, pg) = (MariaDb::start().unwrap(), Postgres::start().unwrap());
    let p = postgres_proxy(&pg, 1, "wait_timeout_ms = 10000");
    let running = |pg: &Postgres| {
        pg.sql("SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'")
            .unwrap()
            .trim()
            == "1"
    };
    let mut psql = Psql::tcp("127.0.0.1", p.postgres_port())
        .user("ledger")
        .password("ledgerpw")
        .database("ledger")
        .command();
    psql.args(["-c", "SELECT pg_sleep(60)"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = psql.spawn().unwrap();
    within(Duration::from_secs(10), || running(&pg)).expect("the statement runs");
    child.kill().unwrap();
    let _ = child.wait();
    let freed = within(Duration::from_secs(10), || !running(&pg));
    eprintln!("postgres: statement stopped {freed:?} after the client left");
    assert!(freed.is_some(), "the statement of a client that left stops");
    let runtime = support::runtime();
    let other = runtime.block_on(support::connect(p.postgres_port()));
    runtime
        .block_on(other.simple_query("SELECT 1"))
        .expect("the only backend is free again");

    let p = mysql_proxy(&mariadb, 1, "wait_timeout_ms = 10000");
    let sleeping = |m: &MariaDb| {
        m.root_sql(
            "SELECT COUNT(*) FROM information_schema.processlist WHERE info = 'SELECT SLEEP(60)'",
        )
        .unwrap()
        .trim()
            == "1"
    };
    let mut cli = MariaDbCli::tcp("127.0.0.1", p.mysql_port())
        .user("app")
        .password("apppw")
        .database("sqlmux_test")
        .command("SELECT SLEEP(60)");
    cli.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = cli.spawn().unwrap();
    within(Duration::from_secs(10), || sleeping(&mariadb)).expect("the statement runs");
    child.kill().unwrap();
    let _ = child.wait();
    let freed = within(Duration::from_secs(10), || !sleeping(&mariadb));
    eprintln!("mysql: statement stopped {freed:?} after the client left");
    assert!(freed.is_some(), "the statement of a client that left stops");
    app(&p)
        .query("SELECT 1")
        .unwrap()
        .expect("the only backend is free again");
}

#[test]
fn a_client_that_stops_reading_is_cut_at_the_query_timeout() {
    let mariadb = MariaDb::start().unwrap();
    let p = mysql_proxy(
        &mariadb,
        1,
        "query_timeout_ms = 1000\nwait_timeout_ms = 20000",
    );
    let mut reader_that_stalls = app(&p);
    // About 1 GB of rows, never read.
    let mut payload = vec![0x03];
    payload.extend_from_slice(b"SELECT REPEAT('x', 1000000) FROM seq_1_to_1000");
    reader_that_stalls.send(0, &payload).unwrap();
    let started = Instant::now();
    app(&p)
        .query("SELECT 1")
        .unwrap()
        .expect("the only backend is freed for another session");
    eprintln!(
        "mysql: backend of a stalled reader freed after {:?}",
        started.elapsed()
    );
}
