//! The request head scanner and parser (`sluice::http::request`).
//!
//! Input: `[split mode] [limits] data...`. The data is scanned twice: once as a whole buffer and
//! once growing by the read sizes that the split mode chooses (see `sluice_fuzz::Cuts`), the way a
//! connection calls the scanner. Both must agree, because the scanner promises that its verdict
//! does not depend on how the bytes were split. Then every verdict is checked against what it
//! claims about the bytes (a complete head really ends in CRLF CRLF, an error really has its
//! cause), and `parse_head` runs on every complete head and must not panic.
#![no_main]

use sluice::limits::{MAX_HEADERS, MAX_HEAD_BYTES, MAX_REQUEST_LINE_BYTES};
use libfuzzer_sys::fuzz_target;

use sluice::http::error::RequestError;
use sluice::http::request::{
    header_slots, parse_head, HeadLimits, HeadScanner, Version,
};
use sluice::http::Progress;
use sluice_fuzz::{find, has_bare_lf, Cuts};

/// The production limits first, then small ones that short inputs can reach.
const HEAD_CAPS: [usize; 4] = [MAX_HEAD_BYTES, 64, 256, 1024];
const LINE_CAPS: [usize; 4] = [MAX_REQUEST_LINE_BYTES, 16, 100, 1000];

fuzz_target!(|input: &[u8]| {
    let [mode, caps, data @ ..] = input else {
        return;
    };
    let limits = HeadLimits {
        max_head_bytes: HEAD_CAPS[usize::from(caps & 3)],
        max_request_line: LINE_CAPS[usize::from(caps >> 2 & 3)],
    };

    let mut whole_scanner = HeadScanner::default();
    let whole = whole_scanner.scan(data, &limits);
    check_claims(data, &limits, whole);

    let split = scan_in_pieces(data, &limits, Cuts::new(*mode));
    assert_eq!(
        split, whole,
        "split scan disagrees with the whole-buffer scan"
    );

    // A complete head is reported again, unchanged, however often the caller asks.
    if let Ok(Progress::Complete(n)) = whole {
        assert_eq!(whole_scanner.scan(data, &limits), whole);
        check_parse(&data[..n]);
    }
    // The parser must also survive what the scanner would never hand it.
    let mut fields = header_slots::<MAX_HEADERS>();
    let _ = parse_head(data, &mut fields);
});

/// Feeds `data` as a connection would: the whole unconsumed buffer, one read longer each time.
fn scan_in_pieces(
    data: &[u8],
    limits: &HeadLimits,
    mut cuts: Cuts,
) -> Result<Progress<usize>, RequestError> {
    let mut scanner = HeadScanner::default();
    let mut end = 0;
    loop {
        match scanner.scan(&data[..end], limits)? {
            Progress::Complete(n) => {
                assert!(n <= end, "Complete({n}) beyond the {end} bytes given");
                return Ok(Progress::Complete(n));
            }
            Progress::NeedMore if end == data.len() => return Ok(Progress::NeedMore),
            Progress::NeedMore => end = (end + cuts.next_size()).min(data.len()),
        }
    }
}

/// The request line as the scanner sees it in `bytes`: after leading empty lines, up to its LF or
/// the end, without its CR (a CR at the very end may still be the start of the CRLF).
fn request_line(bytes: &[u8]) -> &[u8] {
    let rest = skip_empty_lines(bytes);
    match rest.iter().position(|&b| b == b'\n') {
        Some(lf) => rest[..lf].strip_suffix(b"\r").unwrap_or(&rest[..lf]),
        None => rest.strip_suffix(b"\r").unwrap_or(rest),
    }
}

fn skip_empty_lines(mut bytes: &[u8]) -> &[u8] {
    while let Some(rest) = bytes.strip_prefix(b"\r\n") {
        bytes = rest;
    }
    bytes
}

/// Whatever the scanner answered must be true of the bytes.
fn check_claims(data: &[u8], limits: &HeadLimits, verdict: Result<Progress<usize>, RequestError>) {
    match verdict {
        Ok(Progress::Complete(n)) => {
            assert!(n <= data.len(), "Complete({n}) beyond the input");
            assert!(
                n <= limits.max_head_bytes,
                "Complete({n}) over the head cap"
            );
            let head = &data[..n];
            assert!(head.ends_with(b"\r\n\r\n"), "a head ends with CRLF CRLF");
            assert!(!has_bare_lf(head), "a complete head has no bare LF");
            assert!(request_line(head).len() <= limits.max_request_line);
            // It ends at the first empty line after the (non-empty) request line.
            let rest = skip_empty_lines(head);
            assert!(!rest.starts_with(b"\r\n"));
            assert_eq!(
                find(rest, b"\r\n\r\n"),
                Some(rest.len() - 4),
                "not the first end"
            );
        }
        Ok(Progress::NeedMore) => {
            assert!(
                data.len() <= limits.max_head_bytes,
                "NeedMore past the head cap"
            );
            assert!(!has_bare_lf(data), "NeedMore with a bare LF");
            assert!(request_line(data).len() <= limits.max_request_line);
            assert_eq!(
                find(skip_empty_lines(data), b"\r\n\r\n"),
                None,
                "missed an end"
            );
        }
        Err(RequestError::BareLineFeed) => assert!(has_bare_lf(data)),
        Err(RequestError::HeadTooLarge) => assert!(data.len() > limits.max_head_bytes),
        Err(RequestError::UriTooLong) => {
            assert!(request_line(data).len() > limits.max_request_line)
        }
        Err(e) => panic!("the scanner reported {e:?}"),
    }
}

/// `parse_head` on a complete head: no panic, and what it accepts is self-consistent.
fn check_parse(head: &[u8]) {
    let mut fields = header_slots::<MAX_HEADERS>();
    let parsed = parse_head(head, &mut fields);
    // More scratch space must not change the verdict (the field cap is fixed).
    let mut more = header_slots::<{ 2 * MAX_HEADERS }>();
    let again = parse_head(head, &mut more);
    assert_eq!(format!("{parsed:?}"), format!("{again:?}"));

    let Ok(h) = parsed else { return };
    assert!(h.headers.len() <= MAX_HEADERS);
    if h.version == Version::Http11 {
        assert!(h.host.is_some(), "HTTP/1.1 accepted without a host");
    }
    assert!(h.target.bytes().all(|b| b.is_ascii_graphic()));
    if h.target.starts_with('/') {
        let rebuilt = match h.query {
            Some(q) => format!("{}?{q}", h.path),
            None => h.path.to_owned(),
        };
        assert_eq!(
            rebuilt, h.target,
            "path and query do not rebuild the target"
        );
    }
    // What sluice accepts, httparse (which it builds on) accepts as the same head.
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut fields);
    assert_eq!(req.parse(head), Ok(httparse::Status::Complete(head.len())));
    assert_eq!(req.headers.len(), h.headers.len());
}
