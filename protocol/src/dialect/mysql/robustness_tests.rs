//! No input makes the SQL functions panic or break their invariants: random bytes, random
//! splices of SQL fragments, and every prefix and suffix of a fixture corpus.

use super::lexer::MySql;
use super::*;
use crate::lex::robustness::{check_classify, robustness_tests, strings_never_leak};

const CORPUS: &[&str] = &[
    "SELECT * FROM t WHERE id = 42 AND name = 'bob'",
    "select  c from sbtest1 where id in (1,2, 3)",
    "SET autocommit=0",
    "SET @@session.sql_mode='ANSI', time_zone = '+00:00'",
    "SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci",
    "SET @a = 1, @b := 'x'",
    "SET @a = (SELECT 1)",
    "SET sql_mode = CONCAT(@@sql_mode, ',X')",
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
    "SET TRANSACTION READ ONLY",
    "SET GLOBAL TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE",
    "SET tx_isolation = READ-COMMITTED, @'q''x' = -1.5e3",
    "select last_insert_id() as id;",
    "/* c */ SELECT LAST_INSERT_ID( )",
    "SELECT @@IDENTITY",
    "SELECT @@session.last_insert_id AS `a``b` ; -- x",
    "SELECT LAST_INSERT_ID() FROM t",
    "INSERT INTO child (parent_id) VALUES (LAST_INSERT_ID())",
    "SELECT 'LAST_INSERT_ID()'",
    "UPDATE t SET id = LAST_INSERT_ID(id + 1)",
    "SELECT ROW_COUNT()AS n; SELECT ROW_COUNT()",
    "SELECT * FROM t WHERE id = 1 FOR UPDATE",
    "SELECT a INTO @x, @y FROM t LOCK IN SHARE MODE",
    "(SELECT 1) UNION (SELECT 2)",
    "WITH RECURSIVE c (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) UPDATE t SET a = 1",
    "/*!50000 SELECT 1 */; /*!40101 SET NAMES utf8 */",
    "/*M!100100 SELECT 2 */ /*+ hint */ /* sqlmux:hostgroup=7 */ SELECT 3",
    "CREATE DEFINER=`root`@`localhost` PROCEDURE p() BEGIN IF x THEN SELECT 1; END IF; \
     WHILE 1 DO SET @a = REPEAT('x', 2); END WHILE; END; SELECT 2",
    "BEGIN NOT ATOMIC INSERT INTO t VALUES (1); SELECT LAST_INSERT_ID(); END",
    "CREATE TEMPORARY TABLE t (a INT); DROP TEMPORARY TABLE t",
    "LOCK TABLES t WRITE; UNLOCK TABLES; FLUSH TABLES WITH READ LOCK",
    "SHOW COUNT(*) WARNINGS; GET DIAGNOSTICS @n = NUMBER; SELECT @@warning_count",
    "SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 1; SELECT FOUND_ROWS()",
    "DO GET_LOCK('a', 1), RELEASE_LOCK('a'), RELEASE_ALL_LOCKS()",
    "INSERT INTO t VALUES (1, 'a\\'b', \"c\"\"d\", X'0F', b'01', 0x1F, .5e-3), (2, N'x', _utf8'y')",
    "LOAD DATA LOCAL INFILE 'f' INTO TABLE t (a, @b) SET c = @b",
    "EXPLAIN ANALYZE DELETE FROM t; HANDLER t OPEN; XA START 'x'",
    "PREPARE s FROM 'SELECT ?'; EXECUTE s USING @a; DEALLOCATE PREPARE s",
    "SELECT a->>'$.x', b<=>c, d:=1, `e``f`, 1abc, t.1c FROM t # tail",
    "SELECT '\u{e9}t\u{e9}', caf\u{e9} FROM \u{fc}ber",
    "SET STATEMENT max_statement_time=1 FOR SELECT * FROM t FOR SHARE",
    "CREATE USER 'u'@'%' IDENTIFIED BY 'p'",
];

/// Bytes that steer the lexer into its states, plus some that never appear in SQL.
const ALPHABET: &[u8] =
    b"'\"`/*!+-#@;?().,=:<>|&0123456789xXbBnNeE_$aSELCTINROUPDzMAY \n\t\\\xff\xc3\xa9\x00";

/// Runs everything on `sql` and checks what must always hold.
fn check(sql: &[u8]) {
    let c = check_classify::<MySql>(sql);
    let d = digest(sql);
    assert_eq!(d.hash, digest_hash(sql), "{sql:?}");
    assert!(d.text.len() <= sql.len() * 3 + 8, "{sql:?}");
    // (An unterminated quoted name may end in a space: it is the name's own.)
    assert!(!d.text.starts_with(' '), "{sql:?}");
    if let Some(items) = parse_set(sql) {
        assert!(!items.is_empty());
        assert_eq!(c.kind, Kind::Set, "{sql:?}");
    }
    if local_query(sql).is_some() {
        assert_eq!((c.kind, c.statements), (Kind::Select, 1), "{sql:?}");
    }
    if let Some(out) = replace_session_functions(sql, 7, -1, 3) {
        assert_ne!(out, sql);
        assert!(c.flags.intersects(Flags::LAST_INSERT_ID | Flags::ROW_COUNT));
    }
}

robustness_tests!(30000);

#[test]
fn deep_nesting_and_long_inputs() {
    FIXTURES.deep_and_long();
    check(&b"/*!".repeat(10_000));
    check(&b"BEGIN NOT ATOMIC ".repeat(1_000));
    check(
        &[
            b"CREATE PROCEDURE p() ".as_slice(),
            &b"BEGIN ".repeat(10_000),
        ]
        .concat(),
    );
    let lots = b"SELECT LAST_INSERT_ID(), ROW_COUNT();".repeat(1_000);
    check(&lots);
    assert_eq!(classify(&lots).statements, 1_000);
}

#[test]
fn tokens_of_strings_never_leak() {
    strings_never_leak::<MySql>(
        &[],
        &[("'", "'"), ("\"", "\""), ("`", "`"), ("/*", "*/")],
        |inner, open| match open {
            "/*" => inner.replace("*/", ""),
            _ => inner
                .replace(open, &format!("{open}{open}"))
                .replace('\\', "\\\\"),
        },
    );
}
