use super::wait::Waiter;
use super::*;
use crate::test_fixtures::ONE_CLUSTER;
use crate::workers::Rehome;

mod waiters;

const W0: WorkerId = WorkerId(0);

impl Pooled for u32 {
    fn peer_closed(&self) -> bool {
        false
    }

    fn socket(&self) -> Option<crate::workers::CutHandle> {
        None
    }
}

impl Rehome for u32 {
    fn rehome(self: Box<Self>) -> std::io::Result<Box<Self>> {
        Ok(self)
    }
}

fn settings(wait_ms: u64) -> PoolSettings {
    PoolSettings {
        wait_timeout: Duration::from_millis(wait_ms),
        ..PoolSettings::default()
    }
}

fn part(user: &str) -> Arc<Partition> {
    Arc::new(Partition::new(Arc::from(user), Arc::from("db"), 0))
}

async fn ok(n: u32) -> Result<u32, String> {
    Ok(n)
}

#[tokio::test]
async fn reuses_a_returned_connection() {
    let pools: Pools<u32> = Pools::default();
    let server = pools.server(&Arc::from("s:1"), 2);
    let mut a = pools
        .checkout(server.clone(), 10, part("u"), W0, &settings(100), |_| ok(1))
        .await
        .unwrap();
    assert_eq!(*a.conn(), 1);
    a.checkin();
    let mut b = pools
        .checkout(server.clone(), 10, part("u"), W0, &settings(100), |_| ok(2))
        .await
        .unwrap();
    assert_eq!(*b.conn(), 1, "the idle connection is reused");
    assert_eq!(server.stats.totals().reuses, 1);
}

/// A connection whose server may hang up while it is idle.
struct Hangs {
    id: u32,
    closed: Arc<std::sync::atomic::AtomicBool>,
}

impl Pooled for Hangs {
    fn peer_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    fn socket(&self) -> Option<crate::workers::CutHandle> {
        None
    }
}

impl Rehome for Hangs {
    fn rehome(self: Box<Self>) -> std::io::Result<Box<Self>> {
        Ok(self)
    }
}

#[tokio::test]
async fn a_connection_closed_while_idle_is_replaced_in_its_slot() {
    let pools: Pools<Hangs> = Pools::default();
    let server = pools.server(&Arc::from("s:1"), 1);
    let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let open = |id: u32| {
        let closed = closed.clone();
        move |_| async move { Ok::<_, String>(Hangs { id, closed }) }
    };
    let a = pools
        .checkout(server.clone(), 10, part("u"), W0, &settings(100), open(1))
        .await
        .unwrap();
    a.checkin();
    closed.store(true, Ordering::Relaxed);
    // The only slot held the dead connection: the checkout opens a new one in it, at once.
    let mut b = pools
        .checkout(server.clone(), 10, part("u"), W0, &settings(100), open(2))
        .await
        .unwrap();
    assert_eq!(b.conn().id, 2);
    assert_eq!(server.stats.totals().reuses, 0);
    assert_eq!(server.stats.connections_closed.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn limit_ends_in_a_clear_timeout() {
    let pools: Pools<u32> = Pools::default();
    let server = pools.server(&Arc::from("s:1"), 1);
    let _held = pools
        .checkout(server.clone(), 10, part("u"), W0, &settings(100), |_| ok(1))
        .await
        .unwrap();
    let err = pools
        .checkout(server.clone(), 10, part("u"), W0, &settings(120), |_| ok(2))
        .await
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(
        msg.starts_with("no backend connection available in hostgroup 10 within"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_returned_connection_wakes_a_waiter() {
    let pools: Arc<Pools<u32>> = Arc::new(Pools::default());
    let server = pools.server(&Arc::from("s:1"), 1);
    let held = pools
        .checkout(server.clone(), 10, part("u"), W0, &settings(100), |_| ok(1))
        .await
        .unwrap();
    let (p2, s2) = (pools.clone(), server.clone());
    let waiter = tokio::spawn(async move {
        let mut l = p2
            .checkout(s2.clone(), 10, part("u"), W0, &settings(2000), |_| ok(2))
            .await
            .unwrap();
        *l.conn()
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    held.checkin();
    assert_eq!(waiter.await.unwrap(), 1);
}

#[tokio::test]
async fn idle_connection_of_another_partition_makes_room() {
    let pools: Pools<u32> = Pools::default();
    let server = pools.server(&Arc::from("s:1"), 1);
    pools
        .checkout(server.clone(), 10, part("a"), W0, &settings(100), |_| ok(1))
        .await
        .unwrap()
        .checkin();
    let mut b = pools
        .checkout(server.clone(), 10, part("b"), W0, &settings(100), |_| ok(2))
        .await
        .unwrap();
    assert_eq!(*b.conn(), 2);
    assert_eq!(server.idle_count(), 0);
}

#[tokio::test]
async fn dropped_lease_closes_and_frees_the_slot() {
    let pools: Pools<u32> = Pools::default();
    let server = pools.server(&Arc::from("s:1"), 1);
    drop(
        pools
            .checkout(server.clone(), 10, part("u"), W0, &settings(100), |_| ok(1))
            .await
            .unwrap(),
    );
    let mut l = pools
        .checkout(server.clone(), 10, part("u"), W0, &settings(100), |_| ok(2))
        .await
        .unwrap();
    assert_eq!(*l.conn(), 2, "a broken connection is never reused");
    assert_eq!(server.stats.open(), 1);
}

#[tokio::test]
async fn connect_failure_names_the_server() {
    let pools: Pools<u32> = Pools::default();
    let server = pools.server(&Arc::from("10.0.0.1:3306"), 1);
    let err = pools
        .checkout(
            server.clone(),
            10,
            part("u"),
            W0,
            &settings(100),
            |_| async { Err::<u32, _>("refused") },
        )
        .await
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "cannot connect to backend 10.0.0.1:3306 in hostgroup 10: refused"
    );
    let mut l = pools
        .checkout(server.clone(), 10, part("u"), W0, &settings(100), |_| ok(3))
        .await
        .unwrap();
    assert_eq!(*l.conn(), 3, "the failed attempt gave its slot back");
}

#[tokio::test]
async fn reap_closes_idle_connections() {
    let pools: Pools<u32> = Pools::default();
    let server = pools.server(&Arc::from("s:1"), 3);
    pools
        .checkout(server.clone(), 10, part("u"), W0, &settings(100), |_| ok(1))
        .await
        .unwrap()
        .checkin();
    let s = PoolSettings {
        idle_timeout: Duration::ZERO,
        ..PoolSettings::default()
    };
    assert_eq!(pools.reap(&s), 1);
    assert_eq!(server.idle_count(), 0);
}

#[tokio::test]
async fn idle_pool_follows_recent_demand() {
    let pools: Pools<u32> = Pools::default();
    let server = pools.server(&Arc::from("s:1"), 20);
    let mut held = Vec::new();
    for i in 0..5 {
        held.push(
            pools
                .checkout(server.clone(), 10, part("u"), W0, &settings(100), |_| ok(i))
                .await
                .unwrap(),
        );
    }
    // Five connections lent for the whole interval: a mean demand of about 5.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for l in held {
        l.checkin();
    }
    let s = PoolSettings::default();
    assert_eq!(pools.reap(&s), 0, "a demand of 5 keeps 5 idle");
    assert_eq!(server.idle_count(), 5);
    // demand drops to one short statement at a time for a whole window
    for _ in 0..demand::DEMAND_WINDOW {
        tokio::time::sleep(Duration::from_millis(20)).await;
        pools
            .checkout(server.clone(), 10, part("u"), W0, &settings(100), |_| ok(9))
            .await
            .unwrap()
            .checkin();
        pools.reap(&s);
    }
    let left = server.idle_count();
    assert!(
        (1..=2).contains(&left),
        "the idle pool shrank to the demand: {left}"
    );
}

#[tokio::test]
async fn readers_are_chosen_by_weight_and_fewest_outstanding() {
    let rt = sqlmux_config::parse(&format!(
        r#"
{ONE_CLUSTER}[[servers]]
hostgroup = 2
address = "127.0.0.1:1"
weight = 1
[[servers]]
hostgroup = 2
address = "127.0.0.1:2"
weight = 3
[[servers]]
hostgroup = 2
address = "127.0.0.1:3"
weight = 0
"#
    ))
    .unwrap();
    let topology = crate::topology::Topology::from_runtime(&rt, 1);
    let pools: Pools<u32> = Pools::default();
    let mut counts = HashMap::new();
    let mut held = Vec::new();
    for i in 0..8 {
        let s = pools.pick(&topology, 2).unwrap();
        *counts.entry(s.address.to_string()).or_insert(0) += 1;
        let server = pools.server(&s.address, 10);
        held.push(
            pools
                .checkout(server.clone(), 2, part("u"), W0, &settings(100), |_| ok(i))
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        counts.get("127.0.0.1:2"),
        Some(&6),
        "weight 3 takes three times the work: {counts:?}"
    );
    assert_eq!(counts.get("127.0.0.1:1"), Some(&2), "{counts:?}");
    assert_eq!(
        counts.get("127.0.0.1:3"),
        None,
        "weight 0 only when nothing else is left"
    );
}

/// One cluster whose writer hostgroup 1 holds one server, and empty pools.
fn one_writer() -> (crate::topology::Topology, Pools<u32>) {
    let rt = sqlmux_config::parse(
        "[[clusters]]\nname = \"c\"\nprotocol = \"mysql\"\nwriter_hostgroup = 1\nreader_hostgroup = 2\n\
         [[servers]]\nhostgroup = 1\naddress = \"127.0.0.1:1\"\n",
    )
    .unwrap();
    (
        crate::topology::Topology::from_runtime(&rt, 1),
        Pools::default(),
    )
}

#[tokio::test]
async fn repeated_connect_errors_shun_a_server_until_it_recovers() {
    let (topology, pools) = one_writer();
    let s = PoolSettings {
        shun_after_errors: 2,
        shun_time: Duration::from_millis(80),
        ..settings(100)
    };
    let entry = pools.pick(&topology, 1).unwrap().clone();
    let server = pools.server(&entry.address, 5);
    for _ in 0..2 {
        let failed = pools
            .checkout(server.clone(), 1, part("u"), W0, &s, |_| async {
                Err::<u32, _>("refused")
            })
            .await;
        assert!(failed.is_err());
    }
    assert!(pools.pick(&topology, 1).is_none(), "SHUNNED: no new work");
    let err = pools.no_server(&topology, 1).to_string();
    assert!(
        err.contains("SHUNNED") && err.contains("hostgroup 1"),
        "{err}"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        pools.pick(&topology, 1).is_some(),
        "tried again after shun_ms"
    );
    let mut l = pools
        .checkout(server.clone(), 1, part("u"), W0, &s, |_| ok(7))
        .await
        .unwrap();
    assert_eq!(*l.conn(), 7);
    assert!(server.shunned_for().is_none());
}

#[tokio::test]
async fn a_shunned_server_is_probed_by_one_checkout_per_interval_and_ends_its_shun() {
    let (topology, pools) = one_writer();
    let s = PoolSettings {
        shun_after_errors: 1,
        shun_time: Duration::from_secs(60),
        ..settings(100)
    };
    let entry = pools.pick(&topology, 1).unwrap().clone();
    let server = pools.server(&entry.address, 5);
    let refused = || async { Err::<u32, _>("refused") };
    let failed = pools
        .checkout(server.clone(), 1, part("u"), W0, &s, |_| refused())
        .await;
    assert!(matches!(failed, Err(PoolError::Connect { .. })));
    assert!(pools.pick(&topology, 1).is_none(), "SHUNNED");
    tokio::time::sleep(super::SHUN_PROBE + Duration::from_millis(20)).await;
    assert!(pools.pick(&topology, 1).is_some(), "a probe is due");
    // The probe fails: shunned again, and the next checkout in the interval does not connect.
    let probe = pools
        .checkout(server.clone(), 1, part("u"), W0, &s, |_| refused())
        .await;
    assert!(matches!(probe, Err(PoolError::Connect { .. })));
    let waits = pools
        .checkout(server.clone(), 1, part("u"), W0, &s, |_| refused())
        .await;
    assert!(
        matches!(waits, Err(PoolError::Shunned { .. })),
        "no connect within the probe interval"
    );
    // The next probe succeeds: the shun ends long before shun_ms.
    tokio::time::sleep(super::SHUN_PROBE + Duration::from_millis(20)).await;
    let back = pools
        .checkout(server.clone(), 1, part("u"), W0, &s, |_| ok(9))
        .await;
    assert_eq!(*back.unwrap().conn(), 9);
    assert!(server.shunned_for().is_none());
}
