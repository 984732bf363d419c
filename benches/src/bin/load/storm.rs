//! `load storm --clients N`: a pod fleet restarting. N clients connect at once (64 threads
//! logging in as fast as they can, every client kept open until all are in), each runs one
//! statement; printed per protocol: clients served and failed, the connect + login + first
//! statement time (p50, p99, max), and the backend connections the server saw opened and
//! at most open (against the pool's max_connections). sqlmux runs as its own process (the
//! release binary, see [`super::idle`]).

use super::idle::{mysql_login, mysql_proxy, pg_login, postgres_proxy};
use super::Res;
use sqlmux_integration::MariaDb;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const THREADS: usize = 64;

/// Runs the storm for both protocols (or the one named).
pub fn run(clients: usize, protocol: Option<&str>) -> Res<()> {
    super::idle::each_protocol(clients, protocol, mysql, postgres)
}

fn mysql(clients: usize) -> Res<()> {
    let (db, _proxy, port) = mysql_proxy(clients)?;
    let opened_before = mysql_status(&db, "Connections")?;
    let storm = storm(clients, move || mysql_login(port));
    let opened = mysql_status(&db, "Connections")? - opened_before;
    let most = mysql_status(&db, "Max_used_connections")?;
    println!(
        "storm mysql, {clients} clients: {storm}; backends opened {opened}, at most {most} open (max_connections 50)"
    );
    Ok(())
}

fn postgres(clients: usize) -> Res<()> {
    let (pg, _proxy, port) = postgres_proxy(clients)?;
    // The server's backends of the ledger role, sampled while the storm runs.
    let most = Arc::new(Mutex::new(0u64));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (most, done, pg_port) = (most.clone(), done.clone(), pg.port());
        let dir = pg.socket_dir().to_path_buf();
        std::thread::spawn(move || {
            let psql = sqlmux_integration::Psql::socket(&dir, pg_port);
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(n) =
                    psql.query("SELECT count(*) FROM pg_stat_activity WHERE usename = 'ledger'")
                {
                    let n: u64 = n.trim().parse().unwrap_or(0);
                    let mut m = most.lock().unwrap_or_else(|e| e.into_inner());
                    *m = (*m).max(n);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let storm = storm(clients, move || pg_login(port));
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = sampler.join();
    let most = *most.lock().unwrap_or_else(|e| e.into_inner());
    println!(
        "storm postgres, {clients} clients: {storm}; backends at most {most} open (max_connections 20)"
    );
    Ok(())
}

/// A MySQL global status counter, read directly on the server.
fn mysql_status(db: &MariaDb, name: &str) -> Res<u64> {
    let out = db.root_sql(&format!("SHOW GLOBAL STATUS LIKE '{name}'"))?;
    out.split_whitespace()
        .last()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no {name} in {out:?}").into())
}

/// Logs `clients` in from [`THREADS`] threads at once; every client stays connected until
/// the end. Returns the summary line.
fn storm(clients: usize, login: impl Fn() -> Res<TcpStream> + Send + Sync + 'static) -> String {
    let login = Arc::new(login);
    let times = Arc::new(Mutex::new(Vec::with_capacity(clients)));
    let failed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (login, times, failed) = (login.clone(), times.clone(), failed.clone());
            let share = clients / THREADS + usize::from(t < clients % THREADS);
            std::thread::spawn(move || {
                let mut open = Vec::with_capacity(share);
                let mut mine = Vec::with_capacity(share);
                for _ in 0..share {
                    let at = Instant::now();
                    match login() {
                        Ok(s) => {
                            mine.push(at.elapsed());
                            open.push(s);
                        }
                        Err(_) => {
                            failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
                times.lock().unwrap_or_else(|e| e.into_inner()).extend(mine);
                open
            })
        })
        .collect();
    let open: Vec<Vec<TcpStream>> = threads.into_iter().filter_map(|t| t.join().ok()).collect();
    let all_in = started.elapsed();
    let mut times = std::mem::take(&mut *times.lock().unwrap_or_else(|e| e.into_inner()));
    times.sort();
    let at = |q: f64| {
        times
            .get(((times.len() as f64 * q) as usize).min(times.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let served = open.iter().map(Vec::len).sum::<usize>();
    format!(
        "{served} served, {} failed, all in after {:.1} s; connect+login+statement p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        failed.load(std::sync::atomic::Ordering::Relaxed),
        all_in.as_secs_f64(),
        at(0.5),
        at(0.99),
        times.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    )
}
