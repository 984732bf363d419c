//! A small etcd v3 client over etcd's JSON gateway (HTTP/1.1, `POST /v3/kv/range` and the
//! streaming `POST /v3/watch`): read every key under a prefix with the store's revision,
//! then watch the prefix from the next revision. The watch stream is newline-delimited JSON;
//! [`next_line`] frames it (incomplete is `Ok(None)`).

use super::http::{self, Unreachable};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::{Buf, BytesMut};
use http_body_util::BodyExt;

/// Why talking to etcd failed.
#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// No endpoint could be reached (the one tried last, and why).
    #[error("etcd {0}")]
    Unreachable(#[from] Unreachable),
    /// etcd answered something sqlmux cannot read.
    #[error("etcd answered an unreadable response: {0}")]
    Protocol(String),
    /// The watch was cancelled (compacted past its revision, or by the server).
    #[error("etcd cancelled the watch: {0}")]
    Cancelled(String),
    /// The stream ended.
    #[error("etcd closed the watch stream")]
    Closed,
}

/// One change of a watched key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The key now holds this value.
    Put(String, Vec<u8>),
    /// The key was deleted.
    Delete(String),
}

/// A batch of changes and the store revision they bring it to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// The store's revision after them.
    pub revision: i64,
    /// The changes, in order.
    pub changes: Vec<Change>,
}

/// The endpoints of one etcd cluster.
#[derive(Debug, Clone)]
pub struct Etcd {
    endpoints: Vec<String>,
}

impl Etcd {
    /// A client of these `host:port` endpoints (tried in order).
    pub fn new(endpoints: Vec<String>) -> Self {
        Self { endpoints }
    }

    /// Every key under `prefix` (the prefix taken off) and the store's revision.
    pub async fn range(
        &self,
        prefix: &str,
    ) -> Result<(i64, std::collections::BTreeMap<String, Vec<u8>>), EtcdError> {
        let body = serde_json::json!({
            "key": B64.encode(prefix),
            "range_end": B64.encode(prefix_end(prefix)),
        });
        let (endpoint, response) = self.post("/v3/kv/range", &body).await?;
        let bytes = http::body(&endpoint, response).await?;
        let range: wire::RangeResponse =
            serde_json::from_slice(&bytes).map_err(|e| EtcdError::Protocol(e.to_string()))?;
        let mut keys = std::collections::BTreeMap::new();
        for kv in range.kvs {
            let (key, value) = kv.decode(prefix)?;
            keys.insert(key, value);
        }
        Ok((range.header.revision, keys))
    }

    /// Watches `prefix` from `start_revision` on; changes come from the returned stream.
    pub async fn watch(&self, prefix: &str, start_revision: i64) -> Result<Watch, EtcdError> {
        let body = serde_json::json!({
            "create_request": {
                "key": B64.encode(prefix),
                "range_end": B64.encode(prefix_end(prefix)),
                "start_revision": start_revision.to_string(),
            }
        });
        let (_, response) = self.post("/v3/watch", &body).await?;
        Ok(Watch {
            body: response.into_body(),
            buf: BytesMut::new(),
            prefix: prefix.to_string(),
        })
    }

    /// Sends a JSON POST to the first endpoint that answers; returns it and its response.
    async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(String, hyper::Response<hyper::body::Incoming>), EtcdError> {
        let mut last = http::unreachable("-", "no endpoint configured");
        for endpoint in &self.endpoints {
            match http::send(endpoint, hyper::Method::POST, path, Some(body)).await {
                Ok(response) => return Ok((endpoint.clone(), response)),
                Err(e) => last = e,
            }
        }
        Err(last.into())
    }
}

/// The end of the key range of a prefix: the prefix with its last byte incremented.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// An open watch.
pub struct Watch {
    body: hyper::body::Incoming,
    buf: BytesMut,
    prefix: String,
}

impl Watch {
    /// The next batch of changes (the watch's own "created" answer is skipped).
    pub async fn next(&mut self) -> Result<Changes, EtcdError> {
        loop {
            while let Some(line) = next_line(&mut self.buf)? {
                if let Some(changes) = line.into_changes(&self.prefix)? {
                    return Ok(changes);
                }
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => return Err(EtcdError::Protocol(e.to_string())),
                None => return Err(EtcdError::Closed),
            }
        }
    }
}

/// The most a line of the watch stream may take before it is refused.
const MAX_LINE: usize = 16 << 20;

/// Frames one line of the watch stream: `Ok(None)` until a whole line is there, then the
/// parsed line, the bytes consumed.
pub fn next_line(buf: &mut BytesMut) -> Result<Option<wire::WatchLine>, EtcdError> {
    let Some(end) = buf.iter().position(|b| *b == b'\n') else {
        if buf.len() > MAX_LINE {
            return Err(EtcdError::Protocol("a watch message over 16 MiB".into()));
        }
        return Ok(None);
    };
    let line: wire::WatchLine = if buf[..end].iter().all(u8::is_ascii_whitespace) {
        wire::WatchLine::default()
    } else {
        serde_json::from_slice(&buf[..end]).map_err(|e| EtcdError::Protocol(e.to_string()))?
    };
    buf.advance(end + 1);
    Ok(Some(line))
}

/// The JSON of the gateway, as far as sqlmux reads it (int64 fields come as strings).
pub mod wire {
    use super::{Change, Changes, EtcdError, B64};
    use base64::Engine;
    use serde::Deserialize;

    /// An int64 as etcd's gateway writes it: a string (or a number).
    fn int64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Int {
            Text(String),
            Number(i64),
        }
        match Int::deserialize(d)? {
            Int::Number(n) => Ok(n),
            Int::Text(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }

    /// A response header.
    #[derive(Debug, Default, Deserialize)]
    pub struct Header {
        /// The store's revision.
        #[serde(default, deserialize_with = "int64")]
        pub revision: i64,
    }

    /// A key and its value, base64.
    #[derive(Debug, Deserialize)]
    pub struct Kv {
        key: String,
        #[serde(default)]
        value: String,
    }

    impl Kv {
        /// The key without `prefix`, and the value.
        pub fn decode(&self, prefix: &str) -> Result<(String, Vec<u8>), EtcdError> {
            let bad = |e: base64::DecodeError| EtcdError::Protocol(e.to_string());
            let key = B64.decode(&self.key).map_err(bad)?;
            let key = String::from_utf8_lossy(&key);
            let key = key.strip_prefix(prefix).unwrap_or(&key).to_string();
            Ok((key, B64.decode(&self.value).map_err(bad)?))
        }
    }

    /// The answer of a range request.
    #[derive(Debug, Deserialize)]
    pub struct RangeResponse {
        /// Its header.
        #[serde(default)]
        pub header: Header,
        /// The keys (absent when none).
        #[serde(default)]
        pub kvs: Vec<Kv>,
    }

    /// One event of a watch.
    #[derive(Debug, Deserialize)]
    pub struct Event {
        /// `DELETE`, or absent for a put.
        #[serde(rename = "type", default)]
        kind: Option<String>,
        kv: Kv,
    }

    /// One message of a watch stream.
    #[derive(Debug, Default, Deserialize)]
    pub struct WatchResult {
        #[serde(default)]
        header: Header,
        #[serde(default)]
        canceled: bool,
        #[serde(default)]
        cancel_reason: Option<String>,
        #[serde(default)]
        events: Vec<Event>,
    }

    /// One line of the watch stream: a result or an error.
    #[derive(Debug, Default, Deserialize)]
    pub struct WatchLine {
        #[serde(default)]
        result: Option<WatchResult>,
        #[serde(default)]
        error: Option<serde_json::Value>,
    }

    impl WatchLine {
        /// The changes it brings (`None`: nothing changed, e.g. the watch was created).
        pub fn into_changes(self, prefix: &str) -> Result<Option<Changes>, EtcdError> {
            if let Some(error) = self.error {
                return Err(EtcdError::Cancelled(error.to_string()));
            }
            let Some(result) = self.result else {
                return Ok(None);
            };
            if result.canceled {
                return Err(EtcdError::Cancelled(
                    result
                        .cancel_reason
                        .unwrap_or_else(|| "no reason given".into()),
                ));
            }
            if result.events.is_empty() {
                return Ok(None);
            }
            let mut changes = Vec::with_capacity(result.events.len());
            for event in result.events {
                let (key, value) = event.kv.decode(prefix)?;
                changes.push(match event.kind.as_deref() {
                    Some("DELETE") => Change::Delete(key),
                    _ => Change::Put(key, value),
                });
            }
            Ok(Some(Changes {
                revision: result.header.revision,
                changes,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_stream_is_framed_by_lines_and_read_as_changes() {
        // Byte fixtures as etcd 3.4's gateway sends them (keys under /service/ledger/).
        let created = br#"{"result":{"header":{"cluster_id":"1","member_id":"2","revision":"2","raft_term":"2"},"created":true}}"#;
        let put = br#"{"result":{"header":{"revision":"3"},"events":[{"kv":{"key":"L3NlcnZpY2UvbGVkZ2VyL2xlYWRlcg==","create_revision":"2","mod_revision":"3","version":"2","value":"bm9kZTI="}}]}}"#;
        let delete = br#"{"result":{"header":{"revision":"4"},"events":[{"type":"DELETE","kv":{"key":"L3NlcnZpY2UvbGVkZ2VyL2xlYWRlcg==","mod_revision":"4"}}]}}"#;
        let prefix = "/service/ledger/";
        let mut buf = BytesMut::new();
        buf.extend_from_slice(created);
        assert!(next_line(&mut buf).unwrap().is_none(), "incomplete line");
        buf.extend_from_slice(b"\n");
        buf.extend_from_slice(put);
        buf.extend_from_slice(b"\n");
        buf.extend_from_slice(&delete[..20]);
        let first = next_line(&mut buf).unwrap().unwrap();
        assert_eq!(first.into_changes(prefix).unwrap(), None);
        let second = next_line(&mut buf).unwrap().unwrap();
        assert_eq!(
            second.into_changes(prefix).unwrap(),
            Some(Changes {
                revision: 3,
                changes: vec![Change::Put("leader".into(), b"node2".to_vec())],
            })
        );
        assert!(next_line(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&delete[20..]);
        buf.extend_from_slice(b"\n");
        let third = next_line(&mut buf).unwrap().unwrap();
        assert_eq!(
            third.into_changes(prefix).unwrap().unwrap().changes,
            vec![Change::Delete("leader".into())]
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn a_cancelled_watch_or_garbage_is_an_error() {
        let mut buf = BytesMut::from(&br#"{"result":{"canceled":true,"cancel_reason":"mvcc: required revision has been compacted"}}"#[..]);
        buf.extend_from_slice(b"\n{not json\n");
        let cancelled = next_line(&mut buf).unwrap().unwrap().into_changes("/");
        assert!(matches!(cancelled, Err(EtcdError::Cancelled(r)) if r.contains("compacted")));
        assert!(next_line(&mut buf).is_err());
    }

    #[test]
    fn the_range_of_a_prefix_ends_after_it() {
        assert_eq!(prefix_end("/service/ledger/"), b"/service/ledger0");
        assert_eq!(prefix_end("a\u{7f}"), b"a\x80");
    }
}
