//! Request heads (RFC 9112 sections 2-3, 5-6; RFC 9110 section 5): an incremental scanner that
//! finds the end of a head without rescanning, and a validating parser over `httparse`.
//!
//! Contract (the connection relies on it):
//! - `HeadScanner::scan` is called with the whole unconsumed buffer each time bytes arrive; it
//!   remembers how far it has looked, so the total work for one head is linear in its size.
//! - When it reports `Complete(len)`, `parse_head(&buf[..len], ..)` is called exactly once.
//! - Limits are checked as bytes arrive: a head that cannot fit is rejected before it is complete.
//!
//! Errors do not depend on how the bytes were split between calls: each limit is tied to the
//! first byte position at which it is certain, and the earliest position wins.
use super::target::{check_host, Target};
use crate::http::error::RequestError;
use crate::http::Progress;
use crate::limits::MAX_HEADERS;
use memchr::memchr;
use std::mem::MaybeUninit;

/// Caps on a request head. Defaults in `config.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Largest head in bytes, request line and final empty line included (431 beyond it).
    pub max_head_bytes: usize,
    /// Longest request line in bytes, CRLF excluded (414 beyond it).
    pub max_request_line: usize,
}

/// Finds the end of a head in a growing buffer. Reset with `HeadScanner::default()` per request.
#[derive(Debug, Default, Clone)]
pub struct HeadScanner {
    /// Bytes of the buffer already searched for LF; the next call starts here.
    scanned: usize,
    /// Offset of the first byte of the line being read.
    line_start: usize,
    /// A non-empty line (the request line) has ended, so the next empty line ends the head.
    seen_request_line: bool,
    /// The head length once found; repeated by later calls.
    complete: Option<usize>,
}

impl HeadScanner {
    /// Looks at `buf` (the unconsumed input, starting at the first byte of this request; it only
    /// grows between calls) from where the previous call stopped. Returns `Complete(n)` when
    /// `buf[..n]` is a whole head ending in CRLF CRLF (leading empty lines before the request line
    /// are part of it and skipped by the parser), `NeedMore` otherwise.
    /// Errors: `BareLineFeed` for an LF not preceded by CR; `UriTooLong` when the request line
    /// exceeds `max_request_line`; `HeadTooLarge` when `max_head_bytes` pass without an end.
    pub fn scan(
        &mut self,
        buf: &[u8],
        limits: &HeadLimits,
    ) -> Result<Progress<usize>, RequestError> {
        if let Some(len) = self.complete {
            if len <= buf.len() {
                return Ok(Progress::Complete(len));
            }
        }
        if self.complete.is_some() || buf.len() < self.scanned {
            // The buffer shrank: the caller broke the contract. Start over rather than panic.
            *self = Self::default();
        }
        // RFC 9112 section 2.2: lines end in CRLF; empty lines before the request line are
        // skipped; the head ends at the first empty line after it.
        while let Some(i) = buf.get(self.scanned..).and_then(|rest| memchr(b'\n', rest)) {
            let lf = self.scanned + i;
            self.check_limits(buf, lf, limits)?;
            let line = buf.get(self.line_start..lf).unwrap_or_default();
            let Some(content) = line.strip_suffix(b"\r") else {
                return Err(RequestError::BareLineFeed);
            };
            let end = lf + 1;
            if end > limits.max_head_bytes {
                return Err(RequestError::HeadTooLarge);
            }
            if content.is_empty() && self.seen_request_line {
                self.complete = Some(end);
                return Ok(Progress::Complete(end));
            }
            // Limits already covered a request line that is too long (`check_limits` above).
            self.seen_request_line |= !content.is_empty();
            self.line_start = end;
            self.scanned = end;
        }
        self.scanned = buf.len();
        self.check_limits(buf, buf.len(), limits)?;
        Ok(Progress::NeedMore)
    }

    /// Checks the limits on the prefix `buf[..len]`, in which the current line has not ended.
    /// Both conditions only ever turn true as bytes are added, so each has a first prefix length
    /// at which it holds; the smaller one is reported (the request line on a tie).
    fn check_limits(
        &self,
        buf: &[u8],
        len: usize,
        limits: &HeadLimits,
    ) -> Result<(), RequestError> {
        let too_large_at = limits.max_head_bytes.saturating_add(1);
        let too_long_at = if self.seen_request_line {
            None
        } else {
            // The line is too long once it has `max + 1` bytes, not counting a final CR that may
            // still turn out to be the start of its CRLF.
            let at = self
                .line_start
                .saturating_add(limits.max_request_line)
                .saturating_add(1);
            match buf.get(..len).and_then(|b| b.get(at - 1)) {
                None => None,
                Some(b'\r') => Some(at.saturating_add(1)),
                Some(_) => Some(at),
            }
        };
        match too_long_at {
            Some(at) if at <= len && at <= too_large_at => Err(RequestError::UriTooLong),
            // A request line that becomes too long later than this is never reached.
            _ if too_large_at <= len => Err(RequestError::HeadTooLarge),
            _ => Ok(()),
        }
    }
}

/// Request methods. `Other` is any syntactically valid token we do not implement (501).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Trace,
    Connect,
    Patch,
    Other,
}

impl Method {
    /// Maps a method token, case-sensitively (RFC 9110 section 9.1).
    fn from_token(token: &[u8]) -> Method {
        match token {
            b"GET" => Method::Get,
            b"HEAD" => Method::Head,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"OPTIONS" => Method::Options,
            b"TRACE" => Method::Trace,
            b"CONNECT" => Method::Connect,
            b"PATCH" => Method::Patch,
            _ => Method::Other,
        }
    }
}

/// HTTP version of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// How the request body is framed (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

/// A parsed, validated request head. Borrows the read buffer; nothing is allocated.
#[derive(Debug)]
pub struct RequestHead<'b, 'h> {
    pub method: Method,
    /// The method token as sent (for logs and `Other`).
    pub method_str: &'b str,
    /// The request-target as sent (origin-form, absolute-form or `*`).
    pub target: &'b str,
    /// The path part of the target: origin-form up to `?`; for absolute-form the path after the
    /// authority (`/` when empty); `*` for asterisk-form. Still percent-encoded.
    pub path: &'b str,
    /// The query after `?`, without the `?`, if any.
    pub query: Option<&'b str>,
    pub version: Version,
    /// The Host header value, or the authority of an absolute-form target (which wins).
    pub host: Option<&'b [u8]>,
    pub framing: BodyFraming,
    /// True for HTTP/1.1 without `Connection: close`, and for HTTP/1.0 with `keep-alive`.
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent (case-insensitive). Other expectations are an error.
    pub expect_continue: bool,
    /// Every header field, in order.
    pub headers: &'h [httparse::Header<'b>],
}

impl<'b, 'h> RequestHead<'b, 'h> {
    /// The value of the first field named `name` (ASCII case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }
}

/// Scratch space for the header fields of one head, left uninitialised: the parser writes only the
/// entries it fills, so a request does not pay for clearing `MAX_HEADERS` of them.
pub fn header_slots<'b, const N: usize>() -> [MaybeUninit<httparse::Header<'b>>; N] {
    [MaybeUninit::uninit(); N]
}

/// Parses and validates a complete head (as delimited by `HeadScanner`). `fields` is scratch
/// space of at least `MAX_HEADERS` entries (see [`header_slots`]). Applies every framing rule of ARCHITECTURE.md's error table.
///
/// Checks run in this order, the first failure wins: line endings, request line, header syntax
/// (httparse), request-target, Host, Transfer-Encoding, Content-Length, Expect.
pub fn parse_head<'b, 'h>(
    head: &'b [u8],
    fields: &'h mut [MaybeUninit<httparse::Header<'b>>],
) -> Result<RequestHead<'b, 'h>, RequestError> {
    // httparse accepts a bare LF as a line end; RFC 9112 section 2.2 lets us refuse it.
    if memchr::memchr_iter(b'\n', head).any(|lf| lf == 0 || head[lf - 1] != b'\r') {
        return Err(RequestError::BareLineFeed);
    }
    let line = RequestLine::parse(head)?;

    // Never more than MAX_HEADERS, even if the caller's scratch space is larger.
    let limit = fields.len().min(MAX_HEADERS);
    let mut request = httparse::Request::new(&mut []);
    match request.parse_with_uninit_headers(head, &mut fields[..limit]) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(RequestError::MalformedRequestLine),
        Err(e) => return Err(map_httparse_error(e, line.version_token)),
    }
    // httparse has checked the method and target that RequestLine found and made them `str`s;
    // converting them again would cost more than the rest of the request line.
    let (Some(method_str), Some(target_str)) = (request.method, request.path) else {
        return Err(RequestError::MalformedRequestLine);
    };
    let headers: &'h [httparse::Header<'b>] = request.headers;

    let target = Target::parse(line.method, target_str)?;
    let host = check_host(headers, line.version)?;
    let framing = body_framing(headers, line.version)?;
    Ok(RequestHead {
        method: line.method,
        method_str,
        target: target_str,
        path: target.path,
        query: target.query,
        version: line.version,
        host: target.authority.or(host),
        framing,
        keep_alive: keep_alive(headers, line.version),
        expect_continue: expect_continue(headers, line.version)?,
        headers,
    })
}

/// The request line, checked before httparse so that each fault gets its precise error.
struct RequestLine<'b> {
    method: Method,
    version_token: &'b [u8],
    version: Version,
}

impl<'b> RequestLine<'b> {
    /// RFC 9112 section 3: `method SP request-target SP HTTP-version CRLF`, after any empty
    /// lines. The caller has already checked that every LF follows a CR.
    fn parse(head: &'b [u8]) -> Result<Self, RequestError> {
        let mut rest = head;
        while let Some(tail) = rest.strip_prefix(b"\r\n") {
            rest = tail;
        }
        let lf = memchr(b'\n', rest).ok_or(RequestError::MalformedRequestLine)?;
        let line = rest[..lf]
            .strip_suffix(b"\r")
            .ok_or(RequestError::BareLineFeed)?;
        if memchr(b'\r', line).is_some() {
            return Err(RequestError::BareLineFeed);
        }
        let (method, rest) = split_at_space(line).ok_or(RequestError::MalformedRequestLine)?;
        let (target, version_token) =
            split_at_space(rest).ok_or(RequestError::MalformedRequestLine)?;
        if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) || target.is_empty() {
            return Err(RequestError::MalformedRequestLine);
        }
        if !target.iter().all(|&b| b.is_ascii_graphic()) {
            return Err(RequestError::InvalidTarget);
        }
        let version = parse_version(version_token)?;
        Ok(RequestLine {
            method: Method::from_token(method),
            version_token,
            version,
        })
    }
}

/// RFC 9110 section 2.5: a request of HTTP/1.x with x > 1 is processed as HTTP/1.1, the highest
/// minor version sluice implements. Rewrites such a request line's version token in place
/// (before [`parse_head`], which refuses it with 505 otherwise); one `memchr` per head.
pub fn downgrade_minor_version(head: &mut [u8]) {
    let mut start = 0;
    while let Some(lf) = memchr(b'\n', &head[start..]) {
        let end = start + lf;
        // Empty lines before the request line are skipped (RFC 9112 section 2.2).
        if end == start || (end == start + 1 && head[start] == b'\r') {
            start = end + 1;
            continue;
        }
        if end >= start + 10
            && head[end - 1] == b'\r'
            && &head[end - 10..end - 2] == b" HTTP/1."
            && matches!(head[end - 2], b'2'..=b'9')
        {
            head[end - 2] = b'1';
        }
        return;
    }
}

/// RFC 9112 section 2.3: `HTTP-version = "HTTP" "/" DIGIT "." DIGIT`, case-sensitive.
fn parse_version(token: &[u8]) -> Result<Version, RequestError> {
    match token {
        b"HTTP/1.1" => Ok(Version::Http11),
        b"HTTP/1.0" => Ok(Version::Http10),
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            Err(RequestError::UnsupportedVersion)
        }
        _ => Err(RequestError::MalformedVersion),
    }
}

fn map_httparse_error(e: httparse::Error, version_token: &[u8]) -> RequestError {
    match e {
        httparse::Error::Token | httparse::Error::Status => RequestError::MalformedRequestLine,
        httparse::Error::HeaderName => RequestError::MalformedHeaderName,
        httparse::Error::HeaderValue => RequestError::MalformedHeaderValue,
        httparse::Error::NewLine => RequestError::BareLineFeed,
        httparse::Error::TooManyHeaders => RequestError::TooManyHeaders,
        // Not reached after `RequestLine::parse`, kept for a faithful mapping.
        httparse::Error::Version => match parse_version(version_token) {
            Err(e) => e,
            Ok(_) => RequestError::MalformedVersion,
        },
    }
}

/// Body framing from Transfer-Encoding and Content-Length (RFC 9112 sections 6.1 and 6.3).
fn body_framing(
    headers: &[httparse::Header<'_>],
    version: Version,
) -> Result<BodyFraming, RequestError> {
    let has_cl = headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("content-length"));
    let mut te = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
        .peekable();
    if te.peek().is_some() {
        if version == Version::Http10 {
            return Err(RequestError::TransferEncodingInHttp10);
        }
        if has_cl {
            return Err(RequestError::ContentLengthWithTransferEncoding);
        }
        // All fields form one list; `chunked` must be last and appear once. Any other coding
        // (parameters make a coding "other" too) is one we do not implement.
        let (mut chunked, mut other, mut last_is_chunked) = (0usize, false, false);
        for coding in te.flat_map(|h| list_elements(h.value)) {
            last_is_chunked = coding.eq_ignore_ascii_case(b"chunked");
            if last_is_chunked {
                chunked += 1;
            } else {
                other = true;
            }
        }
        if !last_is_chunked || chunked > 1 {
            return Err(RequestError::TransferEncodingNotChunked);
        }
        if other {
            return Err(RequestError::UnknownTransferCoding);
        }
        return Ok(BodyFraming::Chunked);
    }
    // Content-Length = 1*DIGIT, one value. RFC 9110 section 8.6 lets a recipient take repeated
    // identical values (in one list or several fields) as one; nginx and HAProxy refuse them,
    // and so does sluice, so that a proxy in front has one less way to disagree with it.
    let mut length = None;
    for h in headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
    {
        for element in h.value.split(|&b| b == b',') {
            let n = parse_decimal(trim_ows(element)).ok_or(RequestError::InvalidContentLength)?;
            if length.is_some() {
                return Err(RequestError::ConflictingContentLength);
            }
            length = Some(n);
        }
    }
    Ok(length.map_or(BodyFraming::None, BodyFraming::Length))
}

/// `1*DIGIT` that fits in 63 bits.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    (n <= i64::MAX as u64).then_some(n)
}

/// Connection (RFC 9112 section 9.3): HTTP/1.1 persists unless `close`; HTTP/1.0 only with
/// `keep-alive`.
fn keep_alive(headers: &[httparse::Header<'_>], version: Version) -> bool {
    let (mut close, mut keep) = (false, false);
    for option in headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| list_elements(h.value))
    {
        close |= option.eq_ignore_ascii_case(b"close");
        keep |= option.eq_ignore_ascii_case(b"keep-alive");
    }
    match version {
        Version::Http11 => !close,
        Version::Http10 => keep && !close,
    }
}

/// Expect (RFC 9110 section 10.1.1): only `100-continue` is known; HTTP/1.0 requests are not
/// expected to understand it, so there it is ignored.
fn expect_continue(
    headers: &[httparse::Header<'_>],
    version: Version,
) -> Result<bool, RequestError> {
    if version == Version::Http10 {
        return Ok(false);
    }
    let mut expect = false;
    for h in headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("expect"))
    {
        let mut any = false;
        for e in list_elements(h.value) {
            if !e.eq_ignore_ascii_case(b"100-continue") {
                return Err(RequestError::UnknownExpectation);
            }
            any = true;
        }
        if !any {
            return Err(RequestError::UnknownExpectation);
        }
        expect = true;
    }
    Ok(expect)
}

/// The non-empty, OWS-trimmed elements of a comma list (RFC 9110 section 5.6.1).
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
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

fn split_at_space(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let sp = memchr(b' ', s)?;
    Some((&s[..sp], &s[sp + 1..]))
}

/// `tchar` (RFC 9110 section 5.6.2).
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
