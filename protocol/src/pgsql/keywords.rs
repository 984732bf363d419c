//! Keywords: PostgreSQL's reserved words plus the statement words sqlmux looks for.
//!
//! Lookup is case-insensitive and allocation-free: the word is upper-cased into a stack
//! buffer and binary-searched among the sorted names with its first letter. Digests upper-case every word found
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
pub(crate) fn lookup(word: &[u8]) -> Option<Kw> {
    if !(2..=MAX_LEN).contains(&word.len()) || !word.first()?.is_ascii_alphabetic() {
        return None;
    }
    let mut buf = [0u8; MAX_LEN];
    let upper = buf.get_mut(..word.len())?;
    for (d, s) in upper.iter_mut().zip(word) {
        *d = s.to_ascii_uppercase();
    }
    let upper = &*upper;
    let (from, to) = *BY_LETTER.get(usize::from(upper[0].wrapping_sub(b'A')))?;
    let names = NAMES.get(usize::from(from)..usize::from(to))?;
    let at = names.binary_search_by(|n| n.as_bytes().cmp(upper)).ok()?;
    ALL.get(usize::from(from) + at).copied()
}

/// Per first letter A-Z, the range of [`NAMES`] starting with it (the search is then a few
/// comparisons instead of eight).
const BY_LETTER: [(u16, u16); 26] = by_letter();

const fn by_letter() -> [(u16, u16); 26] {
    let mut ranges = [(0u16, 0u16); 26];
    let mut i = 0;
    while i < NAMES.len() {
        let letter = (NAMES[i].as_bytes()[0] - b'A') as usize;
        if ranges[letter].1 == 0 {
            ranges[letter].0 = i as u16;
        }
        ranges[letter].1 = (i + 1) as u16;
        i += 1;
    }
    ranges
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
        ] {
            assert_eq!(lookup(w), None, "{w:?}");
        }
    }
}
