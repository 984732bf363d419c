//! [`KeywordTable`]: case-insensitive, allocation-free keyword lookup, built at compile time
//! from a dialect's list by [`keywords!`](crate::lex::keywords::keywords).
//!
//! An open-addressing table keyed by a multiplicative hash of the case-folded first and
//! last 8 bytes of a word, confirmed by comparing those bytes (and the rest for words over
//! 16 bytes). Digests upper-case every word a dialect's table holds.

use super::token::{Token, TokenKind};

const TABLE_BITS: u32 = 10;
const TABLE_SIZE: usize = 1 << TABLE_BITS;
const EMPTY: u16 = u16::MAX;
const FOLD: u64 = 0x2020_2020_2020_2020;

/// Up to 8 bytes from `from`, little-endian, ASCII letters folded to lower case (`| 0x20`;
/// exact for identifier bytes, and keywords hold only letters, digits and `_`).
const fn fold8(bytes: &[u8], from: usize) -> u64 {
    let mut v = 0u64;
    let mut i = 0;
    while i < 8 && from + i < bytes.len() {
        v |= ((bytes[from + i] | 0x20) as u64) << (8 * i);
        i += 1;
    }
    v
}

/// `(first 8 bytes, last 8 bytes, length)`, folded. For words of identifier bytes up to 16
/// bytes long, equal fingerprints mean equal words (case aside): folding is exact on
/// identifier bytes, apart from bytes >= 0x80, which no keyword has.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Fingerprint(u64, u64, usize);

const fn fingerprint(bytes: &[u8]) -> Fingerprint {
    let first = fold8(bytes, 0);
    let last = if bytes.len() > 8 {
        fold8(bytes, bytes.len() - 8)
    } else {
        first
    };
    Fingerprint(first, last, bytes.len())
}

const fn slot_of(fp: Fingerprint) -> usize {
    let h = (fp.0 ^ fp.1.rotate_left(29) ^ fp.2 as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> (64 - TABLE_BITS)) as usize
}

#[inline]
fn load8(bytes: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// The `N` keywords of a dialect, upper-case, and the table that finds them.
pub(crate) struct KeywordTable<const N: usize> {
    names: [&'static str; N],
    fingerprints: [Fingerprint; N],
    slots: [u16; TABLE_SIZE],
    max_len: usize,
}

impl<const N: usize> KeywordTable<N> {
    /// The table of `names` (upper-case, distinct, fewer than half of 1024).
    pub(crate) const fn new(names: [&'static str; N]) -> Self {
        assert!(N * 2 < TABLE_SIZE);
        let mut fingerprints = [Fingerprint(0, 0, 0); N];
        let mut slots = [EMPTY; TABLE_SIZE];
        let mut max_len = 0;
        let mut k = 0;
        while k < N {
            let name = names[k].as_bytes();
            fingerprints[k] = fingerprint(name);
            if name.len() > max_len {
                max_len = name.len();
            }
            let mut slot = slot_of(fingerprints[k]);
            while slots[slot] != EMPTY {
                slot = (slot + 1) & (TABLE_SIZE - 1);
            }
            slots[slot] = k as u16;
            k += 1;
        }
        KeywordTable {
            names,
            fingerprints,
            slots,
            max_len,
        }
    }

    /// The index of the keyword a token spells, if it is an unquoted word.
    #[inline(always)]
    pub(crate) fn index_of_token(&self, sql: &[u8], t: &Token) -> Option<usize> {
        if t.kind != TokenKind::Word {
            return None;
        }
        let (start, end) = (t.start(), t.end());
        let len = end.checked_sub(start)?;
        if !(2..=self.max_len).contains(&len) || !sql.get(start)?.is_ascii_alphabetic() {
            return None;
        }
        // Whole 8-byte loads from the statement instead of a byte loop, where they fit.
        let fp = match load8(sql, start) {
            Some(first) if len <= 8 => {
                let first = (first | FOLD) & (u64::MAX >> (64 - 8 * len));
                Fingerprint(first, first, len)
            }
            Some(first) => Fingerprint(first | FOLD, load8(sql, end - 8)? | FOLD, len),
            None => fingerprint(sql.get(start..end)?),
        };
        self.probe(fp, sql.get(start..end)?)
    }

    /// The index of the keyword `word` (identifier bytes) spells, in any case.
    #[cfg(test)]
    pub(crate) fn index_of(&self, word: &[u8]) -> Option<usize> {
        let fits = (2..=self.max_len).contains(&word.len());
        if !fits || !word.first().is_some_and(u8::is_ascii_alphabetic) {
            return None;
        }
        self.probe(fingerprint(word), word)
    }

    /// The keyword at `index`, upper-case.
    pub(crate) fn name(&self, index: usize) -> &'static str {
        self.names.get(index).copied().unwrap_or("")
    }

    /// The longest keyword's length.
    #[cfg(test)]
    pub(crate) fn max_len(&self) -> usize {
        self.max_len
    }

    #[inline(always)]
    fn probe(&self, fp: Fingerprint, word: &[u8]) -> Option<usize> {
        let mut slot = slot_of(fp);
        // Bounded: the table is less than half full, so an empty slot ends every probe.
        for _ in 0..TABLE_SIZE {
            let idx = *self.slots.get(slot)?;
            if idx == EMPTY {
                return None;
            }
            let idx = usize::from(idx);
            if self.fingerprints.get(idx) == Some(&fp)
                && (word.len() <= 16 || self.names.get(idx)?.as_bytes().eq_ignore_ascii_case(word))
            {
                return Some(idx);
            }
            slot = (slot + 1) & (TABLE_SIZE - 1);
        }
        None
    }
}

/// Declares a dialect's keywords: the enum `Kw` (reserved words first), `kw(sql, token)`,
/// `Kw::name`, `Kw::is_reserved`, and (in tests) `lookup(word)` and `ALL`.
macro_rules! keywords {
    (
        dialect: $d:ty,
        reserved: [$($r:ident),* $(,)?]
        other: [$($o:ident),* $(,)?]
        not_keywords: [$($n:literal),* $(,)?]
    ) => {
        /// A keyword sqlmux knows.
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Kw { $($r,)* $($o,)* }

        /// Every keyword, in [`Kw`] order.
        const ALL: &[Kw] = &[$(Kw::$r,)* $(Kw::$o,)*];
        /// The first `RESERVED` keywords are the dialect's reserved words.
        const RESERVED: usize = <[&str]>::len(&[$(stringify!($r)),*]);
        static TABLE: $crate::lex::keywords::KeywordTable<{ ALL.len() }> =
            $crate::lex::keywords::KeywordTable::new([$(stringify!($r),)* $(stringify!($o),)*]);

        /// The keyword a token spells, if it is an unquoted word.
        #[inline(always)]
        pub(crate) fn kw(sql: &[u8], t: &$crate::lex::Token) -> Option<Kw> {
            TABLE.index_of_token(sql, t).and_then(|i| ALL.get(i).copied())
        }

        impl $crate::lex::Keywords for $d {
            type Kw = Kw;

            #[inline(always)]
            fn kw(sql: &[u8], t: &$crate::lex::Token) -> Option<Kw> {
                kw(sql, t)
            }
        }

        /// The keyword spelled by `word`, in any case; `word` is an identifier.
        #[cfg(test)]
        pub(crate) fn lookup(word: &[u8]) -> Option<Kw> {
            TABLE.index_of(word).and_then(|i| ALL.get(i).copied())
        }

        impl Kw {
            /// The keyword in upper case.
            pub(crate) fn name(self) -> &'static str {
                TABLE.name(self as usize)
            }

            /// Whether the dialect reserves it (it cannot be an unquoted alias).
            #[allow(dead_code)]
            pub(crate) fn is_reserved(self) -> bool {
                (self as usize) < RESERVED
            }
        }

        /// Every keyword is found in upper and lower case and named as declared; words
        /// that are no keyword in any dialect, or in this one, are not found.
        #[cfg(test)]
        #[test]
        fn keywords_found_in_any_case_and_only_they() {
            for &k in ALL {
                let name = format!("{k:?}");
                assert_eq!(lookup(name.as_bytes()), Some(k), "{name}");
                let lower = name.to_ascii_lowercase();
                assert_eq!(lookup(lower.as_bytes()), Some(k), "{name}");
                assert_eq!(k.name(), name);
            }
            for w in [
                &b"id"[..],
                b"selectx",
                b"selec",
                b"",
                b"a",
                b"\xff\xfe",
                b"_select",
                b"1select",
                b"sel\xe5ct",
                $($n,)*
            ] {
                assert_eq!(lookup(w), None, "{w:?}");
            }
        }
    };
}

pub(crate) use keywords;

#[cfg(test)]
mod tests {
    use super::*;

    static T: KeywordTable<4> = KeywordTable::new([
        "SELECT",
        "IN",
        "MASTER_SSL_VERIFY_SERVER_CERT",
        "ABCDEFGHIJKLMNOPQ",
    ]);

    #[test]
    fn found_in_any_case_and_only_then() {
        assert_eq!(T.index_of(b"select"), Some(0));
        assert_eq!(T.index_of(b"In"), Some(1));
        assert_eq!(T.index_of(b"master_ssl_verify_server_cert"), Some(2));
        assert_eq!(T.index_of(b"master_ssl_verify_server_cerX"), None);
        assert_eq!(T.index_of(b"abcdefghijklmnopq"), Some(3));
        assert_eq!(T.index_of(b"abcdefghijklmnopQ"), Some(3));
        assert_eq!(T.index_of(b"abcdefgXijklmnopq"), None);
        assert_eq!(T.max_len(), 29);
        assert_eq!(T.name(2), "MASTER_SSL_VERIFY_SERVER_CERT");
        assert_eq!(T.name(9), "");
    }
}
