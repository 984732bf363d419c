//! Names and literal values: identifiers (folded like PostgreSQL does), string literals, and
//! the object a statement names ([`statement_object`], [`insert_table`]).

use super::keywords::{kw, Kw};
use super::lexer::{Lexer, Token, TokenKind};

/// An identifier's name: an unquoted word lower-cased (ASCII, as PostgreSQL folds it), a
/// `"quoted"` name unquoted exactly. None for other tokens, unterminated or `U&"..."` names.
pub(crate) fn ident(sql: &[u8], t: &Token) -> Option<String> {
    let text = t.text(sql);
    match t.kind {
        TokenKind::Word => Some(String::from_utf8_lossy(text).to_ascii_lowercase()),
        TokenKind::QuotedIdent if t.closed && text.first() == Some(&b'"') && text.len() >= 2 => {
            let inner = text.get(1..text.len() - 1)?;
            Some(undouble(inner, b'"'))
        }
        _ => None,
    }
}

/// `inner` with doubled `quote`s made single.
fn undouble(inner: &[u8], quote: u8) -> String {
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while let Some(&b) = inner.get(i) {
        out.push(b);
        i += if b == quote && inner.get(i + 1) == Some(&quote) {
            2
        } else {
            1
        };
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A string literal's value: `'...'` and `N'...'` (`''` undoubled), `E'...'` without
/// backslashes, `$tag$...$tag$`. None for other tokens, unterminated strings, `U&'...'` and
/// `E'...'` with backslash escapes.
pub(crate) fn string_value(sql: &[u8], t: &Token) -> Option<String> {
    if t.kind != TokenKind::String || !t.closed {
        return None;
    }
    let text = t.text(sql);
    match text.first()? | 0x20 {
        b'\'' => quoted_value(text),
        b'n' => quoted_value(text.get(1..)?),
        b'e' => {
            let rest = text.get(1..)?;
            if rest.contains(&b'\\') {
                return None;
            }
            quoted_value(rest)
        }
        b'$' => {
            let tag_end = 1 + text.get(1..)?.iter().position(|&b| b == b'$')?;
            let body = text.get(tag_end + 1..text.len().checked_sub(tag_end + 1)?)?;
            Some(String::from_utf8_lossy(body).into_owned())
        }
        _ => None,
    }
}

/// The value of `'...'` (quotes included in `text`).
fn quoted_value(text: &[u8]) -> Option<String> {
    if text.len() < 2 || text.first() != Some(&b'\'') || text.last() != Some(&b'\'') {
        return None;
    }
    Some(undouble(text.get(1..text.len() - 1)?, b'\''))
}

/// A possibly qualified name at `lex`: `a`, `s.a`, `"S".a` -> `a`, `s.a`, `S.a`.
pub(crate) fn qualified_name(lex: &mut Lexer<'_>) -> Option<String> {
    let sql = lex.sql();
    let mut name = ident(sql, &lex.next_sig()?)?;
    while lex.peek_sig().is_some_and(|t| t.is_punct(sql, b".")) {
        lex.next_sig();
        name.push('.');
        name.push_str(&ident(sql, &lex.next_sig()?)?);
    }
    Some(name)
}

/// The name argument of `PREPARE name` / `EXECUTE name` / `DEALLOCATE [PREPARE] name`,
/// `DECLARE name`, `CLOSE name`, `LISTEN channel` / `UNLISTEN channel`: lower-cased unless
/// quoted. None for `ALL`/`*` and when the (first) statement is none of those.
pub fn statement_object(sql: &[u8]) -> Option<String> {
    let mut lex = Lexer::new(sql);
    let first = kw(sql, &lex.next_sig()?)?;
    match first {
        Kw::PREPARE => {
            let mut peek = lex.clone();
            // PREPARE TRANSACTION 'gid' is two-phase commit.
            if peek.next_sig().and_then(|t| kw(sql, &t)) == Some(Kw::TRANSACTION)
                && peek.next_sig()?.kind == TokenKind::String
            {
                return None;
            }
        }
        Kw::DEALLOCATE => {
            if lex.peek_sig().and_then(|t| kw(sql, &t)) == Some(Kw::PREPARE) {
                lex.next_sig();
            }
        }
        Kw::EXECUTE | Kw::DECLARE | Kw::CLOSE | Kw::LISTEN | Kw::UNLISTEN => {}
        _ => return None,
    }
    let name = lex.next_sig()?;
    if matches!(first, Kw::DEALLOCATE | Kw::CLOSE) && kw(sql, &name) == Some(Kw::ALL) {
        return None;
    }
    ident(sql, &name)
}

/// The table of `INSERT INTO [schema.]table` (unquoted, lower-cased unless quoted, the schema
/// kept: `public.items`) when the text's first statement is an INSERT (also `WITH ...
/// INSERT`); else None.
pub fn insert_table(sql: &[u8]) -> Option<String> {
    let mut lex = Lexer::new(sql);
    match kw(sql, &lex.next_sig()?)? {
        Kw::INSERT => {}
        Kw::WITH => {
            let mut depth = 0i64;
            loop {
                let t = lex.next_sig()?;
                match t.kind {
                    TokenKind::Semicolon => return None,
                    TokenKind::Punct if t.is_punct(sql, b"(") => depth += 1,
                    TokenKind::Punct if t.is_punct(sql, b")") => depth -= 1,
                    TokenKind::Word if depth <= 0 => match kw(sql, &t) {
                        Some(Kw::INSERT) => break,
                        Some(
                            Kw::SELECT
                            | Kw::TABLE
                            | Kw::UPDATE
                            | Kw::DELETE
                            | Kw::MERGE
                            | Kw::VALUES,
                        ) => return None,
                        _ => {}
                    },
                    _ => {}
                }
            }
        }
        _ => return None,
    }
    if kw(sql, &lex.next_sig()?) != Some(Kw::INTO) {
        return None;
    }
    qualified_name(&mut lex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(sql: &[u8]) -> Token {
        Lexer::new(sql).next().unwrap()
    }

    #[test]
    fn identifiers() {
        for (sql, want) in [
            (&b"Foo"[..], Some("foo")),
            (b"\"Foo\"", Some("Foo")),
            (b"\"a\"\"b\"", Some("a\"b")),
            (b"\"open", None),
            (b"U&\"x\"", None),
            (b"'s'", None),
            (b"caf\xc3\x89", Some("caf\u{c9}")),
        ] {
            assert_eq!(ident(sql, &first(sql)).as_deref(), want, "{sql:?}");
        }
    }

    #[test]
    fn string_values() {
        for (sql, want) in [
            (&b"'a''b'"[..], Some("a'b")),
            (b"''", Some("")),
            (b"N'x'", Some("x")),
            (b"E'x'", Some("x")),
            (b"e'x''y'", Some("x'y")),
            (br"E'x\'y'", None),
            (b"$$a'b$$", Some("a'b")),
            (b"$t$a$$b$t$", Some("a$$b")),
            (b"U&'x'", None),
            (b"'open", None),
            (b"$t$open", None),
            (b"x", None),
        ] {
            assert_eq!(string_value(sql, &first(sql)).as_deref(), want, "{sql:?}");
        }
    }

    #[test]
    fn statement_objects() {
        for (sql, want) in [
            ("PREPARE Stmt1 AS SELECT 1", Some("stmt1")),
            ("PREPARE \"S1\" (int) AS SELECT $1", Some("S1")),
            ("PREPARE TRANSACTION 'x'", None),
            ("prepare transaction AS SELECT 1", Some("transaction")),
            ("EXECUTE s1 (1, 2)", Some("s1")),
            ("DEALLOCATE s1", Some("s1")),
            ("DEALLOCATE PREPARE S1", Some("s1")),
            ("DEALLOCATE ALL", None),
            ("DEALLOCATE PREPARE ALL", None),
            ("/* c */ DECLARE Cur CURSOR FOR SELECT 1", Some("cur")),
            ("CLOSE \"Cur\"", Some("Cur")),
            ("CLOSE ALL", None),
            ("LISTEN Chan", Some("chan")),
            ("UNLISTEN \"Chan\"", Some("Chan")),
            ("UNLISTEN *", None),
            ("SELECT 1", None),
            ("NOTIFY c", None),
            ("", None),
            ("EXECUTE", None),
        ] {
            assert_eq!(statement_object(sql.as_bytes()).as_deref(), want, "{sql}");
        }
    }

    #[test]
    fn insert_tables() {
        for (sql, want) in [
            ("INSERT INTO Items (a) VALUES (1)", Some("items")),
            ("insert into public.items VALUES (1)", Some("public.items")),
            (
                "INSERT INTO \"Public\".\"Items\" AS i VALUES (1)",
                Some("Public.Items"),
            ),
            (
                "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x",
                Some("t"),
            ),
            ("WITH x AS (INSERT INTO a VALUES (1)) SELECT 1", None),
            ("SELECT 1; INSERT INTO t VALUES (1)", None),
            ("INSERT t VALUES (1)", None),
            ("INSERT INTO", None),
            ("UPDATE t SET a = 1", None),
        ] {
            assert_eq!(insert_table(sql.as_bytes()).as_deref(), want, "{sql}");
        }
    }
}
