//! [`classify`]: one allocation-free pass over a statement text that tells the router and the
//! multiplexer what they need to know: the first statement's kind, how many statements
//! there are, what they do (flags, unioned over all statements) and the hostgroup hint.

use super::flags::Flags;
use super::keywords::{kw, Kw};
use super::kind::{Head, Kind};
use super::lexer::{MySql, Token, TokenKind};
use super::walker::Walker;

/// Facts about a statement text (all statements of a multi-statement text are scanned).
pub type Classification = crate::lex::Classification<Flags>;

/// Classifies a statement text; never allocates.
pub fn classify(sql: &[u8]) -> Classification {
    crate::lex::classify::<MySql>(sql)
}

impl crate::lex::Classify for MySql {
    #[inline(always)]
    fn scan(w: &mut Walker<'_>, head: &Head, out: &mut Classification) {
        scan(w, head, out)
    }
}

/// The system variable a `@@[scope.]name` token names: `(explicit scope, name)`, the scope
/// being `Some(true)` for global/persist, `Some(false)` for session/local.
pub(crate) fn sys_var(text: &[u8]) -> (Option<bool>, &[u8]) {
    let name = text.get(2..).unwrap_or_default();
    if let Some(dot) = name.iter().position(|&b| b == b'.') {
        let (scope, rest) = name.split_at(dot);
        let rest = rest.get(1..).unwrap_or_default();
        for (s, global) in [
            (&b"global"[..], true),
            (b"persist", true),
            (b"persist_only", true),
            (b"session", false),
            (b"local", false),
        ] {
            if scope.eq_ignore_ascii_case(s) {
                return (Some(global), rest);
            }
        }
    }
    (None, name)
}

/// The flags of the tokens of one statement, and the hint of its comments.
#[inline(always)]
fn scan(w: &mut Walker<'_>, head: &Head, out: &mut Classification) {
    let sql = w.sql();
    let mut depth = 0i64;
    let mut prev: Option<Token> = None;
    let mut into_list = false;
    while let Some(t) = w.next_token() {
        if t.kind == TokenKind::Comment {
            out.add_comment(t.text(sql));
            continue;
        }
        if head.definition {
            // The body of a definition does not run now.
            continue;
        }
        let mut keep_into = false;
        match t.kind {
            TokenKind::Word => {
                match interesting(t.text(sql)) {
                    Some(Kw::SQL_CALC_FOUND_ROWS) => out.flags |= Flags::CALC_FOUND_ROWS,
                    Some(Kw::FOR) => {
                        let next = w.peek_sig().and_then(|n| kw(sql, &n));
                        if matches!(next, Some(Kw::UPDATE | Kw::SHARE)) {
                            out.flags |= Flags::LOCKING_READ;
                        }
                    }
                    Some(Kw::LOCK) => {
                        let next = w.peek_sig().and_then(|n| kw(sql, &n));
                        if next == Some(Kw::IN) {
                            out.flags |= Flags::LOCKING_READ;
                        }
                    }
                    Some(Kw::INTO) if head.kind == Kind::Select => {
                        out.flags |= Flags::SELECT_INTO;
                        into_list = true;
                        keep_into = true;
                    }
                    Some(
                        f @ (Kw::LAST_INSERT_ID
                        | Kw::FOUND_ROWS
                        | Kw::ROW_COUNT
                        | Kw::CONNECTION_ID
                        | Kw::GET_LOCK
                        | Kw::RELEASE_LOCK
                        | Kw::RELEASE_ALL_LOCKS),
                    ) if !prev.is_some_and(|p| p.is_punct(sql, b".")) => {
                        // `db.last_insert_id()` is a stored function, not the built-in.
                        out.flags |= call_flags(w, f);
                    }
                    None if head.kind == Kind::Set
                        && t.text(sql).eq_ignore_ascii_case(b"sql_log_bin") =>
                    {
                        out.flags |= Flags::SQL_LOG_BIN;
                    }
                    _ => {}
                }
            }
            TokenKind::UserVar => {
                keep_into = true;
                let next = w.peek_sig();
                let assign = next.is_some_and(|n| n.is_punct(sql, b":="));
                let set_target = head.kind == Kind::Set
                    && depth <= 0
                    && next.is_some_and(|n| n.is_punct(sql, b"="))
                    && prev.is_some_and(|p| p.is_punct(sql, b",") || kw(sql, &p) == Some(Kw::SET));
                if head.kind == Kind::LoadData {
                    out.flags |= Flags::USER_VAR_WRITE | Flags::USER_VAR_READ;
                } else if assign || set_target || into_list {
                    out.flags |= Flags::USER_VAR_WRITE;
                } else {
                    out.flags |= Flags::USER_VAR_READ;
                }
            }
            TokenKind::SysVar => {
                let (global, name) = sys_var(t.text(sql));
                let is = |s: &[u8]| name.eq_ignore_ascii_case(s);
                if global != Some(true) && (is(b"identity") || is(b"last_insert_id")) {
                    out.flags |= Flags::LAST_INSERT_ID;
                } else if is(b"warning_count") || is(b"error_count") {
                    out.flags |= Flags::WARNINGS_READ;
                } else if head.kind == Kind::Set && is(b"sql_log_bin") {
                    out.flags |= Flags::SQL_LOG_BIN;
                }
            }
            TokenKind::Punct => match t.text(sql) {
                b"(" => depth += 1,
                b")" => depth -= 1,
                b"," => keep_into = into_list,
                _ => {}
            },
            _ => {}
        }
        if !keep_into {
            into_list = false;
        }
        prev = Some(t);
    }
}

/// The few keywords the flag scan acts on; cheaper than a full keyword lookup.
#[inline]
fn interesting(word: &[u8]) -> Option<Kw> {
    let candidate = match (word.len(), word.first()? | 0x20) {
        (3, b'f') => Kw::FOR,
        (4, b'l') => Kw::LOCK,
        (4, b'i') => Kw::INTO,
        (8, b'g') => Kw::GET_LOCK,
        (9, b'r') => Kw::ROW_COUNT,
        (10, b'f') => Kw::FOUND_ROWS,
        (12, b'r') => Kw::RELEASE_LOCK,
        (13, b'c') => Kw::CONNECTION_ID,
        (14, b'l') => Kw::LAST_INSERT_ID,
        (17, b'r') => Kw::RELEASE_ALL_LOCKS,
        (19, b's') => Kw::SQL_CALC_FOUND_ROWS,
        _ => return None,
    };
    candidate
        .name()
        .as_bytes()
        .eq_ignore_ascii_case(word)
        .then_some(candidate)
}

/// Flags for a call of the built-in function `f`, if a `(` follows.
fn call_flags(w: &Walker<'_>, f: Kw) -> Flags {
    let flag = match f {
        Kw::LAST_INSERT_ID => Flags::LAST_INSERT_ID,
        Kw::FOUND_ROWS => Flags::FOUND_ROWS,
        Kw::ROW_COUNT => Flags::ROW_COUNT,
        Kw::CONNECTION_ID => Flags::CONNECTION_ID,
        Kw::GET_LOCK => Flags::GET_LOCK,
        Kw::RELEASE_LOCK => Flags::RELEASE_LOCK,
        Kw::RELEASE_ALL_LOCKS => Flags::RELEASE_ALL_LOCKS,
        _ => return Flags::empty(),
    };
    let sql = w.sql();
    let mut after = w.clone_lexer();
    if !after.next_sig().is_some_and(|t| t.is_punct(sql, b"(")) {
        return Flags::empty();
    }
    if f == Kw::LAST_INSERT_ID && !after.next_sig().is_some_and(|t| t.is_punct(sql, b")")) {
        return flag | Flags::LAST_INSERT_ID_ARG;
    }
    flag
}

#[cfg(test)]
mod tests;
