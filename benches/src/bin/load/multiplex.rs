//! `load multiplex`: 200 mostly idle clients (80-120 ms think time), 40% INSERTs (70% of them
//! followed by `SELECT LAST_INSERT_ID() AS id`, checked against the OK packet) and 60% point
//! SELECTs, reads to a replica. Prints QPS, errors, LAST_INSERT_ID mismatches, the p50 / p99 /
//! max statement time, and the backend connections on the writer and the reader (idle ones
//! included, sampled every 500 ms) per client connection.

use super::{Res, Rng};
use sqlmux_integration::raw_mysql::RawClient;
use sqlmux_integration::{MariaDb, MariaDbPair, Proxy};
use sqlmux_protocol::mysql::response::parse_ok;
use std::time::{Duration, Instant};

/// Client connections.
const CLIENTS: usize = 200;

/// What one client saw.
#[derive(Default)]
struct Counts {
    statements: u64,
    errors: u64,
    mismatches: u64,
    checks: u64,
    /// Each statement's time, in microseconds.
    times_us: Vec<u32>,
}

impl Counts {
    /// Runs one statement, timing it; None on any error (counted).
    fn timed(&mut self, c: &mut RawClient, sql: &str) -> Option<Vec<Vec<u8>>> {
        self.statements += 1;
        let started = Instant::now();
        let answer = c.query(sql);
        let us = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
        self.times_us.push(us);
        match answer {
            Ok(Ok(packets)) => Some(packets),
            _ => {
                self.errors += 1;
                None
            }
        }
    }

    fn add(&mut self, other: Counts) {
        self.statements += other.statements;
        self.errors += other.errors;
        self.mismatches += other.mismatches;
        self.checks += other.checks;
        self.times_us.extend(other.times_us);
    }
}

/// One client until `deadline`.
fn client(i: usize, port: u16, deadline: Instant) -> Counts {
    let mut counts = Counts::default();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((i as u64 + 1) * 0x1000_0001));
    let Ok((mut c, _)) = RawClient::login(port, "app", "apppw", Some("sqlmux_test")) else {
        counts.errors += 1;
        return counts;
    };
    std::thread::sleep(Duration::from_millis(rng.next() % 100));
    while Instant::now() < deadline {
        if rng.next() % 100 < 40 {
            let Some(ok) = counts.timed(&mut c, "INSERT INTO mux (v) VALUES ('x')") else {
                continue;
            };
            let id = ok
                .first()
                .and_then(|p| parse_ok(p))
                .map(|o| o.last_insert_id);
            if rng.next() % 10 < 7 {
                counts.checks += 1;
                if let Some(rows) = counts.timed(&mut c, "SELECT LAST_INSERT_ID() AS id") {
                    let got = rows
                        .get(2)
                        .and_then(|r| sqlmux_protocol::mysql::lenenc::read_str(r))
                        .and_then(|(v, _)| std::str::from_utf8(v).ok()?.parse::<u64>().ok());
                    if got != id {
                        counts.mismatches += 1;
                    }
                }
            }
        } else {
            let id = rng.next() % 1000 + 1;
            counts.timed(&mut c, &format!("SELECT v FROM mux WHERE id = {id}"));
        }
        std::thread::sleep(Duration::from_millis(80 + rng.next() % 40));
    }
    counts
}

/// Backend connections of user `app` on (writer, reader), every 500 ms until `deadline`.
fn sample_backends(pair: &MariaDbPair, deadline: Instant) -> Res<Vec<(u64, u64)>> {
    let count = |db: &MariaDb| -> Res<u64> {
        Ok(db
            .root_sql("SELECT COUNT(*) FROM information_schema.processlist WHERE user = 'app'")?
            .trim()
            .parse()
            .unwrap_or(0))
    };
    let mut samples = Vec::new();
    std::thread::sleep(Duration::from_secs(2));
    while Instant::now() < deadline {
        samples.push((count(&pair.primary)?, count(&pair.replica)?));
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(samples)
}

/// The value at `q` (0..=1) of sorted `times`, in ms.
fn quantile_ms(times: &[u32], q: f64) -> f64 {
    let at = ((times.len() as f64 - 1.0) * q).round() as usize;
    times.get(at).copied().unwrap_or(0) as f64 / 1000.0
}

/// Runs the load for `seconds` and prints what it saw.
pub(crate) fn run(pair: &MariaDbPair, proxy: &Proxy, seconds: u64) -> Res<()> {
    pair.primary.root_sql("CREATE TABLE IF NOT EXISTS sqlmux_test.mux (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(32)); INSERT INTO sqlmux_test.mux (v) VALUES ('seed')")?;
    pair.wait_replica_caught_up()?;
    let port = proxy.mysql_port();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let handles: Vec<_> = (0..CLIENTS)
        .map(|i| std::thread::spawn(move || client(i, port, deadline)))
        .collect();
    let samples = sample_backends(pair, deadline)?;
    let mut total = Counts::default();
    for h in handles {
        total.add(h.join().map_err(|_| "client thread panicked")?);
    }
    let elapsed = started.elapsed().as_secs_f64();
    total.times_us.sort_unstable();
    let n = samples.len().max(1) as f64;
    let avg_of = |f: fn(&(u64, u64)) -> u64| samples.iter().map(f).sum::<u64>() as f64 / n;
    let (writer_avg, reader_avg) = (avg_of(|s| s.0), avg_of(|s| s.1));
    let max = samples.iter().map(|s| s.0 + s.1).max().unwrap_or(0);
    let avg = writer_avg + reader_avg;
    println!(
        "multiplex: {CLIENTS} clients, {:.0} qps, {} errors, {} mismatches of {} LAST_INSERT_ID checks",
        total.statements as f64 / elapsed,
        total.errors,
        total.mismatches,
        total.checks
    );
    println!(
        "multiplex: statement time p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        quantile_ms(&total.times_us, 0.5),
        quantile_ms(&total.times_us, 0.99),
        quantile_ms(&total.times_us, 1.0)
    );
    println!(
        "multiplex: backend connections avg {avg:.1} (writer {writer_avg:.1}, reader {reader_avg:.1}), max {max} = {:.1}% / {:.1}% of client connections",
        avg * 100.0 / CLIENTS as f64,
        max as f64 * 100.0 / CLIENTS as f64
    );
    Ok(())
}
