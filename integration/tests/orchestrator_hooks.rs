//! The Orchestrator hook recipes of `ops/orchestrator-hooks.json`, run the way Orchestrator
//! runs them (`bash -c`, its `{successorHost}`/`{successorPort}` filled in), around a real
//! MariaDB switch done by hand under load (the old primary made read-only, the replica
//! caught up and promoted): no client error, nothing sent after the hold runs on the old
//! primary, every acknowledged write is on the new one.

use sqlmux_integration::raw_mysql::RawClient;

mod support;
use sqlmux_integration::{MariaDb, MariaDbPair, Proxy};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "orchestrator-hook-token";
const PHASES: [&str; 3] = ["before", "held", "after"];

/// The hook command lines of `ops/orchestrator-hooks.json` under `name`.
fn hook_lines(name: &str) -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../ops/orchestrator-hooks.json"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc[name]
        .as_array()
        .unwrap_or_else(|| panic!("{name} in {path}"))
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

/// Runs one hook line as Orchestrator would, against the proxy's control API; its stdout.
fn run_hook(line: &str, api: SocketAddr, successor: &MariaDb) -> String {
    let line = line
        .replace("127.0.0.1:6080", &api.to_string())
        .replace("{successorHost}", "127.0.0.1")
        .replace("{successorPort}", &successor.port().to_string());
    let out = Command::new("bash")
        .arg("-c")
        .arg(&line)
        .env("SQLMUX_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{line}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The pair's primary as the writer, its replica as the reader, a control API with a
/// token.
fn config(pair: &MariaDbPair) -> String {
    sqlmux_integration::mysql_config(
        &pair.primary.addr(),
        &format!(
            "\n[[servers]]\nhostgroup = 20\naddress = \"{}\"\nmax_connections = 20\n\n[control]\ntoken = \"{TOKEN}\"\n",
            pair.replica.addr()
        ),
    )
    .replace("[listen]\n", "[listen]\nhttp = \"127.0.0.1:0\"\n")
}

#[test]
fn orchestrator_hooks_around_a_mariadb_switch_under_load_cost_no_client_error() {
    let pair = MariaDbPair::start().unwrap();
    pair.primary
        .root_sql(
            "CREATE TABLE sqlmux_test.w (id INT AUTO_INCREMENT PRIMARY KEY, phase VARCHAR(10))",
        )
        .unwrap();
    pair.wait_replica_caught_up().unwrap();
    let proxy = Proxy::start(&config(&pair)).unwrap();
    let (phase, stop) = (Arc::new(AtomicU8::new(0)), Arc::new(AtomicBool::new(false)));
    let (acked, errors) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(Mutex::new(Vec::new())),
    );
    let longest_ms = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (phase, stop) = (phase.clone(), stop.clone());
            let (acked, errors, longest_ms) = (acked.clone(), errors.clone(), longest_ms.clone());
            let port = proxy.mysql_port();
            std::thread::spawn(move || {
                let (mut c, _) =
                    RawClient::login(port, "app", "apppw", Some("sqlmux_test")).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let label = PHASES[phase.load(Ordering::SeqCst) as usize];
                    let started = Instant::now();
                    match c.query(&format!("INSERT INTO w (phase) VALUES ('{label}')")) {
                        Ok(Ok(_)) => {
                            acked.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Err(e)) => errors.lock().unwrap().push(e.message),
                        Err(e) => {
                            errors.lock().unwrap().push(e.to_string());
                            return;
                        }
                    }
                    let took = started.elapsed().as_millis() as u64;
                    longest_ms.fetch_max(took, Ordering::Relaxed);
                    // A read between writes (the replica, then the writer once it is promoted).
                    if let Ok(Err(e)) = c.query("SELECT COUNT(*) FROM w") {
                        errors.lock().unwrap().push(e.message);
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let api = proxy.http_addr();
    let switch_started = Instant::now();
    for line in hook_lines("PreGracefulTakeoverProcesses") {
        let answer = run_hook(&line, api, &pair.replica);
        assert!(answer.contains("\"held\":true"), "{answer}");
    }
    phase.store(1, Ordering::SeqCst);
    // The switch, by hand as Orchestrator does it for MariaDB.
    pair.primary.root_sql("SET GLOBAL read_only = 1").unwrap();
    pair.wait_replica_caught_up().unwrap();
    pair.replica
        .root_sql("STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = 0")
        .unwrap();
    for line in hook_lines("PostGracefulTakeoverProcesses") {
        let answer = run_hook(&line, api, &pair.replica);
        assert!(answer.contains(&pair.replica.addr()), "{answer}");
    }
    let switch_took = switch_started.elapsed();
    phase.store(2, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let errors = errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "client errors: {errors:?}");
    let (old, new) = (&pair.primary, &pair.replica);
    assert_eq!(
        support::phase_count(old, "held") + support::phase_count(old, "after"),
        0,
        "nothing sent after the hold ran on the old primary"
    );
    assert!(
        support::phase_count(new, "after") > 0,
        "writes went on on the new primary"
    );
    let on_new: u64 = PHASES.iter().map(|p| support::phase_count(new, p)).sum();
    assert_eq!(
        on_new,
        acked.load(Ordering::Relaxed),
        "every acknowledged write is on the new primary, once"
    );
    eprintln!(
        "Orchestrator hooks: switch {switch_took:?} (hooks included), longest write {} ms, {} writes, 0 errors",
        longest_ms.load(Ordering::Relaxed),
        on_new
    );
}
