//! [`classify`]: one allocation-free pass over a PostgreSQL statement text that tells the
//! router and the multiplexer what they need to know: the first statement's kind, how many
//! statements there are, what they do (flags, unioned over all statements) and the hostgroup
//! hint.

use super::flags::Flags;
use super::funcs::call_at;
use super::keywords::{kw, Kw};
use super::kind::{Head, Kind};
use super::lexer::{Lexer, Token, TokenKind};
use super::walker::Walker;

/// Facts about a statement text (all statements of a multi-statement text are scanned).
pub type Classification = crate::lex::Classification<Kind, Flags>;

/// Classifies a statement text; never allocates.
pub fn classify(sql: &[u8]) -> Classification {
    let mut out = Classification::new(Kind::Other, Flags::empty());
    let mut w = Walker::new(sql);
    while let Some(head) = w.next_statement() {
        out.add_statement(head.empty, head.kind, head.flags);
        scan(&mut w, &head, &mut out);
    }
    out
}

/// The flags of the tokens of one statement, and the hint of its comments.
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
mod tests {
    use super::*;

    fn c(sql: &str) -> Classification {
        classify(sql.as_bytes())
    }

    fn flags(sql: &str) -> Flags {
        c(sql).flags
    }

    #[test]
    fn plain_reads_and_writes() {
        assert_eq!(
            c("SELECT * FROM t WHERE id = 1"),
            Classification {
                kind: Kind::Select,
                statements: 1,
                flags: Flags::empty(),
                hint_hostgroup: None
            }
        );
        assert_eq!(flags("SELECT 'INSERT INTO t VALUES (1)'"), Flags::empty());
        assert_eq!(c("/* INSERT */ SELECT 1").kind, Kind::Select);
        assert_eq!(c("--DELETE\nSELECT 1").kind, Kind::Select);
        assert_eq!(c("/* a /* DELETE */ b */ SELECT 1").kind, Kind::Select);
        assert_eq!(flags("UPDATE t SET a = 1"), Flags::WRITE);
        assert_eq!(flags("SELECT '--', 1 FROM t"), Flags::empty());
        assert_eq!(flags("SELECT E'\\'', 'x''y' FROM t"), Flags::empty());
        assert_eq!(flags("SELECT 1::int, a->>'k' FROM t"), Flags::empty());
    }

    #[test]
    fn data_modifying_ctes() {
        assert_eq!(
            flags("WITH x AS (INSERT INTO t VALUES (1) RETURNING id) SELECT * FROM x"),
            Flags::WRITE
        );
        assert_eq!(
            c("WITH a AS (SELECT 1), b AS ( /* c */ delete FROM t RETURNING *) SELECT 1").flags,
            Flags::WRITE
        );
        assert_eq!(
            flags("WITH a AS (SELECT * FROM t FOR UPDATE) SELECT 1"),
            Flags::LOCKING_READ
        );
        assert_eq!(
            flags("WITH a AS (SELECT 1) SELECT * FROM a"),
            Flags::empty()
        );
        // A plain EXPLAIN runs nothing; EXPLAIN ANALYZE does.
        assert_eq!(
            flags("EXPLAIN WITH x AS (DELETE FROM t) SELECT 1"),
            Flags::empty()
        );
        assert_eq!(
            flags("EXPLAIN ANALYZE WITH x AS (DELETE FROM t) SELECT 1"),
            Flags::WRITE
        );
        assert_eq!(
            flags("COPY (DELETE FROM t RETURNING *) TO STDOUT"),
            Flags::WRITE
        );
    }

    #[test]
    fn locking_reads() {
        for sql in [
            "SELECT * FROM t WHERE id = 1 FOR UPDATE",
            "select * from t for no key update",
            "SELECT * FROM t FOR SHARE",
            "SELECT * FROM t FOR KEY SHARE SKIP LOCKED",
            "SELECT * FROM t FOR UPDATE OF t NOWAIT",
            "(SELECT * FROM t FOR UPDATE)",
            "SELECT 1; SELECT * FROM t FOR UPDATE",
            "DECLARE c CURSOR FOR SELECT * FROM t FOR UPDATE",
            "EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE",
        ] {
            assert!(flags(sql).contains(Flags::LOCKING_READ), "{sql}");
        }
        for sql in [
            "SELECT 1 -- FOR UPDATE",
            "SELECT 'FOR UPDATE'",
            "SELECT \"for\" FROM t",
            "SELECT substring(a FROM 1 FOR 2) FROM t",
            "SELECT * FROM t FOR",
            "EXPLAIN SELECT * FROM t FOR UPDATE",
            "CREATE POLICY p ON t FOR UPDATE USING (true)",
            "CREATE TRIGGER x BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f()",
            "DECLARE c CURSOR FOR SELECT 1",
        ] {
            assert!(!flags(sql).contains(Flags::LOCKING_READ), "{sql}");
        }
    }

    #[test]
    fn select_into() {
        assert_eq!(flags("SELECT * INTO t2 FROM t"), Flags::WRITE);
        assert_eq!(flags("SELECT * INTO TABLE t2 FROM t"), Flags::WRITE);
        assert_eq!(
            flags("SELECT * INTO TEMP t2 FROM t"),
            Flags::WRITE | Flags::TEMP_OBJECT
        );
        assert_eq!(
            flags("select 1 into temporary table t2"),
            Flags::WRITE | Flags::TEMP_OBJECT
        );
        assert_eq!(
            flags("SELECT 1 INTO pg_temp.t2"),
            Flags::WRITE | Flags::TEMP_OBJECT
        );
        assert_eq!(
            flags("WITH c AS (SELECT 1) SELECT * INTO t2 FROM c"),
            Flags::WRITE
        );
        assert_eq!(flags("SELECT 1 AS into_x"), Flags::empty());
        assert_eq!(flags("SELECT (SELECT 1) AS x FROM t"), Flags::empty());
        assert_eq!(
            flags("INSERT INTO t SELECT 1"),
            Flags::WRITE,
            "no TEMP_OBJECT from INSERT INTO"
        );
        assert_eq!(
            flags("WITH x AS (INSERT INTO temp VALUES (1)) SELECT 1"),
            Flags::WRITE
        );
    }

    #[test]
    fn volatile_functions() {
        assert_eq!(
            flags("SELECT nextval('s')"),
            Flags::VOLATILE | Flags::NEXTVAL
        );
        assert_eq!(
            flags("SELECT pg_catalog.setval('s', 1)"),
            Flags::VOLATILE | Flags::NEXTVAL
        );
        assert_eq!(flags("SELECT currval('s')"), Flags::SEQUENCE_READ);
        assert_eq!(flags("SELECT LASTVAL()"), Flags::SEQUENCE_READ);
        assert_eq!(
            flags("SELECT pg_advisory_lock(1)"),
            Flags::VOLATILE | Flags::ADVISORY_LOCK
        );
        assert_eq!(
            flags("SELECT pg_try_advisory_lock_shared(1, 2)"),
            Flags::VOLATILE | Flags::ADVISORY_LOCK
        );
        assert_eq!(flags("SELECT pg_advisory_xact_lock(1)"), Flags::VOLATILE);
        assert_eq!(
            flags("SELECT pg_try_advisory_xact_lock_shared(1)"),
            Flags::VOLATILE
        );
        assert_eq!(
            flags("SELECT pg_advisory_unlock(1), pg_advisory_unlock_shared(2)"),
            Flags::VOLATILE | Flags::ADVISORY_UNLOCK
        );
        assert_eq!(
            flags("SELECT pg_advisory_unlock_all()"),
            Flags::VOLATILE | Flags::ADVISORY_UNLOCK_ALL
        );
        assert_eq!(
            flags("SELECT set_config('a.b', 'c', false)"),
            Flags::VOLATILE | Flags::SESSION_CHANGE
        );
        for f in [
            "pg_notify('c', 'x')",
            "txid_current()",
            "pg_current_xact_id()",
        ] {
            assert_eq!(flags(&format!("SELECT {f}")), Flags::VOLATILE, "{f}");
        }
        assert_eq!(flags("SELECT lo_create(0)"), Flags::VOLATILE);
        assert_eq!(flags("SELECT lo_get(1)"), Flags::empty());
        assert_eq!(
            flags("SELECT \"nextval\"('s')"),
            Flags::VOLATILE | Flags::NEXTVAL
        );
        assert_eq!(flags("SELECT \"NEXTVAL\"('s')"), Flags::empty());
        assert_eq!(flags("SELECT app.nextval('s')"), Flags::empty());
        assert_eq!(flags("SELECT nextval FROM t"), Flags::empty());
        assert_eq!(flags("SELECT 'nextval(1)', $$nextval(1)$$"), Flags::empty());
        assert_eq!(
            flags("INSERT INTO t VALUES (nextval('s'))"),
            Flags::WRITE | Flags::VOLATILE | Flags::NEXTVAL
        );
        assert_eq!(
            flags("CALL p(nextval('s'))"),
            Flags::WRITE | Flags::VOLATILE | Flags::NEXTVAL
        );
        assert_eq!(
            flags("EXECUTE s (nextval('x'))"),
            Flags::WRITE | Flags::PREPARED_SQL | Flags::VOLATILE | Flags::NEXTVAL
        );
    }

    #[test]
    fn definitions_do_not_run() {
        for sql in [
            "CREATE FUNCTION f() RETURNS int AS $$ SELECT nextval('s') $$ LANGUAGE sql",
            "CREATE FUNCTION f() RETURNS bigint LANGUAGE sql RETURN nextval('s')",
            "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql \
             BEGIN ATOMIC SELECT nextval('s'); SELECT pg_advisory_lock(1); END",
            "CREATE VIEW v AS SELECT nextval('s')",
            "CREATE TABLE t (id bigint DEFAULT nextval('s'))",
            "ALTER TABLE t ALTER id SET DEFAULT nextval('s')",
            "PREPARE p AS SELECT nextval('s')",
            "EXPLAIN SELECT pg_advisory_lock(1)",
            "DO $$ BEGIN PERFORM pg_advisory_lock(1); END $$",
        ] {
            let f = flags(sql);
            assert!(
                !f.intersects(Flags::VOLATILE | Flags::NEXTVAL | Flags::ADVISORY_LOCK),
                "{sql}: {f:?}"
            );
            assert_eq!(c(sql).statements, 1, "{sql}");
        }
        assert_eq!(
            flags("CREATE TABLE t AS SELECT nextval('s')"),
            Flags::WRITE | Flags::VOLATILE | Flags::NEXTVAL
        );
        assert_eq!(
            flags("CREATE MATERIALIZED VIEW v AS SELECT pg_advisory_lock(1)"),
            Flags::WRITE | Flags::VOLATILE | Flags::ADVISORY_LOCK
        );
        assert_eq!(
            flags("CREATE TEMP TABLE t AS EXECUTE p"),
            Flags::WRITE | Flags::TEMP_OBJECT | Flags::PREPARED_SQL
        );
        assert_eq!(
            flags("EXPLAIN ANALYZE SELECT pg_advisory_lock(1)"),
            Flags::VOLATILE | Flags::ADVISORY_LOCK
        );
    }

    #[test]
    fn dollar_quotes_and_semicolons() {
        let r = c("DO $body$ BEGIN PERFORM nextval('s'); END; $body$; SELECT 1");
        assert_eq!((r.kind, r.statements, r.flags), (Kind::Do, 2, Flags::WRITE));
        let r = c("SELECT $1, $$;nextval('x');$$ FROM t WHERE a = $2");
        assert_eq!(
            (r.kind, r.statements, r.flags),
            (Kind::Select, 1, Flags::empty())
        );
        let r = c("SELECT $tag$ $$ ; $$ $tag$; DELETE FROM t");
        assert_eq!((r.statements, r.flags), (2, Flags::WRITE));
    }

    #[test]
    fn session_and_statement_flags() {
        assert_eq!(flags("SET ROLE admin; SELECT 1"), Flags::SESSION_CHANGE);
        assert_eq!(flags("BEGIN READ ONLY; SELECT 1; COMMIT"), Flags::READ_ONLY);
        assert_eq!(
            flags("PREPARE p AS SELECT 1; EXECUTE p; DEALLOCATE p"),
            Flags::WRITE | Flags::PREPARED_SQL
        );
        assert_eq!(
            flags("DROP TABLE a; DISCARD ALL"),
            Flags::WRITE | Flags::DROP_TABLE | Flags::DISCARD_ALL | Flags::DISCARD_TEMP
        );
        assert_eq!(
            flags("LISTEN a; UNLISTEN b; UNLISTEN *"),
            Flags::WRITE | Flags::LISTEN | Flags::UNLISTEN | Flags::UNLISTEN_ALL
        );
        assert_eq!(
            flags("DECLARE c CURSOR WITH HOLD FOR SELECT 1; CLOSE ALL"),
            Flags::WITH_HOLD | Flags::CLOSE_ALL
        );
        assert_eq!(
            flags("CREATE TEMP TABLE t (a int)"),
            Flags::WRITE | Flags::TEMP_OBJECT
        );
        assert_eq!(flags("LOCK TABLE t"), Flags::WRITE);
        assert_eq!(flags("SHOW search_path"), Flags::empty());
        assert_eq!(flags("FETCH ALL FROM c"), Flags::empty());
    }

    #[test]
    fn multi_statements_and_empty() {
        let r = c("SELECT 1; INSERT INTO t VALUES (1);; UPDATE t SET a = 2;");
        assert_eq!(
            (r.kind, r.statements, r.flags),
            (Kind::Select, 3, Flags::WRITE)
        );
        for sql in [
            "",
            "   ",
            "/* only */ ; -- comments\n",
            "/* /* nested */ */",
            ";;",
        ] {
            let r = c(sql);
            assert_eq!(
                (r.kind, r.statements, r.flags),
                (Kind::Other, 0, Flags::empty()),
                "{sql}"
            );
        }
        assert_eq!(c("BEGIN; SELECT 1; COMMIT").kind, Kind::Begin);
    }

    #[test]
    fn hints() {
        let r = c("/* sqlmux:hostgroup=2 */ SELECT 1");
        assert_eq!((r.kind, r.hint_hostgroup), (Kind::Select, Some(2)));
        assert_eq!(
            c("SELECT 1 /* sqlmux:hostgroup=3 */ /* sqlmux:hostgroup=4 */").hint_hostgroup,
            Some(3)
        );
        assert_eq!(
            c("SELECT 1; /* sqlmux:hostgroup=5 */").hint_hostgroup,
            Some(5)
        );
        assert_eq!(c("SELECT '/* sqlmux:hostgroup=5 */'").hint_hostgroup, None);
        assert_eq!(
            c("SELECT $$/* sqlmux:hostgroup=5 */$$").hint_hostgroup,
            None
        );
        assert_eq!(
            c("CREATE VIEW v AS SELECT 1 /* sqlmux:hostgroup=1 */").hint_hostgroup,
            Some(1)
        );
        assert_eq!(c("SELECT 1 -- sqlmux:hostgroup=7").hint_hostgroup, Some(7));
    }
}

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
