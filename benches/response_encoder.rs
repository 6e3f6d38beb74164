//! Response heads (`sluice::http::response`), in bytes of head written per second, into a
//! reused buffer as the connection does.
//!
//! - `file_200`: the head of a static file: status line, Date, Server, Content-Type,
//!   Content-Length, Last-Modified (formatted per response, as `routes::serve_file` does).
//! - `error_404`: the one error builder, head and body, with `Connection: close`.
use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sluice::files::ContentType;
use sluice::http::date::DateCache;
use sluice::http::response::{self, ReplyOptions};

/// The head `routes::serve_file` writes. (`inline(never)` here and below so that callgrind can
/// count the instructions of one call: see benches/README.md.)
#[inline(never)]
fn file_head(out: &mut Vec<u8>, date: &[u8], content_type: &ContentType, len: u64) {
    let modified = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    response::start(out, 200, date);
    out.extend_from_slice(b"Content-Type: ");
    content_type.write_to(out);
    out.extend_from_slice(b"\r\n");
    response::content_length(out, len);
    out.extend_from_slice(b"Last-Modified: ");
    let _ = write!(out, "{}", httpdate::HttpDate::from(modified));
    out.extend_from_slice(b"\r\n");
    response::connection(out, false, false);
    response::end(out);
}

/// A 404 that closes the connection, head and body.
#[inline(never)]
fn error_404(out: &mut Vec<u8>, date: &[u8]) -> u64 {
    let opts = ReplyOptions {
        close: true,
        ..ReplyOptions::default()
    };
    response::error_reply(out, 404, "not found", date, opts)
}

fn encoders(c: &mut Criterion) {
    let date = DateCache::new();
    let date = date.as_bytes();
    let html = ContentType::for_name(b"index.html");
    let mut out = Vec::with_capacity(4096);
    let mut group = c.benchmark_group("response");

    file_head(&mut out, date, &html, 4096);
    group.throughput(Throughput::Bytes(out.len() as u64));
    group.bench_function("file_200", |b| {
        b.iter(|| {
            out.clear();
            file_head(&mut out, date, black_box(&html), black_box(4096));
            black_box(&out);
        });
    });

    out.clear();
    error_404(&mut out, date);
    group.throughput(Throughput::Bytes(out.len() as u64));
    group.bench_function("error_404", |b| {
        b.iter(|| {
            out.clear();
            error_404(&mut out, black_box(date));
            black_box(&out);
        });
    });
    group.finish();
}

criterion_group!(benches, encoders);
criterion_main!(benches);
