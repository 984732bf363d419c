//! `load failover`: what applications see of a writer change, per scenario and protocol.
//!
//! Each run starts a fresh primary + replica (MariaDB, GTID replication) or primary + hot
//! standby (PostgreSQL), sqlmux in front with the monitor and the control API at their
//! defaults, and 100 clients with one connection each: 30 read-only (point SELECTs), 70
//! mixing 35% INSERTs with point SELECTs, 50 ms think time. After 3 s it plays the
//! scenario, then runs `--seconds` more (5 by default):
//!
//! - planned: `POST /v1/clusters/{name}/hold`, the old writer made read-only (MySQL) or
//!   stopped fast (PostgreSQL), the replica caught up and promoted, `PUT` of the new writer;
//! - frozen: the writer SIGSTOPped for 15 s (longer than the 10 s hold timeout), then
//!   SIGCONT; no topology change;
//! - killed: kill -9 of the writer (the whole process tree), the replica promoted and pushed
//!   with `PUT` 2 s later.
//!
//! It prints the failed statements by error, the longest pause of acknowledged writes (all
//! clients), the longest gap between two answers of any read-only client, the longest wait
//! of any statement, and how many acknowledged writes the final writer lacks: those acknowledged
//! up to 200 ms after the scenario began apart (asynchronous replication loses what the
//! replica had not received when the primary died: the database's doing, not the proxy's),
//! and those acknowledged later (which must be none).

use super::Rng;
use sqlmux_integration::faults::{kill_tree, process_tree, Frozen};
use sqlmux_integration::proxy::postgres_config;
use sqlmux_integration::raw_mysql::RawClient;
use sqlmux_integration::{mysql_config, with_control_api, MariaDbPair, PostgresPair, Proxy};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Clients in all, and how many of them only read.
const CLIENTS: usize = 100;
const READ_ONLY: usize = 30;
/// Share of a read-write client's statements that are INSERTs, in percent.
const WRITE_PERCENT: u64 = 35;
const THINK: Duration = Duration::from_millis(50);
const WARMUP: Duration = Duration::from_secs(3);
/// How long the writer stays frozen.
const FROZEN_FOR: Duration = Duration::from_secs(15);
/// How long after a kill the orchestrator pushes the promoted replica.
const PUSH_AFTER_KILL: Duration = Duration::from_secs(2);
/// The monitor (defaults but the login) and the control API.
const MONITOR: &str = "\n[monitor]\nuser = \"{user}\"\npassword = \"{password}\"\n{database}\n";

/// A writer change to play.
#[derive(Clone, Copy, Debug)]
enum Scenario {
    Planned,
    Frozen,
    Killed,
}

impl Scenario {
    const ALL: [Scenario; 3] = [Scenario::Planned, Scenario::Frozen, Scenario::Killed];

    fn name(self) -> &'static str {
        match self {
            Scenario::Planned => "planned",
            Scenario::Frozen => "frozen",
            Scenario::Killed => "killed",
        }
    }
}

/// Runs every scenario for the protocols asked (`mysql`, `postgres`, or both).
pub fn run(after: Duration, protocol: Option<&str>) -> Res<()> {
    let mysql = matches!(protocol, None | Some("mysql"));
    let postgres = matches!(protocol, None | Some("postgres") | Some("pg"));
    if !mysql && !postgres {
        return Err(format!("unknown --protocol {protocol:?} (mysql or postgres)").into());
    }
    println!(
        "load failover: {CLIENTS} clients ({READ_ONLY} read-only, the others {WRITE_PERCENT}% INSERTs), {} ms think time, {} s after each scenario",
        THINK.as_millis(),
        after.as_secs()
    );
    for scenario in Scenario::ALL {
        if mysql {
            report("mysql", scenario, mysql_run(scenario, after)?);
        }
        if postgres {
            report("postgres", scenario, pg_run(scenario, after)?);
        }
    }
    Ok(())
}

/// One statement a client ran: when, how long, and how it ended.
struct Event {
    end: Instant,
    took: Duration,
    write: bool,
    error: Option<String>,
}

/// What one client saw.
#[derive(Default)]
struct ClientLog {
    read_only: bool,
    events: Vec<Event>,
    acked: Vec<i64>,
}

/// A client connection of either protocol, blocking.
enum Conn {
    Mysql(RawClient),
    Pg(tokio::runtime::Runtime, tokio_postgres::Client),
}

impl Conn {
    fn connect(mysql: bool, port: u16) -> Result<Conn, String> {
        if mysql {
            let (c, _) = RawClient::login(port, "app", "apppw", Some("sqlmux_test"))
                .map_err(|e| e.to_string())?;
            return Ok(Conn::Mysql(c));
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let client = rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(
                &format!("host=127.0.0.1 port={port} user=ledger password=ledgerpw dbname=ledger connect_timeout=10"),
                tokio_postgres::NoTls,
            )
            .await
            .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            Ok::<_, String>(client)
        })?;
        Ok(Conn::Pg(rt, client))
    }

    /// Runs `sql`; `Err((error, connection lost))`.
    fn run(&mut self, sql: &str) -> Result<(), (String, bool)> {
        match self {
            Conn::Mysql(c) => match c.query(sql) {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err((format!("ERR {} {}", e.code, e.message), false)),
                Err(e) => Err((format!("connection: {e}"), true)),
            },
            Conn::Pg(rt, c) => {
                rt.block_on(c.batch_execute(sql))
                    .map_err(|e| match e.as_db_error() {
                        Some(d) => (format!("{} {}", d.code().code(), d.message()), false),
                        None => (format!("connection: {e}"), c.is_closed()),
                    })
            }
        }
    }
}

/// Client `n` until `stop`: its writes are `n * 10^9 + i`, its reads point SELECTs.
fn client(mysql: bool, port: u16, n: usize, stop: Arc<AtomicBool>) -> ClientLog {
    let mut log = ClientLog {
        read_only: n < READ_ONLY,
        ..Default::default()
    };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (n as u64 + 1));
    let mut conn = None;
    let mut i = 0i64;
    while !stop.load(Ordering::Relaxed) {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match Conn::connect(mysql, port) {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    log.events.push(Event {
                        end: Instant::now(),
                        took: Duration::ZERO,
                        write: false,
                        error: Some(format!("connect: {e}")),
                    });
                    std::thread::sleep(THINK);
                    continue;
                }
            },
        };
        let write = !log.read_only && rng.next() % 100 < WRITE_PERCENT;
        let id = n as i64 * 1_000_000_000 + i;
        let sql = if write {
            i += 1;
            format!("INSERT INTO w VALUES ({id})")
        } else {
            let probe = log
                .acked
                .get(rng.next() as usize % log.acked.len().max(1))
                .copied()
                .unwrap_or(0);
            format!("SELECT id FROM w WHERE id = {probe}")
        };
        let started = Instant::now();
        let result = c.run(&sql);
        let end = Instant::now();
        let error = match result {
            Ok(()) => {
                if write {
                    log.acked.push(id);
                }
                None
            }
            Err((e, lost)) => {
                if lost {
                    conn = None;
                }
                Some(e)
            }
        };
        log.events.push(Event {
            end,
            took: end - started,
            write,
            error,
        });
        std::thread::sleep(THINK);
    }
    log
}

/// Everything one scenario run measured.
struct Outcome {
    logs: Vec<ClientLog>,
    /// Acknowledged writes the final writer lacks: up to 200 ms after the scenario began,
    /// and later.
    missing_before: usize,
    missing_after: usize,
    /// How long the scenario's own steps took (the orchestrator's time).
    steps: Duration,
}

impl Outcome {
    /// The outcome of a run whose final writer holds `present`.
    fn of(logs: Vec<ClientLog>, present: &HashSet<i64>, began: Instant, steps: Duration) -> Self {
        let (missing_before, missing_after) = missing(&logs, present, began);
        Outcome {
            logs,
            missing_before,
            missing_after,
            steps,
        }
    }
}

/// Starts the clients, plays `scenario` after the warm-up (returning when its steps are
/// done), runs `after` more, stops, and returns the logs with when the scenario began.
fn drive(
    mysql: bool,
    port: u16,
    after: Duration,
    scenario: impl FnOnce() -> Res<()>,
) -> Res<(Vec<ClientLog>, Instant, Duration)> {
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let stop = stop.clone();
            std::thread::spawn(move || client(mysql, port, n, stop))
        })
        .collect();
    std::thread::sleep(WARMUP);
    let began = Instant::now();
    let played = scenario();
    let steps = began.elapsed();
    std::thread::sleep(after);
    stop.store(true, Ordering::Relaxed);
    let logs: Vec<ClientLog> = clients
        .into_iter()
        .map(|c| c.join().unwrap_or_default())
        .collect();
    played?;
    Ok((logs, began, steps))
}

/// A reply already on its way when the scenario began may still arrive this long after.
const IN_FLIGHT: Duration = Duration::from_millis(200);

/// Which acknowledged writes `present` lacks: acknowledged up to [`IN_FLIGHT`] after `began`
/// (a kill loses what the replica had not received yet), and later (the proxy's doing).
fn missing(logs: &[ClientLog], present: &HashSet<i64>, began: Instant) -> (usize, usize) {
    let began = began + IN_FLIGHT;
    let mut out = (0, 0);
    for log in logs {
        let acked_at = log
            .events
            .iter()
            .filter(|e| e.write && e.error.is_none())
            .map(|e| e.end);
        for (id, at) in log.acked.iter().zip(acked_at) {
            if !present.contains(id) {
                if at < began {
                    out.0 += 1;
                } else {
                    out.1 += 1;
                }
            }
        }
    }
    out
}

/// The ids in a one-column text output.
fn ids(text: &str) -> HashSet<i64> {
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

fn mysql_run(scenario: Scenario, after: Duration) -> Res<Outcome> {
    let pair = MariaDbPair::start()?;
    pair.primary
        .root_sql("CREATE TABLE sqlmux_test.w (id BIGINT PRIMARY KEY)")?;
    pair.wait_replica_caught_up()?;
    let (primary, replica) = (pair.primary.addr(), pair.replica.addr());
    let monitor = monitor("app", "apppw", "");
    let extra = format!("\n[[servers]]\nhostgroup = 20\naddress = \"{replica}\"\n{monitor}");
    let proxy = Proxy::start(&with_control_api(&mysql_config(&primary, &extra)))?;
    let promote = || -> Res<()> {
        pair.replica
            .root_sql("STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0")?;
        succeeded(
            "PUT /v1/topology",
            proxy.put_servers(&[(10, &replica), (20, &replica)])?,
        )
    };
    let pid = pair.primary.pid();
    let (logs, began, steps) = drive(true, proxy.mysql_port(), after, || match scenario {
        Scenario::Planned => {
            hold(&proxy, "shop")?;
            pair.primary.root_sql("SET GLOBAL read_only = 1")?;
            pair.wait_replica_caught_up()?;
            promote()
        }
        _ => unplanned(scenario, pid, || vec![pid], promote),
    })?;
    let last = writer_after(scenario, &pair.primary, &pair.replica);
    let present = ids(&last.root_sql("SELECT id FROM sqlmux_test.w")?);
    Ok(Outcome::of(logs, &present, began, steps))
}

fn pg_run(scenario: Scenario, after: Duration) -> Res<Outcome> {
    let mut pair = PostgresPair::start()?;
    pair.primary
        .ledger_psql()
        .query("CREATE TABLE w (id bigint PRIMARY KEY)")?;
    pair.wait_standby_caught_up()?;
    let (primary, standby) = (pair.primary.addr(), pair.standby.addr());
    let monitor = monitor("ledger", "ledgerpw", "database = \"ledger\"");
    let proxy = Proxy::start(&with_control_api(&postgres_config(
        &primary,
        Some(&standby),
        &monitor,
    )))?;
    let promote = |pair: &PostgresPair| -> Res<()> {
        pair.standby.sql("SELECT pg_promote()")?;
        succeeded(
            "PUT /v1/topology",
            proxy.put_servers(&[(30, &standby), (40, &standby)])?,
        )
    };
    let pid = pair.primary.pid();
    let (logs, began, steps) = drive(false, proxy.postgres_port(), after, || match scenario {
        Scenario::Planned => {
            hold(&proxy, "ledger")?;
            // A fast shutdown sends the standby everything before it ends.
            pair.primary.stop();
            promote(&pair)
        }
        // (The process tree when frozen: the backends of the clients' connections too.)
        _ => unplanned(scenario, pid, || process_tree(pid), || promote(&pair)),
    })?;
    let last = writer_after(scenario, &pair.primary, &pair.standby);
    let present = ids(&last.ledger_psql().query("SELECT id FROM w")?);
    Ok(Outcome::of(logs, &present, began, steps))
}

/// The `[monitor]` section logging in as `user`/`password`, with the `database` line given.
fn monitor(user: &str, password: &str, database: &str) -> String {
    MONITOR
        .replace("{user}", user)
        .replace("{password}", password)
        .replace("{database}", database)
}

/// The faults of `scenario` other than a planned switch, on the primary whose process is
/// `pid`: frozen (the processes `frozen` names) for [`FROZEN_FOR`], or killed (its whole
/// tree) and `promote` run [`PUSH_AFTER_KILL`] later.
fn unplanned(
    scenario: Scenario,
    pid: u32,
    frozen: impl FnOnce() -> Vec<u32>,
    promote: impl FnOnce() -> Res<()>,
) -> Res<()> {
    match scenario {
        Scenario::Frozen => {
            let frozen = Frozen::freeze(frozen())?;
            std::thread::sleep(FROZEN_FOR);
            frozen.thaw();
            Ok(())
        }
        Scenario::Killed => {
            kill_tree(pid)?;
            std::thread::sleep(PUSH_AFTER_KILL);
            promote()
        }
        Scenario::Planned => unreachable!("a planned switch is the orchestrator's own"),
    }
}

/// The writer once `scenario` is over: the primary after a freeze, else the promoted one.
fn writer_after<'a, T>(scenario: Scenario, primary: &'a T, promoted: &'a T) -> &'a T {
    match scenario {
        Scenario::Frozen => primary,
        Scenario::Planned | Scenario::Killed => promoted,
    }
}

/// The orchestrator's hold of `cluster` (drain up to 5 s).
fn hold(proxy: &Proxy, cluster: &str) -> Res<()> {
    let answer = proxy.http(
        "POST",
        &format!("/v1/clusters/{cluster}/hold"),
        Some(r#"{"drain_timeout_ms": 5000}"#),
    )?;
    succeeded("hold", answer)
}

/// A control API answer: 200, else the error naming `what`.
fn succeeded(what: &str, (status, body): (u16, String)) -> Res<()> {
    if status == 200 {
        Ok(())
    } else {
        Err(format!("{what}: {status} {body}").into())
    }
}

/// An error message with its numbers taken out, so that errors of one kind count together;
/// its code (`ERR 2013`, SQLSTATE `08006`) stays.
fn kind_of(error: &str) -> String {
    let words = if error.starts_with("ERR ") { 2 } else { 1 };
    let mut parts = error.splitn(words + 1, ' ');
    let code: Vec<&str> = parts.by_ref().take(words).collect();
    let mut out = code.join(" ");
    if let Some(rest) = parts.next() {
        out.push(' ');
        let mut last_was_digit = false;
        for c in rest.chars() {
            let digit = c.is_ascii_digit();
            if !digit {
                out.push(c);
            } else if !last_was_digit {
                out.push('#');
            }
            last_was_digit = digit;
        }
    }
    out
}

/// The longest time between two consecutive instants (sorted here).
fn longest_gap(mut times: Vec<Instant>) -> Duration {
    times.sort();
    times
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default()
}

fn report(protocol: &str, scenario: Scenario, o: Outcome) {
    let events = || o.logs.iter().flat_map(|l| l.events.iter());
    let statements = events().count();
    let failed = events().filter(|e| e.error.is_some()).count();
    let acked = o.logs.iter().map(|l| l.acked.len()).sum::<usize>();
    let write_pause = longest_gap(
        events()
            .filter(|e| e.write && e.error.is_none())
            .map(|e| e.end)
            .collect(),
    );
    let read_gap = o
        .logs
        .iter()
        .filter(|l| l.read_only)
        .map(|l| {
            longest_gap(
                l.events
                    .iter()
                    .filter(|e| e.error.is_none())
                    .map(|e| e.end)
                    .collect(),
            )
        })
        .max()
        .unwrap_or_default();
    let longest_wait = events().map(|e| e.took).max().unwrap_or_default();
    let read_only_failed = o
        .logs
        .iter()
        .filter(|l| l.read_only)
        .flat_map(|l| l.events.iter())
        .filter(|e| e.error.is_some())
        .count();
    println!(
        "{protocol:8} {:8} steps {:>6} ms | {statements:>6} statements, {acked:>5} writes acked, {failed:>4} failed ({read_only_failed} of read-only clients) | longest write pause {:>6} ms, read-only gap {:>6} ms, longest wait {:>6} ms | acked writes missing on the final writer: {} acked later than 200 ms after the scenario began, {} before",
        scenario.name(),
        o.steps.as_millis(),
        write_pause.as_millis(),
        read_gap.as_millis(),
        longest_wait.as_millis(),
        o.missing_after,
        o.missing_before,
    );
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for e in events() {
        if let Some(error) = &e.error {
            *by_kind.entry(kind_of(error)).or_default() += 1;
        }
    }
    for (kind, n) in by_kind {
        println!("{:19} {n:>5} x {kind}", "");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_of_one_kind_count_together() {
        assert_eq!(
            kind_of("ERR 9003 cluster shop had no usable writer for 10000 ms"),
            "ERR 9003 cluster shop had no usable writer for # ms"
        );
        assert_eq!(kind_of("08006 lost after 12 ms"), "08006 lost after # ms");
    }

    #[test]
    fn the_longest_gap_is_between_neighbours_in_time() {
        let t = Instant::now();
        let at = |ms| t + Duration::from_millis(ms);
        assert_eq!(
            longest_gap(vec![at(50), at(0), at(400), at(100)]),
            Duration::from_millis(300)
        );
        assert_eq!(longest_gap(vec![at(5)]), Duration::ZERO);
    }
}
