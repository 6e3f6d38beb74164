//! The chunked body decoder (`sluice::http::body`), in bytes of framed input per second.
//!
//! - `1mib_in_4kib_chunks`: a 1 MiB body sent as 256 chunks of 4 KiB, decoded in one call (the
//!   data path: chunk data handed to the sink in large runs).
//! - `1mib_in_4kib_chunks_16kib_reads`: the same body arriving in 16 KiB reads, each call getting
//!   the unconsumed rest plus the new bytes, as a connection feeds it.
//! - `tiny_chunks`: 10,000 one-byte chunks with a chunk extension each (the framing path: one
//!   state-machine step per byte).
//!
//! Every sink copies the data into a reused buffer, as the device store appends it.
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice::http::body::BodyDecoder;
use sluice::http::request::BodyFraming;

fn chunked(body_len: usize, chunk: usize, ext: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(body_len + body_len / chunk * 16 + 8);
    let mut left = body_len;
    let mut byte = 0u8;
    while left > 0 {
        let n = chunk.min(left);
        out.extend_from_slice(format!("{n:x}{ext}\r\n").as_bytes());
        out.extend((0..n).map(|_| {
            byte = byte.wrapping_add(1);
            byte
        }));
        out.extend_from_slice(b"\r\n");
        left -= n;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Decodes `input` in one call into `body`; returns the body length. (`inline(never)` here and
/// below so that callgrind can count the instructions of one call: see benches/README.md.)
#[inline(never)]
fn decode_once(input: &[u8], body: &mut Vec<u8>) -> usize {
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked, u64::MAX);
    body.clear();
    let d = decoder
        .decode(input, &mut |run| body.extend_from_slice(run))
        .expect("a valid body");
    assert!(d.done);
    black_box(body).len()
}

/// Decodes `input` arriving in reads of `read` bytes into a connection-style buffer.
#[inline(never)]
fn decode_in_reads(input: &[u8], read: usize, pending: &mut Vec<u8>, body: &mut Vec<u8>) -> usize {
    let mut decoder = BodyDecoder::new(BodyFraming::Chunked, u64::MAX);
    pending.clear();
    body.clear();
    for piece in input.chunks(read) {
        pending.extend_from_slice(piece);
        let d = decoder
            .decode(pending, &mut |run| body.extend_from_slice(run))
            .expect("a valid body");
        pending.drain(..d.consumed);
        if d.done {
            break;
        }
    }
    black_box(body).len()
}

fn decoders(c: &mut Criterion) {
    let mut group = c.benchmark_group("chunked");

    let mut body = Vec::with_capacity(1 << 20);
    let big = chunked(1 << 20, 4096, "");
    group.throughput(Throughput::Bytes(big.len() as u64));
    group.bench_function("1mib_in_4kib_chunks", |b| {
        b.iter(|| assert_eq!(decode_once(black_box(&big), &mut body), 1 << 20));
    });
    let mut pending = Vec::with_capacity(32 * 1024);
    group.bench_function("1mib_in_4kib_chunks_16kib_reads", |b| {
        b.iter(|| {
            let n = decode_in_reads(black_box(&big), 16 * 1024, &mut pending, &mut body);
            assert_eq!(n, 1 << 20);
        });
    });

    let tiny = chunked(10_000, 1, ";n=v");
    group.throughput(Throughput::Bytes(tiny.len() as u64));
    group.bench_function("tiny_chunks", |b| {
        b.iter(|| assert_eq!(decode_once(black_box(&tiny), &mut body), 10_000));
    });
    group.finish();
}

criterion_group!(benches, decoders);
criterion_main!(benches);
