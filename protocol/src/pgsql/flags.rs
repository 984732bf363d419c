//! [`Flags`]: facts about a PostgreSQL statement text that routing and multiplexing act on.

/// A set of statement facts (a bitflags-like `u32` newtype).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u32);

impl Flags {
    /// A statement that is no plain read: writes, DDL, COPY FROM, SELECT INTO, a
    /// data-modifying CTE, LOCK, EXPLAIN ANALYZE of a write, anything unknown.
    pub const WRITE: Flags = Flags(1 << 0);
    /// `SELECT ... FOR UPDATE | FOR NO KEY UPDATE | FOR SHARE | FOR KEY SHARE`.
    pub const LOCKING_READ: Flags = Flags(1 << 1);
    /// Calls a function that must run on the primary (nextval, setval, advisory locks,
    /// pg_notify, set_config, txid_current, pg_current_xact_id, large-object functions).
    pub const VOLATILE: Flags = Flags(1 << 2);
    /// Takes a session-level advisory lock (`pg_[try_]advisory_lock[_shared]`).
    pub const ADVISORY_LOCK: Flags = Flags(1 << 3);
    /// `pg_advisory_unlock[_shared]`.
    pub const ADVISORY_UNLOCK: Flags = Flags(1 << 4);
    /// `pg_advisory_unlock_all`.
    pub const ADVISORY_UNLOCK_ALL: Flags = Flags(1 << 5);
    /// Creates a temporary object: `CREATE TEMP TABLE|VIEW|SEQUENCE`, `CREATE ... pg_temp.x`,
    /// `SELECT ... INTO TEMP t`.
    pub const TEMP_OBJECT: Flags = Flags(1 << 6);
    /// `DROP TABLE` (any): temporary tables may be gone.
    pub const DROP_TABLE: Flags = Flags(1 << 7);
    /// `DISCARD TEMP`, `DISCARD TEMPORARY`, `DISCARD ALL`.
    pub const DISCARD_TEMP: Flags = Flags(1 << 8);
    /// `DISCARD ALL`.
    pub const DISCARD_ALL: Flags = Flags(1 << 9);
    /// `DECLARE ... CURSOR WITH HOLD`.
    pub const WITH_HOLD: Flags = Flags(1 << 10);
    /// `CLOSE ALL`.
    pub const CLOSE_ALL: Flags = Flags(1 << 11);
    /// `LISTEN channel`.
    pub const LISTEN: Flags = Flags(1 << 12);
    /// `UNLISTEN channel`.
    pub const UNLISTEN: Flags = Flags(1 << 13);
    /// `UNLISTEN *`.
    pub const UNLISTEN_ALL: Flags = Flags(1 << 14);
    /// `BEGIN` / `START TRANSACTION` with a `READ ONLY` mode.
    pub const READ_ONLY: Flags = Flags(1 << 15);
    /// A `lastval()` or `currval(...)` call.
    pub const SEQUENCE_READ: Flags = Flags(1 << 16);
    /// A `nextval(...)` or `setval(...)` call.
    pub const NEXTVAL: Flags = Flags(1 << 17);
    /// SQL-level `PREPARE`, `EXECUTE` or `DEALLOCATE` (also `EXPLAIN EXECUTE`, `AS EXECUTE`).
    pub const PREPARED_SQL: Flags = Flags(1 << 18);
    /// Changes session state the proxy cannot track: `set_config(...)`, `SET ROLE`,
    /// `SET SESSION AUTHORIZATION`, `SET SESSION CHARACTERISTICS`, `LOAD`.
    pub const SESSION_CHANGE: Flags = Flags(1 << 19);

    const NAMES: [(Flags, &'static str); 20] = [
        (Flags::WRITE, "WRITE"),
        (Flags::LOCKING_READ, "LOCKING_READ"),
        (Flags::VOLATILE, "VOLATILE"),
        (Flags::ADVISORY_LOCK, "ADVISORY_LOCK"),
        (Flags::ADVISORY_UNLOCK, "ADVISORY_UNLOCK"),
        (Flags::ADVISORY_UNLOCK_ALL, "ADVISORY_UNLOCK_ALL"),
        (Flags::TEMP_OBJECT, "TEMP_OBJECT"),
        (Flags::DROP_TABLE, "DROP_TABLE"),
        (Flags::DISCARD_TEMP, "DISCARD_TEMP"),
        (Flags::DISCARD_ALL, "DISCARD_ALL"),
        (Flags::WITH_HOLD, "WITH_HOLD"),
        (Flags::CLOSE_ALL, "CLOSE_ALL"),
        (Flags::LISTEN, "LISTEN"),
        (Flags::UNLISTEN, "UNLISTEN"),
        (Flags::UNLISTEN_ALL, "UNLISTEN_ALL"),
        (Flags::READ_ONLY, "READ_ONLY"),
        (Flags::SEQUENCE_READ, "SEQUENCE_READ"),
        (Flags::NEXTVAL, "NEXTVAL"),
        (Flags::PREPARED_SQL, "PREPARED_SQL"),
        (Flags::SESSION_CHANGE, "SESSION_CHANGE"),
    ];
}

crate::lex::flag_set::impl_flag_set!(Flags);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_bits_and_debug_names() {
        Flags::assert_distinct_bits();
        assert_eq!(
            format!("{:?}", Flags::WRITE | Flags::LOCKING_READ),
            "WRITE | LOCKING_READ"
        );
    }
}
