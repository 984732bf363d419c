//! [`Flags`]: facts about a statement text that routing and multiplexing act on.

/// A set of statement facts (a bitflags-like `u32` newtype).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u32);

impl Flags {
    /// `SELECT ... FOR UPDATE`, `FOR SHARE`, `LOCK IN SHARE MODE`.
    pub const LOCKING_READ: Flags = Flags(1 << 0);
    /// `SELECT ... INTO @v`, `INTO OUTFILE`, `INTO DUMPFILE`.
    pub const SELECT_INTO: Flags = Flags(1 << 1);
    /// `SQL_CALC_FOUND_ROWS`.
    pub const CALC_FOUND_ROWS: Flags = Flags(1 << 2);
    /// A `FOUND_ROWS()` call.
    pub const FOUND_ROWS: Flags = Flags(1 << 3);
    /// A `LAST_INSERT_ID(` call (with or without argument), `@@identity` or `@@last_insert_id`.
    pub const LAST_INSERT_ID: Flags = Flags(1 << 4);
    /// `LAST_INSERT_ID(expr)`: sets the session's value.
    pub const LAST_INSERT_ID_ARG: Flags = Flags(1 << 5);
    /// A `ROW_COUNT()` call.
    pub const ROW_COUNT: Flags = Flags(1 << 6);
    /// A `GET_LOCK(` call.
    pub const GET_LOCK: Flags = Flags(1 << 7);
    /// A `RELEASE_LOCK(` call.
    pub const RELEASE_LOCK: Flags = Flags(1 << 8);
    /// A `RELEASE_ALL_LOCKS(` call.
    pub const RELEASE_ALL_LOCKS: Flags = Flags(1 << 9);
    /// `CREATE TEMPORARY TABLE`.
    pub const TEMPORARY_TABLE: Flags = Flags(1 << 10);
    /// `DROP TEMPORARY TABLE`.
    pub const DROP_TEMPORARY: Flags = Flags(1 << 11);
    /// A user variable is assigned: `@x :=`, `SET @x =`, `INTO @x`, `LOAD DATA ... (@x)`.
    pub const USER_VAR_WRITE: Flags = Flags(1 << 12);
    /// A user variable's value is used (a mere assignment target is not a read).
    pub const USER_VAR_READ: Flags = Flags(1 << 13);
    /// `SET sql_log_bin`, `SET @@sql_log_bin`, ...
    pub const SQL_LOG_BIN: Flags = Flags(1 << 14);
    /// An INSERT, REPLACE, CALL, LOAD DATA or EXECUTE statement is in the text.
    pub const MAY_INSERT: Flags = Flags(1 << 15);
    /// A statement that is no plain read: it goes to the writer.
    pub const WRITE: Flags = Flags(1 << 16);
    /// Reads the previous statement's diagnostics: `SHOW WARNINGS`, `@@warning_count`, ...
    pub const WARNINGS_READ: Flags = Flags(1 << 17);
    /// Changes session state the proxy cannot track or replay (HANDLER, XA, backup locks).
    pub const SESSION_CHANGE: Flags = Flags(1 << 18);
    /// A `CONNECTION_ID()` call.
    pub const CONNECTION_ID: Flags = Flags(1 << 19);

    const NAMES: [(Flags, &'static str); 20] = [
        (Flags::LOCKING_READ, "LOCKING_READ"),
        (Flags::SELECT_INTO, "SELECT_INTO"),
        (Flags::CALC_FOUND_ROWS, "CALC_FOUND_ROWS"),
        (Flags::FOUND_ROWS, "FOUND_ROWS"),
        (Flags::LAST_INSERT_ID, "LAST_INSERT_ID"),
        (Flags::LAST_INSERT_ID_ARG, "LAST_INSERT_ID_ARG"),
        (Flags::ROW_COUNT, "ROW_COUNT"),
        (Flags::CONNECTION_ID, "CONNECTION_ID"),
        (Flags::GET_LOCK, "GET_LOCK"),
        (Flags::RELEASE_LOCK, "RELEASE_LOCK"),
        (Flags::RELEASE_ALL_LOCKS, "RELEASE_ALL_LOCKS"),
        (Flags::TEMPORARY_TABLE, "TEMPORARY_TABLE"),
        (Flags::DROP_TEMPORARY, "DROP_TEMPORARY"),
        (Flags::USER_VAR_WRITE, "USER_VAR_WRITE"),
        (Flags::USER_VAR_READ, "USER_VAR_READ"),
        (Flags::SQL_LOG_BIN, "SQL_LOG_BIN"),
        (Flags::MAY_INSERT, "MAY_INSERT"),
        (Flags::WRITE, "WRITE"),
        (Flags::WARNINGS_READ, "WARNINGS_READ"),
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
            "LOCKING_READ | WRITE"
        );
    }
}
