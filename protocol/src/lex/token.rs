//! [`Token`]: what the lexer of either dialect hands out, a kind and a byte range.

/// What a token is. One set for both dialects: each lexer produces the kinds its dialect has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// An unquoted identifier or keyword.
    Word,
    /// A quoted identifier: MySQL `` `x` ``, PostgreSQL `"x"` or `U&"x"`.
    QuotedIdent,
    /// A string: `'..'` and every prefixed or dollar-quoted form of the dialect.
    String,
    /// MySQL's `"..."`: a string by default, an identifier under ANSI_QUOTES.
    DoubleQuoted,
    /// A number, also hex and bit literals (`0x..`, `X'..'`, `B'..'`).
    Number,
    /// MySQL's `?` placeholder.
    Placeholder,
    /// PostgreSQL's `$n` parameter.
    Param,
    /// MySQL's user variable: `@x`, `@'x'`, `` @`x` ``, `@"x"`.
    UserVar,
    /// MySQL's system variable: `@@x`, `@@session.x`, `@@global.x`.
    SysVar,
    /// An operator or punctuation.
    Punct,
    /// A `;` statement separator.
    Semicolon,
    /// A comment (`/* */`, `-- `, MySQL's `#` and optimizer hints).
    Comment,
}

/// One token: its kind and where it is in the input (12 bytes, so it travels in registers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    /// What it is.
    pub kind: TokenKind,
    from: u32,
    to: u32,
    /// Whitespace, a comment or (MySQL) an executable-comment marker comes before it.
    pub space_before: bool,
    /// False for a string, quoted name or comment that runs to the end of the input.
    pub closed: bool,
}

impl Token {
    /// A token over `from..to` (both within the lexer's input, at most `u32::MAX`).
    #[inline]
    pub(crate) fn new(kind: TokenKind, from: usize, to: usize, space: bool, closed: bool) -> Self {
        Token {
            kind,
            from: from as u32,
            to: to as u32,
            space_before: space,
            closed,
        }
    }

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

    /// Whether this is a string literal (MySQL's `"..."` included).
    #[inline]
    pub(crate) fn is_string(&self) -> bool {
        matches!(self.kind, TokenKind::String | TokenKind::DoubleQuoted)
    }

    /// Whether this is a literal or a parameter: what a digest turns into `?`.
    #[inline]
    pub(crate) fn is_literal(&self) -> bool {
        matches!(
            self.kind,
            TokenKind::String
                | TokenKind::DoubleQuoted
                | TokenKind::Number
                | TokenKind::Placeholder
                | TokenKind::Param
        )
    }
}
