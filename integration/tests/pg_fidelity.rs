//! What a PostgreSQL driver (tokio-postgres) sees through sqlmux equals what it sees directly
//! (issue 19): statements whose result type changed, backends terminated while idle in the
//! pool, and backends that die while running the client's statement.

use sqlmux_integration::proxy::postgres_config;
use sqlmux_integration::{Postgres, Proxy};
use std::time::Duration;
use support::{connect, runtime};

mod support;

fn setup() -> (Postgres, Proxy) {
    let db = Postgres::start().unwrap();
    let proxy = Proxy::start(&postgres_config(&db.addr(), None, "")).unwrap();
    (db, proxy)
}

/// Prepares `SELECT * FROM shape_t` on a new connection and returns the rows as text.
/// Creates `shape_t (id int, v int)` with two rows, directly on `db`.
async fn create_shape_table(admin: &tokio_postgres::Client) {
    admin
        .batch_execute(
            "DROP TABLE IF EXISTS shape_t; CREATE TABLE shape_t (id int, v int);\
             INSERT INTO shape_t VALUES (1, 10), (2, 20)",
        )
        .await
        .unwrap();
}

async fn fresh_session_reads(port: u16) -> Result<Vec<String>, tokio_postgres::Error> {
    let c = connect(port).await;
    let stmt = c.prepare("SELECT id, v FROM shape_t ORDER BY id").await?;
    let rows = c.query(&stmt, &[]).await?;
    Ok(rows
        .iter()
        .map(|r| format!("{}={}", r.get::<_, i32>(0), r.get::<_, String>(1)))
        .collect())
}

#[test]
fn a_statement_whose_result_type_changed_is_prepared_again_for_new_sessions() {
    let (db, proxy) = setup();
    runtime().block_on(async {
        let admin = connect(db.port()).await;
        create_shape_table(&admin).await;
        // Sessions through sqlmux leave the statement prepared on the pooled backends.
        for _ in 0..3 {
            let c = connect(proxy.postgres_port()).await;
            let stmt = c
                .prepare("SELECT id, v FROM shape_t ORDER BY id")
                .await
                .unwrap();
            let rows = c.query(&stmt, &[]).await.unwrap();
            assert_eq!(rows.len(), 2);
            assert_eq!(rows[0].get::<_, i32>(1), 10);
        }
        admin
            .batch_execute("ALTER TABLE shape_t ALTER COLUMN v TYPE text")
            .await
            .unwrap();
        let direct = fresh_session_reads(db.port()).await.unwrap();
        assert_eq!(direct, vec!["1=10", "2=20"]);
        // Every later session prepares the text again and reads the new type, as directly.
        for round in 0..4 {
            let proxied = fresh_session_reads(proxy.postgres_port()).await;
            assert_eq!(
                proxied.as_ref().ok(),
                Some(&direct),
                "round {round}: {proxied:?}"
            );
        }
    });
}

#[test]
fn a_stale_statement_on_another_pooled_backend_is_prepared_again_at_bind() {
    let db = Postgres::start().unwrap();
    let config =
        postgres_config(&db.addr(), None, "").replace("[listen]\n", "[listen]\nworkers = 1\n");
    let proxy = Proxy::start(&config).unwrap();
    let port = proxy.postgres_port();
    runtime().block_on(async {
        let admin = connect(db.port()).await;
        create_shape_table(&admin).await;
        // Two backends, each with the statement prepared (two transactions at once).
        let (a, b) = (connect(port).await, connect(port).await);
        for c in [&a, &b] {
            c.batch_execute("BEGIN").await.unwrap();
            let stmt = c
                .prepare("SELECT id, v FROM shape_t ORDER BY id")
                .await
                .unwrap();
            assert_eq!(c.query(&stmt, &[]).await.unwrap().len(), 2);
        }
        for c in [&a, &b] {
            c.batch_execute("COMMIT").await.unwrap();
        }
        admin
            .batch_execute("ALTER TABLE shape_t ALTER COLUMN v TYPE text")
            .await
            .unwrap();
        // A holder takes the most recently returned backend while a new session prepares on
        // the other; then the new session's Bind goes to the holder's, still stale.
        let holder = connect(port).await;
        holder.batch_execute("BEGIN").await.unwrap();
        let fresh = connect(port).await;
        let stmt = fresh
            .prepare("SELECT id, v FROM shape_t ORDER BY id")
            .await
            .unwrap();
        holder.batch_execute("COMMIT").await.unwrap();
        let rows = fresh.query(&stmt, &[]).await.unwrap();
        let got: Vec<String> = rows.iter().map(|r| r.get::<_, String>(1)).collect();
        assert_eq!(got, vec!["10", "20"]);
    });
}

#[test]
fn a_backend_terminated_while_idle_in_the_pool_is_never_seen() {
    let (db, proxy) = setup();
    runtime().block_on(async {
        let c = connect(proxy.postgres_port()).await;
        for round in 0..3 {
            let one: i32 = c.query_one("SELECT 1", &[]).await.unwrap().get(0);
            assert_eq!(one, 1);
            let killed = db
                .sql(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE usename = 'ledger' AND pid <> pg_backend_pid()",
                )
                .unwrap();
            assert_ne!(
                killed.trim(),
                "0",
                "round {round}: a pooled backend was there"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            // Simple and extended protocol: no error, no notice of the dead backend.
            let rows = c.simple_query("SELECT 2").await.unwrap();
            assert!(!rows.is_empty(), "round {round}");
            let two: i32 = c
                .query_one("SELECT $1::int", &[&2i32])
                .await
                .unwrap()
                .get(0);
            assert_eq!(two, 2, "round {round}");
        }
    });
}

#[test]
fn a_backend_lost_mid_statement_gives_one_error_and_the_session_goes_on() {
    let (db, proxy) = setup();
    runtime().block_on(async {
        let c = connect(proxy.postgres_port()).await;
        let terminator = tokio::task::spawn_blocking({
            let sql = "SELECT pg_sleep(0.5); SELECT count(pg_terminate_backend(pid)) \
                       FROM pg_stat_activity WHERE usename = 'ledger' AND query LIKE 'SELECT pg_sleep(30)%'";
            let psql = db.superuser_psql();
            move || psql.query(sql)
        });
        let err = c
            .simple_query("SELECT pg_sleep(30)")
            .await
            .expect_err("the statement's backend was terminated");
        let killed = terminator.await.unwrap().unwrap();
        assert!(killed.trim().ends_with('1'), "{killed}");
        let db_err = err.as_db_error().expect("one ErrorResponse");
        assert_eq!(db_err.severity(), "ERROR", "{db_err:?}");
        assert_eq!(db_err.code().code(), "08006", "{db_err:?}");
        assert!(
            db_err.message().contains("may or may not have run"),
            "{db_err:?}"
        );
        // The client's session is whole: the next statements run on another backend.
        let three: i32 = c.query_one("SELECT 3", &[]).await.unwrap().get(0);
        assert_eq!(three, 3);
        let rows = c.simple_query("SELECT 4").await.unwrap();
        assert!(!rows.is_empty());
    });
}

#[test]
fn commit_and_rollback_with_no_transaction_answer_as_the_server_does() {
    let (db, proxy) = setup();
    let script = "ROLLBACK;\nCOMMIT;\nEND;\nABORT;\nSELECT 1;\n";
    let through = |port: u16| {
        let out = sqlmux_integration::Psql::tcp("127.0.0.1", port)
            .user("ledger")
            .password("ledgerpw")
            .database("ledger")
            .run(script)
            .unwrap();
        assert!(out.success(), "{}", out.stderr);
        (out.stdout, out.stderr)
    };
    let direct = through(db.port());
    let proxied = through(proxy.postgres_port());
    assert_eq!(proxied, direct);
    assert_eq!(
        direct
            .1
            .matches("there is no transaction in progress")
            .count(),
        4,
        "{direct:?}"
    );
}
