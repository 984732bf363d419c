//! Length-encoded integers and strings.

/// Reads a length-encoded integer at the start of `buf`: `(value, bytes used)`.
/// `None` when `buf` is too short or starts with a byte that is no integer (0xFB, 0xFF).
pub fn read_int(buf: &[u8]) -> Option<(u64, usize)> {
    let first = *buf.first()?;
    let take = |n: usize| -> Option<u64> {
        let bytes = buf.get(1..1 + n)?;
        Some(
            bytes
                .iter()
                .rev()
                .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
        )
    };
    match first {
        0..=0xFA => Some((u64::from(first), 1)),
        0xFC => Some((take(2)?, 3)),
        0xFD => Some((take(3)?, 4)),
        0xFE => Some((take(8)?, 9)),
        _ => None,
    }
}

/// Reads a length-encoded string: `(bytes, total bytes used)`.
pub fn read_str(buf: &[u8]) -> Option<(&[u8], usize)> {
    let (len, used) = read_int(buf)?;
    let len = usize::try_from(len).ok()?;
    let s = buf.get(used..used.checked_add(len)?)?;
    Some((s, used + len))
}

/// Appends a length-encoded integer.
pub fn write_int(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=0xFA => out.push(v as u8),
        0xFB..=0xFFFF => {
            out.push(0xFC);
            out.extend_from_slice(&(v as u16).to_le_bytes());
        }
        0x1_0000..=0xFF_FFFF => {
            out.push(0xFD);
            out.extend_from_slice(&(v as u32).to_le_bytes()[..3]);
        }
        _ => {
            out.push(0xFE);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// Appends a length-encoded string.
pub fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    write_int(out, s.len() as u64);
    out.extend_from_slice(s);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_width() {
        for v in [
            0u64,
            250,
            251,
            0xFFFF,
            0x1_0000,
            0xFF_FFFF,
            0x100_0000,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            write_int(&mut out, v);
            assert_eq!(read_int(&out), Some((v, out.len())), "{v}");
        }
    }

    #[test]
    fn fixtures() {
        assert_eq!(read_int(&[0xFC, 0x01, 0x02]), Some((0x0201, 3)));
        assert_eq!(read_int(&[0xFD, 0x01, 0x02, 0x03]), Some((0x030201, 4)));
        assert_eq!(read_int(&[0xFC, 0x01]), None, "truncated");
        assert_eq!(read_int(&[0xFB]), None, "NULL marker is no integer");
        assert_eq!(read_int(&[]), None);
        assert_eq!(read_str(&[3, b'a', b'b', b'c', 9]), Some((&b"abc"[..], 4)));
        assert_eq!(read_str(&[3, b'a']), None);
    }
}
