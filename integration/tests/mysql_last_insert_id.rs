//! LAST_INSERT_ID() and ROW_COUNT() through sqlmux equal those of one direct connection,
//! while other sessions insert through the same pooled backends.

use sqlmux_integration::cli::run;
use sqlmux_integration::{mysql_config, MariaDb, Proxy};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn script_run(port: u16, suffix: &str, noise: usize) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/last_insert_id.py");
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("SUFFIX", suffix)
        .env("NOISE", noise.to_string());
    let out = run(&mut cmd, None, Duration::from_secs(120)).unwrap();
    assert!(out.success(), "{}\n{}", out.stdout, out.stderr);
    out.stdout
}

#[test]
fn last_insert_id_and_row_count_equal_a_direct_connection() {
    let db = MariaDb::start().unwrap();
    db.root_sql("CREATE TABLE sqlmux_test.noise (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(5))")
        .unwrap();
    // Few backend connections: the script's statements share them with the noise sessions.
    let config =
        mysql_config(&db.addr(), "").replace("max_connections = 50", "max_connections = 3");
    let proxy = Proxy::start(&config).unwrap();
    let direct = script_run(db.port(), "direct", 0);
    let proxied = script_run(proxy.mysql_port(), "proxied", 4);
    assert!(!proxied.contains("MISMATCH"), "{proxied}");
    let pairs: Vec<(&str, &str)> = direct.lines().zip(proxied.lines()).collect();
    assert_eq!(direct.lines().count(), proxied.lines().count(), "{proxied}");
    for (d, p) in pairs {
        assert_eq!(p, d, "\ndirect:  {d}\nsqlmux:  {p}");
    }
    assert!(
        direct.contains("lastrowid 100"),
        "the explicit id case was exercised: {direct}"
    );
}
