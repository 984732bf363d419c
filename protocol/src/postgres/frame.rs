//! Message framing. A regular message is a type byte, a big-endian i32 length that counts
//! itself but not the type byte, and the body. Startup packets (StartupMessage,
//! SSLRequest, CancelRequest) have no type byte. Mini-redis style: check that a whole
//! message is buffered before taking it; incomplete is `Ok(None)`. [`build`] frames a
//! message sqlmux writes itself.

use bytes::{BufMut, Bytes, BytesMut};

/// Largest startup packet accepted (PostgreSQL's own limit is 10000 bytes).
pub const MAX_STARTUP_LEN: usize = 10_000;

/// A framing error: the stream cannot be read further.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The length field is smaller than the length field itself.
    #[error("invalid message length {len} for message type {tag:?}")]
    BadLength {
        /// Message type byte (0 for a startup packet).
        tag: char,
        /// Announced length.
        len: i64,
    },
    /// The message is larger than allowed.
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// Limit.
        max: usize,
    },
}

/// One whole message as it came over the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The wire bytes: type byte, length, body. Relay these unchanged.
    pub raw: Bytes,
}

impl Message {
    /// The type byte.
    #[inline]
    pub fn tag(&self) -> u8 {
        self.raw[0]
    }

    /// The body, after the type byte and length.
    #[inline]
    pub fn body(&self) -> &[u8] {
        &self.raw[5..]
    }
}

/// Total wire length (type byte included) of the message at the start of `buf`, once its
/// five header bytes are there.
#[inline]
pub fn peek_len(buf: &[u8], max: usize) -> Result<Option<usize>, FrameError> {
    let Some(h) = buf.get(..5) else {
        return Ok(None);
    };
    let len = i32::from_be_bytes([h[1], h[2], h[3], h[4]]);
    if len < 4 {
        return Err(FrameError::BadLength {
            tag: char::from(h[0]),
            len: i64::from(len),
        });
    }
    let len = len as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    Ok(Some(len + 1))
}

/// The whole, well-formed messages at the start of `buf`, as (type byte, whole message):
/// a relay can walk them and pass a run on as one block. Stops (without error) at an
/// incomplete message or a bad length, which [`decode_frame`] then handles.
#[inline]
pub fn whole_messages(buf: &[u8], max: usize) -> impl Iterator<Item = (u8, &[u8])> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let (&tag, total) = match (rest.first(), peek_len(rest, max)) {
            (Some(tag), Ok(Some(total))) if total <= rest.len() => (tag, total),
            _ => return None,
        };
        let (message, after) = rest.split_at(total);
        rest = after;
        Some((tag, message))
    })
}

/// Takes one whole regular message off the front of `buf`.
#[inline]
pub fn decode_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Message>, FrameError> {
    match peek_len(buf, max)? {
        Some(total) if buf.len() >= total => Ok(Some(Message {
            raw: buf.split_to(total).freeze(),
        })),
        _ => Ok(None),
    }
}

/// Takes one whole startup packet off the front of `buf`; returns its body (after the
/// length).
pub fn decode_startup(buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
    let Some(h) = buf.get(..4) else {
        return Ok(None);
    };
    let len = i32::from_be_bytes([h[0], h[1], h[2], h[3]]);
    if len < 8 {
        return Err(FrameError::BadLength {
            tag: '\0',
            len: i64::from(len),
        });
    }
    let len = len as usize;
    if len > MAX_STARTUP_LEN {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_STARTUP_LEN,
        });
    }
    if buf.len() < len {
        return Ok(None);
    }
    let mut packet = buf.split_to(len);
    Ok(Some(packet.split_off(4).freeze()))
}

/// A tagged message: `tag`, its length, then the body that `body` writes (`capacity` bytes
/// reserved for all of it).
pub fn build(tag: u8, capacity: usize, body: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut b = BytesMut::with_capacity(capacity);
    b.put_u8(tag);
    b.put_i32(0);
    body(&mut b);
    let len = (b.len() - 1) as i32;
    b[1..5].copy_from_slice(&len.to_be_bytes());
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_messages_stop_at_an_incomplete_or_bad_one() {
        let lens = |buf: &[u8], max: usize| -> Vec<(u8, usize)> {
            whole_messages(buf, max)
                .map(|(t, m)| (t, m.len()))
                .collect()
        };
        // RowDescription, two DataRows, CommandComplete, ReadyForQuery.
        let buf = b"T\0\0\0\x06abD\0\0\0\x05xD\0\0\0\x04C\0\0\0\x0dSELECT 2\0Z\0\0\0\x05I";
        assert_eq!(
            lens(buf, 1 << 20),
            vec![(b'T', 7), (b'D', 6), (b'D', 5), (b'C', 14), (b'Z', 6)]
        );
        // Stops at an incomplete DataRow.
        assert_eq!(lens(&buf[..15], 1 << 20), vec![(b'T', 7), (b'D', 6)]);
        assert!(lens(&buf[..4], 1 << 20).is_empty());
        // Stops at a bad or too large length.
        assert!(lens(b"D\0\0\0\x02D\0\0\0\x04", 1 << 20).is_empty());
        assert_eq!(lens(b"D\0\0\0\x04D\0\0\x01\0", 100), vec![(b'D', 5)]);
        assert!(lens(b"", 100).is_empty());
    }

    #[test]
    fn splits_messages_and_waits_for_whole_ones() {
        // ReadyForQuery 'I' followed by half of a CommandComplete.
        let mut buf = BytesMut::from(&b"Z\0\0\0\x05IC\0\0\0\x0dSELE"[..]);
        let m = decode_frame(&mut buf, 1 << 20).unwrap().unwrap();
        assert_eq!(m.tag(), b'Z');
        assert_eq!(m.body(), b"I");
        assert_eq!(decode_frame(&mut buf, 1 << 20).unwrap(), None);
        buf.extend_from_slice(b"CT 1\0");
        let m = decode_frame(&mut buf, 1 << 20).unwrap().unwrap();
        assert_eq!(m.body(), b"SELECT 1\0");
        assert!(buf.is_empty());
        assert_eq!(decode_frame(&mut buf, 1 << 20).unwrap(), None);
    }

    #[test]
    fn rejects_bad_and_oversized_lengths() {
        let mut buf = BytesMut::from(&b"Q\0\0\0\x02"[..]);
        assert!(matches!(
            decode_frame(&mut buf, 100),
            Err(FrameError::BadLength { tag: 'Q', len: 2 })
        ));
        let mut buf = BytesMut::from(&b"Q\x7f\0\0\0"[..]);
        assert!(matches!(
            decode_frame(&mut buf, 100),
            Err(FrameError::TooLarge { .. })
        ));
        let mut buf = BytesMut::from(&b"Q\xff\xff\xff\xff"[..]);
        assert!(decode_frame(&mut buf, 100).is_err());
    }

    #[test]
    fn startup_packets() {
        // SSLRequest: length 8, code 80877103.
        let mut buf = BytesMut::from(&b"\0\0\0\x08\x04\xd2\x16\x2f"[..]);
        assert_eq!(
            decode_startup(&mut buf).unwrap().unwrap().as_ref(),
            b"\x04\xd2\x16\x2f"
        );
        let mut buf = BytesMut::from(&b"\0\0\0\x10\0\x03"[..]);
        assert_eq!(decode_startup(&mut buf).unwrap(), None);
        let mut buf = BytesMut::from(&b"\0\0\0\x02"[..]);
        assert!(decode_startup(&mut buf).is_err());
        let mut buf = BytesMut::from(&b"\x7f\0\0\0"[..]);
        assert!(matches!(
            decode_startup(&mut buf),
            Err(FrameError::TooLarge { .. })
        ));
    }
}
