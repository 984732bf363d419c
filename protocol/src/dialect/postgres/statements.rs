//! The heads of statements that need more than their first keyword: CREATE (temporary
//! objects, routine bodies, CREATE ... AS), SET (untrackable forms), BEGIN (READ ONLY),
//! DECLARE (WITH HOLD), COPY (direction), EXPLAIN (ANALYZE).

use super::flags::Flags;
use super::keywords::Kw;
use super::kind::{nested, Body, Head, Kind, Reader};
use super::lexer::{Token, TokenKind};

/// `CREATE [OR REPLACE] [GLOBAL | LOCAL] [TEMP | TEMPORARY] [UNLOGGED] [RECURSIVE]
/// [MATERIALIZED] object ...`: temporary objects, routines with `BEGIN ATOMIC` bodies, and
/// whether a query runs (`CREATE TABLE ... AS`, `CREATE MATERIALIZED VIEW ... AS`).
pub(super) fn create(mut r: Reader<'_>) -> Head {
    let mut head = Head::of(Kind::Ddl, Flags::empty()).never();
    let mut temp = false;
    let mut matview = false;
    let mut plain = true;
    for _ in 0..8 {
        let Some(k) = r.next_kw() else { break };
        match k {
            Kw::OR | Kw::REPLACE => {}
            Kw::GLOBAL | Kw::LOCAL | Kw::UNLOGGED | Kw::RECURSIVE => plain = false,
            Kw::TEMP | Kw::TEMPORARY => temp = true,
            Kw::MATERIALIZED => matview = true,
            Kw::TABLE | Kw::VIEW | Kw::SEQUENCE => {
                if (temp && !matview) || temp_schema(&mut r) {
                    head.flags |= Flags::TEMP_OBJECT;
                }
                if k == Kw::TABLE || matview {
                    head.body = Body::AfterAs;
                }
                break;
            }
            Kw::FUNCTION | Kw::PROCEDURE => {
                head.block = plain && !temp && !matview;
                if temp_schema(&mut r) {
                    head.flags |= Flags::TEMP_OBJECT;
                }
                break;
            }
            _ => break,
        }
    }
    head
}

/// After the object keyword of a CREATE: whether the name is in `pg_temp` (`pg_temp.x`,
/// `pg_temp_3.x`, `"pg_temp".x`), after an optional `IF NOT EXISTS`.
fn temp_schema(r: &mut Reader<'_>) -> bool {
    if r.skip(Kw::IF) && !(r.skip(Kw::NOT) && r.skip(Kw::EXISTS)) {
        return false;
    }
    let Some((t, _)) = r.next() else {
        return false;
    };
    let sql = r.lex.sql();
    let text = t.text(sql);
    let is_temp = match t.kind {
        TokenKind::Word => {
            let lower = |s: &[u8]| s.eq_ignore_ascii_case(b"pg_temp");
            text.get(..7).is_some_and(lower)
                && text.get(7..).is_some_and(|rest| {
                    rest.is_empty()
                        || (rest.len() > 1
                            && rest.first() == Some(&b'_')
                            && rest.iter().skip(1).all(u8::is_ascii_digit))
                })
        }
        TokenKind::QuotedIdent => text == b"\"pg_temp\"",
        _ => false,
    };
    is_temp && r.peek().is_some_and(|d| r.punct(&d, b"."))
}

/// `SET ROLE`, `SET SESSION AUTHORIZATION`, `SET SESSION CHARACTERISTICS` (after an optional
/// SESSION/LOCAL), and assignments to `role`/`session_authorization`, change what the proxy
/// cannot track.
pub(super) fn set_flags(mut r: Reader<'_>) -> Flags {
    let Some((mut t, mut k)) = r.next() else {
        return Flags::empty();
    };
    let scope = match k {
        Some(Kw::SESSION) => !matches!(r.peek_kw(), Some(Kw::AUTHORIZATION | Kw::CHARACTERISTICS)),
        Some(Kw::LOCAL) => true,
        _ => false,
    };
    if scope {
        let Some(next) = r.next() else {
            return Flags::empty();
        };
        (t, k) = next;
    }
    let text = t.text(r.lex.sql());
    let changes = match k {
        Some(Kw::ROLE | Kw::SESSION) => true,
        _ => match t.kind {
            TokenKind::Word => text.eq_ignore_ascii_case(b"session_authorization"),
            // GUC names are case-insensitive even when quoted.
            TokenKind::QuotedIdent => {
                text.eq_ignore_ascii_case(b"\"role\"")
                    || text.eq_ignore_ascii_case(b"\"session_authorization\"")
            }
            _ => false,
        },
    };
    if changes {
        Flags::SESSION_CHANGE
    } else {
        Flags::empty()
    }
}

/// BEGIN / START TRANSACTION, with a READ ONLY mode anywhere in the mode list.
pub(super) fn begin(mut r: Reader<'_>) -> Head {
    let mut flags = Flags::empty();
    let mut read = false;
    while let Some((t, k)) = r.next() {
        if t.kind == TokenKind::Semicolon {
            break;
        }
        if read && k == Some(Kw::ONLY) {
            flags |= Flags::READ_ONLY;
        }
        read = k == Some(Kw::READ);
    }
    Head::of(Kind::Begin, flags).never()
}

/// DECLARE name [options] CURSOR [{WITH | WITHOUT} HOLD] FOR query: the query's flags.
pub(super) fn declare(mut r: Reader<'_>, nesting: u32) -> Head {
    let mut flags = Flags::empty();
    r.next();
    for _ in 0..16 {
        let Some((t, k)) = r.next() else { break };
        match k {
            Some(Kw::WITH) if r.peek_kw() == Some(Kw::HOLD) => flags |= Flags::WITH_HOLD,
            Some(Kw::FOR) => {
                flags |= nested(&r, nesting).flags;
                break;
            }
            _ if t.kind == TokenKind::Semicolon => break,
            _ => {}
        }
    }
    Head::of(Kind::Declare, flags)
}

/// COPY: a write when a top-level FROM comes before any TO (`COPY t FROM STDIN`), a read for
/// `COPY t TO ...` and `COPY (query) TO ...`.
pub(super) fn copy(mut r: Reader<'_>) -> Head {
    let mut depth = 0i64;
    while let Some((_, k)) = r.next_in_statement(&mut depth) {
        if depth <= 0 {
            match k {
                Some(Kw::FROM) => break,
                Some(Kw::TO) => return Head::of(Kind::Copy, Flags::empty()),
                _ => {}
            }
        }
    }
    Head::of(Kind::Copy, Flags::WRITE)
}

/// Whether an EXPLAIN option value turns the option off (`false`, `off`, `no`, `0`, ...).
fn falsy(sql: &[u8], t: &Token) -> bool {
    let text = t.text(sql);
    let text = match t.kind {
        TokenKind::String if text.len() >= 2 && text.first() == Some(&b'\'') => {
            text.get(1..text.len() - 1).unwrap_or_default()
        }
        _ => text,
    };
    let prefix_of = |word: &[u8]| {
        !text.is_empty()
            && text.len() <= word.len()
            && word
                .get(..text.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(text))
    };
    prefix_of(b"false") || prefix_of(b"no") || text.eq_ignore_ascii_case(b"off") || text == b"0"
}

/// EXPLAIN [ANALYZE] [VERBOSE] statement, EXPLAIN (option [value], ...) statement: an
/// analyzed statement runs (its flags count), a plain EXPLAIN is a read.
pub(super) fn explain(mut r: Reader<'_>, nesting: u32) -> Head {
    let sql = r.lex.sql();
    let mut analyze = false;
    if r.peek().is_some_and(|t| r.punct(&t, b"(")) {
        r.next();
        let mut depth = 1u32;
        let mut name = true;
        let mut value_of_analyze = false;
        loop {
            let Some((t, k)) = r.next() else {
                return Head::of(Kind::Explain, Flags::empty()).never();
            };
            if t.kind == TokenKind::Semicolon {
                return Head::of(Kind::Explain, Flags::empty()).never();
            }
            if r.punct(&t, b"(") {
                depth += 1;
            } else if r.punct(&t, b")") {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            } else if depth == 1 && r.punct(&t, b",") {
                name = true;
            } else if name {
                name = false;
                value_of_analyze = matches!(k, Some(Kw::ANALYZE | Kw::ANALYSE));
                analyze |= value_of_analyze;
            } else if value_of_analyze {
                analyze = !falsy(sql, &t);
            }
        }
    } else {
        while let Some(k) = r.peek_kw() {
            match k {
                Kw::ANALYZE | Kw::ANALYSE => analyze = true,
                Kw::VERBOSE => {}
                _ => break,
            }
            r.next();
        }
    }
    let inner = nested(&r, nesting);
    if analyze {
        Head {
            kind: Kind::Explain,
            empty: false,
            block: false,
            ..inner
        }
    } else {
        let flags = Flags(inner.flags.0 & Flags::PREPARED_SQL.0);
        Head::of(Kind::Explain, flags).never()
    }
}

#[cfg(test)]
mod tests {
    use super::super::kind::head;
    use super::super::lexer::Lexer;
    use super::*;

    fn flags(sql: &str) -> Flags {
        head(Lexer::new(sql.as_bytes())).flags
    }

    #[test]
    fn read_only_transactions() {
        for sql in [
            "BEGIN READ ONLY",
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
            "START TRANSACTION READ ONLY, DEFERRABLE",
            "begin transaction isolation level serializable, read only",
        ] {
            assert_eq!(flags(sql), Flags::READ_ONLY, "{sql}");
        }
        for sql in [
            "BEGIN",
            "BEGIN READ WRITE",
            "BEGIN ISOLATION LEVEL READ COMMITTED",
            "START TRANSACTION ISOLATION LEVEL REPEATABLE READ",
            "BEGIN; SELECT 'read only'",
        ] {
            assert_eq!(flags(sql), Flags::empty(), "{sql}");
        }
    }

    #[test]
    fn set_session_changes() {
        for sql in [
            "SET ROLE admin",
            "SET LOCAL ROLE admin",
            "SET SESSION ROLE admin",
            "SET role = 'admin'",
            "SET SESSION AUTHORIZATION bob",
            "SET SESSION SESSION AUTHORIZATION bob",
            "SET LOCAL SESSION AUTHORIZATION DEFAULT",
            "SET session_authorization = bob",
            "SET \"role\" TO x",
            "SET \"Role\" TO x",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
        ] {
            assert_eq!(flags(sql), Flags::SESSION_CHANGE, "{sql}");
        }
        for sql in [
            "SET search_path = x",
            "SET SESSION work_mem = '1MB'",
            "SET LOCAL statement_timeout = 0",
            "SET TRANSACTION READ ONLY",
            "SET \"Roles\" TO x",
            "SET",
        ] {
            assert_eq!(flags(sql), Flags::empty(), "{sql}");
        }
    }

    #[test]
    fn temp_objects() {
        for sql in [
            "CREATE TEMP TABLE t (a int)",
            "CREATE TEMPORARY TABLE t (a int)",
            "CREATE LOCAL TEMP TABLE t (a int)",
            "CREATE GLOBAL TEMPORARY TABLE t (a int)",
            "create temp unlogged table t (a int)",
            "CREATE TEMP VIEW v AS SELECT 1",
            "CREATE OR REPLACE TEMP RECURSIVE VIEW v (n) AS SELECT 1",
            "CREATE TEMP SEQUENCE s",
            "CREATE TABLE pg_temp.t (a int)",
            "CREATE TABLE IF NOT EXISTS PG_TEMP.t (a int)",
            "CREATE TABLE \"pg_temp\".t (a int)",
            "CREATE TABLE pg_temp_3.t (a int)",
            "CREATE VIEW pg_temp.v AS SELECT 1",
            "CREATE SEQUENCE pg_temp.s",
            "CREATE FUNCTION pg_temp.f() RETURNS int AS 'select 1' LANGUAGE sql",
            "CREATE TEMP TABLE t AS SELECT 1",
        ] {
            assert!(flags(sql).contains(Flags::TEMP_OBJECT), "{sql}");
        }
        for sql in [
            "CREATE TABLE t (a int)",
            "CREATE UNLOGGED TABLE t (a int)",
            "CREATE TABLE pg_temporary.t (a int)",
            "CREATE TABLE pg_temp (a int)",
            "CREATE TABLE \"PG_TEMP\".t (a int)",
            "CREATE TABLE pg_temp_x.t (a int)",
            "CREATE INDEX i ON pg_temp.t (a)",
            "CREATE VIEW v AS SELECT * FROM pg_temp.t",
        ] {
            assert!(!flags(sql).contains(Flags::TEMP_OBJECT), "{sql}");
        }
    }

    #[test]
    fn falsy_values() {
        let sql = b"false f 'off' NO 0 true on 1 'yes' x ''";
        let got: Vec<bool> = Lexer::new(sql).map(|t| falsy(sql, &t)).collect();
        assert_eq!(
            got,
            vec![true, true, true, true, true, false, false, false, false, false, false]
        );
    }
}
