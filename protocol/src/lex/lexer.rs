//! [`Lexer`]: a cursor over the tokens of a statement text, generic over its [`Dialect`].
//!
//! The cursor, the peeking, comment skipping and the scans every dialect has (quoted runs,
//! identifiers, line comments) live here; what a byte starts is the dialect's. Generic at
//! compile time: each dialect's lexer is its own monomorphic code, nothing is allocated.

use super::bytes::{find_either, is_ident_byte};
use super::token::{Token, TokenKind};

/// A SQL dialect's lexical rules, and whatever state its lexer carries between tokens.
pub(crate) trait Dialect: Copy + Default + std::fmt::Debug {
    /// The next token at or after the lexer's position (whitespace and whatever else the
    /// dialect skips like whitespace skipped), the lexer moved past it; None at the end.
    fn next_token(lx: &mut Lexer<'_, Self>) -> Option<Token>;

    /// Whether no token is left.
    fn at_end(lx: &Lexer<'_, Self>) -> bool;
}

/// A cursor over the tokens of a statement text. Cheap to clone, which is how callers peek.
#[derive(Clone, Debug)]
pub(crate) struct Lexer<'a, D> {
    sql: &'a [u8],
    pos: usize,
    /// The dialect's state between tokens.
    pub(crate) state: D,
}

impl<'a, D: Dialect> Lexer<'a, D> {
    /// A lexer at the start of `sql`. Statements are at most 1 GiB (MySQL and PostgreSQL
    /// packet limits); bytes past 4 GiB are not looked at.
    pub(crate) fn new(sql: &'a [u8]) -> Self {
        Lexer {
            sql: sql.get(..u32::MAX as usize).unwrap_or(sql),
            pos: 0,
            state: D::default(),
        }
    }

    /// The whole input.
    #[inline]
    pub(crate) fn sql(&self) -> &'a [u8] {
        self.sql
    }

    /// Byte offset of the next unread byte.
    #[inline]
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    /// Whether no token is left.
    pub(crate) fn at_end(&self) -> bool {
        D::at_end(self)
    }

    /// The next token that is not a comment; a skipped comment counts as space before it.
    #[inline]
    pub(crate) fn next_sig(&mut self) -> Option<Token> {
        let mut sep = false;
        loop {
            let mut t = D::next_token(self)?;
            if t.kind == TokenKind::Comment {
                sep = true;
                continue;
            }
            t.space_before |= sep;
            return Some(t);
        }
    }

    /// The next significant token, without moving.
    pub(crate) fn peek_sig(&self) -> Option<Token> {
        self.clone().next_sig()
    }

    /// The byte at `at`.
    #[inline]
    pub(crate) fn byte(&self, at: usize) -> Option<u8> {
        self.sql.get(at).copied()
    }

    /// The input from `at` on (empty past the end).
    #[inline]
    pub(crate) fn rest(&self, at: usize) -> &'a [u8] {
        self.sql.get(at..).unwrap_or_default()
    }

    /// Moves past `bytes` bytes the dialect reads as whitespace.
    #[inline]
    pub(crate) fn skip(&mut self, bytes: usize) {
        self.pos += bytes;
    }

    /// Ends a token that started at the lexer's position and was scanned to `end`: every
    /// token is at least one byte and ends inside the input; the lexer moves past it.
    #[inline(always)]
    pub(crate) fn emit(&mut self, kind: TokenKind, end: usize, closed: bool, space: bool) -> Token {
        let start = self.pos;
        let end = end.max(start + 1).min(self.sql.len());
        self.pos = end;
        Token::new(kind, start, end, space, closed)
    }

    /// Scans a quoted run whose opening quote is just before `from`: `(end, closed)`. A
    /// doubled quote is an escape; with `backslash`, `\` escapes the next byte.
    pub(crate) fn quoted(&self, from: usize, quote: u8, backslash: bool) -> (usize, bool) {
        let mut i = from;
        loop {
            let rest = self.rest(i);
            let found = if backslash {
                find_either(rest, quote, b'\\')
            } else {
                find_either(rest, quote, quote)
            };
            let Some(at) = found else {
                return (self.sql.len(), false);
            };
            i += at;
            if self.byte(i) == Some(quote) && self.byte(i + 1) != Some(quote) {
                return (i + 1, true);
            }
            // A doubled quote, or a backslash and the byte it escapes.
            i += 2;
        }
    }

    /// End of the identifier bytes from `from`.
    #[inline]
    pub(crate) fn ident_end(&self, from: usize) -> usize {
        let rest = self.rest(from);
        from + rest
            .iter()
            .position(|&b| !is_ident_byte(b))
            .unwrap_or(rest.len())
    }

    /// End of a line comment starting at `start`: the next `\n` (also `\r` with `cr`).
    pub(crate) fn line_comment_end(&self, start: usize, cr: bool) -> usize {
        let rest = self.rest(start);
        let other = if cr { b'\r' } else { b'\n' };
        start + find_either(rest, b'\n', other).unwrap_or(rest.len())
    }
}

impl<D: Dialect> Iterator for Lexer<'_, D> {
    type Item = Token;

    #[inline(always)]
    fn next(&mut self) -> Option<Token> {
        D::next_token(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialect::mysql::lexer::MySql;
    use crate::dialect::postgres::lexer::Postgres;

    fn space_before_and_non_utf8<D: Dialect>() {
        let sql = b"a/**/b c\xff\xfe d";
        let mut lx = Lexer::<D>::new(sql);
        let a = lx.next_sig().unwrap();
        let b = lx.next_sig().unwrap();
        let c = lx.next_sig().unwrap();
        assert!(!a.space_before && b.space_before && c.space_before);
        assert_eq!(c.text(sql), b"c\xff\xfe");
        assert_eq!(lx.offset(), 10);
    }

    #[test]
    fn a_skipped_comment_is_space_and_bytes_need_not_be_utf8() {
        space_before_and_non_utf8::<MySql>();
        space_before_and_non_utf8::<Postgres>();
    }
}
