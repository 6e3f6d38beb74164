//! The response head encoder (`sluice::http::response`).
//!
//! Input: `[kind] [flags] [status: 2 bytes BE] [length: 8 bytes LE] [seconds: 4 bytes LE] rest`.
//! `kind` picks one of the heads sluice writes: a file (as the static-file route does, with the
//! Content-Type guessed from `rest` as a file name and Last-Modified), an error reply for one of
//! the `RequestError` variants (with `Allow` for 405, `Retry-After` for 503, the challenge for
//! 401s, `Content-Range: bytes */len` for 416), a 204 with `Allow`, or a head with a header value
//! from `rest`.
//! `flags`: bit 0 HEAD request, bit 1 close, bit 2 HTTP/1.0 keep-alive.
//!
//! Oracle: httparse reads the bytes back as one complete HTTP/1.1 response with the status, its
//! reason phrase, exactly one Content-Length with the length given (where the head has one), the
//! Date and Server sluice wrote, the Connection field the flags ask for, and, for error replies,
//! exactly the body that Content-Length announces (none for HEAD).
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use sluice::http::error::RequestError::{self, *};
use sluice::files::ContentType;
use sluice::http::date::DateCache;
use sluice::http::range;
use sluice::http::response::{self, ReplyOptions};

/// Lists every `RequestError` variant in `ERRORS`, and fails to compile when one is missing (the
/// `match` has no wildcard), so a new variant cannot go unfuzzed.
macro_rules! all_errors {
    ($($variant:ident),* $(,)?) => {
        const ERRORS: &[RequestError] = &[$($variant),*];
        #[allow(dead_code)]
        fn every_variant_is_listed(e: RequestError) {
            match e {
                $($variant)|* => {}
            }
        }
    };
}

all_errors![
    MalformedRequestLine,
    MalformedHeaderName,
    MalformedHeaderValue,
    BareLineFeed,
    MalformedVersion,
    UnsupportedVersion,
    HeadTooLarge,
    TooManyHeaders,
    UriTooLong,
    InvalidContentLength,
    ConflictingContentLength,
    ContentLengthWithTransferEncoding,
    TransferEncodingInHttp10,
    TransferEncodingNotChunked,
    UnknownTransferCoding,
    MissingHost,
    DuplicateHost,
    InvalidHost,
    InvalidTarget,
    MalformedChunk,
    TrailersTooLarge,
    BodyTooLarge,
    UploadTooLarge,
    UnknownExpectation,
    HeaderTimeout,
    BodyTimeout,
    BodyTooSlow,
    BodyMemoryFull,
    UnknownMethod,
    MethodNotAllowed,
    BadPath,
    BadDeviceId,
    NoRecord,
    UploadsOff,
    ArchiveTooLarge,
    BadIdempotencyKey,
    BadQuery,
    BadSort,
    BadOrder,
    BadFormat,
    BadTail,
    Overloaded,
    Forbidden,
    NotFound,
    RangeNotSatisfiable,
    InsufficientStorage,
    Internal,
    BadGateway,
    GatewayTimeout,
    MisdirectedRequest,
    CrossSiteWrite,
    TokenRequired,
    CredentialsRequired,
    PreconditionFailed,
    BadSeries,
    BadLineProtocol,
    UnsupportedEncoding,
    BadGzip,
];

/// What a written response must say.
struct Expected {
    status: u16,
    /// The Content-Length value, if the head has one.
    length: Option<u64>,
    /// Other fields that must appear exactly once with these values.
    fields: Vec<(&'static str, Vec<u8>)>,
    /// What follows the head.
    body: Vec<u8>,
}

/// Seconds from the epoch to the end of year 9999, the last an IMF-fixdate can hold.
const MAX_SECONDS: u64 = 253_402_300_800;

fuzz_target!(|input: &[u8]| {
    let Some((head, rest)) = input.split_first_chunk::<16>() else {
        return;
    };
    let kind = head[0] % 4;
    let flags = head[1];
    let raw_status = u16::from_be_bytes([head[2], head[3]]);
    let length = u64::from_le_bytes(head[4..12].try_into().unwrap());
    let seconds = u64::from(u32::from_le_bytes(head[12..16].try_into().unwrap()));
    let (head_only, close, keep) = (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0);

    let mut date = DateCache::new();
    date.update(UNIX_EPOCH + Duration::from_secs(seconds % MAX_SECONDS));
    let date = date.as_bytes().to_vec();
    let mut out = b"leftover from the previous response".to_vec();
    let start = out.len();

    let Expected {
        status,
        length: want_length,
        fields: extra,
        body,
    } = match kind {
        0 => {
            response::start(&mut out, 200, &date);
            out.extend_from_slice(b"Content-Type: ");
            let mut content_type = Vec::new();
            ContentType::for_name(rest).write_to(&mut content_type);
            out.extend_from_slice(&content_type);
            out.extend_from_slice(b"\r\n");
            response::content_length(&mut out, length);
            let modified =
                httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(length % MAX_SECONDS));
            response::header(&mut out, "Last-Modified", modified.as_bytes());
            response::connection(&mut out, close, keep);
            response::end(&mut out);
            Expected {
                status: 200,
                length: Some(length),
                fields: vec![
                    ("Content-Type", content_type),
                    ("Last-Modified", modified.into_bytes()),
                ],
                body: Vec::new(),
            }
        }
        1 => {
            let e = ERRORS[usize::from(raw_status) % ERRORS.len()];
            let status = e.status();
            let allow = (e == MethodNotAllowed).then_some("GET, HEAD, OPTIONS");
            let retry_after = matches!(e, Overloaded | BodyMemoryFull).then_some("1");
            let opts = ReplyOptions {
                head_only,
                close,
                http10_keep_alive: keep,
                allow,
                retry_after,
                www_authenticate: e.challenge(),
            };
            // A 416 carries `Content-Range: bytes */len`, as `static_file::unsatisfiable` writes.
            let mut extra = Vec::new();
            if e == RangeNotSatisfiable {
                range::unsatisfied_range(&mut extra, length);
            }
            let n =
                response::error_reply_with(&mut out, status, e.description(), &date, opts, &extra);
            let full = format!("{}\n", e.description()).into_bytes();
            assert_eq!(n, if head_only { 0 } else { full.len() as u64 });
            let mut fields = Vec::new();
            fields.extend(allow.map(|a| ("Allow", a.as_bytes().to_vec())));
            fields.extend(retry_after.map(|r| ("Retry-After", r.as_bytes().to_vec())));
            fields.extend(
                e.challenge()
                    .map(|c| ("WWW-Authenticate", c.as_bytes().to_vec())),
            );
            if e == RangeNotSatisfiable {
                fields.push(("Content-Range", format!("bytes */{length}").into_bytes()));
            }
            Expected {
                status,
                length: Some(full.len() as u64),
                fields,
                body: if head_only { Vec::new() } else { full },
            }
        }
        2 => {
            response::start(&mut out, 204, &date);
            response::header(&mut out, "Allow", b"GET, HEAD, OPTIONS");
            response::connection(&mut out, close, keep);
            response::end(&mut out);
            Expected {
                status: 204,
                length: None,
                fields: vec![("Allow", b"GET, HEAD, OPTIONS".to_vec())],
                body: Vec::new(),
            }
        }
        _ => {
            // Any status a response can carry (RFC 9110 section 15: three digits, 100-599).
            let status = 100 + raw_status % 500;
            // `header` takes values the caller has validated: field-content bytes only, no
            // leading or trailing whitespace (RFC 9110 section 5.5).
            let value: Vec<u8> = rest
                .iter()
                .copied()
                .filter(|&b| b == b' ' || b == b'\t' || b.is_ascii_graphic() || b >= 0x80)
                .collect();
            let value = trim_ows(&value).to_vec();
            response::start(&mut out, status, &date);
            response::header(&mut out, "X-Fuzz", &value);
            response::content_length(&mut out, length);
            response::connection(&mut out, close, keep);
            response::end(&mut out);
            Expected {
                status,
                length: Some(length),
                fields: vec![("X-Fuzz", value)],
                body: Vec::new(),
            }
        }
    };

    // The encoder appends: what was in the buffer is untouched.
    assert_eq!(&out[..start], b"leftover from the previous response");
    let written = &out[start..];
    let mut fields = [httparse::EMPTY_HEADER; 16];
    let mut parsed = httparse::Response::new(&mut fields);
    let head_len = match parsed.parse(written) {
        Ok(httparse::Status::Complete(n)) => n,
        other => panic!(
            "not a complete response head: {other:?}\n{}",
            String::from_utf8_lossy(written)
        ),
    };
    assert_eq!(parsed.version, Some(1));
    assert_eq!(parsed.code, Some(status));
    assert_eq!(parsed.reason, Some(response::reason(status)));
    let values = |name: &str| -> Vec<&[u8]> {
        parsed
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
            .collect()
    };
    assert_eq!(values("Date"), [&date[..]]);
    assert_eq!(values("Server"), [response::SERVER]);
    let lengths = values("Content-Length");
    match want_length {
        Some(n) => assert_eq!(lengths, [n.to_string().as_bytes()]),
        None => assert!(lengths.is_empty()),
    }
    let connection: &[&[u8]] = match (close, keep) {
        (true, _) => &[b"close"],
        (false, true) => &[b"keep-alive"],
        (false, false) => &[],
    };
    assert_eq!(values("Connection"), connection);
    for (name, value) in &extra {
        assert_eq!(values(name), [&value[..]], "{name}");
    }
    assert_eq!(&written[head_len..], &body[..], "body after the head");
});

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}
