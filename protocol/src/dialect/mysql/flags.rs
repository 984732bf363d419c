//! [`Flags`]: facts about a statement text that routing and multiplexing act on.

crate::lex::flag_set::flag_set! {
    Flags {
        /// `SELECT ... FOR UPDATE`, `FOR SHARE`, `LOCK IN SHARE MODE`.
        LOCKING_READ = 0;
        /// `SELECT ... INTO @v`, `INTO OUTFILE`, `INTO DUMPFILE`.
        SELECT_INTO = 1;
        /// `SQL_CALC_FOUND_ROWS`.
        CALC_FOUND_ROWS = 2;
        /// A `FOUND_ROWS()` call.
        FOUND_ROWS = 3;
        /// A `LAST_INSERT_ID(` call (with or without argument), `@@identity` or `@@last_insert_id`.
        LAST_INSERT_ID = 4;
        /// `LAST_INSERT_ID(expr)`: sets the session's value.
        LAST_INSERT_ID_ARG = 5;
        /// A `ROW_COUNT()` call.
        ROW_COUNT = 6;
        /// A `GET_LOCK(` call.
        GET_LOCK = 7;
        /// A `RELEASE_LOCK(` call.
        RELEASE_LOCK = 8;
        /// A `RELEASE_ALL_LOCKS(` call.
        RELEASE_ALL_LOCKS = 9;
        /// `CREATE TEMPORARY TABLE`.
        TEMPORARY_TABLE = 10;
        /// `DROP TEMPORARY TABLE`.
        DROP_TEMPORARY = 11;
        /// A user variable is assigned: `@x :=`, `SET @x =`, `INTO @x`, `LOAD DATA ... (@x)`.
        USER_VAR_WRITE = 12;
        /// A user variable's value is used (a mere assignment target is not a read).
        USER_VAR_READ = 13;
        /// `SET sql_log_bin`, `SET @@sql_log_bin`, ...
        SQL_LOG_BIN = 14;
        /// An INSERT, REPLACE, CALL, LOAD DATA or EXECUTE statement is in the text.
        MAY_INSERT = 15;
        /// A statement that is no plain read: it goes to the writer.
        WRITE = 16;
        /// Reads the previous statement's diagnostics: `SHOW WARNINGS`, `@@warning_count`, ...
        WARNINGS_READ = 17;
        /// Changes session state the proxy cannot track or replay (HANDLER, XA, backup locks).
        SESSION_CHANGE = 18;
        /// A `CONNECTION_ID()` call.
        CONNECTION_ID = 19;
    }
}
