//! The configuration contract: the shared example parses, bad files are refused by key.

use sqlmux_config::{parse, ConfigError, Protocol, ServerStatus};
use std::path::Path;

const REPO_EXAMPLE: &str = include_str!("../../sqlmux.example.toml");

fn problem(text: &str) -> String {
    match parse(text) {
        Ok(_) => panic!("config was accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

const BASE: &str = include_str!("fixtures/shop.toml");

#[test]
fn shared_example_parses_when_present() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/sqlmux.example.toml");
    if let Ok(text) = std::fs::read_to_string(&shared) {
        let rt = parse(&text).expect("shared example must parse");
        assert_eq!(rt.clusters.len(), 2);
    }
}

#[test]
fn repo_example_parses_with_every_key() {
    let rt = parse(REPO_EXAMPLE).expect("repo example must parse");
    assert_eq!(rt.listen.mysql.as_deref(), Some("127.0.0.1:6033"));
    assert_eq!(rt.listen.http.as_deref(), Some("127.0.0.1:6070"));
    assert_eq!(rt.admin.as_ref().unwrap().data_dir, "sqlmux-data");
    let shop = rt.cluster("shop").unwrap();
    assert_eq!(shop.protocol, Protocol::Mysql);
    assert_eq!((shop.writer_hostgroup, shop.reader_hostgroup), (10, 20));
    assert_eq!(shop.max_replication_lag_ms, Some(5000));
    assert_eq!(rt.cluster("ledger").unwrap().protocol, Protocol::Postgres);
    assert_eq!(rt.servers.len(), 4);
    assert_eq!(rt.servers_in(30).next().unwrap().max_connections, 20);
    assert!(rt.servers.iter().all(|s| s.status == ServerStatus::Online));
    assert_eq!(rt.user("app").unwrap().password, "apppw");
    assert_eq!(rt.rules.len(), 1);
    assert!(rt.rules[0].pattern.is_match("SELECT x FROM report_daily"));
    assert_eq!(rt.rules[0].hostgroup, 20);
}

#[test]
fn unknown_key_is_named() {
    let msg = problem(&format!("{BASE}\n[pool]\nwait_timout_ms = 5\n"));
    assert!(msg.contains("wait_timout_ms"), "{msg}");
}

#[test]
fn server_in_unused_hostgroup_is_refused() {
    let msg = problem(&format!(
        "{BASE}\n[[servers]]\nhostgroup = 99\naddress = \"127.0.0.1:1\"\n"
    ));
    assert!(
        msg.contains("servers[1].hostgroup") && msg.contains("99"),
        "{msg}"
    );
}

#[test]
fn duplicate_user_is_refused() {
    let msg = problem(&format!(
        "{BASE}\n[[users]]\nname = \"app\"\npassword = \"x\"\ncluster = \"shop\"\n"
    ));
    assert!(
        msg.contains("users[1].name") && msg.contains("duplicate user"),
        "{msg}"
    );
}

#[test]
fn bad_regex_is_refused() {
    let msg = problem(&format!(
        "{BASE}\n[[rules]]\nmatch = \"(unclosed\"\nhostgroup = 20\n"
    ));
    assert!(
        msg.contains("rules[0].match") && msg.contains("bad regex"),
        "{msg}"
    );
}

#[test]
fn bad_address_is_refused() {
    for addr in ["127.0.0.1", "127.0.0.1:99999", ":3306", "host:port"] {
        let text = BASE.replace("127.0.0.1:3306", addr);
        let msg = problem(&text);
        assert!(
            msg.contains("servers[0].address") && msg.contains("bad address"),
            "{msg}"
        );
    }
    let msg = problem(&format!("[listen]\nmysql = \"nowhere\"\n{BASE}"));
    assert!(msg.contains("listen.mysql"), "{msg}");
}

#[test]
fn unknown_cluster_and_protocol_are_refused() {
    let msg = problem(&BASE.replace("cluster = \"shop\"", "cluster = \"nope\""));
    assert!(msg.contains("users[0].cluster"), "{msg}");
    let msg = problem(&BASE.replace("protocol = \"mysql\"", "protocol = \"oracle\""));
    assert!(msg.contains("clusters[0].protocol"), "{msg}");
}

#[test]
fn syntax_error_is_a_syntax_error() {
    assert!(matches!(parse("[listen\n"), Err(ConfigError::Syntax(_))));
}

#[test]
fn listen_workers_is_read_and_bounded() {
    let rt = parse(&format!("[listen]\nworkers = 3\n{BASE}")).unwrap();
    assert_eq!(rt.listen.workers, Some(3));
    assert_eq!(parse(BASE).unwrap().listen.workers, None);
    let zero = problem(&format!("[listen]\nworkers = 0\n{BASE}"));
    assert!(zero.contains("listen.workers"), "{zero}");
}

#[test]
fn a_patroni_source_needs_postgres_one_store_and_a_scope() {
    let pg = BASE.replace("protocol = \"mysql\"", "protocol = \"postgres\"");
    let with = |source: &str| {
        pg.replace(
            "reader_hostgroup = 20\n",
            &format!("reader_hostgroup = 20\npatroni = {source}\n"),
        )
    };
    let rt = parse(&with(r#"{ etcd = ["127.0.0.1:2379"], scope = "ledger" }"#)).unwrap();
    let source = rt.cluster("shop").unwrap().patroni.clone().unwrap();
    assert_eq!(source.prefix(), "/service/ledger/");
    let rt = parse(&with(
        r#"{ rest = ["http://127.0.0.1:8008"], namespace = "db/", scope = "x" }"#,
    ))
    .unwrap();
    assert_eq!(
        rt.cluster("shop")
            .unwrap()
            .patroni
            .as_ref()
            .unwrap()
            .prefix(),
        "/db/x/"
    );
    assert!(problem(&with(r#"{ scope = "x" }"#)).contains("clusters[0].patroni"));
    assert!(problem(&with(r#"{ etcd = ["nope"], scope = "x" }"#))
        .contains("clusters[0].patroni.etcd[0]"));
    let mysql = BASE.replace(
        "reader_hostgroup = 20\n",
        "reader_hostgroup = 20\npatroni = { etcd = [\"127.0.0.1:2379\"], scope = \"x\" }\n",
    );
    assert!(problem(&mysql).contains("PostgreSQL clusters only"));
}

#[test]
fn secrets_come_from_files_or_the_environment() {
    let dir = std::env::temp_dir().join(format!("sqlmux-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("app-password");
    std::fs::write(&file, "from-file\n").unwrap();
    let with = |password_line: &str| BASE.replace("password = \"pw\"", password_line);
    let rt = parse(&with(&format!(
        "password_file = {:?}",
        file.display().to_string()
    )))
    .unwrap();
    assert_eq!(
        rt.users[0].password, "from-file",
        "the trailing newline is dropped"
    );
    assert_eq!(rt.secret_files, vec![file.display().to_string()]);
    std::env::set_var("SQLMUX_TEST_APP_PASSWORD", "from-env");
    let rt = parse(&with("password_env = \"SQLMUX_TEST_APP_PASSWORD\"")).unwrap();
    assert_eq!(rt.users[0].password, "from-env");
    let token = parse(&format!(
        "{BASE}\n[control]\ntoken_env = \"SQLMUX_TEST_APP_PASSWORD\"\n"
    ))
    .unwrap();
    assert_eq!(token.control_token.as_deref(), Some("from-env"));
    assert!(
        problem(&with("password = \"a\"\npassword_env = \"X\"")).contains("give one of"),
        "two ways at once"
    );
    assert!(problem(&BASE.replace("password = \"pw\"\n", "")).contains("users[0].password"));
    assert!(problem(&with("password_env = \"SQLMUX_NOT_SET_ANYWHERE\"")).contains("not set"));
    assert!(problem(&with("password_file = \"/nonexistent/pw\"")).contains("cannot read"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_control_plane_is_not_opened_beyond_loopback_without_credentials() {
    let open_http = format!("[listen]\nhttp = \"0.0.0.0:6070\"\n{BASE}");
    assert!(problem(&open_http).contains("listen.http"), "no token");
    assert!(parse(&format!("{open_http}\n[control]\ntoken = \"t\"\n")).is_ok());
    assert!(parse(&format!("[listen]\nhttp = \"127.0.0.1:6070\"\n{BASE}")).is_ok());
    assert!(parse(&format!("[listen]\nhttp = \"[::1]:6070\"\n{BASE}")).is_ok());
    let open_admin = format!(
        "[listen]\nadmin_mysql = \"0.0.0.0:6032\"\n[admin]\nuser = \"admin\"\npassword = \"admin\"\n{BASE}"
    );
    assert!(problem(&open_admin).contains("admin.password"));
    assert!(parse(&open_admin.replace("password = \"admin\"", "password = \"s3cret\"")).is_ok());
}
