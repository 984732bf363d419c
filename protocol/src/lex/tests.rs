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

/// Checks a dialect's statement kinds against [`COMMON_KINDS`].
pub(crate) fn kinds_alike<K: std::fmt::Debug>(kind: fn(&str) -> K) {
    for (sql, name) in COMMON_KINDS {
        assert_eq!(format!("{:?}", kind(sql)), *name, "{sql}");
    }
}

/// Checks the words, numbers and commas both dialects lex alike.
pub(crate) fn numbers_alike<D: super::Dialect>() {
    use super::TokenKind::{Number, Punct, Word};
    let comma = (Punct, &b","[..]);
    let number = |n: &'static [u8]| [(Number, n), comma];
    let mut expected = vec![(Word, &b"SELECT"[..])];
    for n in [&b"42"[..], b"1.5e-3", b".5", b"0x1F", b"0b01"] {
        expected.extend(number(n));
    }
    expected.pop();
    expected.extend([(Word, &b"FROM"[..]), (Word, b"t")]);
    assert_eq!(
        tokens::<D>(b"SELECT 42, 1.5e-3, .5, 0x1F, 0b01 FROM t"),
        expected
    );
}

/// The tokens of `sql` in dialect `D`: kind and text.
pub(crate) fn tokens<D: super::Dialect>(sql: &[u8]) -> Vec<(super::TokenKind, &[u8])> {
    super::Lexer::<D>::new(sql)
        .map(|t| (t.kind, t.text(sql)))
        .collect()
}

/// Texts both dialects classify alike: kind name, statement count, whether they write, and
/// the routing hint.
pub(crate) const COMMON_CLASSIFICATIONS: &[(&str, &str, usize, bool, Option<u32>)] = &[
    ("SELECT * FROM t WHERE id = 1", "Select", 1, false, None),
    (
        "SELECT 'INSERT INTO t VALUES (1)'",
        "Select",
        1,
        false,
        None,
    ),
    ("/* INSERT */ SELECT 1", "Select", 1, false, None),
    ("UPDATE t SET a = 1", "Update", 1, true, None),
    (
        "SELECT 1; INSERT INTO t VALUES (1);; UPDATE t SET a = 2;",
        "Select",
        3,
        true,
        None,
    ),
    ("/* only */ ; -- comments\n", "Other", 0, false, None),
    ("", "Other", 0, false, None),
    ("BEGIN; SELECT 1; COMMIT", "Begin", 3, false, None),
    (
        "/* sqlmux:hostgroup=2 */ SELECT 1",
        "Select",
        1,
        false,
        Some(2),
    ),
    (
        "SELECT 1 /* sqlmux:hostgroup=3 */ /* sqlmux:hostgroup=4 */",
        "Select",
        1,
        false,
        Some(3),
    ),
    (
        "SELECT 1; /* sqlmux:hostgroup=5 */",
        "Select",
        1,
        false,
        Some(5),
    ),
    (
        "SELECT '/* sqlmux:hostgroup=5 */'",
        "Select",
        1,
        false,
        None,
    ),
    (
        "CREATE VIEW v AS SELECT 1 /* sqlmux:hostgroup=1 */",
        "Ddl",
        1,
        true,
        Some(1),
    ),
];

/// Texts both dialects agree are (or are not) locking reads.
pub(crate) const COMMON_LOCKING: &[(&str, bool)] = &[
    ("SELECT * FROM t WHERE id = 1 FOR UPDATE", true),
    ("(SELECT * FROM t FOR UPDATE)", true),
    ("SELECT 1; SELECT * FROM t FOR UPDATE", true),
    ("SELECT 1 -- FOR UPDATE", false),
    ("SELECT 'FOR UPDATE'", false),
];

/// Checks a dialect's classifier against [`COMMON_CLASSIFICATIONS`] and [`COMMON_LOCKING`];
/// `writes` and `locks` read the dialect's flags.
pub(crate) fn classifies_alike<F: Copy>(
    classify: fn(&[u8]) -> super::Classification<F>,
    writes: fn(F) -> bool,
    locks: fn(F) -> bool,
) {
    for &(sql, kind, statements, write, hint) in COMMON_CLASSIFICATIONS {
        let r = classify(sql.as_bytes());
        let found = (format!("{:?}", r.kind), r.statements, writes(r.flags));
        assert_eq!(found, (kind.to_string(), statements, write), "{sql}");
        assert_eq!(r.hint_hostgroup, hint, "{sql}");
    }
    for &(sql, locking) in COMMON_LOCKING {
        assert_eq!(locks(classify(sql.as_bytes()).flags), locking, "{sql}");
    }
}

/// The helpers and shared test of a dialect's classifier tests: `c`, `flags`, `check_flags`
/// and `what_both_dialects_agree_on`, over the `classify`, `Classification` and `Flags` in
/// scope.
macro_rules! classify_tests {
    () => {
        fn c(sql: &str) -> Classification {
            classify(sql.as_bytes())
        }

        fn flags(sql: &str) -> Flags {
            c(sql).flags
        }

        /// Checks each text's flags.
        fn check_flags(cases: &[(&str, Flags)]) {
            for (sql, f) in cases {
                assert_eq!(flags(sql), *f, "{sql}");
            }
        }

        /// Checks that the `locking` texts are locking reads and the `not` ones are not.
        fn check_locking(locking: &[&str], not: &[&str]) {
            let locks = |sql: &str| flags(sql).contains(Flags::LOCKING_READ);
            for sql in locking {
                assert!(locks(sql), "{sql}");
            }
            for sql in not {
                assert!(!locks(sql), "{sql}");
            }
        }

        #[test]
        fn what_both_dialects_agree_on() {
            let plain = Classification {
                kind: Kind::Select,
                statements: 1,
                flags: Flags::empty(),
                hint_hostgroup: None,
            };
            assert_eq!(c("SELECT * FROM t WHERE id = 1"), plain);
            crate::lex::tests::classifies_alike(
                classify,
                |f| f.contains(Flags::WRITE),
                |f| f.contains(Flags::LOCKING_READ),
            );
        }
    };
}
pub(crate) use classify_tests;
