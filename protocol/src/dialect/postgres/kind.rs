//! [`Kind`]: what a PostgreSQL statement is, from its first keywords, and the facts that
//! follow from those keywords alone ([`Head`]).

use super::flags::Flags;
use super::keywords::Kw;
use super::lexer::{Lexer, Postgres, TokenKind};
use super::statements::{begin, copy, create, declare, explain, set_flags};
use crate::lex::Start;

pub use crate::lex::Kind;

/// WRITE for the PostgreSQL kinds that write by their kind alone.
#[inline]
fn implied(kind: Kind) -> Flags {
    let session = matches!(
        kind,
        Kind::Set | Kind::Reset | Kind::Deallocate | Kind::Discard | Kind::Unlisten
    );
    let reads = matches!(kind, Kind::Select | Kind::Show | Kind::Explain | Kind::Copy);
    let cursors = matches!(kind, Kind::Declare | Kind::Close | Kind::Fetch);
    if reads || session || cursors || kind.controls_transaction() {
        Flags::empty()
    } else {
        Flags::WRITE
    }
}

/// Which tokens of a statement run now (function calls in them count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    /// The whole statement.
    Runs,
    /// None: a definition, a plain EXPLAIN, a utility statement.
    Never,
    /// What follows the first top-level `AS` (CREATE TABLE AS, CREATE MATERIALIZED VIEW AS).
    AfterAs,
}

/// What PostgreSQL notes of a statement's head besides its kind and flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Notes {
    /// Which tokens run now.
    pub body: Body,
    /// A top-level `INTO` is `SELECT ... INTO new_table`.
    pub select_into: bool,
}

/// What the first keywords of one statement say (`block`: in `CREATE [OR REPLACE] FUNCTION |
/// PROCEDURE`, `;` inside `BEGIN ATOMIC ... END` does not end the statement).
pub(crate) type Head = crate::lex::Head<Flags, Notes>;

impl Head {
    /// A head of `kind` with `extra` flags (and WRITE if the kind writes), whose body runs.
    pub(super) fn of(kind: Kind, extra: Flags) -> Head {
        let notes = Notes {
            body: Body::Runs,
            select_into: false,
        };
        Head::with(kind, extra | implied(kind), notes)
    }

    /// The same; a top-level `INTO` makes a table if `into_table`.
    fn select_into(mut self, into_table: bool) -> Head {
        self.notes.select_into = into_table;
        self
    }

    /// The same, with a body that does not run now.
    pub(super) fn never(mut self) -> Head {
        self.notes.body = Body::Never;
        self
    }
}

/// The statement's tokens with their PostgreSQL keywords.
pub(super) type Reader<'a> = crate::lex::Reader<'a, Postgres>;

/// How deep EXPLAIN/DECLARE may nest statements before the rest counts as unknown.
const MAX_NESTING: u32 = 4;

/// Reads the first keywords of the statement at `lex`.
pub(crate) fn head(lex: Lexer<'_>) -> Head {
    head_at(lex, 0)
}

fn head_at(lex: Lexer<'_>, nesting: u32) -> Head {
    let mut r = Reader::new(lex);
    match r.start() {
        Start::Empty => Head::nothing(Notes {
            body: Body::Never,
            select_into: false,
        }),
        Start::Unknown => Head::of(Kind::Other, Flags::empty()),
        Start::Keyword(k) => statement(r, k, nesting),
    }
}

fn statement(mut r: Reader<'_>, k: Kw, nesting: u32) -> Head {
    let none = Flags::empty();
    match k {
        Kw::SELECT | Kw::VALUES | Kw::TABLE => Head::of(Kind::Select, none).select_into(true),
        Kw::WITH => {
            let main = with_main(&mut r);
            Head::of(main, none).select_into(main == Kind::Select)
        }
        Kw::INSERT => Head::of(Kind::Insert, none),
        Kw::UPDATE => Head::of(Kind::Update, none),
        Kw::DELETE => Head::of(Kind::Delete, none),
        Kw::MERGE => Head::of(Kind::Merge, none),
        Kw::CREATE => create(r),
        Kw::DROP => {
            let flags = if r.peek_kw() == Some(Kw::TABLE) {
                Flags::DROP_TABLE
            } else {
                none
            };
            Head::of(Kind::Ddl, flags).never()
        }
        Kw::ALTER
        | Kw::COMMENT
        | Kw::GRANT
        | Kw::REVOKE
        | Kw::REINDEX
        | Kw::CLUSTER
        | Kw::REFRESH
        | Kw::TRUNCATE
        | Kw::SECURITY
        | Kw::IMPORT
        | Kw::REASSIGN => Head::of(Kind::Ddl, none).never(),
        Kw::SET => Head::of(Kind::Set, set_flags(r)).never(),
        Kw::RESET => Head::of(Kind::Reset, none).never(),
        Kw::SHOW => Head::of(Kind::Show, none).never(),
        Kw::BEGIN => begin(r),
        Kw::START if r.peek_kw() == Some(Kw::TRANSACTION) => begin(r),
        Kw::COMMIT if r.peek_kw() == Some(Kw::PREPARED) => Head::of(Kind::Other, none).never(),
        Kw::COMMIT | Kw::END => Head::of(Kind::Commit, none).never(),
        Kw::ROLLBACK => rollback(r),
        Kw::ABORT => Head::of(Kind::Rollback, none).never(),
        Kw::SAVEPOINT => Head::of(Kind::Savepoint, none).never(),
        Kw::RELEASE => Head::of(Kind::ReleaseSavepoint, none).never(),
        Kw::PREPARE => prepare(r),
        Kw::EXECUTE => Head::of(Kind::Execute, Flags::PREPARED_SQL),
        Kw::DEALLOCATE => Head::of(Kind::Deallocate, Flags::PREPARED_SQL).never(),
        Kw::LISTEN => Head::of(Kind::Listen, Flags::LISTEN).never(),
        Kw::UNLISTEN => {
            let all = r.peek().is_some_and(|t| r.punct(&t, b"*"));
            let flags = if all {
                Flags::UNLISTEN_ALL
            } else {
                Flags::UNLISTEN
            };
            Head::of(Kind::Unlisten, flags).never()
        }
        Kw::NOTIFY => Head::of(Kind::Notify, none).never(),
        Kw::DECLARE => declare(r, nesting),
        Kw::CLOSE => {
            let flags = if r.peek_kw() == Some(Kw::ALL) {
                Flags::CLOSE_ALL
            } else {
                none
            };
            Head::of(Kind::Close, flags).never()
        }
        Kw::FETCH | Kw::MOVE => Head::of(Kind::Fetch, none).never(),
        Kw::COPY => copy(r),
        Kw::DISCARD => {
            let flags = match r.next_kw() {
                Some(Kw::ALL) => Flags::DISCARD_ALL | Flags::DISCARD_TEMP,
                Some(Kw::TEMP | Kw::TEMPORARY) => Flags::DISCARD_TEMP,
                _ => none,
            };
            Head::of(Kind::Discard, flags).never()
        }
        Kw::LOCK => Head::of(Kind::Lock, none).never(),
        Kw::EXPLAIN => explain(r, nesting),
        Kw::CALL => Head::of(Kind::Call, none),
        Kw::DO => Head::of(Kind::Do, none).never(),
        Kw::VACUUM | Kw::ANALYZE | Kw::ANALYSE => Head::of(Kind::Vacuum, none).never(),
        Kw::CHECKPOINT => Head::of(Kind::Checkpoint, none).never(),
        Kw::LOAD => Head::of(Kind::Other, Flags::SESSION_CHANGE).never(),
        _ => Head::of(Kind::Other, none),
    }
}

/// `WITH cte AS (...) <main>`: the kind of the main statement.
fn with_main(r: &mut Reader<'_>) -> Kind {
    let kind_of = |k| match k {
        Kw::SELECT | Kw::TABLE | Kw::VALUES => Some(Kind::Select),
        Kw::INSERT => Some(Kind::Insert),
        Kw::UPDATE => Some(Kind::Update),
        Kw::DELETE => Some(Kind::Delete),
        Kw::MERGE => Some(Kind::Merge),
        _ => None,
    };
    r.with_main(kind_of, Kind::Select, Kind::Other)
}

/// ROLLBACK [WORK | TRANSACTION] [TO [SAVEPOINT] name | AND [NO] CHAIN], ROLLBACK PREPARED.
fn rollback(mut r: Reader<'_>) -> Head {
    if r.peek_kw() == Some(Kw::PREPARED) {
        return Head::of(Kind::Other, Flags::empty()).never();
    }
    if !r.skip(Kw::WORK) {
        r.skip(Kw::TRANSACTION);
    }
    let kind = if r.peek_kw() == Some(Kw::TO) {
        Kind::RollbackToSavepoint
    } else {
        Kind::Rollback
    };
    Head::of(kind, Flags::empty()).never()
}

/// PREPARE name AS statement (its body runs at EXECUTE), or PREPARE TRANSACTION 'gid'.
fn prepare(mut r: Reader<'_>) -> Head {
    if r.skip(Kw::TRANSACTION) && r.peek().is_some_and(|t| t.kind == TokenKind::String) {
        return Head::of(Kind::Other, Flags::empty()).never();
    }
    Head::of(Kind::Prepare, Flags::PREPARED_SQL).never()
}

/// The head of the statement nested at `r` (unknown past [`MAX_NESTING`]).
pub(super) fn nested(r: &Reader<'_>, nesting: u32) -> Head {
    if nesting < MAX_NESTING {
        head_at(r.lex.clone(), nesting + 1)
    } else {
        Head::of(Kind::Other, Flags::empty())
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn h(sql: &str) -> Head {
        head(Lexer::new(sql.as_bytes()))
    }

    fn kind(sql: &str) -> Kind {
        h(sql).kind
    }

    fn flags(sql: &str) -> Flags {
        h(sql).flags
    }

    #[test]
    fn kinds() {
        for (sql, k) in [
            ("VALUES (1), (2)", Kind::Select),
            (
                "WITH c AS MATERIALIZED (SELECT 1) (SELECT * FROM c)",
                Kind::Select,
            ),
            (
                "WITH c AS (SELECT 1) INSERT INTO t SELECT * FROM c",
                Kind::Insert,
            ),
            ("WITH c AS (SELECT 1) UPDATE t SET a = 1", Kind::Update),
            ("WITH c AS (SELECT 1) DELETE FROM t", Kind::Delete),
            (
                "WITH c AS (SELECT 1) MERGE INTO t USING c ON true",
                Kind::Merge,
            ),
            ("WITH c AS (SELECT 1)", Kind::Select),
            (
                "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
                Kind::Merge,
            ),
            ("COMMENT ON TABLE t IS 'x'", Kind::Ddl),
            ("GRANT SELECT ON t TO u", Kind::Ddl),
            ("REVOKE ALL ON t FROM u", Kind::Ddl),
            ("REINDEX TABLE t", Kind::Ddl),
            ("CLUSTER t", Kind::Ddl),
            ("REFRESH MATERIALIZED VIEW v", Kind::Ddl),
            ("SET search_path = a", Kind::Set),
            ("RESET ALL", Kind::Reset),
            ("SHOW ALL", Kind::Show),
            ("START TRANSACTION", Kind::Begin),
            ("START x", Kind::Other),
            ("COMMIT", Kind::Commit),
            ("COMMIT AND CHAIN", Kind::Commit),
            ("END TRANSACTION", Kind::Commit),
            ("COMMIT PREPARED 'x'", Kind::Other),
            ("ABORT", Kind::Rollback),
            ("ROLLBACK PREPARED 'x'", Kind::Other),
            ("ROLLBACK TO s", Kind::RollbackToSavepoint),
            ("ROLLBACK WORK TO SAVEPOINT s", Kind::RollbackToSavepoint),
            ("ROLLBACK TRANSACTION TO s", Kind::RollbackToSavepoint),
            ("RELEASE s", Kind::ReleaseSavepoint),
            ("PREPARE p AS SELECT 1", Kind::Prepare),
            ("PREPARE p (int) AS SELECT $1", Kind::Prepare),
            ("PREPARE TRANSACTION 'gid'", Kind::Other),
            ("EXECUTE p (1)", Kind::Execute),
            ("DEALLOCATE p", Kind::Deallocate),
            ("DEALLOCATE PREPARE ALL", Kind::Deallocate),
            ("LISTEN c", Kind::Listen),
            ("UNLISTEN *", Kind::Unlisten),
            ("NOTIFY c, 'x'", Kind::Notify),
            ("DECLARE c CURSOR FOR SELECT 1", Kind::Declare),
            ("CLOSE c", Kind::Close),
            ("FETCH 10 FROM c", Kind::Fetch),
            ("MOVE NEXT IN c", Kind::Fetch),
            ("COPY t FROM STDIN", Kind::Copy),
            ("DISCARD ALL", Kind::Discard),
            ("LOCK TABLE t IN ACCESS EXCLUSIVE MODE", Kind::Lock),
            ("DO $$ BEGIN END $$", Kind::Do),
            ("VACUUM t", Kind::Vacuum),
            ("ANALYZE t", Kind::Vacuum),
            ("CHECKPOINT", Kind::Checkpoint),
            ("LOAD 'auto_explain'", Kind::Other),
            ("frobnicate", Kind::Other),
            ("\"select\" 1", Kind::Other),
            ("42", Kind::Other),
        ] {
            assert_eq!(kind(sql), k, "{sql}");
        }
        crate::lex::tests::kinds_alike(kind);
        assert!(h("").empty && h("/* c */ -- x").empty && h(";").empty);
        assert!(!h("(").empty);
    }

    #[test]
    fn writes_by_kind() {
        for sql in [
            "SELECT 1",
            "SHOW x",
            "SET x = 1",
            "RESET x",
            "BEGIN",
            "COMMIT",
            "ROLLBACK",
            "SAVEPOINT a",
            "RELEASE a",
            "ROLLBACK TO a",
            "DECLARE c CURSOR FOR SELECT 1",
            "FETCH c",
            "CLOSE c",
            "DISCARD PLANS",
            "EXPLAIN DELETE FROM t",
            "EXPLAIN (ANALYZE false) DELETE FROM t",
            "COPY t TO STDOUT",
            "COPY (SELECT a FROM t) TO STDOUT",
            "UNLISTEN x",
        ] {
            assert!(!flags(sql).contains(Flags::WRITE), "{sql}");
        }
        for sql in [
            "INSERT INTO t VALUES (1)",
            "CREATE TABLE t (a int)",
            "COPY t FROM STDIN",
            "COPY t (a, b) FROM STDIN WITH (FORMAT csv)",
            "LOCK t",
            "VACUUM",
            "DO $$ $$",
            "CALL p()",
            "LISTEN x",
            "NOTIFY x",
            "PREPARE TRANSACTION 'x'",
            "COMMIT PREPARED 'x'",
            "EXECUTE p",
            "EXPLAIN ANALYZE DELETE FROM t",
            "EXPLAIN ANALYSE VERBOSE INSERT INTO t VALUES (1)",
            "EXPLAIN (ANALYZE, FORMAT JSON) UPDATE t SET a = 1",
            "EXPLAIN (FORMAT JSON, ANALYZE on) UPDATE t SET a = 1",
            "EXPLAIN (ANALYZE 'true') MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE",
            "EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1",
            "weird statement",
        ] {
            assert!(flags(sql).contains(Flags::WRITE), "{sql}");
        }
    }

    #[test]
    fn statement_flags() {
        assert_eq!(
            flags("DROP TABLE IF EXISTS t"),
            Flags::WRITE | Flags::DROP_TABLE
        );
        assert_eq!(flags("DROP VIEW v"), Flags::WRITE);
        assert_eq!(
            flags("DISCARD ALL"),
            Flags::DISCARD_ALL | Flags::DISCARD_TEMP
        );
        assert_eq!(flags("DISCARD TEMP"), Flags::DISCARD_TEMP);
        assert_eq!(flags("discard temporary"), Flags::DISCARD_TEMP);
        assert_eq!(flags("DISCARD SEQUENCES"), Flags::empty());
        assert_eq!(flags("CLOSE ALL"), Flags::CLOSE_ALL);
        assert_eq!(flags("CLOSE c"), Flags::empty());
        assert_eq!(flags("LISTEN c"), Flags::WRITE | Flags::LISTEN);
        assert_eq!(flags("UNLISTEN c"), Flags::UNLISTEN);
        assert_eq!(flags("UNLISTEN *"), Flags::UNLISTEN_ALL);
        assert_eq!(
            flags("DECLARE c CURSOR WITH HOLD FOR SELECT 1"),
            Flags::WITH_HOLD
        );
        assert_eq!(
            flags("DECLARE c BINARY INSENSITIVE NO SCROLL CURSOR WITHOUT HOLD FOR SELECT 1"),
            Flags::empty()
        );
        assert_eq!(
            flags("PREPARE p AS INSERT INTO t VALUES (1)"),
            Flags::WRITE | Flags::PREPARED_SQL
        );
        assert_eq!(flags("DEALLOCATE ALL"), Flags::PREPARED_SQL);
        assert_eq!(flags("EXPLAIN EXECUTE p"), Flags::PREPARED_SQL);
        assert_eq!(flags("LOAD 'x'"), Flags::WRITE | Flags::SESSION_CHANGE);
    }

    #[test]
    fn bodies() {
        assert_eq!(h("SELECT 1").body, Body::Runs);
        assert_eq!(h("CREATE TABLE t AS SELECT 1").body, Body::AfterAs);
        assert_eq!(
            h("CREATE MATERIALIZED VIEW v AS SELECT 1").body,
            Body::AfterAs
        );
        assert_eq!(h("CREATE VIEW v AS SELECT 1").body, Body::Never);
        assert_eq!(h("EXPLAIN SELECT 1").body, Body::Never);
        assert_eq!(h("EXPLAIN ANALYZE SELECT 1").body, Body::Runs);
        assert!(h("EXPLAIN ANALYZE SELECT 1").select_into);
        assert!(h("CREATE OR REPLACE FUNCTION f() BEGIN ATOMIC END").block);
        assert!(h("CREATE PROCEDURE p() BEGIN ATOMIC END").block);
        assert!(!h("CREATE TABLE t ()").block);
        // Nesting is bounded.
        let deep = "EXPLAIN ANALYZE ".repeat(50) + "DELETE FROM t";
        assert!(flags(&deep).contains(Flags::WRITE));
        assert_eq!(kind(&deep), Kind::Explain);
    }
}
