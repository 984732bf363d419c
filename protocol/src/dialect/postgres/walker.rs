//! Splits a statement text into statements at top-level `;`, without allocating, and tells
//! which tokens run now.
//!
//! Like psql: in `CREATE [OR REPLACE] FUNCTION | PROCEDURE`, a `;` inside a SQL-standard body
//! (`BEGIN ATOMIC ... END`, with `CASE ... END` inside) does not end the statement.

use super::flags::Flags;
use super::keywords::{kw, Kw};
use super::kind::{head, Body, Head, Notes};
use super::lexer::{Lexer, Postgres, Token, TokenKind};
use crate::lex::Statements;

/// Walks a PostgreSQL text's statements.
pub(crate) type Walker<'a> = crate::lex::Walker<'a, Postgres>;

/// What the walk follows through a PostgreSQL statement.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Track {
    depth: i64,
    blocks: u32,
    running: bool,
    /// The next token starts the running part (after `AS`).
    arm: bool,
}

impl Statements for Postgres {
    type Flags = Flags;
    type Notes = Notes;
    type Track = Track;

    #[inline(always)]
    fn head(lex: Lexer<'_>) -> Head {
        head(lex)
    }

    #[inline(always)]
    fn start(head: &Head) -> Track {
        Track {
            depth: 0,
            blocks: 0,
            running: head.body == Body::Runs,
            arm: false,
        }
    }

    #[inline(always)]
    fn see(track: &mut Track, head: &Head, t: &Token, lex: &mut Lexer<'_>) {
        if track.arm {
            track.running = true;
            track.arm = false;
        }
        match t.kind {
            TokenKind::Punct => match t.text(lex.sql()) {
                b"(" => track.depth += 1,
                b")" => track.depth -= 1,
                _ => {}
            },
            TokenKind::Word
                if track.depth == 0
                    && (head.block || (head.body == Body::AfterAs && !track.running)) =>
            {
                track.word(head, kw(lex.sql(), t));
            }
            _ => {}
        }
    }

    #[inline(always)]
    fn in_block(track: &Track) -> bool {
        track.blocks > 0
    }
}

impl Track {
    fn word(&mut self, head: &Head, k: Option<Kw>) {
        match k {
            Some(Kw::AS) if head.body == Body::AfterAs => self.arm = true,
            Some(Kw::BEGIN) if head.block => self.blocks += 1,
            Some(Kw::CASE) if head.block && self.blocks > 0 => self.blocks += 1,
            Some(Kw::END) if head.block => self.blocks = self.blocks.saturating_sub(1),
            _ => {}
        }
    }
}

impl Walker<'_> {
    /// Whether the last token returned is part of what the statement runs now (not a
    /// definition's body, not a plain EXPLAIN's statement).
    pub(crate) fn running(&self) -> bool {
        self.track.running
    }

    /// Parenthesis depth after the last token returned.
    pub(crate) fn depth(&self) -> i64 {
        self.track.depth
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(sql: &str) -> Vec<&str> {
        crate::lex::split::<Postgres>(sql)
    }

    #[test]
    fn splits_at_top_level_semicolons() {
        crate::lex::splits_alike::<Postgres>();
        assert_eq!(
            split("SELECT 1 -- ; x\n; /* ; /* ; */ ; */"),
            vec!["SELECT 1"]
        );
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
