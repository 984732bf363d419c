//! The MySQL/MariaDB dialect of the [`Lexer`](crate::lex::Lexer): what each byte starts.
//!
//! MySQL/MariaDB lexical rules with the default `sql_mode` (backslash escapes on,
//! `"..."` is a string). Whitespace is skipped; comments (`-- `, `#`, `/* */`, optimizer
//! hints `/*+ */`) come out as [`TokenKind::Comment`] tokens. Executable comments
//! (`/*! ... */`, `/*!50001 ... */`, MariaDB's `/*M!100100 ... */`) are transparent: their
//! markers are skipped like whitespace and their content is lexed as SQL. Input need not be
//! UTF-8; bytes >= 0x80 are identifier bytes. Unterminated strings and comments run to the
//! end of the input ([`Token::closed`] is false). Every call makes progress; nothing panics.

pub(crate) use crate::lex::{find_either, is_ident_byte, is_space, Token, TokenKind};
use crate::lex::{Dialect, Lexer as Cursor};

/// The MySQL dialect; its lexer state: inside an executable comment (`/*! ... */`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MySql {
    in_exec: bool,
}

/// A MySQL-dialect lexer.
pub(crate) type Lexer<'a> = Cursor<'a, MySql>;

/// Identifier bytes that can start a word: letters, `_`, `$`, bytes >= 0x80.
const WORD: u8 = 1;
/// Digits: identifier bytes too, but they start numbers.
const DIGIT: u8 = 2;

/// What a byte starts, one table lookup instead of a chain of comparisons.
static STARTS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_digit() {
            t[b] = DIGIT;
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c >= 0x80 {
            t[b] = WORD;
        }
        b += 1;
    }
    t
};

impl Dialect for MySql {
    #[inline(always)]
    fn next_token(lx: &mut Lexer<'_>) -> Option<Token> {
        let mut space = false;
        let b = loop {
            let pos = lx.offset();
            let b = lx.byte(pos)?;
            if is_space(b) {
                lx.skip(1);
            } else if lx.state.in_exec && b == b'*' && lx.byte(pos + 1) == Some(b'/') {
                lx.skip(2);
                lx.state.in_exec = false;
            } else if let Some(len) = (b == b'/').then(|| lx.exec_opener(pos)).flatten() {
                lx.skip(len);
                lx.state.in_exec = true;
            } else {
                break b;
            }
            space = true;
        };
        let start = lx.offset();
        let (kind, end, closed) = lx.token_at(start, b, !space && start > 0);
        Some(lx.emit(kind, end, closed, space))
    }

    /// Only whitespace and executable-comment markers are left.
    fn at_end(lx: &Lexer<'_>) -> bool {
        let rest = lx.rest(lx.offset());
        let Some(at) = rest.iter().position(|&b| !is_space(b)) else {
            return true;
        };
        let at = lx.offset() + at;
        let marker = match lx.byte(at) {
            Some(b'*') => lx.state.in_exec && lx.byte(at + 1) == Some(b'/'),
            Some(b'/') => lx.exec_opener(at).is_some(),
            _ => false,
        };
        marker && lx.clone().next().is_none()
    }
}

impl Lexer<'_> {
    /// Length of an executable-comment opener at `at` (`/*!`, `/*!50001`, `/*M!100100`).
    fn exec_opener(&self, at: usize) -> Option<usize> {
        let rest = self.rest(at);
        let skip = if rest.starts_with(b"/*!") {
            3
        } else if rest.starts_with(b"/*M!") {
            4
        } else {
            return None;
        };
        let digits = rest
            .get(skip..)
            .unwrap_or_default()
            .iter()
            .take(6)
            .take_while(|b| b.is_ascii_digit())
            .count();
        // MySQL versions are 5 digits, MariaDB's may be 6; fewer digits are content.
        Some(skip + if digits >= 5 { digits } else { 0 })
    }

    /// End of a dotted name (`@@session.x`, `@a.b`) from `from`.
    #[inline]
    fn dotted_end(&self, from: usize) -> usize {
        let rest = self.rest(from);
        from + rest
            .iter()
            .position(|&b| !is_ident_byte(b) && b != b'.')
            .unwrap_or(rest.len())
    }

    /// The last byte of the previous token when it ends right at `start` (`glued`: nothing,
    /// not even a comment or an executable-comment marker, in between).
    fn glued_to(&self, start: usize, glued: bool) -> Option<u8> {
        if glued {
            self.byte(start.checked_sub(1)?)
        } else {
            None
        }
    }

    /// A word, or a literal spelled with a one-letter or `_charset` prefix.
    #[inline(always)]
    fn word(&self, start: usize) -> (TokenKind, usize, bool) {
        let end = self.ident_end(start);
        if self.byte(end) == Some(b'\'') {
            let len = end - start;
            let first = self.byte(start).unwrap_or(0);
            let lower = first | 0x20;
            if len == 1 && (lower == b'x' || lower == b'b') {
                let (e, c) = self.quoted(end + 1, b'\'', false);
                return (TokenKind::Number, e, c);
            }
            if (len == 1 && lower == b'n') || (len > 1 && first == b'_') {
                let (e, c) = self.quoted(end + 1, b'\'', true);
                return (TokenKind::String, e, c);
            }
        }
        (TokenKind::Word, end, true)
    }

    #[inline]
    fn digits_end(&self, from: usize) -> usize {
        let rest = self.rest(from);
        from + rest
            .iter()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(rest.len())
    }

    #[inline]
    fn number(&self, start: usize) -> (TokenKind, usize, bool) {
        if self.byte(start) == Some(b'0') {
            let hex = match self.byte(start + 1) {
                Some(b'x' | b'X') => Some(true),
                Some(b'b' | b'B') => Some(false),
                _ => None,
            };
            if let Some(hex) = hex {
                let rest = self.rest(start + 2);
                let n = rest
                    .iter()
                    .position(|&b| {
                        !(if hex {
                            b.is_ascii_hexdigit()
                        } else {
                            b == b'0' || b == b'1'
                        })
                    })
                    .unwrap_or(rest.len());
                let end = start + 2 + n;
                if n > 0 && !self.byte(end).is_some_and(is_ident_byte) {
                    return (TokenKind::Number, end, true);
                }
                return self.word(start);
            }
        }
        let mut i = self.digits_end(start);
        let mut plain = true;
        if self.byte(i) == Some(b'.') {
            plain = false;
            i = self.digits_end(i + 1);
        }
        if matches!(self.byte(i), Some(b'e' | b'E')) {
            let mut j = i + 1;
            if matches!(self.byte(j), Some(b'+' | b'-')) {
                j += 1;
            }
            if self.byte(j).is_some_and(|b| b.is_ascii_digit()) {
                plain = false;
                i = self.digits_end(j);
            }
        }
        if plain && self.byte(i).is_some_and(is_ident_byte) {
            // `1abc` is an identifier to MySQL.
            return self.word(start);
        }
        (TokenKind::Number, i, true)
    }

    fn variable(&self, start: usize, glued: bool) -> (TokenKind, usize, bool) {
        if self.byte(start + 1) == Some(b'@') {
            return (TokenKind::SysVar, self.dotted_end(start + 2), true);
        }
        // `'user'@'host'`, `root@localhost`: the `@` of an account name.
        if self
            .glued_to(start, glued)
            .is_some_and(|p| matches!(p, b'\'' | b'"' | b'`') || is_ident_byte(p))
        {
            return (TokenKind::Punct, start + 1, true);
        }
        match self.byte(start + 1) {
            Some(q @ (b'\'' | b'"' | b'`')) => {
                let (e, c) = self.quoted(start + 2, q, q != b'`');
                (TokenKind::UserVar, e, c)
            }
            Some(b) if is_ident_byte(b) => (TokenKind::UserVar, self.dotted_end(start + 1), true),
            _ => (TokenKind::Punct, start + 1, true),
        }
    }

    #[inline]
    fn punct(&self, start: usize) -> usize {
        let len = match (
            self.byte(start).unwrap_or(0),
            self.byte(start + 1),
            self.byte(start + 2),
        ) {
            (b'<', Some(b'='), Some(b'>')) | (b'-', Some(b'>'), Some(b'>')) => 3,
            (b':' | b'!' | b'>', Some(b'='), _)
            | (b'<', Some(b'=' | b'>' | b'<'), _)
            | (b'>', Some(b'>'), _)
            | (b'|', Some(b'|'), _)
            | (b'&', Some(b'&'), _)
            | (b'-', Some(b'>'), _) => 2,
            _ => 1,
        };
        start + len
    }

    fn block_comment_end(&self, start: usize) -> (usize, bool) {
        let mut i = start + 2;
        while let Some(star) = find_either(self.rest(i), b'*', b'*') {
            i += star + 1;
            if self.byte(i) == Some(b'/') {
                return (i + 1, true);
            }
        }
        (self.sql().len(), false)
    }

    /// The token that starts at `start` with byte `b`; `glued` when no space precedes it.
    #[inline(always)]
    fn token_at(&self, start: usize, b: u8, glued: bool) -> (TokenKind, usize, bool) {
        match STARTS[usize::from(b)] {
            WORD => return self.word(start),
            DIGIT => {
                // `t.1col`: after a qualifying dot this is a name, not a number.
                if self.glued_to(start, glued) == Some(b'.') {
                    return (TokenKind::Word, self.ident_end(start), true);
                }
                return self.number(start);
            }
            _ => {}
        }
        let next = self.byte(start + 1);
        match b {
            b'\'' | b'"' => {
                let (e, c) = self.quoted(start + 1, b, true);
                let kind = if b == b'\'' {
                    TokenKind::String
                } else {
                    TokenKind::DoubleQuoted
                };
                (kind, e, c)
            }
            b'`' => {
                let (e, c) = self.quoted(start + 1, b, false);
                (TokenKind::QuotedIdent, e, c)
            }
            b'#' => (
                TokenKind::Comment,
                self.line_comment_end(start, false),
                true,
            ),
            b'-' if next == Some(b'-') && !matches!(self.byte(start + 2), Some(c) if c > b' ') => (
                TokenKind::Comment,
                self.line_comment_end(start, false),
                true,
            ),
            b'/' if next == Some(b'*') => {
                let (e, c) = self.block_comment_end(start);
                (TokenKind::Comment, e, c)
            }
            b'?' => (TokenKind::Placeholder, start + 1, true),
            b';' => (TokenKind::Semicolon, start + 1, true),
            b'@' => self.variable(start, glued),
            // `.5` is a number, `t.5` a qualified name.
            b'.' if next.is_some_and(|c| c.is_ascii_digit())
                && !self
                    .glued_to(start, glued)
                    .is_some_and(|p| p == b'`' || is_ident_byte(p)) =>
            {
                self.number(start)
            }
            _ => (TokenKind::Punct, self.punct(start), true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TokenKind::*;

    #[test]
    fn words_numbers_punct() {
        crate::lex::tests::numbers_alike::<MySql>();
        assert_eq!(
            lex(b"SELECT a1, 0b01 FROM t"),
            vec![
                (Word, &b"SELECT"[..]),
                (Word, b"a1"),
                (Punct, b","),
                (Number, b"0b01"),
                (Word, b"FROM"),
                (Word, b"t"),
            ]
        );
    }

    #[test]
    fn identifiers_that_start_with_digits() {
        assert_eq!(lex(b"1abc"), vec![(Word, &b"1abc"[..])]);
        assert_eq!(lex(b"0xZZ"), vec![(Word, &b"0xZZ"[..])]);
        assert_eq!(
            lex(b"t.1c"),
            vec![(Word, &b"t"[..]), (Punct, b"."), (Word, b"1c")]
        );
        assert_eq!(
            lex(b"t.5"),
            vec![(Word, &b"t"[..]), (Punct, b"."), (Word, b"5")]
        );
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(
            lex(br#"'it''s' 'a\'b' "q""x" `b``t` N'n' _utf8mb4'u' X'0F' b'01'"#),
            vec![
                (String, &br"'it''s'"[..]),
                (String, br"'a\'b'"),
                (DoubleQuoted, br#""q""x""#),
                (QuotedIdent, b"`b``t`"),
                (String, b"N'n'"),
                (String, b"_utf8mb4'u'"),
                (Number, b"X'0F'"),
                (Number, b"b'01'"),
            ]
        );
        let t: Vec<Token> = Lexer::new(b"'abc").collect();
        assert_eq!((t.len(), t[0].end(), t[0].closed), (1, 4, false));
        let t: Vec<Token> = Lexer::new(br"'abc\").collect();
        assert_eq!((t.len(), t[0].end(), t[0].closed), (1, 5, false));
    }

    #[test]
    fn backticks_have_no_backslash_escapes() {
        assert_eq!(
            lex(br"`a\` x"),
            vec![(QuotedIdent, &br"`a\`"[..]), (Word, b"x")]
        );
    }

    #[test]
    fn comments() {
        assert_eq!(
            lex(b"a -- c\nb #x\nc /* d */ e /*+ hint */ f --x"),
            vec![
                (Word, &b"a"[..]),
                (Comment, b"-- c"),
                (Word, b"b"),
                (Comment, b"#x"),
                (Word, b"c"),
                (Comment, b"/* d */"),
                (Word, b"e"),
                (Comment, b"/*+ hint */"),
                (Word, b"f"),
                (Punct, b"-"),
                (Punct, b"-"),
                (Word, b"x"),
            ]
        );
        assert_eq!(lex(b"a--"), vec![(Word, &b"a"[..]), (Comment, b"--")]);
        assert_eq!(
            lex(b"1--\t1"),
            vec![(Number, &b"1"[..]), (Comment, b"--\t1")]
        );
        let t: Vec<Token> = Lexer::new(b"/* open").collect();
        assert_eq!((t[0].kind, t[0].closed), (Comment, false));
    }

    #[test]
    fn executable_comments_are_sql() {
        assert_eq!(
            lex(b"/*!50001 CREATE */ x /*! y*/ /*M!100100 z */"),
            vec![
                (Word, &b"CREATE"[..]),
                (Word, b"x"),
                (Word, b"y"),
                (Word, b"z")
            ]
        );
        assert_eq!(lex(b"/*!12 x*/"), vec![(Number, &b"12"[..]), (Word, b"x")]);
        assert_eq!(
            lex(b"/*!40101 a /* in */ b */ c"),
            vec![
                (Word, &b"a"[..]),
                (Comment, b"/* in */"),
                (Word, b"b"),
                (Word, b"c")
            ]
        );
        // Outside an executable comment `*/` is two operators.
        assert_eq!(lex(b"*/"), vec![(Punct, &b"*"[..]), (Punct, b"/")]);
        let t: Vec<Token> = Lexer::new(b"/*!50001 SELECT*/1").collect();
        assert!(t[1].space_before);
    }

    #[test]
    fn variables() {
        assert_eq!(
            lex(b"@a @'q x' @`b` @\"c\" @@v @@session.sql_mode @@GLOBAL.x @a.b @"),
            vec![
                (UserVar, &b"@a"[..]),
                (UserVar, b"@'q x'"),
                (UserVar, b"@`b`"),
                (UserVar, b"@\"c\""),
                (SysVar, b"@@v"),
                (SysVar, b"@@session.sql_mode"),
                (SysVar, b"@@GLOBAL.x"),
                (UserVar, b"@a.b"),
                (Punct, b"@"),
            ]
        );
        assert_eq!(
            lex(b"'u'@'h' root@localhost"),
            vec![
                (String, &b"'u'"[..]),
                (Punct, b"@"),
                (String, b"'h'"),
                (Word, b"root"),
                (Punct, b"@"),
                (Word, b"localhost"),
            ]
        );
    }

    #[test]
    fn operators() {
        assert_eq!(
            lex(b"@x:=1<=>2->>'$'<>3!=4||5&&6<<7;?"),
            vec![
                (UserVar, &b"@x"[..]),
                (Punct, b":="),
                (Number, b"1"),
                (Punct, b"<=>"),
                (Number, b"2"),
                (Punct, b"->>"),
                (String, b"'$'"),
                (Punct, b"<>"),
                (Number, b"3"),
                (Punct, b"!="),
                (Number, b"4"),
                (Punct, b"||"),
                (Number, b"5"),
                (Punct, b"&&"),
                (Number, b"6"),
                (Punct, b"<<"),
                (Number, b"7"),
                (Semicolon, b";"),
                (Placeholder, b"?"),
            ]
        );
    }

    fn lex(sql: &[u8]) -> Vec<(TokenKind, &[u8])> {
        crate::lex::tests::tokens::<MySql>(sql)
    }
}
