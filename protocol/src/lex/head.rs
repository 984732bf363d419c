//! [`Head`]: what the first keywords of one statement say, in either dialect.

use super::Kind;
use std::ops::{Deref, DerefMut};

/// What the first keywords of one statement say; `X` is what the dialect notes besides
/// (read through the head, which dereferences to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Head<F, X> {
    /// The statement's kind.
    pub kind: Kind,
    /// Flags that follow from the first keywords alone.
    pub flags: F,
    /// Nothing but comments (and at most a `;`).
    pub empty: bool,
    /// `;` inside the statement's `BEGIN ... END` does not end it (a stored program body).
    pub block: bool,
    /// What the dialect notes besides.
    pub notes: X,
}

impl<F: Default, X> Head<F, X> {
    /// A statement of `kind` with `flags`.
    #[inline]
    pub(crate) fn with(kind: Kind, flags: F, notes: X) -> Self {
        Head {
            kind,
            flags,
            empty: false,
            block: false,
            notes,
        }
    }

    /// An empty statement: only comments, or `;`.
    pub(crate) fn nothing(notes: X) -> Self {
        Head {
            kind: Kind::Other,
            flags: F::default(),
            empty: true,
            block: false,
            notes,
        }
    }
}

impl<F, X> Deref for Head<F, X> {
    type Target = X;

    fn deref(&self) -> &X {
        &self.notes
    }
}

impl<F, X> DerefMut for Head<F, X> {
    fn deref_mut(&mut self) -> &mut X {
        &mut self.notes
    }
}
