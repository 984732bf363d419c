//! The load harness: real servers, real clients, the proxy in this process.
//!
//! `cargo run --release -p sqlmux-benches --bin load -- [MODE] [--seconds N] [--protocol P]
//! [--rounds R]`
//!
//! MySQL modes (`all`, the default, runs these three):
//!
//! - point-select: sysbench `oltp_point_select` with 32 threads, directly and through sqlmux,
//!   alternating runs; prints QPS of each, their ratio, and the proxy's CPU seconds per 10k
//!   queries (this process runs only the proxy; sysbench and MariaDB are other processes).
//!   When `haproxy` is installed it runs too, in TCP mode (bytes forwarded, one server
//!   connection per client, no parsing): the floor of what any user-space proxy costs here.
//! - memory: a 400 MiB result relayed to a client that reads slowly; prints how much the
//!   proxy's resident memory grew.
//! - multiplex: 200 mostly idle clients (100 ms think time), 40% INSERTs (often followed
//!   by `SELECT LAST_INSERT_ID() AS id`, checked against the OK packet) and 60% point
//!   SELECTs, reads to a replica (a primary + replica pair, as in the example
//!   configuration); prints QPS, errors, mismatches and backend connections on the writer
//!   and the reader (idle ones included) per client connection.
//!
//! PostgreSQL modes (run only when named):
//!
//! - pgbench: `pgbench -i -s 10`, then for each `--protocol` (simple, extended, prepared)
//!   `pgbench -S -c 64 -j 2 -T N` directly, through PgBouncer (transaction pooling,
//!   default_pool_size 20, max_client_conn 200) and through sqlmux (max_connections 20),
//!   the order rotated per protocol and round (`--protocol P` runs only that one,
//!   `--rounds R` repeats it and adds medians, and per-round paired ratios); prints tps, failures, the ratios sqlmux/direct,
//!   pgbouncer/direct and sqlmux/pgbouncer, and each proxy's CPU microseconds per
//!   transaction (PgBouncer: utime+stime of its process; sqlmux: this process's CPU).
//!   PgBouncer < 1.21 has no prepared statements in transaction mode: that run is skipped.
//! - pg-pool: `pgbench -S -c 500 -j 2 -T N` directly, through PgBouncer (pool 20) and through
//!   sqlmux (max_connections 20), sampling the server's `pg_stat_activity` for the ledger
//!   role every 200 ms; prints tps, failures, and the average (middle of the run) and maximum
//!   number of backend connections, also as a share of the 500 clients.
//!
//! Idle clients (both protocols, or the one `--protocol mysql|postgres` names):
//!
//! - idle `--clients N` (10,000 by default): N clients log in, run one statement and idle;
//!   the proxy's resident memory per idle client, its CPU while they idle, the first
//!   statement after the idle time, and what it keeps after they leave (see [`idle`]).
//! - storm `--clients N` (10,000 by default): N clients connect at once; clients served, the
//!   p50/p99 connect time and the backend connections opened (see [`storm`]).
//!
//! Failover (both protocols, or the one `--protocol mysql|postgres` names):
//!
//! - failover: a planned switch, a writer frozen 15 s and a writer killed, each under 100
//!   clients; prints failed statements by error, the longest write pause, the longest gap of
//!   read-only clients, the longest wait and lost acknowledged writes (see [`failover`];
//!   `--seconds` is how long each run goes on after the scenario, 5 by default).
//!
//! An unknown mode is an error. A failed sqlmux or PgBouncer run is reported and the others
//! go on; the exit status is then 1.

/// The sqlmux binary's allocator, for the proxy this process runs.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod failover;
mod idle;
mod multiplex;
mod storm;

use bytes::BytesMut;
use sqlmux_integration::clients::{
    pgbench, pgbench_aborted, pgbench_failed, pgbench_processed, pgbench_tps, pgbench_with_timeout,
    sysbench, sysbench_counter,
};
use sqlmux_integration::haproxy::{self, HaProxy};
use sqlmux_integration::pgbouncer::{self, PgBouncer};
use sqlmux_integration::proxy::postgres_config;
use sqlmux_integration::raw_mysql::{handshake_response, native_scramble, RawClient};
use sqlmux_integration::{
    mysql_config, MariaDb, MariaDbOptions, MariaDbPair, Postgres, PostgresOptions, Proxy, Psql,
};
use sqlmux_protocol::mysql::packet::encode;
use sqlmux_protocol::mysql::scanner::{Expect, Progress, Scanner};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or("all");
    let value = |flag: &str| {
        let at = args.iter().position(|a| a == flag)?;
        args.get(at + 1).map(String::as_str)
    };
    let seconds_given = value("--seconds").and_then(|s| s.parse().ok());
    let seconds = seconds_given.unwrap_or(20u64);
    let protocol = value("--protocol");
    let rounds = value("--rounds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(1usize);
    let result = if mode == "failover" {
        failover::run(Duration::from_secs(seconds_given.unwrap_or(5)), protocol)
    } else if mode == "idle" || mode == "storm" {
        let clients = value("--clients")
            .and_then(|s| s.parse().ok())
            .unwrap_or(10_000);
        if mode == "idle" {
            idle::run(clients, protocol)
        } else {
            storm::run(clients, protocol)
        }
    } else {
        run(mode, seconds, protocol, rounds)
    };
    if let Err(e) = result {
        eprintln!("load: {e}");
        std::process::exit(1);
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn run(mode: &str, seconds: u64, protocol: Option<&str>, rounds: usize) -> Res<()> {
    match mode {
        "pgbench" => return pg_bench(seconds, protocol, rounds),
        "pg-pool" => return pg_pool(seconds),
        "all" | "point-select" | "memory" | "multiplex" => {}
        other => {
            return Err(format!(
                "unknown mode {other:?} (point-select, memory, multiplex, all, pgbench, pg-pool, failover)"
            )
            .into())
        }
    }
    let db = MariaDb::start_with(
        &MariaDbOptions::new()
            .arg("--innodb-buffer-pool-size=256M")
            .arg("--max-connections=1000"),
    )?;
    let proxy = Proxy::start_as_shipped(&mysql_config(&db.addr(), ""))?;
    if mode == "point-select" || mode == "all" {
        point_select(&db, &proxy, seconds)?;
    }
    if mode == "memory" || mode == "all" {
        memory(&proxy)?;
    }
    if mode == "multiplex" || mode == "all" {
        // Reads to a replica, as in the example configuration.
        let pair = MariaDbPair::start_with(&MariaDbOptions::new().arg("--max-connections=1000"))?;
        pair.wait_replication_running()?;
        let reader = format!(
            "\n[[servers]]\nhostgroup = 20\naddress = \"{}\"\nmax_connections = 50\n",
            pair.replica.addr()
        );
        let proxy = Proxy::start_as_shipped(&mysql_config(&pair.primary.addr(), &reader))?;
        multiplex::run(&pair, &proxy, seconds)?;
    }
    Ok(())
}

/// User and system CPU seconds of a process (all threads, not children).
#[derive(Clone, Copy, Debug, Default)]
struct Cpu {
    user: f64,
    system: f64,
}

impl std::ops::Sub for Cpu {
    type Output = Cpu;
    fn sub(self, earlier: Cpu) -> Cpu {
        Cpu {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
        }
    }
}

/// utime and stime of process `pid` (or `"self"`) from `/proc/<pid>/stat`.
fn process_cpu(pid: &str) -> Option<Cpu> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')').map(|(_, r)| r)?;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
    Some(Cpu {
        user: ticks(11)? / 100.0,
        system: ticks(12)? / 100.0,
    })
}

/// Resident memory of this process in KiB.
fn rss_kib() -> u64 {
    rss_kib_of("self")
}

/// Resident memory of process `pid` (or `"self"`) in KiB.
fn rss_kib_of(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// QPS and CPU seconds of one contender over the point-select rounds.
#[derive(Default)]
struct Contender {
    qps: Vec<f64>,
    cpu: Cpu,
    queries: u64,
}

impl Contender {
    fn mean_qps(&self) -> f64 {
        self.qps.iter().sum::<f64>() / self.qps.len().max(1) as f64
    }

    /// CPU seconds per 10k queries: (total, user, system).
    fn cpu_per_10k(&self) -> (f64, f64, f64) {
        let per = |s: f64| s / (self.queries as f64 / 10_000.0);
        let Cpu { user, system } = self.cpu;
        (per(user + system), per(user), per(system))
    }
}

/// One sysbench run against `port`; adds its figures (and `cpu`'s growth) to `into`.
fn sysbench_run(
    port: u16,
    args: &[&str],
    seconds: u64,
    cpu: impl Fn() -> Cpu,
    into: &mut Contender,
) -> Res<u64> {
    let before = cpu();
    let out = sysbench("oltp_point_select", "run", port, args)?;
    let used = cpu() - before;
    into.cpu.user += used.user;
    into.cpu.system += used.system;
    let q = sysbench_counter(&out.stdout, "queries:").ok_or("no sysbench figures")?;
    into.queries += q;
    into.qps.push(q as f64 / seconds as f64);
    Ok(sysbench_counter(&out.stdout, "ignored errors:").unwrap_or(0))
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
    // HAProxy in TCP mode, when installed: the floor of any user-space proxy here.
    let haproxy = if haproxy::available() {
        Some(HaProxy::start(db.port(), 2)?)
    } else {
        println!("haproxy not installed: no TCP-forwarder floor this run");
        None
    };
    let (mut direct, mut forwarder, mut sqlmux) = Default::default();
    for round in 0..2 {
        sysbench_run(db.port(), &args, seconds, Cpu::default, &mut direct)?;
        if let Some(h) = &haproxy {
            let pid = h.pid().to_string();
            let cpu = || process_cpu(&pid).unwrap_or_default();
            sysbench_run(h.port(), &args, seconds, cpu, &mut forwarder)?;
        }
        let own = || process_cpu("self").unwrap_or_default();
        let errors = sysbench_run(proxy.mysql_port(), &args, seconds, own, &mut sqlmux)?;
        println!(
            "round {round}: direct {:.0} qps, haproxy-tcp {:.0} qps, sqlmux {:.0} qps, sqlmux errors {errors}",
            direct.qps[round],
            forwarder.qps.get(round).copied().unwrap_or(0.0),
            sqlmux.qps[round]
        );
    }
    let (d, p) = (direct.mean_qps(), sqlmux.mean_qps());
    println!(
        "oltp_point_select 32 threads: direct {d:.0} qps, sqlmux {p:.0} qps, ratio {:.2}x",
        p / d
    );
    let (total, user, system) = sqlmux.cpu_per_10k();
    println!(
        "sqlmux CPU: {total:.3} s per 10k queries (user {user:.3} + system {system:.3}; {} queries)",
        sqlmux.queries
    );
    if haproxy.is_some() {
        let (total, user, system) = forwarder.cpu_per_10k();
        println!(
            "haproxy TCP mode (floor: forwards bytes, 1:1 connections, no parsing): {:.0} qps, ratio {:.2}x, CPU {total:.3} s per 10k queries (user {user:.3} + system {system:.3})",
            forwarder.mean_qps(),
            forwarder.mean_qps() / d,
        );
    }
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
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Where a pgbench run goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Direct,
    PgBouncer,
    Sqlmux,
}

impl Target {
    const ALL: [Target; 3] = [Target::Direct, Target::PgBouncer, Target::Sqlmux];

    fn name(self) -> &'static str {
        match self {
            Target::Direct => "direct",
            Target::PgBouncer => "pgbouncer",
            Target::Sqlmux => "sqlmux",
        }
    }
}

/// The servers of a PostgreSQL mode: one Postgres, a PgBouncer and sqlmux in front of it.
struct PgSetup {
    // Field order is drop order: the proxies go before the server.
    proxy: Result<Proxy, String>,
    /// `None` once stopped (its idle server connections would count as backends).
    bouncer: Option<PgBouncer>,
    pg: Postgres,
}

impl PgSetup {
    /// Starts the server (`max_connections`), initializes pgbench at `scale`, starts
    /// PgBouncer (transaction pooling, pool 20, `max_client_conn`) and sqlmux
    /// (`postgres_config`, max_connections 20). A sqlmux that does not start is kept as an
    /// error, reported on every run.
    fn start(max_connections: u32, scale: u32, max_client_conn: u32) -> Res<PgSetup> {
        let pg = Postgres::start_with(
            &PostgresOptions::new()
                .setting("max_connections", &max_connections.to_string())
                .setting("shared_buffers", "'256MB'"),
        )?;
        let started = Instant::now();
        let init = pgbench(pg.port(), &["-i", "-s", &scale.to_string(), "-q"])?;
        if !init.success() {
            return Err(format!("pgbench -i: {}", init.stderr.trim()).into());
        }
        println!(
            "pgbench -i -s {scale}: {:.1} s; PostgreSQL on {}, max_connections {max_connections}",
            started.elapsed().as_secs_f64(),
            pg.addr()
        );
        let bouncer = PgBouncer::start(pg.port(), "transaction", 20, max_client_conn)?;
        let version = pgbouncer::version()
            .map(|(a, b, c)| format!("{a}.{b}.{c}"))
            .unwrap_or_else(|| "?".into());
        println!(
            "PgBouncer {version} on {} (transaction pooling, default_pool_size 20, max_client_conn {max_client_conn})",
            bouncer.addr()
        );
        let proxy = Proxy::start_as_shipped(&postgres_config(&pg.addr(), None, ""))
            .map_err(|e| e.to_string());
        match &proxy {
            Ok(p) => println!(
                "sqlmux on 127.0.0.1:{} (max_connections 20)",
                p.postgres_port()
            ),
            Err(e) => println!("sqlmux did not start: {e}"),
        }
        Ok(PgSetup {
            proxy,
            bouncer: Some(bouncer),
            pg,
        })
    }

    fn port(&self, target: Target) -> Result<u16, String> {
        match target {
            Target::Direct => Ok(self.pg.port()),
            Target::PgBouncer => self
                .bouncer
                .as_ref()
                .map(PgBouncer::port)
                .ok_or_else(|| "PgBouncer was stopped".to_string()),
            Target::Sqlmux => match &self.proxy {
                Ok(p) => Ok(p.postgres_port()),
                Err(e) => Err(format!("sqlmux did not start: {e}")),
            },
        }
    }

    /// CPU so far of the process that does `target`'s proxying.
    fn proxy_cpu(&self, target: Target) -> Option<Cpu> {
        match target {
            Target::Direct => None,
            Target::PgBouncer => process_cpu(&self.bouncer.as_ref()?.pid().to_string()),
            Target::Sqlmux => process_cpu("self"),
        }
    }

    /// Backend connections of the ledger role on the server now.
    fn ledger_backends(psql: &Psql) -> Option<u64> {
        psql.query("SELECT count(*) FROM pg_stat_activity WHERE usename = 'ledger'")
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Waits (up to 15 s) until the server has no ledger backend; returns how many are left.
    fn wait_no_backends(&self) -> u64 {
        let psql = self.pg.superuser_psql();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let n = Self::ledger_backends(&psql).unwrap_or(u64::MAX);
            if n == 0 || Instant::now() >= deadline {
                return n;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One pgbench run against `target` (`-n`: the tables were vacuumed by `-i`), measuring
    /// the proxy's CPU over it.
    fn pgbench(&self, target: Target, args: &[&str], seconds: u64) -> PgRun {
        let port = match self.port(target) {
            Ok(p) => p,
            Err(e) => return PgRun::failed(e),
        };
        let mut all = vec!["-n"];
        all.extend_from_slice(args);
        let cpu_before = self.proxy_cpu(target);
        let out = pgbench_with_timeout(port, &all, Duration::from_secs(seconds + 120));
        let cpu = match (cpu_before, self.proxy_cpu(target)) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        let out = match out {
            Ok(o) => o,
            Err(e) => return PgRun::failed(format!("pgbench: {e}")),
        };
        let aborted = pgbench_aborted(&out.stderr);
        let error = (!out.success() || aborted > 0).then(|| {
            let first = out
                .stderr
                .lines()
                .find(|l| l.contains("error") || l.contains("FATAL") || l.contains("ERROR"))
                .or_else(|| out.stderr.lines().next())
                .unwrap_or("")
                .trim()
                .to_string();
            format!("pgbench exited with {}: {first}", out.status)
        });
        let tps = pgbench_tps(&out.stdout);
        let error = error.or_else(|| {
            tps.is_none().then(|| {
                let tail: Vec<&str> = out.stdout.lines().rev().take(3).collect();
                format!(
                    "no tps in pgbench's output: {} / {}",
                    tail.join(" | "),
                    out.stderr.trim()
                )
            })
        });
        PgRun {
            tps,
            processed: pgbench_processed(&out.stdout).unwrap_or(0),
            failed: pgbench_failed(&out.stdout).unwrap_or(0),
            aborted,
            cpu,
            error,
            ..PgRun::default()
        }
    }
}

/// The outcome of one pgbench run.
#[derive(Default)]
struct PgRun {
    tps: Option<f64>,
    processed: u64,
    failed: u64,
    aborted: u64,
    /// CPU the proxy used during the run.
    cpu: Option<Cpu>,
    error: Option<String>,
    /// Not run (the reason is in `error`).
    skipped: bool,
    /// (average in the middle of the run, maximum) backend connections of the ledger role.
    backends: Option<(f64, u64)>,
}

impl PgRun {
    fn failed(error: String) -> PgRun {
        PgRun {
            error: Some(error),
            ..PgRun::default()
        }
    }

    fn skipped(reason: &str) -> PgRun {
        PgRun {
            error: Some(reason.to_string()),
            skipped: true,
            ..PgRun::default()
        }
    }

    /// A usable result: tps, no failed transaction, no aborted client, clean exit.
    fn ok(&self) -> bool {
        self.tps.is_some() && self.error.is_none() && self.failed == 0
    }

    /// Microseconds of the proxy's CPU (the part `pick` chooses) per transaction.
    fn cpu_per_txn(&self, pick: fn(&Cpu) -> f64) -> Option<f64> {
        let cpu = self.cpu.as_ref()?;
        (self.processed > 0).then(|| pick(cpu) * 1e6 / self.processed as f64)
    }

    fn line(&self, target: Target) -> String {
        let mut s = format!("  {:<9}", target.name());
        match self.tps {
            Some(tps) => s.push_str(&format!(
                " {tps:>9.0} tps, {} transactions, failed {}, aborted clients {}",
                self.processed, self.failed, self.aborted
            )),
            None => s.push_str("         - tps"),
        }
        if let (Some(cpu), true) = (self.cpu, self.processed > 0) {
            let per_txn = |seconds: f64| seconds * 1e6 / self.processed as f64;
            s.push_str(&format!(
                ", proxy CPU {:.1} us/txn (user {:.1} + system {:.1}; {:.1} s)",
                per_txn(cpu.user + cpu.system),
                per_txn(cpu.user),
                per_txn(cpu.system),
                cpu.user + cpu.system
            ));
        }
        if let Some((avg, max)) = self.backends {
            s.push_str(&format!(", backends avg {avg:.1} max {max}"));
        }
        if let Some(e) = &self.error {
            let what = if self.skipped { "skipped" } else { "error" };
            s.push_str(&format!("\n            {what}: {e}"));
        }
        s
    }
}

fn ratio(a: &PgRun, b: &PgRun) -> String {
    match (a.tps, b.tps) {
        (Some(x), Some(y)) if a.ok() && b.ok() && y > 0.0 => format!("{:.2}", x / y),
        _ => "-".into(),
    }
}

/// `load pgbench`: select-only pgbench, 64 clients, per query protocol, direct vs PgBouncer
/// vs sqlmux; `rounds` times, each round in another order, with medians when more than one.
fn pg_bench(seconds: u64, only: Option<&str>, rounds: usize) -> Res<()> {
    const CLIENTS: &str = "64";
    const PROTOCOLS: [&str; 3] = ["simple", "extended", "prepared"];
    if let Some(p) = only.filter(|p| !PROTOCOLS.contains(p)) {
        return Err(format!("unknown --protocol {p:?} (simple, extended, prepared)").into());
    }
    let setup = PgSetup::start(300, 10, 200)?;
    let secs = seconds.to_string();
    let mut failures = Vec::new();
    for (i, protocol) in PROTOCOLS.into_iter().enumerate() {
        if only.is_some_and(|p| p != protocol) {
            continue;
        }
        let args = ["-S", "-M", protocol, "-c", CLIENTS, "-j", "2", "-T", &secs];
        let mut all: Vec<[PgRun; 3]> = Vec::new();
        for round in 0..rounds.max(1) {
            let mut runs: [Option<PgRun>; 3] = [None, None, None];
            // Rotate the order per protocol and round so that no target always runs first
            // (cold caches) or last.
            for k in 0..3 {
                let t = (i + round + k) % 3;
                let target = Target::ALL[t];
                let run = if target == Target::PgBouncer
                    && protocol == "prepared"
                    && !pgbouncer::supports_prepared_statements()
                {
                    PgRun::skipped(
                        "this PgBouncer (< 1.21) has no prepared statements in transaction mode",
                    )
                } else {
                    setup.pgbench(target, &args, seconds)
                };
                runs[t] = Some(run);
            }
            let [Some(direct), Some(bouncer), Some(sqlmux)] = runs else {
                unreachable!("every target ran");
            };
            println!(
                "pgbench -S -M {protocol} -c {CLIENTS} -j 2 -T {seconds} (scale 10), round {}:",
                round + 1
            );
            for (target, run) in Target::ALL.iter().zip([&direct, &bouncer, &sqlmux]) {
                println!("{}", run.line(*target));
                if !run.ok() && !run.skipped {
                    failures.push(format!("{protocol}/{}", target.name()));
                }
            }
            println!(
                "  ratios: sqlmux/direct {}, pgbouncer/direct {}, sqlmux/pgbouncer {}",
                ratio(&sqlmux, &direct),
                ratio(&bouncer, &direct),
                ratio(&sqlmux, &bouncer)
            );
            all.push([direct, bouncer, sqlmux]);
        }
        if all.len() > 1 {
            print_medians(protocol, &all);
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("failed runs: {}", failures.join(", ")).into())
    }
}

/// The middle value (the mean of the two middle ones for an even count); `None` if empty.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => values.get(n / 2).copied(),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// Medians over the rounds of one protocol: each target's tps and CPU per transaction, and
/// the per-round sqlmux/PgBouncer ratios (paired within a round, so less noisy).
fn print_medians(protocol: &str, rounds: &[[PgRun; 3]]) {
    let fmt = |v: Option<f64>, digits: usize| match v {
        Some(x) => format!("{x:.digits$}"),
        None => "-".into(),
    };
    println!("  medians of {} rounds ({protocol}):", rounds.len());
    for (t, target) in Target::ALL.iter().enumerate() {
        let ok: Vec<&PgRun> = rounds.iter().map(|r| &r[t]).filter(|r| r.ok()).collect();
        let tps = median(ok.iter().filter_map(|r| r.tps).collect());
        let per_txn =
            |pick: fn(&Cpu) -> f64| median(ok.iter().filter_map(|r| r.cpu_per_txn(pick)).collect());
        let cpu = per_txn(|c| c.user + c.system);
        let mut line = format!("    {:<9} {:>9} tps", target.name(), fmt(tps, 0));
        if cpu.is_some() {
            line.push_str(&format!(
                ", proxy CPU {} us/txn (user {} + system {})",
                fmt(cpu, 1),
                fmt(per_txn(|c| c.user), 1),
                fmt(per_txn(|c| c.system), 1)
            ));
        }
        println!("{line}");
    }
    let paired = |f: fn(&PgRun) -> Option<f64>| {
        median(
            rounds
                .iter()
                .filter(|[_, b, s]| b.ok() && s.ok())
                .filter_map(|[_, b, s]| Some(f(s)? / f(b)?))
                .collect(),
        )
    };
    println!(
        "    sqlmux/pgbouncer: tps {}, CPU per transaction {}",
        fmt(paired(|r| r.tps), 2),
        fmt(paired(|r| r.cpu_per_txn(|c| c.user + c.system)), 2)
    );
}

/// `load pg-pool`: 500 select-only clients; how many backend connections each target needs.
fn pg_pool(seconds: u64) -> Res<()> {
    const CLIENTS: u32 = 500;
    let mut setup = PgSetup::start(600, 10, 600)?;
    let secs = seconds.to_string();
    let clients = CLIENTS.to_string();
    let args = ["-S", "-M", "simple", "-c", &clients, "-j", "2", "-T", &secs];
    println!("pg-pool: pgbench -S -M simple -c {CLIENTS} -j 2 -T {seconds} (scale 10):");
    let mut failures = Vec::new();
    for target in Target::ALL {
        let left = setup.wait_no_backends();
        if left > 0 {
            println!(
                "  (the server still has {left} ledger backends before the {} run)",
                target.name()
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = {
            let stop = stop.clone();
            let psql = setup.pg.superuser_psql().timeout(Duration::from_secs(5));
            std::thread::spawn(move || {
                let mut samples = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    if let Some(n) = PgSetup::ledger_backends(&psql) {
                        samples.push(n);
                    }
                    std::thread::sleep(
                        Duration::from_millis(200).saturating_sub(started.elapsed()),
                    );
                }
                samples
            })
        };
        let mut run = setup.pgbench(target, &args, seconds);
        stop.store(true, Ordering::Relaxed);
        let samples = sampler.join().map_err(|_| "sampler panicked")?;
        if !samples.is_empty() {
            // The middle of the run: not the connection ramp-up nor the disconnects.
            let (from, to) = (samples.len() / 5, samples.len() - samples.len() / 10);
            let middle = &samples[from..to.max(from + 1).min(samples.len())];
            let avg = middle.iter().sum::<u64>() as f64 / middle.len() as f64;
            run.backends = Some((avg, samples.iter().copied().max().unwrap_or(0)));
        }
        println!("{}", run.line(target));
        if let Some((avg, max)) = run.backends {
            println!(
                "            backend connections per client: avg {:.1}%, max {:.1}% of {CLIENTS}",
                avg * 100.0 / CLIENTS as f64,
                max as f64 * 100.0 / CLIENTS as f64
            );
        }
        if !run.ok() {
            failures.push(target.name());
        }
        if target == Target::PgBouncer {
            // Its idle server connections must not count in the next run.
            setup.bouncer = None;
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("failed runs: {}", failures.join(", ")).into())
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
    }
}
