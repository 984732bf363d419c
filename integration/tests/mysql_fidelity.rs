//! What a real client sees through sqlmux equals what it sees directly (issue 19): the
//! handshake character set, the session state in OK packets, connection-lifetime variables,
//! dead pooled connections, the server's prepared-statement limit, connection ids and KILL.

use sqlmux_integration::clients::{node, php, pymysql};
use sqlmux_integration::{mysql_config, MariaDb, MariaDbOptions, Proxy};
use std::path::Path;

fn script(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn setup_with(opts: &MariaDbOptions) -> (MariaDb, Proxy) {
    let db = MariaDb::start_with(opts).expect("mariadb starts");
    let proxy = Proxy::start(&mysql_config(&db.addr(), "")).expect("sqlmux starts");
    (db, proxy)
}

/// Runs a client program against the server, then through sqlmux; both must succeed with
/// the same output, which is returned.
fn same_output(
    run: impl Fn(u16) -> std::io::Result<sqlmux_integration::CliOutput>,
    db: &MariaDb,
    proxy: &Proxy,
) -> String {
    let direct = run(db.port()).unwrap();
    assert!(direct.success(), "direct run failed: {}", direct.stderr);
    let proxied = run(proxy.mysql_port()).unwrap();
    assert!(
        proxied.success(),
        "through sqlmux failed: {}",
        proxied.stderr
    );
    assert_eq!(
        proxied.stdout, direct.stdout,
        "through sqlmux (left) differs from direct (right)"
    );
    direct.stdout
}

#[test]
fn handshake_charset_is_the_sessions_charset() {
    let (db, proxy) = setup_with(&MariaDbOptions::new());
    let out = same_output(
        |port| pymysql(&script("fidelity_charset.py"), port),
        &db,
        &proxy,
    );
    assert!(
        out.contains("cp1251 session ('cp1251', 'cp1251', 'cp1251')"),
        "{out}"
    );
    assert!(out.contains("koi8r roundtrip ('Добрый день'"), "{out}");
    assert!(out.contains("stored ('cp1251', 'Привет, мир'"), "{out}");
}

#[test]
fn session_state_in_ok_packets_is_what_the_server_would_send() {
    // The binlog makes the server report last_gtid, which no client tracks by default.
    let (db, proxy) = setup_with(&MariaDbOptions::new().binlog(1));
    let out = same_output(
        |port| pymysql(&script("fidelity_tracking.py"), port),
        &db,
        &proxy,
    );
    assert!(
        out.contains("'INSERT INTO tr_t (v) VALUES (1)' status 2 state b''"),
        "{out}"
    );
}

#[test]
fn wait_timeout_closes_only_its_own_client() {
    let (db, proxy) = setup_with(&MariaDbOptions::new());
    let out = same_output(
        |port| pymysql(&script("fidelity_lifetime.py"), port),
        &db,
        &proxy,
    );
    assert!(out.contains("a after idle: error True"), "{out}");
    assert!(out.contains("b after idle (14,)"), "{out}");
}

#[test]
fn pooled_connections_killed_while_idle_are_replaced_unseen() {
    let (db, proxy) = setup_with(&MariaDbOptions::new());
    let cli = || {
        sqlmux_integration::MariaDbCli::tcp("127.0.0.1", proxy.mysql_port())
            .user("app")
            .password("apppw")
            .database("sqlmux_test")
    };
    for round in 0..3 {
        assert!(cli().query("SELECT 40 + 2").unwrap().contains("42"));
        // Every backend connection of the app user goes, while idle in sqlmux's pool.
        let killed = db
            .root_sql(
                "SELECT GROUP_CONCAT(CONCAT('KILL ', id, ';') SEPARATOR ' ') \
                 FROM information_schema.processlist WHERE user = 'app'",
            )
            .unwrap();
        let kills = killed.trim();
        assert!(kills.contains("KILL"), "round {round}: no backend to kill");
        db.root_sql(kills).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let out = cli().run("SELECT 'after kill' AS x").unwrap();
        assert!(out.success(), "round {round}: {}", out.stderr);
        assert!(out.stdout.contains("after kill"), "{}", out.stdout);
    }
}

#[test]
fn prepared_statements_past_the_servers_limit() {
    let (db, proxy) = setup_with(&MariaDbOptions::new());
    let run = |port| php(&script("fidelity_prepared.php"), port).unwrap();
    db.root_sql("SET GLOBAL max_prepared_stmt_count = 5")
        .unwrap();
    let direct = run(db.port());
    assert_eq!(direct.stdout, "ok 40\n", "{}", direct.stderr);
    // The backend connection opens (and learns the limit) with room for 50 statements, and
    // keeps 40; then the server's limit drops below what it holds.
    db.root_sql("SET GLOBAL max_prepared_stmt_count = 50")
        .unwrap();
    let warm = run(proxy.mysql_port());
    assert_eq!(warm.stdout, "ok 40\n", "{}", warm.stderr);
    db.root_sql("SET GLOBAL max_prepared_stmt_count = 5")
        .unwrap();
    let proxied = run(proxy.mysql_port());
    assert_eq!(proxied.stdout, direct.stdout, "{}", proxied.stderr);
}

#[test]
fn connection_id_and_kill_name_the_clients_own_connection() {
    let (db, proxy) = setup_with(&MariaDbOptions::new());
    let out = same_output(
        |port| pymysql(&script("fidelity_kill.py"), port),
        &db,
        &proxy,
    );
    for line in [
        "connection_id is the handshake id True",
        "in an expression True",
        "written True",
        "stopped early True",
        "b still here",
        "c after kill True",
        "unknown id 1094",
        "a after self kill True",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }
}

#[test]
fn node_mysql2_sees_the_servers_identity_and_extended_metadata() {
    let (db, proxy) = setup_with(&MariaDbOptions::new());
    let out = same_output(
        |port| node(&script("fidelity_mysql2.js"), port),
        &db,
        &proxy,
    );
    assert!(out.contains("mariadb true"), "{out}");
    assert!(
        out.contains("array parameter [{\"a\":\"[1,2,3]\"}]"),
        "{out}"
    );
    assert!(
        out.contains("json, text protocol object {\"k\":[1,\"two\"]}"),
        "{out}"
    );
    assert!(out.contains("json, binary protocol object"), "{out}");
    assert!(out.contains("\"same\":1"), "{out}");
}
