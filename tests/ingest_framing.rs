//! Record framing (issues 4 and 14): a record is a line by default (line ends become `\n`,
//! every record ends with exactly one, empty lines are dropped, a body without a record is 400);
//! `--framing raw` stores bodies byte for byte; `--newline` is accepted and changes nothing;
//! `--timestamp` prefixes every record of a body with the body's UTC receive time as
//! `YYYY-MM-DDTHH:MM:SS.mmmZ ` (checked character by character and against the request's time).

mod common;

use common::expect_still_open;
use common::ingest::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------------------------
// A record is a line
// ---------------------------------------------------------------------------------------------

/// Each rule, one body at a time: the file after each POST, sent whole and chunked.
#[test]
fn a_record_is_a_line_rule_by_rule() {
    let cases: [(&str, &[u8], &str); 8] = [
        ("a missing final line break is added", b"t=21.5", "t=21.5\n"),
        ("one line break ends a record", b"t=21.5\n", "t=21.5\n"),
        ("CRLF becomes LF", b"a\r\nb\r\n", "a\nb\n"),
        ("a lone CR ends a line", b"a\rb", "a\nb\n"),
        ("empty lines are dropped", b"a\n\n\r\n\nb\n\n", "a\nb\n"),
        ("leading line breaks are dropped", b"\r\n\nx", "x\n"),
        ("a line of spaces is a record", b" \n", " \n"),
        (
            "bytes are kept as they are",
            b"\xff\x00=1",
            "\u{fffd}\u{0}=1\n",
        ),
    ];
    for chunked in [false, true] {
        for (n, (rule, body, want)) in cases.iter().enumerate() {
            let f = start_ingest(&[]);
            let mut c = f.connect();
            let id = format!("/devices/rule{n}");
            let raw = if chunked {
                post_chunked(&id, &three_chunks(body))
            } else {
                post(&id, body)
            };
            post_ok(&mut c, &raw);
            let file = f.device(&format!("rule{n}")).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&file),
                *want,
                "{rule} (chunked: {chunked})"
            );
        }
    }
}

#[test]
fn two_posts_of_one_reading_are_two_records() {
    let f = start_ingest(&[]);
    let mut c = f.connect();
    post_ok(&mut c, &post("/devices/kitchen", b"t=21.5"));
    post_ok(&mut c, &post("/devices/kitchen", b"t=21.6"));
    assert_eq!(
        f.device("kitchen").as_deref(),
        Some(&b"t=21.5\nt=21.6\n"[..])
    );
}

#[test]
fn a_body_without_a_record_is_400_and_stores_nothing() {
    for flags in [
        &[][..],
        &["--ack", "buffer"],
        &["--ack", "fsync"],
        &["--framing", "raw"],
    ] {
        let f = start_ingest(flags);
        let mut c = f.connect();
        let bodies: &[&[u8]] = if flags.contains(&"raw") {
            &[b""]
        } else {
            &[b"", b"\n", b"\r\n\r\n", b"\r"]
        };
        for body in bodies {
            let r = c.request(&post("/devices/empty", body));
            r.assert_status(400);
            assert!(r.body_str().contains("no record"), "{:?}", r.body_str());
            expect_still_open(&mut c);
        }
        // Nothing stored, and no device known: neither a file nor a dashboard entry.
        assert_eq!(f.device("empty"), None, "{flags:?}");
        let api = c.request(b"GET /api/devices HTTP/1.1\r\nHost: t\r\n\r\n");
        assert!(
            !api.body_str().contains("\"empty\""),
            "{flags:?}: {}",
            api.body_str()
        );
    }
}

#[test]
fn raw_framing_stores_bodies_byte_for_byte() {
    let f = start_ingest(&["--framing", "raw"]);
    let mut c = f.connect();
    for body in [&b"a"[..], b"b\n\n", b"c\r\n", b"\n"] {
        post_ok(&mut c, &post("/devices/raw", body));
    }
    assert_eq!(f.device("raw").as_deref(), Some(&b"ab\n\nc\r\n\n"[..]));
}

#[test]
fn the_newline_flag_is_accepted_and_changes_nothing() {
    let f = start_ingest(&["--newline"]);
    let mut c = f.connect();
    post_ok(&mut c, &post("/devices/nl", b"a\n\n\nb"));
    assert_eq!(f.device("nl").as_deref(), Some(&b"a\nb\n"[..]));
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
    let bodies: [&[u8]; 3] = [b"one\n", b"two", b"three"];
    let mut windows = Vec::new();
    for body in bodies {
        let t0 = epoch_millis(SystemTime::now());
        post_ok(&mut c, &post("/devices/ts", body));
        let t1 = epoch_millis(SystemTime::now());
        windows.push((t0, t1));
        std::thread::sleep(Duration::from_millis(5));
    }
    let file = f.device("ts").unwrap();
    // Records are `<24-byte stamp> <line>\n` back to back.
    let mut rest = &file[..];
    for (body, (t0, t1)) in bodies.iter().zip(windows) {
        let body = body.strip_suffix(b"\n").unwrap_or(body);
        let (stamp, after) = split_stamp(rest);
        assert!(
            after.starts_with(body) && after[body.len()] == b'\n',
            "record: {:?}",
            String::from_utf8_lossy(after)
        );
        // The receive time (UTC) lies within the request's round trip, give or take a second for
        // clock granularity.
        assert!(
            stamp + 1000 >= t0 && stamp <= t1 + 1000,
            "stamp {stamp} outside [{t0}, {t1}]"
        );
        rest = &after[body.len() + 1..];
    }
    assert!(rest.is_empty(), "trailing bytes {rest:?}");
}

#[test]
fn every_record_of_a_body_gets_the_body_time() {
    let f = start_ingest(&["--timestamp"]);
    let mut c = f.connect();
    post_ok(&mut c, &post("/devices/both", b"a=1"));
    post_ok(
        &mut c,
        &post_chunked("/devices/both", &[b"b=2", b"\r\n\r\n"]),
    );
    post_ok(&mut c, &post("/devices/both", b"multi\r\nline\n"));
    let file = f.device("both").unwrap();
    let text = String::from_utf8(file.clone()).unwrap();
    assert!(text.ends_with('\n') && !text.ends_with("\n\n"), "{text:?}");
    let lines: Vec<&[u8]> = file[..file.len() - 1].split(|&b| b == b'\n').collect();
    assert_eq!(lines.len(), 4, "{text:?}");
    assert_eq!(split_stamp(lines[0]).1, b"a=1");
    assert_eq!(split_stamp(lines[1]).1, b"b=2");
    let (first, multi) = split_stamp(lines[2]);
    let (second, line) = split_stamp(lines[3]);
    assert_eq!((multi, line), (&b"multi"[..], &b"line"[..]));
    assert_eq!(
        first, second,
        "the lines of one body share its receive time"
    );
}
