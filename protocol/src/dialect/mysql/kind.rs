//! [`Kind`]: what a statement is, from its first keywords, and the facts that follow from
//! the kind alone ([`Head`]).

use super::flags::Flags;
use super::keywords::Kw;
use super::lexer::{Lexer, MySql, TokenKind};
use crate::lex::Start;

pub use crate::lex::Kind;

/// The flags every MySQL statement of this kind has: WRITE when it goes to the writer,
/// MAY_INSERT when it may insert rows (and set LAST_INSERT_ID).
#[inline]
fn implied(kind: Kind) -> Flags {
    let reads = matches!(
        kind,
        Kind::Select | Kind::Show | Kind::Explain | Kind::Do | Kind::Use | Kind::Set
    );
    let mut flags = Flags::empty();
    if !(reads
        || kind.controls_transaction()
        || matches!(kind, Kind::UnlockTables | Kind::Deallocate))
    {
        flags |= Flags::WRITE;
    }
    if matches!(
        kind,
        Kind::Insert | Kind::Replace | Kind::Call | Kind::LoadData | Kind::Execute
    ) {
        flags |= Flags::MAY_INSERT;
    }
    flags
}

/// What MySQL notes of a statement's head besides its kind and flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Notes {
    /// A stored program or view definition: its body does not run now.
    pub definition: bool,
}

/// What the first keywords of one statement say.
pub(crate) type Head = crate::lex::Head<Flags, Notes>;

/// A statement that is no definition.
const PLAIN: Notes = Notes { definition: false };

impl Head {
    fn of(kind: Kind, extra: Flags) -> Head {
        Head::with(kind, extra | implied(kind), PLAIN)
    }
}

/// The statement's tokens with their MySQL keywords.
type Reader<'a> = crate::lex::Reader<'a, MySql>;

/// Reads the first keywords of the statement at `lex`.
pub(crate) fn head(lex: Lexer<'_>) -> Head {
    let mut r = Reader::new(lex);
    match r.start() {
        Start::Empty => Head::nothing(PLAIN),
        Start::Unknown => Head::of(Kind::Other, Flags::empty()),
        Start::Keyword(k) => statement(r, k),
    }
}

fn statement(mut r: Reader<'_>, k: Kw) -> Head {
    let none = Flags::empty();
    match k {
        Kw::SELECT | Kw::TABLE | Kw::VALUES => Head::of(Kind::Select, none),
        Kw::WITH => Head::of(with_main(&mut r), none),
        Kw::INSERT => Head::of(Kind::Insert, none),
        Kw::UPDATE => Head::of(Kind::Update, none),
        Kw::DELETE => Head::of(Kind::Delete, none),
        Kw::REPLACE => Head::of(Kind::Replace, none),
        Kw::CREATE | Kw::ALTER => create_or_alter(r, k == Kw::CREATE),
        Kw::DROP => match r.next_kw() {
            Some(Kw::PREPARE) => Head::of(Kind::Deallocate, none),
            Some(Kw::TEMPORARY) if matches!(r.next_kw(), Some(Kw::TABLE | Kw::TABLES)) => {
                Head::of(Kind::Ddl, Flags::DROP_TEMPORARY)
            }
            _ => Head::of(Kind::Ddl, none),
        },
        Kw::TRUNCATE | Kw::RENAME => Head::of(Kind::Ddl, none),
        Kw::SET => {
            if r.skip(Kw::STATEMENT) {
                set_statement(r)
            } else {
                Head::of(Kind::Set, none)
            }
        }
        Kw::USE => Head::of(Kind::Use, none),
        Kw::BEGIN => {
            if r.peek_kw() == Some(Kw::NOT) {
                // MariaDB's anonymous compound statement runs now, `;` inside included.
                Head {
                    block: true,
                    ..Head::of(Kind::Other, none)
                }
            } else {
                Head::of(Kind::Begin, none)
            }
        }
        Kw::START => match r.next_kw() {
            Some(Kw::TRANSACTION) => Head::of(Kind::Begin, none),
            _ => Head::of(Kind::Other, none),
        },
        Kw::COMMIT => Head::of(Kind::Commit, none),
        Kw::ROLLBACK => {
            r.skip(Kw::WORK);
            if r.peek_kw() == Some(Kw::TO) {
                Head::of(Kind::RollbackToSavepoint, none)
            } else {
                Head::of(Kind::Rollback, none)
            }
        }
        Kw::SAVEPOINT => Head::of(Kind::Savepoint, none),
        Kw::RELEASE if r.peek_kw() == Some(Kw::SAVEPOINT) => Head::of(Kind::ReleaseSavepoint, none),
        Kw::LOCK => match r.next_kw() {
            Some(Kw::TABLE | Kw::TABLES) => Head::of(Kind::LockTables, none),
            Some(Kw::INSTANCE) => Head::of(Kind::Other, Flags::SESSION_CHANGE),
            _ => Head::of(Kind::Other, none),
        },
        Kw::UNLOCK => match r.next_kw() {
            Some(Kw::TABLE | Kw::TABLES) => Head::of(Kind::UnlockTables, none),
            _ => Head::of(Kind::Other, none),
        },
        Kw::FLUSH => flush(r),
        Kw::PREPARE => Head::of(Kind::Prepare, none),
        Kw::EXECUTE => Head::of(Kind::Execute, none),
        Kw::DEALLOCATE => Head::of(Kind::Deallocate, none),
        Kw::SHOW => Head::of(Kind::Show, show_flags(r)),
        Kw::CALL => Head::of(Kind::Call, none),
        Kw::LOAD => match r.next_kw() {
            Some(Kw::DATA | Kw::XML) => Head::of(Kind::LoadData, none),
            _ => Head::of(Kind::Other, none),
        },
        Kw::DO => Head::of(Kind::Do, none),
        Kw::HANDLER => Head::of(Kind::Handler, Flags::SESSION_CHANGE),
        Kw::EXPLAIN | Kw::DESCRIBE | Kw::DESC => explain(r, false),
        Kw::ANALYZE => match r.peek_kw() {
            Some(Kw::TABLE | Kw::TABLES | Kw::NO_WRITE_TO_BINLOG | Kw::LOCAL) => {
                Head::of(Kind::Other, none)
            }
            _ => explain(r, true),
        },
        Kw::GET => {
            if !r.skip(Kw::CURRENT) {
                r.skip(Kw::STACKED);
            }
            if r.peek_kw() == Some(Kw::DIAGNOSTICS) {
                Head::of(Kind::Other, Flags::WARNINGS_READ)
            } else {
                Head::of(Kind::Other, none)
            }
        }
        Kw::XA | Kw::BACKUP => Head::of(Kind::Other, Flags::SESSION_CHANGE),
        _ => Head::of(Kind::Other, none),
    }
}

/// `WITH cte AS (...) <main>`: the kind of the main statement, a DML statement.
fn with_main(r: &mut Reader<'_>) -> Kind {
    const MAIN: [(Kw, Kind); 7] = [
        (Kw::SELECT, Kind::Select),
        (Kw::TABLE, Kind::Select),
        (Kw::VALUES, Kind::Select),
        (Kw::UPDATE, Kind::Update),
        (Kw::DELETE, Kind::Delete),
        (Kw::INSERT, Kind::Insert),
        (Kw::REPLACE, Kind::Replace),
    ];
    let kind_of = |k| MAIN.iter().find(|(w, _)| *w == k).map(|&(_, kind)| kind);
    r.with_main(kind_of, Kind::Select, Kind::Other)
}

/// CREATE/ALTER: temporary tables and stored program definitions.
fn create_or_alter(mut r: Reader<'_>, create: bool) -> Head {
    let mut head = Head::of(Kind::Ddl, Flags::empty());
    for _ in 0..32 {
        let Some((t, k)) = r.next() else { break };
        match k {
            Some(Kw::TEMPORARY) if create && r.peek_kw() == Some(Kw::TABLE) => {
                head.flags |= Flags::TEMPORARY_TABLE;
                break;
            }
            Some(
                Kw::PROCEDURE | Kw::FUNCTION | Kw::TRIGGER | Kw::EVENT | Kw::VIEW | Kw::PACKAGE,
            ) => {
                head.definition = true;
                head.block = true;
                break;
            }
            Some(
                Kw::TABLE
                | Kw::INDEX
                | Kw::DATABASE
                | Kw::SCHEMA
                | Kw::USER
                | Kw::ROLE
                | Kw::SERVER
                | Kw::TABLESPACE
                | Kw::SEQUENCE
                | Kw::LOGFILE
                | Kw::SPATIAL
                | Kw::UNIQUE
                | Kw::FULLTEXT
                | Kw::RESOURCE
                | Kw::UNDO,
            ) => break,
            _ if t.kind == TokenKind::Semicolon => break,
            _ => {}
        }
    }
    head
}

/// MariaDB's `SET STATEMENT var=value [, ...] FOR <statement>`: the inner statement's head.
fn set_statement(mut r: Reader<'_>) -> Head {
    let mut depth = 0i64;
    while let Some((_, k)) = r.next_in_statement(&mut depth) {
        if k == Some(Kw::FOR) && depth <= 0 {
            let inner = head(r.lex);
            return if inner.empty {
                Head::of(Kind::Other, Flags::empty())
            } else {
                inner
            };
        }
    }
    Head::of(Kind::Other, Flags::empty())
}

/// FLUSH [NO_WRITE_TO_BINLOG | LOCAL] TABLES [t, ...] {WITH READ LOCK | FOR EXPORT}.
fn flush(mut r: Reader<'_>) -> Head {
    let mut k = r.next_kw();
    if matches!(k, Some(Kw::NO_WRITE_TO_BINLOG | Kw::LOCAL)) {
        k = r.next_kw();
    }
    if matches!(k, Some(Kw::TABLE | Kw::TABLES)) {
        while let Some((t, k)) = r.next() {
            if t.kind == TokenKind::Semicolon {
                break;
            }
            let locks = match k {
                Some(Kw::WITH) => r.next_kw() == Some(Kw::READ) && r.peek_kw() == Some(Kw::LOCK),
                Some(Kw::FOR) => r.peek_kw() == Some(Kw::EXPORT),
                _ => false,
            };
            if locks {
                return Head::of(Kind::FlushTablesWithReadLock, Flags::empty());
            }
        }
    }
    Head::of(Kind::Other, Flags::empty())
}

/// SHOW WARNINGS, SHOW ERRORS, SHOW COUNT(*) WARNINGS, SHOW COUNT(*) ERRORS.
fn show_flags(mut r: Reader<'_>) -> Flags {
    let mut k = r.next_kw();
    if k == Some(Kw::COUNT) {
        let sql = r.lex.sql();
        for p in [&b"("[..], b"*", b")"] {
            if !r.lex.next_sig().is_some_and(|t| t.is_punct(sql, p)) {
                return Flags::empty();
            }
        }
        k = r.next_kw();
    }
    if matches!(k, Some(Kw::WARNINGS | Kw::ERRORS)) {
        Flags::WARNINGS_READ
    } else {
        Flags::empty()
    }
}

/// EXPLAIN/DESCRIBE/DESC, and `ANALYZE <statement>`: EXPLAIN ANALYZE runs the statement,
/// so an analyzed write is a write.
fn explain(mut r: Reader<'_>, mut analyze: bool) -> Head {
    for _ in 0..16 {
        let Some((t, k)) = r.next() else { break };
        let flags = match k {
            Some(Kw::ANALYZE) => {
                analyze = true;
                continue;
            }
            Some(Kw::INSERT | Kw::REPLACE) => Flags::WRITE | Flags::MAY_INSERT,
            Some(Kw::UPDATE | Kw::DELETE) => Flags::WRITE,
            Some(Kw::SELECT | Kw::TABLE | Kw::WITH | Kw::VALUES) => break,
            _ if t.kind == TokenKind::Semicolon => break,
            _ => continue,
        };
        if analyze {
            return Head::of(Kind::Explain, flags);
        }
        break;
    }
    Head::of(Kind::Explain, Flags::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(sql: &str) -> Kind {
        head(Lexer::new(sql.as_bytes())).kind
    }

    fn flags(sql: &str) -> Flags {
        head(Lexer::new(sql.as_bytes())).flags
    }

    #[test]
    fn kinds() {
        crate::lex::tests::kinds_alike(kind);
        for (sql, k) in [
            ("/*!50000 SELECT 1 */", Kind::Select),
            ("VALUES ROW(1)", Kind::Select),
            (
                "WITH c AS (SELECT id FROM t) UPDATE t JOIN c USING (id) SET x = 1",
                Kind::Update,
            ),
            ("with c as (select 1) delete from t", Kind::Delete),
            ("WITH c AS (SELECT 1) (SELECT * FROM c)", Kind::Select),
            ("REPLACE INTO t VALUES (1)", Kind::Replace),
            ("RENAME TABLE a TO b", Kind::Ddl),
            ("SET autocommit = 0", Kind::Set),
            (
                "SET STATEMENT max_statement_time=1 FOR SELECT 1",
                Kind::Select,
            ),
            (
                "SET STATEMENT max_statement_time=1 FOR UPDATE t SET a=1",
                Kind::Update,
            ),
            ("SET STATEMENT x=1", Kind::Other),
            ("USE db", Kind::Use),
            ("START TRANSACTION READ ONLY", Kind::Begin),
            (
                "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ WRITE",
                Kind::Begin,
            ),
            ("START SLAVE", Kind::Other),
            ("BEGIN NOT ATOMIC SELECT 1; END", Kind::Other),
            ("COMMIT WORK AND NO CHAIN", Kind::Commit),
            ("ROLLBACK WORK AND CHAIN", Kind::Rollback),
            ("ROLLBACK TO SAVEPOINT s", Kind::RollbackToSavepoint),
            ("rollback work to s", Kind::RollbackToSavepoint),
            ("LOCK TABLES t READ", Kind::LockTables),
            ("LOCK TABLE t WRITE", Kind::LockTables),
            ("UNLOCK TABLES", Kind::UnlockTables),
            ("FLUSH TABLES WITH READ LOCK", Kind::FlushTablesWithReadLock),
            (
                "FLUSH NO_WRITE_TO_BINLOG TABLES t1, t2 WITH READ LOCK",
                Kind::FlushTablesWithReadLock,
            ),
            ("FLUSH TABLES t FOR EXPORT", Kind::FlushTablesWithReadLock),
            ("FLUSH TABLES", Kind::Other),
            ("FLUSH PRIVILEGES", Kind::Other),
            ("PREPARE s FROM 'SELECT 1'", Kind::Prepare),
            ("EXECUTE s USING @a", Kind::Execute),
            ("DEALLOCATE PREPARE s", Kind::Deallocate),
            ("DROP PREPARE s", Kind::Deallocate),
            ("SHOW TABLES", Kind::Show),
            ("LOAD DATA LOCAL INFILE 'f' INTO TABLE t", Kind::LoadData),
            ("LOAD XML INFILE 'f' INTO TABLE t", Kind::LoadData),
            ("LOAD INDEX INTO CACHE t", Kind::Other),
            ("DO SLEEP(1)", Kind::Do),
            ("HANDLER t OPEN", Kind::Handler),
            ("DESCRIBE t", Kind::Explain),
            ("desc t", Kind::Explain),
            ("ANALYZE SELECT 1", Kind::Explain),
            ("ANALYZE TABLE t", Kind::Other),
            ("GET DIAGNOSTICS @n = NUMBER", Kind::Other),
            ("KILL 5", Kind::Other),
            ("foo", Kind::Other),
            ("'str'", Kind::Other),
            ("", Kind::Other),
        ] {
            assert_eq!(kind(sql), k, "{sql}");
        }
    }

    #[test]
    fn empty_heads() {
        for sql in ["", "  ", "/* c */", "-- x", ";", "/* a */ ;"] {
            assert!(head(Lexer::new(sql.as_bytes())).empty, "{sql}");
        }
        assert!(!head(Lexer::new(b"(;")).empty);
    }

    #[test]
    fn kind_flags() {
        for (sql, f) in [
            ("SELECT 1", Flags::empty()),
            ("INSERT INTO t VALUES (1)", Flags::WRITE | Flags::MAY_INSERT),
            ("REPLACE t VALUES (1)", Flags::WRITE | Flags::MAY_INSERT),
            ("CALL p()", Flags::WRITE | Flags::MAY_INSERT),
            (
                "LOAD DATA INFILE 'x' INTO TABLE t",
                Flags::WRITE | Flags::MAY_INSERT,
            ),
            ("EXECUTE s", Flags::WRITE | Flags::MAY_INSERT),
            ("UPDATE t SET a=1", Flags::WRITE),
            ("BEGIN", Flags::empty()),
            ("SET a=1", Flags::empty()),
            ("SHOW WARNINGS", Flags::WARNINGS_READ),
            ("show errors limit 1", Flags::WARNINGS_READ),
            ("SHOW COUNT(*) WARNINGS", Flags::WARNINGS_READ),
            ("SHOW COUNT ( * ) ERRORS", Flags::WARNINGS_READ),
            ("SHOW COUNT(1) WARNINGS", Flags::empty()),
            ("SHOW STATUS", Flags::empty()),
            (
                "GET DIAGNOSTICS CONDITION 1 @m = MESSAGE_TEXT",
                Flags::WARNINGS_READ | Flags::WRITE,
            ),
            (
                "GET CURRENT DIAGNOSTICS @n = NUMBER",
                Flags::WARNINGS_READ | Flags::WRITE,
            ),
            (
                "CREATE TEMPORARY TABLE t (a int)",
                Flags::WRITE | Flags::TEMPORARY_TABLE,
            ),
            (
                "CREATE OR REPLACE TEMPORARY TABLE t (a int)",
                Flags::WRITE | Flags::TEMPORARY_TABLE,
            ),
            ("CREATE TABLE t (a int)", Flags::WRITE),
            (
                "DROP TEMPORARY TABLE IF EXISTS t",
                Flags::WRITE | Flags::DROP_TEMPORARY,
            ),
            ("DROP TABLE t", Flags::WRITE),
            ("HANDLER t READ FIRST", Flags::WRITE | Flags::SESSION_CHANGE),
            ("XA START 'x'", Flags::WRITE | Flags::SESSION_CHANGE),
            (
                "LOCK INSTANCE FOR BACKUP",
                Flags::WRITE | Flags::SESSION_CHANGE,
            ),
            ("EXPLAIN SELECT 1", Flags::empty()),
            ("EXPLAIN UPDATE t SET a=1", Flags::empty()),
            ("EXPLAIN ANALYZE UPDATE t SET a=1", Flags::WRITE),
            ("EXPLAIN ANALYZE FORMAT=TREE DELETE FROM t", Flags::WRITE),
            (
                "ANALYZE FORMAT=JSON INSERT INTO t VALUES (1)",
                Flags::WRITE | Flags::MAY_INSERT,
            ),
            ("ANALYZE SELECT 1", Flags::empty()),
        ] {
            assert_eq!(flags(sql), f, "{sql}");
        }
    }

    #[test]
    fn definitions() {
        for sql in [
            "CREATE PROCEDURE p() BEGIN SELECT 1; END",
            "CREATE DEFINER=`root`@`localhost` PROCEDURE p() SELECT 1",
            "CREATE DEFINER = CURRENT_USER() FUNCTION f() RETURNS INT RETURN 1",
            "CREATE OR REPLACE ALGORITHM=MERGE SQL SECURITY INVOKER VIEW v AS SELECT 1",
            "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET NEW.a = 1",
            "ALTER EVENT e DO BEGIN UPDATE t SET a = 1; END",
            "create aggregate function f returns string soname 'x.so'",
        ] {
            let h = head(Lexer::new(sql.as_bytes()));
            assert!(h.definition && h.block && h.kind == Kind::Ddl, "{sql}");
        }
        for sql in [
            "CREATE TABLE t AS SELECT 1",
            "CREATE INDEX i ON t (a)",
            "DROP PROCEDURE p",
        ] {
            let h = head(Lexer::new(sql.as_bytes()));
            assert!(!h.definition && !h.block, "{sql}");
        }
        let h = head(Lexer::new(
            b"BEGIN NOT ATOMIC INSERT INTO t VALUES (1); END",
        ));
        assert!(h.block && !h.definition);
    }
}
