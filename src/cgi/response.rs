//! The CGI response header section (RFC 3875 section 6): parsed incrementally from the script's
//! stdout and turned into an HTTP/1.1 response head. Sans-IO: bytes in, a head out.
//!
//! Rules: lines end in LF (a CR before it is dropped); the section ends at the first empty line;
//! `Status: NNN reason` sets the status; `Location` without `Status` makes a 302; a response
//! must have `Content-Type` or `Location`. Framing and hop-by-hop fields from the script
//! (`Content-Length`, `Transfer-Encoding`, `Connection`, ...) and `Date`/`Server` are dropped:
//! sluice frames the body itself. Any malformed line makes the script's answer unusable (502).
use crate::http::request::is_tchar;
use crate::http::Progress;
use crate::limits::MAX_CGI_HEAD_BYTES;

/// Why a script's header section is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgiHeadError {
    TooLarge,
    MalformedLine,
    BadStatus,
    NoContentType,
}

/// The parsed header section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgiHead {
    pub status: u16,
    /// Field lines to pass on, already formatted as `Name: value\r\n`.
    pub fields: Vec<u8>,
}

/// Finds the end of the header section in `buf` (the script output so far) and parses it.
/// Returns the head and the number of bytes it took, or `NeedMore`.
pub fn parse(buf: &[u8]) -> Result<Progress<(CgiHead, usize)>, CgiHeadError> {
    let mut start = 0;
    let mut status = None;
    let mut has_type = false;
    let mut has_location = false;
    let mut fields = Vec::new();
    loop {
        let Some(nl) = memchr::memchr(b'\n', &buf[start..]) else {
            if buf.len() > MAX_CGI_HEAD_BYTES {
                return Err(CgiHeadError::TooLarge);
            }
            return Ok(Progress::NeedMore);
        };
        let end = start + nl + 1;
        if end > MAX_CGI_HEAD_BYTES {
            return Err(CgiHeadError::TooLarge);
        }
        let line = &buf[start..start + nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        start = end;
        if line.is_empty() {
            break;
        }
        let colon = memchr::memchr(b':', line).ok_or(CgiHeadError::MalformedLine)?;
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
            return Err(CgiHeadError::MalformedLine);
        }
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(CgiHeadError::MalformedLine);
        }
        let name_is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if name_is("status") {
            status = Some(parse_status(value)?);
            continue;
        }
        if name_is("content-type") {
            has_type = true;
        }
        if name_is("location") {
            has_location = true;
        }
        const DROPPED: [&str; 8] = [
            "content-length",
            "transfer-encoding",
            "connection",
            "keep-alive",
            "upgrade",
            "te",
            "date",
            "server",
        ];
        if DROPPED.iter().any(|d| name_is(d)) {
            continue;
        }
        fields.extend_from_slice(name);
        fields.extend_from_slice(b": ");
        fields.extend_from_slice(value);
        fields.extend_from_slice(b"\r\n");
    }
    let status = match status {
        Some(s) => s,
        None if has_location => 302,
        None => 200,
    };
    if !has_type && !has_location {
        return Err(CgiHeadError::NoContentType);
    }
    Ok(Progress::Complete((CgiHead { status, fields }, start)))
}

fn parse_status(value: &[u8]) -> Result<u16, CgiHeadError> {
    let code = value.get(..3).ok_or(CgiHeadError::BadStatus)?;
    if !code.iter().all(u8::is_ascii_digit) || value.get(3).is_some_and(|&b| b != b' ') {
        return Err(CgiHeadError::BadStatus);
    }
    let n = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    if (200..=599).contains(&n) {
        Ok(n)
    } else {
        Err(CgiHeadError::BadStatus)
    }
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |i| i + 1);
    &v[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(input: &str) -> (CgiHead, usize) {
        match parse(input.as_bytes()) {
            Ok(Progress::Complete(done)) => done,
            other => panic!("{input:?}: {other:?}"),
        }
    }

    #[test]
    fn document_response() {
        let (head, used) = complete("Content-Type: text/plain\n\nhello");
        assert_eq!(head.status, 200);
        assert_eq!(head.fields, b"Content-Type: text/plain\r\n");
        assert_eq!(used, 26);
    }

    #[test]
    fn status_and_crlf_lines() {
        let (head, _) =
            complete("Status: 404 Not Here\r\nContent-Type: text/html\r\nX-A:  b \r\n\r\n");
        assert_eq!(head.status, 404);
        assert_eq!(head.fields, b"Content-Type: text/html\r\nX-A: b\r\n");
    }

    #[test]
    fn location_alone_is_a_redirect() {
        let (head, _) = complete("Location: http://example.lan/\n\n");
        assert_eq!(head.status, 302);
        let (head, _) = complete("Status: 301 Moved\nLocation: /x\n\n");
        assert_eq!(head.status, 301);
    }

    #[test]
    fn framing_fields_from_the_script_are_dropped() {
        let (head, _) = complete(
            "Content-Type: a/b\nContent-Length: 99\nTransfer-Encoding: chunked\nConnection: close\nDate: x\nServer: y\n\n",
        );
        assert_eq!(head.fields, b"Content-Type: a/b\r\n");
    }

    #[test]
    fn incomplete_until_the_empty_line_at_every_split() {
        let full = b"Status: 201 Created\nContent-Type: text/plain\n\nbody";
        for cut in 0..46 {
            assert_eq!(parse(&full[..cut]), Ok(Progress::NeedMore), "cut at {cut}");
        }
        assert!(matches!(parse(&full[..46]), Ok(Progress::Complete(_))));
    }

    #[test]
    fn unusable_answers() {
        for (input, err) in [
            ("hello world\n\n", CgiHeadError::MalformedLine),
            ("Bad Name: x\n\n", CgiHeadError::MalformedLine),
            ("Content-Type: a\x01b\n\n", CgiHeadError::MalformedLine),
            (
                "Status: abc\nContent-Type: a/b\n\n",
                CgiHeadError::BadStatus,
            ),
            ("Status: 99\nContent-Type: a/b\n\n", CgiHeadError::BadStatus),
            (
                "Status: 100 Continue\nContent-Type: a/b\n\n",
                CgiHeadError::BadStatus,
            ),
            (
                "Status: 2000\nContent-Type: a/b\n\n",
                CgiHeadError::BadStatus,
            ),
            ("X-Only: 1\n\n", CgiHeadError::NoContentType),
            ("\n", CgiHeadError::NoContentType),
        ] {
            assert_eq!(parse(input.as_bytes()), Err(err), "{input:?}");
        }
        let long = format!("X-Big: {}\n", "a".repeat(MAX_CGI_HEAD_BYTES));
        assert_eq!(parse(long.as_bytes()), Err(CgiHeadError::TooLarge));
        let endless = "a".repeat(MAX_CGI_HEAD_BYTES + 1);
        assert_eq!(parse(endless.as_bytes()), Err(CgiHeadError::TooLarge));
    }
}
