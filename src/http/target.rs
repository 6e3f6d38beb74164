//! The request-target and the Host field (RFC 9112 section 3.2, RFC 9110 sections 4.2 and 7.2):
//! the target's forms split into path, query and authority, and the Host value checked as
//! `uri-host [ ":" port ]`. Used by `request.rs`, which owns the parsed head.
use super::error::RequestError;
use super::request::{Method, Version};
use memchr::memchr;

/// The parts of a request-target (RFC 9112 section 3.2).
pub(super) struct Target<'b> {
    pub(super) path: &'b str,
    pub(super) query: Option<&'b str>,
    /// The authority of an absolute-form or authority-form target.
    pub(super) authority: Option<&'b [u8]>,
}

impl<'b> Target<'b> {
    pub(super) fn parse(method: Method, target: &'b str) -> Result<Self, RequestError> {
        let invalid = RequestError::InvalidTarget;
        // A fragment is never sent (RFC 9110 section 7.1).
        if target.contains('#') {
            return Err(invalid);
        }
        // Authority-form, for CONNECT only: `uri-host ":" port` (section 3.2.3).
        if method == Method::Connect {
            return match parse_authority(target.as_bytes()) {
                Some((host, Some(port))) if !host.is_empty() && !port.is_empty() => Ok(Target {
                    path: target,
                    query: None,
                    authority: Some(target.as_bytes()),
                }),
                _ => Err(invalid),
            };
        }
        // Asterisk-form, for OPTIONS only (section 3.2.4).
        if target == "*" {
            return match method {
                Method::Options => Ok(Target {
                    path: target,
                    query: None,
                    authority: None,
                }),
                _ => Err(invalid),
            };
        }
        // Origin-form (section 3.2.1).
        if target.starts_with('/') {
            let (path, query) = split_query(target);
            return Ok(Target {
                path,
                query,
                authority: None,
            });
        }
        // Absolute-form (section 3.2.2): scheme is case-insensitive; the authority must not be
        // empty (RFC 9110 section 4.2.1) and carries no userinfo here.
        let after_scheme = strip_prefix_ignore_case(target, "http://")
            .or_else(|| strip_prefix_ignore_case(target, "https://"))
            .ok_or(invalid)?;
        let end = after_scheme.find(['/', '?']).unwrap_or(after_scheme.len());
        let (authority, rest) = after_scheme.split_at(end);
        match parse_authority(authority.as_bytes()) {
            Some((host, _)) if !host.is_empty() => {}
            _ => return Err(invalid),
        }
        let (path, query) = split_query(rest);
        Ok(Target {
            path: if path.is_empty() { "/" } else { path },
            query,
            authority: Some(authority.as_bytes()),
        })
    }
}

fn split_query(s: &str) -> (&str, Option<&str>) {
    match s.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (s, None),
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// Host (RFC 9112 section 3.2, RFC 9110 section 7.2): exactly one field, required in HTTP/1.1,
/// whose value is `uri-host [ ":" port ]` with a host: an empty one (`Host:`, `Host: :80`) is
/// invalid for an `http` URI (RFC 9110 section 4.2.1), the only scheme served.
pub(super) fn check_host<'b>(
    headers: &[httparse::Header<'b>],
    version: Version,
) -> Result<Option<&'b [u8]>, RequestError> {
    let mut hosts = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("host"));
    let host = hosts.next().map(|h| h.value);
    if hosts.next().is_some() {
        return Err(RequestError::DuplicateHost);
    }
    match host {
        None if version == Version::Http11 => Err(RequestError::MissingHost),
        Some(value) if !parse_authority(value).is_some_and(|(host, _)| !host.is_empty()) => {
            Err(RequestError::InvalidHost)
        }
        _ => Ok(host),
    }
}

/// Splits `uri-host [ ":" port ]` (RFC 3986 section 3.2) into host and port, checking the
/// syntax of both. The host may be empty (an empty reg-name), the port is `*DIGIT`.
fn parse_authority(value: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let host_len = if value.first() == Some(&b'[') {
        let close = memchr(b']', value)?;
        if !is_ip_literal(&value[1..close]) {
            return None;
        }
        close + 1
    } else {
        let end = memchr(b':', value).unwrap_or(value.len());
        if !is_reg_name(&value[..end]) {
            return None;
        }
        end
    };
    let (host, rest) = value.split_at(host_len);
    match rest {
        [] => Some((host, None)),
        [b':', port @ ..] if port.iter().all(u8::is_ascii_digit) => Some((host, Some(port))),
        _ => None,
    }
}

/// `reg-name = *( unreserved / pct-encoded / sub-delims )`
fn is_reg_name(mut s: &[u8]) -> bool {
    while let Some((&b, rest)) = s.split_first() {
        s = match b {
            b'%' => match rest {
                [h, l, tail @ ..] if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => tail,
                _ => return false,
            },
            _ if is_unreserved(b) || is_sub_delim(b) => rest,
            _ => return false,
        };
    }
    true
}

/// The inside of `IP-literal = "[" ( IPv6address / IPvFuture ) "]"`.
fn is_ip_literal(inner: &[u8]) -> bool {
    match inner {
        // IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
        [b'v' | b'V', rest @ ..] => {
            let digits = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
            match &rest[digits..] {
                [b'.', tail @ ..] => {
                    digits > 0
                        && !tail.is_empty()
                        && tail
                            .iter()
                            .all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':')
                }
                _ => false,
            }
        }
        _ => std::str::from_utf8(inner)
            .ok()
            .and_then(|s| s.parse::<std::net::Ipv6Addr>().ok())
            .is_some(),
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}
