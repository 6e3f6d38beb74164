//! Cross-site writes. A page on another site can make a LAN browser send a form POST (or a
//! `fetch` without CORS) to sluice; the browser then labels the request with `Origin` (RFC 6454
//! section 7) and, in current browsers, `Sec-Fetch-Site` (W3C Fetch Metadata). A write whose
//! `Origin` is not sluice's own, or that is marked `cross-site`, is refused before its body is
//! read. Devices and scripts send neither field and are not affected.
use crate::http::request::{Method, RequestHead};
use crate::security::host::host_part;

/// True for the methods that change state (RFC 9110 section 9.2.1: not safe).
pub fn is_write(method: Method) -> bool {
    matches!(
        method,
        Method::Post | Method::Put | Method::Patch | Method::Delete
    )
}

/// True if `head` is a write sent on behalf of another origin.
pub fn cross_site_write(head: &RequestHead<'_, '_>) -> bool {
    if !is_write(head.method) {
        return false;
    }
    head.headers.iter().any(|h| {
        (h.name.eq_ignore_ascii_case("sec-fetch-site")
            && trim(h.value).eq_ignore_ascii_case(b"cross-site"))
            || (h.name.eq_ignore_ascii_case("origin") && !same_origin(h.value, head.host))
    })
}

/// True if the serialized origin `origin` is this server as the client addressed it: the host of
/// `Host` (case-insensitive) and the same port, the scheme's default standing for an absent one.
/// Both `http` and `https` are accepted, since behind a TLS proxy the browser's origin is
/// `https://` the same name. `null` (opaque origins: sandboxed frames, `data:` pages, some
/// redirects) and anything unparsable are another origin.
pub fn same_origin(origin: &[u8], host: Option<&[u8]>) -> bool {
    let Some(host) = host else {
        return false;
    };
    let origin = trim(origin);
    let (authority, default_port) = if let Some(rest) = strip_prefix_ignore_case(origin, b"http://")
    {
        (rest, 80)
    } else if let Some(rest) = strip_prefix_ignore_case(origin, b"https://") {
        (rest, 443)
    } else {
        return false;
    };
    if authority.is_empty()
        || authority
            .iter()
            .any(|&b| matches!(b, b'/' | b'?' | b'#' | b'@' | b' ' | b','))
    {
        return false;
    }
    let (o_host, o_port) = split_port(authority);
    let (h_host, h_port) = split_port(host);
    let port = |p: Option<&[u8]>| match p {
        None | Some(b"") => Some(default_port),
        Some(digits) => std::str::from_utf8(digits)
            .ok()
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<u16>().ok()),
    };
    !o_host.is_empty()
        && o_host.eq_ignore_ascii_case(h_host)
        && port(o_port).is_some()
        && port(o_port) == port(h_port)
}

fn split_port(authority: &[u8]) -> (&[u8], Option<&[u8]>) {
    let host = host_part(authority);
    match &authority[host.len()..] {
        [] => (host, None),
        [b':', port @ ..] => (host, Some(port)),
        // Bytes after an IP-literal that are not a port: make the host unmatchable.
        _ => (b"", None),
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::{header_slots, parse_head};

    #[test]
    fn origin_table() {
        let same = [
            ("http://sluice.lan", "sluice.lan"),
            ("HTTP://SLUICE.LAN", "sluice.lan"),
            ("http://sluice.lan:8080", "Sluice.Lan:8080"),
            ("http://sluice.lan:80", "sluice.lan"),
            ("http://sluice.lan", "sluice.lan:80"),
            ("http://sluice.lan", "sluice.lan:"),
            ("https://sluice.lan", "sluice.lan"),
            ("https://sluice.lan:8443", "sluice.lan:8443"),
            ("http://127.0.0.1:8080", "127.0.0.1:8080"),
            ("http://[::1]:8080", "[::1]:8080"),
            ("http://[FE80::1]", "[fe80::1]"),
            (" http://x ", "x"),
        ];
        for (origin, host) in same {
            assert!(
                same_origin(origin.as_bytes(), Some(host.as_bytes())),
                "{origin:?} is the origin of Host {host:?}"
            );
        }
        let other = [
            ("http://evil.example", "sluice.lan"),
            ("http://sluice.lan.evil.example", "sluice.lan"),
            ("http://sluice.lan:8081", "sluice.lan:8080"),
            ("http://sluice.lan:8080", "sluice.lan"),
            ("http://sluice.lan", "sluice.lan:8080"),
            ("https://sluice.lan", "sluice.lan:80"),
            ("http://sluice.lan:443", "sluice.lan"),
            ("null", "sluice.lan"),
            ("", "sluice.lan"),
            ("ftp://sluice.lan", "sluice.lan"),
            ("sluice.lan", "sluice.lan"),
            ("http://", "sluice.lan"),
            ("http://sluice.lan/", "sluice.lan"),
            ("http://user@sluice.lan", "sluice.lan"),
            ("http://sluice.lan:99999", "sluice.lan:99999"),
            ("http://sluice.lan:x", "sluice.lan"),
            ("http://sluice.lan, http://evil", "sluice.lan"),
            ("http://127.0.0.1:8080", "localhost:8080"),
        ];
        for (origin, host) in other {
            assert!(
                !same_origin(origin.as_bytes(), Some(host.as_bytes())),
                "{origin:?} is not the origin of Host {host:?}"
            );
        }
        assert!(!same_origin(b"http://x", None));
    }

    fn cross(request: &str) -> bool {
        let mut fields = header_slots::<16>();
        let head = parse_head(request.as_bytes(), &mut fields).unwrap();
        cross_site_write(&head)
    }

    #[test]
    fn writes_are_checked_reads_are_not() {
        let evil = "Origin: http://evil.example\r\n";
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            let r = format!("{method} / HTTP/1.1\r\nHost: x\r\n{evil}\r\n");
            assert!(cross(&r), "{method}");
        }
        for method in ["GET", "HEAD", "OPTIONS"] {
            let r = format!("{method} / HTTP/1.1\r\nHost: x\r\n{evil}\r\n");
            assert!(!cross(&r), "{method}");
        }
    }

    #[test]
    fn fetch_metadata_and_origin_cases() {
        let post = |fields: &str| format!("POST /ingest HTTP/1.1\r\nHost: x:8080\r\n{fields}\r\n");
        // Devices: no Origin, no Sec-Fetch-Site.
        assert!(!cross(&post("")));
        assert!(!cross(&post("Origin: http://x:8080\r\n")));
        assert!(!cross(&post(
            "Origin: http://X:8080\r\nSec-Fetch-Site: same-origin\r\n"
        )));
        assert!(!cross(&post("Sec-Fetch-Site: same-site\r\n")));
        assert!(!cross(&post("Sec-Fetch-Site: none\r\n")));
        assert!(cross(&post("Sec-Fetch-Site: cross-site\r\n")));
        assert!(cross(&post("Sec-Fetch-Site: Cross-Site \r\n")));
        assert!(cross(&post("Origin: null\r\n")));
        assert!(cross(&post("Origin: http://x:8081\r\n")));
        assert!(cross(&post(
            "Origin: http://x:8080\r\nSec-Fetch-Site: cross-site\r\n"
        )));
        // A second, foreign Origin field is not hidden behind a matching first one.
        assert!(cross(&post(
            "Origin: http://x:8080\r\nOrigin: http://evil.example\r\n"
        )));
        // HTTP/1.0 without Host: no own origin to match.
        assert!(cross("POST / HTTP/1.0\r\nOrigin: http://x\r\n\r\n"));
        assert!(!cross("POST / HTTP/1.0\r\n\r\n"));
    }
}
