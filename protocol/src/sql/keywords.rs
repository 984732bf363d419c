//! Keywords: MySQL's reserved words plus the statement words sqlmux itself looks for (the
//! table that finds them is `crate::lex::keywords`).

use crate::lex::keywords::keywords;

keywords! {
    reserved: [
        ACCESSIBLE, ADD, ALL, ALTER, ANALYZE, AND, AS, ASC, ASENSITIVE, BEFORE, BETWEEN,
        BIGINT, BINARY, BLOB, BOTH, BY, CALL, CASCADE, CASE, CHANGE, CHAR, CHARACTER, CHECK,
        COLLATE, COLUMN, CONDITION, CONSTRAINT, CONTINUE, CONVERT, CREATE, CROSS, CUBE,
        CUME_DIST, CURRENT_DATE, CURRENT_TIME, CURRENT_TIMESTAMP, CURRENT_USER, CURSOR,
        DATABASE, DATABASES, DAY_HOUR, DAY_MICROSECOND, DAY_MINUTE, DAY_SECOND, DEC, DECIMAL,
        DECLARE, DEFAULT, DELAYED, DELETE, DENSE_RANK, DESC, DESCRIBE, DETERMINISTIC, DISTINCT,
        DISTINCTROW, DIV, DOUBLE, DROP, DUAL, EACH, ELSE, ELSEIF, EMPTY, ENCLOSED, ESCAPED,
        EXCEPT, EXISTS, EXIT, EXPLAIN, FALSE, FETCH, FIRST_VALUE, FLOAT, FLOAT4, FLOAT8, FOR,
        FORCE, FOREIGN, FROM, FULLTEXT, FUNCTION, GENERATED, GET, GRANT, GROUP, GROUPING,
        GROUPS, HAVING, HIGH_PRIORITY, HOUR_MICROSECOND, HOUR_MINUTE, HOUR_SECOND, IF, IGNORE,
        IN, INDEX, INFILE, INNER, INOUT, INSENSITIVE, INSERT, INT, INT1, INT2, INT3, INT4, INT8,
        INTEGER, INTERSECT, INTERVAL, INTO, IO_AFTER_GTIDS, IO_BEFORE_GTIDS, IS, ITERATE, JOIN,
        JSON_TABLE, KEY, KEYS, KILL, LAG, LAST_VALUE, LATERAL, LEAD, LEADING, LEAVE, LEFT,
        LIKE, LIMIT, LINEAR, LINES, LOAD, LOCALTIME, LOCALTIMESTAMP, LOCK, LONG, LONGBLOB,
        LONGTEXT, LOOP, LOW_PRIORITY, MASTER_BIND, MASTER_SSL_VERIFY_SERVER_CERT, MATCH,
        MAXVALUE, MEDIUMBLOB, MEDIUMINT, MEDIUMTEXT, MIDDLEINT, MINUTE_MICROSECOND,
        MINUTE_SECOND, MOD, MODIFIES, NATURAL, NOT, NO_WRITE_TO_BINLOG, NTH_VALUE, NTILE, NULL,
        NUMERIC, OF, ON, OPTIMIZE, OPTIMIZER_COSTS, OPTION, OPTIONALLY, OR, ORDER, OUT, OUTER,
        OUTFILE, OVER, PARTITION, PERCENT_RANK, PRECISION, PRIMARY, PROCEDURE, PURGE, RANGE,
        RANK, READ, READS, READ_WRITE, REAL, RECURSIVE, REFERENCES, REGEXP, RELEASE, RENAME,
        REPEAT, REPLACE, REQUIRE, RESIGNAL, RESTRICT, RETURN, RETURNING, REVOKE, RIGHT, RLIKE,
        ROW, ROWS, ROW_NUMBER, SCHEMA, SCHEMAS, SECOND_MICROSECOND, SELECT, SENSITIVE,
        SEPARATOR, SET, SHOW, SIGNAL, SMALLINT, SPATIAL, SPECIFIC, SQL, SQLEXCEPTION, SQLSTATE,
        SQLWARNING, SQL_BIG_RESULT, SQL_CALC_FOUND_ROWS, SQL_SMALL_RESULT, SSL, STARTING,
        STORED, STRAIGHT_JOIN, SYSTEM, TABLE, TERMINATED, THEN, TINYBLOB, TINYINT, TINYTEXT, TO,
        TRAILING, TRIGGER, TRUE, UNDO, UNION, UNIQUE, UNLOCK, UNSIGNED, UPDATE, USAGE, USE,
        USING, UTC_DATE, UTC_TIME, UTC_TIMESTAMP, VALUES, VARBINARY, VARCHAR, VARCHARACTER,
        VARYING, VIRTUAL, WHEN, WHERE, WHILE, WINDOW, WITH, WRITE, XOR, YEAR_MONTH, ZEROFILL,
    ]
    other: [
        AGGREGATE, ATOMIC, AVG, BACKUP, BEGIN, CHARSET, COMMIT, COMMITTED, CONNECTION_ID, COUNT,
        CURRENT,
        DATA, DEALLOCATE, DEFINER, DIAGNOSTICS, DO, DUMPFILE, END, ERRORS, EVENT, EXECUTE,
        EXPORT, FLUSH, FOUND_ROWS, GET_LOCK, GLOBAL, HANDLER, INSTANCE, ISOLATION,
        LAST_INSERT_ID, LEVEL, LOCAL, LOGFILE, MAX, MIN, MODE, NAMES, NOW, OFF, ONLY, PACKAGE,
        PERSIST, PERSIST_ONLY, PREPARE, RELEASE_ALL_LOCKS, RELEASE_LOCK, REPEATABLE, RESOURCE,
        ROLE, ROLLBACK, ROW_COUNT, SAVEPOINT, SEQUENCE, SERIALIZABLE, SERVER, SESSION, SHARE,
        SQL_CACHE, SQL_NO_CACHE, STACKED, START, STATEMENT, SUM, TABLES, TABLESPACE, TEMPORARY,
        TRANSACTION, TRUNCATE, UNCOMMITTED, USER, VALUE, VIEW, WARNINGS, WORK, XA, XML,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keyword_is_found_in_any_case() {
        for &k in ALL {
            let name = format!("{k:?}");
            assert_eq!(lookup(name.as_bytes()), Some(k), "{name}");
            let lower = name.to_ascii_lowercase();
            assert_eq!(lookup(lower.as_bytes()), Some(k), "{name}");
            assert_eq!(k.name(), name);
        }
    }

    #[test]
    fn non_keywords() {
        for w in [
            &b"id"[..],
            b"sbtest1",
            b"selectx",
            b"selec",
            b"",
            b"a",
            b"\xff\xfe",
            b"name",
            b"k",
            b"last_insert_idx",
            b"selecT_",
            b"_select",
            b"1select",
            b"sel\xe5ct",
            b"master_ssl_verify_server_cerX",
            b"MASTER_SSL_VERIFY_SERVER_CERT_",
        ] {
            assert_eq!(lookup(w), None, "{w:?}");
        }
    }

    #[test]
    fn token_lookup_matches_word_lookup() {
        use super::super::lexer::Lexer;
        let sql = "select A sElEcT master_ssl_verify_server_cert read_write last_insert_id \
                   sql_calc_found_rows x1 abcdefghijklmnopq in IN";
        for end in 0..=sql.len() {
            let sql = &sql.as_bytes()[..end];
            for t in Lexer::new(sql) {
                assert_eq!(kw(sql, &t), lookup(t.text(sql)), "{:?}", t.text(sql));
            }
        }
        assert_eq!(lookup(b"sElEcT"), Some(Kw::SELECT));
    }

    #[test]
    fn reserved_split() {
        assert!(Kw::FROM.is_reserved() && Kw::ZEROFILL.is_reserved());
        assert!(!Kw::BEGIN.is_reserved() && !Kw::XML.is_reserved());
    }
}
