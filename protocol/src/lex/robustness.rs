//! The robustness runs both dialects' SQL functions go through: every prefix and suffix of a
//! corpus, random bytes, random splices, strings that must not leak. Each dialect gives its
//! corpus, its alphabet and a `check` of what must hold for it.

use super::{classify, Classification, Classify, Dialect, Kind, Lexer, TokenKind};

/// A dialect's fixtures: statements, the bytes that steer its lexer, what must always hold.
pub(crate) struct Fixtures {
    /// Statements that reach every state of the dialect's lexer and classifier.
    pub corpus: &'static [&'static str],
    /// Bytes that steer the lexer into its states, plus some that never appear in SQL.
    pub alphabet: &'static [u8],
    /// Runs everything on a text and asserts what must always hold.
    pub check: fn(&[u8]),
}

/// xorshift64*: reproducible inputs without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The lexer moves forward, inside the input, one non-empty token at a time, and only a
/// token that runs to the end of the input may be unterminated.
pub(crate) fn check_tokens<D: Dialect>(sql: &[u8]) {
    let mut end = 0;
    for t in Lexer::<D>::new(sql) {
        assert!(
            t.start() >= end && t.end() > t.start() && t.end() <= sql.len(),
            "{sql:?}"
        );
        assert!(t.closed || t.end() == sql.len(), "{sql:?}");
        end = t.end();
    }
}

impl Fixtures {
    /// `check` on every prefix and every suffix of every corpus statement.
    pub(crate) fn every_prefix_and_suffix(&self) {
        for sql in self.corpus {
            let b = sql.as_bytes();
            for i in 0..=b.len() {
                (self.check)(&b[..i]);
                (self.check)(&b[i..]);
            }
        }
    }

    /// `check` on `rounds` random texts up to 80 bytes: a third of any byte, the rest of
    /// the alphabet.
    pub(crate) fn random_bytes(&self, rounds: usize) {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..rounds {
            let len = rng.below(80);
            let sql: Vec<u8> = (0..len)
                .map(|_| {
                    if round % 3 == 0 {
                        rng.next() as u8
                    } else {
                        self.alphabet[rng.below(self.alphabet.len())]
                    }
                })
                .collect();
            (self.check)(&sql);
        }
    }

    /// `check` on 5,000 texts spliced from one to four random pieces of the corpus.
    pub(crate) fn random_splices(&self) {
        let mut rng = Rng(42);
        for _ in 0..5_000 {
            let mut sql = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let piece = self.corpus[rng.below(self.corpus.len())].as_bytes();
                let a = rng.below(piece.len() + 1);
                let b = a + rng.below(piece.len() - a + 1);
                sql.extend_from_slice(&piece[a..b]);
            }
            (self.check)(&sql);
        }
    }
}

impl Fixtures {
    /// `check` on inputs that nest deep or run long: 100,000 parentheses, 10,000 SELECT
    /// keywords, an IN list of 10,000 literals, 10,000 VALUES rows.
    pub(crate) fn deep_and_long(&self) {
        (self.check)(&b"(".repeat(100_000));
        (self.check)(&b")".repeat(100_000));
        (self.check)(&b"SELECT ".repeat(10_000));
        (self.check)(&[b"SELECT 1 IN (".as_slice(), &b"1,".repeat(10_000)].concat());
        (self.check)(&[b"INSERT INTO t VALUES ".as_slice(), &b"(1),".repeat(10_000)].concat());
    }
}

/// The checks every dialect's classifier passes on any text: the same answer twice, no
/// more statements than `;` allow, no kind or flags without a statement; the tokens too.
pub(crate) fn check_classify<D: Classify>(sql: &[u8]) -> Classification<D::Flags> {
    check_tokens::<D>(sql);
    let c = classify::<D>(sql);
    assert_eq!(c, classify::<D>(sql));
    assert!(c.statements <= sql.iter().filter(|&&b| b == b';').count() + 1);
    if c.statements == 0 {
        assert_eq!(
            (c.kind, c.flags),
            (Kind::Other, D::Flags::default()),
            "{sql:?}"
        );
    }
    c
}

/// Texts that would change a statement if they leaked out of a string, comment or quoted name.
const LEAKS: &[&str] = &[
    "INSERT",
    "; DELETE FROM t",
    "*/ UPDATE t",
    "' OR 1 --",
    "\\",
    "FOR UPDATE",
];

/// Whatever is inside a string, comment or quoted name stays there: every text of [`LEAKS`]
/// and the dialect's `more`, inside every quoting `(open, close)` of the dialect, quoted the
/// way `quote` escapes it: `SELECT <quoted>` must be one SELECT with no flags and two tokens.
pub(crate) fn strings_never_leak<D: Classify>(
    more: &[&str],
    quotings: &[(&str, &str)],
    quote: fn(&str, &str) -> String,
) {
    for inner in LEAKS.iter().chain(more) {
        for (open, close) in quotings {
            let sql = format!("SELECT {open}{}{close}", quote(inner, open));
            let c = classify::<D>(sql.as_bytes());
            let plain = (Kind::Select, 1, D::Flags::default());
            assert_eq!((c.kind, c.statements, c.flags), plain, "{sql}");
            let kinds: Vec<TokenKind> = Lexer::<D>::new(sql.as_bytes()).map(|t| t.kind).collect();
            assert_eq!(kinds.len(), 2, "{sql}");
        }
    }
}

/// A dialect's robustness tests over its `CORPUS`, `ALPHABET` and `check` (in scope):
/// every prefix and suffix, `$rounds` random texts, random splices.
macro_rules! robustness_tests {
    ($rounds:expr) => {
        const FIXTURES: $crate::lex::robustness::Fixtures = $crate::lex::robustness::Fixtures {
            corpus: CORPUS,
            alphabet: ALPHABET,
            check,
        };

        #[test]
        fn every_prefix_and_suffix_of_the_corpus() {
            FIXTURES.every_prefix_and_suffix();
        }

        #[test]
        fn random_bytes() {
            FIXTURES.random_bytes($rounds);
        }

        #[test]
        fn random_splices_of_sql() {
            FIXTURES.random_splices();
        }
    };
}
pub(crate) use robustness_tests;
