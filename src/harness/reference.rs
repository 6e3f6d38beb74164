//! A reference for what a scripted client's requests must get: a deliberately small reading of
//! RFC 9112 that walks the client's bytes request by request and, for each, knows where it ends
//! and either the exact answer (a GET or HEAD of a fixture file, an ingest POST) or at least that
//! exactly one final response is due, with the request's method (HEAD responses have no body)
//! and whether the client asked to close.
//!
//! It accepts only a strict subset of the grammar: request line `METHOD SP /target SP
//! HTTP/1.x CRLF`, fields `name: value CRLF` with plain bytes, no `Expect`, at most one framing
//! field with a plain value, chunked bodies without extensions or trailers. At the first request
//! outside that subset, or an incomplete one, it stops: it cannot know where the server sees the
//! next request start, so the rest is only checked for well-formed responses.
use crate::harness::responses::find;
use crate::http::range::trim_ows as trim;
use crate::store::DeviceId;

/// What one request must get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// GET or HEAD of the fixture file with this name: 200 and exactly its bytes (none for HEAD).
    File {
        name: String,
        head: bool,
        close: bool,
    },
    /// GET or HEAD of a numeric name that is not in the fixture: 404.
    Missing { head: bool, close: bool },
    /// POST of a body to a device: 204, and the body's records (`stored`: its non-empty lines,
    /// each ending in `\n`) appended to the device's file.
    Ingest {
        device: String,
        stored: Vec<u8>,
        close: bool,
    },
    /// POST of a body without a record to a device: 400, nothing stored, the connection kept
    /// unless the client closes it.
    NoRecord { close: bool },
    /// Some final response; if `close`, one that closes the connection.
    Other { head: bool, close: bool },
}

impl Expect {
    /// The response to it has no body.
    pub fn head(&self) -> bool {
        match *self {
            Expect::File { head, .. }
            | Expect::Missing { head, .. }
            | Expect::Other { head, .. } => head,
            Expect::Ingest { .. } | Expect::NoRecord { .. } => false,
        }
    }

    /// The client asked to close after it (or the server must close, as after a 413).
    pub fn close(&self) -> bool {
        match *self {
            Expect::File { close, .. }
            | Expect::Missing { close, .. }
            | Expect::Ingest { close, .. }
            | Expect::NoRecord { close }
            | Expect::Other { close, .. } => close,
        }
    }
}

/// The requests the reference understood, in order, and where it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub expects: Vec<Expect>,
    /// Offset of the first byte not understood (`stream.len()` if all were), or where the
    /// request that closes the connection ends.
    pub stop: usize,
}

/// Names of the fixture's files (`/1` ... served from the root).
pub trait Files {
    fn exists(&self, name: &str) -> bool;
}

/// Walks `stream` as far as the reference understands it.
pub fn model(stream: &[u8], files: &dyn Files, max_body: u64) -> Model {
    let mut expects = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        let Some((expect, len)) = request(&stream[at..], files, max_body) else {
            break;
        };
        at += len;
        let close = expect.close();
        expects.push(expect);
        if close {
            break;
        }
    }
    Model { expects, stop: at }
}

/// Header fields whose only effect is on the response's content, never on framing or routing:
/// a GET of a file with only these gets exactly the file.
const PLAIN_FIELDS: [&str; 5] = ["host", "connection", "user-agent", "accept", "content-type"];

/// Host values the security check admits (single label, IP literals).
const GOOD_HOSTS: [&[u8]; 5] = [
    b"h",
    b"localhost",
    b"127.0.0.1",
    b"127.0.0.1:8080",
    b"192.168.1.20:8080",
];

/// One request at the start of `s`: what it must get and its length, or `None` if it is not
/// complete or not in the understood subset.
/// What the device file gets for `body`: a record is a line, line ends (`\n`, `\r\n`, `\r`)
/// become `\n`, empty lines are dropped. Written apart from `store::record` on purpose.
fn records_of(body: &[u8]) -> Vec<u8> {
    let mut stored = Vec::new();
    for line in body.split(|&b| b == b'\n' || b == b'\r') {
        if !line.is_empty() {
            stored.extend_from_slice(line);
            stored.push(b'\n');
        }
    }
    stored
}

fn request(s: &[u8], files: &dyn Files, max_body: u64) -> Option<(Expect, usize)> {
    let head_end = find(&s[..s.len().min(4096)], b"\r\n\r\n")? + 4;
    // Every line of the head but the empty last one, each ending in CR once split at LF.
    let mut lines = s[..head_end - 3].split(|&b| b == b'\n');
    let line = lines.next()?.strip_suffix(b"\r")?;
    let mut parts = line.split(|&b| b == b' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || method.is_empty()
        || method.len() > 16
        || !method.iter().all(u8::is_ascii_uppercase)
        || !plain_target(target)
    {
        return None;
    }
    let http10 = match version {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        _ => return None,
    };
    let mut f = Fields::default();
    for line in lines {
        let line = line.strip_suffix(b"\r")?;
        let colon = line.iter().position(|&b| b == b':')?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.is_empty()
            || name.len() > 40
            || !name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return None;
        }
        if !value
            .iter()
            .all(|&b| b == b' ' || b == b'\t' || (0x21..0x7f).contains(&b))
        {
            return None;
        }
        f.add(std::str::from_utf8(name).ok()?, trim(value))?;
    }
    if http10 && f.chunked {
        return None;
    }
    let (body, body_len) = match (f.length, f.chunked) {
        (Some(n), false) => {
            let n = usize::try_from(n).ok()?;
            let body = s.get(head_end..head_end.checked_add(n)?)?;
            (body.to_vec(), n)
        }
        (None, true) => dechunk(&s[head_end..])?,
        (None, false) => (Vec::new(), 0),
        (Some(_), true) => return None,
    };
    let len = head_end + body_len;
    let head = method == b"HEAD";
    let close = if http10 {
        !f.keep_alive || f.close
    } else {
        f.close
    };
    // No Host in HTTP/1.1, or more than one in any version: 400, and the connection closes.
    if f.hosts > 1 || (!http10 && f.hosts == 0) {
        return Some((Expect::Other { head, close: true }, len));
    }
    if f.hosts == 1 && !GOOD_HOSTS.contains(&f.host.as_slice()) || f.unplain {
        return Some((Expect::Other { head, close }, len));
    }
    let framed = f.length.is_some() || f.chunked;
    if let (b"GET" | b"HEAD", false) = (method, framed) {
        if let Some(digits) = target.strip_prefix(b"/") {
            if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
                let name = std::str::from_utf8(digits).ok()?.to_owned();
                let expect = if files.exists(&name) {
                    Expect::File { name, head, close }
                } else {
                    Expect::Missing { head, close }
                };
                return Some((expect, len));
            }
        }
    }
    if method == b"POST" {
        if let Some(id) = target.strip_prefix(b"/devices/") {
            if let Ok(id) = DeviceId::parse(id) {
                if body.len() as u64 > max_body {
                    // 413, and the connection closes.
                    return Some((Expect::Other { head, close: true }, len));
                }
                let stored = records_of(&body);
                if stored.is_empty() {
                    return Some((Expect::NoRecord { close }, len));
                }
                let device = id.as_str().to_owned();
                return Some((
                    Expect::Ingest {
                        device,
                        stored,
                        close,
                    },
                    len,
                ));
            }
        }
    }
    Some((Expect::Other { head, close }, len))
}

/// What the reference gathers from the fields; `None` from `add` for anything it does not model.
#[derive(Debug, Default)]
struct Fields {
    hosts: usize,
    host: Vec<u8>,
    length: Option<u64>,
    chunked: bool,
    close: bool,
    keep_alive: bool,
    /// A field other than those of [`PLAIN_FIELDS`], framing and `X-` ones.
    unplain: bool,
    seen: usize,
}

impl Fields {
    fn add(&mut self, name: &str, value: &[u8]) -> Option<()> {
        self.seen += 1;
        if self.seen > 32 {
            return None;
        }
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "host" => {
                self.hosts += 1;
                self.host = value.to_vec();
            }
            "content-length" => {
                if self.length.is_some()
                    || value.is_empty()
                    || value.len() > 12
                    || !value.iter().all(u8::is_ascii_digit)
                {
                    return None;
                }
                self.length = std::str::from_utf8(value).ok()?.parse().ok();
            }
            "transfer-encoding" => {
                if self.chunked || value != b"chunked" {
                    return None;
                }
                self.chunked = true;
            }
            "connection" => {
                for token in value.split(|&b| b == b',').map(trim) {
                    self.close |= token.eq_ignore_ascii_case(b"close");
                    self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            // Interim responses, protocol switches, and fields the reference does not model.
            "expect" | "upgrade" | "te" | "trailer" => return None,
            _ => {}
        }
        let plain = PLAIN_FIELDS.contains(&lower.as_str())
            || lower.starts_with("x-")
            || lower == "content-length"
            || lower == "transfer-encoding";
        self.unplain |= !plain;
        Some(())
    }
}

/// An origin-form target of plain characters (unreserved, sub-delims, `:@/?%`).
fn plain_target(t: &[u8]) -> bool {
    t.first() == Some(&b'/')
        && t.len() <= 1024
        && t.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b))
}

/// A chunked body of `size CRLF data CRLF` chunks (hex sizes, no extensions) ending with
/// `0 CRLF CRLF` (no trailers): the data and the encoded length.
fn dechunk(s: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line = find(&s[at..s.len().min(at + 10)], b"\r\n")?;
        let size = &s[at..at + line];
        if size.is_empty() || size.len() > 6 || !size.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let size = usize::from_str_radix(std::str::from_utf8(size).ok()?, 16).ok()?;
        at += line + 2;
        if size == 0 {
            return (s.get(at..at + 2)? == b"\r\n").then_some((body, at + 2));
        }
        body.extend_from_slice(s.get(at..at + size)?);
        at += size;
        if s.get(at..at + 2)? != b"\r\n" {
            return None;
        }
        at += 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct OneTwo;
    impl Files for OneTwo {
        fn exists(&self, name: &str) -> bool {
            name == "1" || name == "2"
        }
    }

    fn expects(stream: &[u8]) -> Model {
        model(stream, &OneTwo, 100)
    }

    #[test]
    fn pipelined_gets_heads_and_posts() {
        let m = expects(
            b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n\
              HEAD /2 HTTP/1.1\r\nHost: h\r\nX-A: b\r\n\r\n\
              GET /3 HTTP/1.1\r\nHost: h\r\n\r\n\
              POST /devices/d1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc\
              POST /devices/d2 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n\
              GET /1 HTTP/1.0\r\n\r\nGET /1 HTTP/1.1\r\n",
        );
        let file = |name: &str, head, close| Expect::File {
            name: name.into(),
            head,
            close,
        };
        let ingest = |device: &str| Expect::Ingest {
            device: device.into(),
            stored: b"abc\n".to_vec(),
            close: false,
        };
        assert_eq!(
            m.expects,
            vec![
                file("1", false, false),
                file("2", true, false),
                Expect::Missing {
                    head: false,
                    close: false
                },
                ingest("d1"),
                ingest("d2"),
                file("1", false, true),
            ]
        );
    }

    #[test]
    fn stops_at_what_it_does_not_model() {
        for s in [
            &b"GET /1 HTTP/1.1\r\nHost: h\r\n"[..],
            b"GET /1 HTTP/1.1\nHost: h\r\n\r\n",
            b"GET  /1 HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET /1 HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
            b"POST /devices/d HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nabc",
            b"POST /devices/d HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na",
            b"POST /d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;x\r\na\r\n0\r\n\r\n",
            b"\r\nGET /1 HTTP/1.1\r\nHost: h\r\n\r\n",
        ] {
            let m = expects(s);
            assert_eq!((m.expects.len(), m.stop), (0, 0), "{}", s.escape_ascii());
        }
    }

    #[test]
    fn anything_else_it_can_delimit_is_one_response() {
        let m = expects(
            b"GET /1?x HTTP/1.1\r\nHost: h\r\n\r\n\
              GET /1 HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1\r\n\r\n\
              HEAD /x HTTP/1.1\r\nHost: evil.example.com\r\n\r\n\
              POST /devices/d HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n",
        );
        let other = |head, close| Expect::Other { head, close };
        assert_eq!(
            m.expects,
            vec![other(false, false), other(false, false), other(true, false)]
        );
        let big = [
            &b"POST /devices/d HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n"[..],
            &[b'x'; 101],
        ]
        .concat();
        assert_eq!(expects(&big).expects, vec![other(false, true)]);
        // HTTP/1.1 without Host is a 400 that closes; so is a second Host, in HTTP/1.0 too.
        let m = expects(b"GET /1 HTTP/1.1\r\n\r\nGET /1 HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!((m.expects, m.stop), (vec![other(false, true)], 19));
        let m = expects(b"GET /1 HTTP/1.0\r\nHost: h\r\nHost: h\r\n\r\n");
        assert_eq!(m.expects, vec![other(false, true)]);
        let m = expects(b"GET /1 HTTP/1.0\r\n\r\n");
        assert!(matches!(m.expects[..], [Expect::File { close: true, .. }]));
    }
}
