//! [`integer_literals`]: where texts of the same shape may differ. Two texts that differ
//! only in the digits of these literals have the same classification and digest, so a
//! session that repeats a statement with other numbers need not lex it again.

use super::lexer::{is_ident_byte, Lexer, TokenKind};

/// Spans (start, end) of the integer literals of `sql` whose digits may change without
/// changing how the text lexes: plain digits (no sign, point, exponent, `_` or base prefix),
/// followed by the end of the text or by a byte that cannot continue a number or a name.
pub fn integer_literals(sql: &[u8]) -> Vec<(u32, u32)> {
    Lexer::new(sql)
        .filter(|t| t.kind == TokenKind::Number && t.text(sql).iter().all(u8::is_ascii_digit))
        .filter(|t| {
            sql.get(t.end())
                .is_none_or(|&b| b != b'.' && !is_ident_byte(b))
        })
        .map(|t| (t.start() as u32, t.end() as u32))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &[u8]) -> Vec<&[u8]> {
        integer_literals(sql)
            .into_iter()
            .map(|(a, b)| &sql[a as usize..b as usize])
            .collect()
    }

    #[test]
    fn only_plain_integers_that_end_cleanly() {
        assert_eq!(
            texts(b"SELECT abalance FROM pgbench_accounts WHERE aid = 4711;"),
            vec![&b"4711"[..]]
        );
        assert_eq!(
            texts(b"UPDATE t SET a = a + 12 WHERE id IN (1,22) AND x<3"),
            vec![&b"12"[..], b"1", b"22", b"3"]
        );
        // Names, parameters, decimals, exponents, bases, underscores, strings, comments.
        assert!(
            texts(b"SELECT t1.c2, $1, 1.5, 1e5, 0x1F, 1_000, '7', \"8\" /* 9 */ -- 10").is_empty()
        );
        // A number the lexer ends at a byte that could glue to other digits is left alone.
        assert!(texts(b"SELECT 5$").is_empty());
        assert_eq!(texts(b"SELECT 5"), vec![&b"5"[..]]);
    }
}
