//! The PostgreSQL dialect of the [`Lexer`](crate::lex::Lexer): what each byte starts.
//!
//! PostgreSQL lexical rules with `standard_conforming_strings = on` (the default since 9.1):
//! `'...'` has only the `''` escape, `E'...'` also backslash escapes; `U&'...'`, `N'...'`,
//! `B'...'`, `X'...'`; dollar quoting `$tag$...$tag$` (`$1` is a parameter); `"..."` quoted
//! identifiers (`""` escape); `--` comments to the end of the line and nested `/* */`
//! comments; `::` casts and PostgreSQL's operator rules. Whitespace is skipped; comments come
//! out as [`TokenKind::Comment`] tokens. Input need not be UTF-8; bytes >= 0x80 are identifier
//! bytes. Unterminated strings and comments run to the end of the input ([`Token::closed`] is
//! false). Every call makes progress; nothing panics.

use crate::lex::{find, Dialect, Lexer as Cursor};
pub(crate) use crate::lex::{is_ident_byte, is_space, Token, TokenKind};

/// The PostgreSQL dialect (its lexer keeps no state between tokens).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Postgres;

/// A PostgreSQL-dialect lexer.
pub(crate) type Lexer<'a> = Cursor<'a, Postgres>;

/// Whether `b` can start an unquoted identifier.
#[inline]
fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

/// Whether `b` can continue a dollar-quote tag (no `$`).
#[inline]
fn is_tag_byte(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit()
}

/// Operator characters.
#[inline]
fn is_op_char(b: u8) -> bool {
    matches!(
        b,
        b'~' | b'!'
            | b'@'
            | b'#'
            | b'^'
            | b'&'
            | b'|'
            | b'`'
            | b'?'
            | b'+'
            | b'-'
            | b'*'
            | b'/'
            | b'%'
            | b'<'
            | b'>'
            | b'='
    )
}

impl Dialect for Postgres {
    #[inline]
    fn next_token(lx: &mut Lexer<'_>) -> Option<Token> {
        let mut space = false;
        let b = loop {
            let b = lx.byte(lx.offset())?;
            if !is_space(b) {
                break b;
            }
            lx.skip(1);
            space = true;
        };
        let (kind, end, closed) = lx.token_at(lx.offset(), b);
        Some(lx.emit(kind, end, closed, space))
    }

    /// Only whitespace is left.
    fn at_end(lx: &Lexer<'_>) -> bool {
        lx.rest(lx.offset()).iter().all(|&b| is_space(b))
    }
}

impl Lexer<'_> {
    /// A word, or a literal spelled with a prefix: `E'..'`, `B'..'`, `X'..'`, `N'..'`,
    /// `U&'..'`, `U&"..."`.
    fn word(&self, start: usize) -> (TokenKind, usize, bool) {
        let end = self.ident_end(start);
        if end == start + 1 {
            let lower = self.byte(start).unwrap_or(0) | 0x20;
            match (lower, self.byte(end), self.byte(end + 1)) {
                (b'e', Some(b'\''), _) => {
                    let (e, c) = self.quoted(end + 1, b'\'', true);
                    return (TokenKind::String, e, c);
                }
                (b'n', Some(b'\''), _) => {
                    let (e, c) = self.quoted(end + 1, b'\'', false);
                    return (TokenKind::String, e, c);
                }
                (b'b' | b'x', Some(b'\''), _) => {
                    let (e, c) = self.quoted(end + 1, b'\'', false);
                    return (TokenKind::Number, e, c);
                }
                (b'u', Some(b'&'), Some(q @ (b'\'' | b'"'))) => {
                    let (e, c) = self.quoted(end + 2, q, false);
                    let kind = if q == b'\'' {
                        TokenKind::String
                    } else {
                        TokenKind::QuotedIdent
                    };
                    return (kind, e, c);
                }
                _ => {}
            }
        }
        (TokenKind::Word, end, true)
    }

    /// Digits (and `_` separators) from `from`, in the given radix test.
    fn digits_end(&self, from: usize, digit: fn(&u8) -> bool) -> usize {
        let rest = self.rest(from);
        from + rest
            .iter()
            .position(|b| !(digit(b) || *b == b'_'))
            .unwrap_or(rest.len())
    }

    fn number(&self, start: usize) -> usize {
        if self.byte(start) == Some(b'0') {
            let radix: Option<fn(&u8) -> bool> = match self.byte(start + 1).map(|b| b | 0x20) {
                Some(b'x') => Some(u8::is_ascii_hexdigit),
                Some(b'o') => Some(|b| (b'0'..=b'7').contains(b)),
                Some(b'b') => Some(|b| *b == b'0' || *b == b'1'),
                _ => None,
            };
            if let Some(digit) = radix {
                let end = self.digits_end(start + 2, digit);
                if end > start + 2 {
                    return end;
                }
            }
        }
        let mut i = self.digits_end(start, u8::is_ascii_digit);
        // `1..5` is an integer and `..`.
        if self.byte(i) == Some(b'.') && self.byte(i + 1) != Some(b'.') {
            i = self.digits_end(i + 1, u8::is_ascii_digit);
        }
        if matches!(self.byte(i), Some(b'e' | b'E')) {
            let mut j = i + 1;
            if matches!(self.byte(j), Some(b'+' | b'-')) {
                j += 1;
            }
            if self.byte(j).is_some_and(|b| b.is_ascii_digit()) {
                i = self.digits_end(j, u8::is_ascii_digit);
            }
        }
        i
    }

    /// `$n`, `$$...$$`, `$tag$...$tag$`, or a lone `$`.
    fn dollar(&self, start: usize) -> (TokenKind, usize, bool) {
        if self.byte(start + 1).is_some_and(|b| b.is_ascii_digit()) {
            return (
                TokenKind::Param,
                self.digits_end(start + 1, u8::is_ascii_digit),
                true,
            );
        }
        let mut i = start + 1;
        if self.byte(i).is_some_and(is_ident_start) {
            while self.byte(i).is_some_and(is_tag_byte) {
                i += 1;
            }
        }
        if self.byte(i) != Some(b'$') {
            return (TokenKind::Punct, start + 1, true);
        }
        let delim = self.sql().get(start..=i).unwrap_or_default();
        let body = i + 1;
        match find(self.rest(body), delim) {
            Some(at) => (TokenKind::String, body + at + delim.len(), true),
            None => (TokenKind::String, self.sql().len(), false),
        }
    }

    /// End of a nested `/* */` comment starting at `start`: `(end, closed)`.
    fn block_comment_end(&self, start: usize) -> (usize, bool) {
        let mut depth = 0u32;
        let mut i = start;
        loop {
            let rest = self.rest(i);
            let Some(at) = rest.iter().position(|&b| b == b'*' || b == b'/') else {
                return (self.sql().len(), false);
            };
            i += at;
            match (self.byte(i), self.byte(i + 1)) {
                (Some(b'/'), Some(b'*')) => {
                    depth += 1;
                    i += 2;
                }
                (Some(b'*'), Some(b'/')) => {
                    depth = depth.saturating_sub(1);
                    i += 2;
                    if depth == 0 {
                        return (i, true);
                    }
                }
                _ => i += 1,
            }
        }
    }

    /// An operator: a run of operator characters, cut before `--` or `/*`; a trailing `+` or
    /// `-` is dropped unless the run holds one of `~ ! @ # % ^ & | ` ?` (`=-1` is `=`, `-1`).
    fn operator(&self, start: usize) -> usize {
        let mut end = start + 1;
        while let Some(b) = self.byte(end).filter(|&b| is_op_char(b)) {
            let next = self.byte(end + 1);
            if (b == b'-' && next == Some(b'-')) || (b == b'/' && next == Some(b'*')) {
                break;
            }
            end += 1;
        }
        let run = self.sql().get(start..end).unwrap_or_default();
        if run.len() > 1
            && matches!(run.last(), Some(b'+' | b'-'))
            && !run.iter().any(|b| b"~!@#%^&|`?".contains(b))
        {
            while end > start + 1 && matches!(self.byte(end - 1), Some(b'+' | b'-')) {
                end -= 1;
            }
        }
        end
    }

    fn token_at(&self, start: usize, b: u8) -> (TokenKind, usize, bool) {
        let next = self.byte(start + 1);
        match b {
            b'\'' => {
                let (e, c) = self.quoted(start + 1, b'\'', false);
                (TokenKind::String, e, c)
            }
            b'"' => {
                let (e, c) = self.quoted(start + 1, b'"', false);
                (TokenKind::QuotedIdent, e, c)
            }
            b'$' => self.dollar(start),
            b'-' if next == Some(b'-') => {
                (TokenKind::Comment, self.line_comment_end(start, true), true)
            }
            b'/' if next == Some(b'*') => {
                let (e, c) = self.block_comment_end(start);
                (TokenKind::Comment, e, c)
            }
            b';' => (TokenKind::Semicolon, start + 1, true),
            b'0'..=b'9' => (TokenKind::Number, self.number(start), true),
            b'.' if next.is_some_and(|c| c.is_ascii_digit()) => {
                (TokenKind::Number, self.number(start), true)
            }
            b'.' if next == Some(b'.') => (TokenKind::Punct, start + 2, true),
            b':' if matches!(next, Some(b':' | b'=')) => (TokenKind::Punct, start + 2, true),
            _ if is_ident_start(b) => self.word(start),
            _ if is_op_char(b) => (TokenKind::Punct, self.operator(start), true),
            _ => (TokenKind::Punct, start + 1, true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TokenKind::*;

    fn lex(sql: &[u8]) -> Vec<(TokenKind, &[u8])> {
        crate::lex::tests::tokens::<Postgres>(sql)
    }

    #[test]
    fn words_numbers_params() {
        crate::lex::tests::numbers_alike::<Postgres>();
        assert_eq!(
            lex(b"SELECT a$1, 0o17, 0b01, 1_000, $1, $23 FROM t"),
            vec![
                (Word, &b"SELECT"[..]),
                (Word, b"a$1"),
                (Punct, b","),
                (Number, b"0o17"),
                (Punct, b","),
                (Number, b"0b01"),
                (Punct, b","),
                (Number, b"1_000"),
                (Punct, b","),
                (Param, b"$1"),
                (Punct, b","),
                (Param, b"$23"),
                (Word, b"FROM"),
                (Word, b"t"),
            ]
        );
        assert_eq!(
            lex(b"1..5"),
            vec![(Number, &b"1"[..]), (Punct, b".."), (Number, b"5")]
        );
    }

    #[test]
    fn strings() {
        assert_eq!(
            lex(br#"'it''s' 'a\' E'b\'c' e'\\' N'n' U&'d\0061' B'01' x'0F' "q""x" U&"i""#),
            vec![
                (String, &br"'it''s'"[..]),
                (String, br"'a\'"),
                (String, br"E'b\'c'"),
                (String, br"e'\\'"),
                (String, b"N'n'"),
                (String, br"U&'d\0061'"),
                (Number, b"B'01'"),
                (Number, b"x'0F'"),
                (QuotedIdent, br#""q""x""#),
                (QuotedIdent, br#"U&"i""#),
            ]
        );
        // A prefix is a prefix only when it is the whole word.
        assert_eq!(lex(b"abe'x'"), vec![(Word, &b"abe"[..]), (String, b"'x'")]);
        assert_eq!(
            lex(b"u &'x'"),
            vec![(Word, &b"u"[..]), (Punct, b"&"), (String, b"'x'")]
        );
        let t: Vec<Token> = Lexer::new(b"'abc").collect();
        assert_eq!((t.len(), t[0].end(), t[0].closed), (1, 4, false));
        let t: Vec<Token> = Lexer::new(br"E'abc\").collect();
        assert_eq!((t.len(), t[0].end(), t[0].closed), (1, 6, false));
        let t: Vec<Token> = Lexer::new(br"E'\''").collect();
        assert_eq!((t.len(), t[0].closed), (1, true));
    }

    #[test]
    fn dollar_quotes() {
        assert_eq!(
            lex(b"$$a;'b$$ $fn$ x $$ y $fn$ $Fn$$fn$$Fn$"),
            vec![
                (String, &b"$$a;'b$$"[..]),
                (String, b"$fn$ x $$ y $fn$"),
                (String, b"$Fn$$fn$$Fn$"),
            ]
        );
        assert_eq!(
            lex(b"$1$ $a b$"),
            vec![
                (Param, &b"$1"[..]),
                (Punct, b"$"),
                (Punct, b"$"),
                (Word, b"a"),
                (Word, b"b$"),
            ]
        );
        let t: Vec<Token> = Lexer::new(b"$x$ open $y$").collect();
        assert_eq!((t.len(), t[0].kind, t[0].closed), (1, String, false));
        // A `$` inside a word is part of the word, not a quote.
        assert_eq!(lex(b"a$$b"), vec![(Word, &b"a$$b"[..])]);
    }

    #[test]
    fn comments() {
        assert_eq!(
            lex(b"a --c\nb /* x /* y */ z */ c/**/d -- tail"),
            vec![
                (Word, &b"a"[..]),
                (Comment, b"--c"),
                (Word, b"b"),
                (Comment, b"/* x /* y */ z */"),
                (Word, b"c"),
                (Comment, b"/**/"),
                (Word, b"d"),
                (Comment, b"-- tail"),
            ]
        );
        let t: Vec<Token> = Lexer::new(b"/* a /* b */ open").collect();
        assert_eq!((t.len(), t[0].kind, t[0].closed), (1, Comment, false));
        assert_eq!(lex(b"'--' x"), vec![(String, &b"'--'"[..]), (Word, b"x")]);
    }

    #[test]
    fn operators() {
        assert_eq!(
            lex(b"a::int=-1 b<>c!=d->>'k' e||f @> g := h => i ? j *-- c\n"),
            vec![
                (Word, &b"a"[..]),
                (Punct, b"::"),
                (Word, b"int"),
                (Punct, b"="),
                (Punct, b"-"),
                (Number, b"1"),
                (Word, b"b"),
                (Punct, b"<>"),
                (Word, b"c"),
                (Punct, b"!="),
                (Word, b"d"),
                (Punct, b"->>"),
                (String, b"'k'"),
                (Word, b"e"),
                (Punct, b"||"),
                (Word, b"f"),
                (Punct, b"@>"),
                (Word, b"g"),
                (Punct, b":="),
                (Word, b"h"),
                (Punct, b"=>"),
                (Word, b"i"),
                (Punct, b"?"),
                (Word, b"j"),
                (Punct, b"*"),
                (Comment, b"-- c"),
            ]
        );
        assert_eq!(lex(b"@-"), vec![(Punct, &b"@-"[..])]);
        assert_eq!(
            lex(b"*/*x*/"),
            vec![(Punct, &b"*"[..]), (Comment, b"/*x*/")]
        );
        assert_eq!(
            lex(b"(a);[1]"),
            vec![
                (Punct, &b"("[..]),
                (Word, b"a"),
                (Punct, b")"),
                (Semicolon, b";"),
                (Punct, b"["),
                (Number, b"1"),
                (Punct, b"]"),
            ]
        );
    }

    #[test]
    fn at_end_is_only_whitespace() {
        assert!(Lexer::new(b" \t\n").at_end());
        assert!(!Lexer::new(b" -- x").at_end());
    }
}
