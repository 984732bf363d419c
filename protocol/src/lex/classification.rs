//! [`Classification`]: what one pass over a statement text found, in either dialect.

use super::{hint, Statements, Walker};

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

/// A dialect whose statement texts can be classified: what a statement's head counts, and
/// the scan of its tokens.
pub(crate) trait Classify: Statements {
    /// The dialect's statement kinds.
    type Kind: Copy;
    /// The dialect's statement flags.
    type Flags: Copy + std::ops::BitOrAssign;

    /// The kind and flags of a text without statements (`Kind::Other`, no flags).
    const NOTHING: (Self::Kind, Self::Flags);

    /// What a head counts: whether the statement is empty, its kind, its flags.
    fn counts(head: &Self::Head) -> (bool, Self::Kind, Self::Flags);

    /// Adds the flags of the current statement's tokens and the hint of its comments.
    fn scan(
        w: &mut Walker<'_, Self>,
        head: &Self::Head,
        out: &mut Classification<Self::Kind, Self::Flags>,
    );
}

/// Classifies a statement text in dialect `D`; never allocates.
#[inline]
pub(crate) fn classify<D: Classify>(sql: &[u8]) -> Classification<D::Kind, D::Flags> {
    let (other, none) = D::NOTHING;
    let mut out = Classification::new(other, none);
    let mut w = Walker::<D>::new(sql);
    while let Some(head) = w.next_statement() {
        let (empty, kind, flags) = D::counts(&head);
        out.add_statement(empty, kind, flags);
        D::scan(&mut w, &head, &mut out);
    }
    out
}
