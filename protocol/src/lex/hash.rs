//! The digest hash: a small, fast, stable 64-bit hash (folded multiply over 8-byte words,
//! wyhash-like), streaming and independent of how the input is split into writes.
//!
//! Stable across platforms and releases: digests may be stored and compared.

const SEED: u64 = 0xa076_1d64_78bd_642f;
const K1: u64 = 0xe703_7ed1_a0b4_28db;
const K2: u64 = 0x8ebc_6af0_9c88_c6e3;
const K3: u64 = 0x5899_65cc_7537_4cc3;

/// The 128-bit product of `a` and `b`, high half xor low half.
fn fold_mul(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

/// A streaming hasher; `write` in any pieces gives the same result as one `write`.
#[derive(Clone, Debug)]
pub(crate) struct Hasher {
    acc: u64,
    tail: u64,
    tail_len: u32,
    len: u64,
}

impl Hasher {
    /// A fresh hasher.
    pub(crate) fn new() -> Self {
        Hasher {
            acc: SEED,
            tail: 0,
            tail_len: 0,
            len: 0,
        }
    }

    fn word(&mut self, w: u64) {
        self.acc = fold_mul(self.acc ^ w, K1);
    }

    /// Adds bytes.
    pub(crate) fn write(&mut self, mut bytes: &[u8]) {
        self.len = self.len.wrapping_add(bytes.len() as u64);
        if self.tail_len > 0 {
            while self.tail_len < 8 {
                let Some((&b, rest)) = bytes.split_first() else {
                    return;
                };
                self.tail |= u64::from(b) << (8 * self.tail_len);
                self.tail_len += 1;
                bytes = rest;
            }
            let w = std::mem::take(&mut self.tail);
            self.tail_len = 0;
            self.word(w);
        }
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.word(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.tail |= u64::from(b) << (8 * self.tail_len);
            self.tail_len += 1;
        }
    }

    /// The hash of everything written.
    pub(crate) fn finish(&self) -> u64 {
        let mut acc = self.acc;
        if self.tail_len > 0 {
            acc = fold_mul(acc ^ self.tail, K1);
        }
        fold_mul(fold_mul(acc ^ self.len, K2), K3)
    }
}

/// The hash of `bytes`.
pub(crate) fn hash(bytes: &[u8]) -> u64 {
    let mut h = Hasher::new();
    h.write(bytes);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_independent() {
        let data: Vec<u8> = (0..200u32).map(|i| (i * 7 + 3) as u8).collect();
        let whole = hash(&data);
        for split in [1, 3, 7, 8, 9, 15, 16, 17] {
            let mut h = Hasher::new();
            for c in data.chunks(split) {
                h.write(c);
                h.write(b"");
            }
            assert_eq!(h.finish(), whole, "{split}");
        }
    }

    const PINNED_SELECT: u64 = 12487308600172158025;
    const PINNED_POINT: u64 = 15832446752898596306;

    #[test]
    fn stable_and_distinct() {
        // Pinned: digests are compared across releases and hosts.
        assert_eq!(hash(b"SELECT ?"), PINNED_SELECT);
        assert_eq!(hash(b"SELECT c FROM sbtest1 WHERE id=?"), PINNED_POINT);
        let fixed = [hash(b""), hash(b"a"), hash(b"SELECT ?"), hash(b"\0")];
        for (i, a) in fixed.iter().enumerate() {
            for b in &fixed[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_ne!(hash(b"abc"), hash(b"abc\0"));
        assert_ne!(hash(b"12345678"), hash(b"12345678\0"));
        let mut seen = std::collections::HashSet::new();
        for i in 0..20_000u32 {
            assert!(seen.insert(hash(format!("SELECT c FROM t{i}").as_bytes())));
        }
    }
}
