//! A transaction whose backend is lost stays lost (issue 12): the statement in flight gets
//! one error, every later statement is refused until the client ends the transaction, and
//! nothing of it is committed, so a retried statement followed by COMMIT cannot commit half
//! a transaction. MySQL (raw client) and PostgreSQL (tokio-postgres).

use sqlmux_integration::proxy::postgres_config;
use sqlmux_integration::raw_mysql::RawClient;
use sqlmux_integration::{mysql_config, MariaDb, Postgres, Proxy};
use std::time::Duration;

mod support;

/// Kills the server threads of the app user (sqlmux's backend connections).
fn kill_app_backends(db: &MariaDb) {
    let kill = db
        .root_sql(
            "SELECT CONCAT('KILL ', id) FROM information_schema.processlist WHERE user = 'app'",
        )
        .unwrap();
    db.root_sql(kill.trim()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
}

#[test]
fn mysql_a_lost_transaction_is_refused_until_rollback_and_commits_nothing() {
    let db = MariaDb::start().unwrap();
    db.root_sql("CREATE TABLE sqlmux_test.lt (id INT PRIMARY KEY)")
        .unwrap();
    let proxy = Proxy::start(&mysql_config(&db.addr(), "")).unwrap();
    let (mut c, _) =
        RawClient::login(proxy.mysql_port(), "app", "apppw", Some("sqlmux_test")).unwrap();
    c.query("BEGIN").unwrap().unwrap();
    c.query("INSERT INTO lt VALUES (1)").unwrap().unwrap();
    // The backend holding the transaction dies (its thread killed on the server).
    kill_app_backends(&db);
    let lost = c.query("INSERT INTO lt VALUES (2)").unwrap().unwrap_err();
    assert_eq!(lost.code, 2013, "{}", lost.message);
    // The client retries: refused, the transaction is gone.
    let refused = c.query("INSERT INTO lt VALUES (2)").unwrap().unwrap_err();
    assert_eq!(refused.code, 9002, "{}", refused.message);
    assert!(
        refused
            .message
            .contains("until the client ends it with ROLLBACK"),
        "{}",
        refused.message
    );
    let commit = c.query("COMMIT").unwrap().unwrap_err();
    assert_eq!(commit.code, 9002);
    assert!(
        commit
            .message
            .contains("COMMIT failed: nothing was committed"),
        "{}",
        commit.message
    );
    // Ended: the session goes on.
    c.query("INSERT INTO lt VALUES (3)").unwrap().unwrap();
    assert_eq!(
        db.root_sql("SELECT GROUP_CONCAT(id) FROM sqlmux_test.lt")
            .unwrap()
            .trim(),
        "3"
    );
    // ROLLBACK ends a lost transaction quietly.
    c.query("BEGIN").unwrap().unwrap();
    c.query("INSERT INTO lt VALUES (4)").unwrap().unwrap();
    kill_app_backends(&db);
    assert_eq!(c.query("SELECT 1").unwrap().unwrap_err().code, 2013);
    assert_eq!(c.query("SELECT 1").unwrap().unwrap_err().code, 9002);
    c.query("ROLLBACK").unwrap().unwrap();
    c.query("SELECT 1").unwrap().unwrap();
    assert_eq!(
        db.root_sql("SELECT GROUP_CONCAT(id) FROM sqlmux_test.lt")
            .unwrap()
            .trim(),
        "3"
    );
}

#[test]
fn postgres_a_lost_transaction_stays_failed_until_the_client_ends_it() {
    let db = Postgres::start().unwrap();
    db.ledger_psql()
        .query("CREATE TABLE lt (id int PRIMARY KEY)")
        .unwrap();
    let proxy = Proxy::start(&postgres_config(&db.addr(), None, "")).unwrap();
    let terminate = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE usename = 'ledger' AND pid <> pg_backend_pid()";
    support::runtime().block_on(async {
        let c = support::connect(proxy.postgres_port()).await;
        c.batch_execute("BEGIN; INSERT INTO lt VALUES (1)")
            .await
            .unwrap();
        db.sql(terminate).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        // sqlmux saw the backend go while the session was idle in its transaction: no
        // statement was in flight, so the first one already finds the transaction failed,
        // and so does a retry, through the extended protocol too.
        let simple = c.batch_execute("INSERT INTO lt VALUES (2)").await;
        let extended = c.execute("INSERT INTO lt VALUES ($1)", &[&2i32]).await;
        for refused in [simple.unwrap_err(), extended.unwrap_err()] {
            assert_eq!(
                refused.code().map(|c| c.code()),
                Some("25P02"),
                "{refused:?}"
            );
        }
        // COMMIT answers ROLLBACK, as in any failed transaction.
        let commit = c.simple_query("COMMIT").await.unwrap();
        let tag = commit.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        });
        assert_eq!(tag, Some(0));
        c.batch_execute("INSERT INTO lt VALUES (3)").await.unwrap();
        let ids: Vec<i32> = c
            .query("SELECT id FROM lt ORDER BY id", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(
            ids,
            vec![3],
            "nothing of the lost transaction was committed"
        );
    });
}
