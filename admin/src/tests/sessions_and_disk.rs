//! Admin tests: session variables and SHOW, fresh stats tables, the saved store, login, odd statements, holds, statement limits.

use super::*;

#[test]
fn session_variables_and_show() {
    let a = admin();
    assert_eq!(
        a.execute("select @@version_comment limit 1").unwrap(),
        Outcome::Rows {
            columns: vec!["@@version_comment".into()],
            rows: vec![vec![Some(VERSION_COMMENT.into())]],
        }
    );
    assert_eq!(
        text_rows(&a, "SELECT @@version"),
        vec![vec!["8.0.36-sqlmux"]]
    );
    assert_eq!(
        a.execute("SELECT @@nonsense").unwrap_err().mysql().0 as u16,
        1193
    );
    assert_eq!(
        text_rows(&a, "SELECT DATABASE(), USER(), VERSION()"),
        vec![vec!["main", "admin", "8.0.36-sqlmux"]]
    );
    let tables: Vec<String> = text_rows(&a, "SHOW TABLES")
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
    for t in [
        "servers",
        "runtime_servers",
        "stats_connection_pool",
        "stats_multiplexing",
        "variables",
    ] {
        assert!(tables.iter().any(|x| x == t), "{t} in {tables:?}");
    }
    assert_eq!(affected(&a, "SET NAMES utf8mb4"), 0);
}

#[test]
fn stats_tables_are_fresh_at_every_read() {
    let a = admin();
    let shared = a.shared().clone();
    let user: Arc<str> = Arc::from("app");
    let statement = |sql: &'static [u8], micros| sqlmux_proxy::stats::Statement {
        hostgroup: 10,
        user: &user,
        digest: 0xABCD,
        sql,
        micros,
        rows: 0,
        started: std::time::Instant::now(),
        digest_text: |sql| sqlmux_protocol::dialect::mysql::digest(sql).text,
        max_digests: 10_000,
    };
    shared
        .stats
        .statement(statement(b"SELECT * FROM t WHERE id = 1", 120));
    shared
        .stats
        .statement(statement(b"SELECT * FROM t WHERE id = 2", 80));
    assert_eq!(
        text_rows(
            &a,
            "SELECT digest, digest_text, count, sum_time_us, min_time_us, max_time_us FROM stats_query_digest"
        ),
        vec![vec![
            "0x000000000000ABCD".to_string(),
            sqlmux_protocol::dialect::mysql::digest(b"SELECT * FROM t WHERE id = 1").text,
            "2".into(),
            "200".into(),
            "80".into(),
            "120".into()
        ]]
    );
    shared.stats.sessions.insert(
        7,
        SessionSnapshot {
            id: 7,
            user: user.clone(),
            client: "127.0.0.1:50000".parse().unwrap(),
            schema: Arc::from("shopdb"),
            state: "pinned",
            backend: Some(Arc::from("127.0.0.1:3306")),
            pins: "transaction".into(),
        },
    );
    assert_eq!(
        text_rows(
            &a,
            "SELECT id, user, client, schema, backend, pins FROM stats_sessions"
        ),
        vec![vec![
            "7",
            "app",
            "127.0.0.1:50000",
            "shopdb",
            "127.0.0.1:3306",
            "transaction"
        ]]
    );
    let pool = shared.mysql.pools.server(&Arc::from("127.0.0.1:3306"), 50);
    pool.stats
        .connections_ok
        .fetch_add(3, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        text_rows(
            &a,
            "SELECT p.address, r.weight, p.used, p.free, p.connections_ok \
             FROM stats_connection_pool p JOIN runtime_servers r \
               ON r.address = p.address AND r.hostgroup = p.hostgroup \
             ORDER BY p.hostgroup DESC"
        ),
        vec![
            vec!["127.0.0.1:3307", "2", "0", "0", "0"],
            vec!["127.0.0.1:3306", "1", "0", "0", "3"],
        ]
    );
    assert_eq!(
        text_rows(&a, "SELECT * FROM stats_multiplexing ORDER BY hostgroup"),
        vec![vec!["10", "1", "0"], vec!["20", "0", "0"]]
    );
    shared.stats.sessions.remove(&7);
    assert!(
        rows(&a, "SELECT * FROM stats_sessions").is_empty(),
        "refreshed"
    );
}

#[test]
fn save_from_runtime_copies_a_pushed_topology_into_the_tables() {
    let a = admin();
    let shared = a.shared().clone();
    shared.replace_topology(|generation| {
        let mut t = (**shared.topology.load()).clone();
        t.generation = generation;
        t.servers[0].status = sqlmux_config::ServerStatus::OfflineSoft;
        t
    });
    a.execute("SAVE SERVERS FROM RUNTIME").unwrap();
    assert_eq!(
        text_rows(&a, "SELECT status FROM servers WHERE hostgroup = 10"),
        vec![vec!["OFFLINE_SOFT"]]
    );
}

#[test]
fn the_saved_store_wins_over_the_config_file_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    {
        let a = admin_with(CONFIG, Some(data_dir.clone())).unwrap();
        affected(&a, "UPDATE servers SET weight = 7 WHERE hostgroup = 20");
        affected(&a, "UPDATE users SET password = 'newpw'");
        let Outcome::Done { info, .. } = a.execute("SAVE ALL TO DISK").unwrap() else {
            panic!()
        };
        assert!(info.contains("sqlmux.db"), "{info}");
        assert!(data_dir.join("sqlmux.db").exists());
        // Not saved: stays a table edit only.
        affected(&a, "UPDATE servers SET weight = 9 WHERE hostgroup = 10");
    }
    let a = admin_with(CONFIG, Some(data_dir.clone())).unwrap();
    let topology = a.shared().topology.load();
    let reader = topology.servers.iter().find(|s| s.hostgroup == 20).unwrap();
    assert_eq!(reader.weight, 7, "saved store made live at start");
    assert_eq!(
        topology
            .servers
            .iter()
            .find(|s| s.hostgroup == 10)
            .unwrap()
            .weight,
        1
    );
    assert_eq!(a.shared().runtime.load().users[0].password, "newpw");
    assert_eq!(
        text_rows(&a, "SELECT weight FROM servers WHERE hostgroup = 20"),
        vec![vec!["7"]]
    );

    // LOAD ... FROM DISK restores the tables after an edit.
    affected(&a, "DELETE FROM servers");
    a.execute("LOAD SERVERS FROM DISK").unwrap();
    assert_eq!(rows(&a, "SELECT * FROM servers").len(), 2);

    // A saved store that no longer validates stops the start with a clear error.
    affected(
        &a,
        "UPDATE servers SET address = 'bad' WHERE hostgroup = 20",
    );
    a.execute("SAVE SERVERS TO DISK").unwrap();
    let err = admin_with(CONFIG, Some(data_dir)).unwrap_err();
    assert!(
        matches!(err, AdminError::SavedStoreInvalid { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("address='bad'"), "{err}");
}

#[test]
fn disk_commands_need_a_data_dir() {
    let a = admin();
    assert!(matches!(
        a.execute("SAVE SERVERS TO DISK").unwrap_err(),
        AdminError::NoDataDir(_)
    ));
    let dir = tempfile::tempdir().unwrap();
    let a = admin_with(CONFIG, Some(dir.path().to_path_buf())).unwrap();
    let err = a.execute("LOAD USERS FROM DISK").unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn admin_login_checks_the_admin_credentials() {
    let a = admin();
    let salt = sqlmux_protocol::mysql::auth::new_salt();
    let good =
        mysql_common::auth::plugins::mysql_native_password::scramble_native(&salt, b"adminpw")
            .unwrap();
    assert!(a.check_mysql_login(b"admin", &salt, &good));
    assert!(!a.check_mysql_login(b"app", &salt, &good));
    let bad = mysql_common::auth::plugins::mysql_native_password::scramble_native(&salt, b"wrong")
        .unwrap();
    assert!(!a.check_mysql_login(b"admin", &salt, &bad));
    assert!(!a.check_mysql_login(b"admin", &salt, b""));
    // Without [admin], nobody logs in.
    let rt = sqlmux_config::parse("").unwrap();
    let a = Admin::new(Shared::new(rt, None), None).unwrap();
    assert!(!a.check_mysql_login(b"admin", &salt, &good));
}

#[test]
fn odd_statements_give_errors_or_results_never_panics() {
    let a = admin();
    for sql in [
        "-- only a comment",
        "/* only a comment */",
        ";",
        "SELECT",
        "SELECT @@",
        "SELECT @@version,",
        "LOAD",
        "SAVE ALL",
        "SHOW",
        "SET",
        "\0sqlmux-reject:command:31",
        "SELECT x'00ff'",
        "SELECT 1.5, NULL, 'é'",
        "VACUUM",
        "REINDEX",
        "ANALYZE",
        "EXPLAIN QUERY PLAN SELECT * FROM servers",
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3) SELECT x FROM n",
    ] {
        let _ = a.execute(sql);
    }
    assert_eq!(
        rows(&a, "SELECT 1.5, NULL, 'é'"),
        vec![vec![Some("1.5".into()), None, Some("é".into())]]
    );
    assert_eq!(
        text_rows(
            &a,
            "INSERT INTO users (name, password, cluster) VALUES ('x', 'y', 'shop') RETURNING name"
        ),
        vec![vec!["x"]]
    );
    assert_eq!(affected(&a, "DELETE FROM users WHERE name = 'x'"), 1);
    assert!(a.execute("VACUUM").is_err());
    assert!(matches!(
        a.execute("-- only a comment"),
        Err(AdminError::EmptyQuery)
    ));
}

#[test]
fn hold_and_release_cluster_commands() {
    let a = admin();
    let outcome = a.execute("hold cluster shop;").unwrap();
    assert!(
        matches!(&outcome, Outcome::Done { info, .. } if info.contains("cluster shop held")),
        "{outcome:?}"
    );
    assert!(a.shared.failover.queue(10).explicitly_held());
    let outcome = a.execute("RELEASE CLUSTER shop").unwrap();
    assert!(
        matches!(&outcome, Outcome::Done { info, .. } if info == "cluster shop released"),
        "{outcome:?}"
    );
    assert!(!a.shared.failover.queue(10).explicitly_held());
    assert!(a.execute("HOLD CLUSTER nope").is_err());
    assert!(a.execute("HOLD CLUSTER").is_err());
}

#[test]
fn an_admin_statement_is_limited_in_rows_bytes_and_time() {
    let admin = admin();
    let endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) \
                   SELECT count(*) FROM n";
    let started = std::time::Instant::now();
    let err = admin.execute(endless).unwrap_err();
    assert!(matches!(err, AdminError::Limit(_)), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let many = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 200000) \
                SELECT i FROM n";
    assert!(matches!(admin.execute(many), Err(AdminError::Limit(_))));
    let huge = "WITH RECURSIVE s(x) AS (SELECT 'ab' UNION ALL SELECT x || x FROM s) \
                SELECT length(x) FROM s";
    assert!(
        admin.execute(huge).is_err(),
        "a value past 16 MiB is refused"
    );
    // The store goes on.
    assert_eq!(text_rows(&admin, "SELECT 1"), vec![vec!["1".to_string()]]);
}
