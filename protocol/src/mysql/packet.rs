//! Packet framing: a 3-byte little-endian length, a sequence id, the payload.
//!
//! A payload of 0xFFFFFF bytes or more is sent as several packets; the last one is shorter
//! than 0xFFFFFF (possibly empty). [`decode_frame`] checks that a whole logical packet is
//! buffered before it takes it (mini-redis style: incomplete is `Ok(None)`).

use super::constants::MAX_PAYLOAD;
use bytes::{BufMut, Bytes, BytesMut};
use std::borrow::Cow;

/// Bytes in a packet header.
pub const HEADER_LEN: usize = 4;

/// A framing error.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PacketError {
    /// The logical packet is larger than allowed.
    #[error("packet of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Announced payload length so far.
        len: usize,
        /// Limit.
        max: usize,
    },
}

/// One physical packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Payload length of this physical packet.
    pub len: usize,
    /// Sequence id.
    pub seq: u8,
}

/// Reads the header at the start of `buf`, if four bytes are there.
#[inline]
pub fn peek_header(buf: &[u8]) -> Option<Header> {
    let h = buf.get(..HEADER_LEN)?;
    Some(Header {
        len: usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16,
        seq: h[3],
    })
}

/// A whole logical packet as it came over the wire (headers included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The wire bytes, headers included: relay these unchanged.
    pub raw: Bytes,
    /// Sequence id of the first physical packet.
    pub first_seq: u8,
    /// Sequence id of the last physical packet.
    pub last_seq: u8,
    /// Total payload length.
    pub payload_len: usize,
}

impl Frame {
    /// The payload, joined across physical packets when it was split.
    pub fn payload(&self) -> Cow<'_, [u8]> {
        if self.raw.len() == self.payload_len + HEADER_LEN {
            return Cow::Borrowed(&self.raw[HEADER_LEN..]);
        }
        let mut out = Vec::with_capacity(self.payload_len);
        let mut rest = &self.raw[..];
        while let Some(h) = peek_header(rest) {
            out.extend_from_slice(&rest[HEADER_LEN..HEADER_LEN + h.len]);
            rest = &rest[HEADER_LEN + h.len..];
        }
        Cow::Owned(out)
    }

    /// First payload byte (the command byte of a command packet).
    pub fn first_byte(&self) -> Option<u8> {
        (self.payload_len > 0).then(|| self.raw[HEADER_LEN])
    }
}

/// Takes one whole logical packet off `buf`; `Ok(None)` while it is incomplete.
pub fn decode_frame(buf: &mut BytesMut, max_payload: usize) -> Result<Option<Frame>, PacketError> {
    let mut at = 0;
    let mut payload_len = 0usize;
    let first_seq = match peek_header(buf) {
        Some(h) => h.seq,
        None => return Ok(None),
    };
    loop {
        let Some(h) = peek_header(&buf[at..]) else {
            return Ok(None);
        };
        payload_len += h.len;
        if payload_len > max_payload {
            return Err(PacketError::TooLarge {
                len: payload_len,
                max: max_payload,
            });
        }
        if buf.len() < at + HEADER_LEN + h.len {
            return Ok(None);
        }
        at += HEADER_LEN + h.len;
        if h.len < MAX_PAYLOAD {
            let raw = buf.split_to(at).freeze();
            let last_seq = raw[at - HEADER_LEN - h.len + 3];
            return Ok(Some(Frame {
                raw,
                first_seq,
                last_seq,
                payload_len,
            }));
        }
    }
}

/// Appends `payload` as packets starting at sequence `seq`, splitting at 16 MiB;
/// returns the next sequence id.
pub fn write_packet(out: &mut BytesMut, mut seq: u8, payload: &[u8]) -> u8 {
    let mut rest = payload;
    loop {
        let n = rest.len().min(MAX_PAYLOAD);
        out.reserve(HEADER_LEN + n);
        out.put_uint_le(n as u64, 3);
        out.put_u8(seq);
        out.put_slice(&rest[..n]);
        seq = seq.wrapping_add(1);
        rest = &rest[n..];
        if n < MAX_PAYLOAD {
            return seq;
        }
    }
}

/// Encodes one logical packet into fresh bytes.
pub fn encode(seq: u8, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + HEADER_LEN);
    write_packet(&mut out, seq, payload);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_packet_fixture() {
        let mut buf = BytesMut::from(&[0x01, 0x00, 0x00, 0x00, 0x0e, 0xAA][..]);
        let f = decode_frame(&mut buf, 1 << 30).unwrap().unwrap();
        assert_eq!(f.first_byte(), Some(0x0e));
        assert_eq!(f.payload().as_ref(), &[0x0e]);
        assert_eq!((f.first_seq, f.last_seq, f.payload_len), (0, 0, 1));
        assert_eq!(&buf[..], &[0xAA], "the next packet's byte stays");
    }

    #[test]
    fn incomplete_is_none_and_consumes_nothing() {
        for cut in 0..6 {
            let full = [0x02, 0x00, 0x00, 0x07, 0x03, b'x'];
            let mut buf = BytesMut::from(&full[..cut]);
            assert_eq!(decode_frame(&mut buf, 100).unwrap(), None);
            assert_eq!(buf.len(), cut);
        }
    }

    #[test]
    fn split_packet_round_trip() {
        let payload: Vec<u8> = (0..MAX_PAYLOAD + 10).map(|i| i as u8).collect();
        let mut out = BytesMut::new();
        let next = write_packet(&mut out, 3, &payload);
        assert_eq!(next, 5);
        assert_eq!(out.len(), payload.len() + 2 * HEADER_LEN);
        let mut partial = BytesMut::from(&out[..out.len() - 1]);
        assert_eq!(decode_frame(&mut partial, usize::MAX).unwrap(), None);
        let f = decode_frame(&mut out, usize::MAX).unwrap().unwrap();
        assert_eq!((f.first_seq, f.last_seq), (3, 4));
        assert_eq!(f.payload().as_ref(), &payload[..]);
        assert!(out.is_empty());
    }

    #[test]
    fn exact_multiple_ends_with_empty_packet() {
        let payload = vec![7u8; MAX_PAYLOAD];
        let mut out = BytesMut::new();
        write_packet(&mut out, 0, &payload);
        assert_eq!(out.len(), MAX_PAYLOAD + 2 * HEADER_LEN);
        assert_eq!(&out[out.len() - 4..], &[0, 0, 0, 1]);
        let f = decode_frame(&mut out, usize::MAX).unwrap().unwrap();
        assert_eq!(f.payload_len, MAX_PAYLOAD);
    }

    #[test]
    fn too_large_is_refused_before_buffering() {
        let mut buf = BytesMut::from(&[0xFF, 0xFF, 0xFF, 0x00][..]);
        assert!(matches!(
            decode_frame(&mut buf, 1000),
            Err(PacketError::TooLarge { .. })
        ));
    }
}
