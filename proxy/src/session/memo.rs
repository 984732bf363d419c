//! [`StatementMemo`]: the last statement text a session ran and what sqlmux derived from
//! it, so a client that repeats a statement (an unnamed Parse of the same text every time,
//! the EXECUTE of a prepared statement) is not lexed again for its class or digest.
//!
//! With a dialect's integer-literal spans ([`StatementMemo::with_integer_literals`]), a text
//! that differs from the last one only in the digits of those literals (`... WHERE id = 41`
//! after `... WHERE id = 7`) counts as the same statement: its class and digest are the same.

/// Texts longer than this are not remembered (no per-session copy of big statements).
const MAX_TEXT: usize = 4096;

/// Spans (start, end) of a text's integer literals whose digits may change freely.
pub type IntegerLiterals = fn(&[u8]) -> Vec<(u32, u32)>;

/// One session's last statement text, its class and its digest hash, each derived at most
/// once while the text stays the same (or, with integer-literal spans, the same shape).
#[derive(Debug)]
pub struct StatementMemo<C> {
    text: Vec<u8>,
    class: Option<C>,
    digest: Option<u64>,
    /// The dialect's integer literals, when it has them.
    integers_of: Option<IntegerLiterals>,
    /// Spans of `text`'s integer literals, computed at the first text that may share its
    /// shape.
    integers: Option<Vec<(u32, u32)>>,
    /// The spans of the text being compared (swapped in when it matches).
    scratch: Vec<(u32, u32)>,
}

impl<C> Default for StatementMemo<C> {
    fn default() -> Self {
        Self {
            text: Vec::new(),
            class: None,
            digest: None,
            integers_of: None,
            integers: None,
            scratch: Vec::new(),
        }
    }
}

impl<C: Copy> StatementMemo<C> {
    /// A memo that treats texts differing only in the digits of `integers_of`'s spans as
    /// the same statement. Only for a dialect whose classification and digest never look at
    /// an integer literal's digits.
    pub fn with_integer_literals(integers_of: IntegerLiterals) -> Self {
        Self {
            integers_of: Some(integers_of),
            ..Self::default()
        }
    }

    /// The class of `sql`: remembered, or `classify(sql)`.
    pub fn class(&mut self, sql: &[u8], classify: impl FnOnce(&[u8]) -> C) -> C {
        if !self.holds(sql) {
            return classify(sql);
        }
        *self.class.get_or_insert_with(|| classify(sql))
    }

    /// The digest hash of `sql`: remembered, or `digest(sql)`.
    pub fn digest(&mut self, sql: &[u8], digest: impl FnOnce(&[u8]) -> u64) -> u64 {
        if !self.holds(sql) {
            return digest(sql);
        }
        *self.digest.get_or_insert_with(|| digest(sql))
    }

    /// The class and the digest hash of `sql`, with one look at the memo.
    pub fn class_and_digest(
        &mut self,
        sql: &[u8],
        classify: impl FnOnce(&[u8]) -> C,
        digest: impl FnOnce(&[u8]) -> u64,
    ) -> (C, u64) {
        if !self.holds(sql) {
            return (classify(sql), digest(sql));
        }
        let class = *self.class.get_or_insert_with(|| classify(sql));
        (class, *self.digest.get_or_insert_with(|| digest(sql)))
    }

    /// Whether the memo is about `sql` now (it switches to `sql` when that is short enough).
    fn holds(&mut self, sql: &[u8]) -> bool {
        if sql.len() > MAX_TEXT {
            return false;
        }
        // With the literal spans known, the shape test alone covers an equal text.
        if (self.integers.is_none() && self.text == sql) || self.same_shape(sql) {
            return true;
        }
        self.text.clear();
        self.text.extend_from_slice(sql);
        self.class = None;
        self.digest = None;
        self.integers = None;
        true
    }

    /// Whether `sql` is the remembered text with other digits in its integer literals; if
    /// so, `sql` becomes the remembered text (class and digest stay).
    fn same_shape(&mut self, sql: &[u8]) -> bool {
        let Some(integers_of) = self.integers_of else {
            return false;
        };
        if self.class.is_none() && self.digest.is_none() {
            return false;
        }
        if self.integers.is_none() {
            // Before lexing for the spans, a cheap test: the first difference must touch a
            // digit.
            let first = self
                .text
                .iter()
                .zip(sql)
                .take_while(|(a, b)| a == b)
                .count();
            let digit = |t: &[u8], i: usize| t.get(i).is_some_and(u8::is_ascii_digit);
            let near = digit(&self.text, first)
                || digit(sql, first)
                || (first > 0 && digit(sql, first - 1));
            if !near {
                return false;
            }
        }
        let old = &self.text;
        let spans = self.integers.get_or_insert_with(|| integers_of(old));
        // The bytes between literals must be equal; each literal must be a run of digits.
        self.scratch.clear();
        let (mut at_old, mut at_new) = (0usize, 0usize);
        for &(a, b) in spans.iter() {
            let between = &old[at_old..a as usize];
            if sql.get(at_new..at_new + between.len()) != Some(between) {
                return false;
            }
            let start = at_new + between.len();
            let run = sql[start..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if run == 0 {
                return false;
            }
            self.scratch.push((start as u32, (start + run) as u32));
            at_old = b as usize;
            at_new = start + run;
        }
        if sql.get(at_new..) != old.get(at_old..) {
            return false;
        }
        std::mem::swap(spans, &mut self.scratch);
        self.text.clear();
        self.text.extend_from_slice(sql);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn derives_once_per_text() {
        let calls = Cell::new(0);
        let classify = |sql: &[u8]| {
            calls.set(calls.get() + 1);
            sql.len()
        };
        let mut memo = StatementMemo::default();
        assert_eq!(memo.class(b"SELECT 1", classify), 8);
        assert_eq!(memo.class(b"SELECT 1", classify), 8);
        assert_eq!(calls.get(), 1);
        assert_eq!(memo.class(b"SELECT 22", classify), 9);
        assert_eq!(calls.get(), 2);
        // Back to the first text: derived again, not mixed up with the second.
        assert_eq!(memo.class(b"SELECT 1", classify), 8);
        assert_eq!(calls.get(), 3);
    }

    #[test]
    fn class_and_digest_are_kept_apart_and_reset_together() {
        let mut memo = StatementMemo::default();
        assert_eq!(memo.class(b"a", |_| 1u8), 1);
        assert_eq!(memo.digest(b"a", |_| 7), 7);
        assert_eq!(memo.digest(b"a", |_| 8), 7);
        assert_eq!(memo.class(b"a", |_| 2u8), 1);
        assert_eq!(memo.digest(b"b", |_| 9), 9);
        assert_eq!(memo.class(b"b", |_| 3u8), 3);
    }

    /// Feeds `first` then `then`; whether `then` was classified and digested again.
    fn derived_again(first: &[u8], then: &[u8]) -> bool {
        use sqlmux_protocol::dialect::postgres;
        let mut memo = StatementMemo::with_integer_literals(postgres::integer_literals);
        memo.class(first, postgres::classify);
        memo.digest(first, postgres::digest_hash);
        let calls = Cell::new(0);
        let class = memo.class(then, |sql| {
            calls.set(calls.get() + 1);
            postgres::classify(sql)
        });
        let digest = memo.digest(then, |sql| {
            calls.set(calls.get() + 1);
            postgres::digest_hash(sql)
        });
        // Whatever the memo answers is what the lexer says.
        assert_eq!(
            class,
            postgres::classify(then),
            "{}",
            String::from_utf8_lossy(then)
        );
        assert_eq!(
            digest,
            postgres::digest_hash(then),
            "{}",
            String::from_utf8_lossy(then)
        );
        calls.get() > 0
    }

    #[test]
    fn other_integers_are_the_same_statement() {
        let q = |aid: &str| format!("SELECT abalance FROM pgbench_accounts WHERE aid = {aid};");
        assert!(!derived_again(q("7").as_bytes(), q("41").as_bytes()));
        assert!(!derived_again(q("100000").as_bytes(), q("3").as_bytes()));
        assert!(!derived_again(
            b"UPDATE t SET a = a + 5 WHERE id = 12",
            b"UPDATE t SET a = a + 4980 WHERE id = 99999"
        ));
        assert!(!derived_again(b"SELECT 1", b"SELECT 23"));
        let mut memo = StatementMemo::with_integer_literals(
            sqlmux_protocol::dialect::postgres::integer_literals,
        );
        assert_eq!(memo.class(q("1").as_bytes(), |_| 1u8), 1);
        for aid in ["2", "33", "4", "555555"] {
            assert_eq!(
                memo.class(q(aid).as_bytes(), |_| 2u8),
                1,
                "one shape, one class"
            );
        }
    }

    #[test]
    fn other_changes_are_another_statement() {
        for (first, then) in [
            (&b"SELECT * FROM t1"[..], &b"SELECT * FROM t2"[..]),
            (b"SELECT $1", b"SELECT $2"),
            (b"SELECT 1.5", b"SELECT 1.6"),
            (b"SELECT '1'", b"SELECT '2'"),
            (b"SELECT 0x1F", b"SELECT 0x2F"),
            (
                b"/* sqlmux:hostgroup=1 */ SELECT 1",
                b"/* sqlmux:hostgroup=2 */ SELECT 1",
            ),
            (b"SELECT 1 -- 1", b"SELECT 1 -- 2"),
            (b"SELECT 1", b"SELECT 1e5"),
            (b"SELECT 1", b"SELECT 1 + 1"),
            (b"SELECT 1", b"SELECT x"),
            (b"SELECT 10", b"SELECT 1.0"),
        ] {
            assert!(
                derived_again(first, then),
                "{}",
                String::from_utf8_lossy(then)
            );
        }
    }

    /// Every digit run of every text replaced by other digits: when the memo keeps the
    /// class and digest, they are the lexer's (checked in `derived_again`).
    #[test]
    fn a_kept_class_and_digest_are_always_right() {
        let corpus: [&[u8]; 8] = [
            b"SELECT a1, 2, '3', \"4\", $5, 6.7, 8e9 FROM t10 WHERE x = 11 /* 12 */ -- 13",
            b"/* sqlmux:hostgroup=20 */ SELECT nextval('s1') LIMIT 3",
            b"SELECT pg_advisory_lock(42); SELECT 7",
            b"INSERT INTO t (a) VALUES (1), (22), (333) RETURNING id",
            b"SET statement_timeout = 5000",
            b"SELECT $$a 1$$, E'2', x::int4, 0b101, 0o17, 1_000 FROM t WHERE id IN (1, 2, 3)",
            b"SELECT * FROM t WHERE a = 5$ OR b = 7",
            b"BEGIN; UPDATE t SET n = n + 1 WHERE id = 9; COMMIT",
        ];
        let mut kept = 0;
        for sql in corpus {
            let runs: Vec<(usize, usize)> = {
                let mut v = Vec::new();
                let mut i = 0;
                while i < sql.len() {
                    if sql[i].is_ascii_digit() {
                        let j = i + sql[i..].iter().take_while(|c| c.is_ascii_digit()).count();
                        v.push((i, j));
                        i = j;
                    } else {
                        i += 1;
                    }
                }
                v
            };
            for (a, b) in runs {
                for replacement in [&b"0"[..], b"98765", b""] {
                    let mut then = sql[..a].to_vec();
                    then.extend_from_slice(replacement);
                    then.extend_from_slice(&sql[b..]);
                    if then != sql && !derived_again(sql, &then) {
                        kept += 1;
                    }
                }
            }
        }
        assert!(kept > 10, "integer literals keep their statement ({kept})");
    }

    #[test]
    fn class_and_digest_come_from_one_look() {
        let mut memo = StatementMemo::default();
        assert_eq!(memo.class_and_digest(b"a", |_| 1u8, |_| 7), (1, 7));
        assert_eq!(memo.class_and_digest(b"a", |_| 2u8, |_| 8), (1, 7));
        assert_eq!(memo.digest(b"a", |_| 9), 7);
        assert_eq!(memo.class_and_digest(b"b", |_| 3u8, |_| 9), (3, 9));
    }

    #[test]
    fn long_texts_are_not_remembered() {
        let long = vec![b'x'; MAX_TEXT + 1];
        let mut memo = StatementMemo::<u8>::default();
        assert_eq!(memo.digest(b"short", |_| 1), 1);
        assert_eq!(memo.digest(&long, |_| 2), 2);
        assert_eq!(memo.digest(&long, |_| 3), 3);
        // The short text is still the one remembered.
        assert_eq!(memo.digest(b"short", |_| 4), 1);
    }
}
