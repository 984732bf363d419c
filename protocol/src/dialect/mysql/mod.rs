//! The SQL lexer: statement classification, SET parsing, local queries, session-function
//! rewriting and digests.
//!
//! MySQL/MariaDB dialect (PostgreSQL's is `crate::dialect::postgres`). Everything works on `&[u8]` (statement text
//! need not be UTF-8) and never panics. [`classify()`] and [`digest_hash`] never allocate: they
//! run on every statement; a full SQL parser would be too slow there.
//!
//! - `lexer`: MySQL's lexical rules for the shared lexer (`crate::lex`): strings, comments,
//!   executable comments, variables, numbers.
//! - `keywords`: reserved words and the statement words sqlmux looks for.
//! - `kind`: [`Kind`], what a statement is, from its first keywords.
//! - `walker`: splits a text into statements at top-level `;`.
//! - `flags`: [`Flags`], facts about a statement.
//! - `classify`: [`classify()`] -> [`Classification`].
//! - `set`: [`parse_set`] -> [`SetItem`]s with [`SetValue`]s.
//! - `local`: [`local_query`]: statements sqlmux answers itself ([`LocalQuery`]).
//! - `rewrite`: [`replace_session_functions`]: the session's LAST_INSERT_ID()/ROW_COUNT().
//! - `digest`: [`digest()`], [`digest_hash`] -> [`Digest`] (the normalization is shared).

mod classify;
mod digest;
mod flags;
mod keywords;
mod kind;
pub(crate) mod lexer;
mod local;
mod rewrite;
mod set;
mod walker;

#[cfg(test)]
mod robustness_tests;

pub use classify::{classify, Classification};
pub use digest::{digest, digest_hash, Digest};
pub use flags::Flags;
pub use kind::Kind;
pub use local::{local_query, parse_kill, Kill, LocalQuery};
pub use rewrite::replace_session_functions;
pub use set::{parse_set, SetItem, SetValue};
