//! [`replace_session_functions`]: puts the session's own `LAST_INSERT_ID()`, `ROW_COUNT()`
//! and `CONNECTION_ID()` values into a statement, so it can run on any pooled backend
//! connection.
//!
//! Multi-statement texts run in order on one backend connection, so a later statement sees
//! what an earlier one of the same text did: `ROW_COUNT()` is replaced in the first
//! statement only, and `LAST_INSERT_ID()` up to and including the first statement that may
//! change it (INSERT, REPLACE, CALL, LOAD DATA, EXECUTE, `LAST_INSERT_ID(expr)`); later
//! calls are left to the backend. Definitions (procedures, triggers, views, ...) are never
//! rewritten: their bodies run later. A call that is a whole select-list item without an
//! alias gets one (`` 42 AS `LAST_INSERT_ID()` ``), so the result column keeps the name the
//! server would have given it.

use super::flags::Flags;
use super::keywords::{kw, Kw};
use super::lexer::{is_ident_byte, Token, TokenKind};
use super::walker::Walker;

/// Replaces every argument-less `LAST_INSERT_ID()` call with `last_insert_id`, every
/// `ROW_COUNT()` call with `row_count` and every `CONNECTION_ID()` call with
/// `connection_id`, outside strings, comments and identifiers (see the module doc for
/// multi-statement texts); None when there is nothing to replace.
pub fn replace_session_functions(
    sql: &[u8],
    last_insert_id: u64,
    row_count: i64,
    connection_id: u32,
) -> Option<Vec<u8>> {
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut w = Walker::new(sql);
    let mut first = true;
    let mut lid_live = true;
    while let Some(head) = w.next_statement() {
        if head.empty {
            continue;
        }
        let mut rc_live = std::mem::replace(&mut first, false);
        if head.definition {
            continue;
        }
        let mut lid_here = lid_live;
        if head.flags.contains(Flags::MAY_INSERT) {
            lid_live = false;
        }
        let mut qualified = false;
        let mut prev: Option<Token> = None;
        let mut depth = 0i64;
        let mut select_depth: Option<i64> = None;
        while let Some(t) = w.next_sig() {
            let before = prev.replace(t);
            if t.is_punct(sql, b"(") {
                depth += 1;
            } else if t.is_punct(sql, b")") {
                depth -= 1;
            } else if kw(sql, &t) == Some(Kw::SELECT) {
                select_depth = Some(depth);
            }
            let after_dot = std::mem::replace(&mut qualified, t.is_punct(sql, b"."));
            if t.kind == TokenKind::Semicolon {
                // A `;` inside BEGIN NOT ATOMIC ... END: a new inner statement.
                rc_live = false;
                continue;
            }
            let k = kw(sql, &t);
            if head.block
                && matches!(
                    k,
                    Some(Kw::INSERT | Kw::REPLACE | Kw::CALL | Kw::LOAD | Kw::EXECUTE)
                )
            {
                lid_here = false;
                lid_live = false;
            }
            let value = match k {
                Some(Kw::LAST_INSERT_ID) if !after_dot => last_insert_id.to_string(),
                Some(Kw::ROW_COUNT) if !after_dot => row_count.to_string(),
                Some(Kw::CONNECTION_ID) if !after_dot => connection_id.to_string(),
                _ => continue,
            };
            let mut ahead = w.clone_lexer();
            if !ahead.next_sig().is_some_and(|o| o.is_punct(sql, b"(")) {
                continue;
            }
            let Some(close) = ahead.next_sig() else {
                continue;
            };
            if !close.is_punct(sql, b")") {
                if k == Some(Kw::LAST_INSERT_ID) {
                    // LAST_INSERT_ID(expr) sets the value for what follows.
                    lid_live = false;
                    lid_here &= !head.block;
                }
                continue;
            }
            let live = match k {
                Some(Kw::ROW_COUNT) => rc_live,
                Some(Kw::CONNECTION_ID) => true,
                _ => lid_here,
            };
            if !live {
                continue;
            }
            w.next_sig();
            w.next_sig();
            // MySQL aliases are at most 256 characters.
            let item = close.end() - t.start() <= 256
                && bare_select_item(sql, before, w.peek_sig(), depth, select_depth);
            let buf = out.get_or_insert_with(|| Vec::with_capacity(sql.len() + 16));
            replace_call(buf, sql, copied, (t.start(), close.end()), &value, item);
            copied = close.end();
        }
    }
    let mut buf = out?;
    buf.extend_from_slice(sql.get(copied..).unwrap_or_default());
    Some(buf)
}

/// Appends `sql[from..call.0]`, then `value` in place of the call at `call`, aliased to
/// the call's own text when it is a bare select-list `item` (the column name a server
/// would give it).
fn replace_call(
    buf: &mut Vec<u8>,
    sql: &[u8],
    from: usize,
    call: (usize, usize),
    value: &str,
    item: bool,
) {
    let (start, end) = call;
    buf.extend_from_slice(sql.get(from..start).unwrap_or_default());
    buf.extend_from_slice(value.as_bytes());
    if item {
        buf.extend_from_slice(b" AS `");
        for &b in sql.get(start..end).unwrap_or_default() {
            if b == b'`' {
                buf.push(b'`');
            }
            buf.push(b);
        }
        buf.push(b'`');
    }
    // `ROW_COUNT()AS n` must not become the identifier `-1AS`.
    if sql.get(end).is_some_and(|&b| is_ident_byte(b) || b == b'.') {
        buf.push(b' ');
    }
}

/// Whether a call between `before` and `after` is a whole select-list item without an
/// alias (`SELECT ROW_COUNT()`, `SELECT a, LAST_INSERT_ID() FROM t`).
fn bare_select_item(
    sql: &[u8],
    before: Option<Token>,
    after: Option<Token>,
    depth: i64,
    select_depth: Option<i64>,
) -> bool {
    let starts_item = before.is_some_and(|b| {
        matches!(
            kw(sql, &b),
            Some(Kw::SELECT | Kw::DISTINCT | Kw::ALL | Kw::DISTINCTROW)
        ) || (b.is_punct(sql, b",") && select_depth == Some(depth))
    });
    let ends_item = match after {
        None => true,
        Some(a) if a.kind == TokenKind::Semicolon => true,
        Some(a) if a.is_punct(sql, b",") => true,
        Some(a) if a.is_punct(sql, b")") => false,
        Some(a) => {
            a.kind == TokenKind::Word && kw(sql, &a).is_some_and(|k| k.is_reserved() && k != Kw::AS)
        }
    };
    starts_item && ends_item
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(sql: &str) -> Option<String> {
        replace_session_functions(sql.as_bytes(), 42, -1, 9).map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn replaced() {
        for (sql, want) in [
            (
                "INSERT INTO child (parent_id) VALUES (LAST_INSERT_ID())",
                "INSERT INTO child (parent_id) VALUES (42)",
            ),
            ("SELECT last_insert_id ( /* c */ ) + 1", "SELECT 42 + 1"),
            (
                "SELECT LAST_INSERT_ID(), ROW_COUNT()",
                "SELECT 42 AS `LAST_INSERT_ID()`, -1 AS `ROW_COUNT()`",
            ),
            (
                "select a, row_count ( ) from t",
                "select a, -1 AS `row_count ( )` from t",
            ),
            ("SELECT f(a, ROW_COUNT())", "SELECT f(a, -1)"),
            (
                "SELECT a, LAST_INSERT_ID() FROM t",
                "SELECT a, 42 AS `LAST_INSERT_ID()` FROM t",
            ),
            ("SELECT 1-ROW_COUNT()", "SELECT 1--1"),
            ("SELECT ROW_COUNT()AS n", "SELECT -1 AS n"),
            (
                "UPDATE t SET a = LAST_INSERT_ID() WHERE b = 'LAST_INSERT_ID()'",
                "UPDATE t SET a = 42 WHERE b = 'LAST_INSERT_ID()'",
            ),
            (
                "/*!50000 SELECT LAST_INSERT_ID() */",
                "/*!50000 SELECT 42 AS `LAST_INSERT_ID()` */",
            ),
            ("SET @id = LAST_INSERT_ID()", "SET @id = 42"),
            (
                "SELECT CONNECTION_ID(), x FROM t WHERE id = connection_id()",
                "SELECT 9 AS `CONNECTION_ID()`, x FROM t WHERE id = 9",
            ),
            (
                "INSERT INTO a VALUES (1); SELECT CONNECTION_ID() AS c",
                "INSERT INTO a VALUES (1); SELECT 9 AS c",
            ),
            (
                "SELECT 1; SELECT LAST_INSERT_ID(), ROW_COUNT()",
                "SELECT 1; SELECT 42 AS `LAST_INSERT_ID()`, ROW_COUNT()",
            ),
            (
                "INSERT INTO a VALUES (LAST_INSERT_ID()); SELECT LAST_INSERT_ID()",
                "INSERT INTO a VALUES (42); SELECT LAST_INSERT_ID()",
            ),
            (
                "BEGIN NOT ATOMIC SELECT LAST_INSERT_ID(), ROW_COUNT(); \
                 INSERT INTO t VALUES (LAST_INSERT_ID()); SELECT ROW_COUNT(); END",
                "BEGIN NOT ATOMIC SELECT 42 AS `LAST_INSERT_ID()`, -1 AS `ROW_COUNT()`; \
                 INSERT INTO t VALUES (LAST_INSERT_ID()); SELECT ROW_COUNT(); END",
            ),
        ] {
            assert_eq!(r(sql).as_deref(), Some(want), "{sql}");
        }
        let long = format!("SELECT LAST_INSERT_ID({})", " ".repeat(300));
        assert_eq!(
            r(&long).as_deref(),
            Some("SELECT 42"),
            "no alias over 256 characters"
        );
        assert_eq!(
            replace_session_functions(b"SELECT LAST_INSERT_ID()", u64::MAX, 0, 1),
            Some(b"SELECT 18446744073709551615 AS `LAST_INSERT_ID()`".to_vec())
        );
    }

    #[test]
    fn left_alone() {
        for sql in [
            "SELECT 'LAST_INSERT_ID()'",
            "SELECT `LAST_INSERT_ID()`",
            "SELECT 1 /* LAST_INSERT_ID() */",
            "SELECT 1 -- ROW_COUNT()",
            "UPDATE t SET id = LAST_INSERT_ID(id + 1)",
            "SELECT LAST_INSERT_ID(7); SELECT LAST_INSERT_ID()",
            "SELECT ROW_COUNT(1)",
            "SELECT LAST_INSERT_ID",
            "SELECT LAST_INSERT_ID(",
            "SELECT db.LAST_INSERT_ID()",
            "SELECT `LAST_INSERT_ID`()",
            "SELECT last_insert_id_x()",
            "CREATE PROCEDURE p() BEGIN SELECT LAST_INSERT_ID(); END",
            "CREATE TRIGGER t AFTER INSERT ON x FOR EACH ROW SET @a = ROW_COUNT()",
            "CREATE VIEW v AS SELECT LAST_INSERT_ID()",
            "",
        ] {
            assert_eq!(r(sql), None, "{sql}");
        }
    }

    #[test]
    fn replaced_next_to_definitions() {
        assert_eq!(
            r("CREATE VIEW v AS SELECT LAST_INSERT_ID(); SELECT LAST_INSERT_ID()").as_deref(),
            Some("CREATE VIEW v AS SELECT LAST_INSERT_ID(); SELECT 42 AS `LAST_INSERT_ID()`")
        );
        assert_eq!(
            r("CREATE TABLE t AS SELECT LAST_INSERT_ID() AS x").as_deref(),
            Some("CREATE TABLE t AS SELECT 42 AS x")
        );
    }
}
