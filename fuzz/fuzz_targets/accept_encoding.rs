//! The `Accept-Encoding` parser (`sluice::http::accept_encoding`).
//!
//! Input: `[selector] field...`; selector 0 means the request had no `Accept-Encoding` at all.
//!
//! Oracle: a reference written from RFC 9110 sections 12.5.3, 12.4.2 and 5.6 and the module docs
//! of `src/http/accept_encoding.rs`, which checks each element and parameter against the grammar.
//! `weight` must agree with it for a set of codings (listed, aliased with `x-`, any case, covered
//! only by `*`, `identity`, unlisted); `accepts` is `weight > 0`; `preferred` picks the acceptable
//! offered coding with the highest weight, ties to the earlier one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice::http::accept_encoding::{accepts, preferred, weight, Weight, MAX_WEIGHT};

const CODINGS: [&str; 10] = [
    "gzip",
    "x-gzip",
    "GZip",
    "br",
    "deflate",
    "compress",
    "x-compress",
    "identity",
    "zstd",
    "a",
];
const OFFERS: [&[&str]; 4] = [
    &["gzip", "identity"],
    &["br", "gzip", "identity"],
    &["identity"],
    &["zstd", "deflate"],
];

fuzz_target!(|input: &[u8]| {
    let Some((&selector, field)) = input.split_first() else {
        return;
    };
    let field = (selector != 0).then_some(field);
    let elements = field.map(elements);
    for coding in CODINGS {
        let want = reference_weight(elements.as_deref(), coding);
        let got = weight(field, coding);
        assert_eq!(
            got,
            want,
            "Accept-Encoding: {:?}, coding {coding}",
            field.map(|f| f.escape_ascii().to_string())
        );
        assert_eq!(accepts(field, coding), got > 0);
    }
    for offered in OFFERS {
        let mut best: Option<(&str, Weight)> = None;
        for &coding in offered {
            let q = reference_weight(elements.as_deref(), coding);
            if q > 0 && best.is_none_or(|(_, b)| q > b) {
                best = Some((coding, q));
            }
        }
        assert_eq!(
            preferred(field, offered),
            best.map(|(c, _)| c),
            "{offered:?}"
        );
    }
});

/// One list element that parses: its coding and its weight.
struct Element<'a> {
    coding: &'a [u8],
    weight: Weight,
}

/// The elements of `Accept-Encoding = #( codings [ weight ] )` that count. The list syntax
/// (section 5.6.1) allows empty elements and OWS around commas. Each element is
/// `codings *( OWS ";" OWS [ parameter ] )`; sluice shares this parser with `Accept`, whose media
/// ranges take parameters, so parameters other than `q` are ignored, and if `q` appears more than
/// once the last one counts. An element whose coding is not a token, or whose `q` is not a
/// qvalue, is skipped (the module docs: "elements that do not parse (a bad q) are skipped").
fn elements(field: &[u8]) -> Vec<Element<'_>> {
    let mut out = Vec::new();
    // No coding takes a parameter that could hold a quoted "," or ";" (only `weight`), so the
    // list and its parameters split at every "," and ";".
    for element in field.split(|&b| b == b',') {
        let mut parts = element.split(|&b| b == b';');
        let coding = trim_ows(parts.next().unwrap_or_default());
        if coding.is_empty() {
            continue;
        }
        let mut weight = Some(MAX_WEIGHT);
        let ok = coding.iter().all(|&b| is_tchar(b));
        for param in parts {
            let param = trim_ows(param);
            if param.is_empty() {
                continue;
            }
            let (name, value) = match param.iter().position(|&b| b == b'=') {
                Some(eq) => (&param[..eq], &param[eq + 1..]),
                None => (param, &b""[..]),
            };
            if name.eq_ignore_ascii_case(b"q") && param.len() > 1 {
                // `weight = OWS ";" OWS "q=" qvalue`: anything else after "q=" skips the element.
                weight = qvalue(value);
                if weight.is_none() {
                    break;
                }
            }
            // Any other parameter is ignored, even one that does not parse as
            // `parameter-name "=" parameter-value` (section 5.6.6): sluice's deliberate choice,
            // `weight(Some(b"gzip;q = 0.5"), "gzip") == MAX_WEIGHT` in its unit tests. So
            // `gzip;q = 0` accepts gzip, and `*;0` accepts every coding.
        }
        if let (true, Some(weight)) = (ok, weight) {
            out.push(Element { coding, weight });
        }
    }
    out
}

/// The effective weight (module docs, RFC 9110 section 12.5.3): the first element naming the
/// coding (`x-gzip` and `x-compress` are `gzip` and `compress`, section 8.4.1); else the first
/// `*`; else 1 for `identity` and 0 for the rest. Without the field, sluice sends no content
/// coding (stricter than the RFC, which then allows any): `identity` only.
fn reference_weight(elements: Option<&[Element<'_>]>, coding: &str) -> Weight {
    let wanted = canonical(coding.as_bytes());
    let identity = wanted.eq_ignore_ascii_case(b"identity");
    let Some(elements) = elements else {
        return if identity { MAX_WEIGHT } else { 0 };
    };
    if let Some(e) = elements
        .iter()
        .find(|e| canonical(e.coding).eq_ignore_ascii_case(wanted))
    {
        return e.weight;
    }
    match elements.iter().find(|e| e.coding == b"*") {
        Some(star) => star.weight,
        None if identity => MAX_WEIGHT,
        None => 0,
    }
}

/// `x-gzip` and `x-compress` are `gzip` and `compress` (section 8.4.1).
fn canonical(c: &[u8]) -> &[u8] {
    if c.eq_ignore_ascii_case(b"x-gzip") {
        b"gzip"
    } else if c.eq_ignore_ascii_case(b"x-compress") {
        b"compress"
    } else {
        c
    }
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )` (section 12.4.2), in
/// thousandths.
fn qvalue(s: &[u8]) -> Option<Weight> {
    let (int, frac) = match s.iter().position(|&b| b == b'.') {
        Some(dot) => (&s[..dot], Some(&s[dot + 1..])),
        None => (s, None),
    };
    let frac = frac.unwrap_or_default();
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    match int {
        b"0" => Some(
            (0..3)
                .map(|i| frac.get(i).map_or(0, |&d| Weight::from(d - b'0')))
                .fold(0, |n, d| n * 10 + d),
        ),
        b"1" if frac.iter().all(|&d| d == b'0') => Some(MAX_WEIGHT),
        _ => None,
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}
