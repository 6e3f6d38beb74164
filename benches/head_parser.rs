//! Request head scanning and parsing (`sluice::http::request`), in bytes of head per second.
//!
//! - `browser_get`: a typical browser navigation GET of about 500 bytes, scanned then parsed.
//! - `browser_get_scan_only`: the same head through `HeadScanner::scan` alone, to split the cost.
//! - `wrk_get`: the minimal GET that wrk sends.
//! - `pipelined_16`: 16 wrk GETs in one buffer, each scanned and parsed in turn, as a connection
//!   does with a pipelined batch.
use sluice::limits::{MAX_HEADERS, MAX_HEAD_BYTES, MAX_REQUEST_LINE_BYTES};
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use sluice::http::request::{header_slots, parse_head, HeadLimits, HeadScanner};
use sluice::http::Progress;

const LIMITS: HeadLimits = HeadLimits {
    max_head_bytes: MAX_HEAD_BYTES,
    max_request_line: MAX_REQUEST_LINE_BYTES,
};

const BROWSER_GET: &[u8] = b"GET /files/report-2024.pdf?download=1 HTTP/1.1\r\n\
Host: 192.168.1.20:8080\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: http://192.168.1.20:8080/files/\r\n\
Connection: keep-alive\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-User: ?1\r\n\
Priority: u=0, i\r\n\r\n";

const WRK_GET: &[u8] = b"GET /small.html HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

/// Scans and parses one head at the start of `buf`; returns its length and field count.
/// (Every per-iteration function here is `inline(never)`, so that callgrind can count the
/// instructions of one call: see benches/README.md.)
#[inline(never)]
fn scan_and_parse(buf: &[u8]) -> (usize, usize) {
    let mut scanner = HeadScanner::default();
    let Ok(Progress::Complete(n)) = scanner.scan(buf, &LIMITS) else {
        panic!("not a complete head");
    };
    let mut fields = header_slots::<MAX_HEADERS>();
    let head = parse_head(&buf[..n], &mut fields).expect("a valid head");
    (n, head.headers.len())
}

/// Only finds the end of the head at the start of `buf`.
#[inline(never)]
fn scan_only(buf: &[u8]) -> usize {
    match HeadScanner::default().scan(buf, &LIMITS) {
        Ok(Progress::Complete(n)) => n,
        _ => panic!("not a complete head"),
    }
}

/// Scans and parses every head in `batch`, in turn; returns how many there were.
#[inline(never)]
fn parse_batch(batch: &[u8]) -> usize {
    let mut rest = batch;
    let mut requests = 0;
    while !rest.is_empty() {
        let (n, _) = scan_and_parse(rest);
        rest = &rest[n..];
        requests += 1;
    }
    requests
}

fn heads(c: &mut Criterion) {
    let mut group = c.benchmark_group("head");

    group.throughput(Throughput::Bytes(BROWSER_GET.len() as u64));
    group.bench_function("browser_get", |b| {
        b.iter(|| scan_and_parse(black_box(BROWSER_GET)));
    });
    group.bench_function("browser_get_scan_only", |b| {
        b.iter(|| scan_only(black_box(BROWSER_GET)));
    });

    group.throughput(Throughput::Bytes(WRK_GET.len() as u64));
    group.bench_function("wrk_get", |b| b.iter(|| scan_and_parse(black_box(WRK_GET))));

    let batch = WRK_GET.repeat(16);
    group.throughput(Throughput::Bytes(batch.len() as u64));
    group.bench_function("pipelined_16", |b| {
        b.iter(|| assert_eq!(parse_batch(black_box(&batch)), 16));
    });
    group.finish();
}

criterion_group!(benches, heads);
criterion_main!(benches);
