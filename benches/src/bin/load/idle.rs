//! `load idle --clients N`: a sidecar's day. N clients log in, run one statement and idle;
//! printed per protocol: the proxy's resident memory per idle client, its CPU seconds over
//! 10 s of idling, how long the first statement after the idle time takes (against a busy
//! client's), and what the proxy keeps once they have all left.
//!
//! sqlmux runs as its own process (the release binary beside this one: build it first with
//! `cargo build --release -p sqlmux`), so the clients' sockets here do not count;
//! PgBouncer (transaction pooling) runs beside it for PostgreSQL when installed. PostgreSQL
//! clients log in with a cleartext password (both proxies are told to ask for it): the
//! harness then needs no SCRAM of its own.

use super::{process_cpu, rss_kib_of, Res};
use sqlmux_integration::binary::SqlmuxProcess;
use sqlmux_integration::pgbouncer::{self, PgBouncer};
use sqlmux_integration::proxy::postgres_config;
use sqlmux_integration::raw_mysql::RawClient;
use sqlmux_integration::{free_port, mysql_config, MariaDb, MariaDbOptions, Postgres};
use sqlmux_protocol::postgres::{frontend, startup};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// What one run measured.
struct Figures {
    per_client_kib: f64,
    idle_cpu_s: f64,
    first_after_idle_us: f64,
    busy_us: f64,
    kept_after_kib: i64,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.2} KiB per idle client; CPU {:.2} s over 10 s idle; first statement after idle {:.0} us (busy: {:.0} us); kept {:.1} MiB after all left",
            self.per_client_kib,
            self.idle_cpu_s,
            self.first_after_idle_us,
            self.busy_us,
            self.kept_after_kib as f64 / 1024.0
        )
    }
}

/// Runs the idle measurement for both protocols (or the one named).
pub fn run(clients: usize, protocol: Option<&str>) -> Res<()> {
    each_protocol(clients, protocol, mysql, postgres)
}

/// Runs `mysql` and `postgres` with `clients`, or the one `protocol` names.
pub(super) fn each_protocol(
    clients: usize,
    protocol: Option<&str>,
    mysql: fn(usize) -> Res<()>,
    postgres: fn(usize) -> Res<()>,
) -> Res<()> {
    if protocol.is_none_or(|p| p == "mysql") {
        mysql(clients)?;
    }
    if protocol.is_none_or(|p| p == "postgres") {
        postgres(clients)?;
    }
    Ok(())
}

/// A config's `[listen]` on fixed free ports with room for the clients.
fn listen(config: &str, endpoint: &str, port: u16, http: u16, clients: usize) -> String {
    config.replacen(
        &format!("{endpoint} = \"127.0.0.1:0\""),
        &format!(
            "{endpoint} = \"127.0.0.1:{port}\"\nhttp = \"127.0.0.1:{http}\"\nmax_client_connections = {}",
            clients + 100
        ),
        1,
    )
}

/// A MariaDB server and sqlmux (its own process) in front of it, room for `clients`; the
/// proxy's MySQL port.
pub(super) fn mysql_proxy(clients: usize) -> Res<(MariaDb, SqlmuxProcess, u16)> {
    let db = MariaDb::start_with(&MariaDbOptions::new().arg("--max-connections=1000"))?;
    let (port, http) = (free_port()?, free_port()?);
    let config = listen(
        &mysql_config(&db.addr(), "\n[control]\ntoken = \"t\"\n"),
        "mysql",
        port,
        http,
        clients,
    );
    let proxy = SqlmuxProcess::start(&config, &format!("127.0.0.1:{http}"))?;
    Ok((db, proxy, port))
}

/// A PostgreSQL server and sqlmux (its own process, asking clients for a cleartext
/// password) in front of it, room for `clients`; the proxy's PostgreSQL port.
pub(super) fn postgres_proxy(clients: usize) -> Res<(Postgres, SqlmuxProcess, u16)> {
    let pg = Postgres::start()?;
    let (port, http) = (free_port()?, free_port()?);
    let config = listen(
        &postgres_config(
            &pg.addr(),
            None,
            "\n[postgres]\nauth_method = \"cleartext\"\n\n[control]\ntoken = \"t\"\n",
        ),
        "postgres",
        port,
        http,
        clients,
    );
    let proxy = SqlmuxProcess::start(&config, &format!("127.0.0.1:{http}"))?;
    Ok((pg, proxy, port))
}

/// A logged-in MySQL client that ran one statement.
pub(super) fn mysql_login(port: u16) -> Res<TcpStream> {
    let (mut c, _) = RawClient::login(port, "app", "apppw", Some("sqlmux_test"))?;
    c.query("SELECT 1")?.map_err(|e| e.message)?;
    Ok(c.into_stream())
}

fn mysql(clients: usize) -> Res<()> {
    let (_db, proxy, port) = mysql_proxy(clients)?;
    let login = || mysql_login(port);
    let statement = |s: &mut TcpStream| -> Res<()> {
        s.write_all(&sqlmux_protocol::mysql::packet::encode(0, b"\x03SELECT 1"))?;
        read_mysql_answer(s)
    };
    let figures = measure(proxy.pid(), clients, login, statement)?;
    println!("idle mysql, {clients} clients, sqlmux: {figures}");
    Ok(())
}

fn postgres(clients: usize) -> Res<()> {
    let (pg, proxy, port) = postgres_proxy(clients)?;
    let figures = measure(proxy.pid(), clients, || pg_login(port), pg_statement)?;
    println!("idle postgres, {clients} clients, sqlmux: {figures}");
    drop(proxy);
    if pgbouncer::version().is_some() {
        let bouncer = PgBouncer::start_with_settings(
            pg.port(),
            "transaction",
            20,
            clients as u32 + 100,
            &[("auth_type", "plain")],
        )?;
        let port = bouncer.port();
        let figures = measure(bouncer.pid(), clients, || pg_login(port), pg_statement)?;
        println!("idle postgres, {clients} clients, PgBouncer: {figures}");
    }
    Ok(())
}

/// Logs `clients` in, idles them, times statements, lets them go; the proxy is `pid`.
fn measure(
    pid: u32,
    clients: usize,
    login: impl Fn() -> Res<TcpStream>,
    statement: impl Fn(&mut TcpStream) -> Res<()>,
) -> Res<Figures> {
    let pid = pid.to_string();
    // One client first: what every proxy allocates once (pools, a backend) is not counted.
    let mut warm = login()?;
    statement(&mut warm)?;
    std::thread::sleep(Duration::from_millis(500));
    let before = rss_kib_of(&pid);
    let mut idle = Vec::with_capacity(clients);
    for _ in 0..clients {
        idle.push(login()?);
    }
    std::thread::sleep(Duration::from_secs(2));
    let with_clients = rss_kib_of(&pid);
    let cpu_before = process_cpu(&pid).ok_or("no /proc stat")?;
    std::thread::sleep(Duration::from_secs(10));
    let cpu_after = process_cpu(&pid).ok_or("no /proc stat")?;
    let idle_cpu = cpu_after - cpu_before;
    // The first statement of 200 idle clients, then 200 on one busy client.
    let sample = idle.len().min(200);
    let started = Instant::now();
    for s in idle.iter_mut().take(sample) {
        statement(s)?;
    }
    let first_after_idle = started.elapsed().as_micros() as f64 / sample.max(1) as f64;
    let started = Instant::now();
    for _ in 0..sample {
        statement(&mut warm)?;
    }
    let busy = started.elapsed().as_micros() as f64 / sample.max(1) as f64;
    drop(idle);
    std::thread::sleep(Duration::from_secs(3));
    let after = rss_kib_of(&pid);
    Ok(Figures {
        per_client_kib: with_clients.saturating_sub(before) as f64 / clients.max(1) as f64,
        idle_cpu_s: idle_cpu.user + idle_cpu.system,
        first_after_idle_us: first_after_idle,
        busy_us: busy,
        kept_after_kib: after as i64 - before as i64,
    })
}

/// Reads one whole answer to a `SELECT 1` (text protocol, a one-row result or an error).
fn read_mysql_answer(s: &mut TcpStream) -> Res<()> {
    let mut scanner = sqlmux_protocol::mysql::scanner::Scanner::new(
        sqlmux_protocol::mysql::scanner::Expect::Query,
        true,
    );
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err("proxy closed the connection".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let (used, progress) = scanner.scan(&buf)?;
        buf.drain(..used);
        if progress == sqlmux_protocol::mysql::scanner::Progress::Done {
            return Ok(());
        }
    }
}

/// Reads PostgreSQL messages until ReadyForQuery; an ErrorResponse is an error.
fn pg_until_ready(s: &mut TcpStream) -> Res<()> {
    loop {
        let mut head = [0u8; 5];
        s.read_exact(&mut head)?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0u8; len.saturating_sub(4)];
        s.read_exact(&mut body)?;
        match head[0] {
            b'Z' => return Ok(()),
            b'E' => return Err(format!("error: {}", String::from_utf8_lossy(&body)).into()),
            b'R' if body.get(..4) == Some(&[0, 0, 0, 3]) => {
                s.write_all(&frontend::password(b"ledgerpw"))?;
            }
            _ => {}
        }
    }
}

/// A logged-in PostgreSQL client (cleartext password) that ran one statement.
pub(super) fn pg_login(port: u16) -> Res<TcpStream> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.write_all(&startup::startup_message(&[
        ("user", "ledger"),
        ("database", "ledger"),
    ]))?;
    pg_until_ready(&mut s)?;
    pg_statement(&mut s)?;
    Ok(s)
}

fn pg_statement(s: &mut TcpStream) -> Res<()> {
    s.write_all(&frontend::query("SELECT 1"))?;
    pg_until_ready(s)
}
