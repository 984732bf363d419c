//! Wire formats and SQL, no sockets.
//!
//! - [`mysql`]: MySQL/MariaDB packets: framing, the greeting and handshake response,
//!   authentication scrambles, OK/ERR/EOF packets, the result-set scanner used to relay raw.
//! - [`postgres`]: PostgreSQL messages: framing, startup packets, the few messages sqlmux
//!   reads or makes, and statement-name rewriting for the extended protocol.
//! - `lex` (private): the SQL core both dialects share: tokens, the lexer cursor and the
//!   statement walker generic over a dialect, statement kinds, keyword tables, the digest
//!   normalization, flag sets, the routing hint.
//! - [`dialect`]: what is each dialect's own: [`dialect::mysql`] (MySQL/MariaDB: statement
//!   classification, SET parsing, local queries, LAST_INSERT_ID()/ROW_COUNT() rewriting,
//!   digests) and [`dialect::postgres`] (classification, SET parsing, statement object
//!   names, sequence-function calls, digests).
//! - [`fuzz_targets`]: what each fuzz target runs, replayed from the corpora by the tests.
pub mod dialect;
pub mod fuzz_targets;
mod lex;
pub mod mysql;
pub mod postgres;
