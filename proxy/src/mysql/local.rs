//! Result sets sqlmux answers itself (SELECT LAST_INSERT_ID(), SELECT ROW_COUNT()).

use bytes::BytesMut;
use sqlmux_protocol::mysql::constants::{CapabilityFlags, StatusFlags};
use sqlmux_protocol::mysql::lenenc;
use sqlmux_protocol::mysql::packet::write_packet;
use sqlmux_protocol::mysql::response::{end_of_rows, eof_packet};

/// MYSQL_TYPE_LONGLONG.
const TYPE_LONGLONG: u8 = 0x08;
/// binary collation id.
const BINARY_COLLATION: u16 = 63;
/// NOT_NULL | BINARY.
const FLAGS_NOT_NULL_BINARY: u16 = 0x0001 | 0x0080;
/// UNSIGNED.
const FLAG_UNSIGNED: u16 = 0x0020;

/// How a client expects the result sets sqlmux makes.
#[derive(Debug, Clone, Copy)]
pub struct ClientStyle {
    /// The client's capabilities (CLIENT_DEPRECATE_EOF).
    pub caps: CapabilityFlags,
    /// MariaDB extended metadata: column definitions carry one more field.
    pub extended_metadata: bool,
    /// Status flags of the closing packet.
    pub status: StatusFlags,
}

/// A one-row, one-column BIGINT result, as packets starting at sequence `seq`.
pub fn single_integer(
    style: ClientStyle,
    seq: u8,
    column: &str,
    value: &str,
    unsigned: bool,
) -> BytesMut {
    let ClientStyle { caps, status, .. } = style;
    let mut out = BytesMut::with_capacity(128);
    let mut seq = write_packet(&mut out, seq, &[1]);
    let mut def = Vec::with_capacity(48 + column.len());
    lenenc::write_str(&mut def, b"def");
    lenenc::write_str(&mut def, b"");
    lenenc::write_str(&mut def, b"");
    lenenc::write_str(&mut def, b"");
    lenenc::write_str(&mut def, column.as_bytes());
    lenenc::write_str(&mut def, b"");
    if style.extended_metadata {
        // No type name, no format.
        lenenc::write_str(&mut def, b"");
    }
    def.push(0x0c);
    def.extend_from_slice(&BINARY_COLLATION.to_le_bytes());
    def.extend_from_slice(&21u32.to_le_bytes());
    def.push(TYPE_LONGLONG);
    let flags = FLAGS_NOT_NULL_BINARY | if unsigned { FLAG_UNSIGNED } else { 0 };
    def.extend_from_slice(&flags.to_le_bytes());
    def.extend_from_slice(&[0, 0, 0]);
    seq = write_packet(&mut out, seq, &def);
    if !caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF) {
        seq = write_packet(&mut out, seq, &eof_packet(status, 0));
    }
    let mut row = Vec::with_capacity(22);
    lenenc::write_str(&mut row, value.as_bytes());
    seq = write_packet(&mut out, seq, &row);
    write_packet(&mut out, seq, &end_of_rows(caps, status, 0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlmux_protocol::mysql::scanner::{Expect, Progress, Scanner};

    #[test]
    fn the_scanner_accepts_our_result_in_both_eof_styles() {
        for caps in [
            CapabilityFlags::CLIENT_DEPRECATE_EOF,
            CapabilityFlags::empty(),
        ] {
            let style = ClientStyle {
                caps,
                extended_metadata: false,
                status: StatusFlags::SERVER_STATUS_AUTOCOMMIT,
            };
            let bytes = single_integer(style, 1, "LAST_INSERT_ID()", "42", true);
            let deprecate = caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF);
            let mut s = Scanner::new(Expect::Query, deprecate);
            assert_eq!(s.scan(&bytes).unwrap(), (bytes.len(), Progress::Done));
            assert_eq!(bytes[3], 1, "first sequence id");
        }
    }

    #[test]
    fn extended_metadata_adds_one_empty_field() {
        let style = |extended_metadata| ClientStyle {
            caps: CapabilityFlags::CLIENT_DEPRECATE_EOF,
            extended_metadata,
            status: StatusFlags::empty(),
        };
        let plain = single_integer(style(false), 1, "n", "1", false);
        let extended = single_integer(style(true), 1, "n", "1", false);
        assert_eq!(extended.len(), plain.len() + 1);
        let mut s = Scanner::new(Expect::Query, true);
        assert_eq!(s.scan(&extended).unwrap(), (extended.len(), Progress::Done));
    }
}
