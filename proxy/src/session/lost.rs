//! A transaction whose backend was lost stays lost: its statements never ran past the loss,
//! and letting the session go on in autocommit would commit half a transaction. Until the
//! client ends the transaction, every statement is refused; ROLLBACK ends it quietly, COMMIT
//! ends it with an error (nothing was committed). Protocol-neutral: each protocol says what
//! kind of statement came and renders the answer in its own wire.

use std::sync::Arc;

/// How a statement relates to the open transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxStatement {
    /// COMMIT (or END).
    Commit,
    /// ROLLBACK (or ABORT), without TO SAVEPOINT.
    Rollback,
    /// Anything else.
    Other,
}

/// What a statement gets while the session's transaction is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LostAnswer {
    /// No transaction was lost: serve the statement.
    Serve,
    /// Refused: the transaction is still lost.
    Refuse {
        /// The server the transaction was on.
        address: Arc<str>,
    },
    /// The statement ends the lost transaction, which was rolled back (by the server, when
    /// it lost the connection). `commit`: the client asked to commit (that failed).
    Ended {
        /// The client sent COMMIT.
        commit: bool,
        /// The server the transaction was on.
        address: Arc<str>,
    },
}

/// The session's lost transaction, if any.
#[derive(Debug, Default, Clone)]
pub struct LostTransaction {
    on: Option<Arc<str>>,
}

impl LostTransaction {
    /// The backend at `address` was lost while the session had a transaction open on it.
    pub fn lose(&mut self, address: Arc<str>) {
        self.on = Some(address);
    }

    /// Whether a lost transaction waits for the client to end it.
    pub fn is_lost(&self) -> bool {
        self.on.is_some()
    }

    /// Forgets it (the session was reset).
    pub fn clear(&mut self) {
        self.on = None;
    }

    /// The answer to a statement of kind `statement`; ending statements clear the state.
    pub fn answer(&mut self, statement: TxStatement) -> LostAnswer {
        let Some(address) = self.on.clone() else {
            return LostAnswer::Serve;
        };
        match statement {
            TxStatement::Other => LostAnswer::Refuse { address },
            TxStatement::Commit | TxStatement::Rollback => {
                self.on = None;
                LostAnswer::Ended {
                    commit: statement == TxStatement::Commit,
                    address,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_until_the_client_ends_it() {
        let mut t = LostTransaction::default();
        assert_eq!(t.answer(TxStatement::Other), LostAnswer::Serve);
        t.lose(Arc::from("db:1"));
        assert!(t.is_lost());
        assert!(matches!(
            t.answer(TxStatement::Other),
            LostAnswer::Refuse { .. }
        ));
        assert!(matches!(
            t.answer(TxStatement::Commit),
            LostAnswer::Ended { commit: true, .. }
        ));
        assert_eq!(t.answer(TxStatement::Other), LostAnswer::Serve);
        t.lose(Arc::from("db:1"));
        assert!(matches!(
            t.answer(TxStatement::Rollback),
            LostAnswer::Ended { commit: false, .. }
        ));
        assert!(!t.is_lost());
    }
}
