//! [`digest`]: a PostgreSQL statement's normalized text, and [`digest_hash`], its hash, to
//! group statements for stats and match query rules. The normalization is the shared one
//! (`crate::lex::digest`); here: what PostgreSQL's keywords mean to it (`ARRAY[...]` folds).

use super::keywords::{kw, Kw};
use super::lexer::{Postgres, Token};
use crate::lex::digest::{normalized, normalized_hash, DigestWords, Role};
use crate::lex::sink::into_text;

/// The normalized text of a statement text (invalid UTF-8 replaced by U+FFFD).
pub fn digest(sql: &[u8]) -> String {
    into_text(normalized::<Postgres>(sql))
}

/// The hash of the normalized bytes, without allocating; equal to the hash of
/// `digest(sql)` when the text is UTF-8.
pub fn digest_hash(sql: &[u8]) -> u64 {
    normalized_hash::<Postgres>(sql)
}

impl DigestWords for Postgres {
    #[inline]
    fn keyword(sql: &[u8], t: &Token) -> Option<(&'static str, Role)> {
        let k = kw(sql, t)?;
        let role = match k {
            Kw::IN => Role::In,
            Kw::VALUES => Role::Values,
            Kw::ARRAY => Role::Array,
            Kw::NULL | Kw::TRUE | Kw::FALSE => Role::Constant,
            Kw::DEFAULT => Role::Default,
            _ => Role::Other,
        };
        Some((k.name(), role))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lex::hash::hash;

    /// The hash [`digest_hash`] gives, of an already normalized text.
    fn hash_of(normalized: &str) -> u64 {
        hash(normalized.as_bytes())
    }

    #[test]
    fn normalization() {
        for (sql, want) in [
            (
                "select * from t where id = 42 and name = 'bob'",
                "SELECT * FROM t WHERE id = ? AND name = ?",
            ),
            (
                "SELECT c FROM sbtest1 WHERE id = $1",
                "SELECT c FROM sbtest1 WHERE id = ?",
            ),
            (
                "select  c from t where id in (1,2, $3)",
                "SELECT c FROM t WHERE id IN (...)",
            ),
            (
                "SELECT * FROM t WHERE id = ANY(ARRAY[1, 2, 3])",
                "SELECT * FROM t WHERE id = ANY(ARRAY[...])",
            ),
            (
                "SELECT * FROM t WHERE id = ANY($1::int[])",
                "SELECT * FROM t WHERE id = ANY(?::int[])",
            ),
            ("  SELECT 1 ;  ", "SELECT ?"),
            ("SELECT 1; SELECT 'x';", "SELECT ?; SELECT ?"),
            ("/* sqlmux:hostgroup=1 */ SELECT 1 -- c", "SELECT ?"),
            ("SELECT/* a /* b */ c */1", "SELECT ?"),
            (
                "SELECT 'a'\n'b', E'\\'', U&'x', $$y$$, $t$z$t$, B'01', X'0F', 0x1F, 1.5e3",
                "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?",
            ),
            ("SELECT -1, x-1, (1)-1, a=-1", "SELECT ?, x-?, (?)-?, a=?"),
            ("SELECT '1'::int, a::text", "SELECT ?::int, a::text"),
            (
                "INSERT INTO t (a, b) VALUES (1, 'x'::text), ($1, DEFAULT)",
                "INSERT INTO t (a, b) VALUES (...)",
            ),
            (
                "INSERT INTO t VALUES (1, now()) RETURNING id",
                "INSERT INTO t VALUES (?, now()) RETURNING id",
            ),
            (
                "SELECT t.user, user, \"User\" FROM t",
                "SELECT t.user, USER, \"User\" FROM t",
            ),
            ("SELECT a\n\t,\r\nb", "SELECT a , b"),
            (
                "SELECT nextval('s'), currval('s')",
                "SELECT nextval(?), currval(?)",
            ),
            ("", ""),
            ("  -- only a comment", ""),
            (";", ""),
        ] {
            assert_eq!(digest(sql.as_bytes()), want, "{sql}");
            assert_eq!(digest_hash(sql.as_bytes()), hash_of(want), "{sql}");
        }
    }

    #[test]
    fn same_statement_same_hash() {
        let a = digest_hash(b"SELECT c FROM sbtest1 WHERE id = 1");
        assert_eq!(a, digest_hash(b"select c  FROM sbtest1 where id = $1 -- x"));
        assert_ne!(a, digest_hash(b"SELECT c FROM sbtest2 WHERE id = 1"));
        assert_eq!(
            digest_hash(b"SELECT * FROM t WHERE a IN (1)"),
            digest_hash(b"SELECT * FROM t WHERE a IN (1, 2, 3, 4, 5, 6)")
        );
    }

    #[test]
    fn long_and_non_utf8_texts() {
        let mut sql = String::from("SELECT ");
        for i in 0..200 {
            sql.push_str(&format!("col_{i} + 'literal {i}', \"quoted name {i}\", "));
        }
        sql.push_str("x FROM t");
        let b = sql.as_bytes();
        for end in [0, 1, 100, 255, 256, 257, 1000, b.len()] {
            assert_eq!(digest_hash(&b[..end]), hash_of(&digest(&b[..end])), "{end}");
        }
        assert_eq!(
            digest(b"SELECT caf\xe9 FROM t"),
            "SELECT caf\u{fffd} FROM t"
        );
        assert_eq!(
            digest_hash(b"SELECT caf\xe9 FROM t"),
            hash(b"SELECT caf\xe9 FROM t")
        );
    }
}
