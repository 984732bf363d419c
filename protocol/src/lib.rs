//! Wire formats, no sockets.
//!
//! - [`mysql`]: MySQL/MariaDB packets: framing, the greeting and handshake response,
//!   authentication scrambles, OK/ERR/EOF packets, the result-set scanner used to relay raw.
pub mod mysql;
