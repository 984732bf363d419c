//! The tokenizer: statement bytes in, tokens (kind + byte range) out, no allocation.
//!
//! MySQL/MariaDB lexical rules with the default `sql_mode` (backslash escapes on,
//! `"..."` is a string). Whitespace is skipped; comments (`-- `, `#`, `/* */`, optimizer
//! hints `/*+ */`) come out as [`TokenKind::Comment`] tokens. Executable comments
//! (`/*! ... */`, `/*!50001 ... */`, MariaDB's `/*M!100100 ... */`) are transparent: their
//! markers are skipped like whitespace and their content is lexed as SQL. Input need not be
//! UTF-8; bytes >= 0x80 are identifier bytes. Unterminated strings and comments run to the
//! end of the input ([`Token::closed`] is false). Every call makes progress; nothing panics.

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// An unquoted identifier or keyword.
    Word,
    /// A backtick-quoted identifier.
    QuotedIdent,
    /// A single-quoted string, also `N'..'` and `_charset'..'`.
    String,
    /// A double-quoted string (an identifier under ANSI_QUOTES).
    DoubleQuoted,
    /// A number: integer, decimal, exponent, `0x..`, `0b..`, `X'..'`, `B'..'`.
    Number,
    /// A `?` placeholder.
    Placeholder,
    /// A user variable: `@x`, `@'x'`, `` @`x` ``, `@"x"`.
    UserVar,
    /// A system variable: `@@x`, `@@session.x`, `@@global.x`.
    SysVar,
    /// An operator or punctuation: one to three bytes (`:=`, `<=>`, `->>`, ...).
    Punct,
    /// A `;` statement separator.
    Semicolon,
    /// A comment: `-- `, `#`, `/* */`, an optimizer hint `/*+ */`.
    Comment,
}

/// One token: its kind and where it is in the input (12 bytes, so it travels in registers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    /// What it is.
    pub kind: TokenKind,
    from: u32,
    to: u32,
    /// Whitespace, a comment or an executable-comment marker comes before it.
    pub space_before: bool,
    /// False for a string, quoted name or comment that runs to the end of the input.
    pub closed: bool,
}

impl Token {
    /// Offset of its first byte.
    #[inline]
    pub(crate) fn start(&self) -> usize {
        self.from as usize
    }

    /// Offset one past its last byte.
    #[inline]
    pub(crate) fn end(&self) -> usize {
        self.to as usize
    }

    /// The token's bytes.
    #[inline]
    pub(crate) fn text<'a>(&self, sql: &'a [u8]) -> &'a [u8] {
        sql.get(self.start()..self.end()).unwrap_or_default()
    }

    /// Whether this is the punctuation `p`.
    #[inline]
    pub(crate) fn is_punct(&self, sql: &[u8], p: &[u8]) -> bool {
        self.kind == TokenKind::Punct && self.text(sql) == p
    }
}

const SPACE: u8 = 1;
/// Any identifier byte (a bit, set together with WORD or DIGIT).
const IDENT: u8 = 2;
/// Identifier bytes that can start a word: letters, `_`, `$`, bytes >= 0x80.
const WORD: u8 = IDENT | 4;
/// Digits: identifier bytes too, but they start numbers.
const DIGIT: u8 = IDENT | 8;

/// Byte classes, one table lookup instead of a chain of comparisons.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C) {
            t[b] = SPACE;
        } else if c.is_ascii_digit() {
            t[b] = DIGIT;
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c >= 0x80 {
            t[b] = WORD;
        }
        b += 1;
    }
    t
};

/// Whether `b` is whitespace to MySQL.
#[inline]
pub(crate) fn is_space(b: u8) -> bool {
    CLASS[usize::from(b)] == SPACE
}

/// Whether `b` can be part of an unquoted identifier.
#[inline]
pub(crate) fn is_ident_byte(b: u8) -> bool {
    CLASS[usize::from(b)] & IDENT != 0
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// High bit set in every byte of `x` that is zero (exact for the lowest such byte).
#[inline]
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Offset of the first byte of `hay` equal to `a` or `b`: 8 bytes at a time.
#[inline]
pub(crate) fn find_either(hay: &[u8], a: u8, b: u8) -> Option<usize> {
    let (ra, rb) = (ONES * u64::from(a), ONES * u64::from(b));
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let w = u64::from_le_bytes(w);
        let hits = zero_bytes(w ^ ra) | zero_bytes(w ^ rb);
        if hits != 0 {
            return Some(base + (hits.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    let rest = chunks.remainder();
    rest.iter()
        .position(|&c| c == a || c == b)
        .map(|p| base + p)
}

/// A cursor over the tokens of a statement text. Cheap to clone, which is how callers peek.
#[derive(Clone, Debug)]
pub(crate) struct Lexer<'a> {
    sql: &'a [u8],
    pos: usize,
    in_exec: bool,
}

impl<'a> Lexer<'a> {
    /// A lexer at the start of `sql`. Statements are at most 1 GiB (MySQL and PostgreSQL
    /// packet limits); bytes past 4 GiB are not looked at.
    pub(crate) fn new(sql: &'a [u8]) -> Self {
        Lexer {
            sql: sql.get(..u32::MAX as usize).unwrap_or(sql),
            pos: 0,
            in_exec: false,
        }
    }

    /// The whole input.
    pub(crate) fn sql(&self) -> &'a [u8] {
        self.sql
    }

    /// The next token that is not a comment; a skipped comment counts as space before it.
    #[inline]
    pub(crate) fn next_sig(&mut self) -> Option<Token> {
        let mut sep = false;
        loop {
            let mut t = self.next()?;
            if t.kind == TokenKind::Comment {
                sep = true;
                continue;
            }
            t.space_before |= sep;
            return Some(t);
        }
    }

    /// Whether no token is left (only whitespace and executable-comment markers).
    pub(crate) fn at_end(&self) -> bool {
        let rest = self.sql.get(self.pos..).unwrap_or_default();
        let Some(at) = rest.iter().position(|&b| !is_space(b)) else {
            return true;
        };
        let at = self.pos + at;
        let marker = match self.byte(at) {
            Some(b'*') => self.in_exec && self.byte(at + 1) == Some(b'/'),
            Some(b'/') => self.exec_opener(at).is_some(),
            _ => false,
        };
        marker && self.clone().next().is_none()
    }

    /// The next significant token, without moving.
    pub(crate) fn peek_sig(&self) -> Option<Token> {
        self.clone().next_sig()
    }

    #[inline]
    fn byte(&self, at: usize) -> Option<u8> {
        self.sql.get(at).copied()
    }

    /// Length of an executable-comment opener at `at` (`/*!`, `/*!50001`, `/*M!100100`).
    fn exec_opener(&self, at: usize) -> Option<usize> {
        let rest = self.sql.get(at..)?;
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

    /// Scans a quoted run whose opening quote is just before `from`: `(end, closed)`.
    fn quoted(&self, from: usize, quote: u8, backslash: bool) -> (usize, bool) {
        let mut i = from;
        loop {
            let rest = self.sql.get(i..).unwrap_or_default();
            let found = if backslash {
                find_either(rest, quote, b'\\')
            } else {
                find_either(rest, quote, quote)
            };
            let Some(at) = found else {
                return (self.sql.len(), false);
            };
            i += at;
            if self.byte(i) == Some(quote) {
                if self.byte(i + 1) != Some(quote) {
                    return (i + 1, true);
                }
                i += 2;
            } else {
                // A backslash escapes the next byte, whatever it is.
                i += 2;
            }
        }
    }

    #[inline]
    fn ident_end(&self, from: usize, dots: bool) -> usize {
        let rest = self.sql.get(from..).unwrap_or_default();
        let len = if dots {
            rest.iter().position(|&b| !is_ident_byte(b) && b != b'.')
        } else {
            rest.iter().position(|&b| !is_ident_byte(b))
        };
        from + len.unwrap_or(rest.len())
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
        let end = self.ident_end(start, false);
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
        let rest = self.sql.get(from..).unwrap_or_default();
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
                let rest = self.sql.get(start + 2..).unwrap_or_default();
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
            return (TokenKind::SysVar, self.ident_end(start + 2, true), true);
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
            Some(b) if is_ident_byte(b) => {
                (TokenKind::UserVar, self.ident_end(start + 1, true), true)
            }
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

    fn line_comment_end(&self, start: usize) -> usize {
        let rest = self.sql.get(start..).unwrap_or_default();
        start + find_either(rest, b'\n', b'\n').unwrap_or(rest.len())
    }

    fn block_comment_end(&self, start: usize) -> (usize, bool) {
        let mut i = start + 2;
        while let Some(star) = self.sql.get(i..).and_then(|r| find_either(r, b'*', b'*')) {
            i += star + 1;
            if self.byte(i) == Some(b'/') {
                return (i + 1, true);
            }
        }
        (self.sql.len(), false)
    }

    /// The token that starts at `start` with byte `b`; `glued` when no space precedes it.
    #[inline]
    fn token_at(&self, start: usize, b: u8, glued: bool) -> (TokenKind, usize, bool) {
        match CLASS[usize::from(b)] {
            WORD => return self.word(start),
            DIGIT => {
                // `t.1col`: after a qualifying dot this is a name, not a number.
                if self.glued_to(start, glued) == Some(b'.') {
                    return (TokenKind::Word, self.ident_end(start, false), true);
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
            b'#' => (TokenKind::Comment, self.line_comment_end(start), true),
            b'-' if next == Some(b'-') && !matches!(self.byte(start + 2), Some(c) if c > b' ') => {
                (TokenKind::Comment, self.line_comment_end(start), true)
            }
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

impl Iterator for Lexer<'_> {
    type Item = Token;

    #[inline(always)]
    fn next(&mut self) -> Option<Token> {
        let mut space = false;
        let b = loop {
            let b = self.byte(self.pos)?;
            if is_space(b) {
                self.pos += 1;
            } else if self.in_exec && b == b'*' && self.byte(self.pos + 1) == Some(b'/') {
                self.pos += 2;
                self.in_exec = false;
            } else if let Some(len) = (b == b'/').then(|| self.exec_opener(self.pos)).flatten() {
                self.pos += len;
                self.in_exec = true;
            } else {
                break b;
            }
            space = true;
        };
        let start = self.pos;
        let (kind, end, closed) = self.token_at(start, b, !space && start > 0);
        // Every token is at least one byte and ends inside the input.
        let end = end.max(start + 1).min(self.sql.len());
        self.pos = end;
        Some(Token {
            kind,
            // Both fit: the input is at most u32::MAX bytes.
            from: start as u32,
            to: end as u32,
            space_before: space,
            closed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TokenKind::*;

    fn lex(sql: &[u8]) -> Vec<(TokenKind, &[u8])> {
        Lexer::new(sql).map(|t| (t.kind, t.text(sql))).collect()
    }

    #[test]
    fn words_numbers_punct() {
        assert_eq!(
            lex(b"SELECT a1, 42, 1.5e-3, .5, 0x1F, 0b01 FROM t"),
            vec![
                (Word, &b"SELECT"[..]),
                (Word, b"a1"),
                (Punct, b","),
                (Number, b"42"),
                (Punct, b","),
                (Number, b"1.5e-3"),
                (Punct, b","),
                (Number, b".5"),
                (Punct, b","),
                (Number, b"0x1F"),
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

    #[test]
    fn find_either_agrees_with_a_plain_search() {
        let hay: Vec<u8> = (0..300u32).map(|i| (i * 37 % 251) as u8).collect();
        for start in 0..40 {
            for len in [0, 1, 7, 8, 9, 15, 16, 17, 100, 260] {
                let h = &hay[start..(start + len).min(hay.len())];
                for (a, b) in [
                    (b'*', b'*'),
                    (0, 0x80),
                    (b'\'', b'\\'),
                    (0xFF, 1),
                    (200, 201),
                ] {
                    assert_eq!(
                        find_either(h, a, b),
                        h.iter().position(|&c| c == a || c == b),
                        "{start} {len} {a} {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn space_before_and_non_utf8() {
        let sql = b"a/**/b c\xff\xfe d";
        let mut lx = Lexer::new(sql);
        let a = lx.next_sig().unwrap();
        let b = lx.next_sig().unwrap();
        let c = lx.next_sig().unwrap();
        assert!(!a.space_before && b.space_before && c.space_before);
        assert_eq!(c.text(sql), b"c\xff\xfe");
    }
}
