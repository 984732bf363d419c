//! The PostgreSQL client tooling works against a direct server, so that the same tools can be
//! pointed at sqlmux (`proxy.postgres_port()`): psycopg2, pgbench (and its summary parsers),
//! tokio-postgres (SCRAM, prepare, execute), and PgBouncer in transaction mode relaying
//! pgbench within its pool size.

use sqlmux_integration::clients::{
    pgbench, pgbench_aborted, pgbench_failed, pgbench_processed, pgbench_tps, psycopg2,
};
use sqlmux_integration::pgbouncer::PgBouncer;
use sqlmux_integration::Postgres;

fn pgbench_ok(port: u16, args: &[&str]) -> String {
    let out = pgbench(port, args).expect("pgbench runs");
    assert!(
        out.success(),
        "pgbench {args:?} failed ({}): {}\n{}",
        out.status,
        out.stderr,
        out.stdout
    );
    out.stdout
}

#[test]
fn psycopg2_connects_and_selects() {
    let pg = Postgres::start().expect("postgres starts");
    let out = psycopg2(
        r#"
import psycopg2
conn = psycopg2.connect(user="ledger", password="ledgerpw", dbname="ledger")
cur = conn.cursor()
cur.execute("SELECT %s + 1, current_user, current_database()", (41,))
print(*cur.fetchone())
conn.close()
"#,
        pg.port(),
    )
    .expect("python3 runs");
    assert!(out.success(), "psycopg2 script failed: {}", out.stderr);
    assert_eq!(out.stdout.trim(), "42 ledger ledger");
}

#[test]
fn pgbench_initializes_and_reports_select_only_figures() {
    let pg = Postgres::start().expect("postgres starts");
    pgbench_ok(pg.port(), &["-i", "-s", "1", "-q"]);
    let out = pgbench_ok(pg.port(), &["-S", "-c", "4", "-j", "2", "-T", "2"]);
    let tps = pgbench_tps(&out).expect("tps line");
    assert!(tps > 0.0, "tps {tps} in {out}");
    assert!(pgbench_processed(&out).expect("processed line") > 0);
    assert_eq!(pgbench_failed(&out), Some(0), "{out}");
}

#[test]
fn tokio_postgres_prepares_and_executes() {
    let pg = Postgres::start().expect("postgres starts");
    let conninfo = format!(
        "host=127.0.0.1 port={} user=ledger password=ledgerpw dbname=ledger connect_timeout=10",
        pg.port()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls)
            .await
            .expect("connects with SCRAM");
        let conn = tokio::spawn(connection);
        client
            .batch_execute("CREATE TABLE kv (k int PRIMARY KEY, v text)")
            .await
            .unwrap();
        let insert = client
            .prepare("INSERT INTO kv VALUES ($1, $2)")
            .await
            .unwrap();
        for k in 1..=3 {
            let n = client
                .execute(&insert, &[&k, &format!("v{k}")])
                .await
                .unwrap();
            assert_eq!(n, 1);
        }
        let select = client
            .prepare("SELECT v FROM kv WHERE k >= $1 ORDER BY k")
            .await
            .unwrap();
        let rows = client.query(&select, &[&2i32]).await.unwrap();
        let values: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(values, ["v2", "v3"]);
        drop(client);
        conn.await.unwrap().unwrap();
    });
}

#[test]
fn pgbouncer_transaction_mode_relays_pgbench_within_its_pool() {
    let pg = Postgres::start().expect("postgres starts");
    pgbench_ok(pg.port(), &["-i", "-s", "1", "-q"]);
    let bouncer = PgBouncer::start(pg.port(), "transaction", 4, 50).expect("pgbouncer starts");
    assert!(std::path::Path::new(&format!("/proc/{}/stat", bouncer.pid())).exists());
    let out = pgbench(
        bouncer.port(),
        &["-S", "-M", "extended", "-c", "12", "-j", "2", "-T", "2"],
    )
    .expect("pgbench runs");
    assert!(
        out.success(),
        "pgbench through pgbouncer failed: {}",
        out.stderr
    );
    assert!(
        pgbench_tps(&out.stdout).unwrap_or(0.0) > 0.0,
        "{}",
        out.stdout
    );
    assert_eq!(pgbench_failed(&out.stdout), Some(0));
    assert_eq!(pgbench_aborted(&out.stderr), 0);
    // 12 clients shared at most 4 server connections.
    let backends: u32 = pg
        .sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'ledger'")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!((1..=4).contains(&backends), "{backends} server connections");
}
