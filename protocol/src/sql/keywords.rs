//! Keywords: MySQL's reserved words plus the statement words sqlmux itself looks for.
//!
//! Lookup is case-insensitive and allocation-free: an open-addressing table built at compile
//! time, keyed by a multiplicative hash of the case-folded first and last 8 bytes, confirmed
//! by comparing those bytes (and the rest for longer words). Digests upper-case every word
//! found here.

use super::lexer::{Token, TokenKind};

macro_rules! keywords {
    (reserved: [$($r:ident),* $(,)?] other: [$($o:ident),* $(,)?]) => {
        /// A keyword sqlmux knows.
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Kw { $($r,)* $($o,)* }

        /// Keyword names, in [`Kw`] order, upper-case.
        const NAMES: &[&str] = &[$(stringify!($r),)* $(stringify!($o),)*];
        const ALL: &[Kw] = &[$(Kw::$r,)* $(Kw::$o,)*];
        /// The first `RESERVED` keywords are MySQL reserved words.
        const RESERVED: usize = [$(stringify!($r)),*].len();
    };
}

keywords! {
    reserved: [
        ACCESSIBLE, ADD, ALL, ALTER, ANALYZE, AND, AS, ASC, ASENSITIVE, BEFORE, BETWEEN,
        BIGINT, BINARY, BLOB, BOTH, BY, CALL, CASCADE, CASE, CHANGE, CHAR, CHARACTER, CHECK,
        COLLATE, COLUMN, CONDITION, CONSTRAINT, CONTINUE, CONVERT, CREATE, CROSS, CUBE,
        CUME_DIST, CURRENT_DATE, CURRENT_TIME, CURRENT_TIMESTAMP, CURRENT_USER, CURSOR,
        DATABASE, DATABASES, DAY_HOUR, DAY_MICROSECOND, DAY_MINUTE, DAY_SECOND, DEC, DECIMAL,
        DECLARE, DEFAULT, DELAYED, DELETE, DENSE_RANK, DESC, DESCRIBE, DETERMINISTIC, DISTINCT,
        DISTINCTROW, DIV, DOUBLE, DROP, DUAL, EACH, ELSE, ELSEIF, EMPTY, ENCLOSED, ESCAPED,
        EXCEPT, EXISTS, EXIT, EXPLAIN, FALSE, FETCH, FIRST_VALUE, FLOAT, FLOAT4, FLOAT8, FOR,
        FORCE, FOREIGN, FROM, FULLTEXT, FUNCTION, GENERATED, GET, GRANT, GROUP, GROUPING,
        GROUPS, HAVING, HIGH_PRIORITY, HOUR_MICROSECOND, HOUR_MINUTE, HOUR_SECOND, IF, IGNORE,
        IN, INDEX, INFILE, INNER, INOUT, INSENSITIVE, INSERT, INT, INT1, INT2, INT3, INT4, INT8,
        INTEGER, INTERSECT, INTERVAL, INTO, IO_AFTER_GTIDS, IO_BEFORE_GTIDS, IS, ITERATE, JOIN,
        JSON_TABLE, KEY, KEYS, KILL, LAG, LAST_VALUE, LATERAL, LEAD, LEADING, LEAVE, LEFT,
        LIKE, LIMIT, LINEAR, LINES, LOAD, LOCALTIME, LOCALTIMESTAMP, LOCK, LONG, LONGBLOB,
        LONGTEXT, LOOP, LOW_PRIORITY, MASTER_BIND, MASTER_SSL_VERIFY_SERVER_CERT, MATCH,
        MAXVALUE, MEDIUMBLOB, MEDIUMINT, MEDIUMTEXT, MIDDLEINT, MINUTE_MICROSECOND,
        MINUTE_SECOND, MOD, MODIFIES, NATURAL, NOT, NO_WRITE_TO_BINLOG, NTH_VALUE, NTILE, NULL,
        NUMERIC, OF, ON, OPTIMIZE, OPTIMIZER_COSTS, OPTION, OPTIONALLY, OR, ORDER, OUT, OUTER,
        OUTFILE, OVER, PARTITION, PERCENT_RANK, PRECISION, PRIMARY, PROCEDURE, PURGE, RANGE,
        RANK, READ, READS, READ_WRITE, REAL, RECURSIVE, REFERENCES, REGEXP, RELEASE, RENAME,
        REPEAT, REPLACE, REQUIRE, RESIGNAL, RESTRICT, RETURN, RETURNING, REVOKE, RIGHT, RLIKE,
        ROW, ROWS, ROW_NUMBER, SCHEMA, SCHEMAS, SECOND_MICROSECOND, SELECT, SENSITIVE,
        SEPARATOR, SET, SHOW, SIGNAL, SMALLINT, SPATIAL, SPECIFIC, SQL, SQLEXCEPTION, SQLSTATE,
        SQLWARNING, SQL_BIG_RESULT, SQL_CALC_FOUND_ROWS, SQL_SMALL_RESULT, SSL, STARTING,
        STORED, STRAIGHT_JOIN, SYSTEM, TABLE, TERMINATED, THEN, TINYBLOB, TINYINT, TINYTEXT, TO,
        TRAILING, TRIGGER, TRUE, UNDO, UNION, UNIQUE, UNLOCK, UNSIGNED, UPDATE, USAGE, USE,
        USING, UTC_DATE, UTC_TIME, UTC_TIMESTAMP, VALUES, VARBINARY, VARCHAR, VARCHARACTER,
        VARYING, VIRTUAL, WHEN, WHERE, WHILE, WINDOW, WITH, WRITE, XOR, YEAR_MONTH, ZEROFILL,
    ]
    other: [
        AGGREGATE, ATOMIC, AVG, BACKUP, BEGIN, CHARSET, COMMIT, COMMITTED, CONNECTION_ID, COUNT,
        CURRENT,
        DATA, DEALLOCATE, DEFINER, DIAGNOSTICS, DO, DUMPFILE, END, ERRORS, EVENT, EXECUTE,
        EXPORT, FLUSH, FOUND_ROWS, GET_LOCK, GLOBAL, HANDLER, INSTANCE, ISOLATION,
        LAST_INSERT_ID, LEVEL, LOCAL, LOGFILE, MAX, MIN, MODE, NAMES, NOW, OFF, ONLY, PACKAGE,
        PERSIST, PERSIST_ONLY, PREPARE, RELEASE_ALL_LOCKS, RELEASE_LOCK, REPEATABLE, RESOURCE,
        ROLE, ROLLBACK, ROW_COUNT, SAVEPOINT, SEQUENCE, SERIALIZABLE, SERVER, SESSION, SHARE,
        SQL_CACHE, SQL_NO_CACHE, STACKED, START, STATEMENT, SUM, TABLES, TABLESPACE, TEMPORARY,
        TRANSACTION, TRUNCATE, UNCOMMITTED, USER, VALUE, VIEW, WARNINGS, WORK, XA, XML,
    ]
}

const TABLE_BITS: u32 = 10;
const TABLE_SIZE: usize = 1 << TABLE_BITS;
const EMPTY: u16 = u16::MAX;

const _: () = assert!(NAMES.len() * 2 < TABLE_SIZE);

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

const fn build_table() -> [u16; TABLE_SIZE] {
    let mut table = [EMPTY; TABLE_SIZE];
    let mut k = 0;
    while k < NAMES.len() {
        let name = NAMES[k].as_bytes();
        let mut slot = slot_of(fingerprint(name));
        while table[slot] != EMPTY {
            slot = (slot + 1) & (TABLE_SIZE - 1);
        }
        table[slot] = k as u16;
        k += 1;
    }
    table
}

const fn build_fingerprints() -> [Fingerprint; NAMES.len()] {
    let mut fps = [Fingerprint(0, 0, 0); NAMES.len()];
    let mut k = 0;
    while k < NAMES.len() {
        fps[k] = fingerprint(NAMES[k].as_bytes());
        k += 1;
    }
    fps
}

const fn max_len() -> usize {
    let mut m = 0;
    let mut k = 0;
    while k < NAMES.len() {
        if NAMES[k].len() > m {
            m = NAMES[k].len();
        }
        k += 1;
    }
    m
}

static TABLE: [u16; TABLE_SIZE] = build_table();
static FINGERPRINTS: [Fingerprint; NAMES.len()] = build_fingerprints();
const MAX_LEN: usize = max_len();

/// The keyword spelled by `word`, in any case; `word` is an identifier (the bytes of a
/// [`TokenKind::Word`]). [`kw`] is the same, faster, for tokens.
#[cfg(test)]
pub(crate) fn lookup(word: &[u8]) -> Option<Kw> {
    if !could_be_keyword(word) {
        return None;
    }
    probe(fingerprint(word), word)
}

/// The keyword a token spells, if it is an unquoted word.
#[inline]
pub(crate) fn kw(sql: &[u8], t: &Token) -> Option<Kw> {
    if t.kind != TokenKind::Word {
        return None;
    }
    let (start, end) = (t.start(), t.end());
    let len = end.checked_sub(start)?;
    if !(2..=MAX_LEN).contains(&len) || !sql.get(start)?.is_ascii_alphabetic() {
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
    probe(fp, sql.get(start..end)?)
}

const FOLD: u64 = 0x2020_2020_2020_2020;

#[inline]
fn load8(bytes: &[u8], at: usize) -> Option<u64> {
    let b: [u8; 8] = bytes.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

#[cfg(test)]
fn could_be_keyword(word: &[u8]) -> bool {
    word.len() >= 2 && word.len() <= MAX_LEN && word.first().is_some_and(u8::is_ascii_alphabetic)
}

#[inline]
fn probe(fp: Fingerprint, word: &[u8]) -> Option<Kw> {
    let mut slot = slot_of(fp);
    // Bounded: the table is less than half full, so an empty slot ends every probe anyway.
    for _ in 0..TABLE_SIZE {
        let idx = *TABLE.get(slot)?;
        if idx == EMPTY {
            return None;
        }
        let idx = usize::from(idx);
        if FINGERPRINTS.get(idx) == Some(&fp)
            && (word.len() <= 16 || NAMES.get(idx)?.as_bytes().eq_ignore_ascii_case(word))
        {
            return ALL.get(idx).copied();
        }
        slot = (slot + 1) & (TABLE_SIZE - 1);
    }
    None
}

impl Kw {
    /// The keyword in upper case.
    pub(crate) fn name(self) -> &'static str {
        NAMES.get(self as usize).copied().unwrap_or("")
    }

    /// Whether MySQL reserves it (it cannot be an unquoted alias).
    pub(crate) fn is_reserved(self) -> bool {
        (self as usize) < RESERVED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keyword_is_found_in_any_case() {
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
            b"sbtest1",
            b"selectx",
            b"selec",
            b"",
            b"a",
            b"\xff\xfe",
            b"name",
            b"k",
            b"last_insert_idx",
            b"selecT_",
            b"_select",
            b"1select",
            b"sel\xe5ct",
            b"master_ssl_verify_server_cerX",
            b"MASTER_SSL_VERIFY_SERVER_CERT_",
        ] {
            assert_eq!(lookup(w), None, "{w:?}");
        }
    }

    #[test]
    fn token_lookup_matches_word_lookup() {
        use super::super::lexer::Lexer;
        let sql = "select A sElEcT master_ssl_verify_server_cert read_write last_insert_id \
                   sql_calc_found_rows x1 abcdefghijklmnopq in IN";
        for end in 0..=sql.len() {
            let sql = &sql.as_bytes()[..end];
            for t in Lexer::new(sql) {
                assert_eq!(kw(sql, &t), lookup(t.text(sql)), "{:?}", t.text(sql));
            }
        }
        assert_eq!(lookup(b"sElEcT"), Some(Kw::SELECT));
    }

    #[test]
    fn reserved_split() {
        assert!(Kw::FROM.is_reserved() && Kw::ZEROFILL.is_reserved());
        assert!(!Kw::BEGIN.is_reserved() && !Kw::XML.is_reserved());
    }
}
