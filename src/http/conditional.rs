//! Validators and conditional requests (RFC 9110 sections 8.8 and 13): the strong `ETag` of a
//! file, `If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since` evaluated in the
//! order of section 13.2.2, and `If-Range` (section 13.1.5). Sans-IO and allocation-free.
//!
//! - Entity-tags are compared strongly for `If-Match` and `If-Range` and weakly for
//!   `If-None-Match` (section 8.8.3.2). A malformed element ends its list: the tags before it
//!   count, the rest does not.
//! - Dates are compared as points in time at one-second resolution, never as strings; a date
//!   that does not parse, or a field sent more than once, is ignored (sections 13.1.3, 13.1.4).
//!   Years before 1970 are dates too (`httpdate` refuses them; see `before_1970`).
//! - `If-Range` with a date matches only a `Last-Modified` it equals exactly, and only if the
//!   file was last changed at least one second ago: within the current second it could change
//!   again without its timestamp showing it, so the date is not a strong validator
//!   (section 8.8.2.2). Anything that does not match means "send the whole representation".
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest ETag this module writes: quotes, three hex numbers (64, 64 and 128 bits), two dashes,
/// and a representation suffix of up to [`MAX_SUFFIX`] bytes.
pub const ETAG_MAX: usize = 2 + 16 + 1 + 16 + 1 + 1 + 32 + 1 + MAX_SUFFIX;
/// Longest representation suffix (`gz`, `br`).
pub const MAX_SUFFIX: usize = 8;

/// A strong entity-tag, quotes included, kept inline.
#[derive(Clone, Copy)]
pub struct ETag {
    buf: [u8; ETAG_MAX],
    len: usize,
}

impl ETag {
    /// `"<inode>-<size>-<mtime ns>"` in hex, plus `-<suffix>` for a representation other than
    /// the file itself (`gz`, `br`). Any change of content that changes size or modification
    /// time, or replacing the file, changes it. `suffix` is cut to [`MAX_SUFFIX`] bytes and must
    /// be made of `etagc` characters.
    pub fn for_file(inode: u64, size: u64, modified: SystemTime, suffix: &str) -> ETag {
        let mut tag = ETag {
            buf: [0; ETAG_MAX],
            len: 0,
        };
        tag.push(b'"');
        tag.push_hex(u128::from(inode));
        tag.push(b'-');
        tag.push_hex(u128::from(size));
        tag.push(b'-');
        match modified.duration_since(UNIX_EPOCH) {
            Ok(d) => tag.push_hex(d.as_nanos()),
            Err(e) => {
                tag.push(b'm');
                tag.push_hex(e.duration().as_nanos());
            }
        }
        if !suffix.is_empty() {
            tag.push(b'-');
            for &b in suffix.as_bytes().iter().take(MAX_SUFFIX) {
                tag.push(b);
            }
        }
        tag.push(b'"');
        tag
    }

    /// The field value, e.g. `"1a2b-400-17f3c0a1b2c3d4e5"`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn push(&mut self, b: u8) {
        if self.len < ETAG_MAX {
            self.buf[self.len] = b;
            self.len += 1;
        }
    }

    /// Lowercase hex without leading zeros. ETAG_MAX leaves room for the widest values.
    fn push_hex(&mut self, n: u128) {
        match u64::try_from(n) {
            Ok(n) => self.push_hex64(n, 0),
            Err(_) => {
                self.push_hex64((n >> 64) as u64, 0);
                self.push_hex64(n as u64, 16);
            }
        }
    }

    /// `n` in hex, at least `min_digits` of them (one for 0).
    fn push_hex64(&mut self, mut n: u64, min_digits: usize) {
        let digits = ((64 - n.leading_zeros() as usize).div_ceil(4)).max(min_digits.max(1));
        let end = (self.len + digits).min(ETAG_MAX);
        for slot in self.buf[self.len..end].iter_mut().rev() {
            *slot = b"0123456789abcdef"[(n & 0xf) as usize];
            n >>= 4;
        }
        self.len = end;
    }
}

impl std::fmt::Debug for ETag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ETag({})", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// The selected representation's current validators.
#[derive(Debug, Clone, Copy)]
pub struct Validators<'a> {
    /// The strong entity-tag, quotes included.
    pub etag: &'a [u8],
    pub last_modified: SystemTime,
}

/// What the preconditions say (section 13.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Answer the request normally (ranges still apply).
    Proceed,
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// Evaluates the preconditions of a request with header fields `headers` on a representation
/// with validators `v`, in the order of section 13.2.2. `get_or_head` is true for GET and HEAD
/// (a false `If-None-Match` then means 304, otherwise 412; `If-Modified-Since` applies only to
/// them).
pub fn evaluate(
    headers: &[httparse::Header<'_>],
    get_or_head: bool,
    v: &Validators<'_>,
) -> Precondition {
    // Step 1 and 2: If-Match, else If-Unmodified-Since.
    if has(headers, "if-match") {
        if !if_match(headers, v.etag) {
            return Precondition::Failed;
        }
    } else if let Some(date) = single_date(headers, "if-unmodified-since") {
        if unix_secs(v.last_modified) > date {
            return Precondition::Failed;
        }
    }
    // Step 3 and 4: If-None-Match, else If-Modified-Since.
    if has(headers, "if-none-match") {
        if if_none_match_matches(headers, v.etag) {
            return if get_or_head {
                Precondition::NotModified
            } else {
                Precondition::Failed
            };
        }
    } else if get_or_head {
        if let Some(date) = single_date(headers, "if-modified-since") {
            if unix_secs(v.last_modified) <= date {
                return Precondition::NotModified;
            }
        }
    }
    Precondition::Proceed
}

/// Whether the `If-Range` field `field` lets a range request be answered with 206 (section
/// 13.1.5): an entity-tag that strongly matches, or a date equal to `Last-Modified` where that
/// date is a strong validator at `now` (see the module docs).
pub fn if_range_holds(field: &[u8], v: &Validators<'_>, now: SystemTime) -> bool {
    let field = trim(field);
    if field.first() == Some(&b'"') || field.starts_with(b"W/") {
        let mut tags = EntityTags::new(field);
        return match (tags.next(), tags.next()) {
            (Some(Ok(tag)), None) => !tag.weak && tag.opaque == v.etag,
            _ => false,
        };
    }
    let Some(date) = parse_date(field) else {
        return false;
    };
    let modified = unix_secs(v.last_modified);
    let settled = now
        .duration_since(v.last_modified)
        .is_ok_and(|age| age >= Duration::from_secs(1));
    date == modified && settled
}

/// `If-Match` (section 13.1.1): `*`, or any listed tag strongly equal to ours.
fn if_match(headers: &[httparse::Header<'_>], etag: &[u8]) -> bool {
    fields(headers, "if-match").any(|value| {
        trim(value) == b"*"
            || EntityTags::new(value)
                .map_while(Result::ok)
                .any(|t| !t.weak && t.opaque == etag)
    })
}

/// `If-None-Match` (section 13.1.2) *matches* (its condition is false) for `*` or any listed
/// tag weakly equal to ours.
fn if_none_match_matches(headers: &[httparse::Header<'_>], etag: &[u8]) -> bool {
    fields(headers, "if-none-match").any(|value| {
        trim(value) == b"*"
            || EntityTags::new(value)
                .map_while(Result::ok)
                .any(|t| t.opaque == etag)
    })
}

fn fields<'h, 'b: 'h>(
    headers: &'h [httparse::Header<'b>],
    name: &'h str,
) -> impl Iterator<Item = &'b [u8]> + 'h {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

fn has(headers: &[httparse::Header<'_>], name: &str) -> bool {
    fields(headers, name).next().is_some()
}

/// The date of a field that must appear once; `None` when absent, repeated or unparseable.
fn single_date(headers: &[httparse::Header<'_>], name: &str) -> Option<i64> {
    let mut values = fields(headers, name);
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    parse_date(value)
}

/// An HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms, section 5.6.7) as Unix
/// seconds.
fn parse_date(value: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(trim(value)).ok()?;
    if !rfc850_space_ok(text.as_bytes()) {
        return None;
    }
    if let Ok(t) = httpdate::parse_http_date(text) {
        return Some(unix_secs(t));
    }
    before_1970(text)
}

/// `httpdate` (1.0.3) takes any byte for the space between date and time of an RFC 850 date
/// (`Sunday, 06-Nov-94A08:49:37 GMT`); such a value is not an HTTP-date and must be ignored.
/// Only the RFC 850 form has dashes; there the space is the 13th byte from the end
/// (`-94 08:49:37 GMT`).
fn rfc850_space_ok(text: &[u8]) -> bool {
    !text.contains(&b'-') || text.len() >= 13 && text[text.len() - 13] == b' '
}

/// Seconds in 400 Gregorian years, after which the calendar repeats, weekdays included.
const GREGORIAN_CYCLE_SECS: i64 = 146_097 * 86_400;

/// An IMF-fixdate or asctime date with a year before 1970, which `httpdate` refuses though it is
/// a valid HTTP-date (a file can be older; `If-Unmodified-Since` must then fail): the same date
/// `400 * k` years later, parsed, moved back. RFC 850 years are two digits, never before 1970.
fn before_1970(text: &str) -> Option<i64> {
    let year_at = match text.len() {
        29 => 12, // `Sun, 06 Nov 1994 08:49:37 GMT`
        24 => 20, // `Sun Nov  6 08:49:37 1994`
        _ => return None,
    };
    let digits = text.get(year_at..year_at + 4)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i64 = digits.parse().ok()?;
    if year >= 1970 {
        return None;
    }
    let cycles = (1970 - year + 399) / 400;
    let later = format!(
        "{}{:04}{}",
        &text[..year_at],
        year + 400 * cycles,
        &text[year_at + 4..]
    );
    let t = httpdate::parse_http_date(&later).ok()?;
    Some(unix_secs(t) - cycles * GREGORIAN_CYCLE_SECS)
}

/// Whole seconds since the Unix epoch, rounded down (negative before it).
fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let d = e.duration();
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            if d.subsec_nanos() > 0 {
                -secs - 1
            } else {
                -secs
            }
        }
    }
}

fn trim(s: &[u8]) -> &[u8] {
    super::range::trim_ows(s)
}

/// One entity-tag of a list (section 8.8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct EntityTag<'a> {
    weak: bool,
    /// The opaque-tag, quotes included.
    opaque: &'a [u8],
}

/// The entity-tags of a `#entity-tag` list; yields `Err(())` once at the first malformed
/// element and then stops.
struct EntityTags<'a> {
    rest: &'a [u8],
}

impl<'a> EntityTags<'a> {
    fn new(list: &'a [u8]) -> Self {
        EntityTags { rest: list }
    }
}

impl<'a> Iterator for EntityTags<'a> {
    type Item = Result<EntityTag<'a>, ()>;

    fn next(&mut self) -> Option<Self::Item> {
        let start = self
            .rest
            .iter()
            .position(|&b| !matches!(b, b' ' | b'\t' | b','))?;
        let mut s = &self.rest[start..];
        let weak = s.starts_with(b"W/");
        if weak {
            s = &s[2..];
        }
        let fail = |this: &mut Self| {
            this.rest = &[];
            Some(Err(()))
        };
        if s.first() != Some(&b'"') {
            return fail(self);
        }
        let Some(close) = s[1..].iter().position(|&b| b == b'"') else {
            return fail(self);
        };
        let opaque = &s[..close + 2];
        // etagc: %x21 / %x23-7E / obs-text
        if opaque[1..opaque.len() - 1]
            .iter()
            .any(|&b| b < 0x21 || b == 0x7f)
        {
            return fail(self);
        }
        let after = &s[close + 2..];
        let next = trim(after.split(|&b| b == b',').next().unwrap_or(&[]));
        if !next.is_empty() {
            return fail(self);
        }
        self.rest = after;
        Some(Ok(EntityTag { weak, opaque }))
    }
}

#[cfg(test)]
#[path = "conditional_tests.rs"]
mod tests;
