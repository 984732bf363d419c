//! Keywords: PostgreSQL's reserved words plus the statement words sqlmux looks for.
//!
//! The table that finds them is `crate::lex::keywords`; digests upper-case every word
//! found here.

use crate::lex::keywords::keywords;

keywords! {
    reserved: []
    other: [
        ABORT, ALL, ALTER, ANALYSE, ANALYZE, AND, ANY, ARRAY, AS, ASC, ASYMMETRIC, ATOMIC,
        AUTHORIZATION, BEGIN, BETWEEN, BOTH, BY, CALL, CASCADED, CASE, CAST, CATALOG, CHAIN,
        CHARACTERISTICS, CHECK, CHECKPOINT, CLOSE, CLUSTER, COLLATE, COLLATION, COLUMN,
        COMMENT, COMMIT, CONCURRENTLY, CONSTRAINT, CONSTRAINTS, CONTENT, COPY, CREATE, CROSS,
        CURRENT, CURRENT_CATALOG, CURRENT_DATE, CURRENT_ROLE, CURRENT_SCHEMA, CURRENT_TIME,
        CURRENT_TIMESTAMP, CURRENT_USER, CURSOR, DEALLOCATE, DECLARE, DEFAULT, DEFERRABLE,
        DELETE, DESC, DISCARD, DISTINCT, DO, DOCUMENT, DROP, ELSE, END, EXCEPT, EXECUTE,
        EXISTS, EXPLAIN, FALSE, FETCH, FOR, FOREIGN, FREEZE, FROM, FULL, FUNCTION, GLOBAL,
        GRANT, GROUP, HAVING, HOLD, IF, ILIKE, IMPORT, IN, INITIALLY, INNER, INSERT, INTERSECT,
        INTERVAL, INTO, IS, ISNULL, ISOLATION, JOIN, KEY, LATERAL, LEADING, LEFT, LEVEL, LIKE,
        LIMIT, LISTEN, LOAD, LOCAL, LOCALTIME, LOCALTIMESTAMP, LOCK, MATERIALIZED, MERGE, MOVE,
        NAMES, NATURAL, NO, NOT, NOTIFY, NOTNULL, NULL, OFFSET, ON, ONLY, OPTION, OR, ORDER,
        OUTER, OVERLAPS, PLACING, PREPARE, PREPARED, PRIMARY, PROCEDURE, READ, REASSIGN,
        RECURSIVE, REFERENCES, REFRESH, REINDEX, RELEASE, REPLACE, RESET, RETURNING, REVOKE,
        RIGHT, ROLE, ROLLBACK, SAVEPOINT, SCHEMA, SECURITY, SELECT, SEQUENCE, SESSION,
        SESSION_USER, SET, SHARE, SHOW, SIMILAR, SOME, START, SYMMETRIC, SYSTEM_USER, TABLE,
        TABLESAMPLE, TEMP, TEMPORARY, THEN, TIME, TO, TRAILING, TRANSACTION, TRUE, TRUNCATE,
        UNION, UNIQUE, UNLISTEN, UNLOGGED, UPDATE, USER, USING, VACUUM, VALUES, VARIADIC,
        VERBOSE, VIEW, WHEN, WHERE, WINDOW, WITH, WITHOUT, WORK, XML, ZONE,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted() {
        assert!(ALL.windows(2).all(|w| w[0].name() < w[1].name()));
    }

    #[test]
    fn postgres_non_keywords() {
        for w in [
            &b"current_timestampx"[..],
            b"current_timestamq",
            b"current_timestam",
            b"select\0",
        ] {
            assert_eq!(lookup(w), None, "{w:?}");
        }
    }
}
