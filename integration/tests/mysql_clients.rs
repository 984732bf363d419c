//! Real MySQL clients through sqlmux give the same results as a direct connection:
//! the mariadb CLI, PyMySQL, MySQLdb, PHP (PDO and mysqli), sysbench.

use sqlmux_integration::clients::{mysqldb, php, pymysql, sysbench, sysbench_counter};
use sqlmux_integration::{mysql_config, MariaDb, MariaDbCli, MariaDbOptions, Proxy};
use std::path::Path;

fn setup() -> (MariaDb, Proxy) {
    let db = MariaDb::start().expect("mariadb starts");
    let proxy = Proxy::start(&mysql_config(&db.addr(), "")).expect("sqlmux starts");
    (db, proxy)
}

fn script(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn app_cli(port: u16) -> MariaDbCli {
    MariaDbCli::tcp("127.0.0.1", port)
        .user("app")
        .password("apppw")
        .database("sqlmux_test")
}

#[test]
fn mariadb_cli_several_statements_and_source_match_direct() {
    let (db, proxy) = setup();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("script.sql");
    std::fs::write(
        &file,
        "DROP TABLE IF EXISTS cli_t;\nCREATE TABLE cli_t (id INT PRIMARY KEY, v VARCHAR(10));\n\
         INSERT INTO cli_t VALUES (1,'a'),(2,'b'),(3,NULL);\nSELECT * FROM cli_t ORDER BY id;\n\
         SELECT COUNT(*), GROUP_CONCAT(v) FROM cli_t;\nDELETE FROM cli_t WHERE id = 2;\nSELECT ROW_COUNT();\n",
    )
    .unwrap();
    let inline =
        "SELECT 1+1; SELECT 'x' AS y, NULL AS z; SHOW TABLES LIKE 'cli%'; SELECT DATABASE()";
    let source = format!("source {}", file.display());
    for sql in [source.as_str(), inline] {
        let direct = app_cli(db.port()).query(sql).expect("direct");
        let proxied = app_cli(proxy.mysql_port())
            .query(sql)
            .expect("through sqlmux");
        assert_eq!(proxied, direct, "for {sql}");
        assert!(!proxied.is_empty());
    }
}

fn same_output(
    run: impl Fn(u16) -> std::io::Result<sqlmux_integration::CliOutput>,
    db: &MariaDb,
    proxy: &Proxy,
) {
    let direct = run(db.port()).unwrap();
    assert!(direct.success(), "direct run failed: {}", direct.stderr);
    let proxied = run(proxy.mysql_port()).unwrap();
    assert!(
        proxied.success(),
        "run through sqlmux failed: {}",
        proxied.stderr
    );
    assert_eq!(proxied.stdout, direct.stdout);
    assert!(
        direct.stdout.lines().count() > 5,
        "the workload printed results"
    );
}

#[test]
fn pymysql_matches_direct() {
    let (db, proxy) = setup();
    same_output(
        |port| pymysql(&script("pymysql_workload.py"), port),
        &db,
        &proxy,
    );
}

#[test]
fn mysqldb_matches_direct() {
    let (db, proxy) = setup();
    same_output(
        |port| mysqldb(&script("mysqldb_workload.py"), port),
        &db,
        &proxy,
    );
}

#[test]
fn php_pdo_and_mysqli_match_direct() {
    let (db, proxy) = setup();
    same_output(|port| php(&script("php_workload.php"), port), &db, &proxy);
}

#[test]
fn sysbench_oltp_read_write_16_threads_has_no_errors() {
    let (_db, proxy) = setup();
    let port = proxy.mysql_port();
    let shape = ["--tables=4", "--table-size=10000"];
    let prep = sysbench("oltp_read_write", "prepare", port, &shape).unwrap();
    assert!(prep.success(), "prepare: {}", prep.stderr);
    let mut args = shape.to_vec();
    args.extend(["--threads=16", "--time=10", "--report-interval=0"]);
    let out = sysbench("oltp_read_write", "run", port, &args).unwrap();
    assert!(out.success(), "run: {}\n{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("FATAL"), "{}", out.stdout);
    let queries = sysbench_counter(&out.stdout, "queries:").unwrap();
    let ignored = sysbench_counter(&out.stdout, "ignored errors:").unwrap();
    assert!(queries > 1000, "{}", out.stdout);
    // Deadlocks are the only errors sysbench ignores; with 16 threads over 40k rows they are
    // rare, and through a proxy that adds no errors of its own there should be none of ours.
    assert!(
        ignored * 1000 < queries,
        "too many ignored errors: {}",
        out.stdout
    );
}

/// Runs sysbench `oltp_read_write` through sqlmux and checks it saw no errors.
fn sysbench_clean(port: u16, extra: &[&str]) {
    let mut args = vec![
        "--tables=4",
        "--table-size=10000",
        "--time=10",
        "--report-interval=0",
    ];
    args.extend_from_slice(extra);
    let out = sysbench("oltp_read_write", "run", port, &args).unwrap();
    assert!(
        out.success(),
        "run {extra:?}: {}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(!out.stdout.contains("FATAL"), "{}", out.stdout);
    let queries = sysbench_counter(&out.stdout, "queries:").unwrap();
    let ignored = sysbench_counter(&out.stdout, "ignored errors:").unwrap();
    assert!(queries > 1000, "{}", out.stdout);
    assert!(
        ignored * 100 < queries,
        "{extra:?}: too many ignored errors: {}",
        out.stdout
    );
}

#[test]
fn sysbench_64_threads_multiplexed_with_and_without_transactions_and_prepared() {
    let (_db, proxy) = setup();
    let port = proxy.mysql_port();
    let prep = sysbench(
        "oltp_read_write",
        "prepare",
        port,
        &["--tables=4", "--table-size=10000"],
    )
    .unwrap();
    assert!(prep.success(), "prepare: {}", prep.stderr);
    // sysbench's default --db-ps-mode=auto uses server-side prepared statements.
    sysbench_clean(port, &["--threads=64"]);
    // Without transactions sysbench's DELETE + INSERT of one id races between threads and
    // fails with 1062 on a direct connection too; that error is the workload's, not ours.
    sysbench_clean(
        port,
        &[
            "--threads=64",
            "--skip_trx=on",
            "--mysql-ignore-errors=1062,1213,1205,1020",
        ],
    );
    sysbench_clean(port, &["--threads=64", "--db-ps-mode=disable"]);
}

#[test]
fn prepared_statements_never_exhaust_max_prepared_stmt_count() {
    let db =
        MariaDb::start_with(&MariaDbOptions::new().arg("--max-prepared-stmt-count=60")).unwrap();
    let proxy = Proxy::start(&mysql_config(
        &db.addr(),
        "[mysql]\nbackend_statement_limit = 20\n",
    ))
    .unwrap();
    // PDO with real server-side prepares; 200 distinct statements kept open, then all
    // executed again (the evicted ones are prepared again, lazily, on the backend).
    let script = r#"<?php
$pdo = new PDO("mysql:host=" . getenv('HOST') . ";port=" . getenv('PORT') . ";dbname=sqlmux_test", 'app', 'apppw',
    [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_EMULATE_PREPARES => false]);
$kept = [];
$sum = 0;
try {
    for ($i = 0; $i < 200; $i++) {
        $st = $pdo->prepare("SELECT ? + $i");
        $st->execute([1]);
        $sum += $st->fetchColumn();
        $kept[] = $st;
    }
    foreach ($kept as $st) { $st->execute([2]); $sum += $st->fetchColumn(); }
    echo "ok $sum\n";
} catch (PDOException $e) {
    echo "error ", $e->errorInfo[1], " after ", count($kept), "\n";
}
"#;
    let direct = php(script, db.port()).unwrap();
    assert_eq!(
        direct.stdout.trim(),
        "error 1461 after 60",
        "{}",
        direct.stderr
    );
    let proxied = php(script, proxy.mysql_port()).unwrap();
    assert_eq!(proxied.stdout.trim(), "ok 40400", "{}", proxied.stderr);
    let count = db
        .root_sql("SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'")
        .unwrap();
    let open: u64 = count.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(
        open <= 20,
        "the backend holds at most the configured 20: {count}"
    );
}
