//! Keywords: PostgreSQL's reserved words plus the statement words sqlmux looks for.
//!
//! Lookup is case-insensitive and allocation-free: the word is upper-cased into a `u128`
//! and found in a hash table built at compile time. Digests upper-case every word found
//! here.

use super::lexer::{Token, TokenKind};

macro_rules! keywords {
    ($($k:ident),* $(,)?) => {
        /// A keyword sqlmux knows (variants in byte order of their names).
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Kw { $($k,)* }

        /// Keyword names, in [`Kw`] order, upper-case, sorted.
        const NAMES: &[&str] = &[$(stringify!($k),)*];
        const ALL: &[Kw] = &[$(Kw::$k,)*];
    };
}

keywords! {
    ABORT, ALL, ALTER, ANALYSE, ANALYZE, AND, ANY, ARRAY, AS, ASC, ASYMMETRIC, ATOMIC,
    AUTHORIZATION, BEGIN, BETWEEN, BOTH, BY, CALL, CASCADED, CASE, CAST, CATALOG, CHAIN,
    CHARACTERISTICS, CHECK, CHECKPOINT, CLOSE, CLUSTER, COLLATE, COLLATION, COLUMN,
    COMMENT, COMMIT, CONCURRENTLY, CONSTRAINT, CONSTRAINTS, CONTENT, COPY, CREATE, CROSS,
    CURRENT, CURRENT_CATALOG, CURRENT_DATE, CURRENT_ROLE, CURRENT_SCHEMA, CURRENT_TIME,
    CURRENT_TIMESTAMP, CURRENT_USER, CURSOR, DEALLOCATE, DECLARE, DEFAULT, DEFERRABLE,
    DELETE, DESC, DISCARD, DISTINCT, DO, DOCUMENT, DROP, ELSE, END, EXCEPT, EXECUTE,
    EXISTS, EXPLAIN, FALSE, FETCH, FOR, FOREIGN, FREEZE, FROM, FULL, FUNCTION, GLOBAL,
    GRANT, GROUP, HAVING, HOLD, IF, ILIKE, IMPORT, IN, INITIALLY, INNER, INSERT, INTERSECT,
    INTERVAL, INTO, IS, ISNULL, ISOLATION, JOIN, KEY, LATERAL, LEADING, LEFT, LEVEL, LIKE,
    LIMIT, LISTEN, LOAD, LOCAL, LOCALTIME, LOCALTIMESTAMP, LOCK, MATERIALIZED, MERGE, MOVE,
    NAMES, NATURAL, NO, NOT, NOTIFY, NOTNULL, NULL, OFFSET, ON, ONLY, OPTION, OR, ORDER,
    OUTER, OVERLAPS, PLACING, PREPARE, PREPARED, PRIMARY, PROCEDURE, READ, REASSIGN,
    RECURSIVE, REFERENCES, REFRESH, REINDEX, RELEASE, REPLACE, RESET, RETURNING, REVOKE,
    RIGHT, ROLE, ROLLBACK, SAVEPOINT, SCHEMA, SECURITY, SELECT, SEQUENCE, SESSION,
    SESSION_USER, SET, SHARE, SHOW, SIMILAR, SOME, START, SYMMETRIC, SYSTEM_USER, TABLE,
    TABLESAMPLE, TEMP, TEMPORARY, THEN, TIME, TO, TRAILING, TRANSACTION, TRUE, TRUNCATE,
    UNION, UNIQUE, UNLISTEN, UNLOGGED, UPDATE, USER, USING, VACUUM, VALUES, VARIADIC,
    VERBOSE, VIEW, WHEN, WHERE, WINDOW, WITH, WITHOUT, WORK, XML, ZONE,
}

/// The longest keyword.
const MAX_LEN: usize = 17;

/// The keyword spelled by `word` (identifier bytes), in any case.
///
/// The word is upper-cased into a `u128` (the one 17-byte keyword ends in `P`, checked
/// apart) and found in an open-addressing table built at compile time: one multiply and
/// usually one comparison, no `memcmp` call.
#[inline]
pub(crate) fn lookup(word: &[u8]) -> Option<Kw> {
    if !(2..=MAX_LEN).contains(&word.len()) || !word.first()?.is_ascii_alphabetic() {
        return None;
    }
    let (head, last) = match word.len() {
        MAX_LEN => (word.get(..16)?, word.get(16).map(u8::to_ascii_uppercase)),
        _ => (word, None),
    };
    let mut buf = [0u8; 16];
    for (d, s) in buf.iter_mut().zip(head) {
        *d = s.to_ascii_uppercase();
    }
    let key = u128::from_le_bytes(buf);
    let mut slot = slot_of(key);
    loop {
        let at = *TABLE.get(slot)?;
        let i = usize::from(at.checked_sub(1)?);
        if KEYS.get(i) == Some(&key) && NAMES.get(i)?.len() == word.len() {
            let tail_matches = match last {
                Some(c) => NAMES.get(i)?.as_bytes().get(16) == Some(&c),
                None => true,
            };
            return tail_matches.then(|| ALL.get(i).copied()).flatten();
        }
        slot = (slot + 1) & (TABLE_SIZE - 1);
    }
}

/// Slots in [`TABLE`] (a power of two, under half full).
const TABLE_SIZE: usize = 512;

/// Each name's first 16 bytes as a little-endian `u128` (zero-padded).
const KEYS: [u128; NAMES.len()] = keys();

/// Index + 1 into [`NAMES`] at each slot; 0 is empty.
const TABLE: [u16; TABLE_SIZE] = table();

const fn slot_of(key: u128) -> usize {
    let folded = (key as u64) ^ ((key >> 64) as u64).rotate_left(29);
    (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - TABLE_SIZE.trailing_zeros())) as usize
}

const fn keys() -> [u128; NAMES.len()] {
    let mut keys = [0u128; NAMES.len()];
    let mut i = 0;
    while i < NAMES.len() {
        let name = NAMES[i].as_bytes();
        let mut j = 0;
        while j < name.len() && j < 16 {
            keys[i] |= (name[j] as u128) << (8 * j);
            j += 1;
        }
        i += 1;
    }
    keys
}

const fn table() -> [u16; TABLE_SIZE] {
    let keys = keys();
    let mut table = [0u16; TABLE_SIZE];
    let mut i = 0;
    while i < NAMES.len() {
        let mut slot = slot_of(keys[i]);
        while table[slot] != 0 {
            slot = (slot + 1) & (TABLE_SIZE - 1);
        }
        table[slot] = (i + 1) as u16;
        i += 1;
    }
    table
}

/// The keyword a token spells, if it is an unquoted word.
#[inline]
pub(crate) fn kw(sql: &[u8], t: &Token) -> Option<Kw> {
    if t.kind != TokenKind::Word {
        return None;
    }
    lookup(t.text(sql))
}

impl Kw {
    /// The keyword in upper case.
    pub(crate) fn name(self) -> &'static str {
        NAMES.get(self as usize).copied().unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_found_in_any_case() {
        assert!(NAMES.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(NAMES.iter().map(|n| n.len()).max(), Some(MAX_LEN));
        for (i, name) in NAMES.iter().enumerate() {
            assert_eq!(lookup(name.as_bytes()), Some(ALL[i]), "{name}");
            let lower = name.to_ascii_lowercase();
            assert_eq!(lookup(lower.as_bytes()), Some(ALL[i]), "{name}");
            assert_eq!(ALL[i].name(), *name);
        }
    }

    #[test]
    fn non_keywords() {
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
            b"current_timestampx",
            b"current_timestamq",
            b"current_timestam",
            b"select\0",
        ] {
            assert_eq!(lookup(w), None, "{w:?}");
        }
    }
}
