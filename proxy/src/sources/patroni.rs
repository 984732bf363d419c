//! What a Patroni cluster's state in its store says about the topology: the writer is the
//! leader member's `conn_url` host:port once that member says it is the primary (Patroni
//! takes the leader key before it promotes: until the promotion is over, writes wait); the
//! readers are the other members that are running and not tagged `noloadbalance`; a
//! `failover` key naming a leader or a candidate (written by `patronictl switchover` or
//! `failover` before the leader demotes; the new leader empties it to `{}`) means a switch
//! is under way.

use std::collections::BTreeMap;

/// The keys of `<namespace>/<scope>/` (without that prefix) and their values.
pub type Keys = BTreeMap<String, Vec<u8>>;

/// The topology a Patroni cluster's state gives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PatroniView {
    /// The leader's `host:port`; `None` while no member holds the leader key.
    pub writer: Option<String>,
    /// The running replicas that take reads (`host:port`), sorted.
    pub readers: Vec<String>,
    /// A switchover or failover was asked for and has not finished.
    pub switching: bool,
    /// The leader, when it has not said yet that it is the primary (no writer until then).
    pub promoting: Option<Promoting>,
}

/// A leader whose promotion may still run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promoting {
    /// Its `host:port`.
    pub address: String,
    /// Its Patroni REST endpoint (`api_url`), which says its live role.
    pub api_url: String,
}

impl PatroniView {
    /// The view once the promoting leader is known to be the primary: it is the writer.
    pub fn promoted(mut self) -> Self {
        if let Some(p) = self.promoting.take() {
            self.writer = Some(p.address);
        }
        self
    }
}

/// A member's entry (`members/<name>`), the fields sqlmux reads.
#[derive(Debug, serde::Deserialize)]
struct Member {
    conn_url: Option<String>,
    api_url: Option<String>,
    state: Option<String>,
    /// `master` (Patroni 3.0) or `primary` (later) once promoted; `promoted` while the
    /// promotion runs; `replica`, `standby_leader` otherwise. Absent: taken as primary.
    role: Option<String>,
    #[serde(default)]
    tags: serde_json::Map<String, serde_json::Value>,
}

/// Reads the view from the cluster's keys. A member whose entry does not parse is skipped.
pub fn view(keys: &Keys) -> PatroniView {
    let leader = keys
        .get("leader")
        .map(|v| String::from_utf8_lossy(v).trim().to_string());
    let mut writer = None;
    let mut promoting = None;
    let mut readers = Vec::new();
    for (key, value) in keys {
        let Some(name) = key.strip_prefix("members/") else {
            continue;
        };
        let Ok(member) = serde_json::from_slice::<Member>(value) else {
            continue;
        };
        let Some(address) = member.conn_url.as_deref().and_then(address_of) else {
            continue;
        };
        if leader.as_deref() == Some(name) {
            if is_primary(&member) {
                writer = Some(address);
            } else if let Some(api_url) = member.api_url.clone() {
                promoting = Some(Promoting { address, api_url });
            }
        } else if member.state.as_deref() == Some("running")
            && is_replica(&member)
            && !no_load_balance(&member)
        {
            readers.push(address);
        }
    }
    readers.sort();
    PatroniView {
        writer,
        readers,
        switching: keys.get("failover").is_some_and(|v| asks_for_a_switch(v)),
        promoting,
    }
}

/// Whether the leader member has finished its promotion (a member without a role, from an
/// old Patroni, is taken at its word that it leads).
fn is_primary(member: &Member) -> bool {
    matches!(member.role.as_deref(), None | Some("master" | "primary"))
}

/// The view from Patroni's REST `GET /cluster`: the member with role `leader` is the
/// writer once it says it is the primary (its live role is asked at its `api_url`: the
/// document says who holds the leader key, not whether it has promoted), so it comes back
/// as [`PatroniView::promoting`]; readers are `replica`/`sync_standby` members that are
/// `running` or `streaming` and not tagged `noloadbalance`. The document shows no switch
/// under way (only a scheduled one), so `switching` stays false.
pub fn view_of_cluster(doc: &serde_json::Value) -> PatroniView {
    let mut view = PatroniView::default();
    let members = doc["members"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    for m in members {
        let (Some(host), Some(port)) = (m["host"].as_str(), m["port"].as_u64()) else {
            continue;
        };
        let address = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let tags = m["tags"].as_object().cloned().unwrap_or_default();
        let member = Member {
            conn_url: None,
            api_url: m["api_url"].as_str().map(str::to_string),
            state: m["state"].as_str().map(str::to_string),
            role: None,
            tags,
        };
        match m["role"].as_str() {
            Some("leader") => {
                view.promoting = member.api_url.map(|api_url| Promoting { address, api_url });
            }
            Some("replica" | "sync_standby")
                if matches!(member.state.as_deref(), Some("running" | "streaming"))
                    && !no_load_balance(&member) =>
            {
                view.readers.push(address);
            }
            _ => {}
        }
    }
    view.readers.sort();
    view
}

/// Whether a member that does not lead says it is a replica (an old leader still demoting
/// says `master` until it has restarted as a replica: it takes no reads before that).
fn is_replica(member: &Member) -> bool {
    matches!(member.role.as_deref(), None | Some("replica"))
}

/// Whether a `failover` key's value asks for a switch now: it names a leader or a candidate
/// and is not scheduled (a scheduled switchover holds nothing until the leader changes: the
/// hold would run out long before). `{}` or an empty value is a switch that is over.
fn asks_for_a_switch(value: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Failover {
        #[serde(default)]
        leader: Option<String>,
        #[serde(default)]
        member: Option<String>,
        #[serde(default)]
        candidate: Option<String>,
        #[serde(default)]
        scheduled_at: Option<String>,
    }
    let Ok(f) = serde_json::from_slice::<Failover>(value) else {
        return false;
    };
    let named = [f.leader, f.member, f.candidate]
        .iter()
        .any(|n| n.as_deref().is_some_and(|n| !n.is_empty()));
    named && f.scheduled_at.is_none()
}

/// Whether the member's tags keep it from reads (`noloadbalance: true`, or a true-ish string).
fn no_load_balance(member: &Member) -> bool {
    match member.tags.get("noloadbalance") {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => matches!(s.as_str(), "true" | "on" | "yes" | "1"),
        _ => false,
    }
}

/// `host:port` of a libpq URL (`postgres://host:port/db`, `postgresql://user@host/db`;
/// port 5432 when absent; `[v6]:port` kept).
pub fn address_of(conn_url: &str) -> Option<String> {
    let rest = conn_url
        .strip_prefix("postgresql://")
        .or_else(|| conn_url.strip_prefix("postgres://"))?;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit('@').next()?;
    if host_port.is_empty() {
        return None;
    }
    let has_port = match host_port.rfind(']') {
        Some(bracket) => host_port[bracket..].contains(':'),
        None => host_port.contains(':'),
    };
    Some(if has_port {
        host_port.to_string()
    } else {
        format!("{host_port}:5432")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member_as(url: &str, state: &str, role: &str, tags: &str) -> Vec<u8> {
        format!(r#"{{"conn_url": "{url}", "api_url": "http://x:8008/patroni", "state": "{state}", "role": "{role}", "tags": {tags}}}"#)
            .into_bytes()
    }

    fn member(url: &str, state: &str, tags: &str) -> Vec<u8> {
        member_as(url, state, "replica", tags)
    }

    #[test]
    fn the_leader_writes_running_members_read_a_failover_key_is_a_switch() {
        let mut keys = Keys::new();
        keys.insert("leader".into(), b"n1".to_vec());
        keys.insert(
            "members/n1".into(),
            member_as(
                "postgres://127.0.0.1:5501/postgres",
                "running",
                "master",
                "{}",
            ),
        );
        keys.insert(
            "members/n2".into(),
            member("postgres://127.0.0.1:5502/postgres", "running", "{}"),
        );
        keys.insert(
            "members/n3".into(),
            member("postgres://127.0.0.1:5503/postgres", "starting", "{}"),
        );
        keys.insert(
            "members/n4".into(),
            member(
                "postgres://127.0.0.1:5504/postgres",
                "running",
                r#"{"noloadbalance": true}"#,
            ),
        );
        keys.insert("members/bad".into(), b"not json".to_vec());
        keys.insert("config".into(), b"{}".to_vec());
        assert_eq!(
            view(&keys),
            PatroniView {
                writer: Some("127.0.0.1:5501".into()),
                readers: vec!["127.0.0.1:5502".into()],
                switching: false,
                promoting: None,
            }
        );
        keys.insert(
            "failover".into(),
            br#"{"leader": "n1", "member": "n2"}"#.to_vec(),
        );
        assert!(view(&keys).switching);
        keys.insert("failover".into(), b"{}".to_vec());
        assert!(!view(&keys).switching, "emptied by the new leader: over");
        keys.insert(
            "failover".into(),
            br#"{"candidate": "n2", "scheduled_at": "2030-01-01T00:00:00+00:00"}"#.to_vec(),
        );
        assert!(!view(&keys).switching, "scheduled: nothing held yet");
        keys.insert("failover".into(), b"".to_vec());
        assert!(!view(&keys).switching);
        keys.remove("leader");
        let v = view(&keys);
        assert_eq!(v.writer, None, "no leader, no writer");
        assert!(
            !v.readers.contains(&"127.0.0.1:5501".to_string()),
            "a demoting old leader (still `master`) takes no reads"
        );
        keys.insert(
            "members/n1".into(),
            member("postgres://127.0.0.1:5501/postgres", "running", "{}"),
        );
        assert!(view(&keys).readers.contains(&"127.0.0.1:5501".to_string()));
    }

    #[test]
    fn a_leader_still_promoting_is_no_writer_yet() {
        let mut keys = Keys::new();
        keys.insert("leader".into(), b"n2".to_vec());
        let url = "postgres://127.0.0.1:5502/postgres";
        for (role, writes) in [
            ("replica", false),
            ("promoted", false),
            ("standby_leader", false),
            ("master", true),
            ("primary", true),
        ] {
            keys.insert("members/n2".into(), member_as(url, "running", role, "{}"));
            let v = view(&keys);
            assert_eq!(v.writer.is_some(), writes, "{role}");
            assert_eq!(v.promoting.is_some(), !writes, "{role}");
            assert_eq!(
                v.clone().promoted().writer.as_deref(),
                Some("127.0.0.1:5502"),
                "once it says it is the primary"
            );
            assert!(
                v.readers.is_empty(),
                "the leader is never a reader ({role})"
            );
        }
    }

    #[test]
    fn the_rest_cluster_document_gives_a_leader_to_confirm_and_readers() {
        let doc = serde_json::json!({"members": [
            {"name": "n1", "role": "leader", "state": "running", "api_url": "http://127.0.0.1:8001/patroni", "host": "127.0.0.1", "port": 5501, "timeline": 2},
            {"name": "n2", "role": "replica", "state": "streaming", "api_url": "http://127.0.0.1:8002/patroni", "host": "127.0.0.1", "port": 5502, "lag": 0},
            {"name": "n3", "role": "sync_standby", "state": "running", "host": "127.0.0.1", "port": 5503, "lag": 0},
            {"name": "n4", "role": "replica", "state": "starting", "host": "127.0.0.1", "port": 5504},
            {"name": "n5", "role": "replica", "state": "running", "host": "127.0.0.1", "port": 5505, "tags": {"noloadbalance": true}},
            {"name": "n6", "role": "replica", "state": "running", "host": "::1", "port": 5506},
            {"name": "bad", "role": "replica", "state": "running"}
        ]});
        let v = view_of_cluster(&doc);
        assert_eq!(v.writer, None, "not before it says it is the primary");
        assert_eq!(
            v.promoting,
            Some(Promoting {
                address: "127.0.0.1:5501".into(),
                api_url: "http://127.0.0.1:8001/patroni".into()
            })
        );
        assert_eq!(
            v.readers,
            vec!["127.0.0.1:5502", "127.0.0.1:5503", "[::1]:5506"]
        );
        assert!(!v.switching);
        assert_eq!(
            view_of_cluster(&serde_json::json!({})),
            PatroniView::default()
        );
    }

    #[test]
    fn addresses_of_libpq_urls() {
        assert_eq!(
            address_of("postgres://10.0.0.1:5433/postgres").as_deref(),
            Some("10.0.0.1:5433")
        );
        assert_eq!(
            address_of("postgresql://u:p@db1/postgres").as_deref(),
            Some("db1:5432")
        );
        assert_eq!(
            address_of("postgres://[::1]:6000/x").as_deref(),
            Some("[::1]:6000")
        );
        assert_eq!(
            address_of("postgres://[::1]/x").as_deref(),
            Some("[::1]:5432")
        );
        assert_eq!(address_of("mysql://h:1"), None);
        assert_eq!(address_of("postgres:///db"), None);
    }
}
