//! [`Classification`]: what one pass over a statement text found, in either dialect.

use super::{hint, Head, Kind, Statements, Walker};

/// Facts about a statement text (all statements of a multi-statement text are scanned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classification<F> {
    /// The kind of the first statement ([`Kind::Other`] when there is none).
    pub kind: Kind,
    /// Number of non-empty statements separated by `;`.
    pub statements: usize,
    /// Union over all statements.
    pub flags: F,
    /// From the first comment `/* sqlmux:hostgroup=N */` anywhere in the text.
    pub hint_hostgroup: Option<u32>,
}

impl<F: Copy + Default + std::ops::BitOrAssign> Classification<F> {
    /// Nothing found yet: kind `Other`, no flags.
    pub(crate) fn new() -> Self {
        Classification {
            kind: Kind::Other,
            statements: 0,
            flags: F::default(),
            hint_hostgroup: None,
        }
    }

    /// Counts a statement unless it is `empty`; the first one gives the text its kind.
    pub(crate) fn add_statement(&mut self, empty: bool, kind: Kind, flags: F) {
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

/// A dialect whose statement texts can be classified: the scan of a statement's tokens.
pub(crate) trait Classify: Statements {
    /// Adds the flags of the current statement's tokens and the hint of its comments.
    fn scan(
        w: &mut Walker<'_, Self>,
        head: &Head<Self::Flags, Self::Notes>,
        out: &mut Classification<Self::Flags>,
    );
}

/// Classifies a statement text in dialect `D`; never allocates.
#[inline]
pub(crate) fn classify<D: Classify>(sql: &[u8]) -> Classification<D::Flags> {
    let mut out = Classification::new();
    let mut w = Walker::<D>::new(sql);
    while let Some(head) = w.next_statement() {
        out.add_statement(head.empty, head.kind, head.flags);
        D::scan(&mut w, &head, &mut out);
    }
    out
}
