//! [`classify`]: one allocation-free pass over a PostgreSQL statement text that tells the
//! router and the multiplexer what they need to know: the first statement's kind, how many
//! statements there are, what they do (flags, unioned over all statements) and the hostgroup
//! hint.

use super::flags::Flags;
use super::funcs::call_at;
use super::keywords::{kw, Kw};
use super::kind::{Head, Kind};
use super::lexer::{Lexer, Postgres, Token, TokenKind};
use super::walker::Walker;

/// Facts about a statement text (all statements of a multi-statement text are scanned).
pub type Classification = crate::lex::Classification<Flags>;

/// Classifies a statement text; never allocates.
pub fn classify(sql: &[u8]) -> Classification {
    crate::lex::classify::<Postgres>(sql)
}

impl crate::lex::Classify for Postgres {
    #[inline(always)]
    fn scan(w: &mut Walker<'_>, head: &Head, out: &mut Classification) {
        scan(w, head, out)
    }
}

/// The flags of the tokens of one statement, and the hint of its comments.
#[inline(always)]
fn scan(w: &mut Walker<'_>, head: &Head, out: &mut Classification) {
    let sql = w.sql();
    let mut prev: [Option<Token>; 2] = [None, None];
    while let Some(t) = w.next_token() {
        if t.kind == TokenKind::Comment {
            out.add_comment(t.text(sql));
            continue;
        }
        if w.running() {
            match t.kind {
                TokenKind::Punct if t.is_punct(sql, b"(") => {
                    // `WITH x AS (INSERT ...)`: a data-modifying CTE.
                    let next = w.peek_sig().and_then(|n| kw(sql, &n));
                    if matches!(next, Some(Kw::INSERT | Kw::UPDATE | Kw::DELETE | Kw::MERGE)) {
                        out.flags |= Flags::WRITE;
                    }
                }
                TokenKind::Word | TokenKind::QuotedIdent => {
                    if let Some((f, _)) = call_at(sql, &t, prev, &w.clone_lexer()) {
                        out.flags |= f.flags();
                    } else if t.kind == TokenKind::Word {
                        out.flags |= word_flags(w, head, &t, prev[0]);
                    }
                }
                _ => {}
            }
        }
        prev = [Some(t), prev[0]];
    }
}

/// Flags from the few keywords the scan acts on: FOR (locking reads), INTO (SELECT INTO),
/// EXECUTE after AS (`CREATE TABLE ... AS EXECUTE`).
fn word_flags(w: &Walker<'_>, head: &Head, t: &Token, prev: Option<Token>) -> Flags {
    let sql = w.sql();
    let text = t.text(sql);
    let is = |word: &[u8]| text.len() == word.len() && text.eq_ignore_ascii_case(word);
    if is(b"for") {
        if locking_clause(w.clone_lexer()) {
            return Flags::LOCKING_READ;
        }
    } else if is(b"into") {
        if head.select_into && w.depth() == 0 {
            return select_into(w.clone_lexer());
        }
    } else if is(b"execute") && prev.is_some_and(|p| kw(sql, &p) == Some(Kw::AS)) {
        return Flags::PREPARED_SQL;
    }
    Flags::empty()
}

/// After FOR: `UPDATE`, `SHARE`, `NO KEY UPDATE`, `KEY SHARE`.
fn locking_clause(mut lex: Lexer<'_>) -> bool {
    let sql = lex.sql();
    let mut next = || lex.next_sig().and_then(|t| kw(sql, &t));
    match next() {
        Some(Kw::UPDATE | Kw::SHARE) => true,
        Some(Kw::NO) => next() == Some(Kw::KEY) && next() == Some(Kw::UPDATE),
        Some(Kw::KEY) => next() == Some(Kw::SHARE),
        _ => false,
    }
}

/// After a top-level INTO of a SELECT: `[TEMP | TEMPORARY | UNLOGGED] [TABLE] name` creates
/// a table.
fn select_into(mut lex: Lexer<'_>) -> Flags {
    let sql = lex.sql();
    let mut flags = Flags::WRITE;
    let mut t = lex.next_sig();
    loop {
        match t.and_then(|t| kw(sql, &t)) {
            Some(Kw::TEMP | Kw::TEMPORARY) => flags |= Flags::TEMP_OBJECT,
            Some(Kw::UNLOGGED | Kw::TABLE) => {}
            _ => break,
        }
        t = lex.next_sig();
    }
    let in_pg_temp = t.is_some_and(|t| {
        let text = t.text(sql);
        match t.kind {
            TokenKind::Word => text.eq_ignore_ascii_case(b"pg_temp"),
            TokenKind::QuotedIdent => text == b"\"pg_temp\"",
            _ => false,
        }
    }) && lex.peek_sig().is_some_and(|d| d.is_punct(sql, b"."));
    if in_pg_temp {
        flags |= Flags::TEMP_OBJECT;
    }
    flags
}

#[cfg(test)]
mod tests;

/// Every non-empty statement of a text, in order: its kind and its bytes (without the `;`
/// that ends it).
pub fn statements(sql: &[u8]) -> Vec<(Kind, std::ops::Range<usize>)> {
    let mut w = Walker::new(sql);
    let mut out: Vec<(Kind, std::ops::Range<usize>)> = Vec::new();
    let mut open: Option<(Kind, usize)> = None;
    loop {
        while w.next_token().is_some() {}
        let end = w.offset();
        if let Some((kind, start)) = open.take() {
            let mut stop = end.min(sql.len());
            if stop > start && sql.get(stop - 1) == Some(&b';') {
                stop -= 1;
            }
            out.push((kind, start..stop));
        }
        let Some(head) = w.next_statement() else {
            break;
        };
        if !head.empty {
            open = Some((head.kind, end));
        }
    }
    out
}

#[cfg(test)]
mod statements_tests {
    use super::*;

    #[test]
    fn lists_each_statement_with_its_bytes() {
        let sql = b"SELECT ';'; SET x = 1;; RESET y";
        let found = statements(sql);
        let kinds: Vec<Kind> = found.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, vec![Kind::Select, Kind::Set, Kind::Reset]);
        let texts: Vec<&str> = found
            .iter()
            .map(|(_, r)| std::str::from_utf8(&sql[r.clone()]).unwrap().trim())
            .collect();
        assert_eq!(texts, vec!["SELECT ';'", "SET x = 1", "RESET y"]);
        assert!(statements(b"-- nothing").is_empty());
    }
}
