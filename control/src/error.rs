//! [`ApiError`]: every way a control request fails, mapped to its HTTP status in one place.

use super::body::{json_response, Response};
use hyper::header::{HeaderValue, ALLOW, WWW_AUTHENTICATE};
use hyper::StatusCode;
use sqlmux_proxy::topology::publish::PublishError;

/// Why a control request was refused. The JSON body is
/// `{"error": "<code>", "message": "<what went wrong>"}` (plus `current_generation` on 409).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No endpoint at this path.
    #[error("no endpoint at {0}")]
    NotFound(String),
    /// The endpoint exists, the method does not.
    #[error("method {method} is not allowed on {path} (allowed: {allow})")]
    MethodNotAllowed {
        /// Method asked for.
        method: String,
        /// Path asked for.
        path: String,
        /// The methods the endpoint takes, for the `Allow` header.
        allow: &'static str,
    },
    /// A bearer token is configured and the request did not carry it.
    #[error("missing or wrong bearer token (send `Authorization: Bearer <token>`)")]
    Unauthorized,
    /// The request body exceeds the limit.
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The request body could not be read (connection error, timeout).
    #[error("cannot read the request body: {0}")]
    Body(String),
    /// The body is not the JSON document the endpoint takes (serde's message).
    #[error("invalid JSON body: {0}")]
    BadJson(String),
    /// The document is well-formed but refused; the message names the field and problem.
    #[error("{0}")]
    Invalid(String),
    /// Compare-and-set failed: the request's generation is not the current one.
    #[error(
        "generation {expected} is stale: the current topology generation is {current}; \
         GET /v1/topology and retry"
    )]
    Conflict {
        /// The generation the request named.
        expected: u64,
        /// The generation in force.
        current: u64,
    },
    /// PATCH names a server that is not in the topology.
    #[error("no server {address} in hostgroup {hostgroup}")]
    NoSuchServer {
        /// Hostgroup named.
        hostgroup: u32,
        /// Address named.
        address: String,
    },
    /// A writer change within `failover.min_interval_ms` of the previous one, without
    /// `"force": true`; nothing was changed.
    #[error("{0}")]
    TooSoon(String),
    /// The servers of a cluster whose topology comes from a source (Patroni) cannot be
    /// replaced through the API; status and weight changes stay allowed.
    #[error("cluster {cluster} takes its servers from {origin}: change them there (status and weight changes are allowed here)")]
    Managed {
        /// The cluster.
        cluster: String,
        /// Where its topology comes from.
        origin: String,
    },
    /// Other writers kept swapping the topology under this one (without changing the
    /// generation); nothing was changed.
    #[error("the topology kept changing concurrently; nothing was changed, retry")]
    Busy,
    /// No `[control] token` is configured: the API answers reads only.
    #[error("changes need a control token: set [control] token (or token_file / token_env); without one the control API answers reads only")]
    ReadOnly,
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        match e {
            PublishError::Conflict { expected, current } => {
                ApiError::Conflict { expected, current }
            }
            PublishError::GenerationExhausted => ApiError::Invalid(e.to_string()),
            PublishError::TooSoon(why) => ApiError::TooSoon(why),
            PublishError::Busy => ApiError::Busy,
        }
    }
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) | Self::NoSuchServer { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::ReadOnly => StatusCode::FORBIDDEN,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Body(_) | Self::BadJson(_) | Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Conflict { .. } | Self::TooSoon(_) | Self::Managed { .. } => StatusCode::CONFLICT,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A stable, machine-readable name of the error kind.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Unauthorized => "unauthorized",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::Body(_) => "bad_body",
            Self::BadJson(_) => "bad_json",
            Self::Invalid(_) => "invalid",
            Self::Conflict { .. } => "generation_conflict",
            Self::TooSoon(_) => "writer_change_too_soon",
            Self::NoSuchServer { .. } => "no_such_server",
            Self::Managed { .. } => "managed_by_source",
            Self::Busy => "busy",
            Self::ReadOnly => "read_only_without_token",
        }
    }

    /// The JSON error response, with `Allow` / `WWW-Authenticate` where HTTP asks for them.
    pub fn into_response(self) -> Response {
        let mut body = serde_json::json!({
            "error": self.code(),
            "message": self.to_string(),
        });
        if let Self::Conflict { current, .. } = &self {
            body["current_generation"] = serde_json::json!(current);
        }
        let mut response = json_response(self.status(), &body);
        match &self {
            Self::MethodNotAllowed { allow, .. } => {
                response
                    .headers_mut()
                    .insert(ALLOW, HeaderValue::from_static(allow));
            }
            Self::Unauthorized => {
                response.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"sqlmux\""),
                );
            }
            _ => {}
        }
        response
    }
}
