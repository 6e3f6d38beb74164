//! What every responder hands back to the connection, and the one builder of error replies.
//!
//! A responder (a page, a static file, the device routes) writes the whole response head, and
//! any small body, into the connection's write buffer and returns a [`Reply`]: the status and
//! body length for the access log, and a [`FileBody`] still to be sent by `sendfile`. Every error
//! reply, whoever detects the error, is written by [`error`] (or [`error_with`], which adds the
//! fields a status calls for); its status comes from `RequestError::status`, the one map.
//!
//! [`ReplyKit`] is what writing any reply needs from the loop turn: the `Date` value, a reusable
//! gzip state, and a scratch buffer for generated bodies. It takes no `Context`, so every layer
//! that answers requests can use it and nothing here imports back up.
use super::date::DateCache;
use super::error::RequestError;
use super::gzip::Gzip;
use super::range::RangeSet;
use super::request::{Method, RequestHead, Version};
use super::{accept_encoding, response};
use crate::limits::{MAX_RANGES, MIN_GZIP_BYTES};
use std::fs::File;
use std::rc::Rc;

/// Methods the static file routes allow (the `Allow` of a 405 that names no other list).
pub const ALLOW_STATIC: &str = "GET, HEAD, OPTIONS";
/// Seconds a client is asked to wait after a 503.
pub const RETRY_AFTER_SECS: &str = "1";

/// What a responder produced, for the connection and the access log.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Body bytes the response carries (in the buffer or in `body`).
    pub body_len: u64,
    /// What is still to be sent after the write buffer.
    pub body: Option<Body>,
}

/// A body still to be sent after the head in the write buffer.
#[derive(Debug)]
pub enum Body {
    /// File ranges, by `sendfile`.
    File(FileBody),
    /// Bytes made while they are sent (a folder's zip).
    Generated(Box<dyn Generated>),
}

/// A body produced while it is sent, pulled in chunks by the connection whenever its socket
/// takes more. Its length was promised in the head, so it must produce exactly that many bytes.
pub trait Generated: std::fmt::Debug {
    /// Appends the next bytes of the body to `out`, about `max` of them (a short header may go
    /// past it). `Ok(0)` once the body is complete. An error means the promised body cannot be
    /// made (a file changed meanwhile): the connection closes.
    fn fill(&mut self, out: &mut Vec<u8>, max: usize) -> std::io::Result<usize>;
}

impl Reply {
    /// A reply whose head and body are all in the write buffer.
    pub fn buffered(status: u16, body_len: u64) -> Reply {
        Reply {
            status,
            body_len,
            body: None,
        }
    }
}

/// How the response head manages the connection.
#[derive(Debug, Clone, Copy)]
pub struct Framing {
    /// The connection closes after this response.
    pub close: bool,
    /// The request was HEAD: the head only, no body (RFC 9110 section 9.3.2).
    pub head_only: bool,
    /// An HTTP/1.0 client that asked for keep-alive and keeps it.
    pub http10_keep_alive: bool,
}

impl Framing {
    /// Framing for a response to `head` whose connection closes if `close`.
    pub fn for_request(head: &RequestHead<'_, '_>, close: bool) -> Self {
        Framing {
            close,
            head_only: head.method == Method::Head,
            http10_keep_alive: !close && head.version == Version::Http10,
        }
    }
}

/// A file body still to be sent after the head: the range `offset..offset + remaining`, and for a
/// multipart body the ranges and part heads that follow it.
#[derive(Debug)]
pub struct FileBody {
    pub file: Rc<File>,
    pub offset: u64,
    pub remaining: u64,
    parts: Option<Box<Parts>>,
}

/// The rest of a `multipart/byteranges` body.
#[derive(Debug)]
struct Parts {
    /// Segment `k` is `heads[bounds[k]..bounds[k + 1]]`: the head of range `k` for `k < n`, the
    /// close delimiter for `k == n`.
    heads: Vec<u8>,
    bounds: [usize; MAX_RANGES + 2],
    ranges: RangeSet,
    /// The range being sent.
    current: usize,
}

impl FileBody {
    /// One range of `file`.
    pub fn range(file: Rc<File>, offset: u64, len: u64) -> FileBody {
        FileBody {
            file,
            offset,
            remaining: len,
            parts: None,
        }
    }

    /// A `multipart/byteranges` body of `ranges` (two or more), whose first part head is already
    /// in the write buffer. `heads[bounds[k]..bounds[k + 1]]` is the head of part `k`, and the
    /// last segment the close delimiter.
    pub fn multipart(
        file: Rc<File>,
        ranges: RangeSet,
        heads: Vec<u8>,
        bounds: [usize; MAX_RANGES + 2],
    ) -> FileBody {
        let first = ranges.as_slice()[0];
        FileBody {
            file,
            offset: first.first,
            remaining: first.len(),
            parts: Some(Box::new(Parts {
                heads,
                bounds,
                ranges,
                current: 0,
            })),
        }
    }

    /// Called when `remaining` reached 0: writes what comes next (the next part's head, or the
    /// close delimiter after the last part) into `out` and moves to the next range. `false` when
    /// the body is complete.
    pub fn next_part(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(parts) = self.parts.as_mut() else {
            return false;
        };
        let n = parts.ranges.as_slice().len();
        let segment = parts.current + 1;
        if segment > n {
            return false;
        }
        out.extend_from_slice(&parts.heads[parts.bounds[segment]..parts.bounds[segment + 1]]);
        parts.current = segment;
        if let Some(r) = parts.ranges.as_slice().get(segment) {
            self.offset = r.first;
            self.remaining = r.len();
        }
        true
    }
}

/// Writes the error reply for `err` (the one builder every error reply goes through); a 405
/// names [`ALLOW_STATIC`].
pub fn error(out: &mut Vec<u8>, date: &[u8], err: RequestError, framing: Framing) -> Reply {
    error_with(out, date, err, framing, ALLOW_STATIC, &[])
}

/// [`error`] naming the methods of the route in a 405's `Allow`, and with `extra`: complete
/// header lines (each ending in CRLF) the status calls for, such as a 416's `Content-Range`.
pub fn error_with(
    out: &mut Vec<u8>,
    date: &[u8],
    err: RequestError,
    framing: Framing,
    allow: &str,
    extra: &[u8],
) -> Reply {
    let status = err.status();
    let body_len = response::error_reply_with(
        out,
        status,
        err.description(),
        date,
        response::ReplyOptions {
            head_only: framing.head_only,
            close: framing.close,
            http10_keep_alive: framing.http10_keep_alive,
            allow: (err == RequestError::MethodNotAllowed).then_some(allow),
            retry_after: matches!(err, RequestError::Overloaded | RequestError::BodyMemoryFull)
                .then_some(RETRY_AFTER_SECS),
            www_authenticate: err.challenge(),
        },
        extra,
    );
    Reply::buffered(status, body_len)
}

/// [`error`] for a caller that knows the body limits, `(max_body, max_upload)` (`--max-body`,
/// `--max-upload`): a 413 states the one that was passed.
pub fn error_within(
    out: &mut Vec<u8>,
    date: &[u8],
    err: RequestError,
    framing: Framing,
    (max_body, max_upload): (u64, u64),
) -> Reply {
    match err {
        RequestError::BodyTooLarge => too_large(out, date, framing, err, (max_body, "--max-body")),
        RequestError::UploadTooLarge => {
            too_large(out, date, framing, err, (max_upload, "--max-upload"))
        }
        _ => error(out, date, err, framing),
    }
}

/// 413 whose body states the limit: `request body too large: the limit is N bytes
/// (--max-body)` (written without allocating).
fn too_large(
    out: &mut Vec<u8>,
    date: &[u8],
    framing: Framing,
    err: RequestError,
    (limit, flag): (u64, &str),
) -> Reply {
    let mut text = [0u8; 96];
    let mut n = 0;
    let mut push = |bytes: &[u8]| {
        text[n..n + bytes.len()].copy_from_slice(bytes);
        n += bytes.len();
    };
    push(err.description().as_bytes());
    push(b": the limit is ");
    push(itoa::Buffer::new().format(limit).as_bytes());
    push(b" bytes (");
    push(flag.as_bytes());
    push(b")");
    let description = std::str::from_utf8(&text[..n]).unwrap_or(err.description());
    let body_len = response::error_reply_with(
        out,
        err.status(),
        description,
        date,
        response::ReplyOptions {
            head_only: framing.head_only,
            close: framing.close,
            http10_keep_alive: framing.http10_keep_alive,
            ..Default::default()
        },
        &[],
    );
    Reply::buffered(err.status(), body_len)
}

/// 204 to OPTIONS, listing the methods of the route.
pub fn options(out: &mut Vec<u8>, date: &[u8], framing: Framing, allow: &str) -> Reply {
    response::start(out, 204, date);
    response::header(out, "Allow", allow.as_bytes());
    response::connection(out, framing.close, framing.http10_keep_alive);
    response::end(out);
    Reply::buffered(204, 0)
}

/// How a generated body is sent.
#[derive(Debug, Clone, Copy)]
pub struct Send<'a> {
    pub status: u16,
    pub content_type: &'a [u8],
    /// `Cache-Control` value, if any.
    pub cache: Option<&'a [u8]>,
    /// The body depends on `Accept` too (content negotiation of listings).
    pub vary_accept: bool,
    /// Bodies at least this long are gzipped for clients that prefer gzip; `usize::MAX` never.
    pub min_gzip: usize,
    /// Adds `X-Content-Type-Options: nosniff` (bodies that echo the request).
    pub nosniff: bool,
}

impl<'a> Send<'a> {
    /// A 200 of `content_type`, gzipped from `MIN_GZIP_BYTES`, not cached.
    pub fn ok(content_type: &'a [u8]) -> Self {
        Send {
            status: 200,
            content_type,
            cache: Some(b"no-store"),
            vary_accept: false,
            min_gzip: MIN_GZIP_BYTES,
            nosniff: false,
        }
    }
}

/// What writing a reply needs from the loop turn (see the module docs).
#[derive(Default)]
pub struct ReplyKit {
    /// The `Date` value, refreshed once per loop turn.
    pub date: DateCache,
    gzip: Gzip,
    gzip_out: Vec<u8>,
    /// Reused for generated bodies whose length must be known before the head is written: take
    /// it with `std::mem::take`, fill it, send it, and put it back.
    pub page: Vec<u8>,
}

impl ReplyKit {
    /// The `Date` field value of this turn.
    pub fn date(&self) -> &[u8] {
        self.date.as_bytes()
    }

    /// Writes the error reply for `err` (see [`error`]).
    pub fn error(&self, out: &mut Vec<u8>, err: RequestError, framing: Framing) -> Reply {
        error(out, self.date(), err, framing)
    }

    /// Writes a complete response with the generated `body`, gzipped when `accept_encoding`
    /// prefers gzip to identity and the body is long enough (RFC 9110 section 12.5.3).
    pub fn send(
        &mut self,
        out: &mut Vec<u8>,
        framing: Framing,
        accept_encoding: Option<&[u8]>,
        how: Send<'_>,
        body: &[u8],
    ) -> Reply {
        let negotiable = how.min_gzip != usize::MAX;
        let gzip = negotiable && body.len() >= how.min_gzip && prefers_gzip(accept_encoding);
        self.gzip_out.clear();
        if gzip {
            self.gzip.compress(body, &mut self.gzip_out);
        }
        let sent: &[u8] = if gzip { &self.gzip_out } else { body };
        response::start(out, how.status, self.date.as_bytes());
        response::header(out, "Content-Type", how.content_type);
        response::content_length(out, sent.len() as u64);
        if gzip {
            response::header(out, "Content-Encoding", b"gzip");
        }
        match (negotiable, how.vary_accept) {
            (true, true) => response::header(out, "Vary", b"Accept-Encoding, Accept"),
            (true, false) => response::header(out, "Vary", b"Accept-Encoding"),
            (false, true) => response::header(out, "Vary", b"Accept"),
            (false, false) => {}
        }
        if let Some(cache) = how.cache {
            response::header(out, "Cache-Control", cache);
        }
        if how.nosniff {
            response::header(out, "X-Content-Type-Options", b"nosniff");
        }
        response::connection(out, framing.close, framing.http10_keep_alive);
        response::end(out);
        if framing.head_only {
            return Reply::buffered(how.status, 0);
        }
        out.extend_from_slice(sent);
        Reply::buffered(how.status, sent.len() as u64)
    }

    /// Writes a complete `status` response of `content_type` with `body` (see [`Self::send`]).
    pub fn page(
        &mut self,
        out: &mut Vec<u8>,
        framing: Framing,
        accept_encoding: Option<&[u8]>,
        status: u16,
        content_type: &str,
        body: &[u8],
    ) -> Reply {
        let how = Send {
            status,
            ..Send::ok(content_type.as_bytes())
        };
        self.send(out, framing, accept_encoding, how, body)
    }
}

/// Whether a generated body goes out gzipped: gzip is acceptable (q > 0, by name or `*`) and
/// `identity` is not explicitly given a higher weight. The implicit acceptability of identity
/// does not count against a gzip the client listed.
fn prefers_gzip(accept_encoding: Option<&[u8]>) -> bool {
    let gzip = accept_encoding::weight(accept_encoding, "gzip");
    if gzip == 0 {
        return false;
    }
    let identity = accept_encoding.and_then(|field| {
        accept_encoding::weighted(field)
            .find(|(name, _)| name.eq_ignore_ascii_case(b"identity"))
            .map(|(_, q)| q)
    });
    identity.map_or(true, |q| gzip >= q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::range::ByteRange;

    fn multipart_body(parts: Vec<(u64, u64)>) -> FileBody {
        let mut set = RangeSet::default();
        for (first, last) in parts {
            assert!(set.insert(ByteRange { first, last }));
        }
        let mut heads = Vec::new();
        let mut bounds = [0usize; MAX_RANGES + 2];
        let n = set.as_slice().len();
        for k in 0..n {
            heads.extend_from_slice(format!("<h{k}>").as_bytes());
            bounds[k + 1] = heads.len();
        }
        heads.extend_from_slice(b"<end>");
        bounds[n + 1] = heads.len();
        let file = Rc::new(tempfile::tempfile().unwrap());
        FileBody::multipart(file, set, heads, bounds)
    }

    #[test]
    fn next_part_walks_the_ranges_then_the_close_delimiter() {
        let mut fb = multipart_body(vec![(0, 9), (20, 24), (40, 40)]);
        let mut out = Vec::new();
        assert_eq!((fb.offset, fb.remaining), (0, 10));
        fb.remaining = 0;
        assert!(fb.next_part(&mut out));
        assert_eq!(out, b"<h1>");
        assert_eq!((fb.offset, fb.remaining), (20, 5));
        fb.remaining = 0;
        assert!(fb.next_part(&mut out));
        assert_eq!((fb.offset, fb.remaining), (40, 1));
        fb.remaining = 0;
        assert!(fb.next_part(&mut out));
        assert_eq!(out, b"<h1><h2><end>");
        assert_eq!(fb.remaining, 0);
        assert!(!fb.next_part(&mut out));
        assert!(!fb.next_part(&mut out));
        assert_eq!(out, b"<h1><h2><end>");
    }

    #[test]
    fn a_single_range_has_no_parts() {
        let mut fb = FileBody::range(Rc::new(tempfile::tempfile().unwrap()), 5, 10);
        fb.remaining = 0;
        let mut out = Vec::new();
        assert!(!fb.next_part(&mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn error_replies_name_allow_and_retry_after_only_where_due() {
        let date = b"Sun, 06 Nov 1994 08:49:37 GMT";
        let framing = Framing {
            close: false,
            head_only: false,
            http10_keep_alive: false,
        };
        let mut out = Vec::new();
        let r = error_with(
            &mut out,
            date,
            RequestError::MethodNotAllowed,
            framing,
            "GET, POST",
            &[],
        );
        assert_eq!(r.status, 405);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\r\nAllow: GET, POST\r\n"), "{text}");
        let mut out = Vec::new();
        let r = error(&mut out, date, RequestError::Overloaded, framing);
        assert_eq!(r.status, 503);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\r\nRetry-After: 1\r\n"), "{text}");
        assert!(!text.contains("Allow:"), "{text}");
    }
}
