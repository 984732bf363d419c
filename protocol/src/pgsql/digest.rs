//! [`digest`]: a PostgreSQL statement's normalized text, and [`digest_hash`], its hash, to
//! group statements for stats and match query rules.
//!
//! Normalization: literals (strings of every form, numbers, bit strings, `$n` parameters, a
//! signed number after an operator, adjacent strings) become `?`; a parenthesized list of
//! literals after `IN` becomes `(...)`, the literal rows after `VALUES` too (`VALUES (...)`),
//! and a literal `ARRAY[...]` becomes `ARRAY[...]`; comments (the sqlmux hint too) are
//! removed; whitespace and comments between tokens become one space, none at the ends;
//! trailing `;` go; keywords are upper-cased unless qualified (`t.user`); identifiers, quoted
//! names and operators stay as written.

use super::keywords::{kw, Kw};
use super::lexer::{Lexer, Token, TokenKind};
use crate::sql::hash::Hasher;
use crate::sql::sink::{into_text, Buffered, Sink};

/// The normalized text of a statement text (invalid UTF-8 replaced by U+FFFD).
pub fn digest(sql: &[u8]) -> String {
    let mut sink = Buffered::new(Vec::with_capacity(sql.len() + 16));
    normalize(sql, &mut sink);
    into_text(sink.finish())
}

/// The hash of the normalized bytes, without allocating; equal to the hash of
/// `digest(sql)` when the text is UTF-8.
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
    /// A string literal's `?` (an adjacent string continues it).
    Str,
    /// A keyword or an operator: a sign after it is unary.
    Operator,
    /// A `.`: the next word is a qualified name.
    Dot,
}

fn is_literal(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::String | TokenKind::Number | TokenKind::Param
    )
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
            TokenKind::String => {
                if last != Last::Str {
                    out.put(b"?");
                }
                skip_adjacent_strings(&mut lex);
                Last::Str
            }
            TokenKind::Number | TokenKind::Param => {
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

/// `'a'\n'b'` is one string to PostgreSQL.
fn skip_adjacent_strings(lex: &mut Lexer<'_>) {
    while lex.peek_sig().is_some_and(|n| n.kind == TokenKind::String) {
        lex.next_sig();
    }
}

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
        b")" | b"]" => Last::Value,
        _ => Last::Operator,
    }
}

fn word<S: Sink>(t: &Token, sql: &[u8], lex: &mut Lexer<'_>, last: Last, out: &mut S) -> Last {
    let text = t.text(sql);
    let qualified = last == Last::Dot || sql.get(t.end()) == Some(&b'.');
    let Some(k) = kw(sql, t).filter(|_| !qualified) else {
        out.put(text);
        return Last::Value;
    };
    out.put(k.name().as_bytes());
    let list = match k {
        Kw::IN => Some((b"(", b")", false)),
        Kw::VALUES => Some((b"(", b")", true)),
        Kw::ARRAY => Some((b"[", b"]", false)),
        _ => None,
    };
    if let Some((open, close, rows)) = list {
        if let Some((first, after)) = literal_list(lex, open, close, rows) {
            if first.space_before {
                out.put(b" ");
            }
            out.put(open);
            out.put(b"...");
            out.put(close);
            *lex = after;
            return Last::Value;
        }
    }
    match k {
        Kw::NULL | Kw::TRUE | Kw::FALSE => Last::Value,
        _ => Last::Operator,
    }
}

/// One literal of a list at `p`: a (signed) literal, NULL/TRUE/FALSE (DEFAULT in VALUES
/// rows), with optional `::type` casts. False when something else is there.
fn list_item(p: &mut Lexer<'_>, rows: bool) -> Option<()> {
    let sql = p.sql();
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
            Some(Kw::DEFAULT) => rows,
            _ => false,
        };
    if !ok {
        return None;
    }
    if item.kind == TokenKind::String {
        skip_adjacent_strings(p);
    }
    while p.peek_sig().is_some_and(|c| c.is_punct(sql, b"::")) {
        p.next_sig();
        let ty = p.next_sig()?;
        if !matches!(ty.kind, TokenKind::Word | TokenKind::QuotedIdent) {
            return None;
        }
    }
    Some(())
}

/// After IN, VALUES or ARRAY: the opening token and the lexer past the list, when the list
/// holds only literals (VALUES: one or more such rows, comma-separated).
fn literal_list<'a>(
    lex: &Lexer<'a>,
    open: &[u8],
    close: &[u8],
    rows: bool,
) -> Option<(Token, Lexer<'a>)> {
    let sql = lex.sql();
    let mut p = lex.clone();
    let first = p.next_sig()?;
    if !first.is_punct(sql, open) {
        return None;
    }
    loop {
        loop {
            list_item(&mut p, rows)?;
            let sep = p.next_sig()?;
            if sep.is_punct(sql, close) {
                break;
            }
            if !sep.is_punct(sql, b",") {
                return None;
            }
        }
        if !rows {
            return Some((first, p));
        }
        let mut q = p.clone();
        let more = q.next_sig().is_some_and(|c| c.is_punct(sql, b","))
            && q.next_sig().is_some_and(|o| o.is_punct(sql, open));
        if !more {
            return Some((first, p));
        }
        p = q;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::hash::hash;

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
