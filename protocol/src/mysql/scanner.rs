//! Walks a backend's response to one command and tells where it ends, so the proxy can
//! relay the raw bytes as they arrive. Rows are never buffered whole: the scanner only
//! needs the header and first byte of a row packet, then passes over its bytes.

use super::constants::{StatusFlags, MAX_PAYLOAD};
use super::packet::{peek_header, HEADER_LEN};
use super::response::{parse_eof, parse_err, parse_ok, ErrInfo, OkInfo};

/// What kind of response the command expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// COM_QUERY: OK, ERR, LOCAL INFILE request or result sets, possibly several.
    Query,
    /// COM_STMT_EXECUTE: like a query, binary rows, no LOCAL INFILE.
    Execute,
    /// COM_STMT_FETCH: rows then a terminator.
    Fetch,
    /// COM_STMT_PREPARE: prepare-OK, parameter and column definitions.
    Prepare,
    /// COM_FIELD_LIST: column definitions until EOF.
    FieldList,
    /// COM_STATISTICS: one packet of text.
    Single,
    /// Commands answered with one OK, EOF or ERR packet.
    OkOrErr,
}

/// How far the response got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// More bytes are needed.
    More,
    /// The response is complete.
    Done,
    /// The server asks the client for a local file (0xFB); the scan resumes after the
    /// client's data has been relayed.
    LocalInfile,
    /// An OK packet (or OK terminator) was just scanned: it is the last
    /// [`Scanner::last_packet_len`] bytes of the consumed range. Only with
    /// [`Scanner::report_oks`]; call `scan` again on the rest.
    Ok,
}

/// A response the scanner cannot follow.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScanError {
    /// The backend sent a packet that makes no sense in this place.
    #[error("unexpected packet from the server ({0})")]
    Unexpected(&'static str),
}

/// COM_STMT_PREPARE_OK header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrepareOk {
    /// Server-side statement id.
    pub statement_id: u32,
    /// Result columns.
    pub columns: u16,
    /// Parameters.
    pub params: u16,
    /// Warnings.
    pub warnings: u16,
}

/// What one control packet meant to the caller of `scan`.
enum Signal {
    None,
    LocalInfile,
    Ok,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    First,
    Columns(u64),
    ColumnsEof,
    Rows,
    PrepareFirst,
    PrepareParams { left: u16, columns: u16 },
    PrepareParamsEof { columns: u16 },
    PrepareColumns(u16),
    PrepareColumnsEof,
    FieldList,
    Single,
    OkOrErr,
    Done,
}

/// Incremental scanner over one response.
#[derive(Debug, Clone)]
pub struct Scanner {
    state: State,
    deprecate_eof: bool,
    /// Bytes of the current row packet still to pass over.
    skip: usize,
    /// The previous physical packet was 0xFFFFFF bytes: the next one continues it.
    continuation: bool,
    /// The last OK packet (or OK terminator) seen.
    pub ok: Option<OkInfo>,
    /// Status flags of the last OK/EOF seen.
    pub status: StatusFlags,
    /// The ERR the response ended with.
    pub error: Option<ErrInfo>,
    /// The prepare-OK header, for COM_STMT_PREPARE.
    pub prepare: Option<PrepareOk>,
    /// Wire length (header included) of the last control packet scanned.
    pub last_packet_len: usize,
    /// Whether the last result ended a result set (rows) rather than an OK.
    pub last_was_result_set: bool,
    /// Warning count of the last OK/EOF seen.
    pub warnings: u16,
    /// Whether any OK/EOF (and so `status`) was seen.
    pub saw_status: bool,
    report_oks: bool,
}

impl Scanner {
    /// A scanner for the response to one command.
    pub fn new(expect: Expect, deprecate_eof: bool) -> Self {
        let state = match expect {
            Expect::Query | Expect::Execute => State::First,
            Expect::Fetch => State::Rows,
            Expect::Prepare => State::PrepareFirst,
            Expect::FieldList => State::FieldList,
            Expect::Single => State::Single,
            Expect::OkOrErr => State::OkOrErr,
        };
        Self {
            state,
            deprecate_eof,
            skip: 0,
            continuation: false,
            ok: None,
            status: StatusFlags::empty(),
            error: None,
            prepare: None,
            last_packet_len: 0,
            last_was_result_set: false,
            warnings: 0,
            saw_status: false,
            report_oks: false,
        }
    }

    /// Makes `scan` stop after every OK packet with [`Progress::Ok`].
    pub fn report_oks(mut self) -> Self {
        self.report_oks = true;
        self
    }

    /// True once the whole response has been seen.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Scans `buf` (the bytes not yet relayed); returns how many of them belong to the
    /// response and may be relayed now, and whether it is complete.
    pub fn scan(&mut self, buf: &[u8]) -> Result<(usize, Progress), ScanError> {
        let mut at = 0;
        loop {
            if self.state == State::Done {
                return Ok((at, Progress::Done));
            }
            if self.skip > 0 {
                let n = self.skip.min(buf.len() - at);
                at += n;
                self.skip -= n;
                if self.skip > 0 {
                    return Ok((at, Progress::More));
                }
                continue;
            }
            let Some(h) = peek_header(&buf[at..]) else {
                return Ok((at, Progress::More));
            };
            if self.state == State::Rows {
                if self.continuation || h.len == 0 {
                    self.continuation = h.len == MAX_PAYLOAD;
                    self.skip = HEADER_LEN + h.len;
                    continue;
                }
                let Some(&first) = buf.get(at + HEADER_LEN) else {
                    return Ok((at, Progress::More));
                };
                let is_end = (first == 0xFE && h.len < MAX_PAYLOAD) || first == 0xFF;
                if !is_end {
                    self.continuation = h.len == MAX_PAYLOAD;
                    self.skip = HEADER_LEN + h.len;
                    continue;
                }
            }
            if h.len >= MAX_PAYLOAD {
                return Err(ScanError::Unexpected("oversized control packet"));
            }
            let end = at + HEADER_LEN + h.len;
            if buf.len() < end {
                return Ok((at, Progress::More));
            }
            let payload = &buf[at + HEADER_LEN..end];
            self.last_packet_len = end - at;
            at = end;
            match self.on_packet(payload)? {
                Signal::None => {}
                Signal::LocalInfile => return Ok((at, Progress::LocalInfile)),
                Signal::Ok if self.report_oks => return Ok((at, Progress::Ok)),
                Signal::Ok => {}
            }
        }
    }

    /// Called after the client's LOCAL INFILE data went to the server: its OK/ERR follows.
    pub fn resume_after_local_infile(&mut self) {
        self.state = State::First;
    }

    fn end_of_result(&mut self, info: OkInfo) {
        self.warnings = info.warnings;
        let more = StatusFlags::SERVER_MORE_RESULTS_EXISTS;
        self.take_status(info.status, more, State::First, State::Done);
    }

    /// Takes a terminator's `status`; the scan goes on in `then` when it has `flag`, else
    /// in `otherwise`.
    #[inline]
    fn take_status(
        &mut self,
        status: StatusFlags,
        flag: StatusFlags,
        then: State,
        otherwise: State,
    ) {
        self.status = status;
        self.saw_status = true;
        self.state = if status.contains(flag) {
            then
        } else {
            otherwise
        };
    }

    fn terminator(&mut self, payload: &[u8]) -> Result<OkInfo, ScanError> {
        let info = if self.deprecate_eof && payload.len() > 5 {
            parse_ok(payload)
        } else {
            parse_eof(payload)
        };
        info.ok_or(ScanError::Unexpected("malformed EOF packet"))
    }

    fn error(&mut self, payload: &[u8]) -> Result<(), ScanError> {
        self.error = Some(parse_err(payload).ok_or(ScanError::Unexpected("malformed ERR packet"))?);
        self.state = State::Done;
        Ok(())
    }

    /// Handles one whole control packet.
    fn on_packet(&mut self, payload: &[u8]) -> Result<Signal, ScanError> {
        let first = *payload
            .first()
            .ok_or(ScanError::Unexpected("empty packet"))?;
        if first == 0xFF && self.state != State::Single {
            self.error(payload)?;
            self.last_was_result_set = false;
            return Ok(Signal::None);
        }
        match self.state {
            State::First => match first {
                0x00 => {
                    let ok =
                        parse_ok(payload).ok_or(ScanError::Unexpected("malformed OK packet"))?;
                    self.ok = Some(ok);
                    self.last_was_result_set = false;
                    self.end_of_result(ok);
                    return Ok(Signal::Ok);
                }
                0xFB => {
                    self.state = State::Done;
                    return Ok(Signal::LocalInfile);
                }
                _ => {
                    let (n, _) = super::lenenc::read_int(payload)
                        .ok_or(ScanError::Unexpected("bad column count"))?;
                    if n == 0 {
                        return Err(ScanError::Unexpected("zero column count"));
                    }
                    self.state = State::Columns(n);
                }
            },
            State::Columns(n) => {
                self.state = match (n - 1, self.deprecate_eof) {
                    (0, true) => State::Rows,
                    (0, false) => State::ColumnsEof,
                    (left, _) => State::Columns(left),
                };
            }
            State::ColumnsEof => {
                let info = self.terminator(payload)?;
                let cursor = StatusFlags::SERVER_STATUS_CURSOR_EXISTS;
                self.take_status(info.status, cursor, State::Done, State::Rows);
            }
            State::Rows => {
                let info = self.terminator(payload)?;
                self.last_was_result_set = true;
                self.end_of_result(info);
                if self.deprecate_eof {
                    self.ok = Some(info);
                    return Ok(Signal::Ok);
                }
            }
            State::PrepareFirst
            | State::PrepareParams { .. }
            | State::PrepareParamsEof { .. }
            | State::PrepareColumns(_) => self.on_prepare_packet(first, payload)?,
            State::PrepareColumnsEof | State::Single => self.state = State::Done,
            State::FieldList => {
                if first == 0xFE && payload.len() < 0xFF_FFFF {
                    self.status = self.terminator(payload)?.status;
                    self.saw_status = true;
                    self.state = State::Done;
                }
            }
            State::OkOrErr => {
                let info = match first {
                    0x00 => parse_ok(payload),
                    0xFE => parse_eof(payload).or_else(|| parse_ok(payload)),
                    _ => None,
                }
                .ok_or(ScanError::Unexpected("expected OK or ERR"))?;
                self.status = info.status;
                self.saw_status = true;
                self.state = State::Done;
                if first == 0x00 {
                    self.ok = Some(info);
                    return Ok(Signal::Ok);
                }
            }
            State::Done => return Err(ScanError::Unexpected("data after the end of a response")),
        }
        Ok(Signal::None)
    }

    /// Handles one packet of a COM_STMT_PREPARE response: its OK, then the parameter and
    /// column definitions.
    fn on_prepare_packet(&mut self, first: u8, payload: &[u8]) -> Result<(), ScanError> {
        match self.state {
            State::PrepareFirst => {
                if first != 0x00 || payload.len() < 12 {
                    return Err(ScanError::Unexpected("malformed prepare OK"));
                }
                let u16_at = |i: usize| u16::from_le_bytes([payload[i], payload[i + 1]]);
                let ok = PrepareOk {
                    statement_id: u32::from_le_bytes([
                        payload[1], payload[2], payload[3], payload[4],
                    ]),
                    columns: u16_at(5),
                    params: u16_at(7),
                    warnings: u16_at(10),
                };
                self.prepare = Some(ok);
                self.state = self.after_params(ok.params, ok.columns);
            }
            State::PrepareParams { left, columns } => {
                self.state = if left > 1 {
                    State::PrepareParams {
                        left: left - 1,
                        columns,
                    }
                } else if self.deprecate_eof {
                    self.after_params(0, columns)
                } else {
                    State::PrepareParamsEof { columns }
                };
            }
            State::PrepareParamsEof { columns } => self.state = self.after_params(0, columns),
            State::PrepareColumns(left) => {
                self.state = if left > 1 {
                    State::PrepareColumns(left - 1)
                } else if self.deprecate_eof {
                    State::Done
                } else {
                    State::PrepareColumnsEof
                };
            }
            _ => {}
        }
        Ok(())
    }

    fn after_params(&self, params: u16, columns: u16) -> State {
        if params > 0 {
            State::PrepareParams {
                left: params,
                columns,
            }
        } else if columns > 0 {
            State::PrepareColumns(columns)
        } else {
            State::Done
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mysql::packet::encode;
    use crate::mysql::response::{eof_packet, err_packet, ok_packet};

    fn wire(packets: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, p) in packets.iter().enumerate() {
            out.extend_from_slice(&encode((i + 1) as u8, p));
        }
        out
    }

    fn column(name: &str) -> Vec<u8> {
        let mut c = vec![3, b'd', b'e', b'f'];
        c.extend_from_slice(&[0, 0, 0, name.len() as u8]);
        c.extend_from_slice(name.as_bytes());
        c.extend_from_slice(&[0, 0x0c, 0x21, 0, 0, 0, 0, 0xfd, 0, 0, 0, 0, 0]);
        c
    }

    fn none() -> StatusFlags {
        StatusFlags::SERVER_STATUS_AUTOCOMMIT
    }

    /// Scans all of `bytes` fed `step` bytes at a time, as a relay would.
    fn scan_in_steps(s: &mut Scanner, bytes: &[u8], step: usize) -> (usize, Progress) {
        let mut pending: Vec<u8> = Vec::new();
        let mut relayed = 0;
        for chunk in bytes.chunks(step) {
            pending.extend_from_slice(chunk);
            let (n, p) = s.scan(&pending).unwrap();
            relayed += n;
            pending.drain(..n);
            if p != Progress::More {
                return (relayed, p);
            }
        }
        (relayed, Progress::More)
    }

    #[test]
    fn text_result_with_eof_packets() {
        let bytes = wire(&[
            vec![1],
            column("a"),
            eof_packet(none(), 0),
            vec![1, b'1'],
            vec![1, b'2'],
            eof_packet(none(), 0),
        ]);
        for step in [1, 3, 7, bytes.len()] {
            let mut s = Scanner::new(Expect::Query, false);
            let mut with_tail = bytes.clone();
            with_tail.extend_from_slice(b"NEXT");
            let (n, p) = scan_in_steps(&mut s, &with_tail, step);
            assert_eq!((n, p), (bytes.len(), Progress::Done), "step {step}");
        }
    }

    /// How a server with DEPRECATE_EOF ends rows: an OK packet with the 0xFE header.
    fn ok_as_eof(status: StatusFlags) -> Vec<u8> {
        let mut end = ok_packet(0, 0, status, 0);
        end[0] = 0xFE;
        end
    }

    /// An OK (LAST_INSERT_ID 42) with more results behind it, then a result set of one
    /// column and one row, without its end.
    fn ok_then_a_row() -> Vec<Vec<u8>> {
        let more = none() | StatusFlags::SERVER_MORE_RESULTS_EXISTS;
        vec![
            ok_packet(1, 42, more, 0),
            vec![1],
            column("a"),
            vec![1, b'x'],
        ]
    }

    #[test]
    fn deprecate_eof_and_multi_results() {
        let more = ok_as_eof(none() | StatusFlags::SERVER_MORE_RESULTS_EXISTS);
        let rest = vec![more, vec![2], column("a"), column("b"), ok_as_eof(none())];
        let bytes = wire(&[ok_then_a_row(), rest].concat());
        let mut s = Scanner::new(Expect::Query, true);
        assert_eq!(s.scan(&bytes).unwrap(), (bytes.len(), Progress::Done));
        assert!(s.error.is_none());
    }

    #[test]
    fn ok_packets_are_reported_when_asked() {
        let bytes = wire(&[ok_then_a_row(), vec![ok_as_eof(none())]].concat());
        let mut s = Scanner::new(Expect::Query, true).report_oks();
        let (n, p) = s.scan(&bytes).unwrap();
        assert_eq!(p, Progress::Ok);
        assert_eq!(n, s.last_packet_len, "the first packet is the OK");
        assert_eq!(s.ok.unwrap().last_insert_id, 42);
        assert!(!s.last_was_result_set);
        let (m, p) = s.scan(&bytes[n..]).unwrap();
        assert_eq!((n + m, p), (bytes.len(), Progress::Ok));
        assert!(s.last_was_result_set);
        assert_eq!(s.scan(&bytes[n + m..]).unwrap(), (0, Progress::Done));
    }

    #[test]
    fn error_in_the_middle_of_rows() {
        let bytes = wire(&[
            vec![1],
            column("a"),
            vec![1, b'x'],
            err_packet(1317, "70100", "interrupted"),
        ]);
        let mut s = Scanner::new(Expect::Query, true);
        assert_eq!(s.scan(&bytes).unwrap(), (bytes.len(), Progress::Done));
        assert_eq!(s.error.as_ref().unwrap().code, 1317);
    }

    #[test]
    fn split_row_starting_with_fe_is_not_a_terminator() {
        // one text column of 16 MiB + 5 bytes: its length prefix starts with 0xFE
        let value_len = MAX_PAYLOAD + 5;
        let mut row = vec![0xFE];
        row.extend_from_slice(&(value_len as u64).to_le_bytes());
        row.resize(9 + value_len, b'v');
        let mut bytes = wire(&[vec![1], column("a")]);
        let mut seq_buf = bytes::BytesMut::new();
        let next = crate::mysql::packet::write_packet(&mut seq_buf, 3, &row);
        bytes.extend_from_slice(&seq_buf);
        bytes.extend_from_slice(&encode(next, &ok_as_eof(none())));
        let mut s = Scanner::new(Expect::Query, true);
        let (n, p) = scan_in_steps(&mut s, &bytes, 65536);
        assert_eq!((n, p), (bytes.len(), Progress::Done));
    }

    #[test]
    fn prepare_response() {
        let mut head = vec![0x00];
        head.extend_from_slice(&9u32.to_le_bytes());
        head.extend_from_slice(&1u16.to_le_bytes());
        head.extend_from_slice(&2u16.to_le_bytes());
        head.extend_from_slice(&[0, 0, 0]);
        let bytes = wire(&[
            head,
            column("?"),
            column("?"),
            eof_packet(none(), 0),
            column("a"),
            eof_packet(none(), 0),
        ]);
        let mut s = Scanner::new(Expect::Prepare, false);
        assert_eq!(s.scan(&bytes).unwrap(), (bytes.len(), Progress::Done));
        let p = s.prepare.unwrap();
        assert_eq!((p.statement_id, p.columns, p.params), (9, 1, 2));
    }

    #[test]
    fn local_infile_pauses_then_resumes() {
        let request = wire(&[b"\xFB/tmp/data.csv".to_vec()]);
        let mut s = Scanner::new(Expect::Query, true);
        assert_eq!(
            s.scan(&request).unwrap(),
            (request.len(), Progress::LocalInfile)
        );
        s.resume_after_local_infile();
        let ok = encode(3, &ok_packet(3, 0, none(), 0));
        assert_eq!(s.scan(&ok).unwrap(), (ok.len(), Progress::Done));
        assert_eq!(s.ok.unwrap().affected_rows, 3);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for junk in [
            &[0u8, 0, 0, 1][..],
            &[1, 0, 0, 1, 0xFB],
            &[2, 0, 0, 1, 0xFC, 0],
        ] {
            let mut s = Scanner::new(Expect::Query, true);
            let _ = s.scan(junk);
        }
        let mut s = Scanner::new(Expect::Query, true);
        assert!(s.scan(&[1, 0, 0, 1, 0x00]).is_err(), "truncated OK");
    }
}
