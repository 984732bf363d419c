//! Failover holds and reads: reads are not queued behind held writes, a reader that refuses connections is routed around, a writer still in recovery, a shutdown during a hold.

use super::*;

#[test]
fn mysql_reads_are_not_queued_behind_held_writes() {
    let (writer, reader) = two_mariadbs();
    // The app user reads its own writes for a minute; a reader serves hostgroup 20.
    let extra = format!(
        "read_your_writes_ms = 60000\n\n[[servers]]\nhostgroup = 20\naddress = \"{}\"\nmax_connections = 20\n",
        reader.addr()
    );
    let proxy = Proxy::start(&mysql_config(&writer.addr(), &extra)).unwrap();
    let (mut c, _) =
        RawClient::login(proxy.mysql_port(), "app", "apppw", Some("sqlmux_test")).unwrap();
    // Every packet of the answer, as text: the row holds the port.
    let port_of = |c: &mut RawClient| {
        let packets = c.query("SELECT @@port").unwrap().unwrap();
        packets
            .iter()
            .map(|p| String::from_utf8_lossy(p).to_string())
            .collect::<Vec<_>>()
            .join("|")
    };
    c.query("INSERT INTO w (phase) VALUES ('before')")
        .unwrap()
        .unwrap();
    assert!(
        port_of(&mut c).contains(&writer.port().to_string()),
        "read-your-writes: the writer"
    );
    let (status, body) = proxy.http("POST", "/v1/clusters/shop/hold", None).unwrap();
    assert_eq!(status, 200, "{body}");
    let started = Instant::now();
    assert!(
        port_of(&mut c).contains(&reader.port().to_string()),
        "held writer: a reader"
    );
    // A cleanup ROLLBACK (or COMMIT) with no transaction open needs no writer either.
    c.query("ROLLBACK").unwrap().unwrap();
    c.query("COMMIT").unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "not queued behind the writes"
    );
    let (status, _) = proxy
        .http("POST", "/v1/clusters/shop/release", None)
        .unwrap();
    assert_eq!(status, 200);
    assert!(port_of(&mut c).contains(&writer.port().to_string()));
}

#[test]
fn postgres_reads_are_not_queued_behind_held_writes() {
    let pair = sqlmux_integration::PostgresPair::start().unwrap();
    let config = with_control_api(postgres_config(
        &pair.primary.addr(),
        Some(&pair.standby.addr()),
        "",
    ));
    let proxy = Proxy::start(&config).unwrap();
    let port = proxy.postgres_port();
    support::runtime().block_on(async {
        let c = support::connect(port).await;
        let (status, body) = proxy
            .http("POST", "/v1/clusters/ledger/hold", None)
            .unwrap();
        assert_eq!(status, 200, "{body}");
        let started = Instant::now();
        // A prepared read, run, then dropped (tokio-postgres sends Close in a batch of its
        // own), then another: none of it waits for the held writer.
        let read = c.prepare("SELECT pg_is_in_recovery()").await.unwrap();
        assert!(c.query_one(&read, &[]).await.unwrap().get::<_, bool>(0));
        drop(read);
        let again = c
            .query_one("SELECT pg_is_in_recovery()", &[])
            .await
            .unwrap();
        assert!(again.get::<_, bool>(0), "read from the standby");
        // A cleanup ROLLBACK with no transaction open needs no writer either.
        c.batch_execute("ROLLBACK").await.unwrap();
        c.batch_execute("COMMIT").await.unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(1000),
            "reads waited {:?} behind the held writes",
            started.elapsed()
        );
    });
}

/// An address where nothing listens (connects are refused).
fn dead_address() -> String {
    format!("127.0.0.1:{}", sqlmux_integration::free_port().unwrap())
}

#[test]
fn mysql_a_read_whose_reader_refuses_connections_runs_elsewhere() {
    let writer = MariaDb::start().unwrap();
    let extra = format!(
        "\n[[servers]]\nhostgroup = 20\naddress = \"{}\"\nmax_connections = 20\n",
        dead_address()
    );
    let proxy = Proxy::start(&mysql_config(&writer.addr(), &extra)).unwrap();
    // Every read is answered: the first ones pick the dead reader, fail to connect (never
    // sent) and pick again; once it is SHUNNED the reads go to the writer.
    for _ in 0..10 {
        let (mut c, _) =
            RawClient::login(proxy.mysql_port(), "app", "apppw", Some("sqlmux_test")).unwrap();
        let rows = c.query("SELECT @@port").unwrap();
        let rows = rows.unwrap_or_else(|e| panic!("read failed: {e:?}"));
        let text: String = rows.iter().map(|p| String::from_utf8_lossy(p)).collect();
        assert!(text.contains(&writer.port().to_string()), "{text}");
    }
}

#[test]
fn postgres_a_read_whose_reader_refuses_connections_runs_elsewhere() {
    let pg = Postgres::start().unwrap();
    let config = postgres_config(&pg.addr(), Some(&dead_address()), "");
    let proxy = Proxy::start(&config).unwrap();
    support::runtime().block_on(async {
        for _ in 0..10 {
            let c = support::connect(proxy.postgres_port()).await;
            let row = c
                .query_one("SELECT inet_server_port()", &[])
                .await
                .unwrap_or_else(|e| panic!("read failed: {e}"));
            assert_eq!(row.get::<_, i32>(0), i32::from(pg.port()));
        }
    });
}

#[test]
fn postgres_a_writer_still_in_recovery_takes_writes_once_promoted() {
    let pair = sqlmux_integration::PostgresPair::start().unwrap();
    pair.primary
        .ledger_psql()
        .query("CREATE TABLE w (id int PRIMARY KEY)")
        .unwrap();
    pair.wait_standby_caught_up().unwrap();
    // The standby is pushed as the writer before its promotion is over.
    let proxy = Proxy::start(&postgres_config(&pair.standby.addr(), None, "")).unwrap();
    let promoted = std::thread::scope(|scope| {
        let promote = scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(1000));
            pair.standby.sql("SELECT pg_promote()").unwrap();
            Instant::now()
        });
        let answered = support::runtime().block_on(async {
            let c = support::connect(proxy.postgres_port()).await;
            c.execute("INSERT INTO w VALUES (1)", &[])
                .await
                .unwrap_or_else(|e| panic!("the write failed instead of waiting: {e}"));
            Instant::now()
        });
        (promote.join().unwrap(), answered)
    });
    let (promoted, answered) = promoted;
    assert!(answered >= promoted, "the write waited for the promotion");
    let on_new = pair
        .standby
        .sql_in("ledger", "SELECT count(*) FROM w")
        .unwrap();
    assert_eq!(on_new.trim(), "1");
}

#[test]
fn a_held_statement_is_not_failed_by_a_shutdown_before_its_timeout() {
    let db = MariaDb::start().unwrap();
    db.root_sql(
        "CREATE TABLE sqlmux_test.w (id INT AUTO_INCREMENT PRIMARY KEY, phase VARCHAR(10))",
    )
    .unwrap();
    let config = mysql_config(
        &db.addr(),
        "\n[shutdown]\nmode = \"service\"\ntimeout_ms = 5000\naccept_grace_ms = 0\n",
    );
    let proxy = Proxy::start(&config).unwrap();
    let (status, body) = proxy.http("POST", "/v1/clusters/shop/hold", None).unwrap();
    assert_eq!(status, 200, "{body}");
    let (mut c, _) =
        RawClient::login(proxy.mysql_port(), "app", "apppw", Some("sqlmux_test")).unwrap();
    let http = proxy.http_addr();
    let writer = std::thread::spawn(move || {
        let started = Instant::now();
        let answer = c.query("INSERT INTO w (phase) VALUES ('held')").unwrap();
        (answer.map(|_| ()).map_err(|e| e.message), started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    // The shutdown begins while the statement is held; the hold ends 500 ms later.
    let stopping = std::thread::spawn(move || drop(proxy));
    std::thread::sleep(Duration::from_millis(500));
    let (status, body) = sqlmux_integration::http::request_with_token(
        &http.to_string(),
        "POST",
        "/v1/clusters/shop/release",
        None,
        Some(sqlmux_integration::proxy::TEST_TOKEN),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let (answer, waited) = writer.join().unwrap();
    assert_eq!(answer, Ok(()), "the held statement ran after all");
    assert!(waited >= Duration::from_millis(700), "{waited:?}");
    stopping.join().unwrap();
    assert_eq!(
        db.root_sql("SELECT COUNT(*) FROM sqlmux_test.w")
            .unwrap()
            .trim(),
        "1"
    );
}
