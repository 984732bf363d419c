//! Splits a statement text into statements at top-level `;`, without allocating.
//!
//! Inside a stored program definition or MariaDB's `BEGIN NOT ATOMIC ... END`, a `;` within
//! `BEGIN ... END` (or `CASE`, `LOOP`, `WHILE`, `REPEAT` blocks) does not end the statement:
//! the server receives the whole definition as one statement.

use super::flags::Flags;
use super::keywords::{kw, Kw};
use super::kind::{head, Head, Notes};
use super::lexer::{Lexer, MySql, Token, TokenKind};
use crate::lex::Statements;

/// Walks a MySQL text's statements.
pub(crate) type Walker<'a> = crate::lex::Walker<'a, MySql>;

impl Statements for MySql {
    /// The number of blocks open.
    type Track = u32;
    type Flags = Flags;
    type Notes = Notes;

    #[inline(always)]
    fn in_block(blocks: &u32) -> bool {
        *blocks > 0
    }

    #[inline(always)]
    fn see(blocks: &mut u32, head: &Head, t: &Token, lex: &mut Lexer<'_>) {
        if t.kind == TokenKind::Word && head.block {
            track_block(blocks, t, lex);
        }
    }

    #[inline(always)]
    fn start(_: &Head) -> u32 {
        0
    }

    #[inline]
    fn head(lex: Lexer<'_>) -> Head {
        head(lex)
    }
}

/// Counts the blocks a word opens or closes inside a definition.
#[inline(never)]
fn track_block(blocks: &mut u32, t: &Token, lex: &mut Lexer<'_>) {
    let sql = lex.sql();
    match kw(sql, t) {
        Some(Kw::BEGIN | Kw::CASE | Kw::LOOP | Kw::WHILE) => *blocks += 1,
        // REPEAT('x', 3) is a function.
        Some(Kw::REPEAT) if !lex.peek_sig().is_some_and(|n| n.is_punct(sql, b"(")) => {
            *blocks += 1;
        }
        Some(Kw::END) => {
            let closes = lex.peek_sig().and_then(|n| kw(sql, &n));
            match closes {
                // END IF closes an IF, which was not counted.
                Some(Kw::IF) => {
                    lex.next_sig();
                }
                Some(Kw::CASE | Kw::LOOP | Kw::WHILE | Kw::REPEAT) => {
                    lex.next_sig();
                    *blocks = blocks.saturating_sub(1);
                }
                _ => *blocks = blocks.saturating_sub(1),
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_top_level_semicolons() {
        crate::lex::splits_alike::<MySql>();
        assert_eq!(split("SELECT 1 -- ; x\n; /* ; */"), vec!["SELECT 1"]);
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
        // An unbalanced END never underflows.
        assert_eq!(split("CREATE PROCEDURE p() END END; SELECT 1").len(), 2);
    }

    fn split(sql: &str) -> Vec<&str> {
        crate::lex::split::<MySql>(sql)
    }
}
