//! [`digest`]: a MySQL statement's normalized text and its hash, to group statements for
//! stats and match query rules. The normalization is the shared one (`crate::lex::digest`);
//! here: what MySQL's keywords mean to it.

use super::keywords::{kw, Kw};
use super::lexer::{MySql, Token};
use crate::lex::digest::{normalized, normalized_hash, DigestWords, Role};
use crate::lex::hash::hash;
use crate::lex::sink::into_text;

/// A statement digest: the normalized text and a 64-bit hash of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digest {
    /// The normalized text (invalid UTF-8 replaced by U+FFFD).
    pub text: String,
    /// The hash of the normalized bytes.
    pub hash: u64,
}

/// Normalizes a statement text and hashes it.
pub fn digest(sql: &[u8]) -> Digest {
    let text = normalized::<MySql>(sql);
    let hash = hash(&text);
    Digest {
        text: into_text(text),
        hash,
    }
}

/// Only the hash, without allocating; equal to `digest(sql).hash`.
pub fn digest_hash(sql: &[u8]) -> u64 {
    normalized_hash::<MySql>(sql)
}

impl DigestWords for MySql {
    #[inline(always)]
    fn keyword(sql: &[u8], t: &Token) -> Option<(&'static str, Role)> {
        let k = kw(sql, t)?;
        let role = match k {
            Kw::NULL | Kw::TRUE | Kw::FALSE => Role::Constant,
            Kw::VALUES | Kw::VALUE => Role::Values,
            Kw::DEFAULT => Role::Default,
            Kw::IN => Role::In,
            _ => Role::Other,
        };
        Some((k.name(), role))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(sql: &str) -> String {
        let got = digest(sql.as_bytes());
        assert_eq!(got.hash, digest_hash(sql.as_bytes()), "{sql}");
        got.text
    }

    #[test]
    fn fixtures_literals_and_lists() {
        for (sql, want) in [
            (
                "SELECT * FROM t WHERE id = 42 AND name = 'bob'",
                "SELECT * FROM t WHERE id = ? AND name = ?",
            ),
            (
                "select  c from sbtest1 where id in (1,2, 3)",
                "SELECT c FROM sbtest1 WHERE id IN (...)",
            ),
            (
                "SELECT c FROM sbtest1 WHERE id=4711",
                "SELECT c FROM sbtest1 WHERE id=?",
            ),
            ("  SELECT 1 ;  ", "SELECT ?"),
            ("SELECT 1;;", "SELECT ?"),
            ("SELECT 1; SELECT 'x';", "SELECT ?; SELECT ?"),
            ("/* sqlmux:hostgroup=1 */ SELECT 1 -- c", "SELECT ?"),
            ("SELECT/*c*/1", "SELECT ?"),
            (
                "SELECT /*+ MAX_EXECUTION_TIME(10) */ a FROM t",
                "SELECT a FROM t",
            ),
            ("/*!40101 SET NAMES utf8 */", "SET NAMES utf8"),
            (
                "SELECT a FROM t WHERE b = -5 AND c = a - 5",
                "SELECT a FROM t WHERE b = ? AND c = a - ?",
            ),
            ("SELECT -1, +2.5e3, x-1, (1)-1", "SELECT ?, ?, x-?, (?)-?"),
            (
                "SELECT 'a' 'b', \"c\", X'0F', 0x1F, b'1', N'n', _utf8mb4'u'",
                "SELECT ?, ?, ?, ?, ?, ?, ?",
            ),
            (
                "SELECT ? FROM t WHERE a IN (?)",
                "SELECT ? FROM t WHERE a IN (...)",
            ),
            (
                "SELECT * FROM t WHERE a NOT IN ('x', -1, NULL)",
                "SELECT * FROM t WHERE a NOT IN (...)",
            ),
            (
                "SELECT * FROM t WHERE a IN(1)",
                "SELECT * FROM t WHERE a IN(...)",
            ),
            (
                "SELECT * FROM t WHERE a IN (b, 1)",
                "SELECT * FROM t WHERE a IN (b, ?)",
            ),
            (
                "SELECT * FROM t WHERE a IN (SELECT 1)",
                "SELECT * FROM t WHERE a IN (SELECT ?)",
            ),
            (
                "SELECT * FROM t WHERE a IN ()",
                "SELECT * FROM t WHERE a IN ()",
            ),
        ] {
            assert_eq!(d(sql), want, "{sql}");
        }
    }

    #[test]
    fn fixtures_values_names_and_blanks() {
        for (sql, want) in [
            (
                "INSERT INTO t (a, b) VALUES (1, 'x')",
                "INSERT INTO t (a, b) VALUES (...)",
            ),
            (
                "insert into t values (1,2),(3,4), (5, DEFAULT)",
                "INSERT INTO t VALUES (...)",
            ),
            ("INSERT INTO t VALUE (1)", "INSERT INTO t VALUE (...)"),
            (
                "INSERT INTO t VALUES (1, NOW()), (2, NOW())",
                "INSERT INTO t VALUES (?, NOW()), (?, NOW())",
            ),
            (
                "INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = VALUES(a)",
                "INSERT INTO t VALUES (...) ON DUPLICATE KEY UPDATE a = VALUES(a)",
            ),
            (
                "SELECT t.level, level FROM t",
                "SELECT t.level, LEVEL FROM t",
            ),
            (
                "select count(*) from `Order` o",
                "SELECT COUNT(*) FROM `Order` o",
            ),
            (
                "SELECT @a, @@session.sql_mode, `x y`",
                "SELECT @a, @@session.sql_mode, `x y`",
            ),
            ("SELECT last_insert_id()", "SELECT LAST_INSERT_ID()"),
            ("SELECT a\n\t,\r\nb", "SELECT a , b"),
            (
                "UPDATE t SET a = a + 1 WHERE id = 5",
                "UPDATE t SET a = a + ? WHERE id = ?",
            ),
            ("SELECT * FROM t LIMIT 10, 20", "SELECT * FROM t LIMIT ?, ?"),
            ("SELECT * FROM t1", "SELECT * FROM t1"),
            ("", ""),
            ("  -- only a comment", ""),
            (";", ""),
        ] {
            assert_eq!(d(sql), want, "{sql}");
        }
    }

    #[test]
    fn same_statement_same_hash() {
        let a = digest(b"SELECT c FROM sbtest1 WHERE id = 1");
        let b = digest(b"select c  FROM sbtest1 where id = 99 -- x");
        assert_eq!(a, b);
        assert_ne!(a.hash, digest_hash(b"SELECT c FROM sbtest2 WHERE id = 1"));
        assert_eq!(
            digest_hash(b"SELECT * FROM t WHERE a IN (1)"),
            digest_hash(b"SELECT * FROM t WHERE a IN (1, 2, 3, 4, 5, 6)")
        );
    }

    #[test]
    fn hash_only_equals_digest_hash_for_long_texts() {
        let mut sql = String::from("SELECT ");
        for i in 0..200 {
            sql.push_str(&format!("col_{i} + 'literal {i}', `quoted name {i}`, "));
        }
        sql.push_str("x FROM t");
        let b = sql.as_bytes();
        for end in [0, 1, 100, 255, 256, 257, 1000, b.len()] {
            assert_eq!(digest(&b[..end]).hash, digest_hash(&b[..end]), "{end}");
        }
        let long_word = format!("SELECT {} FROM t", "w".repeat(1000));
        assert_eq!(
            digest(long_word.as_bytes()).hash,
            digest_hash(long_word.as_bytes())
        );
    }

    #[test]
    fn non_utf8_text_is_lossy_hash_is_of_bytes() {
        let got = digest(b"SELECT caf\xe9 FROM t");
        assert_eq!(got.text, "SELECT caf\u{fffd} FROM t");
        assert_eq!(got.hash, hash(b"SELECT caf\xe9 FROM t"));
        assert_eq!(got.hash, digest_hash(b"SELECT caf\xe9 FROM t"));
    }
}
