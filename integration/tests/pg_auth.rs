//! PostgreSQL connections and authentication: TLS with SCRAM-SHA-256-PLUS (channel
//! binding), md5 and cleartext when configured, protocol 3.2 and option negotiation, and
//! TLS towards a backend (through a chained sqlmux).

use sqlmux_integration::certs::self_signed;
use sqlmux_integration::proxy::postgres_config;
use sqlmux_integration::{Postgres, Proxy, Psql};
use std::io::{Read, Write};

fn psql(port: u16, password: &str) -> Psql {
    Psql::tcp("127.0.0.1", port)
        .user("ledger")
        .password(password)
        .database("ledger")
}

/// A `[tls]` section with a self-signed certificate written in `dir`, and that
/// certificate's path.
fn tls_section(dir: &std::path::Path) -> (String, std::path::PathBuf) {
    let (cert, key) = self_signed(dir);
    let section = format!(
        "[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        cert.display(),
        key.display()
    );
    (section, cert)
}

#[test]
fn tls_with_scram_channel_binding_and_plain_scram() {
    let db = Postgres::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (tls, _) = tls_section(dir.path());
    let proxy = Proxy::start(&postgres_config(&db.addr(), None, &tls)).unwrap();
    let sql = "SELECT ssl, 'x' FROM pg_stat_ssl WHERE pid = pg_backend_pid();\nSELECT 42;";
    // TLS, SCRAM-SHA-256-PLUS required by the client.
    let out = psql(proxy.postgres_port(), "ledgerpw")
        .env("PGSSLMODE", "require")
        .env("PGCHANNELBINDING", "require")
        .run(sql)
        .unwrap();
    assert!(out.success(), "{}", out.stderr);
    assert!(out.stdout.contains("42"), "{}", out.stdout);
    // Without TLS: plain SCRAM; channel binding cannot be required then.
    let out = psql(proxy.postgres_port(), "ledgerpw")
        .env("PGSSLMODE", "disable")
        .run("SELECT 43;")
        .unwrap();
    assert!(out.success(), "{}", out.stderr);
    let out = psql(proxy.postgres_port(), "ledgerpw")
        .env("PGSSLMODE", "disable")
        .env("PGCHANNELBINDING", "require")
        .run("SELECT 44;")
        .unwrap();
    assert!(!out.success());
    // Wrong password over TLS.
    let out = psql(proxy.postgres_port(), "nope")
        .env("PGSSLMODE", "require")
        .run("SELECT 1;")
        .unwrap();
    assert!(!out.success());
    assert!(
        out.stderr
            .contains("password authentication failed for user \"ledger\""),
        "{}",
        out.stderr
    );
}

#[test]
fn md5_and_cleartext_when_configured() {
    let db = Postgres::start().unwrap();
    for method in ["md5", "cleartext"] {
        let extra = format!("[postgres]\nauth_method = \"{method}\"\n");
        let proxy = Proxy::start(&postgres_config(&db.addr(), None, &extra)).unwrap();
        let out = psql(proxy.postgres_port(), "ledgerpw")
            .run("SELECT 'ok';")
            .unwrap();
        assert!(out.success(), "{method}: {}", out.stderr);
        assert_eq!(out.stdout.trim(), "ok");
        let out = psql(proxy.postgres_port(), "bad")
            .run("SELECT 'ok';")
            .unwrap();
        assert!(!out.success(), "{method}");
        assert!(
            out.stderr.contains("password authentication failed"),
            "{method}: {}",
            out.stderr
        );
        let out = Psql::tcp("127.0.0.1", proxy.postgres_port())
            .user("nobody")
            .password("ledgerpw")
            .database("ledger")
            .run("SELECT 1;")
            .unwrap();
        assert!(!out.success(), "{method}: unknown user");
    }
}

/// Reads backend messages until ReadyForQuery (or an error); returns (type, body) pairs.
fn read_until_ready(s: &mut std::net::TcpStream) -> Vec<(u8, Vec<u8>)> {
    read_until(s, b"ZE")
}

/// Reads backend messages up to and including the first whose type is in `last`; returns
/// (type, body) pairs.
fn read_until(s: &mut std::net::TcpStream, last: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        let mut head = [0u8; 5];
        s.read_exact(&mut head).unwrap();
        let len = i32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0u8; len - 4];
        s.read_exact(&mut body).unwrap();
        let done = last.contains(&head[0]);
        out.push((head[0], body));
        if done {
            return out;
        }
    }
}

/// Opens a session with a raw startup packet at `version` and cleartext authentication.
fn raw_session(port: u16, version: i32, extra: &[(&str, &str)]) -> Vec<(u8, Vec<u8>)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut params = vec![("user", "ledger"), ("database", "ledger")];
    params.extend_from_slice(extra);
    let mut packet = sqlmux_protocol::postgres::startup::startup_message(&params).to_vec();
    packet[4..8].copy_from_slice(&version.to_be_bytes());
    s.write_all(&packet).unwrap();
    // Messages up to the authentication request.
    let mut first = read_until(&mut s, b"R");
    s.write_all(&sqlmux_protocol::postgres::frontend::password(b"ledgerpw"))
        .unwrap();
    first.extend(read_until_ready(&mut s));
    first
}

#[test]
fn protocol_3_2_keys_and_negotiation() {
    let db = Postgres::start().unwrap();
    let proxy = cleartext_proxy(&db.addr(), None, 20);
    let key_len = |messages: &[(u8, Vec<u8>)]| {
        messages
            .iter()
            .find(|(t, _)| *t == b'K')
            .map(|(_, b)| b.len() - 4)
    };
    let v30 = raw_session(proxy.postgres_port(), 3 << 16, &[]);
    assert_eq!(key_len(&v30), Some(4), "{v30:?}");
    assert!(v30.iter().all(|(t, _)| *t != b'v'));
    let v32 = raw_session(proxy.postgres_port(), (3 << 16) | 2, &[]);
    assert_eq!(key_len(&v32), Some(32));
    assert!(
        v32.iter().all(|(t, _)| *t != b'v'),
        "3.2 needs no negotiation"
    );
    // 3.9 and an unknown protocol option: NegotiateProtocolVersion(3.2, [option]).
    let v39 = raw_session(proxy.postgres_port(), (3 << 16) | 9, &[("_pq_.magic", "1")]);
    let (_, body) = v39
        .iter()
        .find(|(t, _)| *t == b'v')
        .expect("NegotiateProtocolVersion");
    assert_eq!(&body[..8], &[0, 0, 0, 2, 0, 0, 0, 1]);
    assert_eq!(&body[8..], b"_pq_.magic\0");
    assert_eq!(key_len(&v39), Some(32));
    assert!(matches!(v39.last(), Some((b'Z', _))));
}

#[test]
fn backend_tls_through_a_chained_sqlmux() {
    let db = Postgres::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (tls, cert) = tls_section(dir.path());
    let inner = Proxy::start(&postgres_config(&db.addr(), None, &tls)).unwrap();
    let outer = |server: &str| {
        // A refused writer is not waited for long: its error comes back in time.
        let failover = "\n[failover]\nhold_timeout_ms = 1000\n";
        let config = postgres_config(
            &format!("127.0.0.1:{}", inner.postgres_port()),
            None,
            failover,
        )
        .replacen(
            "max_connections = 20",
            &format!("max_connections = 20\ntls = true\n{server}"),
            1,
        );
        Proxy::start(&config).unwrap()
    };
    // Verified by default: a self-signed certificate no system CA signed is refused.
    let unverified = outer("");
    let out = psql(unverified.postgres_port(), "ledgerpw")
        .run("SELECT 'through two';")
        .unwrap();
    assert!(!out.success(), "an unknown issuer passed: {}", out.stdout);
    assert!(out.stderr.contains("certificate"), "{}", out.stderr);
    // Its own CA file, or verification turned off (a warning), let it through.
    for server in [
        format!("tls_ca = \"{}\"", cert.display()),
        "tls_verify = false".to_string(),
    ] {
        let outer = outer(&server);
        let out = psql(outer.postgres_port(), "ledgerpw")
            .run("SELECT 'through two';")
            .unwrap();
        assert!(out.success(), "{server}: {}", out.stderr);
        assert_eq!(out.stdout.trim(), "through two");
    }
}

/// sqlmux with cleartext client logins in front of `writer` (and `reader`), at most
/// `max_connections` backend connections to each.
fn cleartext_proxy(writer: &str, reader: Option<&str>, max_connections: u32) -> Proxy {
    let extra = "[postgres]\nauth_method = \"cleartext\"\n";
    let config = postgres_config(writer, reader, extra).replace(
        "max_connections = 20",
        &format!("max_connections = {max_connections}"),
    );
    Proxy::start(&config).unwrap()
}

/// Logs in as ledger (the proxy asks for a cleartext password), read to ReadyForQuery.
fn raw_login(port: u16) -> std::net::TcpStream {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    s.write_all(&sqlmux_protocol::postgres::startup::startup_message(&[
        ("user", "ledger"),
        ("database", "ledger"),
    ]))
    .unwrap();
    let mut head = [0u8; 9];
    s.read_exact(&mut head).unwrap();
    assert_eq!(head[0], b'R');
    s.write_all(&sqlmux_protocol::postgres::frontend::password(b"ledgerpw"))
        .unwrap();
    read_until_ready(&mut s);
    s
}

/// A message: type byte, length, body.
fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn parse(name: &str, query: &str) -> Vec<u8> {
    let mut b = format!("{name}\0{query}\0").into_bytes();
    b.extend_from_slice(&0i16.to_be_bytes());
    message(b'P', &b)
}

fn bind(statement: &str, param: &str) -> Vec<u8> {
    let mut b = format!("\0{statement}\0").into_bytes();
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&1i16.to_be_bytes());
    b.extend_from_slice(&(param.len() as i32).to_be_bytes());
    b.extend_from_slice(param.as_bytes());
    b.extend_from_slice(&0i16.to_be_bytes());
    message(b'B', &b)
}

fn execute() -> Vec<u8> {
    message(b'E', b"\0\0\0\0\0")
}

/// The message types of an answer, with DataRow values and SQLSTATEs inlined.
fn summary(messages: &[(u8, Vec<u8>)]) -> String {
    messages
        .iter()
        .map(|(t, b)| match t {
            b'D' => format!("D{}", String::from_utf8_lossy(&b[6..])),
            b'E' => {
                let f = sqlmux_protocol::postgres::backend::parse_error(b).unwrap();
                format!("E{}", f.code)
            }
            b'Z' => format!("Z{}", char::from(b[0])),
            t => char::from(*t).to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn pipelined_extended_messages_before_one_sync() {
    let db = Postgres::start().unwrap();
    let proxy = cleartext_proxy(&db.addr(), None, 2);
    let port = proxy.postgres_port();
    let mut s = raw_login(port);
    let mut batch = Vec::new();
    batch.extend(parse("s1", "SELECT $1::int * 2"));
    batch.extend(bind("s1", "21"));
    batch.extend(execute());
    batch.extend(bind("s1", "5"));
    batch.extend(execute());
    batch.extend(parse("", "SELECT 1/$1::int"));
    batch.extend(bind("", "0"));
    batch.extend(execute());
    batch.extend(parse("", "SELECT 3"));
    batch.extend(message(b'S', b""));
    // A second batch right behind the first, before reading anything.
    batch.extend(bind("s1", "7"));
    batch.extend(execute());
    batch.extend(message(b'C', b"Ss1\0"));
    batch.extend(bind("s1", "8"));
    batch.extend(execute());
    batch.extend(message(b'S', b""));
    s.write_all(&batch).unwrap();
    // PostgreSQL plans the one-shot unnamed statement with its parameter: 1/0 fails at Bind.
    let first = read_until_ready(&mut s);
    assert_eq!(summary(&first), "1 2 D42 C 2 D10 C 1 E22012");
    let rest = read_until_ready(&mut s);
    assert_eq!(summary(&rest), "ZI");
    let second = read_until_ready(&mut s);
    assert_eq!(summary(&second), "2 D14 C 3 E26000");
    assert_eq!(summary(&read_until_ready(&mut s)), "ZI");
}

#[test]
fn a_client_gone_mid_result_leaves_no_half_read_backend_in_the_pool() {
    let db = Postgres::start().unwrap();
    let proxy = cleartext_proxy(&db.addr(), None, 1);
    let port = proxy.postgres_port();
    for round in 0..3 {
        let mut s = raw_login(port);
        s.write_all(&sqlmux_protocol::postgres::frontend::query(
            "SELECT g, repeat('x', 100) FROM generate_series(1, 3000000) g",
        ))
        .unwrap();
        let mut some = [0u8; 4096];
        s.read_exact(&mut some).unwrap();
        drop(s);
        // The only backend connection must now answer this session correctly.
        let out = Psql::tcp("127.0.0.1", port)
            .user("ledger")
            .password("ledgerpw")
            .database("ledger")
            .run(&format!(
                "SELECT {round} + 1;\nSELECT count(*) FROM generate_series(1, 10);"
            ))
            .unwrap();
        assert!(out.success(), "{}", out.stderr);
        assert_eq!(out.stdout.trim(), format!("{}\n10", round + 1));
    }
}

#[test]
fn an_unnamed_statement_bound_in_a_batch_of_its_own_is_routed_by_its_text() {
    // libpq's PQprepare("") then PQexecPrepared(""): Parse/Describe/Sync, then Bind/Execute/Sync.
    let pair = sqlmux_integration::PostgresPair::start().unwrap();
    let proxy = cleartext_proxy(&pair.primary.addr(), Some(&pair.standby.addr()), 20);
    let mut s = raw_login(proxy.postgres_port());
    let mut run_unnamed = |sql: &str| {
        let mut prepare = parse("", sql);
        prepare.extend(message(b'D', b"S\0"));
        prepare.extend(message(b'S', b""));
        s.write_all(&prepare).unwrap();
        read_until_ready(&mut s);
        let mut run = message(b'B', b"\0\0\0\0\0\0\0\0");
        run.extend(execute());
        run.extend(message(b'S', b""));
        s.write_all(&run).unwrap();
        summary(&read_until_ready(&mut s))
    };
    assert_eq!(run_unnamed("SELECT pg_is_in_recovery()"), "2 Dt C ZI");
    assert_eq!(
        run_unnamed("CREATE TABLE IF NOT EXISTS u (x int)"),
        "2 C ZI",
        "a write goes to the primary"
    );
    assert_eq!(run_unnamed("SELECT pg_is_in_recovery()"), "2 Dt C ZI");
}
