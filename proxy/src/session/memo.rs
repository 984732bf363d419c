//! [`StatementMemo`]: the last statement text a session ran and what sqlmux derived from
//! it, so a client that repeats a statement (an unnamed Parse of the same text every time,
//! the EXECUTE of a prepared statement) is not lexed again for its class or digest.

/// Texts longer than this are not remembered (no per-session copy of big statements).
const MAX_TEXT: usize = 4096;

/// One session's last statement text, its class and its digest hash, each derived at most
/// once while the text stays the same.
#[derive(Debug)]
pub struct StatementMemo<C> {
    text: Vec<u8>,
    class: Option<C>,
    digest: Option<u64>,
}

impl<C> Default for StatementMemo<C> {
    fn default() -> Self {
        Self {
            text: Vec::new(),
            class: None,
            digest: None,
        }
    }
}

impl<C: Copy> StatementMemo<C> {
    /// The class of `sql`: remembered, or `classify(sql)`.
    pub fn class(&mut self, sql: &[u8], classify: impl FnOnce(&[u8]) -> C) -> C {
        if !self.holds(sql) {
            return classify(sql);
        }
        *self.class.get_or_insert_with(|| classify(sql))
    }

    /// The digest hash of `sql`: remembered, or `digest(sql)`.
    pub fn digest(&mut self, sql: &[u8], digest: impl FnOnce(&[u8]) -> u64) -> u64 {
        if !self.holds(sql) {
            return digest(sql);
        }
        *self.digest.get_or_insert_with(|| digest(sql))
    }

    /// Whether the memo is about `sql` now (it switches to `sql` when that is short enough).
    fn holds(&mut self, sql: &[u8]) -> bool {
        if self.text == sql {
            return true;
        }
        if sql.len() > MAX_TEXT {
            return false;
        }
        self.text.clear();
        self.text.extend_from_slice(sql);
        self.class = None;
        self.digest = None;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn derives_once_per_text() {
        let calls = Cell::new(0);
        let classify = |sql: &[u8]| {
            calls.set(calls.get() + 1);
            sql.len()
        };
        let mut memo = StatementMemo::default();
        assert_eq!(memo.class(b"SELECT 1", classify), 8);
        assert_eq!(memo.class(b"SELECT 1", classify), 8);
        assert_eq!(calls.get(), 1);
        assert_eq!(memo.class(b"SELECT 22", classify), 9);
        assert_eq!(calls.get(), 2);
        // Back to the first text: derived again, not mixed up with the second.
        assert_eq!(memo.class(b"SELECT 1", classify), 8);
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn class_and_digest_are_kept_apart_and_reset_together() {
        let mut memo = StatementMemo::default();
        assert_eq!(memo.class(b"a", |_| 1u8), 1);
        assert_eq!(memo.digest(b"a", |_| 7), 7);
        assert_eq!(memo.digest(b"a", |_| 8), 7);
        assert_eq!(memo.class(b"a", |_| 2u8), 1);
        assert_eq!(memo.digest(b"b", |_| 9), 9);
        assert_eq!(memo.class(b"b", |_| 3u8), 3);
    }

    #[test]
    fn long_texts_are_not_remembered() {
        let long = vec![b'x'; MAX_TEXT + 1];
        let mut memo = StatementMemo::<u8>::default();
        assert_eq!(memo.digest(b"short", |_| 1), 1);
        assert_eq!(memo.digest(&long, |_| 2), 2);
        assert_eq!(memo.digest(&long, |_| 3), 3);
        // The short text is still the one remembered.
        assert_eq!(memo.digest(b"short", |_| 4), 1);
    }
}
