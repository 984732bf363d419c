use super::*;
use sqlmux_proxy::stats::SessionSnapshot;

mod sessions_and_disk;

const CONFIG: &str = include_str!("../tests/fixtures/admin.toml");

fn admin_with(config: &str, data_dir: Option<PathBuf>) -> Result<Admin, AdminError> {
    let rt = sqlmux_config::parse(config).unwrap();
    Admin::new(Shared::new(rt, None), data_dir)
}

fn admin() -> Admin {
    admin_with(CONFIG, None).unwrap()
}

fn rows(admin: &Admin, sql: &str) -> Vec<Vec<Option<String>>> {
    match admin.execute(sql).unwrap() {
        Outcome::Rows { rows, .. } => rows,
        other => panic!("{sql}: expected rows, got {other:?}"),
    }
}

fn text_rows(admin: &Admin, sql: &str) -> Vec<Vec<String>> {
    rows(admin, sql)
        .into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| v.unwrap_or_else(|| "NULL".into()))
                .collect()
        })
        .collect()
}

fn affected(admin: &Admin, sql: &str) -> u64 {
    match admin.execute(sql).unwrap() {
        Outcome::Done { affected, .. } => affected,
        other => panic!("{sql}: expected OK, got {other:?}"),
    }
}

#[test]
fn tables_are_seeded_from_the_runtime() {
    let a = admin();
    assert_eq!(
        text_rows(
            &a,
            "SELECT hostgroup, address, status, weight, max_connections, tls FROM servers"
        ),
        vec![
            vec!["10", "127.0.0.1:3306", "ONLINE", "1", "50", "0"],
            vec!["20", "127.0.0.1:3307", "ONLINE", "2", "100", "0"],
        ]
    );
    assert_eq!(
        text_rows(&a, "SELECT * FROM users"),
        vec![vec!["app", "apppw", "shop", "shopdb", "NULL"]]
    );
    assert_eq!(
        text_rows(&a, "SELECT * FROM clusters"),
        vec![vec!["shop", "mysql", "10", "20", "NULL"]]
    );
    assert_eq!(
        text_rows(
            &a,
            "SELECT rule_id, `match`, hostgroup, user FROM query_rules"
        ),
        vec![vec!["1", "^SELECT .* FOR UPDATE", "10", "NULL"]]
    );
    assert_eq!(
        text_rows(
            &a,
            "SELECT value FROM variables WHERE name = 'pool.wait_timeout_ms'"
        ),
        vec![vec!["3000"]]
    );
    assert_eq!(
        rows(&a, "SELECT name FROM variables").len(),
        load::VARIABLE_NAMES.len()
    );
    assert_eq!(
        text_rows(
            &a,
            "SELECT address, generation FROM runtime_servers ORDER BY hostgroup"
        ),
        vec![vec!["127.0.0.1:3306", "1"], vec!["127.0.0.1:3307", "1"]]
    );
}

#[test]
fn an_edit_goes_live_with_load_and_bumps_the_generation() {
    let a = admin();
    assert_eq!(affected(&a, "UPDATE servers SET weight = 5"), 2);
    assert_eq!(
        a.shared().topology.load().servers[0].weight,
        1,
        "not live before LOAD"
    );
    let Outcome::Done { info, .. } = a.execute("load servers to runtime").unwrap() else {
        panic!()
    };
    assert!(info.contains("generation 2"), "{info}");
    let topology = a.shared().topology.load();
    assert_eq!(topology.generation, 2);
    assert!(topology.servers.iter().all(|s| s.weight == 5));
    assert!(a
        .shared()
        .runtime
        .load()
        .servers
        .iter()
        .all(|s| s.weight == 5));
    assert_eq!(
        text_rows(
            &a,
            "SELECT DISTINCT weight, generation FROM runtime_servers"
        ),
        vec![vec!["5", "2"]]
    );
    // Loading the same servers again changes nothing.
    let Outcome::Done { info, .. } = a.execute("LOAD SERVERS TO RUNTIME").unwrap() else {
        panic!()
    };
    assert!(info.contains("unchanged"), "{info}");
    assert_eq!(a.shared().topology.load().generation, 2);
}

#[test]
fn a_bad_edit_is_refused_and_the_runtime_is_unchanged() {
    let a = admin();
    affected(
        &a,
        "UPDATE servers SET address = 'nowhere' WHERE hostgroup = 10",
    );
    let err = a.execute("LOAD SERVERS TO RUNTIME").unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, AdminError::LoadRefused { .. }), "{err:?}");
    assert!(
        message.contains("servers row (hostgroup=10, address='nowhere'): address: bad address"),
        "{message}"
    );
    assert!(message.contains("runtime is unchanged"), "{message}");
    assert_eq!(err.mysql().0 as u16, 1105);
    assert_eq!(a.shared().topology.load().generation, 1);
    assert_eq!(
        &*a.shared().topology.load().servers[0].address,
        "127.0.0.1:3306"
    );

    // A server in a hostgroup no cluster uses; a user of an unknown cluster.
    let a = admin();
    affected(
        &a,
        "INSERT INTO servers (hostgroup, address) VALUES (99, '127.0.0.1:1')",
    );
    let message = a
        .execute("LOAD SERVERS TO RUNTIME")
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("hostgroup 99 is used by no cluster"),
        "{message}"
    );
    affected(&a, "UPDATE users SET cluster = 'nope'");
    let message = a.execute("LOAD USERS TO RUNTIME").unwrap_err().to_string();
    assert!(
        message.contains("users row (name='app'): cluster: no cluster named"),
        "{message}"
    );
    assert_eq!(a.shared().runtime.load().users[0].cluster, "shop");
}

#[test]
fn a_clusters_lag_limit_loads_to_runtime() {
    let a = admin();
    affected(&a, "UPDATE clusters SET max_replication_lag_ms = 1500");
    a.execute("LOAD SERVERS TO RUNTIME").unwrap();
    assert_eq!(
        a.shared().runtime.load().clusters[0].max_replication_lag_ms,
        Some(1500)
    );
    assert_eq!(
        text_rows(&a, "SELECT max_replication_lag_ms FROM runtime_clusters"),
        vec![vec!["1500"]]
    );
    // 0 is no limit, as in ProxySQL.
    affected(&a, "UPDATE clusters SET max_replication_lag_ms = 0");
    a.execute("LOAD SERVERS TO RUNTIME").unwrap();
    assert_eq!(
        a.shared().runtime.load().clusters[0].max_replication_lag_ms,
        None
    );
}

#[test]
fn removing_a_cluster_in_use_is_refused() {
    let a = admin();
    affected(&a, "DELETE FROM clusters");
    affected(&a, "DELETE FROM servers");
    let message = a
        .execute("LOAD SERVERS TO RUNTIME")
        .unwrap_err()
        .to_string();
    assert!(message.contains("no cluster named \"shop\""), "{message}");
    // With the users gone too, LOAD ALL takes it.
    affected(&a, "DELETE FROM users");
    affected(&a, "DELETE FROM query_rules");
    a.execute("LOAD ALL TO RUNTIME").unwrap();
    assert!(a.shared().runtime.load().clusters.is_empty());
    assert!(a.shared().topology.load().servers.is_empty());
}

#[test]
fn the_monitor_is_turned_on_tuned_and_off_through_variables() {
    let a = admin();
    assert!(a.shared().runtime.load().monitor.is_none());
    assert_eq!(
        text_rows(
            &a,
            "SELECT value FROM variables WHERE name IN ('monitor.user', 'monitor.interval_ms') ORDER BY name"
        ),
        vec![vec!["500"], vec![""]]
    );
    affected(
        &a,
        "UPDATE variables SET value = 'monitor' WHERE name = 'monitor.user'",
    );
    affected(
        &a,
        "UPDATE variables SET value = '250' WHERE name = 'monitor.interval_ms'",
    );
    a.execute("LOAD VARIABLES TO RUNTIME").unwrap();
    let monitor = a.shared().runtime.load().monitor.clone().unwrap();
    assert_eq!(monitor.user, "monitor");
    assert_eq!(monitor.interval, std::time::Duration::from_millis(250));
    assert_eq!(monitor.up_after, 2);
    assert_eq!(
        text_rows(
            &a,
            "SELECT value FROM runtime_variables WHERE name = 'monitor.interval_ms'"
        ),
        vec![vec!["250"]]
    );
    affected(
        &a,
        "UPDATE variables SET value = '0' WHERE name = 'monitor.down_after'",
    );
    let message = a
        .execute("LOAD VARIABLES TO RUNTIME")
        .unwrap_err()
        .to_string();
    assert!(message.contains("monitor.down_after"), "{message}");
    affected(
        &a,
        "UPDATE variables SET value = '3' WHERE name = 'monitor.down_after'",
    );
    // Rows without the monitor (a store saved before it had variables) keep it.
    affected(&a, "DELETE FROM variables WHERE name LIKE 'monitor.%'");
    a.execute("LOAD VARIABLES TO RUNTIME").unwrap();
    assert!(a.shared().runtime.load().monitor.is_some());
    affected(&a, "INSERT INTO variables VALUES ('monitor.user', '')");
    a.execute("LOAD VARIABLES TO RUNTIME").unwrap();
    assert!(a.shared().runtime.load().monitor.is_none());
}

#[test]
fn users_and_rules_load() {
    let a = admin();
    affected(
        &a,
        "INSERT INTO users (name, password, cluster, read_your_writes_ms) VALUES ('bob', 'pw', 'shop', 250)",
    );
    a.execute("LOAD USERS TO RUNTIME").unwrap();
    let rt = a.shared().runtime.load();
    let bob = rt.user("bob").unwrap();
    assert_eq!(
        bob.read_your_writes,
        Some(std::time::Duration::from_millis(250))
    );

    affected(
        &a,
        "INSERT INTO query_rules (rule_id, \"match\", hostgroup, user) VALUES (0, '^SELECT', 20, 'bob')",
    );
    a.execute("LOAD MYSQL QUERY RULES TO RUNTIME").unwrap();
    let rt = a.shared().runtime.load();
    assert_eq!(rt.rules.len(), 2);
    assert_eq!(
        rt.rules[0].pattern.as_str(),
        "^SELECT",
        "ordered by rule_id"
    );
    assert_eq!(rt.rules[0].user.as_deref(), Some("bob"));
    assert_eq!(
        text_rows(&a, "SELECT rule_id, hostgroup FROM runtime_query_rules"),
        vec![vec!["1", "20"], vec!["2", "10"]]
    );

    affected(
        &a,
        "INSERT INTO query_rules (\"match\", hostgroup) VALUES ('(', 10)",
    );
    let message = a.execute("LOAD RULES TO RUNTIME").unwrap_err().to_string();
    assert!(
        message.contains("query_rules row (rule_id=2): match: bad regex"),
        "{message}"
    );
}

#[test]
fn variables_load_and_bad_values_are_refused() {
    let a = admin();
    affected(
        &a,
        "UPDATE variables SET value = 5000 WHERE name = 'pool.wait_timeout_ms'",
    );
    affected(
        &a,
        "UPDATE variables SET value = 'FALSE' WHERE name = 'mysql.local_infile'",
    );
    a.execute("LOAD VARIABLES TO RUNTIME").unwrap();
    let rt = a.shared().runtime.load();
    assert_eq!(rt.pool.wait_timeout, std::time::Duration::from_millis(5000));
    assert!(!rt.mysql.local_infile);
    assert_eq!(
        text_rows(
            &a,
            "SELECT value FROM runtime_variables WHERE name = 'mysql.local_infile'"
        ),
        vec![vec!["false"]]
    );

    affected(
        &a,
        "UPDATE variables SET value = 'soon' WHERE name = 'pool.idle_timeout_ms'",
    );
    let message = a
        .execute("LOAD VARIABLES TO RUNTIME")
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("variables row (name='pool.idle_timeout_ms')"),
        "{message}"
    );
    affected(
        &a,
        "UPDATE variables SET value = '1000' WHERE name = 'pool.idle_timeout_ms'",
    );
    affected(
        &a,
        "UPDATE variables SET value = 'md5' WHERE name = 'mysql.default_auth_plugin'",
    );
    let message = a
        .execute("LOAD VARIABLES TO RUNTIME")
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("variables row (name='mysql.default_auth_plugin'): unsupported plugin"),
        "{message}"
    );
    affected(&a, "UPDATE variables SET value = 'mysql_native_password' WHERE name = 'mysql.default_auth_plugin'");
    affected(&a, "INSERT INTO variables VALUES ('pool.size', '3')");
    let message = a
        .execute("LOAD VARIABLES TO RUNTIME")
        .unwrap_err()
        .to_string();
    assert!(message.contains("unknown variable"), "{message}");
    assert_eq!(
        a.shared().runtime.load().pool.idle_timeout,
        std::time::Duration::from_secs(60)
    );
}

#[test]
fn only_configuration_tables_are_writable_and_no_ddl_runs() {
    let a = admin();
    let err = a
        .execute("UPDATE runtime_servers SET weight = 9")
        .unwrap_err();
    assert!(matches!(err, AdminError::ReadOnly { .. }), "{err:?}");
    assert_eq!(err.mysql().0 as u16, 1036);
    assert!(matches!(
        a.execute("DELETE FROM stats_sessions").unwrap_err(),
        AdminError::ReadOnly { .. }
    ));
    for sql in [
        "DROP TABLE servers",
        "CREATE TABLE t (x)",
        "BEGIN",
        "ATTACH DATABASE '/tmp/x.db' AS x",
        "PRAGMA writable_schema = 1",
    ] {
        let err = a.execute(sql).unwrap_err();
        assert!(matches!(err, AdminError::Unsupported(_)), "{sql}: {err:?}");
    }
    // Read-only pragmas work.
    assert_eq!(rows(&a, "PRAGMA table_info(servers)").len(), 6);
    // STRICT tables and checks refuse bad values at edit time.
    assert!(a.execute("UPDATE servers SET weight = 'heavy'").is_err());
    assert!(a.execute("UPDATE servers SET weight = -1").is_err());
    let err = a
        .execute("INSERT INTO users (name, password, cluster) VALUES ('app', 'x', 'shop')")
        .unwrap_err();
    assert_eq!(err.mysql().0 as u16, 1062, "{err}");
    let err = a.execute("SELECT * FROM missing_table").unwrap_err();
    assert_eq!(err.mysql().0 as u16, 1146, "{err}");
    let err = a.execute("SELEKT 1").unwrap_err();
    assert_eq!(err.mysql().0 as u16, 1064, "{err}");
    assert!(a.execute("DELETE FROM servers; DROP TABLE users").is_err());
    assert_eq!(rows(&a, "SELECT * FROM servers").len(), 2, "nothing ran");
    assert!(matches!(a.execute("   "), Err(AdminError::EmptyQuery)));
    // Still usable afterwards, and the store holds no open transaction.
    assert_eq!(
        affected(&a, "UPDATE servers SET weight = 3 WHERE hostgroup = 20"),
        1
    );
}
