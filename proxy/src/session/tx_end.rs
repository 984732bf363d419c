//! A COMMIT or ROLLBACK while the session holds no backend ends no transaction: every open
//! transaction holds its backend, so there is none. The server would only say so; sqlmux says
//! it itself, so such a statement never waits for a writer (a client's cleanup ROLLBACK after
//! a statement failed during a failover must not wait the hold out). Forms that do more than
//! end a transaction (`AND CHAIN`, MySQL's `RELEASE`) still go to a server.

use super::TxStatement;

/// Whether `statement` (its text `sql`) is a COMMIT or ROLLBACK with nothing to end, which
/// sqlmux answers itself, as the server would.
pub fn ends_nothing(statement: TxStatement, holds_backend: bool, sql: &[u8]) -> bool {
    statement != TxStatement::Other && !holds_backend && !does_more(sql)
}

/// `AND CHAIN` (PostgreSQL: an error outside a transaction) or `RELEASE` (MySQL: ends the
/// session) in the text.
fn does_more(sql: &[u8]) -> bool {
    let upper = sql.to_ascii_uppercase();
    [b"CHAIN".as_slice(), b"RELEASE".as_slice()]
        .iter()
        .any(|word| upper.windows(word.len()).any(|w| w == *word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_commit_or_rollback_without_a_backend_ends_nothing() {
        assert!(ends_nothing(TxStatement::Rollback, false, b"ROLLBACK"));
        assert!(ends_nothing(TxStatement::Commit, false, b"commit work"));
        assert!(!ends_nothing(TxStatement::Commit, true, b"COMMIT"));
        assert!(!ends_nothing(TxStatement::Other, false, b"SELECT 1"));
        assert!(!ends_nothing(
            TxStatement::Commit,
            false,
            b"COMMIT AND CHAIN"
        ));
        assert!(!ends_nothing(
            TxStatement::Rollback,
            false,
            b"rollback release"
        ));
    }
}
