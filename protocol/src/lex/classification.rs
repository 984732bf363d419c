//! [`Classification`]: what one pass over a statement text found, in either dialect.

use super::hint;

/// Facts about a statement text (all statements of a multi-statement text are scanned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classification<K, F> {
    /// The kind of the first statement (the dialect's `Kind::Other` when there is none).
    pub kind: K,
    /// Number of non-empty statements separated by `;`.
    pub statements: usize,
    /// Union over all statements.
    pub flags: F,
    /// From the first comment `/* sqlmux:hostgroup=N */` anywhere in the text.
    pub hint_hostgroup: Option<u32>,
}

impl<K: Copy, F: Copy + std::ops::BitOrAssign> Classification<K, F> {
    /// Nothing found yet: kind `other`, no flags.
    pub(crate) fn new(other: K, no_flags: F) -> Self {
        Classification {
            kind: other,
            statements: 0,
            flags: no_flags,
            hint_hostgroup: None,
        }
    }

    /// Counts a statement unless it is `empty`; the first one gives the text its kind.
    pub(crate) fn add_statement(&mut self, empty: bool, kind: K, flags: F) {
        if !empty {
            if self.statements == 0 {
                self.kind = kind;
            }
            self.statements += 1;
            self.flags |= flags;
        }
    }

    /// Notes a comment's text: the first routing hint found wins.
    pub(crate) fn add_comment(&mut self, comment: &[u8]) {
        if self.hint_hostgroup.is_none() {
            self.hint_hostgroup = hint::hostgroup(comment);
        }
    }
}
