//! Splits a statement text into statements at top-level `;`, without allocating.
//!
//! Inside a stored program definition or MariaDB's `BEGIN NOT ATOMIC ... END`, a `;` within
//! `BEGIN ... END` (or `CASE`, `LOOP`, `WHILE`, `REPEAT` blocks) does not end the statement:
//! the server receives the whole definition as one statement.

use super::keywords::{kw, Kw};
use super::kind::{head, Head};
use super::lexer::{Lexer, Token, TokenKind};

/// Walks the statements of a text and the tokens (comments included) of each.
pub(crate) struct Walker<'a> {
    lex: Lexer<'a>,
    head: Head,
    blocks: u32,
    in_statement: bool,
}

impl<'a> Walker<'a> {
    /// A walker before the first statement of `sql`.
    pub(crate) fn new(sql: &'a [u8]) -> Self {
        Walker {
            lex: Lexer::new(sql),
            head: head(Lexer::new(b"")),
            blocks: 0,
            in_statement: false,
        }
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
        self.blocks = 0;
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
        match t.kind {
            TokenKind::Semicolon if self.blocks == 0 => {
                self.in_statement = false;
                return None;
            }
            TokenKind::Word if self.head.block => self.track_block(&t),
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

    /// A copy of the underlying lexer at the current position, to look ahead with.
    pub(crate) fn clone_lexer(&self) -> Lexer<'a> {
        self.lex.clone()
    }

    /// The next non-comment token, without moving (it may lie past the statement's end).
    pub(crate) fn peek_sig(&self) -> Option<Token> {
        self.lex.peek_sig()
    }

    #[inline(never)]
    fn track_block(&mut self, t: &Token) {
        let sql = self.lex.sql();
        match kw(sql, t) {
            Some(Kw::BEGIN | Kw::CASE | Kw::LOOP | Kw::WHILE) => self.blocks += 1,
            // REPEAT('x', 3) is a function.
            Some(Kw::REPEAT) if !self.peek_sig().is_some_and(|n| n.is_punct(sql, b"(")) => {
                self.blocks += 1;
            }
            Some(Kw::END) => {
                let closes = self.peek_sig().and_then(|n| kw(sql, &n));
                match closes {
                    // END IF closes an IF, which was not counted.
                    Some(Kw::IF) => {
                        self.lex.next_sig();
                    }
                    Some(Kw::CASE | Kw::LOOP | Kw::WHILE | Kw::REPEAT) => {
                        self.lex.next_sig();
                        self.blocks = self.blocks.saturating_sub(1);
                    }
                    _ => self.blocks = self.blocks.saturating_sub(1),
                }
            }
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
        assert_eq!(split("SELECT 1 -- ; x\n; /* ; */"), vec!["SELECT 1"]);
        assert_eq!(split(""), Vec::<&str>::new());
        assert_eq!(split(";"), Vec::<&str>::new());
        assert_eq!(
            split("/*!40101 SET NAMES utf8 */;SELECT 2"),
            vec!["SET NAMES utf8", "SELECT 2"]
        );
    }

    #[test]
    fn definitions_keep_their_bodies() {
        let p = "CREATE PROCEDURE p() BEGIN DECLARE x INT; IF x THEN SELECT 1; END IF; \
                 WHILE x < 3 DO SET x = x + 1; END WHILE; \
                 SET @r = REPEAT('a', 2); lbl: LOOP LEAVE lbl; END LOOP lbl; \
                 SELECT CASE WHEN x THEN 1 END; CASE x WHEN 1 THEN SELECT 1; END CASE; END";
        let text = format!("{p}; SELECT 2");
        assert_eq!(split(&text), vec![p, "SELECT 2"]);
        let b = "BEGIN NOT ATOMIC INSERT INTO t VALUES (1); SELECT 1; END";
        assert_eq!(split(&format!("{b};COMMIT")), vec![b, "COMMIT"]);
        // Outside definitions BEGIN is a transaction and CASE needs no tracking.
        assert_eq!(
            split("BEGIN; SELECT CASE WHEN 1 THEN 2 END; COMMIT").len(),
            3
        );
        // An unbalanced END never underflows.
        assert_eq!(split("CREATE PROCEDURE p() END END; SELECT 1").len(), 2);
    }
}
