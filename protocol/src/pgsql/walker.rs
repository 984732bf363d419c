//! Splits a statement text into statements at top-level `;`, without allocating, and tells
//! which tokens run now.
//!
//! Like psql: in `CREATE [OR REPLACE] FUNCTION | PROCEDURE`, a `;` inside a SQL-standard body
//! (`BEGIN ATOMIC ... END`, with `CASE ... END` inside) does not end the statement.

use super::keywords::{kw, Kw};
use super::kind::{head, Body, Head};
use super::lexer::{Lexer, Token, TokenKind};

/// Walks the statements of a text and the tokens (comments included) of each.
pub(crate) struct Walker<'a> {
    lex: Lexer<'a>,
    head: Head,
    depth: i64,
    blocks: u32,
    in_statement: bool,
    running: bool,
    /// The next token starts the running part (after `AS`).
    arm: bool,
}

impl<'a> Walker<'a> {
    /// A walker before the first statement of `sql`.
    pub(crate) fn new(sql: &'a [u8]) -> Self {
        Walker {
            lex: Lexer::new(sql),
            head: head(Lexer::new(b"")),
            depth: 0,
            blocks: 0,
            in_statement: false,
            running: false,
            arm: false,
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
    pub(crate) fn next_statement(&mut self) -> Option<Head> {
        while self.next_token().is_some() {}
        if self.lex.at_end() {
            return None;
        }
        self.head = head(self.lex.clone());
        self.depth = 0;
        self.blocks = 0;
        self.in_statement = true;
        self.running = self.head.body == Body::Runs;
        self.arm = false;
        Some(self.head)
    }

    /// The next token of the current statement, comments included; None at its end
    /// (the `;` that ends it is consumed).
    #[inline]
    pub(crate) fn next_token(&mut self) -> Option<Token> {
        if !self.in_statement {
            return None;
        }
        if self.arm {
            self.running = true;
            self.arm = false;
        }
        let Some(t) = self.lex.next() else {
            self.in_statement = false;
            return None;
        };
        match t.kind {
            TokenKind::Semicolon if self.blocks == 0 => {
                self.in_statement = false;
                return None;
            }
            TokenKind::Punct => match t.text(self.lex.sql()) {
                b"(" => self.depth += 1,
                b")" => self.depth -= 1,
                _ => {}
            },
            TokenKind::Word
                if self.depth == 0
                    && (self.head.block
                        || (self.head.body == Body::AfterAs && !self.running && !self.arm)) =>
            {
                self.track_word(&t);
            }
            _ => {}
        }
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

    /// Whether the last token returned is part of what the statement runs now (not a
    /// definition's body, not a plain EXPLAIN's statement).
    pub(crate) fn running(&self) -> bool {
        self.running
    }

    /// Parenthesis depth after the last token returned.
    pub(crate) fn depth(&self) -> i64 {
        self.depth
    }

    /// A copy of the underlying lexer at the current position, to look ahead with.
    pub(crate) fn clone_lexer(&self) -> Lexer<'a> {
        self.lex.clone()
    }

    /// The next non-comment token, without moving (it may lie past the statement's end).
    pub(crate) fn peek_sig(&self) -> Option<Token> {
        self.lex.peek_sig()
    }

    fn track_word(&mut self, t: &Token) {
        match kw(self.lex.sql(), t) {
            Some(Kw::AS) if self.head.body == Body::AfterAs => self.arm = true,
            Some(Kw::BEGIN) if self.head.block => self.blocks += 1,
            Some(Kw::CASE) if self.head.block && self.blocks > 0 => self.blocks += 1,
            Some(Kw::END) if self.head.block => self.blocks = self.blocks.saturating_sub(1),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each statement's text from its first to its last significant token.
    fn split(sql: &str) -> Vec<&str> {
        let mut w = Walker::new(sql.as_bytes());
        let mut out = Vec::new();
        while let Some(h) = w.next_statement() {
            let mut range: Option<(usize, usize)> = None;
            while let Some(t) = w.next_sig() {
                range = Some((range.map_or(t.start(), |r| r.0), t.end()));
            }
            if !h.empty {
                let (a, b) = range.unwrap();
                out.push(&sql[a..b]);
            }
        }
        out
    }

    #[test]
    fn splits_at_top_level_semicolons() {
        assert_eq!(
            split("SELECT 1; SELECT ';' ;;"),
            vec!["SELECT 1", "SELECT ';'"]
        );
        assert_eq!(
            split("SELECT 1 -- ; x\n; /* ; /* ; */ ; */"),
            vec!["SELECT 1"]
        );
        assert_eq!(split(""), Vec::<&str>::new());
        assert_eq!(split(";"), Vec::<&str>::new());
        assert_eq!(
            split("DO $$ BEGIN PERFORM 1; END $$; SELECT 2"),
            vec!["DO $$ BEGIN PERFORM 1; END $$", "SELECT 2"]
        );
        assert_eq!(
            split("SELECT E'\\';'; SELECT \"a;b\""),
            vec!["SELECT E'\\';'", "SELECT \"a;b\""]
        );
    }

    #[test]
    fn sql_standard_bodies_keep_their_semicolons() {
        let f = "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC \
                 SELECT CASE WHEN true THEN 1 END; SELECT 2; END";
        let text = format!("{f}; SELECT 3");
        assert_eq!(split(&text), vec![f, "SELECT 3"]);
        let p = "CREATE PROCEDURE p() BEGIN ATOMIC INSERT INTO t VALUES (1); END";
        assert_eq!(split(&format!("{p};COMMIT")), vec![p, "COMMIT"]);
        // Outside routine definitions BEGIN is a transaction.
        assert_eq!(
            split("BEGIN; SELECT CASE WHEN 1 THEN 2 END; COMMIT").len(),
            3
        );
        // An unbalanced END never underflows.
        assert_eq!(split("CREATE FUNCTION f() END END; SELECT 1").len(), 2);
    }

    #[test]
    fn running_parts() {
        let sql = b"CREATE TABLE t (a int DEFAULT f()) AS SELECT g()";
        let mut w = Walker::new(sql);
        w.next_statement();
        let mut seen = Vec::new();
        while let Some(t) = w.next_sig() {
            if w.running() {
                seen.push(t.text(sql));
            }
        }
        assert_eq!(seen, vec![&b"SELECT"[..], b"g", b"(", b")"]);
    }
}
