//! Pool tests: waiting checkouts, handoffs, lifetimes, the remembered pool, connections moving between workers.

use super::*;

#[tokio::test]
async fn waiters_are_served_first_come_first_served() {
    let pools: Arc<Pools<u32>> = Arc::new(Pools::default());
    let server = pools.server(&Arc::from("s:1"), 1);
    let held = pools
        .checkout(server.clone(), 10, part("u"), W0, &settings(2000), |_| {
            ok(1)
        })
        .await
        .unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..4 {
        let (pools, server, order) = (pools.clone(), server.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let lease = pools
                .checkout(server.clone(), 10, part("u"), W0, &settings(2000), |_| {
                    ok(9)
                })
                .await
                .unwrap();
            order.lock().unwrap().push(i);
            tokio::time::sleep(Duration::from_millis(5)).await;
            lease.checkin();
        }));
        // Each waiter is queued before the next one arrives.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    held.checkin();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
    assert_eq!(server.idle_count(), 1, "one connection served everyone");
}

/// A pool with one slot, taken by the returned lease of `partition`.
async fn one_slot_taken(
    partition: Arc<Partition>,
) -> (Arc<Pools<u32>>, Arc<ServerPool<u32>>, Lease<u32>) {
    let pools: Arc<Pools<u32>> = Arc::new(Pools::default());
    let server = pools.server(&Arc::from("s:1"), 1);
    let held = pools
        .checkout(server.clone(), 10, partition, W0, &settings(100), |_| ok(1))
        .await
        .unwrap();
    (pools, server, held)
}

/// Starts a checkout of `partition` that waits (up to `wait_ms`) and answers with its
/// connection.
fn waiting_checkout(
    pools: &Arc<Pools<u32>>,
    server: &Arc<ServerPool<u32>>,
    partition: Arc<Partition>,
    connect: Result<u32, &'static str>,
    wait_ms: u64,
) -> tokio::task::JoinHandle<Result<u32, PoolError>> {
    let (pools, server) = (pools.clone(), server.clone());
    tokio::spawn(async move {
        pools
            .checkout(
                server,
                10,
                partition,
                W0,
                &settings(wait_ms),
                |_| async move { connect },
            )
            .await
            .map(|mut l| *l.conn())
    })
}

#[tokio::test]
async fn a_closed_connection_hands_its_slot_to_a_waiter() {
    let (pools, server, held) = one_slot_taken(part("u")).await;
    let waiter = waiting_checkout(&pools, &server, part("u"), Ok(2), 5000);
    tokio::time::sleep(Duration::from_millis(30)).await;
    // A broken connection is dropped, not checked in: nothing polls, the slot is handed over.
    drop(held);
    assert_eq!(waiter.await.unwrap(), Ok(2));
}

#[tokio::test]
async fn a_failed_connect_hands_its_slot_to_the_next_waiter() {
    let (pools, server, held) = one_slot_taken(part("u")).await;
    let failing = waiting_checkout(&pools, &server, part("v"), Err("refused"), 5000);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let next = waiting_checkout(&pools, &server, part("v"), Ok(3), 5000);
    tokio::time::sleep(Duration::from_millis(20)).await;
    drop(held);
    assert!(matches!(
        failing.await.unwrap(),
        Err(PoolError::Connect { .. })
    ));
    assert_eq!(next.await.unwrap(), Ok(3));
}

#[tokio::test]
async fn a_return_makes_room_for_another_partitions_waiter() {
    let (pools, server, held) = one_slot_taken(part("a")).await;
    let waiter = waiting_checkout(&pools, &server, part("b"), Ok(2), 5000);
    tokio::time::sleep(Duration::from_millis(30)).await;
    held.checkin();
    assert_eq!(waiter.await.unwrap(), Ok(2));
    assert_eq!(
        server.idle_count(),
        0,
        "the returned connection was closed for it"
    );
    assert_eq!(server.stats.connections_ok.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn a_connection_past_its_lifetime_is_closed_when_returned() {
    let pools: Pools<u32> = Pools::default();
    let server = pools.server(&Arc::from("s:1"), 2);
    let s = PoolSettings {
        max_lifetime: Duration::ZERO,
        ..PoolSettings::default()
    };
    pools
        .checkout(server.clone(), 10, part("u"), W0, &s, |_| ok(1))
        .await
        .unwrap()
        .checkin();
    assert_eq!(server.idle_count(), 0);
    assert_eq!(server.stats.open(), 0);
}

#[tokio::test]
async fn waiters_give_up_at_their_own_deadlines() {
    let (pools, server, _held) = one_slot_taken(part("u")).await;
    let started = Instant::now();
    let short = waiting_checkout(&pools, &server, part("u"), Ok(2), 50);
    let long = waiting_checkout(&pools, &server, part("u"), Ok(3), 400);
    assert!(matches!(
        short.await.unwrap(),
        Err(PoolError::WaitTimeout { .. })
    ));
    let short_done = started.elapsed();
    assert!(matches!(
        long.await.unwrap(),
        Err(PoolError::WaitTimeout { .. })
    ));
    let long_done = started.elapsed();
    // Each one waited its own bound (one expiry timer serves the whole queue).
    assert!(short_done < Duration::from_millis(300), "{short_done:?}");
    assert!(long_done >= Duration::from_millis(400), "{long_done:?}");
    assert_eq!(server.stats.wait_timeouts.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn waiters_of_a_server_seen_down_stop_waiting_at_once() {
    let (pools, server, held) = one_slot_taken(part("u")).await;
    let waiter = waiting_checkout(&pools, &server, part("u"), Ok(2), 5_000);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let started = Instant::now();
    server.set_health(HEALTH_DOWN);
    let answer = waiter.await.unwrap();
    assert!(
        matches!(answer, Err(PoolError::Down { hostgroup: 10, .. })),
        "{answer:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(server.stats.wait_timeouts.load(Ordering::Relaxed), 0);
    drop(held);
}

#[tokio::test]
async fn a_remembered_pool_goes_round_between_the_session_and_its_leases() {
    use crate::topology::{ServerEntry, Topology};
    let entry = |hostgroup, address: &str| ServerEntry {
        hostgroup,
        address: Arc::from(address),
        weight: 1,
        max_connections: 2,
        status: sqlmux_config::ServerStatus::Online,
        tls: false,
    };
    let topology = Arc::new(Topology {
        generation: 1,
        servers: vec![entry(10, "s:1"), entry(20, "s:2"), entry(20, "s:3")],
        writer_hostgroups: Vec::new(),
    });
    let pools: Pools<u32> = Pools::default();
    let (server, other) = (
        pools.server(&Arc::from("s:1"), 2),
        pools.server(&Arc::from("s:2"), 2),
    );
    assert!(
        PoolChoice::remember(&topology, 20, &other, false).is_none(),
        "with two ONLINE servers each checkout chooses"
    );
    let mut choice = PoolChoice::remember(&topology, 10, &server, false).unwrap();
    assert!(choice.take(&topology, 20).is_none(), "another hostgroup");
    let (pool, tls) = choice.take(&topology, 10).unwrap();
    assert!(Arc::ptr_eq(&pool, &server) && !tls);
    assert!(choice.take(&topology, 10).is_none(), "lent to a lease");
    let lease = pools
        .checkout(pool, 10, part("u"), W0, &settings(100), |_| ok(1))
        .await
        .unwrap();
    choice.give_back(other.clone());
    assert!(choice.take(&topology, 10).is_none(), "not the chosen pool");
    choice.give_back(lease.checkin());
    let (pool, _) = choice.take(&topology, 10).expect("back from the lease");
    choice.give_back(pool);
    let changed = Arc::new(Topology::clone(&topology));
    assert!(choice.take(&changed, 10).is_none(), "another snapshot");
    assert!(choice.take(&topology, 10).is_some());
}

/// A connection that counts its moves between workers, or cannot move.
#[derive(Debug)]
struct Movable {
    id: u32,
    moves: u32,
    stuck: bool,
}

impl Pooled for Movable {
    fn peer_closed(&self) -> bool {
        false
    }

    fn socket(&self) -> Option<crate::workers::CutHandle> {
        None
    }
}

impl Rehome for Movable {
    fn rehome(mut self: Box<Self>) -> std::io::Result<Box<Self>> {
        if self.stuck {
            return Err(std::io::ErrorKind::Other.into());
        }
        self.moves += 1;
        Ok(self)
    }
}

/// A connection of `server` lent to a session on `worker`; a new one is `Movable` `id`.
async fn lease_on(
    pools: &Pools<Movable>,
    server: &Arc<ServerPool<Movable>>,
    worker: u16,
    id: u32,
    stuck: bool,
) -> Lease<Movable> {
    let opened = Movable {
        id,
        moves: 0,
        stuck,
    };
    pools
        .checkout(
            server.clone(),
            10,
            part("u"),
            WorkerId(worker),
            &settings(100),
            |_| async { Ok::<_, String>(opened) },
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_worker_prefers_its_own_connections_and_moves_others() {
    let pools: Pools<Movable> = Pools::default();
    let server = pools.server(&Arc::from("s:1"), 3);
    let checkout = |worker, id| lease_on(&pools, &server, worker, id, false);
    let a = checkout(0, 1).await;
    let b = checkout(1, 2).await;
    a.checkin();
    b.checkin();
    // Worker 0 gets its own connection although worker 1's came back last.
    let mut a = checkout(0, 9).await;
    assert_eq!((a.conn().id, a.conn().moves), (1, 0));
    let mut b = checkout(1, 9).await;
    assert_eq!((b.conn().id, b.conn().moves), (2, 0));
    a.checkin();
    b.checkin();
    // Worker 1 takes both: its own first, then worker 0's, moved once.
    let mut first = checkout(1, 9).await;
    let mut second = checkout(1, 9).await;
    assert_eq!((first.conn().id, first.conn().moves), (2, 0));
    assert_eq!((second.conn().id, second.conn().moves), (1, 1));
    // Moved, it is at home on worker 1 now.
    second.checkin();
    let mut again = checkout(1, 9).await;
    assert_eq!((again.conn().id, again.conn().moves), (1, 1));
    assert_eq!(server.outstanding(), 2);
}

#[tokio::test]
async fn a_connection_that_cannot_move_is_replaced_with_its_slot() {
    let pools: Pools<Movable> = Pools::default();
    let server = pools.server(&Arc::from("s:1"), 1);
    lease_on(&pools, &server, 0, 1, true).await.checkin();
    // At its limit of one, the server still serves worker 1: the stuck connection is
    // closed and a new one opened in its slot.
    let mut fresh = lease_on(&pools, &server, 1, 2, false).await;
    assert_eq!((fresh.conn().id, fresh.conn().moves), (2, 0));
    assert_eq!(server.outstanding(), 1);
    assert_eq!(server.idle_count(), 0);
}

#[test]
fn a_returned_connection_prefers_a_waiter_on_its_worker_within_the_slack() {
    let now = Instant::now();
    let waiter = |user: &str, worker: u16, queued_after_us: u64| Waiter::<u32> {
        partition: part(user),
        worker: WorkerId(worker),
        handoff: tokio::sync::oneshot::channel().0,
        deadline: now + Duration::from_micros(queued_after_us),
    };
    let queue: std::collections::VecDeque<_> = [
        waiter("other", 0, 0),
        waiter("u", 1, 10),
        waiter("u", 0, 200),
        waiter("u", 0, 300),
    ]
    .into();
    let home = |w| lease::next_waiter(&queue, &part("u"), WorkerId(w));
    // Worker 1's connection: its own waiter is the oldest of the partition.
    assert_eq!(home(1), Some(1));
    // Worker 0's: its oldest waiter queued 190 us after worker 1's, within the slack.
    assert_eq!(home(0), Some(2));
    // Worker 2 has no waiter: the oldest of the partition.
    assert_eq!(home(2), Some(1));
    let late: std::collections::VecDeque<_> = [waiter("u", 1, 0), waiter("u", 0, 5_000)].into();
    // Past the slack, the oldest waiter wins even on another worker.
    assert_eq!(lease::next_waiter(&late, &part("u"), WorkerId(0)), Some(0));
    assert_eq!(lease::next_waiter(&late, &part("v"), WorkerId(0)), None);
}
