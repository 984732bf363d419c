//! Wire formats, no sockets.
//!
//! - [`mysql`]: MySQL/MariaDB packets: framing, the greeting and handshake response,
//!   authentication scrambles, OK/ERR/EOF packets, the result-set scanner used to relay raw.
//! - [`pg`]: PostgreSQL messages: framing, startup packets, the few messages sqlmux reads or
//!   makes, and statement-name rewriting for the extended protocol.
//! - [`pgsql`]: the PostgreSQL-dialect SQL lexer: statement classification, SET parsing,
//!   statement object names, sequence-function calls, digests.
//! - `lex` (private): the SQL core both dialects share: tokens, the lexer cursor generic
//!   over a dialect, keyword tables, the digest normalization, flag sets, the routing hint.
//! - [`sql`]: the SQL lexer: statement classification, SET parsing, local queries,
//!   LAST_INSERT_ID()/ROW_COUNT() rewriting, digests.
//! - [`fuzz_targets`]: what each fuzz target runs, replayed from the corpora by the tests.
pub mod fuzz_targets;
mod lex;
pub mod mysql;
pub mod pg;
pub mod pgsql;
pub mod sql;
