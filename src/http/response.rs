//! Response heads (RFC 9112 section 4, RFC 9110 section 15): written straight into the
//! connection's write buffer with no intermediate allocation.
//!
//! Every response starts with [`start`], which writes the status line, `Date` and `Server`; the
//! caller adds its fields with [`header`] and friends and finishes with [`end`]. The bytes of an
//! error reply are encoded by [`error_reply_with`]; the server writes every error reply through
//! `reply::error`, which picks the status, the description and the fields for a `RequestError`.

/// The `Server` field value.
pub const SERVER: &[u8] = b"sluice";

/// The reason phrase for a status code (RFC 9110 section 15).
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        504 => "Gateway Timeout",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "Unknown",
    }
}

/// Writes `HTTP/1.1 <status> <reason>`, `Date` and `Server`.
pub fn start(out: &mut Vec<u8>, status: u16, date: &[u8]) {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_u64(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\nServer: ");
    out.extend_from_slice(SERVER);
    out.extend_from_slice(b"\r\n");
}

/// Writes one header field. `value` must not contain CR or LF (callers pass our own values or
/// values validated by the request parser).
pub fn header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    debug_assert!(!value.iter().any(|&b| b == b'\r' || b == b'\n'));
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Writes `Content-Length: <len>`.
pub fn content_length(out: &mut Vec<u8>, len: u64) {
    out.extend_from_slice(b"Content-Length: ");
    push_u64(out, len);
    out.extend_from_slice(b"\r\n");
}

/// Writes the connection-management field: `Connection: close` when the connection closes after
/// this response, `Connection: keep-alive` when an HTTP/1.0 client asked to keep it open.
pub fn connection(out: &mut Vec<u8>, close: bool, http10_keep_alive: bool) {
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if http10_keep_alive {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
}

/// Ends the head with the empty line.
pub fn end(out: &mut Vec<u8>) {
    out.extend_from_slice(b"\r\n");
}

/// Appends the decimal form of `n` without allocating.
pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(n).as_bytes());
}

/// How an error reply is framed.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplyOptions<'a> {
    /// The request was HEAD: send the head only.
    pub head_only: bool,
    /// The connection closes after this reply.
    pub close: bool,
    /// An HTTP/1.0 client that asked for keep-alive and keeps it.
    pub http10_keep_alive: bool,
    /// Value of an `Allow` field (405, OPTIONS).
    pub allow: Option<&'a str>,
    /// Value of a `Retry-After` field (503).
    pub retry_after: Option<&'a str>,
    /// Value of a `WWW-Authenticate` field (401).
    pub www_authenticate: Option<&'a str>,
}

/// Encodes an error reply: status line, standard fields, a `text/plain` body with the one-line
/// description. Returns the number of body bytes the reply carries (0 for HEAD). The server
/// calls it through `reply::error` (the one builder); tests and the fuzz target call it directly.
pub fn error_reply(
    out: &mut Vec<u8>,
    status: u16,
    description: &str,
    date: &[u8],
    opts: ReplyOptions<'_>,
) -> u64 {
    error_reply_with(out, status, description, date, opts, &[])
}

/// [`error_reply`] with `extra`, complete header lines (each ending in CRLF) that the status
/// calls for, e.g. `Content-Range: bytes */len` on a 416.
pub fn error_reply_with(
    out: &mut Vec<u8>,
    status: u16,
    description: &str,
    date: &[u8],
    opts: ReplyOptions<'_>,
    extra: &[u8],
) -> u64 {
    start(out, status, date);
    out.extend_from_slice(extra);
    out.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\r\n");
    let body_len = description.len() as u64 + 1;
    content_length(out, body_len);
    if let Some(allow) = opts.allow {
        header(out, "Allow", allow.as_bytes());
    }
    if let Some(secs) = opts.retry_after {
        header(out, "Retry-After", secs.as_bytes());
    }
    if let Some(challenge) = opts.www_authenticate {
        header(out, "WWW-Authenticate", challenge.as_bytes());
    }
    connection(out, opts.close, opts.http10_keep_alive);
    end(out);
    if opts.head_only {
        return 0;
    }
    out.extend_from_slice(description.as_bytes());
    out.push(b'\n');
    body_len
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &[u8] = b"Sun, 06 Nov 1994 08:49:37 GMT";

    #[test]
    fn error_reply_is_complete_and_framed() {
        let mut out = Vec::new();
        let n = error_reply(
            &mut out,
            405,
            "method not allowed",
            DATE,
            ReplyOptions {
                allow: Some("GET, HEAD"),
                ..Default::default()
            },
        );
        assert_eq!(n, 19);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "HTTP/1.1 405 Method Not Allowed\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\
             Server: sluice\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\n\
             Allow: GET, HEAD\r\n\r\nmethod not allowed\n"
        );
    }

    #[test]
    fn head_error_reply_has_length_but_no_body() {
        let mut out = Vec::new();
        let opts = ReplyOptions {
            head_only: true,
            close: true,
            ..Default::default()
        };
        assert_eq!(error_reply(&mut out, 404, "not found", DATE, opts), 0);
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.contains("Content-Length: 10\r\nConnection: close\r\n\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn unauthorized_reply_carries_its_challenge() {
        let mut out = Vec::new();
        let opts = ReplyOptions {
            www_authenticate: Some("Bearer"),
            ..Default::default()
        };
        error_reply(&mut out, 401, "token required", DATE, opts);
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{text}");
        assert!(text.contains("\r\nWWW-Authenticate: Bearer\r\n"), "{text}");
    }

    #[test]
    fn writes_large_lengths() {
        let mut out = Vec::new();
        content_length(&mut out, 4_296_015_872);
        assert_eq!(out, b"Content-Length: 4296015872\r\n");
    }
}
