//! The real `sqlmux` binary follows its files as Kubernetes updates them: a config file
//! replaced through a symlink swap routes by its new rule within 2 s, an invalid one is
//! refused (logged, counted) and the old runtime stays; a rotated password file is used
//! for new logins and new backend connections, and sessions already open stay.

use sqlmux_integration::binary::SqlmuxProcess;
use sqlmux_integration::poll::within;
use sqlmux_integration::proxy::SHOP_CLUSTER;
use sqlmux_integration::raw_mysql::RawClient;
use sqlmux_integration::{free_port, MariaDb};
use std::path::Path;
use std::time::Duration;

fn config(
    mysql: u16,
    http: u16,
    a: &MariaDb,
    b: &MariaDb,
    rule_hostgroup: u32,
    user: &str,
) -> String {
    format!(
        r#"
[listen]
mysql = "127.0.0.1:{mysql}"
http = "127.0.0.1:{http}"

{SHOP_CLUSTER}
[[servers]]
hostgroup = 10
address = "{}"

[[servers]]
hostgroup = 20
address = "{}"

[[users]]
name = "app"
{user}
cluster = "shop"

[[rules]]
match = "^SELECT @@port"
hostgroup = {rule_hostgroup}

[shutdown]
timeout_ms = 0
"#,
        a.addr(),
        b.addr()
    )
}

/// Replaces `path` the way Kubernetes updates a mounted ConfigMap: the new content in a
/// new file, a symlink to it renamed over the old name.
fn swap_in(path: &Path, content: &str, n: u32) {
    let dir = path.parent().unwrap();
    let data = dir.join(format!("..data-{n}"));
    std::fs::write(&data, content).unwrap();
    let link = dir.join(format!("..link-{n}"));
    std::os::unix::fs::symlink(&data, &link).unwrap();
    std::fs::rename(&link, path).unwrap();
}

fn port_answer(port: u16, password: &str) -> Result<String, String> {
    let (mut c, _) =
        RawClient::login(port, "app", password, Some("sqlmux_test")).map_err(|e| e.to_string())?;
    let rows = c
        .query("SELECT @@port")
        .map_err(|e| e.to_string())?
        .map_err(|e| e.message)?;
    Ok(rows.iter().map(|p| String::from_utf8_lossy(p)).collect())
}

#[test]
fn a_config_swapped_in_like_a_configmap_is_followed_and_a_bad_one_refused() {
    let (a, b) = (MariaDb::start().unwrap(), MariaDb::start().unwrap());
    let (mysql, http) = (free_port().unwrap(), free_port().unwrap());
    let user = "password = \"apppw\"";
    let p = SqlmuxProcess::start(
        &config(mysql, http, &a, &b, 10, user),
        &format!("127.0.0.1:{http}"),
    )
    .unwrap();
    assert!(port_answer(mysql, "apppw")
        .unwrap()
        .contains(&a.port().to_string()));
    swap_in(p.config_path(), &config(mysql, http, &a, &b, 20, user), 1);
    let took = within(Duration::from_secs(2), || {
        port_answer(mysql, "apppw").is_ok_and(|t| t.contains(&b.port().to_string()))
    })
    .expect("the new rule routes within 2 s");
    swap_in(p.config_path(), "[[clusters]]\nname = 1\n", 2);
    let refused = within(Duration::from_secs(3), || {
        p.log_text().contains("reload refused")
    });
    assert!(refused.is_some(), "{}", p.log_text());
    assert!(
        port_answer(mysql, "apppw")
            .unwrap()
            .contains(&b.port().to_string()),
        "the last good runtime stays"
    );
    let (_, metrics) = p.get("/metrics").unwrap();
    assert!(
        metrics.contains("sqlmux_config_reloads_total{result=\"refused\"} 1")
            && metrics.contains("sqlmux_config_reloads_total{result=\"applied\"} 1")
            && metrics.contains("sqlmux_config_generation 2"),
        "{metrics}"
    );
    eprintln!("config swap followed in {took:?}");
}

#[test]
fn a_rotated_password_file_is_used_for_new_logins_and_backend_connections() {
    let (a, b) = (MariaDb::start().unwrap(), MariaDb::start().unwrap());
    let (mysql, http) = (free_port().unwrap(), free_port().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("app-password");
    std::fs::write(&secret, "apppw\n").unwrap();
    let user = format!("password_file = {:?}", secret.display().to_string());
    let p = SqlmuxProcess::start(
        &config(mysql, http, &a, &b, 10, &user),
        &format!("127.0.0.1:{http}"),
    )
    .unwrap();
    let (mut before, _) = RawClient::login(mysql, "app", "apppw", Some("sqlmux_test")).unwrap();
    before.query("SELECT 1").unwrap().unwrap();
    // The password is rotated on the server, then in the Secret.
    for host in ["%", "localhost", "127.0.0.1"] {
        a.root_sql(&format!(
            "ALTER USER 'app'@'{host}' IDENTIFIED BY 'rotated'"
        ))
        .unwrap();
    }
    std::fs::write(&secret, "rotated\n").unwrap();
    let took = within(Duration::from_secs(3), || {
        port_answer(mysql, "rotated").is_ok()
    })
    .unwrap_or_else(|| panic!("the rotated password was never taken: {}", p.log_text()));
    assert!(
        port_answer(mysql, "rotated")
            .unwrap()
            .contains(&a.port().to_string()),
        "a backend connection logged in with the rotated password"
    );
    assert!(
        port_answer(mysql, "apppw").is_err(),
        "the old password is gone"
    );
    before
        .query("SELECT 1")
        .unwrap()
        .expect("a session open before the rotation stays");
    eprintln!("password rotation followed in {took:?}");
}
