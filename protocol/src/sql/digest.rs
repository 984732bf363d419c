//! [`digest`]: a statement's normalized text and its hash, to group statements for stats
//! and match query rules.
//!
//! Normalization: literals (strings, numbers, hex/bit literals, `?`, a signed number after
//! an operator, adjacent strings) become `?`; a parenthesized list of literals after `IN`
//! becomes `(...)`, and so do the literal rows after `VALUES` (`VALUES (...)`); comments
//! (the sqlmux hint too) and executable-comment markers are removed (their content stays);
//! whitespace and comments between tokens become one space, none at the ends; trailing `;`
//! go; keywords are upper-cased unless qualified (`t.status`); identifiers, variables and
//! operators stay as written.

use super::hash::{hash, Hasher};
use super::keywords::{kw, Kw};
use super::lexer::{Lexer, Token, TokenKind};
use super::sink::{into_text, Buffered, Sink};

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
    let mut sink = Buffered::new(Vec::with_capacity(sql.len() + 16));
    normalize(sql, &mut sink);
    let text = sink.finish();
    let hash = hash(&text);
    Digest {
        text: into_text(text),
        hash,
    }
}

/// Only the hash, without allocating; equal to `digest(sql).hash`.
pub fn digest_hash(sql: &[u8]) -> u64 {
    let mut sink = Buffered::new(Hasher::new());
    normalize(sql, &mut sink);
    sink.finish().finish()
}

/// What was emitted last, for sign folding, string merging and qualified names.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    Nothing,
    /// Something a binary operator can follow: a name, a literal, `)`.
    Value,
    /// A string literal's `?` (an adjacent string is the same literal).
    Str,
    /// A keyword or an operator: a sign after it is unary.
    Operator,
    /// A `.`: the next word is a qualified name.
    Dot,
}

fn is_literal(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::String | TokenKind::DoubleQuoted | TokenKind::Number | TokenKind::Placeholder
    )
}

fn is_string(kind: TokenKind) -> bool {
    matches!(kind, TokenKind::String | TokenKind::DoubleQuoted)
}

fn normalize<S: Sink>(sql: &[u8], out: &mut S) {
    let mut lex = Lexer::new(sql);
    let mut last = Last::Nothing;
    // A `;` is written only once something follows it.
    let mut semicolon: Option<bool> = None;
    while let Some(t) = lex.next_sig() {
        if t.kind == TokenKind::Semicolon {
            if last != Last::Nothing && semicolon.is_none() {
                semicolon = Some(t.space_before);
            }
            continue;
        }
        if let Some(space) = semicolon.take() {
            out.put(if space { b" ;" } else { b";" });
            last = Last::Operator;
        }
        if t.space_before && last != Last::Nothing {
            out.put(b" ");
        }
        last = match t.kind {
            TokenKind::String | TokenKind::DoubleQuoted => {
                if last != Last::Str {
                    out.put(b"?");
                }
                skip_adjacent_strings(&mut lex);
                Last::Str
            }
            TokenKind::Number | TokenKind::Placeholder => {
                out.put(b"?");
                Last::Value
            }
            TokenKind::Punct => punct(&t, sql, &mut lex, last, out),
            TokenKind::Word => word(&t, sql, &mut lex, last, out),
            _ => {
                out.put(t.text(sql));
                Last::Value
            }
        };
    }
}

/// `'a' 'b'` is one string to MySQL.
fn skip_adjacent_strings(lex: &mut Lexer<'_>) {
    while lex.peek_sig().is_some_and(|n| is_string(n.kind)) {
        lex.next_sig();
    }
}

#[inline(always)]
fn punct<S: Sink>(t: &Token, sql: &[u8], lex: &mut Lexer<'_>, last: Last, out: &mut S) -> Last {
    let text = t.text(sql);
    if (text == b"-" || text == b"+")
        && !matches!(last, Last::Value | Last::Str)
        && lex.peek_sig().is_some_and(|n| n.kind == TokenKind::Number)
    {
        lex.next_sig();
        out.put(b"?");
        return Last::Value;
    }
    out.put(text);
    match text {
        b"." => Last::Dot,
        b")" => Last::Value,
        _ => Last::Operator,
    }
}

#[inline(always)]
fn word<S: Sink>(t: &Token, sql: &[u8], lex: &mut Lexer<'_>, last: Last, out: &mut S) -> Last {
    let text = t.text(sql);
    let qualified = last == Last::Dot || sql.get(t.end()) == Some(&b'.');
    let Some(k) = kw(sql, t).filter(|_| !qualified) else {
        out.put(text);
        return Last::Value;
    };
    out.put(k.name().as_bytes());
    let values = matches!(k, Kw::VALUES | Kw::VALUE);
    if k == Kw::IN || values {
        if let Some((open, after)) = literal_list(lex, values) {
            out.put(if open.space_before {
                b" (...)"
            } else {
                b"(...)"
            });
            *lex = after;
            return Last::Value;
        }
    }
    match k {
        Kw::NULL | Kw::TRUE | Kw::FALSE => Last::Value,
        _ => Last::Operator,
    }
}

/// After IN or VALUES: the `(` and the lexer past the list, when the list holds only
/// literals (VALUES: one or more such rows, comma-separated).
fn literal_list<'a>(lex: &Lexer<'a>, values: bool) -> Option<(Token, Lexer<'a>)> {
    let sql = lex.sql();
    let mut p = lex.clone();
    let open = p.next_sig()?;
    if !open.is_punct(sql, b"(") {
        return None;
    }
    loop {
        loop {
            let mut item = p.next_sig()?;
            if item.is_punct(sql, b"-") || item.is_punct(sql, b"+") {
                item = p.next_sig()?;
                if item.kind != TokenKind::Number {
                    return None;
                }
            }
            let ok = is_literal(item.kind)
                || match kw(sql, &item) {
                    Some(Kw::NULL | Kw::TRUE | Kw::FALSE) => true,
                    Some(Kw::DEFAULT) => values,
                    _ => false,
                };
            if !ok {
                return None;
            }
            if is_string(item.kind) {
                skip_adjacent_strings(&mut p);
            }
            let sep = p.next_sig()?;
            if sep.is_punct(sql, b")") {
                break;
            }
            if !sep.is_punct(sql, b",") {
                return None;
            }
        }
        if !values {
            return Some((open, p));
        }
        let mut q = p.clone();
        let more = q.next_sig().is_some_and(|c| c.is_punct(sql, b","))
            && q.next_sig().is_some_and(|o| o.is_punct(sql, b"("));
        if !more {
            return Some((open, p));
        }
        p = q;
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
    fn fixtures() {
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
