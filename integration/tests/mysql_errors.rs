//! Errors are clear protocol errors, and one bad client never disturbs the others.

use sqlmux_integration::raw_mysql::{handshake_response, native_scramble, RawClient};
use sqlmux_integration::{free_port, mysql_config, MariaDb, MariaDbCli, Proxy};
use sqlmux_protocol::mysql::response::parse_err;
use sqlmux_protocol::mysql::scanner::Expect;
use std::thread;
use std::time::Duration;

fn cli(port: u16, user: &str, password: &str) -> MariaDbCli {
    MariaDbCli::tcp("127.0.0.1", port)
        .user(user)
        .password(password)
}

#[test]
fn bad_credentials_get_the_standard_1045() {
    let db = MariaDb::start().unwrap();
    let proxy = Proxy::start(&mysql_config(&db.addr(), "")).unwrap();
    for (user, password) in [("app", "wrong"), ("nobody", "whatever")] {
        let direct = cli(db.port(), user, password).run("SELECT 1").unwrap();
        let proxied = cli(proxy.mysql_port(), user, password)
            .run("SELECT 1")
            .unwrap();
        assert!(!proxied.success());
        assert!(
            proxied
                .stderr
                .contains("ERROR 1045 (28000): Access denied for user"),
            "{}",
            proxied.stderr
        );
        assert_eq!(
            proxied.stderr, direct.stderr,
            "same text as the server's own"
        );
    }
}

#[test]
fn backend_down_gives_an_error_naming_the_server() {
    let port = free_port().unwrap();
    let addr = format!("127.0.0.1:{port}");
    // The statement is held (its connects retried) for hold_timeout_ms, then fails.
    let proxy = Proxy::start(&mysql_config(
        &addr,
        "[pool]\nconnect_timeout_ms = 500\n\n[failover]\nhold_timeout_ms = 600\n",
    ))
    .unwrap();
    let out = cli(proxy.mysql_port(), "app", "apppw")
        .run("SELECT 1")
        .unwrap();
    assert!(!out.success());
    assert!(out.stderr.contains("ERROR 9001"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&addr) && out.stderr.contains("hostgroup 10"),
        "{}",
        out.stderr
    );
}

#[test]
fn pool_limit_ends_in_a_clear_error_not_a_pile_up() {
    let db = MariaDb::start().unwrap();
    let config = mysql_config(&db.addr(), "[pool]\nwait_timeout_ms = 300\n")
        .replace("max_connections = 50", "max_connections = 1");
    let proxy = Proxy::start(&config).unwrap();
    let (mut holder, ok) = RawClient::login(proxy.mysql_port(), "app", "apppw", None).unwrap();
    assert_eq!(ok.payload()[0], 0x00);
    holder.query("BEGIN").unwrap().unwrap();
    let (mut waiter, _) = RawClient::login(proxy.mysql_port(), "app", "apppw", None).unwrap();
    let started = std::time::Instant::now();
    let err = waiter.query("SELECT 1").unwrap().unwrap_err();
    assert_eq!(err.code, 9001);
    assert!(
        err.message
            .contains("no backend connection available in hostgroup 10 within"),
        "{}",
        err.message
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(holder);
    thread::sleep(Duration::from_millis(300));
    assert!(
        waiter.query("SELECT 1").unwrap().is_ok(),
        "a freed connection serves the waiter"
    );
}

#[test]
fn garbage_from_one_client_ends_only_that_session() {
    let db = MariaDb::start().unwrap();
    let proxy = Proxy::start(&mysql_config(&db.addr(), "")).unwrap();
    let port = proxy.mysql_port();
    let (mut good, _) = RawClient::login(port, "app", "apppw", Some("sqlmux_test")).unwrap();
    good.query("SELECT 1").unwrap().unwrap();

    // 1. garbage instead of a handshake response
    let mut bad = RawClient::open(port).unwrap();
    bad.send(1, &[0xde, 0xad, 0xbe, 0xef, 0x00]).unwrap();
    let reply = bad.read_frame().unwrap();
    assert_eq!(parse_err(&reply.payload()).unwrap().code, 1043);

    // 2. a header announcing more bytes than ever come, then a hang-up
    let mut truncated = RawClient::open(port).unwrap();
    truncated
        .send_raw(&[0x50, 0x00, 0x00, 0x01, 0x01, 0x02])
        .unwrap();
    drop(truncated);

    // 3. after login: an unknown command gets ERR 1047 and the session goes on
    let (mut odd, _) = RawClient::login(port, "app", "apppw", None).unwrap();
    let packets = odd.command(&[0x05, b'x'], Expect::OkOrErr).unwrap();
    assert_eq!(parse_err(&packets[0]).unwrap().code, 1047);
    assert!(odd.query("SELECT 2").unwrap().is_ok());

    // 4. after login: random bytes with a packet header
    let (mut noisy, _) = RawClient::login(port, "app", "apppw", None).unwrap();
    noisy
        .send_raw(&[0x04, 0x00, 0x00, 0x00, 0xfa, 0xfb, 0xfc, 0xfd])
        .unwrap();
    let _ = noisy.read_frame();

    // 5. an oversized announcement: 16 MiB chunks forever would exhaust memory if buffered
    let (mut huge, _) = RawClient::login(port, "app", "apppw", None).unwrap();
    huge.send_raw(&[0xff, 0xff, 0xff, 0x00, 0x03]).unwrap();
    drop(huge);

    good.query("SELECT 3").unwrap().unwrap();
    let fresh = cli(port, "app", "apppw").query("SELECT 42").unwrap();
    assert_eq!(fresh, "42");
}

#[test]
fn unknown_auth_plugin_gets_an_auth_switch() {
    let db = MariaDb::start().unwrap();
    let proxy = Proxy::start(&mysql_config(&db.addr(), "")).unwrap();
    let mut c = RawClient::open(proxy.mysql_port()).unwrap();
    c.send(
        1,
        &handshake_response("app", b"secret\0", None, "mysql_clear_password"),
    )
    .unwrap();
    let switch = c.read_frame().unwrap();
    let p = switch.payload();
    assert_eq!(p[0], 0xFE);
    assert!(p.starts_with(b"\xFEmysql_native_password\0"));
    let salt = &p[23..43];
    c.send(switch.last_seq + 1, &native_scramble(salt, "apppw"))
        .unwrap();
    let ok = c.read_frame().unwrap();
    assert_eq!(ok.payload()[0], 0x00, "authenticated after the switch");
    assert!(c.query("SELECT 1").unwrap().is_ok());
}

#[test]
fn field_list_statistics_and_set_option_match_direct() {
    let db = MariaDb::start().unwrap();
    db.root_sql("CREATE TABLE sqlmux_test.fl (id INT PRIMARY KEY, name VARCHAR(20))")
        .unwrap();
    let proxy = Proxy::start(&mysql_config(&db.addr(), "")).unwrap();
    let run = |port: u16| {
        let (mut c, _) = RawClient::login(port, "app", "apppw", Some("sqlmux_test")).unwrap();
        let fields = c.command(b"\x04fl\0", Expect::FieldList).unwrap();
        let stats = c.command(&[0x09], Expect::Single).unwrap();
        let set_option = c.command(&[0x1b, 0x00, 0x00], Expect::OkOrErr).unwrap();
        let reset = c.command(&[0x1f], Expect::OkOrErr).unwrap();
        (
            fields,
            String::from_utf8_lossy(&stats[0]).contains("Uptime"),
            set_option[0][0],
            reset[0][0],
        )
    };
    let direct = run(db.port());
    let proxied = run(proxy.mysql_port());
    assert_eq!(proxied.0, direct.0, "COM_FIELD_LIST relayed byte for byte");
    assert_eq!(direct.0.len(), 3, "two columns and the terminator");
    assert!(proxied.1, "COM_STATISTICS answered");
    assert_eq!((proxied.2, proxied.3), (direct.2, direct.3));
}
