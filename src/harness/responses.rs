//! Reads back what a connection sent as HTTP/1.1 responses (RFC 9112 sections 4 to 7), strictly:
//! status line, header fields, one framing (Content-Length, chunked, or close-delimited at the
//! end), no bytes after a response that closes the connection.
//!
//! A response to HEAD has the length of the GET response and no body, so framing depends on the
//! request's method. Where the caller knows the method it says so; for the rest of a stream,
//! [`parse_rest`] searches for a reading with at most a given number of HEAD responses (the
//! number of `HEAD ` requests the client could have sent).
use crate::http::range::trim_ows as trim;
use std::collections::HashSet;

/// Longest response head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// One response read from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header fields in order, names as sent.
    pub fields: Vec<(String, Vec<u8>)>,
    /// The body (after chunked decoding).
    pub body: Vec<u8>,
    /// The `Content-Length` value, if any.
    pub content_length: Option<u64>,
    /// The connection closes after this response (`Connection: close`).
    pub closes: bool,
    /// Offset just past the response in the stream.
    pub end: usize,
}

impl Response {
    /// 1xx: an interim response; the final one follows.
    pub fn is_interim(&self) -> bool {
        self.status < 200
    }

    /// The values of the fields named `name` (any case).
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

/// Statuses only sent for errors after which the request stream cannot be trusted (ARCHITECTURE.md,
/// "Errors"): the connection must close after them.
pub const CLOSING_STATUSES: [u16; 6] = [408, 413, 414, 417, 431, 505];

/// Reads the response at `out[pos..]`, a response to HEAD if `head`.
pub fn parse(out: &[u8], pos: usize, head: bool) -> Result<Response, String> {
    let rest = &out[pos..];
    let head_len = find(&rest[..rest.len().min(MAX_HEAD)], b"\r\n\r\n")
        .ok_or_else(|| format!("at {pos}: no complete response head"))?
        + 4;
    // Every line of the head but the empty last one, each ending in CR once split at LF.
    let text = &rest[..head_len - 3];
    let mut lines = text.split(|&b| b == b'\n').map(|l| {
        l.strip_suffix(b"\r")
            .ok_or_else(|| format!("at {pos}: bare LF in the response head"))
    });
    let status_line = lines.next().unwrap_or(Ok(b""))?;
    let status = status_line_code(status_line).ok_or_else(|| {
        format!(
            "at {pos}: bad status line {:?}",
            status_line.escape_ascii().to_string()
        )
    })?;
    let mut r = Response {
        status,
        fields: Vec::new(),
        body: Vec::new(),
        content_length: None,
        closes: false,
        end: pos + head_len,
    };
    for line in lines {
        let line = line?;
        let (name, value) = field(line)
            .ok_or_else(|| format!("at {pos}: bad field {:?}", line.escape_ascii().to_string()))?;
        r.fields.push((name.to_owned(), value.to_vec()));
    }
    (r.content_length, r.closes) =
        check_fields(&r).map_err(|e| format!("at {pos}: {status}: {e}"))?;
    let chunked = r.values("transfer-encoding").next().is_some();
    let body_start = r.end;
    let no_body = head || r.is_interim() || status == 204 || status == 304;
    if no_body {
        // nothing
    } else if chunked {
        let (body, len) = dechunk(&out[body_start..]).map_err(|e| format!("at {pos}: {e}"))?;
        r.body = body;
        r.end = body_start + len;
    } else if let Some(len) = r.content_length {
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if out.len() - body_start < len {
            return Err(format!(
                "at {pos}: {status} announces {len} body bytes, {} follow",
                out.len() - body_start
            ));
        }
        r.body = out[body_start..body_start + len].to_vec();
        r.end = body_start + len;
    } else {
        if !r.closes {
            return Err(format!(
                "at {pos}: {status} has no framing and does not close"
            ));
        }
        r.body = out[body_start..].to_vec();
        r.end = out.len();
    }
    if r.closes && r.end != out.len() {
        return Err(format!(
            "at {pos}: {} bytes follow a {status} that closes the connection",
            out.len() - r.end
        ));
    }
    Ok(r)
}

/// Reads all of `out[pos..]` as responses, at most `heads` of them to HEAD requests and at most
/// `finals` final responses that keep the connection; returns them in order.
pub fn parse_rest(
    out: &[u8],
    pos: usize,
    heads: usize,
    finals: usize,
) -> Result<Vec<Response>, String> {
    let mut failed = HashSet::new();
    let mut found = Vec::new();
    search(out, pos, heads, finals, &mut failed, &mut found)?;
    found.reverse();
    Ok(found)
}

/// Depth-first over the readings of each response (as to HEAD or not); `failed` remembers the
/// states that lead nowhere, so the search is linear in practice. `found` gets the responses of
/// the successful reading, last first.
fn search(
    out: &[u8],
    pos: usize,
    heads: usize,
    finals: usize,
    failed: &mut HashSet<(usize, usize, usize)>,
    found: &mut Vec<Response>,
) -> Result<(), String> {
    if pos == out.len() {
        return Ok(());
    }
    if failed.contains(&(pos, heads, finals)) {
        return Err(format!("at {pos}: no reading of the rest"));
    }
    let mut first_error = None;
    for as_head in [false, true] {
        if as_head && heads == 0 {
            break;
        }
        let r = match parse(out, pos, as_head) {
            Ok(r) => r,
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        if as_head && r.end == parse(out, pos, false).map_or(usize::MAX, |g| g.end) {
            break; // the same reading
        }
        let keeps = !r.is_interim() && !r.closes;
        if keeps && finals == 0 {
            first_error.get_or_insert(format!(
                "at {pos}: more responses than requests the client could have sent"
            ));
            continue;
        }
        let next = (heads - usize::from(as_head), finals - usize::from(keeps));
        match search(out, r.end, next.0, next.1, failed, found) {
            Ok(()) => {
                found.push(r);
                return Ok(());
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    failed.insert((pos, heads, finals));
    Err(first_error.unwrap_or_else(|| format!("at {pos}: no reading")))
}

/// `HTTP/1.1 SP 3DIGIT SP reason-phrase` (RFC 9112 section 4).
fn status_line_code(line: &[u8]) -> Option<u16> {
    let rest = line.strip_prefix(b"HTTP/1.1 ")?;
    let (code, reason) = (rest.get(..3)?, rest.get(3..)?);
    if !code.iter().all(u8::is_ascii_digit) || (!reason.is_empty() && reason[0] != b' ') {
        return None;
    }
    if reason.is_empty() || !reason[1..].iter().all(|&b| is_field_byte(b)) {
        return None;
    }
    let code = u16::from(code[0] - b'0') * 100 + u16::from(code[1] - b'0') * 10;
    let code = code + u16::from(rest[2] - b'0');
    (100..=599).contains(&code).then_some(code)
}

/// `field-name ":" OWS field-value OWS` with a token name and no controls in the value.
fn field(line: &[u8]) -> Option<(&str, &[u8])> {
    let colon = line.iter().position(|&b| b == b':')?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return None;
    }
    if !value.iter().all(|&b| is_field_byte(b)) {
        return None;
    }
    let value = trim(value);
    Some((std::str::from_utf8(name).ok()?, value))
}

/// The checks every response passes; its `Content-Length` and whether it closes.
fn check_fields(r: &Response) -> Result<(Option<u64>, bool), String> {
    let count = |name| r.values(name).count();
    let lengths: Vec<&[u8]> = r.values("content-length").collect();
    let codings: Vec<&[u8]> = r.values("transfer-encoding").collect();
    if lengths.len() > 1 {
        return Err("more than one Content-Length".into());
    }
    let mut content_length = None;
    if let Some(len) = lengths.first() {
        if len.is_empty() || len.len() > 19 || !len.iter().all(u8::is_ascii_digit) {
            return Err(format!(
                "bad Content-Length {:?}",
                len.escape_ascii().to_string()
            ));
        }
        content_length = std::str::from_utf8(len).ok().and_then(|s| s.parse().ok());
    }
    if !codings.is_empty() && (codings != [b"chunked"] || !lengths.is_empty()) {
        return Err("Transfer-Encoding other than one chunked, or with Content-Length".into());
    }
    if (r.is_interim() || r.status == 204) && (!lengths.is_empty() || !codings.is_empty()) {
        return Err("a 1xx or 204 with body framing".into());
    }
    if !r.is_interim() && (count("date") != 1 || count("server") != 1) {
        return Err("not exactly one Date and one Server".into());
    }
    let closes = !r.is_interim()
        && r.values("connection")
            .flat_map(|v| v.split(|&b| b == b','))
            .any(|t| trim(t).eq_ignore_ascii_case(b"close"));
    if CLOSING_STATUSES.contains(&r.status) && !closes {
        return Err("an error that must close the connection keeps it".into());
    }
    Ok((content_length, closes))
}

/// A chunked body (RFC 9112 section 7.1) without extensions or trailers, as sluice writes it:
/// the data and the length of the encoding.
fn dechunk(s: &[u8]) -> Result<(Vec<u8>, usize), String> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let line_end = find(&s[at..], b"\r\n").ok_or("chunked body cut short")? + at;
        let size = &s[at..line_end];
        if size.is_empty() || size.len() > 15 || !size.iter().all(u8::is_ascii_hexdigit) {
            return Err(format!(
                "bad chunk size line {:?}",
                size.escape_ascii().to_string()
            ));
        }
        let size = std::str::from_utf8(size)
            .ok()
            .and_then(|t| usize::from_str_radix(t, 16).ok())
            .ok_or("chunk size")?;
        at = line_end + 2;
        if size == 0 {
            return match s.get(at..at + 2) {
                Some(b"\r\n") => Ok((body, at + 2)),
                _ => Err("chunked body without its final CRLF".into()),
            };
        }
        let data = s.get(at..at + size).ok_or("chunk data cut short")?;
        body.extend_from_slice(data);
        at += size;
        if s.get(at..at + 2) != Some(b"\r\n") {
            return Err("chunk data not followed by CRLF".into());
        }
        at += 2;
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// HTAB, SP, VCHAR, obs-text.
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80
}

/// The first position of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nDate: d\r\nServer: s\r\nContent-Length: 3\r\n\r\nabc";
    const GONE: &[u8] =
        b"HTTP/1.1 400 Bad Request\r\nDate: d\r\nServer: s\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx";

    #[test]
    fn reads_length_framed_and_closing_responses() {
        let out = [OK, GONE].concat();
        let r = parse(&out, 0, false).unwrap();
        assert_eq!(
            (r.status, r.body.as_slice(), r.closes),
            (200, &b"abc"[..], false)
        );
        let r2 = parse(&out, r.end, false).unwrap();
        assert_eq!((r2.status, r2.closes, r2.end), (400, true, out.len()));
        // A HEAD reading of the first leaves its body as garbage.
        assert!(parse(&out, 0, true).is_ok());
        assert!(parse(&out, parse(&out, 0, true).unwrap().end, false).is_err());
    }

    #[test]
    fn refuses_what_is_not_well_formed() {
        let bad: &[&[u8]] = &[
            b"HTTP/1.0 200 OK\r\nDate: d\r\nServer: s\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\nDate: d\r\nServer: s\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nDate: d\r\nServer: s\r\nContent-Length: 4\r\n\r\nabc",
            b"HTTP/1.1 200 OK\r\nDate: d\r\nServer: s\r\n\r\nabc",
            b"HTTP/1.1 200 OK\r\nServer: s\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\nDate: d\r\nServer: s\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 413 Too Large\r\nDate: d\r\nServer: s\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nDate: d\r\nServer: s\r\nBad Name: x\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nDate: d\r\nServer: s\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n",
        ];
        for b in bad {
            assert!(parse(b, 0, false).is_err(), "{}", b.escape_ascii());
        }
        let closing_then_more = [GONE, OK].concat();
        assert!(parse(&closing_then_more, 0, false).is_err());
    }

    #[test]
    fn reads_chunked_and_close_delimited_bodies() {
        let chunked = b"HTTP/1.1 200 OK\r\nDate: d\r\nServer: s\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1\r\nd\r\n0\r\n\r\n";
        assert_eq!(parse(chunked, 0, false).unwrap().body, b"abcd");
        let stream =
            b"HTTP/1.1 200 OK\r\nDate: d\r\nServer: s\r\nConnection: close\r\n\r\ndata: 1\n\n";
        let r = parse(stream, 0, false).unwrap();
        assert_eq!(
            (r.body.as_slice(), r.end),
            (&b"data: 1\n\n"[..], stream.len())
        );
    }

    #[test]
    fn the_rest_is_read_with_as_many_head_responses_as_needed() {
        let head_then_get = [&OK[..OK.len() - 3], OK].concat();
        assert!(parse_rest(&head_then_get, 0, 0, 9).is_err());
        let rs = parse_rest(&head_then_get, 0, 1, 9).unwrap();
        assert_eq!(rs.len(), 2);
        assert!(rs[0].body.is_empty() && rs[1].body == b"abc");
        // More responses than requests.
        assert!(parse_rest(&[OK, OK].concat(), 0, 0, 1).is_err());
        assert_eq!(parse_rest(&[OK, GONE].concat(), 0, 0, 1).unwrap().len(), 2);
    }
}
