//! One digest normalization for both dialects: a statement's text with its literals folded,
//! to group statements for stats and match query rules.
//!
//! Literals (every string form, numbers, bit/hex literals, placeholders and parameters, a
//! signed number after an operator, adjacent strings) become `?`; a parenthesized list of
//! literals after `IN` becomes `(...)`, so do the literal rows after `VALUES`, and a literal
//! `ARRAY[...]` (PostgreSQL) becomes `ARRAY[...]`; comments (the sqlmux hint too) and
//! executable-comment markers are removed (their content stays); whitespace and comments
//! between tokens become one space, none at the ends; trailing `;` go; keywords are
//! upper-cased unless qualified (`t.status`); identifiers, variables and operators stay as
//! written.

use super::hash::Hasher;
use super::sink::{Buffered, Sink};
use super::{Dialect, Lexer, Token, TokenKind};

/// What a keyword does in a digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// `IN`: a literal list after it folds.
    In,
    /// `VALUES` (MySQL also `VALUE`): literal rows after it fold.
    Values,
    /// PostgreSQL's `ARRAY`: a literal `[...]` after it folds.
    Array,
    /// `NULL`, `TRUE`, `FALSE`: a literal that stays as written.
    Constant,
    /// `DEFAULT`: a literal inside VALUES rows.
    Default,
    /// Any other keyword.
    Other,
}

/// What a dialect's keywords mean to a digest.
pub(crate) trait DigestWords: Dialect {
    /// The upper-case name of the keyword `t` spells, and its role.
    fn keyword(sql: &[u8], t: &Token) -> Option<(&'static str, Role)>;
}

/// The normalized text of `sql` (bytes; the caller makes it text).
pub(crate) fn normalized<D: DigestWords>(sql: &[u8]) -> Vec<u8> {
    let mut sink = Buffered::new(Vec::with_capacity(sql.len() + 16));
    normalize::<D, _>(sql, &mut sink);
    sink.finish()
}

/// The hash of the normalized bytes, without allocating.
pub(crate) fn normalized_hash<D: DigestWords>(sql: &[u8]) -> u64 {
    let mut sink = Buffered::new(Hasher::new());
    normalize::<D, _>(sql, &mut sink);
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

fn normalize<D: DigestWords, S: Sink>(sql: &[u8], out: &mut S) {
    let mut lex = Lexer::<D>::new(sql);
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
            TokenKind::Number | TokenKind::Placeholder | TokenKind::Param => {
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

/// Adjacent strings are one literal (`'a' 'b'` in MySQL, `'a'\n'b'` in PostgreSQL).
fn skip_adjacent_strings<D: Dialect>(lex: &mut Lexer<'_, D>) {
    while lex.peek_sig().is_some_and(|n| n.is_string()) {
        lex.next_sig();
    }
}

#[inline(always)]
fn punct<D: Dialect, S: Sink>(
    t: &Token,
    sql: &[u8],
    lex: &mut Lexer<'_, D>,
    last: Last,
    out: &mut S,
) -> Last {
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

#[inline(always)]
fn word<D: DigestWords, S: Sink>(
    t: &Token,
    sql: &[u8],
    lex: &mut Lexer<'_, D>,
    last: Last,
    out: &mut S,
) -> Last {
    let text = t.text(sql);
    let qualified = last == Last::Dot || sql.get(t.end()) == Some(&b'.');
    let Some((name, role)) = D::keyword(sql, t).filter(|_| !qualified) else {
        out.put(text);
        return Last::Value;
    };
    out.put(name.as_bytes());
    let list = match role {
        Role::In => Some((b"(", b")", false)),
        Role::Values => Some((b"(", b")", true)),
        Role::Array => Some((b"[", b"]", false)),
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
    match role {
        Role::Constant => Last::Value,
        _ => Last::Operator,
    }
}

/// One literal of a list at `p`: a (signed) literal, NULL/TRUE/FALSE (DEFAULT in VALUES
/// rows), with optional PostgreSQL `::type` casts. None when something else is there.
fn list_item<D: DigestWords>(p: &mut Lexer<'_, D>, rows: bool) -> Option<()> {
    let sql = p.sql();
    let mut item = p.next_sig()?;
    if item.is_punct(sql, b"-") || item.is_punct(sql, b"+") {
        item = p.next_sig()?;
        if item.kind != TokenKind::Number {
            return None;
        }
    }
    let ok = item.is_literal()
        || match D::keyword(sql, &item) {
            Some((_, Role::Constant)) => true,
            Some((_, Role::Default)) => rows,
            _ => false,
        };
    if !ok {
        return None;
    }
    if item.is_string() {
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
fn literal_list<'a, D: DigestWords>(
    lex: &Lexer<'a, D>,
    open: &[u8],
    close: &[u8],
    rows: bool,
) -> Option<(Token, Lexer<'a, D>)> {
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
