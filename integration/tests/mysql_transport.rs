//! Transport-level features: split packets of 16 MiB and more, LOAD DATA LOCAL INFILE,
//! TLS with caching_sha2_password on both sides.

use sqlmux_integration::certs::self_signed;
use sqlmux_integration::clients::pymysql;
use sqlmux_integration::raw_mysql::RawClient;
use sqlmux_integration::{mysql_config, MariaDb, MariaDbCli, MariaDbOptions, Proxy};
use std::path::Path;

fn tls_section(cert: &Path, key: &Path) -> String {
    format!(
        "[tls]\ncert = \"{}\"\nkey = \"{}\"\n[mysql]\ndefault_auth_plugin = \"caching_sha2_password\"\n",
        cert.display(),
        key.display()
    )
}

#[test]
fn packets_of_16_mib_and_more_in_both_directions() {
    let db = MariaDb::start_with(&MariaDbOptions::new().arg("--max-allowed-packet=256M")).unwrap();
    let proxy = Proxy::start(&mysql_config(&db.addr(), "")).unwrap();
    let script = r#"
import os, hashlib, pymysql
c = pymysql.connect(host=os.environ["HOST"], port=int(os.environ["PORT"]), user="app", password="apppw",
                    database="sqlmux_test", autocommit=True, max_allowed_packet=256*1024*1024)
cur = c.cursor()
cur.execute("DROP TABLE IF EXISTS big_t")
cur.execute("CREATE TABLE big_t (id INT PRIMARY KEY, b LONGBLOB)")
blob = bytes(range(256)) * (20 * 1024 * 1024 // 256 + 7)
cur.execute("INSERT INTO big_t VALUES (1, %s)", (blob,))
cur.execute("SELECT b FROM big_t WHERE id = 1")
back = cur.fetchone()[0]
print(len(back), hashlib.sha256(back).hexdigest() == hashlib.sha256(blob).hexdigest())
cur.execute("SELECT REPEAT('z', 16777215 - 4), REPEAT('y', 16777216 * 2 + 3)")
a, b = cur.fetchone()
print(len(a), len(b))
cur.execute("SELECT 1")
print(cur.fetchone())
"#;
    let direct = pymysql(script, db.port()).unwrap();
    assert!(direct.success(), "{}", direct.stderr);
    let proxied = pymysql(script, proxy.mysql_port()).unwrap();
    assert!(proxied.success(), "{}", proxied.stderr);
    assert_eq!(proxied.stdout, direct.stdout);
    assert!(proxied.stdout.contains("True"), "{}", proxied.stdout);
}

#[test]
fn load_data_local_infile_is_relayed_or_refused_by_config() {
    let db = MariaDb::start_with(&MariaDbOptions::new().arg("--local-infile=1")).unwrap();
    db.root_sql("CREATE TABLE sqlmux_test.ld (id INT PRIMARY KEY, v VARCHAR(20))")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("rows.csv");
    let rows: String = (1..=5000).map(|i| format!("{i},value-{i}\n")).collect();
    std::fs::write(&csv, rows).unwrap();
    let load = format!(
        "LOAD DATA LOCAL INFILE '{}' INTO TABLE ld FIELDS TERMINATED BY ','; SELECT COUNT(*), MAX(v) FROM ld",
        csv.display()
    );
    let cli = |port: u16| {
        MariaDbCli::tcp("127.0.0.1", port)
            .user("app")
            .password("apppw")
            .database("sqlmux_test")
            .arg("--local-infile=1")
    };
    let allowed = Proxy::start(&mysql_config(&db.addr(), "")).unwrap();
    let out = cli(allowed.mysql_port()).query(&load).unwrap();
    assert_eq!(out, "5000\tvalue-999");

    let refusing =
        Proxy::start(&mysql_config(&db.addr(), "[mysql]\nlocal_infile = false\n")).unwrap();
    let out = cli(refusing.mysql_port())
        .run(&load.replace("INTO TABLE ld", "REPLACE INTO TABLE ld"))
        .unwrap();
    assert!(!out.success());
    assert!(
        out.stderr.contains("ERROR 1148") && out.stderr.contains("disabled"),
        "{}",
        out.stderr
    );
    let count = cli(refusing.mysql_port())
        .query("SELECT COUNT(*) FROM ld")
        .unwrap();
    assert_eq!(
        count, "5000",
        "the refusing session still works and loaded nothing"
    );
}

#[test]
fn tls_with_caching_sha2_full_and_fast_authentication() {
    let db = MariaDb::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let proxy = Proxy::start(&mysql_config(&db.addr(), &tls_section(&cert, &key))).unwrap();
    let script = format!(
        r#"
import os, pymysql
def connect(password, tls):
    kw = dict(ssl_ca="{cert}", ssl_verify_identity=False) if tls else dict(ssl_disabled=True)
    return pymysql.connect(host=os.environ["HOST"], port=int(os.environ["PORT"]), user="app",
                           password=password, database="sqlmux_test", **kw)
for tls in (True, True, False):
    c = connect("apppw", tls)
    cur = c.cursor()
    cur.execute("SELECT 40 + 2")
    print(tls, type(c._sock).__name__, c._auth_plugin_name if hasattr(c, "_auth_plugin_name") else "", cur.fetchone()[0])
    c.close()
for tls in (True, False):
    try:
        connect("wrong", tls)
        print("wrong password accepted")
    except pymysql.err.OperationalError as e:
        print("refused", e.args[0])
"#,
        cert = cert.display()
    );
    let out = pymysql(&script, proxy.mysql_port()).unwrap();
    assert!(out.success(), "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{}", out.stdout);
    assert!(
        lines[0].starts_with("True SSLSocket") && lines[0].ends_with(" 42"),
        "{}",
        out.stdout
    );
    assert!(
        lines[1].starts_with("True SSLSocket") && lines[1].ends_with(" 42"),
        "{}",
        out.stdout
    );
    assert!(
        lines[2].starts_with("False socket") && lines[2].ends_with(" 42"),
        "{}",
        out.stdout
    );
    assert_eq!(&lines[3..], ["refused 1045", "refused 1045"]);

    let status = MariaDbCli::tcp("127.0.0.1", proxy.mysql_port())
        .user("app")
        .password("apppw")
        .arg("--ssl")
        .query("status")
        .unwrap();
    assert!(status.contains("Cipher in use"), "{status}");
}

#[test]
fn backend_tls_and_caching_sha2_through_a_chained_sqlmux() {
    let db = MariaDb::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    // The inner sqlmux plays a MySQL 8 server: TLS, caching_sha2_password by default.
    let inner = Proxy::start(&mysql_config(&db.addr(), &tls_section(&cert, &key))).unwrap();
    // The inner one's certificate is its own CA: the outer verifies the backend with it.
    let outer_config = mysql_config(&inner.mysql_addr().to_string(), "").replace(
        "max_connections = 50",
        &format!(
            "max_connections = 50\ntls = true\ntls_ca = \"{}\"",
            cert.display()
        ),
    );
    let outer = Proxy::start(&outer_config).unwrap();
    // Two concurrent sessions: two backend connections, the first with full
    // authentication over TLS, the second on the fast path.
    let (mut a, ok_a) =
        RawClient::login(outer.mysql_port(), "app", "apppw", Some("sqlmux_test")).unwrap();
    let (mut b, ok_b) =
        RawClient::login(outer.mysql_port(), "app", "apppw", Some("sqlmux_test")).unwrap();
    assert_eq!((ok_a.payload()[0], ok_b.payload()[0]), (0, 0));
    a.query("BEGIN").unwrap().unwrap();
    b.query("BEGIN").unwrap().unwrap();
    let ra = a.query("SELECT CONNECTION_ID()").unwrap().unwrap();
    let rb = b.query("SELECT CONNECTION_ID()").unwrap().unwrap();
    assert_ne!(ra, rb, "two backend connections");
}
