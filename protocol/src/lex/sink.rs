//! Where a digest's normalized bytes go: [`Buffered`] gathers the many small pieces of a
//! normalization into blocks for a `Vec` (the digest text) or the [`Hasher`] (the digest
//! hash). Shared by the MySQL and PostgreSQL digests.

use super::hash::Hasher;

/// Where normalized bytes go, piece by piece.
pub(crate) trait Sink {
    /// Appends normalized bytes.
    fn put(&mut self, bytes: &[u8]);
}

/// Where they end up, in blocks.
pub(crate) trait Blocks {
    /// Takes a block of bytes.
    fn block(&mut self, bytes: &[u8]);
}

impl Blocks for Vec<u8> {
    fn block(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

impl Blocks for Hasher {
    fn block(&mut self, bytes: &[u8]) {
        self.write(bytes);
    }
}

/// Collects the many small pieces in a stack buffer and passes them on in blocks (the hash
/// does not depend on how its input is split).
pub(crate) struct Buffered<B: Blocks> {
    buf: [u8; 256],
    len: usize,
    out: B,
}

impl<B: Blocks> Buffered<B> {
    /// A sink passing blocks on to `out`.
    pub(crate) fn new(out: B) -> Self {
        Buffered {
            buf: [0; 256],
            len: 0,
            out,
        }
    }

    fn flush(&mut self) {
        self.out.block(self.buf.get(..self.len).unwrap_or_default());
        self.len = 0;
    }

    /// Passes on what is left and returns the destination.
    pub(crate) fn finish(mut self) -> B {
        self.flush();
        self.out
    }
}

impl<B: Blocks> Sink for Buffered<B> {
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) {
        let end = self.len.saturating_add(bytes.len());
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
            self.len = end;
            return;
        }
        self.flush();
        match self.buf.get_mut(..bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len = bytes.len();
            }
            None => self.out.block(bytes),
        }
    }
}

/// The normalized bytes as text (invalid UTF-8 replaced by U+FFFD).
pub(crate) fn into_text(bytes: Vec<u8>) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}
