use super::*;

crate::lex::tests::classify_tests!();

#[test]
fn plain_reads_and_writes() {
    for sql in [
        "SELECT 'INSERT INTO t VALUES (1)'",
        "--DELETE\nSELECT 1",
        "/* a /* DELETE */ b */ SELECT 1",
        "SELECT '--', 1 FROM t",
        "SELECT E'\\'', 'x''y' FROM t",
        "SELECT 1::int, a->>'k' FROM t",
    ] {
        assert_eq!(
            (c(sql).kind, flags(sql)),
            (Kind::Select, Flags::empty()),
            "{sql}"
        );
    }
    assert_eq!(flags("UPDATE t SET a = 1"), Flags::WRITE);
}

#[test]
fn data_modifying_ctes() {
    check_flags(&[
        (
            "WITH x AS (INSERT INTO t VALUES (1) RETURNING id) SELECT * FROM x",
            Flags::WRITE,
        ),
        (
            "WITH a AS (SELECT 1), b AS ( /* c */ delete FROM t RETURNING *) SELECT 1",
            Flags::WRITE,
        ),
        (
            "WITH a AS (SELECT * FROM t FOR UPDATE) SELECT 1",
            Flags::LOCKING_READ,
        ),
        ("WITH a AS (SELECT 1) SELECT * FROM a", Flags::empty()),
        // A plain EXPLAIN runs nothing; EXPLAIN ANALYZE does.
        ("EXPLAIN WITH x AS (DELETE FROM t) SELECT 1", Flags::empty()),
        (
            "EXPLAIN ANALYZE WITH x AS (DELETE FROM t) SELECT 1",
            Flags::WRITE,
        ),
        ("COPY (DELETE FROM t RETURNING *) TO STDOUT", Flags::WRITE),
    ]);
}

#[test]
fn locking_reads() {
    check_locking(
        &[
            "select * from t for no key update",
            "SELECT * FROM t FOR SHARE",
            "SELECT * FROM t FOR KEY SHARE SKIP LOCKED",
            "SELECT * FROM t FOR UPDATE OF t NOWAIT",
            "DECLARE c CURSOR FOR SELECT * FROM t FOR UPDATE",
            "EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE",
        ],
        &[
            "SELECT \"for\" FROM t",
            "SELECT substring(a FROM 1 FOR 2) FROM t",
            "SELECT * FROM t FOR",
            "EXPLAIN SELECT * FROM t FOR UPDATE",
            "CREATE POLICY p ON t FOR UPDATE USING (true)",
            "CREATE TRIGGER x BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f()",
            "DECLARE c CURSOR FOR SELECT 1",
        ],
    );
}

#[test]
fn select_into() {
    let write_temp = Flags::WRITE | Flags::TEMP_OBJECT;
    check_flags(&[
        ("SELECT * INTO t2 FROM t", Flags::WRITE),
        ("SELECT * INTO TABLE t2 FROM t", Flags::WRITE),
        ("SELECT * INTO TEMP t2 FROM t", write_temp),
        ("select 1 into temporary table t2", write_temp),
        ("SELECT 1 INTO pg_temp.t2", write_temp),
        ("WITH c AS (SELECT 1) SELECT * INTO t2 FROM c", Flags::WRITE),
        ("SELECT 1 AS into_x", Flags::empty()),
        ("SELECT (SELECT 1) AS x FROM t", Flags::empty()),
        // No TEMP_OBJECT from INSERT INTO.
        ("INSERT INTO t SELECT 1", Flags::WRITE),
        (
            "WITH x AS (INSERT INTO temp VALUES (1)) SELECT 1",
            Flags::WRITE,
        ),
    ]);
}

#[test]
fn volatile_functions() {
    let v = Flags::VOLATILE;
    let nextval = v | Flags::NEXTVAL;
    check_flags(&[
        ("SELECT nextval('s')", nextval),
        ("SELECT pg_catalog.setval('s', 1)", nextval),
        ("SELECT currval('s')", Flags::SEQUENCE_READ),
        ("SELECT LASTVAL()", Flags::SEQUENCE_READ),
        ("SELECT pg_advisory_lock(1)", v | Flags::ADVISORY_LOCK),
        (
            "SELECT pg_try_advisory_lock_shared(1, 2)",
            v | Flags::ADVISORY_LOCK,
        ),
        ("SELECT pg_advisory_xact_lock(1)", v),
        ("SELECT pg_try_advisory_xact_lock_shared(1)", v),
        (
            "SELECT pg_advisory_unlock(1), pg_advisory_unlock_shared(2)",
            v | Flags::ADVISORY_UNLOCK,
        ),
        (
            "SELECT pg_advisory_unlock_all()",
            v | Flags::ADVISORY_UNLOCK_ALL,
        ),
        (
            "SELECT set_config('a.b', 'c', false)",
            v | Flags::SESSION_CHANGE,
        ),
        ("SELECT pg_notify('c', 'x')", v),
        ("SELECT txid_current()", v),
        ("SELECT pg_current_xact_id()", v),
        ("SELECT lo_create(0)", v),
        ("SELECT lo_get(1)", Flags::empty()),
        ("SELECT \"nextval\"('s')", nextval),
        ("SELECT \"NEXTVAL\"('s')", Flags::empty()),
        ("SELECT app.nextval('s')", Flags::empty()),
        ("SELECT nextval FROM t", Flags::empty()),
        ("SELECT 'nextval(1)', $$nextval(1)$$", Flags::empty()),
        (
            "INSERT INTO t VALUES (nextval('s'))",
            Flags::WRITE | nextval,
        ),
        ("CALL p(nextval('s'))", Flags::WRITE | nextval),
        (
            "EXECUTE s (nextval('x'))",
            Flags::WRITE | Flags::PREPARED_SQL | nextval,
        ),
    ]);
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
    check_flags(&[
        (
            "CREATE TABLE t AS SELECT nextval('s')",
            Flags::WRITE | Flags::VOLATILE | Flags::NEXTVAL,
        ),
        (
            "CREATE MATERIALIZED VIEW v AS SELECT pg_advisory_lock(1)",
            Flags::WRITE | Flags::VOLATILE | Flags::ADVISORY_LOCK,
        ),
        (
            "CREATE TEMP TABLE t AS EXECUTE p",
            Flags::WRITE | Flags::TEMP_OBJECT | Flags::PREPARED_SQL,
        ),
        (
            "EXPLAIN ANALYZE SELECT pg_advisory_lock(1)",
            Flags::VOLATILE | Flags::ADVISORY_LOCK,
        ),
    ]);
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
    check_flags(&[
        ("SET ROLE admin; SELECT 1", Flags::SESSION_CHANGE),
        ("BEGIN READ ONLY; SELECT 1; COMMIT", Flags::READ_ONLY),
        (
            "PREPARE p AS SELECT 1; EXECUTE p; DEALLOCATE p",
            Flags::WRITE | Flags::PREPARED_SQL,
        ),
        (
            "DROP TABLE a; DISCARD ALL",
            Flags::WRITE | Flags::DROP_TABLE | Flags::DISCARD_ALL | Flags::DISCARD_TEMP,
        ),
        (
            "LISTEN a; UNLISTEN b; UNLISTEN *",
            Flags::WRITE | Flags::LISTEN | Flags::UNLISTEN | Flags::UNLISTEN_ALL,
        ),
        (
            "DECLARE c CURSOR WITH HOLD FOR SELECT 1; CLOSE ALL",
            Flags::WITH_HOLD | Flags::CLOSE_ALL,
        ),
        (
            "CREATE TEMP TABLE t (a int)",
            Flags::WRITE | Flags::TEMP_OBJECT,
        ),
        ("LOCK TABLE t", Flags::WRITE),
        ("SHOW search_path", Flags::empty()),
        ("FETCH ALL FROM c", Flags::empty()),
    ]);
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
}

#[test]
fn hints() {
    for (sql, hint) in [
        ("SELECT $$/* sqlmux:hostgroup=5 */$$", None),
        ("SELECT 1 -- sqlmux:hostgroup=7", Some(7)),
    ] {
        assert_eq!(c(sql).hint_hostgroup, hint, "{sql}");
    }
}
