//! Real PostgreSQL clients through sqlmux give the same results as a direct connection:
//! psql (with `\copy`), pgbench (`-i`, `-S` and `-N` with every `--protocol`), psycopg2.

use sqlmux_integration::clients::{
    pgbench, pgbench_aborted, pgbench_failed, pgbench_processed, psycopg2,
};
use sqlmux_integration::proxy::postgres_config;
use sqlmux_integration::{Postgres, Proxy, Psql};

fn psql(port: u16) -> Psql {
    Psql::tcp("127.0.0.1", port)
        .user("ledger")
        .password("ledgerpw")
        .database("ledger")
}

#[test]
fn psql_with_copy_gives_the_direct_results() {
    let db = Postgres::start().unwrap();
    let proxy = Proxy::start(&postgres_config(&db.addr(), None, "")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    let rows: String = (1..=5000)
        .map(|i| format!("{i},name {i},{}\n", i * 3))
        .collect();
    std::fs::write(&input, &rows).unwrap();
    let script = |table: &str| {
        format!(
            "DROP TABLE IF EXISTS {table};\n\
             CREATE TABLE {table} (id int PRIMARY KEY, name text, v int);\n\
             \\copy {table} FROM '{}' WITH (FORMAT csv)\n\
             SELECT count(*), sum(v), min(name), max(name) FROM {table};\n\
             \\copy (SELECT * FROM {table} WHERE id % 1000 = 0 ORDER BY id) TO STDOUT WITH (FORMAT csv)\n\
             BEGIN;\nUPDATE {table} SET v = v + 1 WHERE id <= 10;\nSELECT sum(v) FROM {table} WHERE id <= 10;\nROLLBACK;\n\
             SELECT sum(v) FROM {table} WHERE id <= 10;\n\
             SELECT repeat('x', 3000000) = repeat('x', 3000000), length(repeat('y', 5000000));\n",
            input.display()
        )
    };
    let direct = psql(db.port()).query(&script("direct_t")).unwrap();
    let proxied = psql(proxy.postgres_port())
        .query(&script("proxied_t"))
        .unwrap();
    assert_eq!(proxied, direct);
    assert!(proxied.contains("5000|37507500"), "{proxied}");
    // An error in the middle of a COPY, and a notice, reach the client as they would directly.
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "1,a,1\nnot-a-number,b,2\n").unwrap();
    let out = psql(proxy.postgres_port())
        .run(&format!(
            "CREATE TABLE IF NOT EXISTS c (id int, name text, v int);\n\\copy c FROM '{}' WITH (FORMAT csv)\n",
            bad.display()
        ))
        .unwrap();
    assert!(!out.success());
    assert!(
        out.stderr.contains("invalid input syntax for type integer"),
        "{}",
        out.stderr
    );
    let notice = psql(proxy.postgres_port())
        .run("DO $$ BEGIN RAISE NOTICE 'hello from %', 'plpgsql'; END $$;\nSELECT 1;")
        .unwrap();
    assert!(notice.success(), "{}", notice.stderr);
    assert!(
        notice.stderr.contains("hello from plpgsql"),
        "{}",
        notice.stderr
    );
}

#[test]
fn pgbench_runs_with_every_protocol() {
    let db = Postgres::start().unwrap();
    let proxy = Proxy::start(&postgres_config(&db.addr(), None, "")).unwrap();
    let port = proxy.postgres_port();
    let init = pgbench(port, &["-i", "-s", "1", "-q"]).unwrap();
    assert!(init.success(), "{}\n{}", init.stdout, init.stderr);
    for protocol in ["simple", "extended", "prepared"] {
        for mode in ["-S", "-N"] {
            let out = pgbench(
                port,
                &[
                    mode,
                    "--protocol",
                    protocol,
                    "-c",
                    "8",
                    "-j",
                    "2",
                    "-t",
                    "100",
                ],
            )
            .unwrap();
            assert!(
                out.success(),
                "{mode} {protocol}: {}\n{}",
                out.stdout,
                out.stderr
            );
            assert_eq!(
                pgbench_processed(&out.stdout),
                Some(800),
                "{mode} {protocol}: {}",
                out.stdout
            );
            assert_eq!(pgbench_failed(&out.stdout), Some(0), "{mode} {protocol}");
            assert_eq!(
                pgbench_aborted(&out.stderr),
                0,
                "{mode} {protocol}: {}",
                out.stderr
            );
        }
    }
    // pgbench truncates pgbench_history before each run: the last -N run left its 800 rows.
    let history = db
        .sql_in("ledger", "SELECT count(*) FROM pgbench_history")
        .unwrap();
    assert_eq!(history.trim(), "800");
}

#[test]
fn psycopg2_gives_the_direct_results() {
    let db = Postgres::start().unwrap();
    let proxy = Proxy::start(&postgres_config(&db.addr(), None, "")).unwrap();
    let script = r#"
import os, psycopg2, psycopg2.extras
c = psycopg2.connect(user="ledger", password="ledgerpw", dbname="ledger")
cur = c.cursor()
t = "t_" + os.environ["PORT"]
cur.execute(f"DROP TABLE IF EXISTS {t}")
cur.execute(f"CREATE TABLE {t} (id serial PRIMARY KEY, name text, amount numeric, at timestamptz)")
psycopg2.extras.execute_batch(cur, f"INSERT INTO {t} (name, amount, at) VALUES (%s, %s, '2026-01-01T00:00:00Z')",
                              [(f"n{i}", i * 1.5) for i in range(200)])
c.commit()
cur.execute(f"SELECT count(*), sum(amount), min(name) FROM {t}")
print(cur.fetchone())
cur.execute("SET TIME ZONE 'America/New_York'")
c.commit()
cur.execute(f"SELECT at::text FROM {t} ORDER BY id LIMIT 1")
print(cur.fetchone())
cur.execute(f"UPDATE {t} SET amount = 0")
c.rollback()
cur.execute(f"SELECT sum(amount) FROM {t}")
print(cur.fetchone())
try:
    cur.execute("SELECT 1/0")
except psycopg2.Error as e:
    print("error", e.pgcode)
c.rollback()
c.autocommit = True
cur.execute("SELECT %s::text, %s::int[]", ("x'y", [1, 2]))
print(cur.fetchone())
"#;
    let direct = psycopg2(script, db.port()).unwrap();
    assert!(direct.success(), "{}", direct.stderr);
    let proxied = psycopg2(script, proxy.postgres_port()).unwrap();
    assert!(proxied.success(), "{}", proxied.stderr);
    assert_eq!(proxied.stdout, direct.stdout);
    assert!(proxied.stdout.contains("error 22012"), "{}", proxied.stdout);
}

#[test]
fn pgbench_with_a_new_connection_per_transaction() {
    let db = Postgres::start().unwrap();
    let proxy = Proxy::start(&postgres_config(&db.addr(), None, "")).unwrap();
    let port = proxy.postgres_port();
    let init = pgbench(port, &["-i", "-s", "1", "-q"]).unwrap();
    assert!(init.success(), "{}", init.stderr);
    let out = pgbench(port, &["-S", "-C", "-c", "8", "-j", "2", "-t", "50"]).unwrap();
    assert!(out.success(), "{}\n{}", out.stdout, out.stderr);
    assert_eq!(pgbench_processed(&out.stdout), Some(400));
    assert_eq!(pgbench_aborted(&out.stderr), 0);
    // Every session ended: the server keeps only pooled connections (at most 20).
    let backends = db
        .sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'ledger'")
        .unwrap();
    assert!(backends.trim().parse::<u32>().unwrap() <= 20, "{backends}");
}
