//! [`Flags`]: facts about a PostgreSQL statement text that routing and multiplexing act on.

crate::lex::flag_set::flag_set! {
    Flags {
        /// A statement that is no plain read: writes, DDL, COPY FROM, SELECT INTO, a
        /// data-modifying CTE, LOCK, EXPLAIN ANALYZE of a write, anything unknown.
        WRITE = 0;
        /// `SELECT ... FOR UPDATE | FOR NO KEY UPDATE | FOR SHARE | FOR KEY SHARE`.
        LOCKING_READ = 1;
        /// Calls a function that must run on the primary (nextval, setval, advisory locks,
        /// pg_notify, set_config, txid_current, pg_current_xact_id, large-object functions).
        VOLATILE = 2;
        /// Takes a session-level advisory lock (`pg_[try_]advisory_lock[_shared]`).
        ADVISORY_LOCK = 3;
        /// `pg_advisory_unlock[_shared]`.
        ADVISORY_UNLOCK = 4;
        /// `pg_advisory_unlock_all`.
        ADVISORY_UNLOCK_ALL = 5;
        /// Creates a temporary object: `CREATE TEMP TABLE|VIEW|SEQUENCE`, `CREATE ... pg_temp.x`,
        /// `SELECT ... INTO TEMP t`.
        TEMP_OBJECT = 6;
        /// `DROP TABLE` (any): temporary tables may be gone.
        DROP_TABLE = 7;
        /// `DISCARD TEMP`, `DISCARD TEMPORARY`, `DISCARD ALL`.
        DISCARD_TEMP = 8;
        /// `DISCARD ALL`.
        DISCARD_ALL = 9;
        /// `DECLARE ... CURSOR WITH HOLD`.
        WITH_HOLD = 10;
        /// `CLOSE ALL`.
        CLOSE_ALL = 11;
        /// `LISTEN channel`.
        LISTEN = 12;
        /// `UNLISTEN channel`.
        UNLISTEN = 13;
        /// `UNLISTEN *`.
        UNLISTEN_ALL = 14;
        /// `BEGIN` / `START TRANSACTION` with a `READ ONLY` mode.
        READ_ONLY = 15;
        /// A `lastval()` or `currval(...)` call.
        SEQUENCE_READ = 16;
        /// A `nextval(...)` or `setval(...)` call.
        NEXTVAL = 17;
        /// SQL-level `PREPARE`, `EXECUTE` or `DEALLOCATE` (also `EXPLAIN EXECUTE`, `AS EXECUTE`).
        PREPARED_SQL = 18;
        /// Changes session state the proxy cannot track: `set_config(...)`, `SET ROLE`,
        /// `SET SESSION AUTHORIZATION`, `SET SESSION CHARACTERISTICS`, `LOAD`.
        SESSION_CHANGE = 19;
    }
}
