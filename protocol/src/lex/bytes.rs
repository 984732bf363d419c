//! Byte searches and byte classes both dialects' lexers share.

const SPACE: u8 = 1;
const IDENT: u8 = 2;

/// Byte classes, one table lookup instead of a chain of comparisons.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0B | 0x0C) {
            t[b] = SPACE;
        } else if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 {
            t[b] = IDENT;
        }
        b += 1;
    }
    t
};

/// Whether `b` is whitespace to MySQL and PostgreSQL.
#[inline]
pub(crate) fn is_space(b: u8) -> bool {
    CLASS[usize::from(b)] == SPACE
}

/// Whether `b` can be part of an unquoted identifier (letters, digits, `_`, `$`, bytes
/// >= 0x80): the same set in both dialects; which of them may start one differs.
#[inline]
pub(crate) fn is_ident_byte(b: u8) -> bool {
    CLASS[usize::from(b)] == IDENT
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// High bit set in every byte of `x` that is zero (exact for the lowest such byte).
#[inline]
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Offset of the first byte of `hay` equal to `a` or `b`: 8 bytes at a time.
#[inline]
pub(crate) fn find_either(hay: &[u8], a: u8, b: u8) -> Option<usize> {
    let (ra, rb) = (ONES * u64::from(a), ONES * u64::from(b));
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let w = u64::from_le_bytes(w);
        let hits = zero_bytes(w ^ ra) | zero_bytes(w ^ rb);
        if hits != 0 {
            return Some(base + (hits.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    let rest = chunks.remainder();
    rest.iter()
        .position(|&c| c == a || c == b)
        .map(|p| base + p)
}

/// Offset of the first occurrence of `needle` in `hay`.
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while let Some(at) = find_either(hay.get(from..)?, first, first) {
        let at = from + at;
        if hay.get(at + 1..at + 1 + rest.len()) == Some(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_either_agrees_with_a_plain_search() {
        let hay: Vec<u8> = (0..300u32).map(|i| (i * 37 % 251) as u8).collect();
        for start in 0..40 {
            for len in [0, 1, 7, 8, 9, 15, 16, 17, 100, 260] {
                let h = &hay[start..(start + len).min(hay.len())];
                for (a, b) in [
                    (b'*', b'*'),
                    (0, 0x80),
                    (b'\'', b'\\'),
                    (0xFF, 1),
                    (200, 201),
                ] {
                    assert_eq!(
                        find_either(h, a, b),
                        h.iter().position(|&c| c == a || c == b),
                        "{start} {len} {a} {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn find_needles() {
        assert_eq!(find(b"$a$ x $a$", b"$a$"), Some(0));
        assert_eq!(find(b" x $a$", b"$a$"), Some(3));
        assert_eq!(find(b"$a", b"$a$"), None);
        assert_eq!(find(b"abc", b""), None);
        assert_eq!(find(b"abcabd", b"abd"), Some(3));
        assert_eq!(find(b"ab", b"abc"), None);
        assert_eq!(find(b"", b"a"), None);
    }

    #[test]
    fn classes() {
        assert!(is_space(b'\x0b') && !is_space(b'a'));
        assert!(is_ident_byte(b'$') && is_ident_byte(0xe5) && !is_ident_byte(b'.'));
    }
}
