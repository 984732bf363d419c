//! Tests of the throwaway-server harness itself: real servers, real clients, real auth.

use std::process::Command;
use std::time::Instant;

use sqlmux_integration::cli::{self, DEFAULT_TIMEOUT};
use sqlmux_integration::mariadb::{APP_PASSWORD, APP_USER, TEST_DATABASE};
use sqlmux_integration::postgres::{pg_binary, LEDGER_PASSWORD, LEDGER_USER};
use sqlmux_integration::{
    free_port, MariaDb, MariaDbOptions, MariaDbPair, Postgres, PostgresOptions, PostgresPair,
};

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let v = f();
    eprintln!("{what}: {:?}", t.elapsed());
    v
}

/// `mariadb -h127.0.0.1 -P PORT -uapp -papppw -e SQL` over TCP.
fn mariadb_app(port: u16, sql: &str) -> cli::CliOutput {
    let mut cmd = Command::new("mariadb");
    cmd.args(["--no-defaults", "-N", "-B", "-h127.0.0.1"])
        .arg(format!("-P{port}"))
        .arg(format!("-u{APP_USER}"))
        .arg(format!("-p{APP_PASSWORD}"))
        .args(["-e", sql]);
    cli::run(&mut cmd, None, DEFAULT_TIMEOUT).unwrap()
}

/// `psql -h 127.0.0.1 -p PORT -U ledger -d DB -c SQL` over TCP with `PGPASSWORD`.
fn psql_ledger(port: u16, db: &str, password: &str, sql: &str) -> cli::CliOutput {
    let mut cmd = Command::new(pg_binary("psql"));
    cmd.args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
        .args([
            "-p",
            &port.to_string(),
            "-U",
            LEDGER_USER,
            "-d",
            db,
            "-c",
            sql,
        ])
        .env("PGPASSWORD", password);
    cli::run(&mut cmd, None, DEFAULT_TIMEOUT).unwrap()
}

#[test]
fn free_port_is_bindable() {
    // Other tests start servers concurrently and may take a port between free_port() and
    // our bind, so require only that one of a few candidates is bindable.
    let bindable = (0..3).any(|_| {
        let port = free_port().unwrap();
        assert_ne!(port, 0);
        std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
    });
    assert!(bindable);
}

#[test]
fn mariadb_app_user_over_tcp() {
    let t = Instant::now();
    let db = timed("MariaDb::start", || {
        MariaDb::start_with(&MariaDbOptions::new().arg("--max-connections=77")).unwrap()
    });
    let out = mariadb_app(db.port(), "select 1");
    assert!(out.success(), "{out:?}");
    assert_eq!(out.stdout.trim(), "1");

    // Real authentication: a wrong password is refused.
    let bad = db.app_cli().password("wrong").run("select 1").unwrap();
    assert!(!bad.success());
    assert!(bad.stderr.contains("Access denied"), "{}", bad.stderr);

    let plugins = db
        .root_sql("SELECT DISTINCT plugin FROM mysql.user WHERE user = 'app'")
        .unwrap();
    assert_eq!(plugins, "mysql_native_password");
    let hosts = db
        .root_sql("SELECT host FROM mysql.user WHERE user = 'app' ORDER BY host")
        .unwrap();
    assert_eq!(hosts, "%\n127.0.0.1\nlocalhost");
    assert_eq!(
        db.root_sql("SELECT @@max_connections, @@port").unwrap(),
        format!("77\t{}", db.port())
    );
    let dbs = db.app_cli().query("SHOW DATABASES").unwrap();
    assert!(dbs.lines().any(|l| l == TEST_DATABASE), "{dbs}");
    assert!(db.root_sql("SELEC nonsense").is_err());
    assert_eq!(db.addr(), format!("127.0.0.1:{}", db.port()));

    // Cleanup: dropping stops the server and removes its directory.
    let dir = db.dir().to_path_buf();
    let port = db.port();
    timed("MariaDb drop", || drop(db));
    assert!(!dir.exists());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    eprintln!("mariadb_app_user_over_tcp total: {:?}", t.elapsed());
}

#[test]
fn failed_starts_report_the_log_and_clean_up() {
    let err = MariaDb::start_with(&MariaDbOptions::new().arg("--no-such-option=1")).unwrap_err();
    eprintln!("{err}");
    assert!(err.to_string().contains("no-such-option"), "{err}");
    assert_dir_removed(&err.to_string());
    let err =
        Postgres::start_with(&PostgresOptions::new().setting("no_such_setting", "1")).unwrap_err();
    eprintln!("{err}");
    assert!(err.to_string().contains("no_such_setting"), "{err}");
    assert_dir_removed(&err.to_string());
}

/// The error names the server's log file; its temp dir must be gone after the failed start.
fn assert_dir_removed(err: &str) {
    let start = err.find("/tmp/sqlmux-").expect("error names the log path");
    // "/tmp/sqlmux-xxx/error.log: ..." -> "/tmp/sqlmux-xxx"
    let dir = err[start..]
        .split('/')
        .take(3)
        .collect::<Vec<_>>()
        .join("/");
    assert!(dir.starts_with("/tmp/sqlmux-"), "{dir}");
    assert!(!std::path::Path::new(&dir).exists(), "{dir} still exists");
}

#[test]
fn mariadb_restart_keeps_data() {
    let mut db = MariaDb::start().unwrap();
    db.app_cli()
        .database(TEST_DATABASE)
        .query("CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (7)")
        .unwrap();
    let old_pid = db.pid();
    timed("MariaDb restart", || db.restart().unwrap());
    assert_ne!(db.pid(), old_pid);
    let out = mariadb_app(db.port(), "SELECT id FROM sqlmux_test.t");
    assert_eq!(out.stdout.trim(), "7", "{out:?}");
}

#[test]
fn mariadb_pair_replicates() {
    let t = Instant::now();
    let pair = timed("MariaDbPair::start", || MariaDbPair::start().unwrap());
    let primary = pair.primary.app_cli().database(TEST_DATABASE);
    primary
        .query(
            "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20));\
             INSERT INTO items VALUES (1, 'alpha'), (2, 'beta')",
        )
        .unwrap();
    pair.wait_replica_caught_up().unwrap();

    let out = mariadb_app(
        pair.replica.port(),
        "SELECT id, name FROM sqlmux_test.items ORDER BY id",
    );
    assert!(out.success(), "{out:?}");
    assert_eq!(out.stdout, "1\talpha\n2\tbeta\n");
    assert_eq!(pair.replica.root_sql("SELECT @@read_only").unwrap(), "1");
    assert_eq!(pair.primary.root_sql("SELECT @@log_bin").unwrap(), "1");
    let status = pair.replica.replica_status().unwrap().unwrap();
    assert_eq!(status["Slave_IO_Running"], "Yes");
    assert_eq!(status["Slave_SQL_Running"], "Yes");
    assert_eq!(status["Master_Port"], pair.primary.port().to_string());
    timed("MariaDbPair drop", || drop(pair));
    eprintln!("mariadb_pair_replicates total: {:?}", t.elapsed());
}

#[test]
fn postgres_ledger_over_tcp() {
    let t = Instant::now();
    let pg = timed("Postgres::start", Postgres::start).unwrap();
    let out = psql_ledger(pg.port(), "ledger", LEDGER_PASSWORD, "select 1");
    assert!(out.success(), "{out:?}");
    assert_eq!(out.stdout.trim(), "1");

    // SCRAM over TCP: a wrong password is refused.
    let bad = psql_ledger(pg.port(), "ledger", "wrong", "select 1");
    assert!(!bad.success());
    assert!(
        bad.stderr.contains("password authentication failed"),
        "{}",
        bad.stderr
    );

    let owners = pg
        .sql(
            "SELECT d.datname || ':' || r.rolname FROM pg_database d \
             JOIN pg_roles r ON r.oid = d.datdba \
             WHERE d.datname IN ('ledger', 'sqlmux_test') ORDER BY 1",
        )
        .unwrap();
    assert_eq!(owners, "ledger:ledger\nsqlmux_test:ledger");
    assert_eq!(pg.sql("SHOW max_connections").unwrap(), "200");
    assert_eq!(
        pg.sql("SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'ledger'")
            .unwrap(),
        "t"
    );
    let err = pg.sql("SELEC nonsense").unwrap_err();
    assert!(err.to_string().contains("syntax error"), "{err}");
    assert_eq!(
        pg.ledger_psql()
            .database("sqlmux_test")
            .query("SELECT current_user, current_database()")
            .unwrap(),
        "ledger|sqlmux_test"
    );

    let dir = pg.socket_dir().to_path_buf();
    let port = pg.port();
    timed("Postgres drop", || drop(pg));
    assert!(!dir.exists());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    eprintln!("postgres_ledger_over_tcp total: {:?}", t.elapsed());
}

#[test]
fn postgres_pair_streams_to_standby() {
    let t = Instant::now();
    let pair = timed("PostgresPair::start", PostgresPair::start).unwrap();
    let out = psql_ledger(
        pair.primary.port(),
        "sqlmux_test",
        LEDGER_PASSWORD,
        "CREATE TABLE items (id int PRIMARY KEY, name text);\
         INSERT INTO items VALUES (1, 'alpha'), (2, 'beta')",
    );
    assert!(out.success(), "{out:?}");
    pair.wait_standby_caught_up().unwrap();

    let out = psql_ledger(
        pair.standby.port(),
        "sqlmux_test",
        LEDGER_PASSWORD,
        "SELECT id, name FROM items ORDER BY id",
    );
    assert!(out.success(), "{out:?}");
    assert_eq!(out.stdout, "1|alpha\n2|beta\n");
    assert_eq!(pair.standby.sql("SELECT pg_is_in_recovery()").unwrap(), "t");
    assert_eq!(pair.primary.sql("SELECT pg_is_in_recovery()").unwrap(), "f");
    let write = psql_ledger(
        pair.standby.port(),
        "sqlmux_test",
        LEDGER_PASSWORD,
        "INSERT INTO items VALUES (3, 'gamma')",
    );
    assert!(!write.success());
    assert!(write.stderr.contains("read-only"), "{}", write.stderr);
    timed("PostgresPair drop", || drop(pair));
    eprintln!("postgres_pair_streams_to_standby total: {:?}", t.elapsed());
}

#[test]
fn postgres_restart_keeps_data() {
    let mut pg = Postgres::start().unwrap();
    pg.sql_in(
        "sqlmux_test",
        "CREATE TABLE t (id int); INSERT INTO t VALUES (5)",
    )
    .unwrap();
    timed("Postgres restart", || pg.restart().unwrap());
    assert_eq!(pg.sql_in("sqlmux_test", "SELECT id FROM t").unwrap(), "5");
}
