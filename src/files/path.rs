//! Request path to root-relative file system path: percent-decoding (RFC 3986 section 2.1) and
//! dot-segment removal (RFC 3986 section 5.2.4), with no allocation once the buffer is warm.
//!
//! The result never contains NUL, never starts with `/`, has no empty, `.` or `..` segments, and
//! is `.` for the root itself. A `..` that would climb above the root is an error, not clamped.

use crate::http::error::RequestError;

/// Decodes and normalizes `raw` (percent-encoded, starting with `/`, query removed) into `out`
/// as a relative path (`a/b`, or `.` for the root). `out` is cleared first. Returns whether the
/// path names a directory: its last segment is empty, `.` or `..`, so that after dot-segment
/// removal it ends with `/` (`/a/`, `/a/.` and `/a/b/..` all name `a/`).
pub(crate) fn normalize(raw: &str, out: &mut Vec<u8>) -> Result<bool, RequestError> {
    out.clear();
    let raw = raw.as_bytes();
    if raw.first() != Some(&b'/') {
        return Err(RequestError::BadPath);
    }
    // Splitting the still-encoded path on '/' is sound because an encoded slash is refused below,
    // so decoding never creates a separator.
    let mut names_dir = false;
    for segment in raw[1..].split(|&b| b == b'/') {
        let start = out.len();
        if start != 0 {
            out.push(b'/');
        }
        let name_start = out.len();
        decode_segment(segment, out)?;
        names_dir = matches!(&out[name_start..], b"" | b"." | b"..");
        match &out[name_start..] {
            b"" | b"." => out.truncate(start),
            b".." => {
                out.truncate(start);
                if out.is_empty() {
                    return Err(RequestError::BadPath);
                }
                let parent_end = out.iter().rposition(|&b| b == b'/').unwrap_or(0);
                out.truncate(parent_end);
            }
            _ => {}
        }
    }
    if out.is_empty() {
        out.push(b'.');
    }
    Ok(names_dir)
}

/// Appends the percent-decoded `segment` to `out`, refusing malformed escapes, NUL and `/`.
fn decode_segment(segment: &[u8], out: &mut Vec<u8>) -> Result<(), RequestError> {
    let mut i = 0;
    while i < segment.len() {
        let byte = match segment[i] {
            b'%' => {
                let hi = segment.get(i + 1).and_then(|&b| hex(b));
                let lo = segment.get(i + 2).and_then(|&b| hex(b));
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(RequestError::BadPath);
                };
                i += 3;
                hi << 4 | lo
            }
            b => {
                i += 1;
                b
            }
        };
        if byte == 0 || byte == b'/' {
            return Err(RequestError::BadPath);
        }
        out.push(byte);
    }
    Ok(())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The last segment of a normalized path (the whole path when it has no `/`).
pub(crate) fn last_segment(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(slash) => &path[slash + 1..],
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(raw: &str) -> Result<Vec<u8>, RequestError> {
        let mut out = Vec::new();
        normalize(raw, &mut out).map(|_| out)
    }

    macro_rules! cases {
        ($($raw:expr => $want:expr),* $(,)?) => {$(
            let want: Result<&[u8], RequestError> = $want;
            assert_eq!(norm($raw).as_deref().map_err(|e| *e), want, "input {:?}", $raw);
        )*};
    }

    #[test]
    fn decodes_and_removes_dot_segments() {
        cases! {
            "/" => Ok(b"."),
            "/a" => Ok(b"a"),
            "/a/" => Ok(b"a"),
            "/a/b/c.txt" => Ok(b"a/b/c.txt"),
            "//a///b//" => Ok(b"a/b"),
            "/./a/./b/." => Ok(b"a/b"),
            "/a/../b" => Ok(b"b"),
            "/a/b/../../c" => Ok(b"c"),
            "/a/.." => Ok(b"."),
            "/a/b/.." => Ok(b"a"),
            "/a/%2e%2E/b" => Ok(b"b"),
            "/%2e" => Ok(b"."),
            "/.../..a/a.." => Ok(b".../..a/a.."),
            "/hello%20world" => Ok(b"hello world"),
            "/%E2%82%AC" => Ok("\u{20ac}".as_bytes()),
            "/%ff%FE" => Ok(b"\xff\xfe"),
            "/a%25b" => Ok(b"a%b"),
            "/%3Cscript%3E%26%22" => Ok(b"<script>&\""),
            "/a\\..\\b" => Ok(b"a\\..\\b"),
        }
    }

    #[test]
    fn refuses_escapes_and_bad_encodings() {
        cases! {
            "" => Err(RequestError::BadPath),
            "a/b" => Err(RequestError::BadPath),
            "/.." => Err(RequestError::BadPath),
            "/../a" => Err(RequestError::BadPath),
            "/a/../.." => Err(RequestError::BadPath),
            "/a/../../b" => Err(RequestError::BadPath),
            "/%2e%2e" => Err(RequestError::BadPath),
            "/%2e%2e/etc/passwd" => Err(RequestError::BadPath),
            "/a/.%2e/%2E./x" => Err(RequestError::BadPath),
            "/a%2Fb" => Err(RequestError::BadPath),
            "/a%2fb" => Err(RequestError::BadPath),
            "/..%2f..%2fetc" => Err(RequestError::BadPath),
            "/a%00" => Err(RequestError::BadPath),
            "/a\0b" => Err(RequestError::BadPath),
            "/%zz" => Err(RequestError::BadPath),
            "/%" => Err(RequestError::BadPath),
            "/%4" => Err(RequestError::BadPath),
            "/a%g0" => Err(RequestError::BadPath),
            "/%%41" => Err(RequestError::BadPath),
        }
    }

    #[test]
    fn a_path_names_a_directory_when_its_last_segment_is_empty_or_a_dot_segment() {
        for (raw, dir) in [
            ("/", true),
            ("/a", false),
            ("/a/", true),
            ("/a/.", true),
            ("/a/b/..", true),
            ("/a/%2e", true),
            ("/a/%2E%2e", true),
            ("/a/..b", false),
            ("/a/.b", false),
            ("/a/./b", false),
        ] {
            assert_eq!(normalize(raw, &mut Vec::new()), Ok(dir), "{raw}");
        }
    }

    #[test]
    fn warm_buffer_is_reused_without_growing() {
        let mut out = Vec::with_capacity(64);
        let ptr = out.as_ptr();
        for raw in ["/a/b/c", "/x", "/a/../b", "/"] {
            normalize(raw, &mut out).unwrap();
            assert_eq!(out.as_ptr(), ptr);
        }
    }

    #[test]
    fn last_segment_of_normalized_paths() {
        assert_eq!(last_segment(b"a/b/c.txt"), b"c.txt");
        assert_eq!(last_segment(b"c.txt"), b"c.txt");
        assert_eq!(last_segment(b"."), b".");
    }
}
