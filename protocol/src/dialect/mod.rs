//! The two SQL dialects: what each has of its own on top of the shared SQL core (its
//! lexical rules, keywords, flags, SET parsing, rewrites).
//!
//! - [`mysql`] for MySQL and MariaDB,
//! - [`postgres`] for PostgreSQL.

pub mod mysql;
pub mod postgres;
