//! sqlmux following a real Patroni cluster through a real etcd: a `patronictl switchover`
//! under load costs no statement and every sqlmux instance follows it; a leader killed with
//! kill -9 costs only the statements in flight (writes wait until Patroni promotes); etcd
//! stopped and restarted leaves traffic on the last topology, then sqlmux follows again.

mod support;

use serde_json::Value;
use sqlmux_integration::etcd::Etcd;
use sqlmux_integration::patroni::{PatroniCluster, PatroniNode, TTL_SECONDS};
use sqlmux_integration::Proxy;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A proxy whose cluster `ledger` follows the Patroni cluster `scope` in `etcd`.
fn proxy(etcd: &Etcd, scope: &str, hold_timeout_ms: u64) -> Proxy {
    let source = format!("etcd = [\"{}\"], scope = \"{scope}\"", etcd.endpoint());
    proxy_following(&source, hold_timeout_ms)
}

/// A proxy whose cluster `ledger` has `patroni = { <source> }`.
fn proxy_following(source: &str, hold_timeout_ms: u64) -> Proxy {
    Proxy::start(&format!(
        r#"
[listen]
postgres = "127.0.0.1:0"
http = "127.0.0.1:0"

[[clusters]]
name = "ledger"
protocol = "postgres"
writer_hostgroup = 30
reader_hostgroup = 40
patroni = {{ {source} }}

[[users]]
name = "ledger"
password = "ledgerpw"
cluster = "ledger"

[failover]
hold_timeout_ms = {hold_timeout_ms}
"#
    ))
    .unwrap()
}

/// The cluster's source as `GET /v1/topology` shows it.
fn source(proxy: &Proxy) -> Value {
    let (_, body) = proxy.http("GET", "/v1/topology", None).unwrap();
    let doc: Value = serde_json::from_str(&body).unwrap();
    doc["sources"][0].clone()
}

/// Waits until the proxy's source is connected and names `writer`.
fn wait_writer(proxy: &Proxy, writer: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = source(proxy);
        if s["connected"] == true && s["writer"] == writer {
            return;
        }
        assert!(Instant::now() < deadline, "never followed {writer}: {s}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One acknowledged insert: its id, the port of the server that ran it, when it was acked.
#[derive(Debug, Clone, Copy)]
struct Ack {
    id: i64,
    port: i32,
    at: Instant,
}

/// What a proxy's clients saw.
#[derive(Debug, Default)]
struct Seen {
    acks: Vec<Ack>,
    reads: u64,
    errors: Vec<String>,
    longest: Duration,
}

impl Seen {
    /// The first write acked by the server on `port`.
    fn first_on(&self, port: u16) -> Option<Instant> {
        self.acks
            .iter()
            .filter(|a| a.port == i32::from(port))
            .map(|a| a.at)
            .min()
    }
}

/// `writers` clients inserting (each insert says which server ran it) and `readers` clients
/// reading, through the proxy on `port`, until `stop`; `base` keeps ids apart per proxy.
/// Returns once every client is connected and has prepared its insert (so a fault that
/// follows meets running statements, not logins).
fn load(
    port: u16,
    base: i64,
    writers: i64,
    readers: i64,
    stop: &Arc<AtomicBool>,
) -> std::thread::JoinHandle<Seen> {
    let stop = stop.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let handle = std::thread::spawn(move || {
        support::runtime().block_on(async move {
            let mut tasks = tokio::task::JoinSet::new();
            for n in 0..writers + readers {
                let stop = stop.clone();
                let write = n < writers;
                let ready = ready_tx.clone();
                tasks.spawn(async move {
                    let c = support::connect(port).await;
                    let insert = c
                        .prepare("INSERT INTO w VALUES ($1, inet_server_port()) RETURNING port")
                        .await
                        .unwrap();
                    let _ = ready.send(());
                    let mut seen = Seen::default();
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let id = (base + n) * 1_000_000 + i;
                        i += 1;
                        let started = Instant::now();
                        let result = if write {
                            c.query_one(&insert, &[&id]).await.map(|row| {
                                let port: i32 = row.get(0);
                                seen.acks.push(Ack {
                                    id,
                                    port,
                                    at: Instant::now(),
                                })
                            })
                        } else {
                            c.query_one("SELECT count(*) FROM w", &[])
                                .await
                                .map(|_| seen.reads += 1)
                        };
                        seen.longest = seen.longest.max(started.elapsed());
                        if let Err(e) = result {
                            seen.errors.push(match e.as_db_error() {
                                Some(d) => format!("{} {}", d.code().code(), d.message()),
                                None => e.to_string(),
                            });
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    seen
                });
            }
            let mut all = Seen::default();
            while let Some(seen) = tasks.join_next().await {
                let seen = seen.unwrap();
                all.acks.extend(seen.acks);
                all.reads += seen.reads;
                all.errors.extend(seen.errors);
                all.longest = all.longest.max(seen.longest);
            }
            all
        })
    });
    for _ in 0..writers + readers {
        ready_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("every load client connected");
    }
    handle
}

/// The ids in table `w` on the node reached by `psql`.
fn ids_on(psql: &sqlmux_integration::Psql) -> HashSet<i64> {
    psql.query("SELECT id FROM w")
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// A Patroni cluster of `size` nodes with the table `w`, and the etcd it keeps its state in.
fn cluster(scope: &str, size: usize) -> (Etcd, PatroniCluster) {
    let etcd = Etcd::start().unwrap();
    let cluster = PatroniCluster::start(&etcd, scope, size).unwrap();
    cluster
        .leader()
        .unwrap()
        .ledger_psql()
        .query("CREATE TABLE w (id bigint PRIMARY KEY, port int)")
        .unwrap();
    (etcd, cluster)
}

/// What one proxy's load saw across a switchover: no client error, reads ran, and no write
/// ran on the old leader after one ran on the new or after the leader key changed; how long
/// after that change its first write on the new leader ran.
fn followed(i: usize, s: &Seen, changed: Instant, old_port: u16, new_port: u16) -> Duration {
    assert!(
        s.errors.is_empty(),
        "proxy {i}: client errors {:?}",
        s.errors
    );
    assert!(s.reads > 0, "proxy {i}: reads ran");
    let first_new = s.first_on(new_port).expect("writes ran on the new leader");
    // No write reached the old leader once this instance wrote to the new one.
    let last_old = s.first_on(old_port).and(
        s.acks
            .iter()
            .filter(|a| a.port == i32::from(old_port))
            .map(|a| a.at)
            .max(),
    );
    assert!(
        last_old.is_none_or(|at| at < first_new),
        "proxy {i}: a write ran on the old leader after one ran on the new"
    );
    assert!(
        last_old.is_none_or(|at| at < changed),
        "proxy {i}: a write ran on the old leader after the leader key changed"
    );
    eprintln!(
        "proxy {i}: leader key change -> first write on the new leader {:?}; longest statement {:?}; {} writes, {} reads",
        first_new.saturating_duration_since(changed),
        s.longest,
        s.acks.len(),
        s.reads
    );
    first_new.saturating_duration_since(changed)
}

#[test]
fn a_switchover_under_load_costs_no_statement_and_every_instance_follows_it() {
    let (etcd, cluster) = cluster("switch", 2);
    let old = cluster.leader().unwrap();
    let new = cluster.nodes.iter().find(|n| n.name != old.name).unwrap();
    let proxies: Vec<Proxy> = (0..3).map(|_| proxy(&etcd, "switch", 20_000)).collect();
    // A fourth follows Patroni's REST API instead (polled every 200 ms).
    let rest: Vec<String> = cluster
        .nodes
        .iter()
        .map(|n| format!("\"http://127.0.0.1:{}\"", n.rest_port))
        .collect();
    let polling = proxy_following(
        &format!(
            "rest = [{}], scope = \"switch\", interval_ms = 200",
            rest.join(", ")
        ),
        20_000,
    );
    for p in proxies.iter().chain([&polling]) {
        wait_writer(p, &old.addr());
    }
    let leader_key = etcd.watch(&cluster.leader_key()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let loads: Vec<_> = proxies
        .iter()
        .enumerate()
        .map(|(i, p)| load(p.postgres_port(), i as i64 * 100, 8, 4, &stop))
        .collect();
    let polled = load(polling.postgres_port(), 900, 8, 4, &stop);
    std::thread::sleep(Duration::from_millis(1000));
    let asked = Instant::now();
    cluster.switchover(&new.name).unwrap();
    for p in proxies.iter().chain([&polling]) {
        wait_writer(p, &new.addr());
    }
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<Seen> = loads.into_iter().map(|l| l.join().unwrap()).collect();
    let polled = polled.join().unwrap();
    let changed = std::iter::from_fn(|| leader_key.events.try_recv().ok())
        .find(|(_, value)| value.as_deref() == Some(new.name.as_str()))
        .map(|(at, _)| at)
        .expect("the leader key named the new leader");

    let (old_port, new_port) = (old.pg_port, new.pg_port);
    let firsts: Vec<Duration> = seen
        .iter()
        .enumerate()
        .map(|(i, s)| followed(i, s, changed, old_port, new_port))
        .collect();
    for (i, f) in firsts.iter().enumerate() {
        assert!(
            *f < Duration::from_secs(1),
            "proxy {i} wrote to the new leader {f:?} after the leader key changed"
        );
    }
    let spread = firsts
        .iter()
        .max()
        .unwrap()
        .saturating_sub(*firsts.iter().min().unwrap());
    eprintln!(
        "switchover: asked -> leader key {:?}; spread between instances {spread:?}",
        changed.saturating_duration_since(asked)
    );
    // Polling sees no switch coming: statements sent to the old leader while it demotes
    // fail (in flight, or refused as read-only: never run), then it follows.
    assert!(
        polled
            .errors
            .iter()
            .all(|e| in_flight(e) || e.starts_with("25006")),
        "REST source: {:?}",
        polled.errors
    );
    let first_polled = polled
        .first_on(new_port)
        .expect("REST source: writes on the new leader");
    assert!(
        polled
            .acks
            .iter()
            .all(|a| a.port != i32::from(old_port) || a.at < first_polled),
        "REST source: a write ran on the old leader after one ran on the new"
    );
    eprintln!(
        "REST source (200 ms polls): {} client errors, first write on the new leader {:?} after the leader key changed",
        polled.errors.len(),
        first_polled.saturating_duration_since(changed)
    );
    // Nothing acknowledged was lost: the old leader stopped cleanly, its WAL streamed.
    let present = ids_on(&new.ledger_psql());
    let lost: Vec<i64> = seen
        .iter()
        .chain([&polled])
        .flat_map(|s| s.acks.iter().map(|a| a.id))
        .filter(|id| !present.contains(id))
        .collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
}

/// Whether an error is what a statement in flight on a dead server gets: it may or may not
/// have run, so it is never re-sent.
fn in_flight(error: &str) -> bool {
    error.starts_with("08006") || error.starts_with("57P01") || error.contains("may or may not")
}

/// Waits (60 s at most) until Patroni restarted `node`'s PostgreSQL in place of the
/// postmaster `postmaster` and it takes writes again.
fn wait_restarted(node: &PatroniNode, postmaster: u32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while node.postmaster_pid().is_none_or(|pid| pid == postmaster)
        || node
            .ledger_psql()
            .query("SELECT pg_is_in_recovery()")
            .map_or(true, |r| r.trim() != "f")
    {
        assert!(
            Instant::now() < deadline,
            "Patroni never restarted PostgreSQL"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_leader_killed_costs_only_the_statements_in_flight() {
    let (etcd, mut cluster) = cluster("killed", 2);
    let old = cluster.leader().unwrap().name.clone();
    let (old_addr, old_port) = (cluster.node(&old).addr(), cluster.node(&old).pg_port);
    let new = cluster.nodes.iter().find(|n| n.name != old).unwrap();
    let (new_addr, new_port, new_psql) = (new.addr(), new.pg_port, new.ledger_psql());
    // Writes wait longer than the dead leader's key takes to expire.
    let proxy = proxy(&etcd, "killed", (TTL_SECONDS + 15) * 1000);
    wait_writer(&proxy, &old_addr);
    let writers = 8;
    let stop = Arc::new(AtomicBool::new(false));
    let load = load(proxy.postgres_port(), 0, writers, 4, &stop);
    std::thread::sleep(Duration::from_millis(1000));
    // First only the leader's postmaster dies: Patroni, still holding the leader key,
    // restarts it in place (crash recovery); writes wait for it.
    let postmaster = cluster.node(&old).postmaster_pid().unwrap();
    let crashed = Instant::now();
    sqlmux_integration::faults::kill_tree(postmaster).unwrap();
    wait_restarted(cluster.node(&old), postmaster);
    let restarted = crashed.elapsed();
    wait_writer(&proxy, &old_addr);
    std::thread::sleep(Duration::from_millis(1000));
    let resumed = Instant::now();
    std::thread::sleep(Duration::from_millis(500));
    // Then the whole node dies (Patroni too): its leader key expires after the TTL and the
    // replica is promoted.
    let killed = Instant::now();
    cluster.node_mut(&old).kill().unwrap();
    wait_writer(&proxy, &new_addr);
    let followed = killed.elapsed();
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let seen = load.join().unwrap();
    assert!(
        seen.errors.iter().all(|e| in_flight(e)),
        "only statements in flight fail: {:?}",
        seen.errors
    );
    assert!(
        seen.errors.len() <= 2 * writers as usize,
        "at most one in-flight statement per writing client and kill: {:?}",
        seen.errors
    );
    // The first write after the crash that was not in flight then.
    let back_after = seen
        .acks
        .iter()
        .filter(|a| a.at > crashed + Duration::from_millis(200) && a.at < killed)
        .map(|a| a.at.duration_since(crashed))
        .min();
    assert!(
        seen.acks
            .iter()
            .any(|a| a.port == i32::from(old_port) && a.at > resumed && a.at < killed),
        "writes ran again on the restarted leader"
    );
    let first_new = seen
        .first_on(new_port)
        .expect("writes ran on the new leader");
    let last_old = seen
        .acks
        .iter()
        .filter(|a| a.port == i32::from(old_port))
        .map(|a| a.at)
        .max();
    // (A write the old leader ran just before it died may be acked a moment after the kill.)
    assert!(
        last_old.is_none_or(|at| at < first_new),
        "no write reached the old leader once one ran on the new leader"
    );
    let present = ids_on(&new_psql);
    let after_kill = seen.acks.iter().filter(|a| a.at > killed).count();
    let lost = |port: u16| {
        seen.acks
            .iter()
            .filter(|a| a.port == i32::from(port) && !present.contains(&a.id))
            .count()
    };
    assert_eq!(lost(new_port), 0, "what the new leader acked stays");
    let lost = lost(old_port);
    eprintln!(
        "leader's postmaster killed: Patroni restarted it in {restarted:?}, writes back after {back_after:?}"
    );
    eprintln!(
        "leader killed: followed after {followed:?}, first write on the new leader {:?} after the kill, \
         {} errors (in flight), longest statement {:?}, {after_kill} writes after the kill, \
         {lost} writes the old leader acked missing (asynchronous replication)",
        first_new.saturating_duration_since(killed),
        seen.errors.len(),
        seen.longest
    );
}

#[test]
fn etcd_stopped_and_restarted_leaves_the_last_topology_then_is_followed_again() {
    let (mut etcd, cluster) = cluster("outage", 2);
    let old = cluster.leader().unwrap();
    let new = cluster.nodes.iter().find(|n| n.name != old.name).unwrap();
    let proxy = proxy(&etcd, "outage", 20_000);
    wait_writer(&proxy, &old.addr());
    let stop = Arc::new(AtomicBool::new(false));
    let load = load(proxy.postgres_port(), 0, 6, 3, &stop);
    std::thread::sleep(Duration::from_millis(500));
    // Shorter than Patroni's retry_timeout: Patroni itself keeps its primary.
    etcd.stop();
    let deadline = Instant::now() + Duration::from_secs(10);
    while source(&proxy)["connected"] == true {
        assert!(Instant::now() < deadline, "the outage was never noticed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, ready) = proxy.http("GET", "/readyz", None).unwrap();
    assert!(
        ready.contains("sources_unreachable") && ready.contains("\"ledger\""),
        "{status} {ready}"
    );
    let (_, metrics) = proxy.http("GET", "/metrics", None).unwrap();
    assert!(
        metrics.contains("sqlmux_topology_source_up{cluster=\"ledger\"} 0"),
        "{metrics}"
    );
    assert_eq!(
        source(&proxy)["writer"],
        old.addr(),
        "the last topology stays"
    );
    std::thread::sleep(Duration::from_millis(1000));
    etcd.restart().unwrap();
    wait_writer(&proxy, &old.addr());
    // Changes are followed again.
    cluster.switchover(&new.name).unwrap();
    wait_writer(&proxy, &new.addr());
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, Ordering::Relaxed);
    let seen = load.join().unwrap();
    // The point here is following etcd again; a statement still running on the old leader
    // when Patroni demotes it (Patroni does not wait for sqlmux) may fail, as in flight.
    assert!(
        seen.errors.iter().all(|e| in_flight(e)) && seen.errors.len() <= 6,
        "client errors: {:?}",
        seen.errors
    );
    assert!(
        seen.first_on(new.pg_port).is_some(),
        "writes went on on the new leader"
    );
    eprintln!(
        "etcd outage: {} writes, {} reads, longest statement {:?}",
        seen.acks.len(),
        seen.reads,
        seen.longest
    );
}
