//! [`local_query`]: the statements sqlmux answers itself, from the session's own state,
//! so they need no backend: `SELECT LAST_INSERT_ID()` and friends.

use super::classify::sys_var;
use super::keywords::{kw, Kw};
use super::lexer::{is_space, Lexer, TokenKind};
use super::set::unquote;

/// A statement sqlmux answers itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalQuery {
    /// `SELECT LAST_INSERT_ID()`, `@@identity`, `@@last_insert_id`.
    LastInsertId {
        /// The result column's name, as a MySQL server would return it.
        column: String,
    },
    /// `SELECT ROW_COUNT()`.
    RowCount {
        /// The result column's name, as a MySQL server would return it.
        column: String,
    },
    /// `SELECT CONNECTION_ID()`: the id the client got in its handshake.
    ConnectionId {
        /// The result column's name, as a MySQL server would return it.
        column: String,
    },
}

/// `KILL [HARD | SOFT] [CONNECTION | QUERY] id`: what a client asks to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kill {
    /// `KILL QUERY`: only the statement running; else the whole connection.
    pub query_only: bool,
    /// The connection (thread) id named.
    pub id: u64,
}

/// Reads a `KILL` statement naming a connection id; None for anything else (including the
/// `KILL QUERY ID n` and `KILL USER name` forms).
pub fn parse_kill(sql: &[u8]) -> Option<Kill> {
    let mut lex = Lexer::new(sql);
    let word = |t: &super::lexer::Token, w: &[u8]| {
        t.kind == TokenKind::Word && t.text(sql).eq_ignore_ascii_case(w)
    };
    if !word(&lex.next_sig()?, b"kill") {
        return None;
    }
    let mut t = lex.next_sig()?;
    if word(&t, b"hard") || word(&t, b"soft") {
        t = lex.next_sig()?;
    }
    let mut query_only = false;
    if word(&t, b"query") {
        query_only = true;
        t = lex.next_sig()?;
    } else if word(&t, b"connection") {
        t = lex.next_sig()?;
    }
    if t.kind != TokenKind::Number {
        return None;
    }
    let id = std::str::from_utf8(t.text(sql)).ok()?.parse().ok()?;
    match lex.next_sig() {
        None => Some(Kill { query_only, id }),
        Some(semi) if semi.kind == TokenKind::Semicolon => lex
            .all(|t| t.kind == TokenKind::Comment)
            .then_some(Kill { query_only, id }),
        Some(_) => None,
    }
}

/// Recognises `SELECT LAST_INSERT_ID()`, `SELECT @@identity`, `SELECT @@last_insert_id`,
/// `SELECT @@session.last_insert_id`, `SELECT ROW_COUNT()` in any case and spacing, with
/// comments around, an optional alias (`AS id`, `id`, `AS 'id'`, `` AS `id` ``) and an
/// optional trailing `;`; nothing else. `column` is the alias (unquoted), else the
/// expression text as written (comments inside it dropped, as MySQL does).
pub fn local_query(sql: &[u8]) -> Option<LocalQuery> {
    let mut lex = Lexer::new(sql);
    let select = lex.next_sig()?;
    if kw(sql, &select) != Some(Kw::SELECT) {
        return None;
    }
    let before_expr = lex.clone();
    let first = lex.next_sig()?;
    let (function, expr_end) = match first.kind {
        TokenKind::Word => {
            let function = match kw(sql, &first) {
                Some(f @ (Kw::LAST_INSERT_ID | Kw::ROW_COUNT | Kw::CONNECTION_ID)) => f,
                _ => return None,
            };
            let open = lex.next_sig()?;
            let close = lex.next_sig()?;
            if !open.is_punct(sql, b"(") || !close.is_punct(sql, b")") {
                return None;
            }
            (function, close.end())
        }
        TokenKind::SysVar => {
            let (global, name) = sys_var(first.text(sql));
            let known = name.eq_ignore_ascii_case(b"identity")
                || name.eq_ignore_ascii_case(b"last_insert_id");
            if global == Some(true) || !known {
                return None;
            }
            (Kw::LAST_INSERT_ID, first.end())
        }
        _ => return None,
    };
    let column = match alias(&mut lex, sql)? {
        Some(a) => a,
        None => expression_text(before_expr, expr_end),
    };
    let column = String::from_utf8_lossy(&column).into_owned();
    Some(match function {
        Kw::ROW_COUNT => LocalQuery::RowCount { column },
        Kw::CONNECTION_ID => LocalQuery::ConnectionId { column },
        _ => LocalQuery::LastInsertId { column },
    })
}

/// The optional alias and the end of the statement: `Some(None)` without alias, None when
/// anything else follows.
fn alias(lex: &mut Lexer<'_>, sql: &[u8]) -> Option<Option<Vec<u8>>> {
    let mut name = None;
    let mut t = lex.next_sig();
    if let Some(a) = t {
        let explicit = kw(sql, &a) == Some(Kw::AS);
        let a = if explicit { lex.next_sig()? } else { a };
        name = match a.kind {
            TokenKind::Word => match kw(sql, &a) {
                Some(k) if k.is_reserved() => None,
                _ => Some(a.text(sql).to_vec()),
            },
            TokenKind::QuotedIdent | TokenKind::String | TokenKind::DoubleQuoted
                if matches!(a.text(sql).first(), Some(b'\'' | b'"' | b'`')) && a.closed =>
            {
                unquote(a.text(sql))
            }
            _ => None,
        };
        if name.is_some() {
            t = lex.next_sig();
        } else if explicit || a.kind != TokenKind::Semicolon {
            return None;
        }
    }
    if let Some(semi) = t {
        if semi.kind != TokenKind::Semicolon {
            return None;
        }
    }
    // Only comments and whitespace may follow the `;`.
    lex.all(|t| t.kind == TokenKind::Comment).then_some(name)
}

/// The select item's text as written, from its first token up to `end`, without comments.
fn expression_text(lex: Lexer<'_>, end: usize) -> Vec<u8> {
    let sql = lex.sql();
    let mut out = Vec::new();
    let mut prev_end: Option<usize> = None;
    for t in lex {
        if t.start() >= end {
            break;
        }
        if prev_end.is_none() && t.kind == TokenKind::Comment {
            continue;
        }
        // Whitespace between tokens stays; comments and executable-comment markers go.
        if let Some(p) = prev_end {
            let gap = sql.get(p..t.start()).unwrap_or_default();
            out.extend(gap.iter().copied().filter(|&b| is_space(b)));
        }
        prev_end = Some(t.end());
        if t.kind != TokenKind::Comment {
            out.extend_from_slice(t.text(sql));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lid(c: &str) -> Option<LocalQuery> {
        Some(LocalQuery::LastInsertId { column: c.into() })
    }

    fn rc(c: &str) -> Option<LocalQuery> {
        Some(LocalQuery::RowCount { column: c.into() })
    }

    #[test]
    fn recognised() {
        for (sql, want) in [
            ("SELECT LAST_INSERT_ID()", lid("LAST_INSERT_ID()")),
            ("select last_insert_id() as id;", lid("id")),
            ("/* c */ SELECT LAST_INSERT_ID( )", lid("LAST_INSERT_ID( )")),
            ("SELECT last_insert_id ( ) ", lid("last_insert_id ( )")),
            ("SELECT LAST_INSERT_ID(/* x */)", lid("LAST_INSERT_ID()")),
            (
                "SELECT /* a */ LAST_INSERT_ID() /* b */",
                lid("LAST_INSERT_ID()"),
            ),
            ("SELECT/*!50000 @@identity*/", lid("@@identity")),
            (
                "SELECT\n\tLAST_INSERT_ID()\n;\n-- done\n",
                lid("LAST_INSERT_ID()"),
            ),
            ("SELECT @@IDENTITY", lid("@@IDENTITY")),
            ("SELECT @@identity AS `Id`", lid("Id")),
            ("SELECT @@last_insert_id", lid("@@last_insert_id")),
            (
                "SELECT @@session.last_insert_id",
                lid("@@session.last_insert_id"),
            ),
            ("SELECT @@LOCAL.identity", lid("@@LOCAL.identity")),
            ("SELECT LAST_INSERT_ID() id", lid("id")),
            ("SELECT LAST_INSERT_ID() AS 'the id'", lid("the id")),
            ("SELECT LAST_INSERT_ID() 'it''s'", lid("it's")),
            ("SELECT LAST_INSERT_ID() AS \"x\"", lid("x")),
            ("SELECT LAST_INSERT_ID() AS `a``b`", lid("a`b")),
            ("SELECT LAST_INSERT_ID() AS status", lid("status")),
            (
                "SELECT LAST_INSERT_ID() /* a */ AS /* b */ id /* c */ ; /* d */",
                lid("id"),
            ),
            (
                "/*!50000 SELECT LAST_INSERT_ID() */",
                lid("LAST_INSERT_ID()"),
            ),
            ("SELECT ROW_COUNT()", rc("ROW_COUNT()")),
            ("select row_count() AS n;", rc("n")),
        ] {
            assert_eq!(local_query(sql.as_bytes()), want, "{sql}");
        }
    }

    #[test]
    fn not_local() {
        for sql in [
            "SELECT LAST_INSERT_ID() FROM t",
            "SELECT LAST_INSERT_ID() FROM DUAL",
            "SELECT LAST_INSERT_ID(), 1",
            "SELECT LAST_INSERT_ID() WHERE 1",
            "SELECT LAST_INSERT_ID() INTO @x",
            "SELECT LAST_INSERT_ID() FOR UPDATE",
            "SELECT LAST_INSERT_ID() LIMIT 1",
            "SELECT LAST_INSERT_ID() + 1",
            "SELECT LAST_INSERT_ID(5)",
            "SELECT LAST_INSERT_ID",
            "SELECT LAST_INSERT_ID(",
            "SELECT (LAST_INSERT_ID())",
            "SELECT LAST_INSERT_ID() AS",
            "SELECT LAST_INSERT_ID() AS FROM",
            "SELECT LAST_INSERT_ID() AS id extra",
            "SELECT LAST_INSERT_ID() 'unterminated",
            "SELECT LAST_INSERT_ID(); SELECT 1",
            "SELECT LAST_INSERT_ID();;",
            "SELECT db.LAST_INSERT_ID()",
            "SELECT `LAST_INSERT_ID`()",
            "SELECT 'LAST_INSERT_ID()'",
            "SELECT @@global.identity",
            "SELECT @@identity2",
            "SELECT @identity",
            "SELECT FOUND_ROWS()",
            "SELECT ROW_COUNT() FROM t",
            "SELECT SQL_NO_CACHE LAST_INSERT_ID()",
            "DO LAST_INSERT_ID()",
            "SELECT",
            "",
        ] {
            assert_eq!(local_query(sql.as_bytes()), None, "{sql}");
        }
    }

    #[test]
    fn connection_id_and_kill() {
        assert_eq!(
            local_query(b"select connection_id() as me"),
            Some(LocalQuery::ConnectionId {
                column: "me".into()
            })
        );
        assert_eq!(
            local_query(b"SELECT CONNECTION_ID()"),
            Some(LocalQuery::ConnectionId {
                column: "CONNECTION_ID()".into()
            })
        );
        let k = |s: &str| parse_kill(s.as_bytes());
        assert_eq!(
            k("KILL 12"),
            Some(Kill {
                query_only: false,
                id: 12
            })
        );
        assert_eq!(
            k("kill connection 7;"),
            Some(Kill {
                query_only: false,
                id: 7
            })
        );
        assert_eq!(
            k("KILL HARD QUERY 9"),
            Some(Kill {
                query_only: true,
                id: 9
            })
        );
        assert_eq!(k("KILL QUERY ID 9"), None);
        assert_eq!(k("KILL USER app"), None);
        assert_eq!(k("KILL 1 2"), None);
        assert_eq!(k("SELECT 1"), None);
    }
}
