//! The HTTP/1.1 requests a source sends (hyper's client, one connection per request): a
//! JSON POST to etcd's gateway, a GET of Patroni's REST API.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::time::Duration;

/// Limit for connecting and for an answer that is read whole.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// The most a whole answer may take (a Patroni `/cluster` of many members stays far below).
const MAX_BODY: usize = 4 << 20;

/// An endpoint that could not be asked.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{endpoint}: {reason}")]
pub struct Unreachable {
    /// The endpoint (`host:port`).
    pub endpoint: String,
    /// What failed.
    pub reason: String,
}

/// An `Unreachable` for `endpoint`.
pub fn unreachable(endpoint: &str, reason: impl std::fmt::Display) -> Unreachable {
    Unreachable {
        endpoint: endpoint.to_string(),
        reason: reason.to_string(),
    }
}

/// Sends one request to `endpoint` (`host:port`) on a connection of its own and returns
/// the response once its head is in (a streaming body, like etcd's watch, goes on); an
/// answer that is not 2xx is an error.
pub async fn send(
    endpoint: &str,
    method: hyper::Method,
    path: &str,
    json: Option<&serde_json::Value>,
) -> Result<hyper::Response<hyper::body::Incoming>, Unreachable> {
    let exchange = async {
        let stream = tokio::net::TcpStream::connect(endpoint)
            .await
            .map_err(|e| unreachable(endpoint, e))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| unreachable(endpoint, e))?;
        tokio::spawn(connection);
        let body = json.map(|j| Bytes::from(j.to_string())).unwrap_or_default();
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, endpoint)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| unreachable(endpoint, e))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| unreachable(endpoint, e))?;
        if !response.status().is_success() {
            return Err(unreachable(
                endpoint,
                format!("HTTP {} for {path}", response.status()),
            ));
        }
        Ok(response)
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| unreachable(endpoint, "no answer in time"))?
}

/// The whole body of a response from `endpoint`, at most [`MAX_BODY`] bytes, within
/// [`REQUEST_TIMEOUT`].
pub async fn body(
    endpoint: &str,
    response: hyper::Response<hyper::body::Incoming>,
) -> Result<Bytes, Unreachable> {
    let limited = http_body_util::Limited::new(response.into_body(), MAX_BODY);
    Ok(tokio::time::timeout(REQUEST_TIMEOUT, limited.collect())
        .await
        .map_err(|_| unreachable(endpoint, "no answer in time"))?
        .map_err(|e| unreachable(endpoint, e))?
        .to_bytes())
}

/// `GET url` (`http://host:port/path`) read whole as JSON.
pub async fn get_json(url: &str) -> Result<serde_json::Value, Unreachable> {
    let (endpoint, path) = split_url(url).ok_or_else(|| unreachable(url, "not an http:// URL"))?;
    let response = send(endpoint, hyper::Method::GET, path, None).await?;
    let bytes = body(endpoint, response).await?;
    serde_json::from_slice(&bytes).map_err(|e| unreachable(endpoint, format!("not JSON: {e}")))
}

/// `host:port` and the path (`/` when none) of an `http://` URL.
pub fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("http://")?;
    match rest.find('/') {
        Some(slash) => Some((&rest[..slash], &rest[slash..])),
        None => Some((rest, "/")),
    }
    .filter(|(host, _)| !host.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_endpoint_and_path() {
        assert_eq!(
            split_url("http://127.0.0.1:8008/patroni"),
            Some(("127.0.0.1:8008", "/patroni"))
        );
        assert_eq!(split_url("http://db:8008"), Some(("db:8008", "/")));
        assert_eq!(split_url("https://db:8008/x"), None);
        assert_eq!(split_url("http:///x"), None);
    }
}
