//! Wire formats, no sockets.
//!
//! - [`mysql`]: MySQL/MariaDB packets: framing, the greeting and handshake response,
//!   authentication scrambles, OK/ERR/EOF packets, the result-set scanner used to relay raw.
//! - [`sql`]: the SQL lexer: statement classification, SET parsing, local queries,
//!   LAST_INSERT_ID()/ROW_COUNT() rewriting, digests.
pub mod mysql;
pub mod sql;
