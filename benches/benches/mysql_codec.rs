//! Packet framing, OK/ERR parsing and the relay scanner: the per-packet work of the data path.

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sqlmux_protocol::mysql::constants::StatusFlags;
use sqlmux_protocol::mysql::packet::{decode_frame, encode, write_packet};
use sqlmux_protocol::mysql::response::{err_packet, ok_packet, parse_err, parse_ok};
use sqlmux_protocol::mysql::scanner::{Expect, Scanner};
use std::hint::black_box;

fn framing(c: &mut Criterion) {
    let query = encode(0, b"\x03SELECT c FROM sbtest1 WHERE id=4711");
    c.bench_function("decode_frame/point_select", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(&query[..]);
            black_box(decode_frame(&mut buf, 1 << 30).unwrap())
        })
    });
    let big = vec![7u8; 20 << 20];
    let mut g = c.benchmark_group("write_packet");
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("20MiB_split", |b| {
        let mut out = BytesMut::with_capacity(big.len() + 64);
        b.iter(|| {
            out.clear();
            black_box(write_packet(&mut out, 0, &big))
        })
    });
    g.finish();
}

fn ok_err(c: &mut Criterion) {
    let ok = ok_packet(1, 123_456, StatusFlags::SERVER_STATUS_AUTOCOMMIT, 0);
    let err = err_packet(1062, "23000", "Duplicate entry '1' for key 'PRIMARY'");
    c.bench_function("parse_ok", |b| {
        b.iter(|| black_box(parse_ok(black_box(&ok))))
    });
    c.bench_function("parse_err", |b| {
        b.iter(|| black_box(parse_err(black_box(&err))))
    });
}

/// A text result set of `rows` rows of ~120 bytes, with CLIENT_DEPRECATE_EOF.
fn result_set(rows: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut seq = 1u8;
    let mut push = |p: &[u8]| {
        out.extend_from_slice(&encode(seq, p));
        seq = seq.wrapping_add(1);
    };
    push(&[1]);
    push(b"\x03def\x06sbtest\x08sbtest1\x08sbtest1\x01c\x01c\x0c\x21\x00\xe0\x01\x00\x00\xfe\x00\x00\x00\x00\x00");
    let row: Vec<u8> = std::iter::once(119u8)
        .chain(std::iter::repeat_n(b'x', 119))
        .collect();
    for _ in 0..rows {
        push(&row);
    }
    let mut end = ok_packet(0, 0, StatusFlags::SERVER_STATUS_AUTOCOMMIT, 0);
    end[0] = 0xFE;
    push(&end);
    out
}

fn scanner(c: &mut Criterion) {
    let mut g = c.benchmark_group("scan_result_set");
    for rows in [1usize, 1000] {
        let bytes = result_set(rows);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(rows), &bytes, |b, bytes| {
            b.iter(|| {
                let mut s = Scanner::new(Expect::Query, true);
                black_box(s.scan(bytes).unwrap())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, framing, ok_err, scanner);
criterion_main!(benches);
