//! Credentials: the ingest token for writes (`Authorization: Bearer`, RFC 6750 section 2.1) and
//! user and password for reads (`Authorization: Basic`, RFC 7617), both compared in constant time.
//!
//! The compare is written here rather than taken from a crate: it is a dozen lines, its one
//! property (time depends on the client's input length only) is tested below by counting the
//! bytes it looks at, and it keeps the dependency list short.
use crate::limits::MAX_TOKEN_BYTES;
use std::fmt;

/// A secret from the command line, in the form clients send it: the token itself, or the base64
/// of `USER:PASS`. `Debug` never shows it, so a logged `Config` leaks nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Box<[u8]>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// An ingest token: 1 to [`MAX_TOKEN_BYTES`] characters of RFC 6750's `b64token` alphabet
    /// (`A-Z a-z 0-9 - . _ ~ + / =`), which is what an `Authorization: Bearer` field can carry.
    pub fn token(s: &str) -> Result<Secret, String> {
        let ok = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b);
        if s.is_empty() || s.len() > MAX_TOKEN_BYTES || !s.bytes().all(ok) {
            return Err(format!(
                "the ingest token must be 1 to {MAX_TOKEN_BYTES} characters of A-Z a-z 0-9 - . _ ~ + / ="
            ));
        }
        Ok(Secret(s.as_bytes().into()))
    }

    /// Basic credentials `USER:PASS` (split at the first colon; both non-empty, no control
    /// characters), kept as the base64 text a client puts after `Basic `.
    pub fn basic(s: &str) -> Result<Secret, String> {
        let Some((user, pass)) = s.split_once(':') else {
            return Err("--auth takes USER:PASS".to_string());
        };
        if user.is_empty() || pass.is_empty() || s.chars().any(char::is_control) {
            return Err(
                "--auth takes USER:PASS with a non-empty user and password and no control characters"
                    .to_string(),
            );
        }
        Ok(Secret(base64(s.as_bytes()).into()))
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// True if the `Authorization` value carries exactly `token` as a Bearer credential, or in
/// InfluxDB's `Token` scheme (what the InfluxDB client libraries send).
pub fn bearer_matches(authorization: Option<&[u8]>, token: &Secret) -> bool {
    credentials(authorization, b"Bearer")
        .or_else(|| credentials(authorization, b"Token"))
        .is_some_and(|given| ct_eq(given, token.bytes()))
}

/// True if the `Authorization` value carries exactly the configured Basic credentials.
pub fn basic_matches(authorization: Option<&[u8]>, basic: &Secret) -> bool {
    credentials(authorization, b"Basic").is_some_and(|given| ct_eq(given, basic.bytes()))
}

/// The credentials after `scheme` (case-insensitive, RFC 9110 section 11.1) and one or more
/// spaces; `None` for another scheme or nothing after it.
fn credentials<'a>(authorization: Option<&'a [u8]>, scheme: &[u8]) -> Option<&'a [u8]> {
    let value = trim(authorization?);
    let space = value.iter().position(|&b| b == b' ')?;
    let (name, rest) = value.split_at(space);
    if !name.eq_ignore_ascii_case(scheme) {
        return None;
    }
    let given = trim(rest);
    (!given.is_empty()).then_some(given)
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

/// Compares `given` (from the client) with `expected` (the secret) in constant time: every byte
/// of `given` is looked at, nothing branches on a byte value, and the loop runs
/// `given.len()` times whatever the secret is, so neither its content nor its length shows in
/// the timing. `expected` must not be empty (the command line refuses empty secrets).
pub fn ct_eq(given: &[u8], expected: &[u8]) -> bool {
    ct_eq_visiting(given, expected, |_| {})
}

/// [`ct_eq`], calling `visit` with the index of every byte of `given` it looks at (the tests
/// count them; in [`ct_eq`] the closure is empty and compiles away).
fn ct_eq_visiting(given: &[u8], expected: &[u8], mut visit: impl FnMut(usize)) -> bool {
    if expected.is_empty() {
        return false;
    }
    // `!=` on lengths compiles to a flag set, not a branch.
    let mut diff = u8::from(given.len() != expected.len());
    for (i, &g) in given.iter().enumerate() {
        visit(i);
        // Indexing modulo the secret's length keeps the loop bound the client's; `black_box`
        // keeps the optimizer from turning the accumulation into an early exit.
        diff = std::hint::black_box(diff | (g ^ expected[i % expected.len()]));
    }
    diff == 0
}

/// Standard base64 with padding (RFC 4648 section 4), as `Authorization: Basic` uses it.
fn base64(input: &[u8]) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (k, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> shift & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_and_7617() {
        for (input, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
            ("test:123\u{a3}", "dGVzdDoxMjPCow=="),
        ] {
            assert_eq!(base64(input.as_bytes()), encoded.as_bytes(), "{input:?}");
        }
    }

    #[test]
    fn compare_is_exact() {
        assert!(ct_eq(b"s3cret", b"s3cret"));
        for wrong in [
            &b""[..],
            b"s3cre",
            b"s3cret!",
            b"S3cret",
            b"s3creu",
            b"t3cret",
            b"s3cre\0",
        ] {
            assert!(!ct_eq(wrong, b"s3cret"), "{wrong:?}");
        }
        // A prefix repeated (the modulo index) is not a match either.
        assert!(!ct_eq(b"abab", b"ab"));
        assert!(!ct_eq(b"", b""));
        assert!(!ct_eq(b"x", b""));
    }

    /// The compare looks at every byte of the client's input whether the first byte, the last
    /// byte, the length or nothing differs: no early exit.
    #[test]
    fn compare_does_not_exit_early() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let mut inputs: Vec<Vec<u8>> = vec![
            secret.to_vec(),
            b"x123456789abcdef0123456789abcdef".to_vec(),
            b"0123456789abcdef0123456789abcdex".to_vec(),
            vec![0xff; 32],
            vec![b'0'; 1],
            vec![b'0'; 200],
            Vec::new(),
        ];
        for i in 0..secret.len() {
            let mut v = secret.to_vec();
            v[i] ^= 1;
            inputs.push(v);
        }
        for input in &inputs {
            let mut seen = Vec::new();
            let equal = ct_eq_visiting(input, secret, |i| seen.push(i));
            assert_eq!(equal, input.as_slice() == secret);
            assert_eq!(
                seen,
                (0..input.len()).collect::<Vec<_>>(),
                "every byte, in order, for {input:?}"
            );
        }
    }

    #[test]
    fn bearer_header_forms() {
        let token = Secret::token("abc.DEF-123_~+/=").unwrap();
        let ok = |v: &str| bearer_matches(Some(v.as_bytes()), &token);
        assert!(ok("Bearer abc.DEF-123_~+/="));
        assert!(ok("bearer abc.DEF-123_~+/="));
        assert!(ok("BEARER   abc.DEF-123_~+/=  "));
        assert!(ok("Token abc.DEF-123_~+/="), "InfluxDB's scheme");
        for bad in [
            "Token",
            "Tokenabc.DEF-123_~+/=",
            "Token abc.DEF-123_~+/",
            "Bearer",
            "Bearer ",
            "Bearerabc.DEF-123_~+/=",
            "Basic abc.DEF-123_~+/=",
            "Bearer abc.DEF-123_~+/",
            "Bearer abc.DEF-123_~+/= x",
            "abc.DEF-123_~+/=",
            "",
        ] {
            assert!(!ok(bad), "{bad:?}");
        }
        assert!(!bearer_matches(None, &token));
    }

    #[test]
    fn basic_header_forms() {
        let creds = Secret::basic("Aladdin:open sesame").unwrap();
        let ok = |v: &str| basic_matches(Some(v.as_bytes()), &creds);
        assert!(ok("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="));
        assert!(ok("basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="));
        for bad in [
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZR==",
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ",
            "Basic",
            "Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
            "Basic Aladdin:open sesame",
            "Basic !!!",
        ] {
            assert!(!ok(bad), "{bad:?}");
        }
        assert!(!basic_matches(None, &creds));
    }

    #[test]
    fn secrets_are_validated_and_never_printed() {
        for bad in ["", "has space", "quote\"", "tab\t", "é"] {
            assert!(Secret::token(bad).is_err(), "{bad:?}");
        }
        assert!(Secret::token(&"a".repeat(MAX_TOKEN_BYTES + 1)).is_err());
        for bad in ["nocolon", ":pass", "user:", "us\ner:pass"] {
            assert!(Secret::basic(bad).is_err(), "{bad:?}");
        }
        assert!(Secret::basic("user:pa:ss").is_ok());
        let s = Secret::token("hunter2").unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
