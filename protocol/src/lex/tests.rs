//! Fixtures both dialects' tests share.

/// Statements both dialects classify alike, with the name of their `Kind`.
pub(crate) const COMMON_KINDS: &[(&str, &str)] = &[
    ("SELECT 1", "Select"),
    ("  /* c */ ((select 1)) UNION (SELECT 2)", "Select"),
    ("TABLE t", "Select"),
    ("WITH c AS (SELECT 1) SELECT * FROM c", "Select"),
    (
        "WITH RECURSIVE c (n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c) SELECT n FROM c",
        "Select",
    ),
    ("insert into t values (1)", "Insert"),
    ("UPDATE t SET a = 1", "Update"),
    ("DELETE FROM t", "Delete"),
    ("CREATE TABLE t (a int)", "Ddl"),
    ("ALTER TABLE t ADD b int", "Ddl"),
    ("DROP TABLE t", "Ddl"),
    ("TRUNCATE t", "Ddl"),
    ("BEGIN", "Begin"),
    ("begin work", "Begin"),
    ("ROLLBACK", "Rollback"),
    ("SAVEPOINT s", "Savepoint"),
    ("RELEASE SAVEPOINT s", "ReleaseSavepoint"),
    ("CALL p(1)", "Call"),
    ("EXPLAIN SELECT 1", "Explain"),
    ("(", "Other"),
];

/// The tokens of `sql` in dialect `D`: kind and text.
pub(crate) fn tokens<D: super::Dialect>(sql: &[u8]) -> Vec<(super::TokenKind, &[u8])> {
    super::Lexer::<D>::new(sql)
        .map(|t| (t.kind, t.text(sql)))
        .collect()
}
