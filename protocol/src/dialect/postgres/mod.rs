//! The PostgreSQL-dialect SQL lexer: statement classification, SET parsing, statement object
//! names, sequence-function calls, digests.
//!
//! Everything works on `&[u8]` (statement text need not be UTF-8) and never panics.
//! [`classify()`] and [`digest_hash`] never allocate: they run on every statement.
//!
//! - `lexer`: PostgreSQL's lexical rules for the shared lexer (`crate::lex`): strings (`'..'`, `E'..'`, `U&'..'`, dollar quotes), quoted
//!   names, nested comments, parameters, operators.
//! - `keywords`: reserved words and the statement words sqlmux looks for.
//! - `kind`: [`Kind`], what a statement is, from its first keywords.
//! - `statements`: the heads of CREATE, SET, BEGIN, DECLARE, COPY and EXPLAIN.
//! - `walker`: splits a text into statements at top-level `;`; which tokens run now.
//! - `flags`: [`Flags`], facts about a statement.
//! - `funcs`: calls of the built-in functions sqlmux cares about.
//! - `classify`: [`classify()`] -> [`Classification`].
//! - `set`: [`parse_set`] -> [`SetCommand`] with a [`SetValue`].
//! - `names`: identifiers and literals; [`statement_object`], [`insert_table`].
//! - `sequences`: [`sequence_calls`] ([`SequenceCall`]), [`has_unrewritable_sequence_read`],
//!   [`nextval_sequences`].
//! - `shape`: [`integer_literals`], where texts of one shape differ.
//! - `digest`: [`digest()`], [`digest_hash`] (the normalization is shared: `crate::lex`).

mod classify;
mod digest;
mod flags;
mod funcs;
mod keywords;
mod kind;
pub(crate) mod lexer;
mod names;
mod sequences;
mod set;
mod shape;
mod statements;
mod walker;

#[cfg(test)]
mod robustness_tests;

pub use classify::{classify, statements, Classification};
pub use digest::{digest, digest_hash};
pub use flags::Flags;
pub use kind::Kind;
pub use names::{insert_table, statement_object};
pub use sequences::{
    has_unrewritable_sequence_read, nextval_sequences, sequence_calls, SequenceCall,
};
pub use set::{parse_set, setting_is_off, turns_off_standard_strings, SetCommand, SetValue};
pub use shape::integer_literals;
