//! PostgreSQL protocol 3.0/3.2 messages, without sockets.
//!
//! sqlmux relays messages raw; it only looks at the few it must understand.
//!
//! - [`frame`]: splitting a byte stream into whole messages (tagged, and the untagged
//!   startup packets).
//! - [`startup`]: SSLRequest, CancelRequest and StartupMessage.
//! - [`backend`]: messages a server sends: builders for the ones sqlmux makes itself,
//!   views of the ones it reads (ReadyForQuery, ErrorResponse, ParameterStatus, ...).
//! - [`frontend`]: messages a client sends: builders for the ones sqlmux sends to backends,
//!   views of Parse/Bind/Describe/Close/Execute and rewriting their statement names.
//! - [`cstr`]: NUL-terminated string reading, shared by the views.

pub mod backend;
pub mod cstr;
pub mod frame;
pub mod frontend;
pub mod startup;

pub use frame::{decode_frame, decode_startup, FrameError, Message};

/// A malformed message.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum MessageError {
    /// The body ended before a field was complete.
    #[error("truncated {0} message")]
    Truncated(&'static str),
    /// A field has a value the protocol does not allow.
    #[error("invalid {0} message: {1}")]
    Invalid(&'static str, &'static str),
}
