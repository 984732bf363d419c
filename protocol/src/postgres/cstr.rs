//! NUL-terminated strings inside message bodies.

use super::MessageError;

/// Reads a NUL-terminated string at `pos`; returns it (without the NUL) and the position
/// after the NUL.
pub fn read<'a>(
    body: &'a [u8],
    pos: usize,
    what: &'static str,
) -> Result<(&'a [u8], usize), MessageError> {
    let rest = body.get(pos..).ok_or(MessageError::Truncated(what))?;
    let end = rest
        .iter()
        .position(|b| *b == 0)
        .ok_or(MessageError::Truncated(what))?;
    Ok((&rest[..end], pos + end + 1))
}

/// Reads a big-endian i16 at `pos`.
pub fn read_i16(body: &[u8], pos: usize, what: &'static str) -> Result<i16, MessageError> {
    let b = body
        .get(pos..pos + 2)
        .ok_or(MessageError::Truncated(what))?;
    Ok(i16::from_be_bytes([b[0], b[1]]))
}

/// Reads a big-endian i32 at `pos`.
pub fn read_i32(body: &[u8], pos: usize, what: &'static str) -> Result<i32, MessageError> {
    let b = body
        .get(pos..pos + 4)
        .ok_or(MessageError::Truncated(what))?;
    Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_strings_and_reports_missing_nul() {
        let body = b"abc\0\0x";
        assert_eq!(read(body, 0, "t").unwrap(), (&b"abc"[..], 4));
        assert_eq!(read(body, 4, "t").unwrap(), (&b""[..], 5));
        assert_eq!(read(body, 5, "t"), Err(MessageError::Truncated("t")));
        assert_eq!(read(body, 9, "t"), Err(MessageError::Truncated("t")));
        assert_eq!(read_i16(&[1, 2], 0, "t").unwrap(), 0x0102);
        assert!(read_i32(&[1, 2, 3], 0, "t").is_err());
    }
}
