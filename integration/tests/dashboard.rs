//! The Grafana dashboard (`deploy/grafana/sqlmux.json`) queries only series that `/metrics`
//! exposes: a proxy with both protocols, the monitor and some traffic (a statement, a pin,
//! an error) is scraped, and every `sqlmux_*` name in the dashboard's queries must be there.

use sqlmux_integration::raw_mysql::RawClient;
use sqlmux_integration::{MariaDb, Postgres, Proxy};
use std::collections::BTreeSet;

/// Every `sqlmux_*` metric name in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("sqlmux_") {
        let name: String = rest[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[i + name.len()..];
        names.push(name);
    }
    names
}

#[test]
fn every_series_the_dashboard_queries_is_exposed() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/grafana/sqlmux.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // Importable as is: the data source is a variable every panel uses.
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(variables
        .iter()
        .any(|v| v["type"] == "datasource" && v["query"] == "prometheus"));
    let mut wanted = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}",
            panel["title"]
        );
        for target in panel["targets"].as_array().unwrap() {
            wanted.extend(metric_names(target["expr"].as_str().unwrap()));
        }
    }
    assert!(wanted.len() >= 20, "{wanted:?}");

    let (mariadb, pg) = (MariaDb::start().unwrap(), Postgres::start().unwrap());
    let config = sqlmux_integration::proxy::both_protocols_config(
        &mariadb.addr(),
        &pg.addr(),
        "",
        "[monitor]\nuser = \"app\"\npassword = \"apppw\"\ninterval_ms = 100\n",
    );
    let p = Proxy::start(&config).unwrap();
    let (mut c, _) = RawClient::login(p.mysql_port(), "app", "apppw", Some("sqlmux_test")).unwrap();
    c.query("SELECT 1").unwrap().unwrap();
    c.query("BEGIN").unwrap().unwrap();
    c.query("COMMIT").unwrap().unwrap();
    // An unknown command: an error on the client's side.
    c.send(0, &[0xee]).unwrap();
    let _ = c.read_frame().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));

    let (status, metrics) = p.http("GET", "/metrics", None).unwrap();
    assert_eq!(status, 200);
    let exposed: BTreeSet<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|n| !exposed.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "queried but not exposed: {missing:?}\n{metrics}"
    );
}
