//! [`Kind`]: what a statement is, from its first keywords: one vocabulary for both dialects
//! (each dialect finds the kinds it has; the notes say which dialect has a kind).

/// What kind of statement (first keyword(s), after leading comments/whitespace/parentheses).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Kind {
    /// SELECT, `(SELECT ...) UNION ...`, `WITH ... SELECT`, TABLE, VALUES.
    Select,
    /// INSERT (also `WITH ... INSERT`).
    Insert,
    /// UPDATE (also `WITH ... UPDATE`).
    Update,
    /// DELETE (also `WITH ... DELETE`).
    Delete,
    /// REPLACE (MySQL).
    Replace,
    /// MERGE (PostgreSQL).
    Merge,
    /// CREATE, ALTER, DROP, TRUNCATE, RENAME (MySQL); COMMENT, GRANT, REVOKE, REINDEX,
    /// CLUSTER, REFRESH, SECURITY LABEL, IMPORT FOREIGN SCHEMA, REASSIGN OWNED (PostgreSQL).
    Ddl,
    /// SET (every form: SET ROLE, SET TRANSACTION, SET CONSTRAINTS, ...).
    Set,
    /// RESET (PostgreSQL).
    Reset,
    /// USE (MySQL).
    Use,
    /// SHOW.
    Show,
    /// BEGIN, START TRANSACTION (any modifiers).
    Begin,
    /// COMMIT; PostgreSQL's END (not COMMIT PREPARED: that is [`Kind::Other`]).
    Commit,
    /// ROLLBACK; PostgreSQL's ABORT (not ROLLBACK PREPARED: that is [`Kind::Other`]).
    Rollback,
    /// SAVEPOINT.
    Savepoint,
    /// RELEASE [SAVEPOINT].
    ReleaseSavepoint,
    /// ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT].
    RollbackToSavepoint,
    /// LOCK TABLES (MySQL).
    LockTables,
    /// UNLOCK TABLES (MySQL).
    UnlockTables,
    /// FLUSH TABLES ... WITH READ LOCK (and FOR EXPORT): locks held until UNLOCK TABLES
    /// (MySQL).
    FlushTablesWithReadLock,
    /// LOCK [TABLE] (PostgreSQL: until the transaction ends).
    Lock,
    /// SQL PREPARE (MySQL `PREPARE s FROM ...`, PostgreSQL `PREPARE name AS ...`; not
    /// PREPARE TRANSACTION: that is [`Kind::Other`]).
    Prepare,
    /// SQL EXECUTE (and MariaDB's EXECUTE IMMEDIATE).
    Execute,
    /// DEALLOCATE [PREPARE]; MySQL's DROP PREPARE.
    Deallocate,
    /// LISTEN (PostgreSQL).
    Listen,
    /// UNLISTEN (PostgreSQL).
    Unlisten,
    /// NOTIFY (PostgreSQL).
    Notify,
    /// DECLARE cursor (PostgreSQL).
    Declare,
    /// CLOSE cursor (PostgreSQL).
    Close,
    /// FETCH, MOVE (PostgreSQL).
    Fetch,
    /// COPY (PostgreSQL).
    Copy,
    /// DISCARD (PostgreSQL).
    Discard,
    /// CALL.
    Call,
    /// DO.
    Do,
    /// LOAD DATA, LOAD XML (MySQL).
    LoadData,
    /// HANDLER (MySQL).
    Handler,
    /// EXPLAIN; MySQL's DESCRIBE, DESC and MariaDB's `ANALYZE <statement>`.
    Explain,
    /// VACUUM, ANALYZE (PostgreSQL).
    Vacuum,
    /// CHECKPOINT (PostgreSQL).
    Checkpoint,
    /// Anything else.
    #[default]
    Other,
}

impl Kind {
    /// BEGIN, COMMIT, ROLLBACK and the savepoint statements.
    pub fn controls_transaction(self) -> bool {
        matches!(
            self,
            Kind::Begin
                | Kind::Commit
                | Kind::Rollback
                | Kind::Savepoint
                | Kind::ReleaseSavepoint
                | Kind::RollbackToSavepoint
        )
    }
}
