//! The `Location` of the add-a-slash redirect, built from the request's path and query so that
//! nothing the client sent can end the field, add another, or send the browser elsewhere.
//!
//! The parser already limits the target to visible ASCII (no CR, LF, SP or controls). Two
//! dangers remain: a path starting with `//` would become a scheme-relative reference to another
//! host (RFC 3986 section 4.2: `GET //evil.example` with a directory `evil.example` under ROOT),
//! and browsers read `\` as `/` in http URLs. So leading slashes collapse to one and every byte
//! outside RFC 3986's `pchar` (plus `/`, and `?` in the query) is percent-encoded, which also
//! covers `"`, `<`, `>` and `\`.

/// Appends the redirect target for a directory asked for without its trailing slash: `path`
/// and `/`, then `?query` if there was one.
pub fn push_slash_redirect(out: &mut Vec<u8>, path: &str, query: Option<&str>) {
    out.push(b'/');
    push_encoded(out, path.trim_start_matches('/').as_bytes(), false);
    out.push(b'/');
    if let Some(query) = query {
        out.push(b'?');
        push_encoded(out, query.as_bytes(), true);
    }
}

/// Copies `bytes`, percent-encoding what is not a `pchar`, `/` (or `?` in a query); a `%` that
/// does not start a valid escape is itself encoded.
fn push_encoded(out: &mut Vec<u8>, bytes: &[u8], query: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for (i, &b) in bytes.iter().enumerate() {
        let escape_start = b == b'%'
            && bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
            && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
        let keep = b.is_ascii_alphanumeric()
            || b"-._~!$&'()*+,;=:@/".contains(&b)
            || (query && b == b'?')
            || escape_start;
        if keep {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(path: &str, query: Option<&str>) -> String {
        let mut out = Vec::new();
        push_slash_redirect(&mut out, path, query);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ordinary_paths_are_unchanged() {
        assert_eq!(location("/docs", None), "/docs/");
        assert_eq!(location("/a%20b/c", Some("x=1&y=2")), "/a%20b/c/?x=1&y=2");
        assert_eq!(
            location("/caf%C3%A9", Some("q=a/b?c")),
            "/caf%C3%A9/?q=a/b?c"
        );
    }

    #[test]
    fn nothing_can_leave_the_field_or_the_host() {
        assert_eq!(location("//evil.example", None), "/evil.example/");
        assert_eq!(location("///evil.example/x", None), "/evil.example/x/");
        assert_eq!(location("/\\evil.example", None), "/%5Cevil.example/");
        assert_eq!(
            location("/a\"b<c>d", Some("\"><script>")),
            "/a%22b%3Cc%3Ed/?%22%3E%3Cscript%3E"
        );
        assert_eq!(location("/a%zz%", Some("%")), "/a%25zz%25/?%25");
        // Even bytes the parser never lets through are encoded, not copied.
        assert_eq!(
            location("/a\r\nSet-Cookie: x", None),
            "/a%0D%0ASet-Cookie:%20x/"
        );
        assert_eq!(location("/a#b", None), "/a%23b/");
    }
}
