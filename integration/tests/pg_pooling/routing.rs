//! PostgreSQL pooling: reads to the standby, sequence functions and SQL PREPARE across pooled backends, parameter status, admin tables, the control API, two workers sharing a backend.

use super::*;

#[test]
fn reads_go_to_the_standby_and_writes_to_the_primary() {
    let pair = PostgresPair::start().unwrap();
    let rule = "[[rules]]\nmatch = \"(?i)AS via_rule\"\nhostgroup = 30\n";
    let config = postgres_config(&pair.primary.addr(), Some(&pair.standby.addr()), rule);
    let proxy = Proxy::start(&config).unwrap();
    runtime().block_on(async {
        let c = connect(proxy.postgres_port()).await;
        c.batch_execute("CREATE TABLE r (x int); CREATE SEQUENCE s")
            .await
            .unwrap();
        assert_eq!(one(&c, "SELECT pg_is_in_recovery()").await, "t");
        let stmt = c.prepare("SELECT pg_is_in_recovery()").await.unwrap();
        assert!(c.query_one(&stmt, &[]).await.unwrap().get::<_, bool>(0));
        // A query with parameters: tokio-postgres prepares it (Parse/Describe), binds and
        // executes it, then closes it, each in a batch of its own.
        let one_shot = |sql: &'static str| {
            let c = &c;
            async move { c.query_one(sql, &[]).await.unwrap().get::<_, bool>(0) }
        };
        assert!(one_shot("SELECT pg_is_in_recovery()").await);
        assert!(!one_shot("INSERT INTO r VALUES (2) RETURNING pg_is_in_recovery()").await);
        assert!(one_shot("SELECT pg_is_in_recovery()").await);
        assert_eq!(
            one(&c, "INSERT INTO r VALUES (1) RETURNING pg_is_in_recovery()").await,
            "f"
        );
        assert_eq!(
            one(&c, "SELECT nextval('s') > 0 AND NOT pg_is_in_recovery()").await,
            "t"
        );
        assert_eq!(one(&c, "SELECT x FROM r WHERE x = 1 FOR UPDATE").await, "1");
        assert_eq!(
            one(&c, "/* sqlmux:hostgroup=30 */ SELECT pg_is_in_recovery()").await,
            "f"
        );
        assert_eq!(one(&c, "SELECT pg_is_in_recovery() AS via_rule").await, "f");
        assert_eq!(
            one(
                &c,
                "SELECT pg_advisory_xact_lock(1)::text || pg_is_in_recovery()"
            )
            .await,
            "false"
        );
        c.batch_execute("BEGIN READ ONLY").await.unwrap();
        assert_eq!(one(&c, "SELECT pg_is_in_recovery()").await, "t");
        c.batch_execute("COMMIT").await.unwrap();
        c.batch_execute("BEGIN").await.unwrap();
        assert_eq!(one(&c, "SELECT pg_is_in_recovery()").await, "f");
        c.batch_execute("COMMIT").await.unwrap();
    });
}

#[test]
fn lastval_and_currval_follow_the_session_across_pooled_backends() {
    let db = Postgres::start().unwrap();
    let proxy = proxy_with_pool(&db, 3);
    let script = "\
        INSERT INTO li (v) VALUES ('a');\n\
        SELECT lastval();\n\
        SELECT currval('li_id_seq');\n\
        INSERT INTO li (v) VALUES ('b'), ('c');\n\
        SELECT lastval(), currval('public.li_id_seq');\n\
        INSERT INTO li2 (v) VALUES ('x');\n\
        SELECT lastval(), currval('li_id_seq'), currval('li2_id_seq');\n\
        SELECT nextval('free_seq');\n\
        SELECT lastval(), currval('free_seq'), currval('li2_id_seq');\n\
        INSERT INTO li (id, v) VALUES (1000, 'explicit');\n\
        SELECT lastval(), currval('li_id_seq');\n\
        BEGIN;\n\
        INSERT INTO li (v) VALUES ('in tx');\n\
        SELECT lastval(), currval('li_id_seq');\n\
        COMMIT;\n\
        SELECT lastval(), currval('li_id_seq');\n\
        SELECT 1 WHERE lastval() > 0;\n";
    runtime().block_on(async {
        let setup = connect(proxy.postgres_port()).await;
        setup
            .batch_execute(
                "CREATE TABLE li (id serial PRIMARY KEY, v text); \
                 CREATE TABLE li2 (id int GENERATED ALWAYS AS IDENTITY, v text); \
                 CREATE SEQUENCE free_seq START 500",
            )
            .await
            .unwrap();
        // Noise: other sessions advance the same sequences through the same 3 backends.
        let noise_port = proxy.postgres_port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut noise = Vec::new();
        for _ in 0..3 {
            let stop = stop.clone();
            noise.push(tokio::spawn(async move {
                let c = connect(noise_port).await;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    c.batch_execute("INSERT INTO li (v) VALUES ('noise'); INSERT INTO li2 (v) VALUES ('n')")
                        .await
                        .unwrap();
                    c.simple_query("SELECT nextval('free_seq')").await.unwrap();
                    tokio::task::yield_now().await;
                }
            }));
        }
        let direct = connect(db.port()).await;
        let proxied = connect(proxy.postgres_port()).await;
        // A fresh session has no lastval, through sqlmux as directly.
        let fresh_direct = direct.simple_query("SELECT lastval()").await.unwrap_err();
        let fresh_proxied = proxied.simple_query("SELECT lastval()").await.unwrap_err();
        assert_eq!(
            fresh_direct.as_db_error().map(|e| e.code().code()),
            fresh_proxied.as_db_error().map(|e| e.code().code())
        );
        let mut proxied_rows = Vec::new();
        for statement in script.lines() {
            let r = proxied.simple_query(statement).await.unwrap();
            proxied_rows.push(rows_text(&r));
            tokio::task::yield_now().await;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for n in noise {
            n.await.unwrap();
        }
        // The same statements on one direct connection, after resetting the sequences to where
        // the proxied session found them is impossible with noise: compare the relations
        // instead (each read equals the value the session's own inserts produced).
        let ids: Vec<String> = proxied_rows.iter().map(|r| r.join(",")).collect();
        let mine = setup.simple_query("SELECT string_agg(id::text, ',' ORDER BY id) FROM li WHERE v IN ('a','b','c','in tx')").await.unwrap();
        let mine = rows_text(&mine).join("");
        let mine: Vec<&str> = mine.split(',').collect();
        let li2 = setup.simple_query("SELECT min(id) FROM li2 WHERE v = 'x'").await.unwrap();
        let li2 = rows_text(&li2).join("");
        assert_eq!(ids[1], mine[0], "lastval after the first insert: {ids:?}");
        assert_eq!(ids[2], mine[0]);
        assert_eq!(ids[4], format!("{},{}", mine[2], mine[2]));
        assert_eq!(ids[6], format!("{li2},{},{li2}", mine[2]));
        let free: i64 = ids[7].parse().unwrap();
        assert_eq!(ids[8], format!("{free},{free},{li2}"));
        // An explicit id does not advance the sequence: the values stay.
        assert_eq!(ids[10], format!("{free},{}", mine[2]));
        assert_eq!(ids[13], format!("{},{}", mine[3], mine[3]), "inside the transaction");
        assert_eq!(ids[15], format!("{},{}", mine[3], mine[3]), "after the transaction");
        assert_eq!(ids[16], "1");
        drop(direct);
    });
}

fn rows_text(messages: &[tokio_postgres::SimpleQueryMessage]) -> Vec<String> {
    messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                (0..r.len())
                    .map(|i| r.get(i).unwrap_or("NULL").to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => None,
        })
        .collect()
}

#[test]
fn sql_prepare_and_execute_follow_the_session() {
    let db = Postgres::start().unwrap();
    let proxy = proxy_with_pool(&db, 1);
    runtime().block_on(async {
        let a = connect(proxy.postgres_port()).await;
        let b = connect(proxy.postgres_port()).await;
        a.batch_execute("PREPARE p (int) AS SELECT $1 + 1")
            .await
            .unwrap();
        b.batch_execute("PREPARE p AS SELECT 'b'").await.unwrap();
        assert_eq!(one(&a, "EXECUTE p(1)").await, "2");
        assert_eq!(one(&b, "EXECUTE p").await, "b");
        assert_eq!(one(&a, "EXECUTE p(41)").await, "42");
        let dup = a.simple_query("PREPARE p AS SELECT 1").await.unwrap_err();
        assert_eq!(dup.as_db_error().map(|e| e.code().code()), Some("42P05"));
        a.batch_execute("DEALLOCATE p").await.unwrap();
        let gone = a.simple_query("EXECUTE p(1)").await.unwrap_err();
        assert_eq!(gone.as_db_error().map(|e| e.code().code()), Some("26000"));
        assert_eq!(one(&b, "EXECUTE p").await, "b");
        b.batch_execute("DEALLOCATE ALL").await.unwrap();
        assert!(b.simple_query("EXECUTE p").await.is_err());
        // One backend served both sessions all along.
        assert_eq!(one(&a, "SELECT 1").await, "1");
    });
}

#[test]
fn parameter_status_is_kept_per_session() {
    let db = Postgres::start().unwrap();
    let proxy = proxy_with_pool(&db, 1);
    let script = r#"
import os, psycopg2
def conn(app):
    c = psycopg2.connect(host="127.0.0.1", port=int(os.environ["PORT"]), user="ledger", password="ledgerpw",
                         dbname="ledger", application_name=app)
    c.autocommit = True
    return c
a, b = conn("app_a"), conn("app_b")
a.cursor().execute("SET TimeZone = 'Asia/Tokyo'")
a.cursor().execute("SET application_name = 'renamed_a'")
b.cursor().execute("SELECT 1")
cur = b.cursor(); cur.execute("SHOW application_name"); shown_b = cur.fetchone()[0]
cur = a.cursor(); cur.execute("SHOW application_name"); shown_a = cur.fetchone()[0]
print(a.get_parameter_status("application_name"), a.get_parameter_status("TimeZone"), shown_a)
print(b.get_parameter_status("application_name"), b.get_parameter_status("TimeZone") != "Asia/Tokyo", shown_b)
print(a.get_parameter_status("server_version") == b.get_parameter_status("server_version") != None)
"#;
    let out = sqlmux_integration::clients::psycopg2(script, proxy.postgres_port()).unwrap();
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(
        out.stdout.trim(),
        "renamed_a Asia/Tokyo renamed_a\napp_b True app_b\nTrue"
    );
}

#[test]
fn admin_tables_show_postgres_pools_and_sessions() {
    let db = Postgres::start().unwrap();
    let extra = "[admin]\nuser = \"admin\"\npassword = \"admin\"\n";
    let config = postgres_config(&db.addr(), None, extra)
        .replace("[listen]\n", "[listen]\nadmin_postgres = \"127.0.0.1:0\"\n");
    let proxy = Proxy::start(&config).unwrap();
    runtime().block_on(async {
        let c = connect(proxy.postgres_port()).await;
        for _ in 0..5 {
            one(&c, "SELECT 1").await;
        }
        c.batch_execute("LISTEN x").await.unwrap();
        let out = sqlmux_integration::Psql::tcp("127.0.0.1", proxy.admin_postgres_port())
            .user("admin")
            .password("admin")
            .database("admin")
            .query(
                "SELECT hostgroup, used + free, statements >= 6 FROM stats_connection_pool;\n\
                 SELECT user, pins FROM stats_sessions;",
            )
            .unwrap();
        assert_eq!(out.trim(), "30|1|1\nledger|listen", "{out}");
    });
}

#[test]
fn the_control_api_moves_the_writer_and_closes_offline_hard_backends() {
    let a = Postgres::start().unwrap();
    let b = Postgres::start().unwrap();
    let config = postgres_config(&a.addr(), None, "")
        .replace("[listen]\n", "[listen]\nhttp = \"127.0.0.1:0\"\n");
    let proxy = Proxy::start(&config).unwrap();
    let doc = |generation: u64, writer: &str, status: &str| {
        format!(
            r#"{{"generation": {generation}, "servers": [{{"hostgroup": 30, "address": "{writer}", "status": "{status}", "weight": 1, "max_connections": 20}}]}}"#
        )
    };
    runtime().block_on(async {
        let c = connect(proxy.postgres_port()).await;
        assert_eq!(one(&c, "SHOW port").await, a.port().to_string());
        // A transaction pins the backend on a; OFFLINE_HARD closes it at once.
        c.batch_execute("BEGIN").await.unwrap();
        let (_, body) = proxy.http("GET", "/v1/topology", None).unwrap();
        let (status, body) = proxy
            .http(
                "PUT",
                "/v1/topology",
                Some(&doc(generation(&body), &a.addr(), "OFFLINE_HARD")),
            )
            .unwrap();
        assert_eq!(status, 200, "{body}");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let n = a
                .sql("SELECT count(*) FROM pg_stat_activity WHERE usename = 'ledger'")
                .unwrap();
            if n.trim() == "0" {
                break;
            }
            assert!(Instant::now() < deadline, "backend still open: {n}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let err = c.simple_query("SELECT 1").await.unwrap_err();
        let message = err.as_db_error().map(|e| e.message().to_string());
        assert!(
            message
                .as_deref()
                .is_some_and(|m| m.contains("OFFLINE_HARD")),
            "{err:?}"
        );
        // The transaction was lost with the backend: failed until the client ends it.
        let failed = c.simple_query("SELECT 1").await.unwrap_err();
        assert_eq!(failed.code().map(|c| c.code()), Some("25P02"), "{failed:?}");
        c.batch_execute("ROLLBACK").await.unwrap();
        // The writer moves to b: the next statements run there.
        let (_, body) = proxy.http("GET", "/v1/topology", None).unwrap();
        let (status, body) = proxy
            .http(
                "PUT",
                "/v1/topology",
                Some(&doc(generation(&body), &b.addr(), "ONLINE")),
            )
            .unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(one(&c, "SHOW port").await, b.port().to_string());
    });
}

#[test]
fn sessions_on_two_workers_share_one_backend_connection() {
    let db = Postgres::start().unwrap();
    let config = postgres_config(&db.addr(), None, "[pool]\nwait_timeout_ms = 5000\n")
        .replace("max_connections = 20", "max_connections = 1")
        .replace("[listen]\n", "[listen]\nworkers = 2\n");
    let proxy = Proxy::start(&config).unwrap();
    runtime().block_on(async {
        // A new client goes to the least loaded worker: these two run on different ones.
        let a = connect(proxy.postgres_port()).await;
        let b = connect(proxy.postgres_port()).await;
        let pid = one(&a, "SELECT pg_backend_pid()").await;
        assert_eq!(one(&b, "SELECT pg_backend_pid()").await, pid);
        // Both at once: the one connection goes back and forth between the workers.
        let run = |c: Client, tag: u32| async move {
            for i in 0..300 {
                let sql = format!("SELECT {tag} * 1000 + {i}");
                assert_eq!(one(&c, &sql).await, (tag * 1000 + i).to_string());
            }
            c
        };
        let (a, b) = tokio::join!(run(a, 1), run(b, 2));
        assert_eq!(one(&a, "SELECT pg_backend_pid()").await, pid);
        assert_eq!(one(&b, "SELECT pg_backend_pid()").await, pid);
    });
}
