//! The load harness: real servers, real clients, the proxy in this process.
//!
//! `cargo run --release -p sqlmux-benches --bin load -- [point-select|memory|all] [--seconds N]`
//!
//! - point-select: sysbench `oltp_point_select` with 32 threads, directly and through sqlmux,
//!   alternating runs; prints QPS of each, their ratio, and the proxy's CPU seconds per 10k
//!   queries (this process runs only the proxy; sysbench and MariaDB are other processes).
//! - memory: a 400 MiB result relayed to a client that reads slowly; prints how much the
//!   proxy's resident memory grew.
//! - multiplex: 200 mostly idle clients (100 ms think time), 40% INSERTs (often followed
//!   by `SELECT LAST_INSERT_ID() AS id`, checked against the OK packet) and 60% point
//!   SELECTs; prints QPS, errors, mismatches and backend connections per client connection.

use bytes::BytesMut;
use sqlmux_integration::clients::{sysbench, sysbench_counter};
use sqlmux_integration::raw_mysql::{handshake_response, native_scramble, RawClient};
use sqlmux_integration::{mysql_config, MariaDb, MariaDbOptions, Proxy};
use sqlmux_protocol::mysql::packet::encode;
use sqlmux_protocol::mysql::scanner::{Expect, Progress, Scanner};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("all");
    let seconds = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(20u64);
    if let Err(e) = run(mode, seconds) {
        eprintln!("load: {e}");
        std::process::exit(1);
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn run(mode: &str, seconds: u64) -> Res<()> {
    let db = MariaDb::start_with(
        &MariaDbOptions::new()
            .arg("--innodb-buffer-pool-size=256M")
            .arg("--max-connections=1000"),
    )?;
    let proxy = Proxy::start(&mysql_config(&db.addr(), ""))?;
    if mode == "point-select" || mode == "all" {
        point_select(&db, &proxy, seconds)?;
    }
    if mode == "memory" || mode == "all" {
        memory(&proxy)?;
    }
    if mode == "multiplex" || mode == "all" {
        multiplex(&db, &proxy, seconds)?;
    }
    Ok(())
}

/// CPU seconds (user + system) this process has used.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Resident memory of this process in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn point_select(db: &MariaDb, proxy: &Proxy, seconds: u64) -> Res<()> {
    let shape = ["--tables=4", "--table-size=10000"];
    let prep = sysbench("oltp_point_select", "prepare", db.port(), &shape)?;
    if !prep.success() {
        return Err(format!("sysbench prepare: {}", prep.stderr).into());
    }
    let time = format!("--time={seconds}");
    let mut args = shape.to_vec();
    args.extend(["--threads=32", time.as_str(), "--report-interval=0"]);
    let (mut direct, mut proxied, mut cpu, mut proxied_queries) =
        (Vec::new(), Vec::new(), 0.0, 0u64);
    for round in 0..2 {
        let out = sysbench("oltp_point_select", "run", db.port(), &args)?;
        let q = sysbench_counter(&out.stdout, "queries:").ok_or("no direct figures")?;
        direct.push(q as f64 / seconds as f64);
        let before = cpu_seconds();
        let out = sysbench("oltp_point_select", "run", proxy.mysql_port(), &args)?;
        cpu += cpu_seconds() - before;
        let q = sysbench_counter(&out.stdout, "queries:").ok_or("no proxied figures")?;
        let errors = sysbench_counter(&out.stdout, "ignored errors:").unwrap_or(0);
        proxied_queries += q;
        proxied.push(q as f64 / seconds as f64);
        println!(
            "round {round}: direct {:.0} qps, sqlmux {:.0} qps, errors {errors}",
            direct[round], proxied[round]
        );
    }
    let d = direct.iter().sum::<f64>() / direct.len() as f64;
    let p = proxied.iter().sum::<f64>() / proxied.len() as f64;
    println!(
        "oltp_point_select 32 threads: direct {d:.0} qps, sqlmux {p:.0} qps, ratio {:.2}x",
        p / d
    );
    println!(
        "sqlmux CPU: {:.3} s per 10k queries ({cpu:.1} s for {proxied_queries} queries)",
        cpu / (proxied_queries as f64 / 10_000.0)
    );
    Ok(())
}

fn memory(proxy: &Proxy) -> Res<()> {
    let before = rss_kib();
    let (mut client, ok) = RawClient::login(proxy.mysql_port(), "app", "apppw", None)?;
    if ok.payload()[0] != 0 {
        return Err("login failed".into());
    }
    drop(client.query("SELECT 1")?);
    let rows = 400u64;
    let sql = format!("\x03SELECT REPEAT('x', 1048576) FROM seq_1_to_{rows}");
    // Stream the answer with a fixed buffer, reading slowly (about 40 MiB/s).
    let mut stream = reconnect(proxy.mysql_port())?;
    stream.write_all(&encode(0, sql.as_bytes()))?;
    let mut scanner = Scanner::new(Expect::Query, true);
    let mut pending = BytesMut::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let (mut total, mut peak) = (0u64, before);
    let started = Instant::now();
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err("proxy closed the connection".into());
        }
        total += n as u64;
        pending.extend_from_slice(&chunk[..n]);
        let (used, progress) = scanner.scan(&pending)?;
        let _ = pending.split_to(used);
        if progress == Progress::Done {
            break;
        }
        std::thread::sleep(Duration::from_micros(1500));
        peak = peak.max(rss_kib());
    }
    client.query("SELECT 1")?.map_err(|e| e.message)?;
    println!(
        "memory: relayed {:.0} MiB in {:.1} s to a slow client; proxy RSS {} KiB before, peak {} KiB, growth {:.1} MiB",
        total as f64 / 1048576.0,
        started.elapsed().as_secs_f64(),
        before,
        peak,
        (peak.saturating_sub(before)) as f64 / 1024.0
    );
    Ok(())
}

/// A plain logged-in socket (the raw client's buffer would hold the whole result).
fn reconnect(port: u16) -> Res<std::net::TcpStream> {
    let mut c = RawClient::open(port)?;
    c.send(
        1,
        &handshake_response(
            "app",
            &native_scramble(&c.salt, "apppw"),
            Some("sqlmux_test"),
            "mysql_native_password",
        ),
    )?;
    let ok = c.read_frame()?;
    if ok.payload()[0] != 0 {
        return Err("login failed".into());
    }
    Ok(c.into_stream())
}

/// A tiny deterministic generator (xorshift) per client thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[derive(Default)]
struct MuxCounts {
    statements: u64,
    errors: u64,
    mismatches: u64,
    checks: u64,
}

fn multiplex(db: &MariaDb, proxy: &Proxy, seconds: u64) -> Res<()> {
    use sqlmux_protocol::mysql::response::parse_ok;
    const CLIENTS: usize = 200;
    db.root_sql("CREATE TABLE IF NOT EXISTS sqlmux_test.mux (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(32)); INSERT INTO sqlmux_test.mux (v) VALUES ('seed')")?;
    let port = proxy.mysql_port();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let handles: Vec<_> = (0..CLIENTS)
        .map(|i| {
            std::thread::spawn(move || -> MuxCounts {
                let mut counts = MuxCounts::default();
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((i as u64 + 1) * 0x1000_0001));
                let Ok((mut c, _)) = RawClient::login(port, "app", "apppw", Some("sqlmux_test"))
                else {
                    counts.errors += 1;
                    return counts;
                };
                std::thread::sleep(Duration::from_millis(rng.next() % 100));
                while Instant::now() < deadline {
                    let roll = rng.next() % 100;
                    if roll < 40 {
                        counts.statements += 1;
                        match c.query("INSERT INTO mux (v) VALUES ('x')") {
                            Ok(Ok(p)) => {
                                let id = p
                                    .first()
                                    .and_then(|ok| parse_ok(ok))
                                    .map(|o| o.last_insert_id);
                                if rng.next() % 10 < 7 {
                                    counts.statements += 1;
                                    counts.checks += 1;
                                    match c.query("SELECT LAST_INSERT_ID() AS id") {
                                        Ok(Ok(rows)) => {
                                            let got = rows
                                                .get(2)
                                                .and_then(|r| {
                                                    sqlmux_protocol::mysql::lenenc::read_str(r)
                                                })
                                                .and_then(|(v, _)| {
                                                    std::str::from_utf8(v).ok()?.parse::<u64>().ok()
                                                });
                                            if got != id {
                                                counts.mismatches += 1;
                                            }
                                        }
                                        _ => counts.errors += 1,
                                    }
                                }
                            }
                            _ => counts.errors += 1,
                        }
                    } else {
                        counts.statements += 1;
                        let id = rng.next() % 1000 + 1;
                        if !matches!(
                            c.query(&format!("SELECT v FROM mux WHERE id = {id}")),
                            Ok(Ok(_))
                        ) {
                            counts.errors += 1;
                        }
                    }
                    std::thread::sleep(Duration::from_millis(80 + rng.next() % 40));
                }
                counts
            })
        })
        .collect();
    let mut samples = Vec::new();
    std::thread::sleep(Duration::from_secs(2));
    while Instant::now() < deadline {
        let n: u64 = db
            .root_sql("SELECT COUNT(*) FROM information_schema.processlist WHERE user = 'app'")?
            .trim()
            .parse()
            .unwrap_or(0);
        samples.push(n);
        std::thread::sleep(Duration::from_millis(500));
    }
    let mut total = MuxCounts::default();
    for h in handles {
        let c = h.join().map_err(|_| "client thread panicked")?;
        total.statements += c.statements;
        total.errors += c.errors;
        total.mismatches += c.mismatches;
        total.checks += c.checks;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let max = samples.iter().copied().max().unwrap_or(0);
    let avg = samples.iter().sum::<u64>() as f64 / samples.len().max(1) as f64;
    println!(
        "multiplex: {CLIENTS} clients, {:.0} qps, {} errors, {} mismatches of {} LAST_INSERT_ID checks",
        total.statements as f64 / elapsed,
        total.errors,
        total.mismatches,
        total.checks
    );
    println!(
        "multiplex: backend connections on the server avg {avg:.1}, max {max} = {:.1}% / {:.1}% of client connections",
        avg * 100.0 / CLIENTS as f64,
        max as f64 * 100.0 / CLIENTS as f64
    );
    Ok(())
}
