//! Sequence function calls, for the caller to rewrite the session-bound `lastval()` and
//! `currval('seq')` and to remember which sequences `nextval`/`setval` touched.
//!
//! Only calls in what a statement runs now count (not in a function or view definition,
//! not in a plain EXPLAIN).

use std::ops::Range;

use super::funcs::{call_at, Func};
use super::lexer::{Lexer, Token, TokenKind};
use super::names::string_value;
use super::walker::Walker;

/// One `lastval()` or `currval('literal')` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceCall {
    /// The bytes of the whole call, from the name (or its `pg_catalog.` qualifier) to `)`.
    pub range: Range<usize>,
    /// The string literal argument of `currval(...)` (quotes removed, e.g.
    /// `public.items_id_seq`; a `::regclass` cast after it is part of the call); None for
    /// `lastval()`.
    pub sequence: Option<String>,
}

/// Calls every built-in call in the running parts of every statement with the function,
/// where the call starts and a lexer just past the function's name.
fn for_each_call<'a>(sql: &'a [u8], mut f: impl FnMut(Func, usize, Lexer<'a>)) {
    let mut w = Walker::new(sql);
    while w.next_statement().is_some() {
        let mut prev = [None, None];
        while let Some(t) = w.next_sig() {
            if w.running() && matches!(t.kind, TokenKind::Word | TokenKind::QuotedIdent) {
                if let Some((func, start)) = call_at(sql, &t, prev, &w.clone_lexer()) {
                    f(func, start, w.clone_lexer());
                }
            }
            prev = [Some(t), prev[0]];
        }
    }
}

/// `( 'literal' [::type ...]` after a function name: the literal's value and the token after
/// it (`)` or `,` in a call sqlmux understands).
fn literal_arg(lex: &mut Lexer<'_>) -> Option<(String, Token)> {
    let sql = lex.sql();
    if !lex.next_sig()?.is_punct(sql, b"(") {
        return None;
    }
    let value = string_value(sql, &lex.next_sig()?)?;
    let is_name = |t: &Token| matches!(t.kind, TokenKind::Word | TokenKind::QuotedIdent);
    loop {
        let t = lex.next_sig()?;
        if !t.is_punct(sql, b"::") {
            return Some((value, t));
        }
        if !is_name(&lex.next_sig()?) {
            return None;
        }
        if lex.peek_sig().is_some_and(|d| d.is_punct(sql, b".")) {
            lex.next_sig();
            if !is_name(&lex.next_sig()?) {
                return None;
            }
        }
    }
}

/// The `)` that closes an argument-less call.
fn empty_args(lex: &mut Lexer<'_>) -> Option<Token> {
    let sql = lex.sql();
    if !lex.next_sig()?.is_punct(sql, b"(") {
        return None;
    }
    lex.next_sig().filter(|t| t.is_punct(sql, b")"))
}

/// Every `lastval()` and `currval('literal')` call outside strings and comments, in order.
/// A `currval` with any other argument is not returned: see
/// [`has_unrewritable_sequence_read`].
pub fn sequence_calls(sql: &[u8]) -> Vec<SequenceCall> {
    let mut out = Vec::new();
    for_each_call(sql, |func, start, mut lex| {
        let call = match func {
            Func::Lastval => empty_args(&mut lex).map(|close| (close, None)),
            Func::Currval => literal_arg(&mut lex)
                .filter(|(_, close)| close.is_punct(sql, b")"))
                .map(|(name, close)| (close, Some(name))),
            _ => None,
        };
        if let Some((close, sequence)) = call {
            out.push(SequenceCall {
                range: start..close.end(),
                sequence,
            });
        }
    });
    out
}

/// Whether a `currval(...)` call has an argument other than a string literal (a parameter,
/// a column, an expression), so the statement cannot be rewritten.
pub fn has_unrewritable_sequence_read(sql: &[u8]) -> bool {
    let mut found = false;
    for_each_call(sql, |func, _, mut lex| {
        if func == Func::Currval
            && !literal_arg(&mut lex).is_some_and(|(_, close)| close.is_punct(sql, b")"))
        {
            found = true;
        }
    });
    found
}

/// The sequences named by a string literal in `nextval('seq')` / `setval('seq', ...)` calls,
/// as written inside the quotes, each once, in order of first appearance.
pub fn nextval_sequences(sql: &[u8]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for_each_call(sql, |func, _, mut lex| {
        let after = match func {
            Func::Nextval => &b")"[..],
            Func::Setval => b",",
            _ => return,
        };
        if let Some((name, close)) = literal_arg(&mut lex) {
            if close.is_punct(sql, after) && !out.contains(&name) {
                out.push(name);
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(sql: &str) -> Vec<(&str, Option<String>)> {
        sequence_calls(sql.as_bytes())
            .into_iter()
            .map(|c| (&sql[c.range], c.sequence))
            .collect()
    }

    #[test]
    fn lastval_and_currval() {
        assert_eq!(calls("SELECT lastval()"), vec![("lastval()", None)]);
        assert_eq!(
            calls("SELECT currval('public.items_id_seq'), LASTVAL ( /* x */ )"),
            vec![
                (
                    "currval('public.items_id_seq')",
                    Some("public.items_id_seq".into())
                ),
                ("LASTVAL ( /* x */ )", None)
            ]
        );
        assert_eq!(
            calls("SELECT pg_catalog.currval('s'::regclass)"),
            vec![("pg_catalog.currval('s'::regclass)", Some("s".into()))]
        );
        assert_eq!(
            calls("SELECT currval('\"Seq\"'::pg_catalog.regclass);"),
            vec![(
                "currval('\"Seq\"'::pg_catalog.regclass)",
                Some("\"Seq\"".into())
            )]
        );
        assert_eq!(
            calls("SELECT currval($$s$$), currval(E's')"),
            vec![
                ("currval($$s$$)", Some("s".into())),
                ("currval(E's')", Some("s".into()))
            ]
        );
        // Two statements: offsets are into the whole text.
        assert_eq!(
            calls("INSERT INTO t VALUES (1); SELECT lastval()"),
            vec![("lastval()", None)]
        );
    }

    #[test]
    fn not_calls() {
        for sql in [
            "SELECT 'lastval()'",
            "SELECT 1 -- currval('s')",
            "SELECT /* lastval() */ 1",
            "SELECT $$ currval('s') $$",
            "SELECT app.lastval()",
            "SELECT lastval",
            "SELECT lastval(1)",
            "CREATE FUNCTION f() RETURNS bigint AS 'select lastval()' LANGUAGE sql",
            "CREATE FUNCTION f() RETURNS bigint LANGUAGE sql RETURN currval('s')",
            "CREATE VIEW v AS SELECT currval('s')",
            "EXPLAIN SELECT currval('s')",
        ] {
            assert_eq!(calls(sql), vec![], "{sql}");
        }
        assert_eq!(calls("EXPLAIN ANALYZE SELECT lastval()").len(), 1);
    }

    #[test]
    fn unrewritable() {
        for sql in [
            "SELECT currval($1)",
            "SELECT currval(s)",
            "SELECT currval('a' || 'b')",
            "SELECT currval(('s'::text)::regclass)",
            "SELECT currval('s'::varchar(10))",
            "SELECT currval(E'\\x')",
            "SELECT currval('s'), currval(pg_get_serial_sequence('t', 'id'))",
            "SELECT currval(",
        ] {
            assert!(has_unrewritable_sequence_read(sql.as_bytes()), "{sql}");
        }
        for sql in [
            "SELECT currval('s')",
            "SELECT lastval()",
            "SELECT 'currval(x)'",
            "SELECT nextval(x)",
            "SELECT myschema.currval(x)",
            "CREATE VIEW v AS SELECT currval(x)",
        ] {
            assert!(!has_unrewritable_sequence_read(sql.as_bytes()), "{sql}");
        }
    }

    #[test]
    fn nextval_names() {
        assert_eq!(
            nextval_sequences(
                b"SELECT nextval('a'), NEXTVAL('b'::regclass), setval('c', 5), \
                  nextval('a'), pg_catalog.setval('d'::regclass, 1, false), nextval(x), \
                  nextval('e', 1), '' || nextval('f')"
            ),
            vec!["a", "b", "c", "d", "f"]
        );
        assert!(nextval_sequences(b"SELECT 'nextval(''a'')'").is_empty());
        assert!(nextval_sequences(b"CREATE TABLE t (id int DEFAULT nextval('s'))").is_empty());
        assert_eq!(
            nextval_sequences(b"DO $$ BEGIN PERFORM nextval('x'); END $$; SELECT nextval('y')"),
            vec!["y"]
        );
    }
}
