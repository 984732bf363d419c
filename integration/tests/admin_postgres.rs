//! The PostgreSQL-protocol admin interface (`listen.admin_postgres`), driven by `psql` over
//! TCP and a raw socket: tables over the live proxy, edits made live with LOAD, a bad LOAD
//! refused with the runtime unchanged, JOINs over statistics, any database name, SQLSTATEs,
//! a wrong password (28P01), the extended query protocol refused, malformed messages.

use sqlmux_integration::{mysql_config_listening, MariaDb, MariaDbCli, Proxy, Psql};

#[path = "support/admin.rs"]
mod admin;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn config(writer: &str) -> String {
    mysql_config_listening(
        writer,
        "admin_postgres = \"127.0.0.1:0\"\nadmin_mysql = \"127.0.0.1:0\"",
        "default_schema = \"sqlmux_test\"\n\n[admin]\nuser = \"admin\"\npassword = \"admin\"\n",
    )
}

fn admin_psql(proxy: &Proxy) -> Psql {
    Psql::tcp("127.0.0.1", proxy.admin_postgres_port())
        .user("admin")
        .password("admin")
}

#[test]
fn admin_tables_edits_and_load_from_psql() {
    let db = MariaDb::start().unwrap();
    let writer = db.addr();
    let proxy = Proxy::start(&config(&writer)).unwrap();
    let admin = admin_psql(&proxy);
    let app = MariaDbCli::tcp("127.0.0.1", proxy.mysql_port())
        .user("app")
        .password("apppw");

    // The live topology; any database name is accepted.
    assert_eq!(
        admin
            .query("SELECT hostgroup, address FROM runtime_servers")
            .unwrap(),
        format!("10|{writer}")
    );
    let anywhere = admin.clone().database("whatever");
    assert_eq!(
        anywhere
            .query("SELECT current_database(); SELECT count(*) FROM servers")
            .unwrap(),
        "whatever\n1"
    );
    assert_eq!(
        admin.query("SELECT version()").unwrap(),
        sqlmux_admin::postgres::VERSION
    );

    // Traffic through the proxy, so the pool has connections to show.
    for _ in 0..3 {
        assert_eq!(app.query("SELECT 1").unwrap(), "1");
    }

    // An edit goes live with LOAD SERVERS TO RUNTIME (psql sends the statements one by
    // one); LOAD's note comes as a NOTICE.
    let out = admin
        .run(
            "UPDATE servers SET weight = 7;\nLOAD SERVERS TO RUNTIME;\n\
             SELECT weight, generation FROM runtime_servers;\n",
        )
        .unwrap();
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "7|2");
    assert!(
        out.stderr
            .contains("NOTICE:  LOAD SERVERS TO RUNTIME: runtime replaced, topology generation 2"),
        "{}",
        out.stderr
    );
    assert_eq!(app.query("SELECT 2").unwrap(), "2");

    // Several statements in one Query message (psql -c), with tags in the output.
    let out = admin
        .clone()
        .arg("-c")
        .arg("UPDATE servers SET weight = 7; LOAD SERVERS TO RUNTIME; SELECT weight FROM runtime_servers")
        .run("")
        .unwrap();
    assert!(out.success(), "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "7", "{}", out.stdout);
    assert!(out.stderr.contains("topology unchanged"), "{}", out.stderr);

    // A bad edit is refused by LOAD with an error naming the row (SQLSTATE 22023); the
    // runtime stays as it was.
    admin::bad_edit_is_refused(&admin, &app, &writer, 7);

    admin::pool_join_shows_the_writer(&admin, &writer, 7);
}

/// A proxy whose only server is never contacted: enough for the admin port alone.
fn admin_only_proxy() -> Proxy {
    Proxy::start(&config("127.0.0.1:9")).unwrap()
}

#[test]
fn errors_carry_sqlstates_and_the_session_goes_on() {
    let proxy = admin_only_proxy();
    let out = admin_psql(&proxy)
        .arg("-v")
        .arg("ON_ERROR_STOP=0")
        .arg("-v")
        .arg("VERBOSITY=verbose")
        .run(
            "SELEC 1;\nLOAD NOTHING TO RUNTIME;\nUPDATE runtime_servers SET weight = 1;\n\
             SELECT * FROM nowhere;\nBEGIN;\nSHOW no_such_parameter;\n\
             SELECT c.relname FROM pg_catalog.pg_class c;\n\
             SET application_name = 'x';\nSHOW server_version;\nSELECT 'still here';\n",
        )
        .unwrap();
    for expected in [
        "ERROR:  42601: sqlmux admin: near \"SELEC\": syntax error",
        "ERROR:  42601: cannot parse \"LOAD NOTHING TO RUNTIME\"",
        "ERROR:  42501: table 'runtime_servers' is read only",
        "ERROR:  42P01: sqlmux admin: no such table: nowhere",
        "ERROR:  0A000: a transaction",
        "ERROR:  42704: unrecognized configuration parameter \"no_such_parameter\"",
        "ERROR:  0A000: the sqlmux admin interface has no PostgreSQL catalog",
    ] {
        assert!(out.stderr.contains(expected), "{expected}: {}", out.stderr);
    }
    assert_eq!(
        out.stdout.trim(),
        format!("{}\nstill here", sqlmux_admin::postgres::SERVER_VERSION)
    );

    // An error inside a multi-statement query skips the rest of it (`SELECT 3`) only.
    let out = admin_psql(&proxy)
        .arg("-c")
        .arg("SELECT 1; SELEC 2; SELECT 3")
        .arg("-c")
        .arg("SELECT 4")
        .arg("-v")
        .arg("ON_ERROR_STOP=0")
        .run("")
        .unwrap();
    assert_eq!(out.stdout.trim(), "1\n4", "{}", out.stderr);
    assert!(out.stderr.contains("syntax error"), "{}", out.stderr);
}

#[test]
fn wrong_credentials_fail_with_28p01() {
    let proxy = admin_only_proxy();
    let out = admin_psql(&proxy)
        .password("wrong")
        .run("SELECT 1;")
        .unwrap();
    assert!(!out.success());
    assert!(
        out.stderr
            .to_lowercase()
            .contains("password authentication failed for user \"admin\""),
        "{}",
        out.stderr
    );
    let out = Psql::tcp("127.0.0.1", proxy.admin_postgres_port())
        .user("app")
        .password("admin")
        .run("SELECT 1;")
        .unwrap();
    assert!(!out.success(), "only the [admin] user logs in");

    // The SQLSTATE on the wire, for a wrong password and for a wrong user.
    for (user, password) in [("admin", "wrong"), ("root", "admin")] {
        let mut c = RawPg::connect(proxy.admin_postgres_port());
        let err = c.login(user, password).unwrap_err();
        assert_eq!(err.get(&b'S').map(String::as_str), Some("FATAL"), "{err:?}");
        assert_eq!(err.get(&b'C').map(String::as_str), Some("28P01"), "{err:?}");
        assert!(c.closed(), "the connection is closed after FATAL");
    }
    // The right credentials over the same raw client.
    let mut c = RawPg::connect(proxy.admin_postgres_port());
    c.login("admin", "admin").unwrap();
    assert_eq!(
        c.simple("SELECT 6 * 7").unwrap(),
        vec![vec![Some("42".into())]]
    );
}

#[test]
fn extended_protocol_is_refused_and_malformed_messages_close_the_session() {
    let proxy = admin_only_proxy();
    let port = proxy.admin_postgres_port();

    // Parse/Bind/Execute/Sync: one ErrorResponse 0A000 and one ReadyForQuery; the
    // session goes on.
    let mut c = RawPg::connect(port);
    c.login("admin", "admin").unwrap();
    let mut batch = message(b'P', b"\0SELECT $1\0\0\0");
    batch.extend(message(b'B', b"\0\0\0\0\0\x01\0\0\0\x01\x31\0\0"));
    batch.extend(message(b'E', b"\0\0\0\0\0"));
    batch.extend(message(b'S', b""));
    c.send(&batch);
    let (kind, body) = c.read_message().unwrap();
    assert_eq!(kind, b'E');
    let fields = error_fields(&body);
    assert_eq!(
        fields.get(&b'C').map(String::as_str),
        Some("0A000"),
        "{fields:?}"
    );
    assert!(
        fields[&b'M'].contains("simple query protocol only"),
        "{fields:?}"
    );
    assert_eq!(c.read_message().unwrap().0, b'Z');
    assert_eq!(
        c.simple("SELECT 'on'").unwrap(),
        vec![vec![Some("on".into())]]
    );

    // A NULL and an empty query string.
    assert_eq!(c.simple("SELECT NULL").unwrap(), vec![vec![None]]);
    c.send(&message(b'Q', b" ; \0"));
    assert_eq!(c.read_message().unwrap().0, b'I');
    assert_eq!(c.read_message().unwrap().0, b'Z');

    // A truncated Parse would make a naive decoder read past the message: it is refused
    // as extended protocol without being decoded.
    c.send(&[b'P', 0, 0, 0, 6, 0, 0]);
    assert_eq!(c.read_message().unwrap().0, b'E');
    assert_eq!(c.read_message().unwrap().0, b'Z');
    c.send(&message(b'S', b""));
    assert_eq!(c.simple("SELECT 1").unwrap(), vec![vec![Some("1".into())]]);

    // Bytes after the query's terminator: FATAL 08P01, connection closed.
    c.send(&message(b'Q', b"SELECT 1\0SELECT 2\0"));
    let (kind, body) = c.read_message().unwrap();
    assert_eq!(kind, b'E');
    let fields = error_fields(&body);
    assert_eq!(fields.get(&b'S').map(String::as_str), Some("FATAL"));
    assert_eq!(fields.get(&b'C').map(String::as_str), Some("08P01"));
    assert!(c.closed());

    // Garbage before authentication, a length below 4, a password message shorter than
    // its header: each connection ends, the port keeps serving.
    for bytes in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f][..], // SSLRequest, then nothing
    ] {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let _ = s.write_all(bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    }
    for after_startup in [&[b'p', 0, 0, 0, 0][..], &[b'Q', 0, 0, 0, 2, 0][..]] {
        let mut c = RawPg::connect(port);
        c.startup("admin");
        assert_eq!(c.read_message().unwrap().0, b'R');
        c.send(after_startup);
        let (kind, body) = c.read_message().unwrap();
        assert_eq!(kind, b'E', "{after_startup:?}");
        assert_eq!(
            error_fields(&body).get(&b'C').map(String::as_str),
            Some("08P01")
        );
        assert!(c.closed());
    }
    // A startup packet of protocol 2.0: FATAL, closed.
    let mut c = RawPg::connect(port);
    c.send(&[0, 0, 0, 9, 0, 2, 0, 0, 0]);
    let (kind, body) = c.read_message().unwrap();
    assert_eq!(kind, b'E');
    assert_eq!(
        error_fields(&body).get(&b'S').map(String::as_str),
        Some("FATAL")
    );
    assert!(c.closed());

    let mut c = RawPg::connect(port);
    c.login("admin", "admin").unwrap();
    assert_eq!(
        c.simple("SELECT 'alive'").unwrap(),
        vec![vec![Some("alive".into())]]
    );
}

// --- a minimal raw PostgreSQL client ---------------------------------------------------

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![kind];
    m.extend_from_slice(&((4 + body.len()) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn error_fields(body: &[u8]) -> std::collections::HashMap<u8, String> {
    body.split(|&b| b == 0)
        .filter(|f| !f.is_empty())
        .map(|f| (f[0], String::from_utf8_lossy(&f[1..]).into_owned()))
        .collect()
}

struct RawPg {
    stream: TcpStream,
}

type Rows = Vec<Vec<Option<String>>>;

impl RawPg {
    fn connect(port: u16) -> RawPg {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        RawPg { stream }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    fn read_message(&mut self) -> io::Result<(u8, Vec<u8>)> {
        let mut head = [0u8; 5];
        self.stream.read_exact(&mut head)?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0u8; len - 4];
        self.stream.read_exact(&mut body)?;
        Ok((head[0], body))
    }

    /// True when the server closed the connection (end of input, nothing else sent).
    fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.stream.read_to_end(&mut rest).is_ok() && rest.is_empty()
    }

    fn startup(&mut self, user: &str) {
        let mut body = 196_608u32.to_be_bytes().to_vec(); // protocol 3.0
        for (k, v) in [("user", user), ("database", "anything")] {
            body.extend_from_slice(k.as_bytes());
            body.push(0);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut packet = ((4 + body.len()) as u32).to_be_bytes().to_vec();
        packet.extend(body);
        self.send(&packet);
    }

    /// Logs in with md5; `Err` holds the fields of the ErrorResponse.
    fn login(
        &mut self,
        user: &str,
        password: &str,
    ) -> Result<(), std::collections::HashMap<u8, String>> {
        self.startup(user);
        let (kind, body) = self.read_message().unwrap();
        assert_eq!(kind, b'R');
        assert_eq!(&body[..4], &5u32.to_be_bytes(), "md5 requested");
        let inner = hex(&md5(format!("{password}{user}").as_bytes()));
        let mut salted = inner.into_bytes();
        salted.extend_from_slice(&body[4..8]);
        let mut answer = format!("md5{}", hex(&md5(&salted))).into_bytes();
        answer.push(0);
        self.send(&message(b'p', &answer));
        loop {
            let (kind, body) = self.read_message().unwrap();
            match kind {
                b'E' => return Err(error_fields(&body)),
                b'Z' => return Ok(()),
                _ => {}
            }
        }
    }

    /// One simple query returning rows.
    fn simple(&mut self, sql: &str) -> Result<Rows, std::collections::HashMap<u8, String>> {
        let mut body = sql.as_bytes().to_vec();
        body.push(0);
        self.send(&message(b'Q', &body));
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            let (kind, body) = self.read_message().unwrap();
            match kind {
                b'D' => {
                    let n = u16::from_be_bytes([body[0], body[1]]);
                    let mut at = 2;
                    let mut row = Vec::new();
                    for _ in 0..n {
                        let len = i32::from_be_bytes([
                            body[at],
                            body[at + 1],
                            body[at + 2],
                            body[at + 3],
                        ]);
                        at += 4;
                        if len < 0 {
                            row.push(None);
                        } else {
                            let end = at + len as usize;
                            row.push(Some(String::from_utf8_lossy(&body[at..end]).into_owned()));
                            at = end;
                        }
                    }
                    rows.push(row);
                }
                b'E' => error = Some(error_fields(&body)),
                b'Z' => break,
                _ => {}
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// MD5 (RFC 1321), for the client side of md5 authentication.
fn md5(input: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let mut data = input.to_vec();
    data.push(0x80);
    while data.len() % 64 != 56 {
        data.push(0);
    }
    data.extend_from_slice(&((input.len() as u64).wrapping_mul(8)).to_le_bytes());
    let (mut a0, mut b0, mut c0, mut d0) =
        (0x67452301u32, 0xefcdab89u32, 0x98badcfeu32, 0x10325476u32);
    for chunk in data.chunks(64) {
        let m: Vec<u32> = chunk
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    let mut out = [0u8; 16];
    for (i, v) in [a0, b0, c0, d0].iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    out
}

#[test]
fn md5_matches_the_rfc_vectors() {
    assert_eq!(hex(&md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(
        hex(&md5(b"The quick brown fox jumps over the lazy dog")),
        "9e107d9d372bb6826bd81d3542a419d6"
    );
}

#[test]
fn psql_meta_commands_and_pgbouncer_console_commands_work() {
    let proxy = admin_only_proxy();
    let admin = admin_psql(&proxy);
    // \dt: every table of the store, psql's own listing (unaligned, no header).
    let tables = admin.query("\\dt").unwrap();
    for table in [
        "servers",
        "users",
        "stats_connection_pool",
        "runtime_servers",
    ] {
        assert!(
            tables
                .lines()
                .any(|l| l == format!("main|{table}|table|admin")),
            "{table}: {tables}"
        );
    }
    // \dt with a pattern.
    let some = admin.query("\\dt stats_*").unwrap();
    assert!(some.lines().all(|l| l.starts_with("main|stats_")), "{some}");
    assert!(some.lines().count() >= 5, "{some}");
    // \d servers: the columns, their types, nullability and defaults.
    let servers = admin.query("\\d servers").unwrap();
    for column in [
        "hostgroup|integer||not null|",
        "address|text||not null|",
        "status|text||not null|'ONLINE'",
        "max_connections|integer||not null|100",
    ] {
        assert!(servers.lines().any(|l| l == column), "{column}: {servers}");
    }
    // (psql -q says nothing of a relation it did not find.)
    let missing = admin.run("\\d nothing_here").unwrap();
    assert!(missing.stdout.trim().is_empty(), "{}", missing.stdout);
    // \l: the one database.
    let databases = admin.query("\\l").unwrap();
    assert!(databases.starts_with("postgres|admin|UTF8"), "{databases}");
    // PgBouncer's console: views over the stats and runtime tables.
    let pools = admin.query("SHOW POOLS").unwrap();
    assert_eq!(
        pools
            .lines()
            .next()
            .map(|l| l.split('|').take(6).collect::<Vec<_>>()),
        Some(vec!["shop", "10", "writer", "127.0.0.1:9", "ONLINE", "0"]),
        "{pools}"
    );
    let clusters = admin.query("SHOW DATABASES").unwrap();
    assert!(
        clusters.starts_with("shop|mysql|10|20|127.0.0.1:9|"),
        "{clusters}"
    );
    assert_eq!(
        admin.query("SHOW VERSION").unwrap().trim(),
        format!("sqlmux {}", env!("CARGO_PKG_VERSION"))
    );
    for view in ["SHOW CLIENTS", "SHOW SERVERS", "SHOW STATS"] {
        admin.query(view).unwrap_or_else(|e| panic!("{view}: {e}"));
    }
    // On the MySQL admin port too (SHOW DATABASES keeps MySQL's meaning there).
    let mysql = MariaDbCli::tcp("127.0.0.1", proxy.admin_mysql_port())
        .user("admin")
        .password("admin");
    let pools = mysql.query("SHOW POOLS").unwrap();
    assert!(pools.contains("127.0.0.1:9"), "{pools}");
    assert_eq!(mysql.query("SHOW DATABASES").unwrap().trim(), "main");
}
