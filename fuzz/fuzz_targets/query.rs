//! The query-string parser of static-file requests (`sluice::http::query::parse`).
//!
//! Input: `[mode] rest`. Mode 0: no query at all. Mode 1: `rest` is the query (when UTF-8).
//! Other modes: `rest` drives a generator that picks `download`, `sort`, `order` and `format`
//! settings (with every accepted spelling), unknown keys, empty elements and repeated keys, and
//! writes them with fuzzer-chosen characters percent-encoded (upper- or lower-case hex).
//!
//! Oracle: a reference written from the WHATWG URL standard's
//! `application/x-www-form-urlencoded` parser (split at `&`, skip empty sequences, split at the
//! first `=`, `+` is a space, percent-decode) and the module docs of `src/http/query.rs` (a `%`
//! not followed by two hex digits is `BadEscape`; a decoded query that is not UTF-8 is
//! `NotUtf8`; unknown keys are ignored; a bad value of a known key is `BadValue(key)`, the first
//! one in order; the last of repeated keys wins) must give the same result on any query; a
//! generated query must parse back to the settings it was written from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice::http::query::{parse, FileQuery, Format, Order, QueryError, SortKey};

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    match mode {
        0 => {
            assert_eq!(parse(None), Ok(FileQuery::default()));
        }
        1 => {
            let Ok(query) = std::str::from_utf8(rest) else {
                return;
            };
            assert_eq!(parse(Some(query)), reference(query), "{query:?}");
        }
        _ => {
            let (query, want) = generate(rest);
            assert_eq!(parse(Some(&query)), Ok(want), "{query:?}");
            assert_eq!(reference(&query), Ok(want), "{query:?} (the reference)");
        }
    }
});

fn reference(query: &str) -> Result<FileQuery, QueryError> {
    let bytes = query.as_bytes();
    let mut i = 0;
    let mut decoded = Vec::with_capacity(bytes.len());
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = bytes.get(i + 1).and_then(|&b| hex(b));
            let lo = bytes.get(i + 2).and_then(|&b| hex(b));
            let (Some(hi), Some(lo)) = (hi, lo) else {
                return Err(QueryError::BadEscape);
            };
            decoded.push(hi * 16 + lo);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    if std::str::from_utf8(&decoded).is_err() {
        return Err(QueryError::NotUtf8);
    }
    let mut q = FileQuery::default();
    for sequence in bytes.split(|&b| b == b'&').filter(|s| !s.is_empty()) {
        let (name, value) = match sequence.iter().position(|&b| b == b'=') {
            Some(eq) => (&sequence[..eq], &sequence[eq + 1..]),
            None => (sequence, &b""[..]),
        };
        let (name, value) = (form_decode(name), form_decode(value));
        match name.as_str() {
            "download" => {
                q.download = match value.as_str() {
                    "" | "1" | "true" | "yes" | "on" => true,
                    "0" | "false" | "no" | "off" => false,
                    _ => return Err(QueryError::BadValue("download")),
                }
            }
            "sort" => {
                q.sort = match value.as_str() {
                    "name" => SortKey::Name,
                    "size" => SortKey::Size,
                    "modified" | "mtime" | "date" => SortKey::Modified,
                    _ => return Err(QueryError::BadValue("sort")),
                }
            }
            "order" => {
                q.order = match value.as_str() {
                    "asc" => Order::Asc,
                    "desc" => Order::Desc,
                    _ => return Err(QueryError::BadValue("order")),
                }
            }
            "format" => {
                q.format = match value.as_str() {
                    "html" => Some(Format::Html),
                    "json" => Some(Format::Json),
                    _ => return Err(QueryError::BadValue("format")),
                }
            }
            _ => {}
        }
    }
    Ok(q)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `+` to space, then `%XX` to its byte (the escapes are known to be valid here).
fn form_decode(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(hex(s[i + 1]).unwrap_or(0) * 16 + hex(s[i + 2]).unwrap_or(0));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A query written from fuzzer bytes, and the settings it says.
fn generate(bytes: &[u8]) -> (String, FileQuery) {
    let mut it = bytes.iter().copied();
    let mut next = move || it.next().unwrap_or(0);
    let mut want = FileQuery::default();
    let mut parts = Vec::new();
    for _ in 0..next() % 8 {
        let what = next();
        let (key, value): (&str, Option<&str>) = match what % 6 {
            0 => {
                let (v, on) = [
                    (None, true),
                    (Some(""), true),
                    (Some("1"), true),
                    (Some("true"), true),
                    (Some("yes"), true),
                    (Some("on"), true),
                    (Some("0"), false),
                    (Some("false"), false),
                    (Some("no"), false),
                    (Some("off"), false),
                ][usize::from(next()) % 10];
                want.download = on;
                ("download", v)
            }
            1 => {
                let (v, k) = [
                    ("name", SortKey::Name),
                    ("size", SortKey::Size),
                    ("modified", SortKey::Modified),
                    ("mtime", SortKey::Modified),
                    ("date", SortKey::Modified),
                ][usize::from(next()) % 5];
                want.sort = k;
                ("sort", Some(v))
            }
            2 => {
                let (v, o) = [("asc", Order::Asc), ("desc", Order::Desc)][usize::from(next()) % 2];
                want.order = o;
                ("order", Some(v))
            }
            3 => {
                let (v, f) =
                    [("html", Format::Html), ("json", Format::Json)][usize::from(next()) % 2];
                want.format = Some(f);
                ("format", Some(v))
            }
            4 => {
                let key =
                    ["v", "utm_source", "downloads", "Sort", "x y", "é"][usize::from(next()) % 6];
                let value = ["3", "a&b=c", "", "100%", "+", "ü"][usize::from(next()) % 6];
                (key, Some(value))
            }
            _ => ("", None),
        };
        let mut part = encode(key, &mut next);
        if let Some(value) = value {
            part.push('=');
            part.push_str(&encode(value, &mut next));
        }
        parts.push(part);
    }
    (parts.join("&"), want)
}

/// `s` with each byte percent-encoded where the fuzzer says so, and always where it must be
/// (`&`, `=`, `+`, `%`, space, non-ASCII); a space may also be written `+`.
fn encode(s: &str, next: &mut impl FnMut() -> u8) -> String {
    let mut out = String::new();
    for &b in s.as_bytes() {
        let choice = next();
        let must = matches!(b, b'&' | b'=' | b'+' | b'%' | b' ') || !b.is_ascii();
        if b == b' ' && choice & 1 == 1 {
            out.push('+');
        } else if must || choice & 2 != 0 {
            if choice & 4 != 0 {
                out.push_str(&format!("%{b:02x}"));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(char::from(b));
        }
    }
    out
}
