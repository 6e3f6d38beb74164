//! Record framing (issue 4): without flags a body is stored verbatim; `--newline` ends every
//! record with exactly one `\n`; `--timestamp` prefixes it with its UTC receive time as
//! `YYYY-MM-DDTHH:MM:SS.mmmZ ` (checked character by character and against the request's time).

mod common;

use common::ingest::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------------
// Record framing: --newline, --timestamp
// ---------------------------------------------------------------------------------------------

#[test]
fn without_framing_flags_bodies_are_stored_verbatim() {
    let f = start_ingest(&[]);
    let mut c = f.connect();
    for body in [&b"a"[..], b"b\n\n", b"", b"c\r\n", b"\n"] {
        post_ok(&mut c, &post("/devices/raw", body));
    }
    assert_eq!(f.device("raw").as_deref(), Some(&b"ab\n\nc\r\n\n"[..]));
}

#[test]
fn newline_flag_ends_every_record_with_exactly_one_newline() {
    let f = start_ingest(&["--newline"]);
    let mut c = f.connect();
    let cases: [(&[u8], bool); 7] = [
        (b"a", false),
        (b"b\n", true),
        (b"c\n\n\n", false),
        (b"", true),
        (b"\n\n", false),
        (b"d\ne", true),
        (b"f\r\n", false),
    ];
    for (body, chunked) in cases {
        let raw = if chunked {
            post_chunked("/devices/nl", &three_chunks(body))
        } else {
            post("/devices/nl", body)
        };
        post_ok(&mut c, &raw);
    }
    assert_eq!(
        String::from_utf8(f.device("nl").unwrap()).unwrap(),
        "a\nb\nc\n\n\nd\ne\nf\r\n"
    );
}

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS.mmmZ` (exactly that shape), else `None`.
fn parse_rfc3339_millis(s: &[u8]) -> Option<u64> {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd.dddZ";
    if s.len() != SHAPE.len() {
        return None;
    }
    for (&c, &p) in s.iter().zip(SHAPE) {
        let ok = if p == b'd' {
            c.is_ascii_digit()
        } else {
            c == p
        };
        if !ok {
            return None;
        }
    }
    let num =
        |r: std::ops::Range<usize>| -> u64 { std::str::from_utf8(&s[r]).unwrap().parse().unwrap() };
    let (year, month, day) = (num(0..4), num(5..7), num(8..10));
    let (hour, min, sec, milli) = (num(11..13), num(14..16), num(17..19), num(20..23));
    let leap = |y: u64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap(year) { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if year < 1970
        || !(1..=12).contains(&month)
        || day < 1
        || day > month_days[month as usize - 1]
        || hour > 23
        || min > 59
        || sec > 59
    {
        return None;
    }
    let mut days: u64 = (1970..year).map(|y| if leap(y) { 366 } else { 365 }).sum();
    days += month_days[..month as usize - 1].iter().sum::<u64>();
    days += day - 1;
    Some(((days * 24 + hour) * 60 + min) * 60_000 + sec * 1000 + milli)
}

fn epoch_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

#[test]
fn timestamp_parser_of_this_test_is_right() {
    assert_eq!(parse_rfc3339_millis(b"1970-01-01T00:00:00.000Z"), Some(0));
    assert_eq!(
        parse_rfc3339_millis(b"2026-11-22T16:40:00.007Z"),
        Some(1_795_365_600_007)
    );
    assert_eq!(
        parse_rfc3339_millis(b"2024-02-29T23:59:59.999Z"),
        Some(1_709_251_199_999)
    );
    for bad in [
        &b"2024-02-30T00:00:00.000Z"[..],
        b"2024-01-01 00:00:00.000Z",
        b"2024-01-01T00:00:00.000",
        b"2024-01-01T00:00:00Z",
        b"2024-01-01T00:00:00.000+00:00",
    ] {
        assert_eq!(parse_rfc3339_millis(bad), None, "{bad:?}");
    }
}

/// Splits a `--timestamp` record into (stamp in ms, rest after the space).
#[track_caller]
fn split_stamp(record: &[u8]) -> (u64, &[u8]) {
    assert!(
        record.len() > 24 && record[24] == b' ',
        "no `<stamp> ` prefix: {:?}",
        String::from_utf8_lossy(record)
    );
    let stamp = parse_rfc3339_millis(&record[..24]).unwrap_or_else(|| {
        panic!(
            "not YYYY-MM-DDTHH:MM:SS.mmmZ: {:?}",
            String::from_utf8_lossy(&record[..24])
        )
    });
    (stamp, &record[25..])
}

#[test]
fn timestamp_flag_prefixes_each_record_with_its_utc_receive_time() {
    let f = start_ingest(&["--timestamp"]);
    let mut c = f.connect();
    let bodies: [&[u8]; 3] = [b"one\n", b"two", b"three\n\n"];
    let mut windows = Vec::new();
    for body in bodies {
        let t0 = epoch_millis(SystemTime::now());
        post_ok(&mut c, &post("/devices/ts", body));
        let t1 = epoch_millis(SystemTime::now());
        windows.push((t0, t1));
        std::thread::sleep(Duration::from_millis(5));
    }
    let file = f.device("ts").unwrap();
    // Records are `<24-byte stamp> <body>` back to back.
    let mut rest = &file[..];
    for (body, (t0, t1)) in bodies.iter().zip(windows) {
        let (stamp, after) = split_stamp(rest);
        assert!(
            after.starts_with(body),
            "record body: {:?}",
            String::from_utf8_lossy(after)
        );
        // The receive time (UTC) lies within the request's round trip, give or take a second for
        // clock granularity.
        assert!(
            stamp + 1000 >= t0 && stamp <= t1 + 1000,
            "stamp {stamp} outside [{t0}, {t1}]"
        );
        rest = &after[body.len()..];
    }
    assert!(rest.is_empty(), "trailing bytes {rest:?}");
}

#[test]
fn newline_and_timestamp_together_make_one_line_per_record() {
    let f = start_ingest(&["--newline", "--timestamp"]);
    let mut c = f.connect();
    post_ok(&mut c, &post("/devices/both", b"a=1"));
    post_ok(&mut c, &post_chunked("/devices/both", &[b"b=2", b"\n\n"]));
    post_ok(&mut c, &post("/devices/both", b"multi\nline\n"));
    let file = f.device("both").unwrap();
    let text = String::from_utf8(file.clone()).unwrap();
    assert!(text.ends_with('\n') && !text.ends_with("\n\n"), "{text:?}");
    let lines: Vec<&[u8]> = file[..file.len() - 1].split(|&b| b == b'\n').collect();
    assert_eq!(lines.len(), 4, "{text:?}");
    assert_eq!(split_stamp(lines[0]).1, b"a=1");
    assert_eq!(split_stamp(lines[1]).1, b"b=2");
    assert_eq!(split_stamp(lines[2]).1, b"multi");
    // The stamp prefixes the record, not each line inside a body.
    assert_eq!(lines[3], b"line");
}
