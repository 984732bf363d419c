//! Hostile or careless clients (issue 15): before login a client may not take memory or a
//! socket for ever, and the number of client connections is capped with the server's own
//! error, on both protocols.

mod support;

use sqlmux_integration::proxy::postgres_config;
use sqlmux_integration::raw_mysql::RawClient;
use sqlmux_integration::{MariaDb, Postgres, Proxy};
use sqlmux_protocol::mysql::scanner::Expect;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Both protocols behind one proxy with the limits above.
fn proxy(mariadb: &MariaDb, pg: &Postgres) -> Proxy {
    let config = sqlmux_integration::proxy::both_protocols_config(
        &mariadb.addr(),
        &pg.addr(),
        "handshake_timeout_ms = 500\nmax_client_connections = 3",
        "",
    );
    Proxy::start(&config).unwrap()
}

/// Reads until the peer closes; how long that took (`None`: still open after `limit`).
fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

#[test]
fn a_client_that_does_not_log_in_is_closed_at_the_deadline() {
    let (mariadb, pg) = (MariaDb::start().unwrap(), Postgres::start().unwrap());
    let p = proxy(&mariadb, &pg);
    // Silent clients, and one that sends a byte every 200 ms.
    let connected = Instant::now();
    let mut mysql_silent = TcpStream::connect(p.mysql_addr()).unwrap();
    let mut pg_silent = TcpStream::connect(p.postgres_addr()).unwrap();
    let mut dribble = TcpStream::connect(p.postgres_addr()).unwrap();
    let dribbling = std::thread::spawn(move || {
        for b in [0u8, 0, 0, 40, 0, 3, 0, 0] {
            if dribble.write_all(&[b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        closed_within(&mut dribble, Duration::from_secs(3))
    });
    for (name, s) in [("mysql", &mut mysql_silent), ("postgres", &mut pg_silent)] {
        closed_within(s, Duration::from_secs(3)).unwrap_or_else(|| panic!("{name}: still open"));
        let took = connected.elapsed();
        assert!(took >= Duration::from_millis(400), "{name}: {took:?}");
    }
    assert!(
        dribbling.join().unwrap().is_some(),
        "a slow dribble is closed too"
    );
}

#[test]
fn a_prelogin_packet_is_limited_and_not_allocated_from_its_header() {
    let (mariadb, pg) = (MariaDb::start().unwrap(), Postgres::start().unwrap());
    let p = proxy(&mariadb, &pg);
    // A handshake response that announces 16 MiB: refused at once, not waited for.
    let mut s = TcpStream::connect(p.mysql_addr()).unwrap();
    let mut greeting = [0u8; 4];
    s.read_exact(&mut greeting).unwrap();
    let len = usize::from(greeting[0]) | usize::from(greeting[1]) << 8;
    let mut rest = vec![0u8; len];
    s.read_exact(&mut rest).unwrap();
    s.write_all(&[0xff, 0xff, 0xff, 0x01]).unwrap();
    let took = closed_within(&mut s, Duration::from_secs(2)).expect("closed");
    assert!(
        took < Duration::from_millis(400),
        "closed at once, not at the deadline: {took:?}"
    );
    // A PostgreSQL password message of 1 MiB before login: refused.
    support::runtime().block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(p.postgres_addr())
            .await
            .unwrap();
        let mut startup = Vec::new();
        let body = b"\0\x03\0\0user\0ledger\0database\0ledger\0\0";
        startup.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        startup.extend_from_slice(body);
        s.write_all(&startup).await.unwrap();
        let mut m = vec![b'p'];
        m.extend_from_slice(&(1i32 << 20).to_be_bytes());
        s.write_all(&m).await.unwrap();
        let mut sink = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut sink)).await;
        assert!(read.is_ok(), "the connection was closed");
    });
}

#[test]
fn client_connections_are_capped_with_the_servers_own_error() {
    let (mariadb, pg) = (MariaDb::start().unwrap(), Postgres::start().unwrap());
    let p = proxy(&mariadb, &pg);
    let mut held: Vec<RawClient> = (0..3)
        .map(|_| {
            RawClient::login(p.mysql_port(), "app", "apppw", Some("sqlmux_test"))
                .unwrap()
                .0
        })
        .collect();
    // The fourth MySQL client gets 1040 in place of the greeting.
    let mut s = TcpStream::connect(p.mysql_addr()).unwrap();
    let mut packet = Vec::new();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let _ = s.read_to_end(&mut packet);
    assert!(packet.len() > 7 && packet[4] == 0xff, "{packet:?}");
    assert_eq!(u16::from_le_bytes([packet[5], packet[6]]), 1040);
    assert!(String::from_utf8_lossy(&packet).contains("Too many connections"));
    // A PostgreSQL client too: 53300.
    let Err(err) = support::runtime().block_on(support::try_connect(p.postgres_port(), "ledgerpw"))
    else {
        panic!("a fourth client was let in");
    };
    assert_eq!(
        err.as_db_error().map(|d| d.code().code()),
        Some("53300"),
        "{err}"
    );
    // A place freed is taken again; the listener kept working.
    drop(held.pop());
    std::thread::sleep(Duration::from_millis(100));
    let runtime = support::runtime();
    let c = runtime.block_on(support::connect(p.postgres_port()));
    let row = runtime.block_on(c.query_one("SELECT 1", &[])).unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);
    held[0].query("SELECT 1").unwrap().unwrap();
}

#[test]
fn a_login_the_server_refuses_for_the_client_never_shuns_it() {
    let (mariadb, pg) = (MariaDb::start().unwrap(), Postgres::start().unwrap());
    let p = proxy(&mariadb, &pg);
    // Five sessions naming a database that does not exist, one after the other.
    for _ in 0..5 {
        let (mut c, _) = RawClient::login(p.mysql_port(), "app", "apppw", Some("nope")).unwrap();
        let err = c.query("SELECT 1").unwrap().unwrap_err();
        assert_eq!(err.code, 1049, "the server's own error: {}", err.message);
    }
    let runtime = support::runtime();
    for _ in 0..5 {
        // sqlmux checks the database at login: the backend's 3D000 comes back then.
        let refused = runtime.block_on(tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=ledger password=ledgerpw dbname=nope",
                p.postgres_port()
            ),
            tokio_postgres::NoTls,
        ));
        let Err(err) = refused else {
            panic!("a session of a database that does not exist");
        };
        assert_eq!(
            err.as_db_error().map(|d| d.code().code()),
            Some("3D000"),
            "{err}"
        );
    }
    // The writers were not SHUNNED: everyone else goes on.
    let (_, metrics) = p.http("GET", "/metrics", None).unwrap();
    let shunned: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("sqlmux_server_shunned{"))
        .collect();
    assert_eq!(shunned.len(), 2, "{metrics}");
    assert!(shunned.iter().all(|l| l.ends_with(" 0")), "{shunned:?}");
    let (mut c, _) = RawClient::login(p.mysql_port(), "app", "apppw", Some("sqlmux_test")).unwrap();
    c.query("SELECT 1")
        .unwrap()
        .expect("the MySQL writer takes work");
    let ok = runtime.block_on(support::connect(p.postgres_port()));
    runtime
        .block_on(ok.simple_query("SELECT 1"))
        .expect("the PostgreSQL writer takes work");
}

#[test]
fn change_user_takes_only_users_of_mysql_clusters() {
    let (mariadb, pg) = (MariaDb::start().unwrap(), Postgres::start().unwrap());
    let p = proxy(&mariadb, &pg);
    let change_user = |user: &str, password: &str| {
        let (mut c, _) =
            RawClient::login(p.mysql_port(), "app", "apppw", Some("sqlmux_test")).unwrap();
        let scramble = mysql_common::auth::plugins::mysql_native_password::scramble_native(
            &c.salt,
            password.as_bytes(),
        )
        .unwrap();
        let mut payload = vec![0x11];
        payload.extend_from_slice(user.as_bytes());
        payload.push(0);
        payload.push(scramble.len() as u8);
        payload.extend_from_slice(&scramble);
        payload.extend_from_slice(b"sqlmux_test\0");
        payload.extend_from_slice(&45u16.to_le_bytes());
        payload.extend_from_slice(b"mysql_native_password\0");
        c.send(0, &payload).unwrap();
        let answer = c.read_frame().unwrap().payload().into_owned();
        match answer.first() {
            Some(0x00) => Ok(()),
            Some(0xff) => Err(u16::from_le_bytes([answer[1], answer[2]])),
            other => panic!("unexpected answer {other:?}"),
        }
    };
    assert_eq!(
        change_user("app", "apppw"),
        Ok(()),
        "a MySQL cluster's user"
    );
    assert_eq!(
        change_user("ledger", "ledgerpw"),
        Err(1045),
        "a PostgreSQL cluster's user is refused"
    );
}

#[test]
fn a_session_cannot_hold_more_prepared_statements_or_pending_bytes_than_allowed() {
    let (mariadb, pg) = (MariaDb::start().unwrap(), Postgres::start().unwrap());
    let mysql = sqlmux_integration::mysql_config(
        &mariadb.addr(),
        "\n[mysql]\nmax_session_statements = 3\n",
    );
    let p = Proxy::start(&mysql).unwrap();
    let (mut c, _) = RawClient::login(p.mysql_port(), "app", "apppw", Some("sqlmux_test")).unwrap();
    let prepare = |c: &mut RawClient, n: usize| {
        let mut payload = vec![0x16];
        payload.extend_from_slice(format!("SELECT {n}").as_bytes());
        let packets = c.command(&payload, Expect::Prepare).unwrap();
        match packets[0].first() {
            Some(0x00) => Ok(u32::from_le_bytes(packets[0][1..5].try_into().unwrap())),
            _ => Err(u16::from_le_bytes([packets[0][1], packets[0][2]])),
        }
    };
    let ids: Vec<u32> = (0..3).map(|n| prepare(&mut c, n).unwrap()).collect();
    assert_eq!(
        prepare(&mut c, 3),
        Err(1461),
        "the server's own limit error"
    );
    // Closing one makes room; the session goes on.
    let mut close = vec![0x19];
    close.extend_from_slice(&ids[0].to_le_bytes());
    c.send(0, &close).unwrap();
    assert!(prepare(&mut c, 4).is_ok());
    c.query("SELECT 1").unwrap().unwrap();

    let config = postgres_config(
        &pg.addr(),
        None,
        "\n[postgres]\nmax_pending_bytes = 65536\nmax_session_statements = 3\n",
    );
    let p = Proxy::start(&config).unwrap();
    let runtime = support::runtime();
    let good = runtime.block_on(support::connect(p.postgres_port()));
    let bad = runtime.block_on(support::connect(p.postgres_port()));
    // 100 KiB of Parse without Sync: the session ends with 54000; the other goes on.
    let query = format!("SELECT '{}'", "x".repeat(100 * 1024));
    let err = runtime.block_on(bad.prepare(&query)).unwrap_err();
    assert_eq!(
        err.as_db_error().map(|d| d.code().code()),
        Some("54000"),
        "{err}"
    );
    let row = runtime.block_on(good.query_one("SELECT 1", &[])).unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);
    // Named statements per session: three kept, the fourth refused with 54000.
    let good = runtime.block_on(support::connect(p.postgres_port()));
    let kept: Vec<_> = (0..3)
        .map(|n| {
            runtime
                .block_on(good.prepare(&format!("SELECT {n}")))
                .unwrap()
        })
        .collect();
    let err = runtime.block_on(good.prepare("SELECT 4")).unwrap_err();
    assert_eq!(
        err.as_db_error().map(|d| d.code().code()),
        Some("54000"),
        "{err}"
    );
    drop(kept);
    // SQL-level PREPARE has the same bound.
    for n in 0..3 {
        runtime
            .block_on(good.batch_execute(&format!("PREPARE p{n} AS SELECT {n}")))
            .unwrap();
    }
    let err = runtime
        .block_on(good.batch_execute("PREPARE p3 AS SELECT 3"))
        .unwrap_err();
    assert_eq!(
        err.as_db_error().map(|d| d.code().code()),
        Some("54000"),
        "{err}"
    );
    let row = runtime.block_on(good.query_one("SELECT 1", &[])).unwrap();
    assert_eq!(row.get::<_, i32>(0), 1, "the session goes on");
}

#[test]
fn the_digest_table_is_capped() {
    let mariadb = MariaDb::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = sqlmux_integration::mysql_config(
        &mariadb.addr(),
        &format!(
            "\n[admin]\nuser = \"admin\"\npassword = \"adminpw\"\ndata_dir = \"{}\"\n\n[stats]\nmax_digests = 50\n",
            dir.path().display()
        ),
    )
    .replace(
        "mysql = \"127.0.0.1:0\"",
        "mysql = \"127.0.0.1:0\"\nadmin_mysql = \"127.0.0.1:0\"",
    );
    let p = Proxy::start(&config).unwrap();
    let (mut c, _) = RawClient::login(p.mysql_port(), "app", "apppw", Some("sqlmux_test")).unwrap();
    // 500 distinct statements (an alias each), then one seen last.
    for n in 0..500 {
        c.query(&format!("SELECT 1 AS c{n}")).unwrap().unwrap();
    }
    c.query("SELECT 2 AS newest").unwrap().unwrap();
    let admin = sqlmux_integration::MariaDbCli::tcp("127.0.0.1", p.admin_mysql_port())
        .user("admin")
        .password("adminpw");
    let count: usize = admin
        .query("SELECT COUNT(*) FROM stats_query_digest")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(count <= 50 && count > 0, "{count} digests kept");
    let newest = admin
        .query("SELECT COUNT(*) FROM stats_query_digest WHERE digest_text LIKE '%newest%'")
        .unwrap();
    assert_eq!(newest.trim(), "1", "the most recent is kept");
    c.query("SELECT 1").unwrap().expect("the session goes on");
}

#[test]
fn a_backend_asking_for_the_password_in_clear_gets_it_only_when_allowed() {
    let pg = Postgres::start().unwrap();
    let hba = pg.datadir().join("pg_hba.conf");
    let text = std::fs::read_to_string(&hba).unwrap();
    std::fs::write(&hba, text.replace("scram-sha-256", "password")).unwrap();
    pg.sql("SELECT pg_reload_conf()").unwrap();
    let runtime = support::runtime();

    let p = Proxy::start(&postgres_config(&pg.addr(), None, "")).unwrap();
    let refused = runtime.block_on(support::try_connect(p.postgres_port(), "ledgerpw"));
    let Err(err) = refused else {
        panic!("the password went in clear over plain TCP");
    };
    assert!(format!("{err:?}").contains("in clear"), "{err:?}");

    let allowed = postgres_config(&pg.addr(), None, "").replace(
        "max_connections = 20\n",
        "max_connections = 20\nallow_cleartext_password = true\n",
    );
    let p = Proxy::start(&allowed).unwrap();
    let client = runtime.block_on(support::connect(p.postgres_port()));
    runtime
        .block_on(client.simple_query("SELECT 1"))
        .expect("allowed by the server entry");
}

#[test]
fn standard_conforming_strings_cannot_be_turned_off() {
    let pg = Postgres::start().unwrap();
    let p = Proxy::start(&postgres_config(&pg.addr(), None, "")).unwrap();
    let runtime = support::runtime();
    let client = runtime.block_on(support::connect(p.postgres_port()));
    for sql in [
        "SET standard_conforming_strings = off",
        "SELECT set_config('standard_conforming_strings', 'off', false)",
    ] {
        let err = runtime.block_on(client.simple_query(sql)).unwrap_err();
        assert_eq!(
            err.as_db_error().map(|d| d.code().code()),
            Some("0A000"),
            "{sql}: {err}"
        );
    }
    // Extended protocol too.
    let err = runtime
        .block_on(client.execute("SET standard_conforming_strings TO 'off'", &[]))
        .unwrap_err();
    assert_eq!(
        err.as_db_error().map(|d| d.code().code()),
        Some("0A000"),
        "{err}"
    );
    let rows = runtime
        .block_on(client.simple_query("SHOW standard_conforming_strings"))
        .unwrap();
    match &rows[1] {
        tokio_postgres::SimpleQueryMessage::Row(r) => assert_eq!(r.get(0), Some("on")),
        other => panic!("{other:?}"),
    }
    // Nor at startup.
    let refused = runtime.block_on(tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=ledger password=ledgerpw dbname=ledger options='-c standard_conforming_strings=off'",
            p.postgres_port()
        ),
        tokio_postgres::NoTls,
    ));
    let Err(err) = refused else {
        panic!("a session with standard_conforming_strings off");
    };
    assert_eq!(
        err.as_db_error().map(|d| d.code().code()),
        Some("0A000"),
        "{err}"
    );
}
