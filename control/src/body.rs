//! Bounded request bodies and JSON / text responses.

use super::error::ApiError;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Body;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::time::Duration;

/// Largest request body accepted (1 MiB).
pub const MAX_BODY: usize = 1024 * 1024;

/// Longest time a client may take to send a request body.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// What every control endpoint answers.
pub type Response = hyper::Response<Full<Bytes>>;

/// Reads a body of at most [`MAX_BODY`] bytes and parses it as JSON.
pub async fn read_json<T, B>(headers: &HeaderMap, body: B) -> Result<T, ApiError>
where
    T: DeserializeOwned,
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let bytes = read_limited(headers, body, MAX_BODY).await?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::BadJson(e.to_string()))
}

/// Reads a body of at most `limit` bytes: refused early when `Content-Length` says more,
/// cut off when a chunked body grows past it.
pub async fn read_limited<B>(headers: &HeaderMap, body: B, limit: usize) -> Result<Bytes, ApiError>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let collected = tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, limit).collect())
        .await
        .map_err(|_| ApiError::Body(format!("not received within {} s", BODY_TIMEOUT.as_secs())))?;
    match collected {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::PayloadTooLarge { limit })
        }
        Err(e) => Err(ApiError::Body(e.to_string())),
    }
}

/// A JSON response.
pub fn json_response(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(mut bytes) => {
            bytes.push(b'\n');
            with_type(status, "application/json", bytes)
        }
        // Serializing our own documents cannot fail; answer 500 rather than panic if it did.
        Err(e) => text_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the response: {e}\n"),
        ),
    }
}

/// A plain-text response.
pub fn text_response(status: StatusCode, text: impl Into<Bytes>) -> Response {
    with_type(status, "text/plain; charset=utf-8", text)
}

/// A response with a body and its content type.
pub fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response {
    let mut response = hyper::Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_even_without_content_length() {
        let body = Full::new(Bytes::from(vec![b' '; 11]));
        let err = read_limited(&HeaderMap::new(), body, 10).await.unwrap_err();
        assert_eq!(err, ApiError::PayloadTooLarge { limit: 10 });
        let body = Full::new(Bytes::from(vec![b' '; 10]));
        assert_eq!(
            read_limited(&HeaderMap::new(), body, 10)
                .await
                .unwrap()
                .len(),
            10
        );
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_before_reading() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("2000000"));
        let err = read_limited(&headers, Full::new(Bytes::new()), MAX_BODY)
            .await
            .unwrap_err();
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn malformed_json_names_the_serde_error() {
        let err = read_json::<serde_json::Value, _>(&HeaderMap::new(), Full::new(Bytes::from("{")))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ApiError::BadJson(m) if m.contains("EOF")),
            "{err}"
        );
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }
}
