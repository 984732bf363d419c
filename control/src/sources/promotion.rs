//! A leader Patroni has not marked primary yet (it takes the leader key, then promotes, then
//! polls the promotion once a second before it says so in etcd) is asked directly: its REST
//! `GET /patroni` reports its live role (from `pg_is_in_recovery()`), every [`POLL`], so
//! held writes go to it as soon as its promotion is over.

use super::http;
use std::time::Duration;

/// How often a promoting leader is asked.
pub const POLL: Duration = Duration::from_millis(100);

/// Returns once the member behind `api_url` says it is the primary.
pub async fn promoted(api_url: &str) {
    while !is_primary(api_url).await {
        tokio::time::sleep(POLL).await;
    }
}

/// Whether the member behind `api_url` says now that it is the primary (no answer: no).
pub async fn is_primary(api_url: &str) -> bool {
    http::get_json(api_url)
        .await
        .is_ok_and(|doc| says_primary(&doc))
}

/// Whether a `GET /patroni` document says the member runs as the primary.
fn says_primary(doc: &serde_json::Value) -> bool {
    matches!(doc["role"].as_str(), Some("master" | "primary"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_role_says_primary() {
        let doc = |role: &str| serde_json::json!({"state": "running", "role": role});
        assert!(says_primary(&doc("master")));
        assert!(says_primary(&doc("primary")));
        assert!(!says_primary(&doc("replica")));
        assert!(!says_primary(&serde_json::json!({"state": "stopped"})));
    }
}
