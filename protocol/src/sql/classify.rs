//! [`classify`]: one allocation-free pass over a statement text that tells the router and the
//! multiplexer what they need to know: the first statement's kind, how many statements
//! there are, what they do (flags, unioned over all statements) and the hostgroup hint.

use super::flags::Flags;
use super::keywords::{kw, Kw};
use super::kind::{Head, Kind};
use super::lexer::{Token, TokenKind};
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
        let r = c("SELECT * FROM t WHERE id = 1");
        assert_eq!(
            r,
            Classification {
                kind: Kind::Select,
                statements: 1,
                flags: Flags::empty(),
                hint_hostgroup: None
            }
        );
        assert_eq!(flags("SELECT 'INSERT INTO t VALUES (1)'"), Flags::empty());
        assert_eq!(c("SELECT 'INSERT'").kind, Kind::Select);
        assert_eq!(c("/* INSERT */ SELECT 1").kind, Kind::Select);
        assert_eq!(c("-- DELETE\nSELECT 1").kind, Kind::Select);
        assert_eq!(c("# DELETE\nSELECT 1").kind, Kind::Select);
        assert_eq!(flags("UPDATE t SET a = 1"), Flags::WRITE);
        assert_eq!(
            flags("INSERT INTO t VALUES (1)"),
            Flags::WRITE | Flags::MAY_INSERT
        );
        let r = c("(SELECT 1) UNION (SELECT 2)");
        assert_eq!((r.kind, r.flags), (Kind::Select, Flags::empty()));
        assert_eq!(flags("WITH c AS (SELECT 1) DELETE FROM t"), Flags::WRITE);
    }

    #[test]
    fn locking_reads() {
        for sql in [
            "SELECT * FROM t WHERE id = 1 FOR UPDATE",
            "select * from t for share",
            "SELECT * FROM t FOR UPDATE NOWAIT",
            "SELECT * FROM t FOR UPDATE OF t SKIP LOCKED",
            "SELECT * FROM t LOCK IN SHARE MODE",
            "(SELECT * FROM t FOR UPDATE)",
            "/*!50000 SELECT * FROM t FOR UPDATE */",
            "SELECT * FROM t /*!50000 FOR UPDATE */",
            "SELECT 1; SELECT * FROM t FOR UPDATE",
        ] {
            assert!(flags(sql).contains(Flags::LOCKING_READ), "{sql}");
        }
        for sql in [
            "SELECT 1 -- FOR UPDATE",
            "SELECT 'FOR UPDATE'",
            "SELECT `for` FROM t",
            "SELECT * FROM t /* FOR UPDATE */",
            "SELECT * FROM t FOR SYSTEM_TIME AS OF TIMESTAMP '2020-01-01'",
            "LOCK TABLES t READ",
            "CREATE TRIGGER x BEFORE UPDATE ON t FOR EACH ROW SET @a = 1",
        ] {
            assert!(!flags(sql).contains(Flags::LOCKING_READ), "{sql}");
        }
    }

    #[test]
    fn select_into_and_user_vars() {
        assert_eq!(
            flags("SELECT a, b INTO @x, @y FROM t"),
            Flags::SELECT_INTO | Flags::USER_VAR_WRITE
        );
        assert_eq!(
            flags("SELECT * INTO OUTFILE '/tmp/x' FROM t"),
            Flags::SELECT_INTO
        );
        assert_eq!(flags("SELECT 1 INTO DUMPFILE '/tmp/x'"), Flags::SELECT_INTO);
        assert_eq!(
            flags("SELECT a FROM t WHERE b = @x INTO @y"),
            Flags::SELECT_INTO | Flags::USER_VAR_READ | Flags::USER_VAR_WRITE
        );
        assert_eq!(
            flags("INSERT INTO t VALUES (@x)"),
            Flags::WRITE | Flags::MAY_INSERT | Flags::USER_VAR_READ
        );
        assert_eq!(flags("SELECT @x"), Flags::USER_VAR_READ);
        assert_eq!(flags("SELECT @`x`, @'y'"), Flags::USER_VAR_READ);
        assert_eq!(flags("SELECT @x := 1"), Flags::USER_VAR_WRITE);
        assert_eq!(
            flags("SELECT @r := @r + 1 FROM t"),
            Flags::USER_VAR_WRITE | Flags::USER_VAR_READ
        );
        assert_eq!(flags("SET @a = 1"), Flags::USER_VAR_WRITE);
        assert_eq!(
            flags("SET @a = 1, @b := @a"),
            Flags::USER_VAR_WRITE | Flags::USER_VAR_READ
        );
        assert_eq!(flags("SET sql_mode = @m"), Flags::USER_VAR_READ);
        assert!(flags("EXECUTE s USING @a").contains(Flags::USER_VAR_READ));
        assert!(
            flags("LOAD DATA INFILE 'f' INTO TABLE t (a, @b) SET c = @b")
                .contains(Flags::USER_VAR_WRITE | Flags::USER_VAR_READ | Flags::MAY_INSERT)
        );
        assert_eq!(flags("SELECT 'a@b', `@c`"), Flags::empty());
        assert_eq!(
            flags("CREATE USER 'u'@'localhost'"),
            Flags::WRITE,
            "an account name is no variable"
        );
    }

    #[test]
    fn session_functions() {
        assert_eq!(flags("SELECT LAST_INSERT_ID()"), Flags::LAST_INSERT_ID);
        assert_eq!(flags("select last_insert_id ( )"), Flags::LAST_INSERT_ID);
        assert_eq!(flags("SELECT @@identity"), Flags::LAST_INSERT_ID);
        assert_eq!(
            flags("SELECT @@SESSION.last_insert_id"),
            Flags::LAST_INSERT_ID
        );
        assert_eq!(flags("SELECT @@global.identity"), Flags::empty());
        assert_eq!(
            flags("UPDATE t SET id = LAST_INSERT_ID(id + 1)"),
            Flags::WRITE | Flags::LAST_INSERT_ID | Flags::LAST_INSERT_ID_ARG
        );
        assert_eq!(
            flags("SELECT LAST_INSERT_ID(/* c */ 5)"),
            Flags::LAST_INSERT_ID | Flags::LAST_INSERT_ID_ARG
        );
        assert_eq!(
            flags("SELECT LAST_INSERT_ID(/* c */)"),
            Flags::LAST_INSERT_ID
        );
        assert_eq!(flags("SELECT last_insert_id"), Flags::empty());
        assert_eq!(flags("SELECT db.last_insert_id()"), Flags::empty());
        assert_eq!(flags("SELECT `last_insert_id`()"), Flags::empty());
        assert_eq!(flags("SELECT 'LAST_INSERT_ID()'"), Flags::empty());
        assert_eq!(flags("SELECT connection_id ()"), Flags::CONNECTION_ID);
        assert_eq!(flags("SELECT db.connection_id()"), Flags::empty());
        assert_eq!(flags("SELECT ROW_COUNT()"), Flags::ROW_COUNT);
        assert_eq!(
            flags("SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 1"),
            Flags::CALC_FOUND_ROWS
        );
        assert_eq!(flags("SELECT FOUND_ROWS()"), Flags::FOUND_ROWS);
        assert_eq!(flags("SELECT GET_LOCK('a', 10)"), Flags::GET_LOCK);
        assert_eq!(flags("DO get_lock('a', 10)"), Flags::GET_LOCK);
        assert_eq!(flags("SELECT RELEASE_LOCK('a')"), Flags::RELEASE_LOCK);
        assert_eq!(
            flags("SELECT RELEASE_ALL_LOCKS()"),
            Flags::RELEASE_ALL_LOCKS
        );
        assert_eq!(flags("SELECT @@warning_count"), Flags::WARNINGS_READ);
        assert_eq!(flags("SELECT @@session.error_count"), Flags::WARNINGS_READ);
    }

    #[test]
    fn set_flags() {
        assert_eq!(flags("SET sql_log_bin = 0"), Flags::SQL_LOG_BIN);
        assert_eq!(flags("SET SESSION SQL_LOG_BIN=1"), Flags::SQL_LOG_BIN);
        assert_eq!(flags("SET @@session.sql_log_bin = 0"), Flags::SQL_LOG_BIN);
        assert_eq!(flags("SELECT @@sql_log_bin"), Flags::empty());
        assert_eq!(flags("SET autocommit = 0"), Flags::empty());
    }

    #[test]
    fn definitions_do_not_run_their_bodies() {
        let r = c(
            "CREATE PROCEDURE p() BEGIN INSERT INTO t VALUES (LAST_INSERT_ID()); \
                   SELECT GET_LOCK('x', 1) FOR UPDATE; END",
        );
        assert_eq!(
            (r.kind, r.statements, r.flags),
            (Kind::Ddl, 1, Flags::WRITE)
        );
        let r = c("BEGIN NOT ATOMIC INSERT INTO t VALUES (1); SELECT LAST_INSERT_ID(); END");
        assert_eq!(
            (r.kind, r.statements, r.flags),
            (Kind::Other, 1, Flags::WRITE | Flags::LAST_INSERT_ID)
        );
    }

    #[test]
    fn multi_statements() {
        let r = c("SELECT 1; INSERT INTO t VALUES (1);; UPDATE t SET a = 2;");
        assert_eq!(
            (r.kind, r.statements, r.flags),
            (Kind::Select, 3, Flags::WRITE | Flags::MAY_INSERT)
        );
        let r = c("/* only */ ; -- comments\n");
        assert_eq!(
            (r.kind, r.statements, r.flags),
            (Kind::Other, 0, Flags::empty())
        );
        assert_eq!(c("").statements, 0);
        assert_eq!(c("BEGIN; SELECT 1; COMMIT").kind, Kind::Begin);
        assert_eq!(c("/*!40101 SET NAMES utf8 */;").kind, Kind::Set);
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
            c("SELECT 1 /* sqlmux:hostgroup=x */ /* sqlmux:hostgroup=6 */").hint_hostgroup,
            Some(6)
        );
        assert_eq!(
            c("CREATE VIEW v AS SELECT 1 /* sqlmux:hostgroup=1 */").hint_hostgroup,
            Some(1)
        );
    }

    #[test]
    fn interesting_words() {
        for k in [
            Kw::FOR,
            Kw::LOCK,
            Kw::INTO,
            Kw::GET_LOCK,
            Kw::ROW_COUNT,
            Kw::FOUND_ROWS,
            Kw::RELEASE_LOCK,
            Kw::LAST_INSERT_ID,
            Kw::RELEASE_ALL_LOCKS,
            Kw::SQL_CALC_FOUND_ROWS,
        ] {
            assert_eq!(interesting(k.name().as_bytes()), Some(k));
            assert_eq!(interesting(k.name().to_lowercase().as_bytes()), Some(k));
        }
        for w in [&b"fox"[..], b"from", b"", b"f", b"\xff"] {
            assert_eq!(interesting(w), None);
        }
    }

    #[test]
    fn sys_var_names() {
        assert_eq!(sys_var(b"@@x"), (None, &b"x"[..]));
        assert_eq!(sys_var(b"@@SESSION.x"), (Some(false), &b"x"[..]));
        assert_eq!(sys_var(b"@@local.x"), (Some(false), &b"x"[..]));
        assert_eq!(sys_var(b"@@Global.x"), (Some(true), &b"x"[..]));
        assert_eq!(sys_var(b"@@persist_only.x"), (Some(true), &b"x"[..]));
        assert_eq!(
            sys_var(b"@@default.key_buffer_size"),
            (None, &b"default.key_buffer_size"[..])
        );
        assert_eq!(sys_var(b"@@"), (None, &b""[..]));
        assert_eq!(sys_var(b"@"), (None, &b""[..]));
    }
}
