//! Differential check of the request head parser: sluice's verdict on a head (accept, or which
//! error status) against a small reference parser written from the grammar of RFC 9112 sections
//! 2-3 and 5 and RFC 9110 section 5, on generated heads that are valid or nearly so.
//!
//! The reference knows nothing of httparse or of sluice's code. It follows the ABNF, and where
//! sluice is deliberately stricter than the ABNF (ARCHITECTURE.md, "Errors"; the limits in
//! `src/http/request.rs`) it says so in a comment citing the rule. It decides in this order:
//! framing and limits (the bytes up to the end of the head), the request line, the field lines,
//! then the request-target form and Host. Within one class of checks the statuses agree anyway.
//!
//! The runs are deterministic: a fixed seed, a fixed number of cases, no persisted failures.

use sluice::limits::{MAX_HEADERS, MAX_HEAD_BYTES, MAX_REQUEST_LINE_BYTES};
use std::net::Ipv6Addr;

use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

use sluice::http::request::{
    downgrade_minor_version, header_slots, parse_head, HeadLimits, HeadScanner, Version,
};
use sluice::http::Progress;

/// Small limits, so that generated long lines and large heads reach them cheaply.
const SMALL: HeadLimits = HeadLimits {
    max_head_bytes: 2048,
    max_request_line: 512,
};
/// The limits sluice runs with.
const PRODUCTION: HeadLimits = HeadLimits {
    max_head_bytes: MAX_HEAD_BYTES,
    max_request_line: MAX_REQUEST_LINE_BYTES,
};

/// What became of a head: accepted (with what was parsed), still incomplete, or refused with a
/// status (400, 414, 431, 505).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Accept(Parsed),
    Incomplete,
    Reject(u16),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Parsed {
    head_len: usize,
    method: Vec<u8>,
    target: Vec<u8>,
    /// The minor version of HTTP/1.x.
    minor: u8,
    /// Field names and values, the value without leading or trailing whitespace.
    fields: Vec<(Vec<u8>, Vec<u8>)>,
}

// ---------------------------------------------------------------------------------------------
// sluice

fn sluice_verdict(input: &[u8], limits: &HeadLimits) -> Verdict {
    let head_len = match HeadScanner::default().scan(input, limits) {
        Ok(Progress::Complete(n)) => n,
        Ok(Progress::NeedMore) => return Verdict::Incomplete,
        Err(e) => return Verdict::Reject(e.status()),
    };
    // As the connection does: HTTP/1.x past 1.1 is read as HTTP/1.1.
    let mut head = input[..head_len].to_vec();
    downgrade_minor_version(&mut head);
    let mut fields = header_slots::<MAX_HEADERS>();
    match parse_head(&head, &mut fields) {
        Ok(h) => Verdict::Accept(Parsed {
            head_len,
            method: h.method_str.as_bytes().to_vec(),
            target: h.target.as_bytes().to_vec(),
            minor: match h.version {
                Version::Http10 => 0,
                Version::Http11 => 1,
            },
            fields: h
                .headers
                .iter()
                .map(|f| (f.name.as_bytes().to_vec(), f.value.to_vec()))
                .collect(),
        }),
        Err(e) => Verdict::Reject(e.status()),
    }
}

// ---------------------------------------------------------------------------------------------
// The reference

mod reference {
    use super::*;

    /// Most field lines in a head. ARCHITECTURE.md: "too many headers" is 431; the cap is 100.
    const MAX_FIELDS: usize = 100;

    pub fn verdict(input: &[u8], limits: &HeadLimits) -> Verdict {
        match frame(input, limits) {
            Frame::Head(len) => match parse(&input[..len]) {
                Ok(mut parsed) => {
                    parsed.head_len = len;
                    Verdict::Accept(parsed)
                }
                Err(status) => Verdict::Reject(status),
            },
            Frame::Incomplete => Verdict::Incomplete,
            Frame::Reject(status) => Verdict::Reject(status),
        }
    }

    enum Frame {
        Head(usize),
        Incomplete,
        Reject(u16),
    }

    /// Where the head ends, or why it never will.
    ///
    /// RFC 9112 section 2.2: lines end in CRLF, and a server that receives a bare LF may reject
    /// the message (sluice does: 400). Empty lines before the request line are ignored (sluice
    /// ignores any number). The head ends with the first empty line after the request line.
    ///
    /// Stricter than the ABNF, which has no limits: sluice refuses a head longer than
    /// `max_head_bytes` (431) and a request line longer than `max_request_line` bytes, CRLF
    /// excluded (414). A connection sees bytes arrive in order, so each fault is reported at the
    /// byte where it first becomes certain and the earliest wins (`src/http/request.rs`, module
    /// docs): a bare LF at that LF, the head limit at byte `max_head_bytes + 1`, the line limit at
    /// its byte `max_request_line + 1`, or one later if that byte is a CR that could still have
    /// been its CRLF. At one byte the line limit goes first, then a bare LF, then the head limit
    /// (the order of the checks in `HeadScanner::scan`).
    fn frame(input: &[u8], limits: &HeadLimits) -> Frame {
        // Each event: (the number of bytes after which it is certain, rank on ties, outcome).
        let mut events: Vec<(usize, u8, Frame)> = Vec::new();

        let mut start = 0;
        while input[start..].starts_with(b"\r\n") {
            start += 2;
        }
        let rest = &input[start..];
        // The request line's content: up to its LF without the CR, or, while unterminated,
        // what has arrived without a final CR.
        let line_len = match rest.iter().position(|&b| b == b'\n') {
            Some(lf) if lf > 0 && rest[lf - 1] == b'\r' => lf - 1,
            Some(lf) => lf,
            None if rest.ends_with(b"\r") => rest.len() - 1,
            None => rest.len(),
        };
        let max_line = limits.max_request_line;
        if line_len > max_line {
            let at = start + max_line + 1 + usize::from(rest[max_line] == b'\r');
            events.push((at, 0, Frame::Reject(414)));
        }
        if let Some(lf) = (0..input.len()).find(|&i| input[i] == b'\n' && !preceded_by_cr(input, i))
        {
            events.push((lf + 1, 1, Frame::Reject(400)));
        }
        if input.len() > limits.max_head_bytes {
            events.push((limits.max_head_bytes + 1, 2, Frame::Reject(431)));
        }
        if let Some(end) = find(rest, b"\r\n\r\n") {
            let len = start + end + 4;
            events.push((len, 3, Frame::Head(len)));
        }
        events
            .into_iter()
            .min_by_key(|&(at, rank, _)| (at, rank))
            .map_or(Frame::Incomplete, |(_, _, frame)| frame)
    }

    fn preceded_by_cr(input: &[u8], i: usize) -> bool {
        i > 0 && input[i - 1] == b'\r'
    }

    /// A whole head: lines that all end in CRLF, the last one empty.
    fn parse(head: &[u8]) -> Result<Parsed, u16> {
        let mut lines = head
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .skip_while(|l| l.is_empty());
        let request_line = lines.next().ok_or(400u16)?;
        let (method, target, minor) = request_line_parts(request_line)?;

        let mut fields = Vec::new();
        for line in lines.take_while(|l| !l.is_empty()) {
            let field = field_line(line)?;
            if fields.len() == MAX_FIELDS {
                // ARCHITECTURE.md: more header fields than the cap is 431. Each line is checked before
                // it is counted, so a malformed 101st line is a 400 (httparse's order; both
                // close the connection, and no RFC orders them).
                return Err(431);
            }
            fields.push(field);
        }

        check_target(method, target)?;
        check_host(&fields, minor)?;
        Ok(Parsed {
            head_len: 0,
            method: method.to_vec(),
            target: target.to_vec(),
            minor,
            fields,
        })
    }

    /// `request-line = method SP request-target SP HTTP-version` (RFC 9112 section 3), with
    /// `method = token` and `HTTP-version = "HTTP/" DIGIT "." DIGIT` (section 2.3), and the
    /// request-target as 1*VCHAR (its form is checked later). No other whitespace: sluice takes
    /// the strict reading of section 3 and answers 400 to a line with extra spaces or HTABs.
    fn request_line_parts(line: &[u8]) -> Result<(&[u8], &[u8], u8), u16> {
        let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
        let [method, target, version] = parts[..] else {
            return Err(400);
        };
        if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
            return Err(400);
        }
        if target.is_empty() || !target.iter().all(|&b| is_vchar(b)) {
            return Err(400);
        }
        let [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] = *version else {
            return Err(400);
        };
        if !major.is_ascii_digit() || !minor.is_ascii_digit() {
            return Err(400);
        }
        // RFC 9110 section 15.6.6: 505 for a major version the server does not support. HTTP/1.x
        // with x > 1 is processed as HTTP/1.1 (RFC 9110 section 2.5: a recipient of a higher
        // minor version it does not implement processes the message as the highest it does).
        match (major, minor) {
            (b'1', b'0') => Ok((method, target, 0)),
            (b'1', _) => Ok((method, target, 1)),
            _ => Err(505),
        }
    }

    /// `field-line = field-name ":" OWS field-value OWS` (RFC 9112 section 5), `field-name =
    /// token`, `field-value = *field-content` of VCHAR, obs-text, SP and HTAB (RFC 9110 section
    /// 5.5). A line starting with SP or HTAB is obs-fold, which a server may reject with 400
    /// (RFC 9112 section 5.2); sluice does (ARCHITECTURE.md). No whitespace before the colon (RFC 9112
    /// section 5.1: MUST reject with 400).
    fn field_line(line: &[u8]) -> Result<(Vec<u8>, Vec<u8>), u16> {
        let colon = line.iter().position(|&b| b == b':').ok_or(400u16)?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(400);
        }
        let value = trim_ows(value);
        if !value
            .iter()
            .all(|&b| is_vchar(b) || b >= 0x80 || b == b' ' || b == b'\t')
        {
            return Err(400);
        }
        Ok((name.to_vec(), value.to_vec()))
    }

    /// The forms of RFC 9112 section 3.2, each for the methods it belongs to:
    /// - origin-form `absolute-path [ "?" query ]`: starts with "/"; its characters are taken as
    ///   sent (any VCHAR but "#"; sluice is as lenient, and bad escapes fail later as a bad path);
    /// - absolute-form: sluice is stricter than `absolute-URI` and takes only the `http` and
    ///   `https` schemes (case-insensitive), with a non-empty host (RFC 9110 section 4.2.1: MUST
    ///   reject an empty host) and no userinfo (RFC 9110 section 4.2.4: SHOULD treat it as an
    ///   error);
    /// - authority-form `uri-host ":" port`, for CONNECT only (section 3.2.3); sluice is stricter
    ///   than `port = *DIGIT` and wants a non-empty host and port;
    /// - asterisk-form `*`, for OPTIONS only (section 3.2.4).
    ///
    /// A fragment is never part of a request-target: "#" is refused in every form.
    fn check_target(method: &[u8], target: &[u8]) -> Result<(), u16> {
        if target.contains(&b'#') {
            return Err(400);
        }
        if method == b"CONNECT" {
            return match authority(target) {
                Some((host, Some(port))) if !host.is_empty() && !port.is_empty() => Ok(()),
                _ => Err(400),
            };
        }
        if target == b"*" {
            return if method == b"OPTIONS" {
                Ok(())
            } else {
                Err(400)
            };
        }
        if target.starts_with(b"/") {
            return Ok(());
        }
        let lower = target.to_ascii_lowercase();
        let scheme_len = if lower.starts_with(b"http://") {
            7
        } else if lower.starts_with(b"https://") {
            8
        } else {
            return Err(400);
        };
        let after = &target[scheme_len..];
        let end = after
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(after.len());
        match authority(&after[..end]) {
            Some((host, _)) if !host.is_empty() => Ok(()),
            _ => Err(400),
        }
    }

    /// Host (RFC 9112 section 3.2): a server MUST answer 400 to an HTTP/1.1 request without
    /// Host, to any request with more than one Host field line, and to an invalid value.
    /// `Host = uri-host [ ":" port ]` (RFC 9110 section 7.2); an empty host (`Host:` or
    /// `Host: :80`) is invalid for an `http` URI (RFC 9110 section 4.2.1: a recipient MUST reject
    /// it), and sluice serves only `http`.
    fn check_host(fields: &[(Vec<u8>, Vec<u8>)], minor: u8) -> Result<(), u16> {
        let hosts: Vec<&[u8]> = fields
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(b"host"))
            .map(|(_, value)| value.as_slice())
            .collect();
        match hosts[..] {
            [] if minor == 1 => Err(400),
            [] => Ok(()),
            [value] if authority(value).is_some_and(|(host, _)| !host.is_empty()) => Ok(()),
            _ => Err(400),
        }
    }

    /// `uri-host [ ":" port ]` (RFC 3986 section 3.2.2-3.2.3): host and port when the syntax
    /// holds. No userinfo.
    fn authority(s: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
        let host_end = if s.first() == Some(&b'[') {
            s.iter().position(|&b| b == b']')? + 1
        } else {
            s.iter().position(|&b| b == b':').unwrap_or(s.len())
        };
        let (host, rest) = s.split_at(host_end);
        let host_ok = match host {
            [b'[', inner @ .., b']'] => is_ip_literal_inner(inner),
            _ => is_reg_name(host),
        };
        if !host_ok {
            return None;
        }
        match rest {
            [] => Some((host, None)),
            [b':', port @ ..] if port.iter().all(u8::is_ascii_digit) => Some((host, Some(port))),
            _ => None,
        }
    }

    /// `IPv6address / IPvFuture`, `IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims /
    /// ":" )`.
    fn is_ip_literal_inner(inner: &[u8]) -> bool {
        if let [b'v' | b'V', rest @ ..] = inner {
            let Some(dot) = rest.iter().position(|&b| b == b'.') else {
                return false;
            };
            let (hex, tail) = (&rest[..dot], &rest[dot + 1..]);
            return !hex.is_empty()
                && hex.iter().all(u8::is_ascii_hexdigit)
                && !tail.is_empty()
                && tail
                    .iter()
                    .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':');
        }
        std::str::from_utf8(inner)
            .ok()
            .and_then(|s| s.parse::<Ipv6Addr>().ok())
            .is_some()
    }

    /// `reg-name = *( unreserved / pct-encoded / sub-delims )`; IPv4address is a subset.
    fn is_reg_name(s: &[u8]) -> bool {
        let mut i = 0;
        while i < s.len() {
            if s[i] == b'%' {
                if i + 2 >= s.len()
                    || !s[i + 1].is_ascii_hexdigit()
                    || !s[i + 2].is_ascii_hexdigit()
                {
                    return false;
                }
                i += 3;
            } else if is_unreserved(s[i]) || is_sub_delim(s[i]) {
                i += 1;
            } else {
                return false;
            }
        }
        true
    }

    fn is_unreserved(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b"-._~".contains(&b)
    }

    fn is_sub_delim(b: u8) -> bool {
        b"!$&'()*+,;=".contains(&b)
    }

    /// `tchar` (RFC 9110 section 5.6.2).
    fn is_tchar(b: u8) -> bool {
        b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
    }

    /// `VCHAR` (RFC 5234 appendix B.1).
    fn is_vchar(b: u8) -> bool {
        (0x21..=0x7e).contains(&b)
    }

    fn trim_ows(mut s: &[u8]) -> &[u8] {
        while let [b' ' | b'\t', rest @ ..] = s {
            s = rest;
        }
        while let [rest @ .., b' ' | b'\t'] = s {
            s = rest;
        }
        s
    }

    pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack.windows(needle.len()).position(|w| w == needle)
    }
}

// ---------------------------------------------------------------------------------------------
// Generated heads

/// A head before serialization: what a client might send.
#[derive(Debug, Clone)]
struct Spec {
    leading_empty_lines: usize,
    method: String,
    target: String,
    version: String,
    fields: Vec<(String, Vec<u8>)>,
}

impl Spec {
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = b"\r\n".repeat(self.leading_empty_lines);
        out.extend_from_slice(
            format!("{} {} {}\r\n", self.method, self.target, self.version).as_bytes(),
        );
        for (name, value) in &self.fields {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => select(&["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"][..])
            .prop_map(String::from),
        1 => select(&["CONNECT", "get", "BREW", "M-SEARCH", "X!#$%&'*+-.^_`|~9"][..]).prop_map(String::from),
        1 => "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,10}",
    ]
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{0,30}(\\?[A-Za-z0-9=&/?%._-]{0,20})?",
        2 => select(&[
            "/", "/index.html", "/devices/esp32-kitchen", "/a%20b/%2e%2e/c", "/files/big.bin?x=1",
            "/{}|\\^`\"<>", "*", "http://example.com/p?q", "HTTPS://a.example", "http://[::1]:8080/",
            "http://h:/", "example.com:443", "[::1]:443", "/a#frag", "http://u@h/", "ftp://h/x",
            "http:///x", "http://h#f", "relative/path", "//double", "http://a%zz/",
        ][..])
        .prop_map(String::from),
    ]
}

fn version() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => Just("HTTP/1.1"),
        2 => Just("HTTP/1.0"),
        2 => select(&[
            "HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/9.9", "http/1.1", "HTTP/1.10", "HTTP/11",
            "HTTP/1.", "HTTP/1,1", "HTTPS/1.1", "HTTP/a.1", "",
        ][..]),
    ]
    .prop_map(String::from)
}

fn field_value() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        20 => 0x21u8..=0x7e,
        3 => Just(b' '),
        1 => Just(b'\t'),
        1 => 0x80u8..=0xff,
    ];
    proptest::collection::vec(byte, 0..40)
}

fn host_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => select(&[
            "example.com", "192.168.1.20:8080", "[::1]:80", "[fe80::1]", "[v1.fe:x]", "", "h",
            "a%2Db", "localhost:", "xn--caf-dma.example",
        ][..]),
        1 => select(&["u@h", "h:8o", "[::1", "a/b", "[::g]", "a%2", "h:1:2", "[::1]x", "a b"][..]),
    ]
    .prop_map(|s| s.as_bytes().to_vec())
}

fn other_field() -> impl Strategy<Value = (String, Vec<u8>)> {
    let name = prop_oneof![
        4 => select(&[
            "Accept", "User-Agent", "Accept-Language", "Cache-Control", "X-Device", "Connection",
            "If-Modified-Since", "Range", "Cookie", "x-a", "Accept-Encoding",
        ][..])
        .prop_map(String::from),
        1 => "X-[!#$%&'*+.^_`|~0-9A-Za-z-]{0,12}",
    ];
    (name, field_value())
}

prop_compose! {
    /// A head that is valid except for what the version, method and target lists hold.
    fn spec()(
        leading_empty_lines in prop_oneof![9 => Just(0usize), 1 => 1usize..3],
        method in method(),
        target in target(),
        version in version(),
        mut fields in proptest::collection::vec(other_field(), 0..8),
        // Usually one Host; sometimes none or two.
        hosts in prop_oneof![
            10 => proptest::collection::vec(host_value(), 1..=1),
            1 => proptest::collection::vec(host_value(), 0..=0),
            1 => proptest::collection::vec(host_value(), 2..=2),
        ],
        host_at in any::<Index>(),
        host_name in select(&["Host", "host", "HOST"][..]),
    ) -> Spec {
        for host in hosts {
            let at = host_at.index(fields.len() + 1);
            fields.insert(at, (host_name.to_string(), host));
        }
        Spec { leading_empty_lines, method, target, version, fields }
    }
}

/// A small fault introduced into a serialized head.
#[derive(Debug, Clone)]
enum Mutation {
    /// A CRLF loses its CR.
    BareLf(Index),
    /// A CRLF loses its LF.
    BareCr(Index),
    /// A byte inserted anywhere: NUL, another control, DEL, obs-text, SP, HTAB, CR, LF, ":".
    Insert(Index, u8),
    /// A space before the colon of a field line.
    SpaceBeforeColon(Index),
    /// A value continued on the next line (obs-fold), with SP or HTAB.
    ObsFold(Index, bool),
    /// One space of the request line doubled.
    DoubleSpace(Index),
    /// A byte removed.
    Delete(Index),
    /// The head cut short.
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let inserted = prop_oneof![
        Just(0u8),
        0x01u8..0x20,
        Just(0x7f),
        0x80u8..=0xff,
        select(&[b' ', b'\t', b'\r', b'\n', b':'][..]),
    ];
    prop_oneof![
        2 => any::<Index>().prop_map(Mutation::BareLf),
        2 => any::<Index>().prop_map(Mutation::BareCr),
        4 => (any::<Index>(), inserted).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => any::<Index>().prop_map(Mutation::SpaceBeforeColon),
        1 => (any::<Index>(), any::<bool>()).prop_map(|(i, tab)| Mutation::ObsFold(i, tab)),
        1 => any::<Index>().prop_map(Mutation::DoubleSpace),
        2 => any::<Index>().prop_map(Mutation::Delete),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn positions(bytes: &[u8], pattern: &[u8]) -> Vec<usize> {
    (0..bytes.len())
        .filter(|&i| bytes[i..].starts_with(pattern))
        .collect()
}

impl Mutation {
    fn apply(&self, bytes: &mut Vec<u8>) {
        let pick = |at: &Index, candidates: Vec<usize>| {
            (!candidates.is_empty()).then(|| candidates[at.index(candidates.len())])
        };
        match self {
            Mutation::BareLf(at) => {
                if let Some(i) = pick(at, positions(bytes, b"\r\n")) {
                    bytes.remove(i);
                }
            }
            Mutation::BareCr(at) => {
                if let Some(i) = pick(at, positions(bytes, b"\r\n")) {
                    bytes.remove(i + 1);
                }
            }
            Mutation::Insert(at, b) => bytes.insert(at.index(bytes.len() + 1), *b),
            Mutation::SpaceBeforeColon(at) => {
                if let Some(i) = pick(at, positions(bytes, b": ")) {
                    bytes.insert(i, b' ');
                }
            }
            Mutation::ObsFold(at, tab) => {
                // Inside a field value: after a ": ".
                if let Some(i) = pick(at, positions(bytes, b": ")) {
                    let fold: &[u8] = if *tab { b"\r\n\t" } else { b"\r\n " };
                    bytes.splice(i + 2..i + 2, fold.iter().copied());
                }
            }
            Mutation::DoubleSpace(at) => {
                let line_end = positions(bytes, b"\r\n").into_iter().find(|&i| i > 0);
                let spaces = positions(&bytes[..line_end.unwrap_or(bytes.len())], b" ");
                if let Some(i) = pick(at, spaces) {
                    bytes.insert(i, b' ');
                }
            }
            Mutation::Delete(at) => {
                if !bytes.is_empty() {
                    bytes.remove(at.index(bytes.len()));
                }
            }
            Mutation::Truncate(at) => bytes.truncate(at.index(bytes.len() + 1)),
        }
    }
}

/// Ways to reach a limit: a long target, a long field value, many fields.
#[derive(Debug, Clone)]
enum Growth {
    Target(usize),
    Value(usize),
    Fields(usize),
}

fn growth(limits: &HeadLimits) -> impl Strategy<Value = Growth> {
    let line = limits.max_request_line;
    let head = limits.max_head_bytes;
    prop_oneof![
        (line - 40..line + 40).prop_map(Growth::Target),
        (head - 80..head + 80).prop_map(Growth::Value),
        (MAX_HEADERS - 3..MAX_HEADERS + 3).prop_map(Growth::Fields),
    ]
}

impl Growth {
    fn apply(&self, spec: &mut Spec) {
        match *self {
            Growth::Target(n) => {
                let pad = n.saturating_sub(spec.method.len() + spec.version.len() + 2 + 1);
                spec.target = format!("/{}", "a".repeat(pad));
            }
            Growth::Value(n) => spec.fields.push(("X-Pad".into(), vec![b'p'; n])),
            Growth::Fields(n) => {
                while spec.fields.len() < n {
                    let i = spec.fields.len();
                    spec.fields.push((format!("X-{i}"), b"v".to_vec()));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running

const SEED: [u8; 32] = *b"sluice differential head parser.";

fn runner(cases: u32) -> TestRunner {
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &SEED))
}

/// Escapes a head for a failure message.
fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

fn same_verdict(input: &[u8], limits: &HeadLimits) -> Result<(), TestCaseError> {
    let ours = sluice_verdict(input, limits);
    let reference = reference::verdict(input, limits);
    prop_assert_eq!(
        &ours,
        &reference,
        "input b\"{}\" (limits {:?})",
        show(input),
        limits
    );
    Ok(())
}

fn run<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) {
    if let Err(e) = runner(cases).run(&strategy, test) {
        panic!("{e}");
    }
}

#[test]
fn generated_heads_get_the_same_verdict() {
    run(3000, spec(), |spec| same_verdict(&spec.to_bytes(), &SMALL));
}

#[test]
fn mutated_heads_get_the_same_verdict() {
    let strategy = (spec(), proptest::collection::vec(mutation(), 1..4));
    run(6000, strategy, |(spec, mutations)| {
        let mut bytes = spec.to_bytes();
        for m in &mutations {
            m.apply(&mut bytes);
        }
        same_verdict(&bytes, &SMALL)
    });
}

#[test]
fn heads_at_the_limits_get_the_same_verdict() {
    for limits in [SMALL, PRODUCTION] {
        let strategy = (
            spec(),
            growth(&limits),
            proptest::collection::vec(mutation(), 0..2),
        );
        run(1500, strategy, |(mut spec, growth, mutations)| {
            growth.apply(&mut spec);
            let mut bytes = spec.to_bytes();
            for m in &mutations {
                m.apply(&mut bytes);
            }
            same_verdict(&bytes, &limits)
        });
    }
}

/// The reference itself, on the cases ARCHITECTURE.md names, so that a disagreement above is not
/// a fault of the reference.
#[test]
fn reference_follows_the_design_table() {
    let cases: &[(&[u8], Option<u16>)] = &[
        (b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", None),
        (b"\r\n\r\nGET / HTTP/1.0\r\n\r\n", None),
        (
            b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
            Some(400),
        ),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", Some(400)),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", Some(400)),
        (b"GET / HTTP/1.1\nHost: h\r\n\r\n", Some(400)),
        (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", Some(400)),
        (b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n", Some(400)),
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", Some(505)),
        (b"GET / HTTP/1.1\r\n\r\n", Some(400)),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", Some(400)),
        (b"GET /a#f HTTP/1.1\r\nHost: h\r\n\r\n", Some(400)),
        (b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", None),
        (b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", Some(400)),
    ];
    for &(input, want) in cases {
        let got = match reference::verdict(input, &SMALL) {
            Verdict::Accept(_) => None,
            Verdict::Reject(status) => Some(status),
            Verdict::Incomplete => panic!("incomplete: {}", show(input)),
        };
        assert_eq!(got, want, "{}", show(input));
    }
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: h\r\n\r\n", "a".repeat(600));
    assert_eq!(
        reference::verdict(long_target.as_bytes(), &SMALL),
        Verdict::Reject(414)
    );
    let big = format!(
        "GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n",
        "a".repeat(3000)
    );
    assert_eq!(
        reference::verdict(big.as_bytes(), &SMALL),
        Verdict::Reject(431)
    );
    let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nHost: h\r\n{many}\r\n");
    assert_eq!(
        reference::verdict(many.as_bytes(), &PRODUCTION),
        Verdict::Reject(431)
    );
}
