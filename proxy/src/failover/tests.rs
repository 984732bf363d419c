use super::*;
use hold::RECHECK;
use std::sync::atomic::AtomicBool;

fn settings(timeout_ms: u64, max: usize) -> FailoverSettings {
    FailoverSettings {
        hold_timeout: Duration::from_millis(timeout_ms),
        hold_max_statements: max,
        ..FailoverSettings::default()
    }
}

#[tokio::test]
async fn a_usable_writer_is_picked_without_waiting() {
    let f = Failover::default();
    let got = f
        .writer_or_hold("c", 10, 10, 1, &settings(50, 10), || Some(7))
        .await;
    assert_eq!(got, Ok(Picked::Server(7)));
    let reader = f
        .writer_or_hold("c", 20, 10, 1, &settings(50, 10), || None::<u32>)
        .await;
    assert_eq!(reader, Ok(Picked::NoServer), "readers are not held");
}

#[tokio::test]
async fn a_held_statement_runs_when_a_writer_comes_back() {
    let f = Arc::new(Failover::default());
    let online = Arc::new(AtomicBool::new(false));
    let waiter = tokio::spawn({
        let (f, online) = (f.clone(), online.clone());
        async move {
            f.writer_or_hold("c", 10, 10, 1, &settings(5_000, 10), || {
                online.load(Ordering::SeqCst).then_some(1)
            })
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert_eq!(f.queue(10).held(), 1);
    online.store(true, Ordering::SeqCst);
    let started = Instant::now();
    f.changed();
    assert_eq!(waiter.await.unwrap(), Ok(Picked::Server(1)));
    assert!(
        started.elapsed() < RECHECK,
        "woken by the change, not the recheck"
    );
    assert_eq!(f.queue(10).held(), 0);
}

#[tokio::test]
async fn a_hold_times_out_naming_the_cluster() {
    let f = Failover::default();
    let err = f
        .writer_or_hold("shop", 10, 10, 1, &settings(120, 10), || None::<u32>)
        .await
        .unwrap_err();
    match err {
        HoldError::Timeout { cluster, waited_ms } => {
            assert_eq!(cluster, "shop");
            assert!(waited_ms >= 120);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(f.queue(10).held(), 0);
}

#[tokio::test]
async fn a_full_queue_fails_the_oldest_first() {
    let f = Arc::new(Failover::default());
    let mut waiters = Vec::new();
    for i in 0..3u32 {
        let f = f.clone();
        waiters.push(tokio::spawn(async move {
            f.writer_or_hold("c", 10, 10, 1, &settings(300, 2), || None::<u32>)
                .await
                .map_err(|e| (i, e))
        }));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut results = Vec::new();
    for w in waiters {
        results.push(w.await.unwrap());
    }
    assert!(
        matches!(results[0], Err((0, HoldError::Full { .. }))),
        "{results:?}"
    );
    assert!(matches!(results[1], Err((1, HoldError::Timeout { .. }))));
    assert!(matches!(results[2], Err((2, HoldError::Timeout { .. }))));
}

#[tokio::test]
async fn an_explicit_hold_holds_a_usable_writer_until_released() {
    let f = Arc::new(Failover::default());
    f.hold(10, Duration::from_secs(5));
    let waiter = tokio::spawn({
        let f = f.clone();
        async move {
            f.writer_or_hold("c", 10, 10, 1, &settings(5_000, 10), || Some(1))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(!waiter.is_finished(), "held although the writer is usable");
    // Other clusters' writers and readers are not held.
    let other = f
        .writer_or_hold("d", 30, 30, 1, &settings(50, 10), || Some(2))
        .await;
    assert_eq!(other, Ok(Picked::Server(2)));
    assert!(f.release(10));
    assert_eq!(waiter.await.unwrap(), Ok(Picked::Server(1)));
    assert!(!f.release(10), "already released");
}

#[tokio::test]
async fn an_explicit_hold_ends_by_itself() {
    let f = Failover::default();
    f.hold(10, Duration::from_millis(20));
    f.expire_holds();
    assert!(f.queue(10).explicitly_held());
    tokio::time::sleep(Duration::from_millis(40)).await;
    assert!(!f.queue(10).explicitly_held(), "over at its deadline");
    f.expire_holds();
    assert_eq!(f.explicit_holds.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_failed_connect_to_the_writer_is_retried_until_the_hold_timeout_then_out_of_time() {
    let f = Failover::default();
    let connect = |hostgroup| PoolError::Connect {
        address: "127.0.0.1:1".into(),
        hostgroup,
        reason: "timed out after 2000 ms".into(),
    };
    let s = settings(5_000, 10);
    let now = Instant::now();
    // Retried, after a recheck at most.
    assert_eq!(
        f.retry_checkout(&connect(10), 10, now, &s).await,
        Retry::Again
    );
    // A connect that took the whole hold timeout is out of time, not retried.
    let long_ago = now - Duration::from_millis(5_000);
    assert_eq!(
        f.retry_checkout(&connect(10), 10, long_ago, &s).await,
        Retry::OutOfTime
    );
    // A reader's connect error is final: reads are not held.
    assert_eq!(
        f.retry_checkout(&connect(20), 10, now, &s).await,
        Retry::Final
    );
}
