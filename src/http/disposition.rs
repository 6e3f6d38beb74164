//! `Content-Disposition: attachment` with a file name (RFC 6266 section 4, the `filename*`
//! parameter encoded as RFC 8187 section 3.2). Sans-IO.
//!
//! The value carries the name twice: `filename="..."`, a quoted ASCII fallback for old clients in
//! which every byte that is not printable ASCII, and `"`, `\` and `%`, becomes `_` (so no raw byte
//! of the name is reflected, and no client can read an escape into it); and
//! `filename*=UTF-8''...`, the exact name with everything but RFC 8187 `attr-char` percent-encoded.
//! A name that is not UTF-8 is converted first, invalid sequences becoming U+FFFD.

use percent_encoding::{percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but `attr-char` (RFC 8187 section 3.2.1): ALPHA / DIGIT / `!#$&+-.^_`|~`.
const ATTR_CHAR_COMPLEMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// Name used when the file name is empty.
const DEFAULT_NAME: &str = "download";

/// Writes the whole `Content-Disposition` field for an attachment named `name` (raw bytes of the
/// file name, any encoding).
pub fn attachment(out: &mut Vec<u8>, name: &[u8]) {
    let name = String::from_utf8_lossy(name);
    let name: &str = if name.is_empty() { DEFAULT_NAME } else { &name };
    out.extend_from_slice(b"Content-Disposition: attachment; filename=\"");
    for c in name.chars() {
        let keep = c.is_ascii() && !c.is_ascii_control() && !matches!(c, '"' | '\\' | '%');
        out.push(if keep { c as u8 } else { b'_' });
    }
    out.extend_from_slice(b"\"; filename*=UTF-8''");
    for piece in percent_encode(name.as_bytes(), ATTR_CHAR_COMPLEMENT) {
        out.extend_from_slice(piece.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &[u8]) -> String {
        let mut out = Vec::new();
        attachment(&mut out, name);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn plain_names() {
        assert_eq!(
            field(b"report-2024.pdf"),
            "Content-Disposition: attachment; filename=\"report-2024.pdf\"; \
             filename*=UTF-8''report-2024.pdf\r\n"
        );
        assert_eq!(
            field(b"a b.txt"),
            "Content-Disposition: attachment; filename=\"a b.txt\"; filename*=UTF-8''a%20b.txt\r\n"
        );
        assert_eq!(
            field(b""),
            "Content-Disposition: attachment; filename=\"download\"; filename*=UTF-8''download\r\n"
        );
    }

    #[test]
    fn non_ascii_and_hostile_names_are_never_reflected() {
        assert_eq!(
            field("données €.csv".as_bytes()),
            "Content-Disposition: attachment; filename=\"donn_es _.csv\"; \
             filename*=UTF-8''donn%C3%A9es%20%E2%82%AC.csv\r\n"
        );
        let hostile = field(b"x\"; filename=evil.exe\r\nSet-Cookie: a=b\\%41");
        assert_eq!(
            hostile,
            "Content-Disposition: attachment; filename=\"x_; filename=evil.exe__Set-Cookie: a=b__41\"; \
             filename*=UTF-8''x%22%3B%20filename%3Devil.exe%0D%0ASet-Cookie%3A%20a%3Db%5C%2541\r\n"
        );
        // one CRLF only: the one that ends the field
        assert_eq!(hostile.matches("\r\n").count(), 1);
        // bytes that are not UTF-8
        assert_eq!(
            field(b"caf\xe9.txt"),
            "Content-Disposition: attachment; filename=\"caf_.txt\"; filename*=UTF-8''caf%EF%BF%BD.txt\r\n"
        );
        // every byte value: the fallback stays printable ASCII, the encoded form attr-chars
        let all: Vec<u8> = (0..=255).collect();
        let f = field(&all);
        let value = f.strip_suffix("\r\n").unwrap();
        assert!(value.bytes().all(|b| (0x20..0x7f).contains(&b)), "{value}");
        let fallback = value.split('"').nth(1).unwrap();
        assert!(!fallback.contains(['\\', '%']));
    }
}
