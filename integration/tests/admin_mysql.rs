//! The MySQL-protocol admin interface, driven by the `mariadb` CLI and a raw socket: tables
//! over the live proxy, edits made live with LOAD, a bad edit refused with the runtime
//! unchanged, SAVE TO DISK, JOINs over statistics, pipelined commands, unknown commands and
//! a wrong password.

use sqlmux_integration::raw_mysql::RawClient;

#[path = "support/admin.rs"]
mod admin;

use sqlmux_integration::{mysql_config_listening, MariaDb, MariaDbCli, Proxy};
use sqlmux_protocol::mysql::response::{parse_err, ErrInfo};
use std::io;
use std::path::Path;

fn config(writer: &str, data_dir: &Path) -> String {
    let admin = format!(
        "default_schema = \"sqlmux_test\"\n\n[admin]\nuser = \"admin\"\npassword = \"adminpw\"\ndata_dir = \"{}\"\n",
        data_dir.display()
    );
    mysql_config_listening(writer, "admin_mysql = \"127.0.0.1:0\"", &admin)
}

fn admin_cli(proxy: &Proxy) -> MariaDbCli {
    MariaDbCli::tcp("127.0.0.1", proxy.admin_mysql_port())
        .user("admin")
        .password("adminpw")
}

fn app_cli(proxy: &Proxy) -> MariaDbCli {
    MariaDbCli::tcp("127.0.0.1", proxy.mysql_port())
        .user("app")
        .password("apppw")
}

#[test]
fn admin_tables_edits_and_load_from_the_mariadb_cli() {
    let db = MariaDb::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("admin-data");
    let writer = db.addr();
    let proxy = Proxy::start(&config(&writer, &data_dir)).unwrap();
    let admin = admin_cli(&proxy);
    let app = app_cli(&proxy);

    // What the CLI sends at connect, and the live topology.
    assert_eq!(
        admin.query("SELECT @@version_comment LIMIT 1").unwrap(),
        "sqlmux admin"
    );
    assert_eq!(admin.query("SELECT @@version").unwrap(), "8.0.36-sqlmux");
    assert_eq!(
        admin
            .query("SELECT hostgroup, address, status, weight, max_connections, generation FROM runtime_servers")
            .unwrap(),
        format!("10\t{writer}\tONLINE\t1\t50\t1")
    );

    // Traffic through the proxy, so the pool has connections to show.
    for _ in 0..3 {
        assert_eq!(app.query("SELECT 1").unwrap(), "1");
    }

    // An edit goes live with LOAD SERVERS TO RUNTIME.
    let out = admin
        .query("UPDATE servers SET weight = 5; LOAD SERVERS TO RUNTIME; SELECT weight, generation FROM runtime_servers")
        .unwrap();
    assert_eq!(out, "5\t2");
    assert_eq!(app.query("SELECT 2").unwrap(), "2");

    // A bad edit is refused with an error naming the row; the runtime stays as it was.
    admin::bad_edit_is_refused(&admin, &app, &writer, 5);

    // A runtime table is read-only, with a hint.
    let out = admin.run("UPDATE runtime_servers SET weight = 1").unwrap();
    assert!(out.stderr.contains("ERROR 1036"), "{}", out.stderr);

    // SAVE ... TO DISK creates the saved store.
    assert!(!data_dir.join("sqlmux.db").exists());
    admin.query("SAVE SERVERS TO DISK").unwrap();
    assert!(data_dir.join("sqlmux.db").exists());

    admin::pool_join_shows_the_writer(&admin, &writer, 5);
    let mux = admin
        .query(
            "SELECT hostgroup, backend_connections > 0 FROM stats_multiplexing ORDER BY hostgroup",
        )
        .unwrap();
    assert_eq!(mux, "10\t1\n20\t0");
    assert!(admin.query("SELECT count(*) FROM stats_sessions").is_ok());
    assert!(admin
        .query("SELECT digest, digest_text, count FROM stats_query_digest ORDER BY count DESC")
        .is_ok());

    // Variables: an edit, LOAD, visible in runtime_variables.
    let out = admin
        .query(
            "UPDATE variables SET value = '2500' WHERE name = 'pool.wait_timeout_ms'; \
             LOAD VARIABLES TO RUNTIME; \
             SELECT value FROM runtime_variables WHERE name = 'pool.wait_timeout_ms'",
        )
        .unwrap();
    assert_eq!(out, "2500");
    let tables = admin.query("SHOW TABLES").unwrap();
    for t in [
        "clusters",
        "query_rules",
        "runtime_users",
        "stats_sessions",
        "users",
    ] {
        assert!(tables.lines().any(|l| l == t), "{t} in {tables}");
    }
}

#[test]
fn wrong_admin_password_gets_1045() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(&config("127.0.0.1:1", dir.path())).unwrap();
    let out = MariaDbCli::tcp("127.0.0.1", proxy.admin_mysql_port())
        .user("admin")
        .password("wrong")
        .run("SELECT 1")
        .unwrap();
    assert!(!out.success());
    assert!(
        out.stderr.contains(
            "ERROR 1045 (28000): Access denied for user 'admin'@'127.0.0.1' (using password: YES)"
        ),
        "{}",
        out.stderr
    );
    // The application users are not admins.
    let out = MariaDbCli::tcp("127.0.0.1", proxy.admin_mysql_port())
        .user("app")
        .password("apppw")
        .run("SELECT 1")
        .unwrap();
    assert!(out.stderr.contains("ERROR 1045"), "{}", out.stderr);

    let (_client, reply) =
        RawClient::login(proxy.admin_mysql_port(), "admin", "wrong", None).unwrap();
    let err = parse_err(&reply.payload()).expect("an ERR packet");
    assert_eq!(err.code, 1045);
    assert_eq!(err.sqlstate.as_ref(), Some(b"28000"));
}

/// A query's rows (each column text or NULL), or its ERR.
type Response = Result<Vec<Vec<Option<String>>>, ErrInfo>;

fn lenenc(p: &[u8], at: &mut usize) -> Option<u64> {
    let first = *p.get(*at)?;
    *at += 1;
    let width = match first {
        0xfb => return None,
        0xfc => 2,
        0xfd => 3,
        0xfe => 8,
        n => return Some(u64::from(n)),
    };
    let mut bytes = [0u8; 8];
    bytes[..width].copy_from_slice(&p[*at..*at + width]);
    *at += width;
    Some(u64::from_le_bytes(bytes))
}

/// Reads one response (CLIENT_DEPRECATE_EOF: no EOF after the column definitions).
fn read_response(c: &mut RawClient) -> io::Result<Response> {
    let first = c.read_frame()?;
    let p = first.payload();
    match p[0] {
        0x00 => return Ok(Ok(Vec::new())),
        0xff => return Ok(Err(parse_err(&p).expect("an ERR"))),
        _ => {}
    }
    let columns = lenenc(&p, &mut 0).expect("a column count");
    for _ in 0..columns {
        c.read_frame()?;
    }
    let mut rows = Vec::new();
    loop {
        let f = c.read_frame()?;
        let p = f.payload();
        if p[0] == 0xfe && p.len() < 9 {
            return Ok(Ok(rows));
        }
        let mut at = 0;
        let mut row = Vec::new();
        for _ in 0..columns {
            row.push(lenenc(&p, &mut at).map(|len| {
                let end = at + len as usize;
                let s = String::from_utf8_lossy(&p[at..end]).into_owned();
                at = end;
                s
            }));
        }
        rows.push(row);
    }
}

fn query_packet(sql: &str) -> Vec<u8> {
    let mut payload = vec![0x03];
    payload.extend_from_slice(sql.as_bytes());
    packet(&payload)
}

fn packet(payload: &[u8]) -> Vec<u8> {
    let mut p = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    p.push(0);
    p.extend_from_slice(payload);
    p
}

fn cell(s: &str) -> Vec<Vec<Option<String>>> {
    vec![vec![Some(s.to_string())]]
}

#[test]
fn pipelined_commands_in_one_write_are_all_answered_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(&config("127.0.0.1:1", dir.path())).unwrap();
    let (mut c, reply) =
        RawClient::login(proxy.admin_mysql_port(), "admin", "adminpw", None).unwrap();
    assert_eq!(reply.payload()[0], 0x00, "logged in");

    let mut burst = Vec::new();
    for sql in [
        "SELECT @@version_comment LIMIT 1",
        "UPDATE servers SET weight = 4",
        "SELECT weight FROM servers",
        "SELECT * FROM missing_table",
        "LOAD SERVERS TO RUNTIME",
        "SELECT weight, generation FROM runtime_servers",
    ] {
        burst.extend(query_packet(sql));
    }
    burst.extend(packet(&[0x1f])); // COM_RESET_CONNECTION: not supported
    burst.extend(packet(&[0x0e])); // COM_PING
    burst.extend(query_packet("SELECT 40 + 2"));
    c.send_raw(&burst).unwrap();

    assert_eq!(
        read_response(&mut c).unwrap().unwrap(),
        cell("sqlmux admin")
    );
    assert_eq!(
        read_response(&mut c).unwrap().unwrap(),
        Vec::<Vec<Option<String>>>::new()
    );
    assert_eq!(read_response(&mut c).unwrap().unwrap(), cell("4"));
    let err = read_response(&mut c).unwrap().unwrap_err();
    assert_eq!(err.code, 1146, "{}", err.message);
    assert_eq!(
        read_response(&mut c).unwrap().unwrap(),
        Vec::<Vec<Option<String>>>::new()
    );
    assert_eq!(
        read_response(&mut c).unwrap().unwrap(),
        vec![vec![Some("4".into()), Some("2".into())]]
    );
    let err = read_response(&mut c).unwrap().unwrap_err();
    assert_eq!(err.code, 1047, "never a silent OK: {}", err.message);
    assert_eq!(
        read_response(&mut c).unwrap().unwrap(),
        Vec::<Vec<Option<String>>>::new()
    );
    assert_eq!(read_response(&mut c).unwrap().unwrap(), cell("42"));

    // Prepared statements are refused, and the connection goes on.
    let mut prepare = vec![0x16];
    prepare.extend_from_slice(b"SELECT 1");
    c.send_raw(&packet(&prepare)).unwrap();
    let err = read_response(&mut c).unwrap().unwrap_err();
    assert_eq!(err.code, 1295, "{}", err.message);
    c.send_raw(&query_packet("SELECT 'still here'")).unwrap();
    assert_eq!(read_response(&mut c).unwrap().unwrap(), cell("still here"));
}
