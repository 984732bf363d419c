//! The SQL core both dialects share: the lexer cursor, tokens, keyword tables, digests,
//! flag sets and the routing hint. A dialect (`crate::dialect::mysql` for MySQL/MariaDB,
//! `crate::dialect::postgres` for PostgreSQL) plugs in what its bytes and words mean.
//!
//! - `token`: [`Token`], [`TokenKind`].
//! - `classification`: [`Classification`], what one pass over a text found.
//! - `bytes`: byte classes and 8-bytes-at-a-time searches.
//! - `lexer`: [`Lexer`], generic over a [`Dialect`] at compile time.
//! - `keywords`: the compile-time keyword table each dialect's `keywords!` list builds.
//! - `kind`: [`Kind`], what a statement is: one vocabulary for both dialects.
//! - `head`: [`Head`], what a statement's first keywords say.
//! - `reader`: [`Reader`], a statement's tokens with their keywords ([`Keywords`]).
//! - `walker`: [`Walker`], a text's statements at top-level `;` ([`Statements`]).
//! - `digest`: one normalization for both dialects ([`DigestWords`] says what a keyword is).
//! - `hash`: the digest's 64-bit hash.
//! - `sink`: where a digest's normalized bytes go (text or hash).
//! - `hint`: the `/* sqlmux:hostgroup=N */` comment.
//! - `flag_set`: the set operations of both dialects' statement flags.

mod bytes;
mod classification;
pub(crate) mod digest;
pub(crate) mod flag_set;
pub(crate) mod hash;
mod head;
pub(crate) mod hint;
pub(crate) mod keywords;
mod kind;
mod lexer;
mod reader;
pub(crate) mod sink;
mod token;
mod walker;

#[cfg(test)]
pub(crate) mod robustness;
#[cfg(test)]
pub(crate) mod tests;

pub(crate) use bytes::{find, find_either, is_ident_byte, is_space};
pub use classification::Classification;
pub(crate) use classification::{classify, Classify};
pub(crate) use head::Head;
pub use kind::Kind;
pub(crate) use lexer::{Dialect, Lexer};
pub(crate) use reader::{Keywords, Reader, Start};
pub(crate) use token::{Token, TokenKind};
#[cfg(test)]
pub(crate) use walker::{split, splits_alike};
pub(crate) use walker::{Statements, Walker};
