//! The `Range` header parser and resolver (`sluice::http::range`).
//!
//! Input: `[length selector] [8 bytes LE, only when the selector's top bit is set] field...`.
//! The representation length is the selector itself (0-127) or the 64-bit number that follows,
//! so both small files and lengths near `u64::MAX` are reached.
//!
//! Oracle: a reference written from RFC 9110 section 14.1.1 and the decisions in the module docs
//! of `src/http/range.rs`, with its own algorithm: every range-spec is parsed with exact (not
//! saturated) comparisons, the satisfiable ranges are clipped, sorted and merged in one pass over
//! the whole list. `evaluate` must give the same decision, and a 206 set must be ascending,
//! disjoint, not adjacent, inside the length, at most `MAX_RANGES`, with `total_len` its sum.
//! The `Content-Range` writers must produce what RFC 9110 section 14.4 says.
#![no_main]

use sluice::limits::{MAX_RANGES};
use libfuzzer_sys::fuzz_target;
use sluice::http::range::{
    content_range, evaluate, part_head, unsatisfied_range, ByteRange, Ignored, RangeDecision,
};

fuzz_target!(|input: &[u8]| {
    let Some((&selector, rest)) = input.split_first() else {
        return;
    };
    let (len, field) = if selector & 0x80 != 0 {
        let Some((bytes, field)) = rest.split_first_chunk::<8>() else {
            return;
        };
        (u64::from_le_bytes(*bytes), field)
    } else {
        (u64::from(selector), rest)
    };

    let got = evaluate(field, len);
    let want = reference(field, len);
    match (&got, &want) {
        (RangeDecision::Full(Ignored::TooManyRanges), Expected::PartialOrTooMany(_)) => {}
        (
            RangeDecision::Partial(set),
            Expected::Partial(ranges) | Expected::PartialOrTooMany(ranges),
        ) => {
            let got: Vec<(u64, u64)> = set.as_slice().iter().map(|r| (r.first, r.last)).collect();
            assert_eq!(&got, ranges, "{}", show(field, len));
            check_set(set.as_slice(), len);
            assert_eq!(
                u128::from(set.total_len()),
                ranges
                    .iter()
                    .map(|&(f, l)| u128::from(l - f) + 1)
                    .sum::<u128>()
            );
            check_writers(set.as_slice(), len);
        }
        (RangeDecision::Full(why), Expected::Full(want_why)) => {
            assert_eq!(why, want_why, "{}", show(field, len))
        }
        (RangeDecision::Unsatisfiable, Expected::Unsatisfiable) => {
            let mut out = Vec::new();
            unsatisfied_range(&mut out, len);
            assert_eq!(
                out,
                format!("Content-Range: bytes */{len}\r\n").into_bytes()
            );
        }
        _ => {
            let got = match got {
                RangeDecision::Partial(set) => format!("Partial({:?})", set.as_slice()),
                other => format!("{other:?}"),
            };
            panic!("{}: evaluate {got}, reference {want:?}", show(field, len))
        }
    }
});

fn show(field: &[u8], len: u64) -> String {
    format!(
        "Range: {:?} on {len} bytes",
        field.escape_ascii().to_string()
    )
}

/// Known issue, reported (fuzz/regressions/range/): when first-pos is past 64 bits and last-pos
/// is too (or is `u64::MAX`), sluice saturates both to `u64::MAX` before comparing, so a spec
/// with last-pos < first-pos is not seen as invalid: the field gets 416, or a 206 for its other
/// ranges, instead of being ignored (200). Set to `false` once fixed, so that the fuzzer and the
/// regression files check it again.
const TOLERATE_SATURATED_LAST_BEFORE_FIRST: bool = false;

/// Known issue, reported (fuzz/regressions/range/): sluice stops coalescing at the first range
/// that would make a 17th distinct one, so a later range that would have merged them all is
/// never seen: `bytes=0-0,2-2,...,32-32,0-` is ignored as too many ranges (200) while the same
/// set asked as `bytes=0-,0-0,2-2,...` gets one range (206). The module docs promise the count
/// after coalescing, whatever the order. While `true`, either answer is accepted when more than
/// `MAX_RANGES` satisfiable ranges were asked for.
const TOLERATE_CAP_BEFORE_COALESCING: bool = false;

#[derive(Debug)]
enum Expected {
    Full(Ignored),
    Partial(Vec<(u64, u64)>),
    /// `Partial`, or `Full(TooManyRanges)` under `TOLERATE_CAP_BEFORE_COALESCING`.
    PartialOrTooMany(Vec<(u64, u64)>),
    Unsatisfiable,
}

/// A range-spec with its numbers as digit strings (leading zeros removed), so that values past
/// 64 bits compare exactly.
enum Spec<'a> {
    Int {
        first: &'a [u8],
        last: Option<&'a [u8]>,
    },
    Suffix(&'a [u8]),
}

/// RFC 9110 section 14.1.1:
/// `ranges-specifier = range-unit "=" range-set`, `range-set = 1#range-spec`,
/// `int-range = first-pos "-" [ last-pos ]`, `suffix-range = "-" suffix-length`, positions
/// `1*DIGIT`; `range-unit = token`, compared case-insensitively. List elements are separated by
/// commas with optional whitespace around them, and empty elements are allowed (section 5.6.1).
fn reference(field: &[u8], len: u64) -> Expected {
    let Some(eq) = field.iter().position(|&b| b == b'=') else {
        return Expected::Full(Ignored::Invalid);
    };
    let (unit, set) = field.split_at(eq);
    let set = &set[1..];
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if unit.is_empty() || !unit.iter().all(|&b| tchar(b)) {
        return Expected::Full(Ignored::Invalid);
    }
    // An origin server MUST ignore a range unit it does not understand (section 14.2).
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return Expected::Full(Ignored::UnknownUnit);
    }
    let mut specs = Vec::new();
    for element in set.split(|&b| b == b',') {
        let element = trim_ows(element);
        if element.is_empty() {
            continue;
        }
        let Some(spec) = parse_spec(element) else {
            return Expected::Full(Ignored::Invalid);
        };
        // "A range-spec is invalid if ... last-pos is less than first-pos."
        if let Spec::Int {
            first,
            last: Some(last),
        } = spec
        {
            let both_saturate = value(first).is_none() && value(last).is_none_or(|l| l == u64::MAX);
            if less(last, first) && !(TOLERATE_SATURATED_LAST_BEFORE_FIRST && both_saturate) {
                return Expected::Full(Ignored::Invalid);
            }
        }
        specs.push(spec);
    }
    if specs.is_empty() {
        return Expected::Full(Ignored::Invalid);
    }
    // Satisfiable ranges, clipped to the representation (section 14.1.2).
    let mut ranges = Vec::new();
    let mut suffix_on_empty = false;
    for spec in &specs {
        match *spec {
            Spec::Int { first, last } => {
                let Some(first) = value(first).filter(|&f| f < len) else {
                    continue;
                };
                let last = last.and_then(value).map_or(len - 1, |l| l.min(len - 1));
                ranges.push((first, last));
            }
            Spec::Suffix(n) => match value(n) {
                Some(0) => {}
                _ if len == 0 => suffix_on_empty = true,
                Some(n) => ranges.push((len - n.min(len), len - 1)),
                None => ranges.push((0, len - 1)),
            },
        }
    }
    let asked = ranges.len();
    // Coalesce overlapping and adjacent ranges (section 14.2 allows it).
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (first, last) in ranges {
        match merged.last_mut() {
            Some(prev) if u128::from(first) <= u128::from(prev.1) + 1 => prev.1 = prev.1.max(last),
            _ => merged.push((first, last)),
        }
    }
    if merged.len() > MAX_RANGES {
        return Expected::Full(Ignored::TooManyRanges);
    }
    if suffix_on_empty {
        return Expected::Full(Ignored::EmptyRepresentation);
    }
    if merged.is_empty() {
        return Expected::Unsatisfiable;
    }
    if TOLERATE_CAP_BEFORE_COALESCING && asked > MAX_RANGES {
        return Expected::PartialOrTooMany(merged);
    }
    Expected::Partial(merged)
}

fn parse_spec(spec: &[u8]) -> Option<Spec<'_>> {
    let dash = spec.iter().position(|&b| b == b'-')?;
    let (before, after) = (&spec[..dash], &spec[dash + 1..]);
    let number = |s: &[u8]| -> Option<()> {
        (!s.is_empty() && s.iter().all(u8::is_ascii_digit)).then_some(())
    };
    if before.is_empty() {
        number(after)?;
        return Some(Spec::Suffix(strip_zeros(after)));
    }
    number(before)?;
    let last = if after.is_empty() {
        None
    } else {
        number(after)?;
        Some(strip_zeros(after))
    };
    Some(Spec::Int {
        first: strip_zeros(before),
        last,
    })
}

fn strip_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&d| d == b'0').count();
    &digits[zeros..]
}

/// `a < b` for digit strings without leading zeros.
fn less(a: &[u8], b: &[u8]) -> bool {
    (a.len(), a) < (b.len(), b)
}

/// The value of a digit string, or `None` past 64 bits.
fn value(digits: &[u8]) -> Option<u64> {
    std::str::from_utf8(digits)
        .ok()?
        .parse()
        .ok()
        .or_else(|| digits.is_empty().then_some(0))
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

/// What a 206 set promises: ascending, disjoint, not adjacent, inside the representation.
fn check_set(ranges: &[ByteRange], len: u64) {
    assert!(!ranges.is_empty() && ranges.len() <= MAX_RANGES);
    for r in ranges {
        assert!(r.first <= r.last && r.last < len && !r.is_empty());
        assert_eq!(r.len(), r.last - r.first + 1);
    }
    for pair in ranges.windows(2) {
        assert!(u128::from(pair[0].last) + 1 < u128::from(pair[1].first));
    }
}

/// `Content-Range: bytes first-last/len` (section 14.4), alone and in a multipart part head.
fn check_writers(ranges: &[ByteRange], len: u64) {
    for &r in ranges {
        let value = format!("bytes {}-{}/{len}", r.first, r.last);
        let mut out = Vec::new();
        content_range(&mut out, r, len);
        assert_eq!(out, format!("Content-Range: {value}\r\n").into_bytes());
        out.clear();
        part_head(&mut out, b"sluice-0123456789abcdef", b"text/plain", r, len);
        let want = format!(
            "\r\n--sluice-0123456789abcdef\r\nContent-Type: text/plain\r\nContent-Range: {value}\r\n\r\n"
        );
        assert_eq!(out, want.into_bytes());
    }
}
