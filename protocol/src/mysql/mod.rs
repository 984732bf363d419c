//! MySQL/MariaDB client/server protocol.
//!
//! - [`packet`]: 4-byte-header framing, split packets of 16 MiB and more.
//! - [`lenenc`]: length-encoded integers and strings.
//! - [`constants`]: capability and status flags, command bytes.
//! - [`handshake`]: the server greeting sqlmux sends and the client's handshake response.
//! - [`auth`]: salts and scramble checks for mysql_native_password and caching_sha2_password.
//! - [`response`]: OK, ERR and EOF packets: build and parse.
//! - [`scanner`]: walks a backend's response to find where it ends, without copying rows.
//! - [`session_track`]: session-state changes reported in OK packets.

pub mod auth;
pub mod constants;
pub mod handshake;
pub mod lenenc;
pub mod packet;
pub mod response;
pub mod scanner;
pub mod session_track;
