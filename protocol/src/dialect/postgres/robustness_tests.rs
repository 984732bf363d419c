//! No input makes the PostgreSQL SQL functions panic or break their invariants: random bytes,
//! random splices of SQL fragments, and every prefix and suffix of a fixture corpus.

use super::lexer::Postgres;
use super::*;
use crate::lex::hash::hash;
use crate::lex::robustness::{check_classify, robustness_tests, strings_never_leak};

const CORPUS: &[&str] = &[
    "SELECT * FROM t WHERE id = 42 AND name = 'bob''s'",
    "select  c from sbtest1 where id in (1,2, $3) for no key update",
    "SET search_path TO \"$user\", public",
    "SET LOCAL statement_timeout = '5s'; RESET ALL",
    "SET TIME ZONE INTERVAL '+00:00' HOUR TO MINUTE",
    "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; COMMIT",
    "START TRANSACTION READ ONLY, DEFERRABLE",
    "SELECT E'\\'', U&'d\\0061t', B'01', X'0F', N'n', 0x1F, 1_000, .5e-3, $1::int",
    "DO $body$ BEGIN PERFORM nextval('s'); END; $body$; SELECT 1",
    "SELECT $$;nextval('x');$$, $a$ $$ $a$ FROM t",
    "/* a /* nested ; */ b */ SELECT 1 -- tail ; x",
    "WITH x AS (INSERT INTO t VALUES (1) RETURNING id) SELECT * FROM x",
    "WITH c AS MATERIALIZED (SELECT 1) SELECT * INTO TEMP t2 FROM c",
    "CREATE TEMP TABLE t AS SELECT nextval('s'), currval('s'), lastval()",
    "CREATE TABLE pg_temp.t (id bigint DEFAULT nextval('s'))",
    "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql \
     BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END; SELECT 3",
    "EXPLAIN (ANALYZE false, FORMAT JSON) DELETE FROM t",
    "EXPLAIN ANALYZE VERBOSE UPDATE t SET a = pg_advisory_lock(1)",
    "SELECT pg_catalog.pg_try_advisory_lock_shared(1), pg_advisory_unlock_all()",
    "SELECT set_config('a.b', 'c', false), pg_notify('c', 'p'), txid_current()",
    "PREPARE \"P1\" (int) AS SELECT $1; EXECUTE \"P1\"(1); DEALLOCATE PREPARE ALL",
    "DECLARE c BINARY NO SCROLL CURSOR WITH HOLD FOR SELECT 1; FETCH 5 FROM c; CLOSE ALL",
    "LISTEN chan; UNLISTEN *; NOTIFY chan, 'x'",
    "COPY (SELECT a FROM t) TO STDOUT; COPY t (a) FROM STDIN WITH (FORMAT csv)",
    "DISCARD ALL; DROP TABLE IF EXISTS t; LOCK TABLE t IN SHARE MODE",
    "INSERT INTO \"Public\".items AS i VALUES (1, 'x'::text), ($1, DEFAULT) RETURNING id",
    "SELECT currval('public.items_id_seq'::regclass), currval($1), ARRAY[1, -2]",
    "SELECT a->>'k', b @> c, d::text[], e !~~* f, g <-> h FROM t WHERE i=-1",
    "/* sqlmux:hostgroup=7 */ SELECT 3",
    "SELECT '\u{e9}t\u{e9}', caf\u{e9} FROM \u{fc}ber",
    "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET a = 1",
    "VACUUM ANALYZE t; CHECKPOINT; LOAD 'auto_explain'; CALL p(1)",
];

/// Bytes that steer the lexer into its states, plus some that never appear in SQL.
const ALPHABET: &[u8] =
    b"'\"$/*-+;:().,=<>|&0123456789xXbBeEuUnN_aSELCTINROUPDFzq \n\t\\\xff\xc3\xa9\x00";

/// Runs everything on `sql` and checks what must always hold.
fn check(sql: &[u8]) {
    let c = check_classify::<Postgres>(sql);
    let d = digest(sql);
    if std::str::from_utf8(sql).is_ok() {
        assert_eq!(digest_hash(sql), hash(d.as_bytes()), "{sql:?}");
    }
    assert!(!d.starts_with(' '), "{sql:?}");
    if let Some(cmd) = parse_set(sql) {
        let kind = if matches!(cmd, SetCommand::Set { .. } | SetCommand::Transaction) {
            Kind::Set
        } else {
            Kind::Reset
        };
        assert_eq!((c.kind, c.statements), (kind, 1), "{sql:?}");
    }
    if statement_object(sql).is_some() {
        assert!(c.statements >= 1, "{sql:?}");
    }
    if insert_table(sql).is_some() {
        assert_eq!(c.kind, Kind::Insert, "{sql:?}");
    }
    for call in sequence_calls(sql) {
        let text = &sql[call.range.clone()];
        assert!(text.ends_with(b")"), "{sql:?}");
        assert!(c.flags.contains(Flags::SEQUENCE_READ), "{sql:?}");
    }
    if has_unrewritable_sequence_read(sql) {
        assert!(c.flags.contains(Flags::SEQUENCE_READ), "{sql:?}");
    }
    if !nextval_sequences(sql).is_empty() {
        assert!(c.flags.contains(Flags::NEXTVAL), "{sql:?}");
    }
}

robustness_tests!(20000);

#[test]
fn deep_nesting_and_long_inputs() {
    FIXTURES.deep_and_long();
    check(&b"/*".repeat(100_000));
    check(&b"$$".repeat(100_001));
    check(&b"EXPLAIN ANALYZE ".repeat(10_000));
    check(&b"DECLARE c CURSOR FOR ".repeat(10_000));
    check(&b"WITH x AS (".repeat(10_000));
    check(
        &[
            b"CREATE FUNCTION f() ".as_slice(),
            &b"BEGIN ".repeat(10_000),
        ]
        .concat(),
    );
    let lots = b"SELECT lastval(), nextval('s');".repeat(1_000);
    check(&lots);
    assert_eq!(classify(&lots).statements, 1_000);
    assert_eq!(sequence_calls(&lots).len(), 1_000);
}

#[test]
fn tokens_of_strings_never_leak() {
    strings_never_leak::<Postgres>(
        &["nextval('s')", "$$"],
        &[("'", "'"), ("\"", "\""), ("/*", "*/"), ("$q$", "$q$")],
        |inner, open| match open {
            "'" | "\"" => inner.replace(open, &format!("{open}{open}")),
            "/*" => inner.replace("*/", ""),
            _ => inner.to_owned(),
        },
    );
}
