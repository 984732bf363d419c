//! Pins: the conditions under which a session keeps its backend connection.

/// A reason a session keeps its backend connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinReason {
    /// An open transaction (SERVER_STATUS_IN_TRANS).
    Transaction,
    /// SET TRANSACTION (without SESSION) applies to the next transaction only.
    NextTransaction,
    /// LOCK TABLES or FLUSH TABLES WITH READ LOCK until UNLOCK TABLES.
    TableLock,
    /// GET_LOCK until every lock is released.
    UserLock,
    /// CREATE TEMPORARY TABLE until dropped.
    TemporaryTable,
    /// Text-protocol PREPARE until DEALLOCATE.
    TextPrepare,
    /// SQL_CALC_FOUND_ROWS until the FOUND_ROWS() that follows.
    CalcFoundRows,
    /// SET sql_log_bin = 0 until it is set back.
    SqlLogBin,
    /// An open server-side cursor (COM_STMT_FETCH).
    Cursor,
    /// COM_STMT_SEND_LONG_DATA until the execute.
    LongData,
    /// A user variable whose value sqlmux does not know (SELECT ... INTO @x, @x := expr).
    UserVariable,
    /// A SET sqlmux cannot parse.
    UnknownSet,
    /// The server reported a session-state change sqlmux cannot describe.
    UntrackedState,
    /// PostgreSQL LISTEN until UNLISTEN of every channel.
    Listen,
    /// A PostgreSQL session-level advisory lock until every one is released.
    AdvisoryLock,
    /// Extended-protocol messages were flushed without a Sync: the implicit transaction and
    /// unnamed statement/portal live on that backend until the Sync.
    PendingSync,
}

impl PinReason {
    /// Every reason, for listings.
    pub const ALL: [PinReason; 16] = [
        PinReason::Transaction,
        PinReason::NextTransaction,
        PinReason::TableLock,
        PinReason::UserLock,
        PinReason::TemporaryTable,
        PinReason::TextPrepare,
        PinReason::CalcFoundRows,
        PinReason::SqlLogBin,
        PinReason::Cursor,
        PinReason::LongData,
        PinReason::UserVariable,
        PinReason::UnknownSet,
        PinReason::UntrackedState,
        PinReason::Listen,
        PinReason::AdvisoryLock,
        PinReason::PendingSync,
    ];

    /// Stable snake_case name (stats, metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            PinReason::Transaction => "transaction",
            PinReason::NextTransaction => "next_transaction",
            PinReason::TableLock => "table_lock",
            PinReason::UserLock => "user_lock",
            PinReason::TemporaryTable => "temporary_table",
            PinReason::TextPrepare => "text_prepare",
            PinReason::CalcFoundRows => "calc_found_rows",
            PinReason::SqlLogBin => "sql_log_bin",
            PinReason::Cursor => "cursor",
            PinReason::LongData => "long_data",
            PinReason::UserVariable => "user_variable",
            PinReason::UnknownSet => "unknown_set",
            PinReason::UntrackedState => "untracked_state",
            PinReason::Listen => "listen",
            PinReason::AdvisoryLock => "advisory_lock",
            PinReason::PendingSync => "pending_sync",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// The set of pins a session holds, with counters for the counted ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pins {
    bits: u16,
    user_locks: u32,
    temporary_tables: u32,
    text_prepares: u32,
}

impl Pins {
    /// Whether the only thing keeping the backend is a transaction (open, or about to be):
    /// losing the backend then loses that transaction and no other session state.
    pub fn only_a_transaction(&self) -> bool {
        self.reasons()
            .all(|r| matches!(r, PinReason::Transaction | PinReason::NextTransaction))
    }

    /// True when the session must keep its backend.
    pub fn is_pinned(&self) -> bool {
        self.bits != 0
    }

    /// Whether one reason holds.
    pub fn has(&self, reason: PinReason) -> bool {
        self.bits & reason.bit() != 0
    }

    /// Sets or clears one (uncounted) reason.
    pub fn set(&mut self, reason: PinReason, on: bool) {
        if on {
            self.bits |= reason.bit();
        } else {
            self.bits &= !reason.bit();
        }
    }

    fn count(&mut self, reason: PinReason) -> &mut u32 {
        match reason {
            PinReason::UserLock => &mut self.user_locks,
            PinReason::TemporaryTable => &mut self.temporary_tables,
            _ => &mut self.text_prepares,
        }
    }

    /// Adds one to a counted reason (user locks, temporary tables, text prepares).
    pub fn add(&mut self, reason: PinReason) {
        *self.count(reason) += 1;
        self.set(reason, true);
    }

    /// Removes one from a counted reason; the pin ends at zero.
    pub fn remove(&mut self, reason: PinReason) {
        let c = self.count(reason);
        *c = c.saturating_sub(1);
        let zero = *c == 0;
        if zero {
            self.set(reason, false);
        }
    }

    /// Clears a counted reason entirely (RELEASE_ALL_LOCKS).
    pub fn clear(&mut self, reason: PinReason) {
        *self.count(reason) = 0;
        self.set(reason, false);
    }

    /// The reasons that hold now.
    pub fn reasons(&self) -> impl Iterator<Item = PinReason> + '_ {
        PinReason::ALL.into_iter().filter(|r| self.has(*r))
    }

    /// Drops every pin (COM_RESET_CONNECTION, COM_CHANGE_USER).
    pub fn reset(&mut self) {
        *self = Pins::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_pins_end_at_zero() {
        let mut p = Pins::default();
        p.add(PinReason::UserLock);
        p.add(PinReason::UserLock);
        p.remove(PinReason::UserLock);
        assert!(p.is_pinned());
        p.remove(PinReason::UserLock);
        assert!(!p.is_pinned());
        p.add(PinReason::TemporaryTable);
        p.set(PinReason::Transaction, true);
        assert_eq!(
            p.reasons().map(PinReason::as_str).collect::<Vec<_>>(),
            ["transaction", "temporary_table"]
        );
        p.reset();
        assert!(!p.is_pinned());
    }
}
