//! Request heads (RFC 9112 sections 2-3, 5-6; RFC 9110 section 5): an incremental scanner that
//! finds the end of a head without rescanning, and a validating parser over `httparse`.
//!
//! Contract (the connection relies on it):
//! - `HeadScanner::scan` is called with the whole unconsumed buffer each time bytes arrive; it
//!   remembers how far it has looked, so the total work for one head is linear in its size.
//! - When it reports `Complete(len)`, `parse_head(&buf[..len], ..)` is called exactly once.
//! - Limits are checked as bytes arrive: a head that cannot fit is rejected before it is complete.
use crate::error::RequestError;
use crate::http::Progress;

/// Caps on a request head. Defaults in `config.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Largest head in bytes, request line and final empty line included (431 beyond it).
    pub max_head_bytes: usize,
    /// Longest request line in bytes, CRLF excluded (414 beyond it).
    pub max_request_line: usize,
}

/// Most header fields in one head (431 beyond it). Fixed because the parser's field array lives
/// on the stack.
pub const MAX_HEADERS: usize = 100;

/// Finds the end of a head in a growing buffer. Reset with `HeadScanner::default()` per request.
#[derive(Debug, Default, Clone)]
pub struct HeadScanner { /* fields chosen by the implementation */ }

impl HeadScanner {
    /// Looks at `buf` (the unconsumed input, starting at the first byte of this request; it only
    /// grows between calls) from where the previous call stopped. Returns `Complete(n)` when
    /// `buf[..n]` is a whole head ending in CRLF CRLF (leading empty lines before the request line
    /// are part of it and skipped by the parser), `NeedMore` otherwise.
    /// Errors: `BareLineFeed` for an LF not preceded by CR; `UriTooLong` when the request line
    /// exceeds `max_request_line`; `HeadTooLarge` when `max_head_bytes` pass without an end.
    pub fn scan(&mut self, buf: &[u8], limits: &HeadLimits) -> Result<Progress<usize>, RequestError> {
        let _ = (buf, limits);
        todo!()
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
        let _ = name;
        todo!()
    }
}

/// Parses and validates a complete head (as delimited by `HeadScanner`). `fields` is scratch
/// space of at least `MAX_HEADERS` entries. Applies every framing rule of DESIGN.md's error table.
pub fn parse_head<'b, 'h>(
    head: &'b [u8],
    fields: &'h mut [httparse::Header<'b>],
) -> Result<RequestHead<'b, 'h>, RequestError> {
    let _ = (head, fields);
    todo!()
}
