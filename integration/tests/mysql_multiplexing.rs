//! Multiplexing: each pin starts and ends, state never leaks between clients sharing a
//! backend, and reads and writes are split between a real primary and replica.

use sqlmux_integration::raw_mysql::{first_row, RawClient};
use sqlmux_integration::{mysql_config, MariaDb, MariaDbPair, Proxy};
use std::time::Duration;

/// A proxy with ONE backend connection and a short wait: a second session can only run a
/// statement when the first one does not hold the connection.
fn single_connection_proxy(db: &MariaDb) -> Proxy {
    let config = mysql_config(&db.addr(), "[pool]\nwait_timeout_ms = 200\n")
        .replace("max_connections = 50", "max_connections = 1");
    Proxy::start(&config).unwrap()
}

fn login(proxy: &Proxy) -> RawClient {
    let (c, ok) =
        RawClient::login(proxy.mysql_port(), "app", "apppw", Some("sqlmux_test")).unwrap();
    assert_eq!(ok.payload()[0], 0, "login");
    c
}

fn ok(c: &mut RawClient, sql: &str) -> Vec<Vec<u8>> {
    match c.query(sql).unwrap() {
        Ok(p) => p,
        Err(e) => panic!("{sql}: {} {}", e.code, e.message),
    }
}

/// Whether another session can get the single backend connection right now.
fn backend_free(other: &mut RawClient) -> bool {
    match other.query("SELECT 1").unwrap() {
        Ok(_) => true,
        Err(e) if e.code == 9001 => false,
        Err(e) => panic!("unexpected error {} {}", e.code, e.message),
    }
}

/// Each pin: its name, the statements that start it, the statements that end it.
const PIN_CASES: &[(&str, &[&str], &[&str])] = &[
    (
        "transaction",
        &["BEGIN", "INSERT INTO pins (v) VALUES (1)"],
        &["COMMIT"],
    ),
    (
        "rollback",
        &["START TRANSACTION", "SELECT * FROM pins FOR UPDATE"],
        &["ROLLBACK"],
    ),
    (
        "autocommit=0 with open work",
        &["INSERT INTO pins (v) VALUES (2)"],
        &["COMMIT"],
    ),
    (
        "savepoint",
        &[
            "BEGIN",
            "SAVEPOINT s1",
            "INSERT INTO pins (v) VALUES (3)",
            "ROLLBACK TO SAVEPOINT s1",
        ],
        &["COMMIT"],
    ),
    (
        "lock tables",
        &["LOCK TABLES pins WRITE"],
        &["UNLOCK TABLES"],
    ),
    (
        "flush tables with read lock",
        &["FLUSH TABLES WITH READ LOCK"],
        &["UNLOCK TABLES"],
    ),
    (
        "get_lock",
        &[
            "SELECT GET_LOCK('a', 1)",
            "SELECT GET_LOCK('b', 1)",
            "SELECT RELEASE_LOCK('a')",
        ],
        &["SELECT RELEASE_LOCK('b')"],
    ),
    (
        "release_all_locks",
        &["SELECT GET_LOCK('c', 1)"],
        &["SELECT RELEASE_ALL_LOCKS()"],
    ),
    (
        "temporary table",
        &[
            "CREATE TEMPORARY TABLE tmp1 (x INT)",
            "INSERT INTO tmp1 VALUES (1)",
        ],
        &["DROP TEMPORARY TABLE tmp1"],
    ),
    (
        "text prepare",
        &["PREPARE s FROM 'SELECT 1'", "EXECUTE s"],
        &["DEALLOCATE PREPARE s"],
    ),
    (
        "sql_calc_found_rows",
        &["SELECT SQL_CALC_FOUND_ROWS * FROM pins LIMIT 1"],
        &["SELECT FOUND_ROWS()"],
    ),
    (
        "sql_log_bin",
        &["SET sql_log_bin = 0"],
        &["SET sql_log_bin = 1"],
    ),
];

#[test]
fn every_pin_starts_and_ends() {
    let db = MariaDb::start().unwrap();
    db.root_sql(
        "CREATE TABLE sqlmux_test.pins (id INT AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=InnoDB",
    )
    .unwrap();
    let proxy = single_connection_proxy(&db);
    let mut a = login(&proxy);
    let mut b = login(&proxy);
    assert!(backend_free(&mut b), "nothing pinned at first");
    for (name, start, end) in PIN_CASES {
        if name.starts_with("autocommit=0") {
            ok(&mut a, "SET autocommit = 0");
            assert!(backend_free(&mut b), "autocommit=0 alone opens no work");
        }
        for sql in *start {
            ok(&mut a, sql);
            assert!(!backend_free(&mut b), "{name}: pinned after {sql}");
        }
        for sql in *end {
            ok(&mut a, sql);
        }
        assert!(backend_free(&mut b), "{name}: released after {end:?}");
        if name.starts_with("autocommit=0") {
            ok(&mut a, "SET autocommit = 1");
        }
    }
    // FOUND_ROWS() on the same connection gives the right number.
    ok(&mut a, "INSERT INTO pins (v) VALUES (10), (11), (12)");
    ok(&mut a, "SELECT SQL_CALC_FOUND_ROWS * FROM pins LIMIT 1");
    let found = ok(&mut a, "SELECT FOUND_ROWS()");
    let direct = db
        .root_sql("SELECT COUNT(*) FROM sqlmux_test.pins")
        .unwrap();
    assert_eq!(first_row(&found), vec![direct]);
}

#[test]
fn warnings_are_kept_only_for_the_next_warnings_read() {
    let db = MariaDb::start().unwrap();
    let proxy = single_connection_proxy(&db);
    let mut a = login(&proxy);
    let mut b = login(&proxy);
    ok(&mut a, "SELECT 1/0");
    assert!(!backend_free(&mut b), "held for a following SHOW WARNINGS");
    let warnings = ok(&mut a, "SHOW WARNINGS");
    assert!(
        first_row(&warnings).contains(&"1365".to_string()),
        "division by zero warning"
    );
    assert!(backend_free(&mut b), "released after the warnings read");
    ok(&mut a, "SELECT 1/0");
    ok(&mut a, "SELECT 2");
    assert!(backend_free(&mut b), "any other statement releases it");
}

#[test]
fn reads_of_variables_never_pin_but_unknown_state_does() {
    let db = MariaDb::start().unwrap();
    let proxy = single_connection_proxy(&db);
    let mut a = login(&proxy);
    let mut b = login(&proxy);
    ok(
        &mut a,
        "SELECT @@version, @@session.sql_mode, @@autocommit, @@tx_isolation",
    );
    ok(&mut a, "SET @known = 'literal', @other := 5");
    assert!(
        backend_free(&mut b),
        "@@ reads and literal user variables do not pin"
    );
    assert_eq!(
        first_row(&ok(&mut a, "SELECT @known, @other")),
        vec!["literal", "5"]
    );
    ok(
        &mut a,
        "SELECT COUNT(*) INTO @n FROM information_schema.tables",
    );
    assert!(!backend_free(&mut b), "SELECT ... INTO @n pins");
    let mut c = login(&proxy);
    // (c waits for the same single connection; it must not see a's variables once it gets it)
    drop(a);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        first_row(&ok(&mut c, "SELECT @known, @n")),
        vec!["NULL", "NULL"]
    );
    let mut d = login(&proxy);
    ok(&mut d, "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')");
    assert!(!backend_free(&mut c), "a SET sqlmux cannot parse pins");
}

#[test]
fn session_state_never_leaks_between_clients() {
    let db = MariaDb::start().unwrap();
    let proxy = single_connection_proxy(&db);
    let mut fresh = login(&proxy);
    let probe =
        "SELECT @@sql_mode, @@time_zone, @@character_set_client, @@tx_isolation, @u, DATABASE()";
    let defaults = first_row(&ok(&mut fresh, probe));
    let mut a = login(&proxy);
    ok(&mut a, "SET sql_mode = 'ANSI_QUOTES'");
    ok(&mut a, "SET time_zone = '+05:00'");
    ok(&mut a, "SET NAMES latin1");
    ok(
        &mut a,
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    );
    ok(&mut a, "SET @u = 'secret'");
    ok(&mut a, "USE mysql");
    let a_view = first_row(&ok(&mut a, probe));
    assert_eq!(
        a_view,
        vec![
            "ANSI_QUOTES",
            "+05:00",
            "latin1",
            "READ-COMMITTED",
            "secret",
            "mysql"
        ]
    );
    for _ in 0..3 {
        assert_eq!(
            first_row(&ok(&mut fresh, probe)),
            defaults,
            "b sees none of a's state"
        );
        assert_eq!(
            first_row(&ok(&mut a, probe)),
            a_view,
            "a keeps its state on a shared backend"
        );
    }
    let mut b = login(&proxy);
    ok(&mut b, "SET time_zone = '-03:00'");
    assert_eq!(first_row(&ok(&mut a, "SELECT @@time_zone"))[0], "+05:00");
    assert_eq!(first_row(&ok(&mut b, "SELECT @@time_zone"))[0], "-03:00");
    // COM_RESET_CONNECTION starts a session over.
    let reset = a
        .command(&[0x1f], sqlmux_protocol::mysql::scanner::Expect::OkOrErr)
        .unwrap();
    assert_eq!(reset[0][0], 0);
    let after = first_row(&ok(&mut a, "SELECT @@sql_mode, @@time_zone, @u"));
    assert_eq!(
        after,
        vec![defaults[0].clone(), defaults[1].clone(), "NULL".into()]
    );
}

#[test]
fn reads_go_to_the_replica_writes_to_the_primary() {
    let pair = MariaDbPair::start().unwrap();
    pair.primary
        .root_sql("CREATE TABLE sqlmux_test.rw (id INT AUTO_INCREMENT PRIMARY KEY, v INT); INSERT INTO sqlmux_test.rw (v) VALUES (0)")
        .unwrap();
    pair.wait_replica_caught_up().unwrap();
    let config = format!(
        "{}\n[[servers]]\nhostgroup = 20\naddress = \"{}\"\n\n[[rules]]\nmatch = \"(?i)via_rule\"\nhostgroup = 10\n",
        mysql_config(&pair.primary.addr(), ""),
        pair.replica.addr()
    )
    .replace("cluster = \"shop\"\n", "cluster = \"shop\"\nread_your_writes_ms = 1500\n");
    let proxy = Proxy::start(&config).unwrap();
    let mut c = login(&proxy);
    let server_id = |c: &mut RawClient, sql: &str| first_row(&ok(c, sql))[0].clone();
    assert_eq!(
        server_id(&mut c, "SELECT @@server_id"),
        "2",
        "plain read on the replica"
    );
    assert_eq!(
        server_id(&mut c, "/* sqlmux:hostgroup=10 */ SELECT @@server_id"),
        "1",
        "hint"
    );
    assert_eq!(
        server_id(&mut c, "SELECT @@server_id AS via_rule"),
        "1",
        "rule"
    );
    ok(&mut c, "BEGIN");
    assert_eq!(
        server_id(&mut c, "SELECT @@server_id"),
        "1",
        "reads in a transaction"
    );
    ok(&mut c, "COMMIT");
    assert_eq!(
        server_id(&mut c, "SELECT @@server_id FROM rw LIMIT 1 FOR UPDATE"),
        "1",
        "locking read"
    );
    assert_eq!(
        server_id(&mut c, "SELECT @@server_id FROM rw LIMIT 1"),
        "2",
        "plain read again"
    );
    ok(&mut c, "INSERT INTO rw (v) VALUES (@@server_id)");
    assert_eq!(
        server_id(&mut c, "SELECT @@server_id"),
        "1",
        "read-your-writes window"
    );
    std::thread::sleep(Duration::from_millis(1600));
    assert_eq!(server_id(&mut c, "SELECT @@server_id"), "2", "window over");
    assert_eq!(
        pair.primary
            .root_sql("SELECT v FROM sqlmux_test.rw ORDER BY id")
            .unwrap(),
        "0\n1",
        "the insert ran on the primary"
    );
}
