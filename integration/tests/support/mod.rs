//! What the tests that drive tokio-postgres share: a runtime and a connection as `ledger`.
// Each test binary includes this module and uses a part of it.
#![allow(dead_code)]

use tokio_postgres::{Client, NoTls};

/// A current-thread runtime with timers and I/O.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A client of `ledger` on 127.0.0.1:`port`; its connection task runs on the runtime.
pub async fn connect(port: u16) -> Client {
    try_connect(port, "ledgerpw").await.unwrap()
}

/// Like [`connect`] with a given password, returning the error.
pub async fn try_connect(port: u16, password: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=ledger password={password} dbname=ledger connect_timeout=10"),
        NoTls,
    )
    .await?;
    tokio::spawn(conn);
    Ok(client)
}

/// A PostgreSQL primary and hot standby with the table `w` (`columns`), created as `ledger`
/// on the primary, replicated.
pub fn postgres_pair_with_w(columns: &str) -> sqlmux_integration::PostgresPair {
    let pair = sqlmux_integration::PostgresPair::start().unwrap();
    pair.primary
        .ledger_psql()
        .query(&format!("CREATE TABLE w ({columns})"))
        .unwrap();
    pair.wait_standby_caught_up().unwrap();
    pair
}

/// A MariaDB primary and replica with the table `sqlmux_test.w` (`columns`) replicated.
pub fn mariadb_pair_with_w(columns: &str) -> sqlmux_integration::MariaDbPair {
    let pair = sqlmux_integration::MariaDbPair::start().unwrap();
    pair.primary
        .root_sql(&format!("CREATE TABLE sqlmux_test.w ({columns})"))
        .unwrap();
    pair.wait_replica_caught_up().unwrap();
    pair
}

/// `monitor`, a `[monitor]` section logging in as `app`/`apppw`, for the ledger cluster:
/// as `ledger`/`ledgerpw` on database `ledger`.
pub fn ledger_monitor(monitor: &str) -> String {
    monitor.replace(
        "user = \"app\"\npassword = \"apppw\"",
        "user = \"ledger\"\npassword = \"ledgerpw\"\ndatabase = \"ledger\"",
    )
}

/// A raw MySQL client logged in as `app`/`apppw` on `sqlmux_test` through `port`.
pub fn app_client(port: u16) -> sqlmux_integration::raw_mysql::RawClient {
    sqlmux_integration::raw_mysql::RawClient::login(port, "app", "apppw", Some("sqlmux_test"))
        .unwrap()
        .0
}

/// What [`in_flight`] hands back: the statement's answer, how long it took, and the client.
pub type InFlight = (
    Result<Vec<Vec<u8>>, sqlmux_protocol::mysql::response::ErrInfo>,
    std::time::Duration,
    sqlmux_integration::raw_mysql::RawClient,
);

/// An `app` client of `port` running `sql` (a long statement) on its own thread.
pub fn in_flight(port: u16, sql: &'static str) -> std::thread::JoinHandle<InFlight> {
    std::thread::spawn(move || {
        let mut c = app_client(port);
        let started = std::time::Instant::now();
        let answer = c.query(sql).unwrap();
        (answer, started.elapsed(), c)
    })
}

/// Joins an [`in_flight`] statement that must have been cut: error 2013, saying it may or
/// may not have run. How long it took, and the client.
pub fn cut_in_flight(
    statement: std::thread::JoinHandle<InFlight>,
) -> (
    std::time::Duration,
    sqlmux_integration::raw_mysql::RawClient,
) {
    let (answer, took, c) = statement.join().unwrap();
    let err = answer.unwrap_err();
    assert_eq!(err.code, 2013, "{}", err.message);
    assert!(
        err.message.contains("may or may not have run"),
        "{}",
        err.message
    );
    (took, c)
}

/// The rows of `sqlmux_test.w` on `db` that writers labelled `phase`.
pub fn phase_count(db: &sqlmux_integration::MariaDb, phase: &str) -> u64 {
    db.root_sql(&format!(
        "SELECT COUNT(*) FROM sqlmux_test.w WHERE phase = '{phase}'"
    ))
    .unwrap()
    .trim()
    .parse()
    .unwrap()
}
