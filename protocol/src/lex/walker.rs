//! [`Walker`]: splits a statement text into statements at top-level `;`, without allocating.
//!
//! The walk is the same in both dialects; a dialect's [`Statements`] reads each statement's
//! head and follows, token by token, the blocks inside which a `;` does not end the statement
//! (stored program bodies), and whatever else it wants to know of the tokens.

use super::{Dialect, Head, Lexer, Token, TokenKind};

/// What a dialect tells the walker about its statements.
pub(crate) trait Statements: Dialect {
    /// The dialect's statement flags.
    type Flags: Copy + Default + PartialEq + std::fmt::Debug + std::ops::BitOrAssign;
    /// What the dialect notes of a statement's head besides its kind and flags.
    type Notes: Copy;
    /// What the dialect follows through one statement's tokens.
    type Track: Copy;

    /// Reads the head of the statement at `lex`.
    fn head(lex: Lexer<'_, Self>) -> Head<Self::Flags, Self::Notes>;

    /// The state at the start of a statement with this head.
    fn start(head: &Head<Self::Flags, Self::Notes>) -> Self::Track;

    /// Sees one token of the statement (not the `;` that ends it); `lex` is just past it.
    fn see(
        track: &mut Self::Track,
        head: &Head<Self::Flags, Self::Notes>,
        t: &Token,
        lex: &mut Lexer<'_, Self>,
    );

    /// Whether the walk is inside a block, where a `;` does not end the statement.
    fn in_block(track: &Self::Track) -> bool;
}

/// Walks the statements of a text and the tokens (comments included) of each.
pub(crate) struct Walker<'a, D: Statements> {
    lex: Lexer<'a, D>,
    head: Head<D::Flags, D::Notes>,
    /// The dialect's state for the current statement.
    pub(crate) track: D::Track,
    in_statement: bool,
}

impl<'a, D: Statements> Walker<'a, D> {
    /// A walker before the first statement of `sql`.
    pub(crate) fn new(sql: &'a [u8]) -> Self {
        let head = D::head(Lexer::new(b""));
        Walker {
            lex: Lexer::new(sql),
            head,
            track: D::start(&head),
            in_statement: false,
        }
    }

    /// Byte offset of the lexer in the input.
    pub(crate) fn offset(&self) -> usize {
        self.lex.offset()
    }

    /// The whole input.
    pub(crate) fn sql(&self) -> &'a [u8] {
        self.lex.sql()
    }

    /// Moves to the next statement (skipping the rest of the current one) and reads its head;
    /// None at the end of the text. A statement may be empty (only comments, or `;;`).
    pub(crate) fn next_statement(&mut self) -> Option<Head<D::Flags, D::Notes>> {
        while self.next_token().is_some() {}
        if self.lex.at_end() {
            return None;
        }
        self.head = D::head(self.lex.clone());
        self.track = D::start(&self.head);
        self.in_statement = true;
        Some(self.head)
    }

    /// The next token of the current statement, comments included; None at its end
    /// (the `;` that ends it is consumed).
    #[inline(always)]
    pub(crate) fn next_token(&mut self) -> Option<Token> {
        if !self.in_statement {
            return None;
        }
        let Some(t) = self.lex.next() else {
            self.in_statement = false;
            return None;
        };
        if t.kind == TokenKind::Semicolon && !D::in_block(&self.track) {
            self.in_statement = false;
            return None;
        }
        D::see(&mut self.track, &self.head, &t, &mut self.lex);
        Some(t)
    }

    /// The next non-comment token of the current statement.
    pub(crate) fn next_sig(&mut self) -> Option<Token> {
        loop {
            let t = self.next_token()?;
            if t.kind != TokenKind::Comment {
                return Some(t);
            }
        }
    }

    /// A copy of the underlying lexer at the current position, to look ahead with.
    pub(crate) fn clone_lexer(&self) -> Lexer<'a, D> {
        self.lex.clone()
    }

    /// The next non-comment token, without moving (it may lie past the statement's end).
    pub(crate) fn peek_sig(&self) -> Option<Token> {
        self.lex.peek_sig()
    }
}

/// Each statement's text from its first to its last significant token.
#[cfg(test)]
pub(crate) fn split<D: Statements>(sql: &str) -> Vec<&str> {
    let mut w = Walker::<D>::new(sql.as_bytes());
    let mut out = Vec::new();
    while w.next_statement().is_some() {
        let mut range: Option<(usize, usize)> = None;
        while let Some(t) = w.next_sig() {
            range = Some((range.map_or(t.start(), |r| r.0), t.end()));
        }
        if let Some((a, b)) = range {
            out.push(&sql[a..b]);
        }
    }
    out
}

/// What both dialects split alike: top-level `;`, quoted `;`, empty statements.
#[cfg(test)]
pub(crate) fn splits_alike<D: Statements>() {
    assert_eq!(
        split::<D>("SELECT 1; SELECT ';' ;;"),
        vec!["SELECT 1", "SELECT ';'"]
    );
    assert_eq!(split::<D>(""), Vec::<&str>::new());
    assert_eq!(split::<D>(";"), Vec::<&str>::new());
    assert_eq!(split::<D>("/* only */ ; -- x\n").len(), 0);
    // Outside routine definitions BEGIN is a transaction.
    assert_eq!(
        split::<D>("BEGIN; SELECT CASE WHEN 1 THEN 2 END; COMMIT").len(),
        3
    );
}
