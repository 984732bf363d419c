//! [`Reader`]: reads a statement's words as keywords of its dialect, for the code that tells
//! what a statement is from its first words.

use super::{Dialect, Lexer, Token, TokenKind};

/// A dialect's keyword lookup.
pub(crate) trait Keywords: Dialect {
    /// The dialect's keyword enum.
    type Kw: Copy + Eq;

    /// The keyword a token spells, if it is an unquoted word.
    fn kw(sql: &[u8], t: &Token) -> Option<Self::Kw>;
}

/// How a statement starts, after comments and opening parentheses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Start<K> {
    /// Nothing, or a lone `;`: an empty statement.
    Empty,
    /// A token that is no keyword, or parentheses around nothing.
    Unknown,
    /// A keyword; the reader is just past it.
    Keyword(K),
}

/// The significant tokens of a statement, each with the keyword it spells.
pub(crate) struct Reader<'a, D> {
    /// The lexer, at the next token.
    pub(crate) lex: Lexer<'a, D>,
}

impl<'a, D: Keywords> Reader<'a, D> {
    /// A reader at the lexer's position.
    pub(crate) fn new(lex: Lexer<'a, D>) -> Self {
        Reader { lex }
    }

    /// The next significant token and its keyword.
    #[inline]
    pub(crate) fn next(&mut self) -> Option<(Token, Option<D::Kw>)> {
        let t = self.lex.next_sig()?;
        Some((t, D::kw(self.lex.sql(), &t)))
    }

    /// Reads how the statement starts: its first keyword after any opening parentheses.
    pub(crate) fn start(&mut self) -> Start<D::Kw> {
        let mut parens = false;
        let (first, k) = loop {
            match self.next() {
                None if parens => return Start::Unknown,
                None => return Start::Empty,
                Some((t, _)) if self.punct(&t, b"(") => parens = true,
                Some(x) => break x,
            }
        };
        match k {
            _ if first.kind == TokenKind::Semicolon && !parens => Start::Empty,
            Some(k) => Start::Keyword(k),
            None => Start::Unknown,
        }
    }

    /// The keyword of the next significant token.
    pub(crate) fn next_kw(&mut self) -> Option<D::Kw> {
        self.next().and_then(|(_, k)| k)
    }

    /// The next significant token, without moving.
    pub(crate) fn peek(&self) -> Option<Token> {
        self.lex.peek_sig()
    }

    /// The keyword of the next significant token, without moving.
    pub(crate) fn peek_kw(&self) -> Option<D::Kw> {
        D::kw(self.lex.sql(), &self.peek()?)
    }

    /// Whether `t` is the punctuation `p`.
    pub(crate) fn punct(&self, t: &Token, p: &[u8]) -> bool {
        t.is_punct(self.lex.sql(), p)
    }

    /// Skips `a` if it comes next.
    pub(crate) fn skip(&mut self, a: D::Kw) -> bool {
        if self.peek_kw() == Some(a) {
            self.lex.next_sig();
            true
        } else {
            false
        }
    }

    /// The next token of the statement and its keyword, with `depth` counting the open
    /// parentheses up to and including it; None at the `;` that ends the statement.
    pub(crate) fn next_in_statement(&mut self, depth: &mut i64) -> Option<(Token, Option<D::Kw>)> {
        let (t, k) = self.next()?;
        if t.kind == TokenKind::Semicolon {
            return None;
        }
        if self.punct(&t, b"(") {
            *depth += 1;
        } else if self.punct(&t, b")") {
            *depth -= 1;
        }
        Some((t, k))
    }

    /// After `WITH`: the kind of the main statement, the first statement keyword outside
    /// the CTE bodies (`kind_of` says which keywords are statements); `select` when only
    /// parenthesized SELECTs are found (a `(SELECT ...)` main query), else `other`.
    pub(crate) fn with_main<K: Copy + PartialEq>(
        &mut self,
        kind_of: impl Fn(D::Kw) -> Option<K>,
        select: K,
        other: K,
    ) -> K {
        let mut depth = 0i64;
        let mut nested_select = false;
        while let Some((_, k)) = self.next_in_statement(&mut depth) {
            let Some(kind) = k.and_then(&kind_of) else {
                continue;
            };
            if depth <= 0 {
                return kind;
            }
            nested_select |= kind == select;
        }
        if nested_select {
            select
        } else {
            other
        }
    }
}
