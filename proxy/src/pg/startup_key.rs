//! The BackendKeyData sqlmux gives a client: its own process id and a random secret
//! (4 bytes in protocol 3.0, 32 bytes in 3.2).

use bytes::Bytes;

/// A session's cancel key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelKey(Bytes);

impl CancelKey {
    /// A fresh random key of `len` bytes.
    pub fn random(len: usize) -> Self {
        let mut k = vec![0u8; len];
        getrandom::fill(&mut k).expect("the OS random source is available");
        CancelKey(Bytes::from(k))
    }

    /// The key bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// Constant-time comparison with a key from a CancelRequest.
    pub fn matches(&self, other: &[u8]) -> bool {
        self.0.len() == other.len()
            && self
                .0
                .iter()
                .zip(other)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_only_themselves() {
        let k = CancelKey::random(4);
        assert!(k.matches(k.bytes()));
        assert!(!k.matches(&[0; 3]));
        let other = CancelKey::random(32);
        assert_eq!(other.bytes().len(), 32);
        assert!(!k.matches(other.bytes()));
    }
}
