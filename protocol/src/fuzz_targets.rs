//! The bodies of the fuzz targets (`fuzz/`, run with `cargo fuzz` on nightly), kept here so
//! that the stable test suite replays the committed corpora through the very same code
//! (`protocol/tests/fuzz_corpora.rs`). Each takes arbitrary bytes, as a client or a server
//! could send them, and must neither panic nor loop; what they assert is noted per target.

use crate::mysql::packet::decode_frame;
use crate::mysql::scanner::{Expect, Progress, Scanner};
use bytes::BytesMut;

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus directory.
pub const TARGETS: [(&str, Target); 6] = [
    ("mysql_packet", mysql_packet),
    ("mysql_handshake", mysql_handshake),
    ("mysql_scanner", mysql_scanner),
    ("pg_frame", pg_frame),
    ("sql_mysql", sql_mysql),
    ("sql_postgres", sql_postgres),
];

/// MySQL client framing, fed in two pieces (a frame that is complete is never "incomplete"
/// again, and decoding consumes what it returns).
pub fn mysql_packet(data: &[u8]) {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut buf = BytesMut::from(&data[..split]);
    let mut frames = 0;
    for piece in [&data[split..], &[][..]] {
        loop {
            let before = buf.len();
            match decode_frame(&mut buf, 1 << 16) {
                Ok(Some(frame)) => {
                    assert!(buf.len() < before, "a frame consumes bytes");
                    let _ = frame.payload();
                    frames += 1;
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        buf.extend_from_slice(piece);
    }
    assert!(frames <= data.len() / 4 + 1);
}

/// The client's handshake response, SSL request and COM_CHANGE_USER.
pub fn mysql_handshake(data: &[u8]) {
    let _ = crate::mysql::handshake::is_ssl_request(data);
    let _ = crate::mysql::handshake::parse_handshake_response(data);
    for caps in [0u32, u32::MAX] {
        let _ = crate::mysql::handshake::parse_change_user(
            data,
            crate::mysql::constants::CapabilityFlags::from_bits_truncate(caps),
        );
    }
}

/// A server's response scanned as every kind of command expects it, byte by byte as it
/// could arrive: the scanner never claims more than it was given.
pub fn mysql_scanner(data: &[u8]) {
    let Some((&selector, response)) = data.split_first() else {
        return;
    };
    let expect = [
        Expect::Query,
        Expect::Execute,
        Expect::Fetch,
        Expect::Prepare,
        Expect::FieldList,
        Expect::Single,
        Expect::OkOrErr,
    ][usize::from(selector % 7)];
    let mut scanner = Scanner::new(expect, selector & 0x80 != 0).report_oks();
    let mut offset = 0;
    // Arrives in pieces of a size the input chooses.
    let step = usize::from(selector >> 3).max(1);
    let mut end = step.min(response.len());
    loop {
        match scanner.scan(&response[offset..end]) {
            Ok((n, progress)) => {
                assert!(offset + n <= end, "scanned past what arrived");
                offset += n;
                match progress {
                    Progress::Done => return,
                    Progress::LocalInfile => scanner.resume_after_local_infile(),
                    Progress::Ok => {}
                    Progress::More if end == response.len() => return,
                    Progress::More => end = (end + step).min(response.len()),
                }
            }
            Err(_) => return,
        }
    }
}

/// PostgreSQL framing of both sides (startup packets, tagged messages) and the parsers of
/// the messages sqlmux reads.
pub fn pg_frame(data: &[u8]) {
    let mut startup = BytesMut::from(data);
    if let Ok(Some(body)) = crate::postgres::frame::decode_startup(&mut startup) {
        let _ = crate::postgres::startup::parse(&body);
    }
    let mut buf = BytesMut::from(data);
    while let Ok(Some(m)) = crate::postgres::frame::decode_frame(&mut buf, 1 << 16) {
        let body = m.body();
        let _ = crate::postgres::frontend::query_text(body);
        let _ = crate::postgres::frontend::parse_view(body);
        let _ = crate::postgres::frontend::bind_names(body);
        let _ = crate::postgres::frontend::target(body, "Describe");
        let _ = crate::postgres::frontend::execute_portal(body);
        let _ = crate::postgres::backend::parse_error(body);
        let _ = crate::postgres::backend::parse_authentication(body);
        let _ = crate::postgres::backend::parse_parameter_status(body);
        let _ = crate::postgres::backend::parse_backend_key_data(body);
        let _ = crate::postgres::backend::ready_status(body);
    }
    let whole: usize = crate::postgres::frame::whole_messages(data, 1 << 16)
        .map(|(_, m)| m.len())
        .sum();
    assert!(whole <= data.len());
}

/// The MySQL-dialect lexer: classification, digest, SET parsing, local queries, rewriting.
pub fn sql_mysql(sql: &[u8]) {
    let class = crate::dialect::mysql::classify(sql);
    let _ = class.kind;
    let digest = crate::dialect::mysql::digest(sql);
    assert_eq!(digest.hash, crate::dialect::mysql::digest_hash(sql));
    let _ = crate::dialect::mysql::parse_set(sql);
    let _ = crate::dialect::mysql::local_query(sql);
    let _ = crate::dialect::mysql::parse_kill(sql);
    let _ = crate::dialect::mysql::replace_session_functions(sql, 42, 7, 9);
}

/// The PostgreSQL-dialect lexer: classification, statements, digest, SET parsing, names,
/// sequence calls, literals.
pub fn sql_postgres(sql: &[u8]) {
    let class = crate::dialect::postgres::classify(sql);
    let _ = class.kind;
    for (_, range) in crate::dialect::postgres::statements(sql) {
        assert!(range.end <= sql.len() && range.start <= range.end);
        let _ = crate::dialect::postgres::parse_set(&sql[range]);
    }
    let _ = crate::dialect::postgres::digest(sql);
    let _ = crate::dialect::postgres::digest_hash(sql);
    let _ = crate::dialect::postgres::statement_object(sql);
    let _ = crate::dialect::postgres::insert_table(sql);
    let _ = crate::dialect::postgres::nextval_sequences(sql);
    let _ = crate::dialect::postgres::turns_off_standard_strings(sql);
    for (start, end) in crate::dialect::postgres::integer_literals(sql) {
        assert!(start <= end && end as usize <= sql.len());
    }
}
