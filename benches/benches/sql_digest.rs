//! The SQL lexer on the data path: classify runs on every statement, digests on every
//! statement that query rules or stats look at. Goal: digest under 1 µs for 200 bytes.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sqlmux_protocol::dialect::mysql::{classify, digest, digest_hash};
use sqlmux_protocol::dialect::postgres;
use std::hint::black_box;

/// sysbench-like statements of about 200 bytes, with literals and a comment.
const STATEMENTS: [(&str, &str); 2] = [
    (
        "update_200B",
        "/* app=orders,route=checkout */ UPDATE sbtest1 SET k = k + 1, \
         c = '83868641912-28773972837-60736120486-75162659906' \
         WHERE id = 5034 AND pad <> 'qwerty-uiop-asdf' AND k IN (17, 42, 99, 123) LIMIT 1",
    ),
    (
        "select_200B",
        "SELECT id, k, c, pad FROM sbtest1 /* sysbench range */ \
         WHERE id BETWEEN 4211 AND 4310 AND c LIKE '%68487932199%' \
         AND k IN (5012, 5013, 5014, 5015, 5016) AND pad <> '' ORDER BY c DESC LIMIT 10 FOR UPDATE",
    ),
];

fn lexer(c: &mut Criterion) {
    for (name, sql) in STATEMENTS {
        let sql = sql.as_bytes();
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(sql.len() as u64));
        g.bench_function("classify", |b| {
            b.iter(|| black_box(classify(black_box(sql))))
        });
        g.bench_function("digest", |b| b.iter(|| black_box(digest(black_box(sql)))));
        g.bench_function("digest_hash", |b| {
            b.iter(|| black_box(digest_hash(black_box(sql))))
        });
        g.finish();
    }
}

/// The PostgreSQL lexer on pgbench's select-only statement (`pgbench -S -M simple`).
fn pg_lexer(c: &mut Criterion) {
    let sql = b"SELECT abalance FROM pgbench_accounts WHERE aid = 663517;";
    let mut g = c.benchmark_group("pg_pgbench_select");
    g.throughput(Throughput::Bytes(sql.len() as u64));
    g.bench_function("classify", |b| {
        b.iter(|| black_box(postgres::classify(black_box(sql))))
    });
    g.bench_function("digest_hash", |b| {
        b.iter(|| black_box(postgres::digest_hash(black_box(sql))))
    });
    g.finish();
}

criterion_group!(benches, lexer, pg_lexer);
criterion_main!(benches);
