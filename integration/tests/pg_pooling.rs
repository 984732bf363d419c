//! The PostgreSQL data path: transaction pooling with the Rust client (tokio-postgres):
//! prepared statements across pooled backends, SET replay, pins and their release, cancel,
//! errors, and read/write routing to a hot standby.

use sqlmux_integration::proxy::{postgres_config, topology_generation as generation};
use sqlmux_integration::{Postgres, PostgresPair, Proxy};
use std::time::{Duration, Instant};
use support::{connect, runtime, try_connect};
use tokio_postgres::{Client, NoTls};

mod support;

#[path = "pg_pooling/routing.rs"]
mod routing;

/// A proxy in front of `db` whose pool has `max` connections and a short wait bound.
fn proxy_with_pool(db: &Postgres, max: u32) -> Proxy {
    let config = postgres_config(&db.addr(), None, "[pool]\nwait_timeout_ms = 400\n")
        .replace("max_connections = 20", &format!("max_connections = {max}"));
    Proxy::start(&config).unwrap()
}

async fn one(c: &Client, sql: &str) -> String {
    let rows = c.simple_query(sql).await.unwrap();
    rows.iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn prepared_statements_work_across_pooled_backends() {
    let db = Postgres::start().unwrap();
    let proxy = proxy_with_pool(&db, 2);
    runtime().block_on(async {
        let setup = connect(proxy.postgres_port()).await;
        setup
            .batch_execute(
                "DROP TABLE IF EXISTS items; CREATE TABLE items (id int PRIMARY KEY, name text)",
            )
            .await
            .unwrap();
        let mut clients = Vec::new();
        for _ in 0..5 {
            let c = connect(proxy.postgres_port()).await;
            let insert = c
                .prepare("INSERT INTO items VALUES ($1, $2)")
                .await
                .unwrap();
            let select = c
                .prepare("SELECT name FROM items WHERE id = $1")
                .await
                .unwrap();
            let add = c.prepare("SELECT $1::int + $2::int").await.unwrap();
            clients.push((c, insert, select, add));
        }
        for round in 0..20 {
            for (i, (c, insert, select, add)) in clients.iter().enumerate() {
                let id = (round * 10 + i) as i32;
                c.execute(insert, &[&id, &format!("n{id}")]).await.unwrap();
                let name: String = c.query_one(select, &[&id]).await.unwrap().get(0);
                assert_eq!(name, format!("n{id}"));
                let sum: i32 = c.query_one(add, &[&id, &1i32]).await.unwrap().get(0);
                assert_eq!(sum, id + 1);
            }
        }
        // Dropping a statement closes it for that client only.
        let (c, _, select, _) = &clients[0];
        let again = c
            .prepare("SELECT name FROM items WHERE id = $1")
            .await
            .unwrap();
        let n: String = c.query_one(&again, &[&0i32]).await.unwrap().get(0);
        assert_eq!(n, "n0");
        let n: String = c.query_one(select, &[&1i32]).await.unwrap().get(0);
        assert_eq!(n, "n1");
    });
    let backends = db
        .sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'ledger'")
        .unwrap();
    assert!(backends.trim().parse::<u32>().unwrap() <= 2, "{backends}");
}

#[test]
fn a_backend_is_lent_per_transaction() {
    let db = Postgres::start().unwrap();
    let proxy = proxy_with_pool(&db, 1);
    runtime().block_on(async {
        let a = connect(proxy.postgres_port()).await;
        let b = connect(proxy.postgres_port()).await;
        let pa = one(&a, "SELECT pg_backend_pid()").await;
        let pb = one(&b, "SELECT pg_backend_pid()").await;
        assert_eq!(pa, pb, "one pooled backend serves both sessions");
        a.batch_execute("BEGIN; CREATE TABLE t (x int)")
            .await
            .unwrap();
        let started = Instant::now();
        let err = b.simple_query("SELECT 1").await.unwrap_err();
        let db_err = err.as_db_error().expect("a server error");
        assert_eq!(db_err.code().code(), "53300", "{db_err:?}");
        assert!(
            db_err
                .message()
                .contains("no backend connection available in hostgroup 30"),
            "{}",
            db_err.message()
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        a.batch_execute("INSERT INTO t VALUES (1); COMMIT")
            .await
            .unwrap();
        assert_eq!(one(&b, "SELECT count(*) FROM t").await, "1");
        // A failed transaction keeps the backend until ROLLBACK.
        a.batch_execute("BEGIN").await.unwrap();
        assert!(a.simple_query("SELECT * FROM missing_table").await.is_err());
        assert!(b.simple_query("SELECT 1").await.is_err());
        a.batch_execute("ROLLBACK").await.unwrap();
        assert_eq!(one(&b, "SELECT 2").await, "2");
    });
}

#[test]
fn session_parameters_follow_the_session() {
    let db = Postgres::start().unwrap();
    let proxy = proxy_with_pool(&db, 1);
    runtime().block_on(async {
        let a = connect(proxy.postgres_port()).await;
        let b = connect(proxy.postgres_port()).await;
        let default_tz = one(&b, "SHOW TimeZone").await;
        a.batch_execute("SET TimeZone = 'Asia/Tokyo'; ")
            .await
            .unwrap();
        a.batch_execute("SET application_name TO 'session_a'")
            .await
            .unwrap();
        a.batch_execute("SET search_path = pg_catalog, public")
            .await
            .unwrap();
        assert_eq!(one(&b, "SHOW TimeZone").await, default_tz);
        assert_eq!(one(&b, "SHOW search_path").await, "\"$user\", public");
        assert_eq!(one(&a, "SHOW TimeZone").await, "Asia/Tokyo");
        assert_eq!(one(&a, "SHOW application_name").await, "session_a");
        assert_eq!(one(&a, "SHOW search_path").await, "pg_catalog, public");
        assert_ne!(one(&b, "SHOW application_name").await, "session_a");
        // SET LOCAL ends with its transaction; a rolled-back SET does not stick; a committed
        // one does.
        a.batch_execute("BEGIN; SET LOCAL TimeZone = 'UTC'; COMMIT")
            .await
            .unwrap();
        assert_eq!(one(&a, "SHOW TimeZone").await, "Asia/Tokyo");
        a.batch_execute("BEGIN").await.unwrap();
        a.batch_execute("SET TimeZone = 'Europe/Paris'")
            .await
            .unwrap();
        a.batch_execute("ROLLBACK").await.unwrap();
        assert_eq!(one(&b, "SELECT 1").await, "1");
        assert_eq!(one(&a, "SHOW TimeZone").await, "Asia/Tokyo");
        a.batch_execute("BEGIN").await.unwrap();
        a.batch_execute("SET TimeZone = 'Europe/Paris'")
            .await
            .unwrap();
        a.batch_execute("COMMIT").await.unwrap();
        assert_eq!(one(&b, "SELECT 1").await, "1");
        assert_eq!(one(&a, "SHOW TimeZone").await, "Europe/Paris");
        a.batch_execute("RESET TimeZone").await.unwrap();
        assert_eq!(one(&a, "SHOW TimeZone").await, default_tz);
        // Several statements in one Query: each SET is tracked.
        a.batch_execute("SELECT 1; SET work_mem = '2MB'; SET LOCAL work_mem = '3MB'")
            .await
            .unwrap();
        assert_eq!(one(&b, "SHOW work_mem").await, "4MB");
        assert_eq!(one(&a, "SHOW work_mem").await, "2MB");
        a.batch_execute("RESET ALL").await.unwrap();
        assert_eq!(one(&a, "SHOW search_path").await, "\"$user\", public");
    });
}

/// With one pooled backend, `pin` must keep it from a second session until `unpin`.
async fn assert_pins(a: &Client, b: &Client, pin: &str, unpin: &str) {
    a.batch_execute(pin).await.unwrap();
    let err = b.simple_query("SELECT 1").await.unwrap_err();
    assert_eq!(
        err.as_db_error().map(|e| e.code().code()),
        Some("53300"),
        "{pin}: {err:?}"
    );
    a.batch_execute(unpin).await.unwrap();
    assert_eq!(one(b, "SELECT 3").await, "3", "after {unpin}");
}

#[test]
fn pins_hold_the_backend_until_they_end() {
    let db = Postgres::start().unwrap();
    let proxy = proxy_with_pool(&db, 1);
    runtime().block_on(async {
        let a = connect(proxy.postgres_port()).await;
        let b = connect(proxy.postgres_port()).await;
        assert_pins(
            &a,
            &b,
            "SELECT pg_advisory_lock(42)",
            "SELECT pg_advisory_unlock(42)",
        )
        .await;
        assert_pins(
            &a,
            &b,
            "SELECT pg_advisory_lock(1); SELECT pg_advisory_lock(2)",
            "SELECT pg_advisory_unlock_all()",
        )
        .await;
        assert_pins(&a, &b, "CREATE TEMP TABLE tmp (x int)", "DROP TABLE tmp").await;
        assert_pins(&a, &b, "DECLARE c CURSOR WITH HOLD FOR SELECT 1", "CLOSE c").await;
        assert_pins(&a, &b, "LISTEN chan", "UNLISTEN chan").await;
        // A session that ends while pinned leaves a clean backend.
        a.batch_execute(
            "CREATE TEMP TABLE tmp2 (x int); SET work_mem = '1234kB'; SELECT pg_advisory_lock(7)",
        )
        .await
        .unwrap();
        drop(a);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            one(
                &b,
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
            )
            .await,
            "0"
        );
        assert_eq!(one(&b, "SHOW work_mem").await, "4MB");
        assert!(b.simple_query("SELECT * FROM tmp2").await.is_err());
    });
}

#[test]
fn notifications_reach_a_listening_session() {
    let db = Postgres::start().unwrap();
    let proxy = proxy_with_pool(&db, 3);
    let script = r#"
import os, select, psycopg2
def conn():
    c = psycopg2.connect(host="127.0.0.1", port=int(os.environ["PORT"]), user="ledger", password="ledgerpw", dbname="ledger")
    c.autocommit = True
    return c
listener, sender = conn(), conn()
listener.cursor().execute("LISTEN news")
sender.cursor().execute("NOTIFY news, 'hello'")
sender.cursor().execute("SELECT pg_notify('news', 'again')")
got = []
while len(got) < 2:
    if select.select([listener], [], [], 10) == ([], [], []):
        break
    listener.poll()
    while listener.notifies:
        got.append(listener.notifies.pop(0).payload)
print(got)
"#;
    let out = sqlmux_integration::clients::psycopg2(script, proxy.postgres_port()).unwrap();
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "['hello', 'again']");
}

#[test]
fn cancel_reaches_the_running_statement() {
    let db = Postgres::start().unwrap();
    let proxy = proxy_with_pool(&db, 2);
    runtime().block_on(async {
        let c = connect(proxy.postgres_port()).await;
        let token = c.cancel_token();
        let started = Instant::now();
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            token.cancel_query(NoTls).await
        });
        let err = c.simple_query("SELECT pg_sleep(30)").await.unwrap_err();
        assert_eq!(
            err.as_db_error().map(|e| e.code().code()),
            Some("57014"),
            "{err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        canceller.await.unwrap().unwrap();
        assert_eq!(one(&c, "SELECT 5").await, "5");
    });
}

#[test]
fn errors_are_protocol_errors_and_garbage_ends_one_session() {
    let db = Postgres::start().unwrap();
    let proxy = proxy_with_pool(&db, 2);
    runtime().block_on(async {
        let err = try_connect(proxy.postgres_port(), "wrong")
            .await
            .unwrap_err();
        assert_eq!(
            err.as_db_error().map(|e| e.code().code()),
            Some("28P01"),
            "{err:?}"
        );
        let good = connect(proxy.postgres_port()).await;
        // Garbage after a proper startup, and garbage instead of a startup.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", proxy.postgres_port()))
            .await
            .unwrap();
        raw.write_all(b"\xff\xff\xff\xffgarbage garbage")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut buf)).await;
        let err = c_or_err(proxy.postgres_port()).await;
        assert!(err.contains("08P01") || err.is_empty(), "{err}");
        assert_eq!(one(&good, "SELECT 7").await, "7");
        // A statement error leaves the session usable.
        assert!(good.simple_query("SELEC 1").await.is_err());
        assert_eq!(one(&good, "SELECT 8").await, "8");
    });
}

/// Sends a startup, then a message with an impossible length; returns the error text seen.
async fn c_or_err(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let startup = sqlmux_protocol::postgres::startup::startup_message(&[
        ("user", "ledger"),
        ("database", "ledger"),
    ]);
    raw.write_all(&startup).await.unwrap();
    // SCRAM would need a real exchange: send a bogus password message instead.
    raw.write_all(b"p\x7f\xff\xff\xff").await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut buf)).await;
    String::from_utf8_lossy(&buf).into_owned()
}
