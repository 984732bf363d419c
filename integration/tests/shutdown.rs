//! The real `sqlmux` binary on SIGTERM (`[shutdown]`): `/readyz` turns 503 at once,
//! transactions under way commit, idle sessions get the server's own shutdown error
//! (MySQL 1053, PostgreSQL 57P01) once the accept grace is over, and the process exits 0
//! before `timeout_ms`. `service` refuses new connections after the grace; `sidecar` serves
//! its application until it has gone.

mod support;

use sqlmux_integration::binary::SqlmuxProcess;
use sqlmux_integration::proxy::{LEDGER_CLUSTER, SHOP_CLUSTER};
use sqlmux_integration::raw_mysql::RawClient;
use sqlmux_integration::{free_port, MariaDb, Postgres};
use std::time::{Duration, Instant};

/// The ports of a test `sqlmux` and the process.
struct Sqlmux {
    process: SqlmuxProcess,
    mysql: u16,
    postgres: u16,
}

impl Sqlmux {
    fn start(mariadb: &MariaDb, pg: &Postgres, shutdown: &str) -> Sqlmux {
        let (mysql, postgres, http) = (
            free_port().unwrap(),
            free_port().unwrap(),
            free_port().unwrap(),
        );
        let config = format!(
            r#"
[listen]
mysql = "127.0.0.1:{mysql}"
postgres = "127.0.0.1:{postgres}"
http = "127.0.0.1:{http}"

{SHOP_CLUSTER}
{LEDGER_CLUSTER}
[[servers]]
hostgroup = 10
address = "{}"

[[servers]]
hostgroup = 30
address = "{}"

[[users]]
name = "app"
password = "apppw"
cluster = "shop"

[[users]]
name = "ledger"
password = "ledgerpw"
cluster = "ledger"

[shutdown]
{shutdown}
"#,
            mariadb.addr(),
            pg.addr()
        );
        let process = SqlmuxProcess::start(&config, &format!("127.0.0.1:{http}")).unwrap();
        Sqlmux {
            process,
            mysql,
            postgres,
        }
    }

    fn ready(&self) -> Option<u16> {
        self.process.ready()
    }

    fn terminate(&self) {
        self.process.terminate().unwrap();
    }

    fn exited(&mut self, within: Duration) -> (Option<i32>, Instant) {
        self.process.exited(within).unwrap()
    }
}

fn servers() -> (MariaDb, Postgres) {
    let m = MariaDb::start().unwrap();
    m.root_sql("CREATE TABLE sqlmux_test.t (id INT AUTO_INCREMENT PRIMARY KEY, who INT)")
        .unwrap();
    (m, Postgres::start().unwrap())
}

fn mysql_login(port: u16) -> RawClient {
    RawClient::login(port, "app", "apppw", Some("sqlmux_test"))
        .unwrap()
        .0
}

#[test]
fn service_mode_drains_transactions_and_closes_idle_sessions_with_the_servers_error() {
    let (mariadb, pg) = servers();
    let mut sqlmux = Sqlmux::start(
        &mariadb,
        &pg,
        "mode = \"service\"\ntimeout_ms = 10000\naccept_grace_ms = 1000",
    );
    // 20 clients inside transactions that last 2 s.
    let transactions: Vec<_> = (0..20)
        .map(|who| {
            let port = sqlmux.mysql;
            std::thread::spawn(move || {
                let mut c = mysql_login(port);
                c.query("BEGIN").unwrap().unwrap();
                c.query(&format!("INSERT INTO t (who) VALUES ({who})"))
                    .unwrap()
                    .unwrap();
                std::thread::sleep(Duration::from_millis(2000));
                c.query(&format!("INSERT INTO t (who) VALUES ({who})"))
                    .unwrap()
                    .map_err(|e| e.message)?;
                c.query("COMMIT")
                    .unwrap()
                    .map(|_| ())
                    .map_err(|e| e.message)
            })
        })
        .collect();
    let mut idle_mysql = mysql_login(sqlmux.mysql);
    let pg_runtime = support::runtime();
    let idle_pg = pg_runtime.block_on(support::connect(sqlmux.postgres));
    std::thread::sleep(Duration::from_millis(300));
    sqlmux.terminate();
    let signalled = Instant::now();
    while sqlmux.ready() != Some(503) {
        assert!(
            signalled.elapsed() < Duration::from_millis(100),
            "/readyz still 200 100 ms after the signal"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let unready_after = signalled.elapsed();
    // During the grace a new connection is still served.
    let mut late = mysql_login(sqlmux.mysql);
    late.query("SELECT 1").unwrap().unwrap();
    std::thread::sleep(Duration::from_millis(1300));
    // After it: refused, and idle sessions get the server's own shutdown error.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", sqlmux.mysql)).is_err(),
        "a connection after accept_grace_ms is refused"
    );
    let err = idle_mysql.query("SELECT 1").unwrap().unwrap_err();
    assert_eq!(
        (err.code, err.message.as_str()),
        (1053, "Server shutdown in progress")
    );
    let pg_err = pg_runtime
        .block_on(idle_pg.simple_query("SELECT 1"))
        .unwrap_err();
    assert_eq!(
        pg_err.as_db_error().map(|d| d.code().code()),
        Some("57P01"),
        "{pg_err}"
    );
    for t in transactions {
        assert_eq!(t.join().unwrap(), Ok(()), "the transaction committed");
    }
    let rows = mariadb
        .root_sql("SELECT COUNT(*) FROM sqlmux_test.t")
        .unwrap();
    assert_eq!(rows.trim(), "40", "every transaction committed both rows");
    drop(late);
    let (code, exited) = sqlmux.exited(Duration::from_secs(10));
    assert_eq!(code, Some(0));
    eprintln!(
        "service drain: /readyz 503 after {unready_after:?}, exit after {:?}",
        exited.duration_since(signalled)
    );
}

#[test]
fn sidecar_mode_serves_its_application_until_it_has_gone() {
    let (mariadb, pg) = servers();
    let mut sqlmux = Sqlmux::start(
        &mariadb,
        &pg,
        "mode = \"sidecar\"\ntimeout_ms = 10000\naccept_grace_ms = 500",
    );
    let mut app = mysql_login(sqlmux.mysql);
    sqlmux.terminate();
    let signalled = Instant::now();
    // The application keeps working while it shuts down itself, new connections included.
    for _ in 0..15 {
        app.query("INSERT INTO t (who) VALUES (1)")
            .unwrap()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut another = mysql_login(sqlmux.mysql);
    another.query("SELECT 1").unwrap().unwrap();
    assert_eq!(sqlmux.ready(), Some(503), "not ready while draining");
    // The application goes: sqlmux follows once no client came for accept_grace_ms.
    drop(app);
    drop(another);
    let gone = Instant::now();
    let (code, exited) = sqlmux.exited(Duration::from_secs(5));
    assert_eq!(code, Some(0));
    let after = exited.duration_since(gone);
    assert!(
        after >= Duration::from_millis(450),
        "waited for the grace: {after:?}"
    );
    eprintln!(
        "sidecar drain: served {:?} after the signal, exit {after:?} after the last client left",
        gone.duration_since(signalled)
    );
}

#[test]
fn a_second_signal_exits_at_once() {
    let (mariadb, pg) = servers();
    let mut sqlmux = Sqlmux::start(&mariadb, &pg, "mode = \"sidecar\"\ntimeout_ms = 20000");
    let _app = mysql_login(sqlmux.mysql);
    sqlmux.terminate();
    std::thread::sleep(Duration::from_millis(300));
    assert!(sqlmux.process.running(), "draining");
    sqlmux.terminate();
    let (code, _) = sqlmux.exited(Duration::from_secs(2));
    assert_eq!(code, Some(0));
}
