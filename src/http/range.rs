//! Byte ranges (RFC 9110 section 14): the `Range` header field parsed and resolved against the
//! selected representation's length, overlapping and adjacent ranges coalesced, a cap on how many
//! distinct ranges one response carries, and the part heads of `multipart/byteranges` (section
//! 14.6). Sans-IO: reads `&[u8]`, writes `&mut Vec<u8>`, allocates nothing.
//!
//! Decisions, in the order they are taken:
//!
//! - A unit other than `bytes` (case-insensitive), or a ranges-specifier that is not valid by the
//!   grammar of section 14.1.1 (including `last < first`), means the field is ignored: the whole
//!   representation is sent with 200 (section 14.2 allows ignoring; section 14.1.1 requires it for
//!   an invalid range-set). Whitespace is allowed only around the commas (`#` list rule,
//!   section 5.6.1), and empty list elements are skipped.
//! - Numbers too large for 64 bits saturate: a first-pos past the end is unsatisfiable, a
//!   last-pos or suffix-length past the end is clipped to the end.
//! - Satisfiable ranges are clipped to the length, then merged with every range they overlap or
//!   touch, so the parts come out ascending and disjoint whatever order they were asked in
//!   (section 14.2 lets a server coalesce). An "Apache killer" with hundreds of overlapping ranges
//!   collapses to one.
//! - If more than [`MAX_RANGES`] distinct ranges remain, the field is ignored and the whole
//!   representation is sent with 200: many small scattered ranges are what section 14.2 calls an
//!   indication of a broken client or an attack, and one copy of the file is the bounded answer.
//! - No satisfiable range: 416 with `Content-Range: bytes */len` (section 15.5.17). For an empty
//!   representation a suffix-range is satisfiable in principle but selects nothing, which a 206
//!   cannot express, so the (empty) whole is sent with 200.
use crate::limits::MAX_RANGES;

/// A satisfiable range: `first..=last`, with `last` below the representation's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub first: u64,
    pub last: u64,
}

impl ByteRange {
    /// Number of bytes in the range (never zero).
    pub fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Always false: a range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Up to [`MAX_RANGES`] ranges, ascending, disjoint and not adjacent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeSet {
    ranges: [ByteRange; MAX_RANGES],
    count: usize,
}

impl RangeSet {
    const EMPTY: RangeSet = RangeSet {
        ranges: [ByteRange { first: 0, last: 0 }; MAX_RANGES],
        count: 0,
    };

    /// The ranges, ascending.
    pub fn as_slice(&self) -> &[ByteRange] {
        &self.ranges[..self.count]
    }

    /// Sum of the ranges' lengths.
    pub fn total_len(&self) -> u64 {
        self.as_slice().iter().map(ByteRange::len).sum()
    }

    /// Adds `r`, merging it with every range it overlaps or touches. `false` if that would make
    /// more than [`MAX_RANGES`] distinct ranges (the set is then unchanged).
    pub fn insert(&mut self, r: ByteRange) -> bool {
        let set = &self.ranges[..self.count];
        // First range that ends at or after the byte before r, and first that starts past the
        // byte after r: everything between touches r.
        let lo = set.partition_point(|x| x.last.saturating_add(1) < r.first);
        let hi = set.partition_point(|x| x.first <= r.last.saturating_add(1));
        if lo == hi {
            if self.count == MAX_RANGES {
                return false;
            }
            self.ranges.copy_within(lo..self.count, lo + 1);
            self.ranges[lo] = r;
            self.count += 1;
            return true;
        }
        let merged = ByteRange {
            first: r.first.min(self.ranges[lo].first),
            last: r.last.max(self.ranges[hi - 1].last),
        };
        self.ranges[lo] = merged;
        self.ranges.copy_within(hi..self.count, lo + 1);
        self.count -= hi - lo - 1;
        true
    }
}

impl Default for RangeSet {
    fn default() -> Self {
        RangeSet::EMPTY
    }
}

/// Why a `Range` field was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// A range unit other than `bytes`.
    UnknownUnit,
    /// Not a valid ranges-specifier.
    Invalid,
    /// More than [`MAX_RANGES`] distinct ranges after coalescing.
    TooManyRanges,
    /// The representation is empty; a 206 cannot select nothing.
    EmptyRepresentation,
}

/// What to answer to a `Range` field.
// Lives on the stack for the duration of one request; boxing the set would allocate per request.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeDecision {
    /// Send the whole representation with 200.
    Full(Ignored),
    /// Send these ranges with 206 (one range: `Content-Range`; several: multipart).
    Partial(RangeSet),
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Resolves the `Range` field value `field` against a representation of `len` bytes.
pub fn evaluate(field: &[u8], len: u64) -> RangeDecision {
    let Some(eq) = field.iter().position(|&b| b == b'=') else {
        return RangeDecision::Full(Ignored::Invalid);
    };
    let (unit, set) = (&field[..eq], &field[eq + 1..]);
    if unit.is_empty() || !unit.iter().all(|&b| is_tchar(b)) {
        return RangeDecision::Full(Ignored::Invalid);
    }
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return RangeDecision::Full(Ignored::UnknownUnit);
    }

    let mut ranges = RangeSet::EMPTY;
    let mut specs = 0usize;
    // Once more than MAX_RANGES distinct ranges have been seen, every range is kept here and
    // merged at the end, so the verdict does not depend on the order of the ranges. Only
    // requests with many scattered ranges pay for this allocation.
    let mut overflow: Option<Vec<ByteRange>> = None;
    let mut suffix_on_empty = false;
    // The whole field is checked even after the cap is hit: an invalid spec anywhere means the
    // field is ignored (section 14.1.1), which takes precedence.
    for element in set.split(|&b| b == b',') {
        let spec = trim_ows(element);
        if spec.is_empty() {
            continue;
        }
        specs += 1;
        let Some(spec) = parse_spec(spec) else {
            return RangeDecision::Full(Ignored::Invalid);
        };
        let range = match spec {
            Spec::Int { first, last } => {
                if last.is_some_and(|last| last < first) {
                    return RangeDecision::Full(Ignored::Invalid);
                }
                if first >= len {
                    continue;
                }
                ByteRange {
                    first,
                    last: last.unwrap_or(u64::MAX).min(len - 1),
                }
            }
            Spec::Suffix(0) => continue,
            Spec::Suffix(_) if len == 0 => {
                suffix_on_empty = true;
                continue;
            }
            Spec::Suffix(n) => ByteRange {
                first: len - n.min(len),
                last: len - 1,
            },
        };
        match overflow.as_mut() {
            Some(all) => all.push(range),
            None if ranges.insert(range) => {}
            None => {
                let mut all = ranges.as_slice().to_vec();
                all.push(range);
                overflow = Some(all);
            }
        }
    }
    if specs == 0 {
        return RangeDecision::Full(Ignored::Invalid);
    }
    if let Some(mut all) = overflow {
        all.sort_unstable_by_key(|r| r.first);
        ranges = RangeSet::EMPTY;
        for r in all {
            if !ranges.insert(r) {
                return RangeDecision::Full(Ignored::TooManyRanges);
            }
        }
    }
    if suffix_on_empty {
        return RangeDecision::Full(Ignored::EmptyRepresentation);
    }
    if ranges.count == 0 {
        return RangeDecision::Unsatisfiable;
    }
    RangeDecision::Partial(ranges)
}

/// One range-spec, numbers saturated at `u64::MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spec {
    Int { first: u64, last: Option<u64> },
    Suffix(u64),
}

/// `1*DIGIT "-" [1*DIGIT]` or `"-" 1*DIGIT`, nothing else (no inner whitespace, no sign).
fn parse_spec(spec: &[u8]) -> Option<Spec> {
    let dash = spec.iter().position(|&b| b == b'-')?;
    let (before, after) = (&spec[..dash], &spec[dash + 1..]);
    if before.is_empty() {
        return Some(Spec::Suffix(digits(after)?));
    }
    let first = digits(before)?;
    let last = if after.is_empty() {
        None
    } else {
        // Compared exactly before the numbers saturate: `last < first` makes the spec invalid
        // even where both are beyond 64 bits.
        if decimal_less(after, before) {
            return None;
        }
        Some(digits(after)?)
    };
    Some(Spec::Int { first, last })
}

/// `a < b` for two strings of ASCII digits, of any length.
fn decimal_less(a: &[u8], b: &[u8]) -> bool {
    let strip = |s: &[u8]| -> usize { s.iter().take_while(|&&d| d == b'0').count() };
    let (a, b) = (&a[strip(a)..], &b[strip(b)..]);
    a.len() < b.len() || (a.len() == b.len() && a < b)
}

/// `1*DIGIT` as a number, saturating at `u64::MAX`.
fn digits(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.saturating_mul(10).saturating_add(u64::from(b - b'0'));
    }
    Some(n)
}

/// `s` without leading and trailing SP and HTAB (OWS, section 5.6.3).
pub(crate) fn trim_ows(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| b != b' ' && b != b'\t');
    let Some(start) = start else {
        return &[];
    };
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .unwrap_or(start);
    &s[start..=end]
}

/// `tchar` (section 5.6.2).
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Writes `Content-Range: bytes first-last/len` (section 14.4).
pub fn content_range(out: &mut Vec<u8>, range: ByteRange, len: u64) {
    out.extend_from_slice(b"Content-Range: ");
    range_value(out, range, len);
    out.extend_from_slice(b"\r\n");
}

/// Writes `Content-Range: bytes */len`, for 416 (section 14.4).
pub fn unsatisfied_range(out: &mut Vec<u8>, len: u64) {
    out.extend_from_slice(b"Content-Range: bytes */");
    super::response::push_u64(out, len);
    out.extend_from_slice(b"\r\n");
}

fn range_value(out: &mut Vec<u8>, range: ByteRange, len: u64) {
    out.extend_from_slice(b"bytes ");
    super::response::push_u64(out, range.first);
    out.push(b'-');
    super::response::push_u64(out, range.last);
    out.push(b'/');
    super::response::push_u64(out, len);
}

/// Length of a multipart boundary written by [`boundary`].
pub const BOUNDARY_LEN: usize = 23;

/// A boundary for a `multipart/byteranges` body from `seed` (a per-response random number):
/// `sluice-` and 16 hex digits. A token, so it needs no quotes in the `Content-Type` parameter,
/// and well within RFC 2046 section 5.1.1 (up to 70 characters). The body is file content that
/// could contain anything; a random boundary is what makes a collision implausible.
pub fn boundary(seed: u64) -> [u8; BOUNDARY_LEN] {
    let mut b = *b"sluice-0000000000000000";
    for i in 0..16 {
        let nibble = (seed >> (60 - 4 * i)) & 0xf;
        b[7 + i] = b"0123456789abcdef"[nibble as usize];
    }
    b
}

/// Writes the head of one part of a `multipart/byteranges` body (section 14.6): the delimiter
/// (preceded by CRLF, which for the first part is allowed as preamble), `Content-Type` when
/// known, `Content-Range`, and the empty line. `content_type` must be free of CR and LF.
pub fn part_head(
    out: &mut Vec<u8>,
    boundary: &[u8],
    content_type: &[u8],
    range: ByteRange,
    len: u64,
) {
    out.extend_from_slice(b"\r\n--");
    out.extend_from_slice(boundary);
    out.extend_from_slice(b"\r\n");
    if !content_type.is_empty() {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(content_type);
        out.extend_from_slice(b"\r\n");
    }
    content_range(out, range, len);
    out.extend_from_slice(b"\r\n");
}

/// Writes the close delimiter that ends a `multipart/byteranges` body.
pub fn multipart_end(out: &mut Vec<u8>, boundary: &[u8]) {
    out.extend_from_slice(b"\r\n--");
    out.extend_from_slice(boundary);
    out.extend_from_slice(b"--\r\n");
}

#[cfg(test)]
#[path = "range_tests.rs"]
mod tests;
