//! Calls of the built-in functions sqlmux cares about: sequences, advisory locks and the
//! other functions that must run on the primary.
//!
//! A call is the function's name, bare or qualified with `pg_catalog.`, followed by `(`. An
//! unquoted name matches in any case, a quoted one (`"nextval"`) only exactly; a name
//! qualified with another schema is a user function.

use super::flags::Flags;
use super::lexer::{Lexer, Token, TokenKind};

/// A built-in function (or family) sqlmux acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Func {
    /// `nextval(regclass)`.
    Nextval,
    /// `setval(regclass, ...)`.
    Setval,
    /// `currval(regclass)`.
    Currval,
    /// `lastval()`.
    Lastval,
    /// A session-level advisory lock: `pg_[try_]advisory_lock[_shared]`.
    AdvisoryLock,
    /// `pg_advisory_unlock[_shared]`.
    AdvisoryUnlock,
    /// `pg_advisory_unlock_all`.
    AdvisoryUnlockAll,
    /// `set_config`.
    SetConfig,
    /// Another function that must run on the primary (transaction-level advisory locks,
    /// pg_notify, txid_current, pg_current_xact_id, large objects).
    Volatile,
}

impl Func {
    /// The flags a call sets.
    pub(crate) fn flags(self) -> Flags {
        match self {
            Func::Nextval | Func::Setval => Flags::VOLATILE | Flags::NEXTVAL,
            Func::Currval | Func::Lastval => Flags::SEQUENCE_READ,
            Func::AdvisoryLock => Flags::VOLATILE | Flags::ADVISORY_LOCK,
            Func::AdvisoryUnlock => Flags::VOLATILE | Flags::ADVISORY_UNLOCK,
            Func::AdvisoryUnlockAll => Flags::VOLATILE | Flags::ADVISORY_UNLOCK_ALL,
            Func::SetConfig => Flags::VOLATILE | Flags::SESSION_CHANGE,
            Func::Volatile => Flags::VOLATILE,
        }
    }
}

/// The longest name [`lookup`] can match.
const MAX_NAME: usize = 40;

/// The function a name spells: `quoted` names match only in lower case, exactly.
pub(crate) fn lookup(name: &[u8], quoted: bool) -> Option<Func> {
    // Cheap first: every name is 6..=40 bytes and starts with one of these letters.
    if !(6..=MAX_NAME).contains(&name.len())
        || !matches!(
            name.first()? | 0x20,
            b'c' | b'l' | b'n' | b'p' | b's' | b't'
        )
    {
        return None;
    }
    let mut buf = [0u8; MAX_NAME];
    let lower = buf.get_mut(..name.len())?;
    for (d, s) in lower.iter_mut().zip(name) {
        *d = if quoted { *s } else { s.to_ascii_lowercase() };
    }
    let lower = &*lower;
    Some(match lower {
        b"nextval" => Func::Nextval,
        b"setval" => Func::Setval,
        b"currval" => Func::Currval,
        b"lastval" => Func::Lastval,
        b"pg_advisory_lock"
        | b"pg_advisory_lock_shared"
        | b"pg_try_advisory_lock"
        | b"pg_try_advisory_lock_shared" => Func::AdvisoryLock,
        b"pg_advisory_unlock" | b"pg_advisory_unlock_shared" => Func::AdvisoryUnlock,
        b"pg_advisory_unlock_all" => Func::AdvisoryUnlockAll,
        b"set_config" => Func::SetConfig,
        b"pg_notify"
        | b"txid_current"
        | b"pg_current_xact_id"
        | b"lo_creat"
        | b"lo_create"
        | b"lo_import"
        | b"lo_export"
        | b"lo_unlink"
        | b"lo_open"
        | b"lo_close"
        | b"lo_put"
        | b"lo_from_bytea"
        | b"lo_truncate"
        | b"lo_truncate64"
        | b"lo_lseek"
        | b"lo_lseek64"
        | b"lo_tell"
        | b"lo_tell64"
        | b"lowrite"
        | b"loread" => Func::Volatile,
        n if n.starts_with(b"pg_advisory_") || n.starts_with(b"pg_try_advisory_") => Func::Volatile,
        _ => return None,
    })
}

/// Whether `t` names the schema `pg_catalog`.
fn is_pg_catalog(sql: &[u8], t: &Token) -> bool {
    match t.kind {
        TokenKind::Word => t.text(sql).eq_ignore_ascii_case(b"pg_catalog"),
        TokenKind::QuotedIdent => t.text(sql) == b"\"pg_catalog\"",
        _ => false,
    }
}

/// A call of a built-in at `t`: the function and where the call starts (at `pg_catalog`
/// when qualified). `prev` are the two significant tokens before `t` (nearest first),
/// `after` a lexer just past `t`.
pub(crate) fn call_at(
    sql: &[u8],
    t: &Token,
    prev: [Option<Token>; 2],
    after: &Lexer<'_>,
) -> Option<(Func, usize)> {
    let text = t.text(sql);
    let f = match t.kind {
        TokenKind::Word => lookup(text, false)?,
        TokenKind::QuotedIdent if t.closed && text.first() == Some(&b'"') => {
            lookup(text.get(1..text.len() - 1)?, true)?
        }
        _ => return None,
    };
    if !after.peek_sig()?.is_punct(sql, b"(") {
        return None;
    }
    let start = match prev {
        [Some(dot), Some(schema)] if dot.is_punct(sql, b".") => {
            if !is_pg_catalog(sql, &schema) {
                return None;
            }
            schema.start()
        }
        [Some(dot), None] if dot.is_punct(sql, b".") => return None,
        _ => t.start(),
    };
    Some((f, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for (name, f) in [
            (&b"nextval"[..], Func::Nextval),
            (b"NEXTVAL", Func::Nextval),
            (b"SetVal", Func::Setval),
            (b"currval", Func::Currval),
            (b"lastval", Func::Lastval),
            (b"pg_advisory_lock", Func::AdvisoryLock),
            (b"pg_advisory_lock_shared", Func::AdvisoryLock),
            (b"pg_try_advisory_lock", Func::AdvisoryLock),
            (b"pg_try_advisory_lock_shared", Func::AdvisoryLock),
            (b"pg_advisory_unlock", Func::AdvisoryUnlock),
            (b"pg_advisory_unlock_shared", Func::AdvisoryUnlock),
            (b"pg_advisory_unlock_all", Func::AdvisoryUnlockAll),
            (b"pg_advisory_xact_lock", Func::Volatile),
            (b"pg_try_advisory_xact_lock_shared", Func::Volatile),
            (b"set_config", Func::SetConfig),
            (b"pg_notify", Func::Volatile),
            (b"txid_current", Func::Volatile),
            (b"pg_current_xact_id", Func::Volatile),
            (b"lo_create", Func::Volatile),
            (b"lo_import", Func::Volatile),
            (b"lo_unlink", Func::Volatile),
            (b"lo_open", Func::Volatile),
        ] {
            assert_eq!(lookup(name, false), Some(f), "{name:?}");
        }
        let not_tracked: [&[u8]; 7] = [
            b"nextvalx",
            b"next",
            b"",
            b"lo_get",
            b"txid_current_if_assigned",
            b"pg_sleep",
            b"\xff\xff\xff\xff\xff\xff",
        ];
        let tracked = not_tracked
            .iter()
            .find(|name| lookup(name, false).is_some());
        assert_eq!(tracked, None);
        assert_eq!(lookup(b"nextval", true), Some(Func::Nextval));
        assert_eq!(lookup(b"NEXTVAL", true), None);
        assert_eq!(lookup(&[b'p'; 41], false), None);
    }

    fn calls(sql: &str) -> Vec<(Func, usize)> {
        let b = sql.as_bytes();
        let mut lex = Lexer::new(b);
        let mut prev = [None, None];
        let mut out = Vec::new();
        while let Some(t) = lex.next_sig() {
            if let Some(c) = call_at(b, &t, prev, &lex) {
                out.push(c);
            }
            prev = [Some(t), prev[0]];
        }
        out
    }

    #[test]
    fn calls_and_qualification() {
        assert_eq!(calls("SELECT nextval('s')"), vec![(Func::Nextval, 7)]);
        assert_eq!(
            calls("SELECT pg_catalog.nextval ('s')"),
            vec![(Func::Nextval, 7)]
        );
        assert_eq!(
            calls("SELECT \"pg_catalog\" . \"currval\"('s')"),
            vec![(Func::Currval, 7)]
        );
        assert_eq!(calls("SELECT /* c */ lastval /* c */ ()").len(), 1);
        assert!(calls("SELECT myschema.nextval('s')").is_empty());
        assert!(calls("SELECT .nextval('s')").is_empty());
        assert!(calls("SELECT \"NEXTVAL\"('s')").is_empty());
        assert!(calls("SELECT nextval FROM t").is_empty());
        assert!(calls("SELECT 'nextval(1)'").is_empty());
        assert!(calls("SELECT \"nextval").is_empty());
    }
}
