//! The conditional-request evaluators (`sluice::http::conditional`): `evaluate` (`If-Match`,
//! `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since` in the order of RFC 9110 section
//! 13.2.2), `if_range_holds` (section 13.1.5) and the `ETag` writer.
//!
//! Input: `[flags] [inode] [size] [suffix] field*`. Flags: bits 0-1 the current entity-tag
//! (`"abc"`, `""`, `"a,b"`, or `ETag::for_file` of the next three bytes), bit 2 GET/HEAD, bits 3-4
//! how long ago the file changed (for `If-Range`), bits 5-7 its `Last-Modified` from a table
//! (sub-second, on the second, the epoch, before it, year 9999, 1960). Each field is a name
//! selector byte (bit 3: lower case) then its value up to `\n`; a value `@ [form] [delta] rest`
//! becomes an HTTP-date `delta` seconds (or hours, or years) from `Last-Modified` in IMF-fixdate,
//! RFC 850 or asctime form (or IMF with the wrong weekday), followed by `rest`.
//!
//! Oracle: a reference from RFC 9110 sections 8.8.3 (entity-tags, weak and strong comparison),
//! 5.6.1 (lists, empty elements allowed), 5.6.7 (HTTP-date, each form parsed by its own strict
//! grammar, the day checked against the calendar) and 13.1-13.2, with the module's documented
//! decisions (a malformed element ends the list; a date field sent twice or unparseable is
//! ignored; `If-Range` takes a date only if it equals `Last-Modified` and that is a second old;
//! years before 1970 are dates too).
//! `evaluate` and `if_range_holds` must agree with it; in particular a weak tag never satisfies
//! `If-Match` or `If-Range`, and `*` makes `If-Match` true and `If-None-Match` false. Dates the
//! reference finds ambiguous (RFC 850 years 70 to 89, leap seconds, a wrong weekday) are not
//! judged. Every `ETag::for_file` is one strong entity-tag of at most `ETAG_MAX` bytes that
//! satisfies `If-Match` and `If-Range` and, weakened, `If-None-Match`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice::http::conditional::{
    evaluate, if_range_holds, ETag, Precondition, Validators, ETAG_MAX,
};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const NAMES: [&str; 6] = [
    "If-Match",
    "If-None-Match",
    "If-Modified-Since",
    "If-Unmodified-Since",
    "If-Range",
    "Accept",
];
const NAMES_LOWER: [&str; 6] = [
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "if-range",
    "accept",
];
const SUFFIXES: [&str; 4] = ["", "gz", "br", "longsuffixcut"];
/// Seconds after the epoch (negative before it) and nanoseconds of the `Last-Modified` table.
const MODIFIED: [(i64, u32); 8] = [
    (784_111_777, 500_000_000),
    (784_111_777, 0),
    (0, 0),
    (0, 1),
    (-2, 500_000_000),
    (253_402_300_799, 999_999_999),
    (1_700_000_000, 123_000_000),
    (-315_619_200, 0),
];
/// How long ago the file changed when `If-Range` is evaluated.
const AGES: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(999),
    Duration::from_secs(1),
    Duration::from_secs(86_400),
];

fuzz_target!(|input: &[u8]| {
    let Some((&[flags, inode, size, suffix], rest)) = input.split_first_chunk::<4>() else {
        return;
    };
    let (secs, nanos) = MODIFIED[usize::from(flags >> 5)];
    let modified = time(secs, nanos);
    let made;
    let etag: &[u8] = match flags & 3 {
        0 => b"\"abc\"",
        1 => b"\"\"",
        2 => b"\"a,b\"",
        _ => {
            made = ETag::for_file(
                u64::from(inode),
                u64::from(size),
                modified,
                SUFFIXES[usize::from(suffix & 3)],
            );
            check_etag(&made, modified);
            made.as_bytes()
        }
    };
    let get_or_head = flags & 4 != 0;
    let now = modified + AGES[usize::from(flags >> 3) & 3];
    let v = Validators {
        etag,
        last_modified: modified,
    };

    let mut values: Vec<(usize, bool, Vec<u8>)> = Vec::new();
    for field in rest.split(|&b| b == b'\n').take(8) {
        let Some((&selector, value)) = field.split_first() else {
            continue;
        };
        let value = match value.strip_prefix(b"@") {
            Some([form, delta, tail @ ..]) => {
                [date_text(secs, *form, *delta as i8).as_slice(), tail].concat()
            }
            _ => value.to_vec(),
        };
        // What httparse lets through in a field value: HTAB, SP, VCHAR, obs-text.
        if !value
            .iter()
            .all(|&b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80)
        {
            return;
        }
        values.push((
            usize::from(selector) % NAMES.len(),
            selector & 8 != 0,
            value,
        ));
    }
    let headers: Vec<httparse::Header<'_>> = values
        .iter()
        .map(|(i, lower, value)| httparse::Header {
            name: if *lower { NAMES_LOWER[*i] } else { NAMES[*i] },
            value,
        })
        .collect();
    let shown = || {
        headers
            .iter()
            .map(|h| format!("{}: {}", h.name, h.value.escape_ascii()))
            .collect::<Vec<_>>()
    };

    let got = evaluate(&headers, get_or_head, &v);
    if let Some(want) = reference(&headers, get_or_head, etag, secs) {
        assert_eq!(
            got,
            want,
            "{:?}, etag {}, Last-Modified {secs}.{nanos:09}, GET/HEAD {get_or_head}",
            shown(),
            etag.escape_ascii()
        );
    }
    // Whatever the dates say, a false If-Match is 412.
    let im: Vec<&[u8]> = field_values(&headers, 0).collect();
    if !im.is_empty() && !im.iter().any(|f| if_match_field(f, etag)) {
        assert_eq!(got, Precondition::Failed, "{:?}", shown());
    }

    for h in headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("if-range"))
    {
        if let Some(want) = if_range_reference(h.value, etag, secs, now >= modified + AGES[2]) {
            assert_eq!(
                if_range_holds(h.value, &v, now),
                want,
                "If-Range: {}, etag {}, Last-Modified {secs}.{nanos:09}, age {:?}",
                h.value.escape_ascii(),
                etag.escape_ascii(),
                now.duration_since(modified)
            );
        }
    }
});

fn time(secs: i64, nanos: u32) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs.unsigned_abs(), nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nanos.into())
    }
}

/// An `ETag::for_file` is one strong entity-tag within `ETAG_MAX` that matches itself strongly.
fn check_etag(tag: &ETag, modified: SystemTime) {
    let t = tag.as_bytes();
    assert!(t.len() <= ETAG_MAX, "{}", t.escape_ascii());
    let (tags, malformed) = entity_tags(t);
    assert!(!malformed && tags == [(false, t)], "{}", t.escape_ascii());
    let v = Validators {
        etag: t,
        last_modified: modified,
    };
    let weak = [b"W/", t].concat();
    let h = |name, value| [httparse::Header { name, value }];
    assert_eq!(evaluate(&h("If-Match", t), true, &v), Precondition::Proceed);
    assert_eq!(
        evaluate(&h("If-Match", &weak), true, &v),
        Precondition::Failed
    );
    assert_eq!(
        evaluate(&h("If-None-Match", &weak), true, &v),
        Precondition::NotModified
    );
    assert!(if_range_holds(t, &v, modified));
    assert!(!if_range_holds(
        &weak,
        &v,
        modified + Duration::from_secs(9)
    ));
}

/// What `evaluate` must return (RFC 9110 section 13.2.2), or `None` where a date is ambiguous.
fn reference(
    headers: &[httparse::Header<'_>],
    get_or_head: bool,
    etag: &[u8],
    modified: i64,
) -> Option<Precondition> {
    let if_match: Vec<&[u8]> = field_values(headers, 0).collect();
    let if_none_match: Vec<&[u8]> = field_values(headers, 1).collect();
    // Steps 1 and 2.
    if !if_match.is_empty() {
        if !if_match.iter().any(|f| if_match_field(f, etag)) {
            return Some(Precondition::Failed);
        }
    } else if let Some(date) = single_date(headers, 3)? {
        if modified > date {
            return Some(Precondition::Failed);
        }
    }
    // Steps 3 and 4.
    if !if_none_match.is_empty() {
        let matched = if_none_match
            .iter()
            .any(|f| trim(f) == b"*" || entity_tags(f).0.iter().any(|&(_, opaque)| opaque == etag));
        if matched {
            return Some(if get_or_head {
                Precondition::NotModified
            } else {
                Precondition::Failed
            });
        }
    } else if get_or_head {
        if let Some(date) = single_date(headers, 2)? {
            if modified <= date {
                return Some(Precondition::NotModified);
            }
        }
    }
    Some(Precondition::Proceed)
}

/// One `If-Match` field holds: `*`, or a listed strong tag equal to ours (strong comparison).
fn if_match_field(field: &[u8], etag: &[u8]) -> bool {
    trim(field) == b"*"
        || entity_tags(field)
            .0
            .iter()
            .any(|&(weak, opaque)| !weak && opaque == etag)
}

/// What `if_range_holds` must return: an entity-tag must be the only element and strongly
/// equal; a date must equal `Last-Modified` (in whole seconds) of a file changed at least a
/// second ago. `None` for an ambiguous date.
fn if_range_reference(field: &[u8], etag: &[u8], modified: i64, settled: bool) -> Option<bool> {
    let field = trim(field);
    if field.first() == Some(&b'"') || field.starts_with(b"W/") {
        let (tags, malformed) = entity_tags(field);
        return Some(!malformed && tags == [(false, etag)]);
    }
    match date(field) {
        Date::At(d) => Some(d == modified && settled),
        Date::Not => Some(false),
        Date::Ambiguous => None,
    }
}

/// The values of the fields named `NAMES[i]`, any case.
fn field_values<'a>(
    headers: &'a [httparse::Header<'a>],
    i: usize,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .iter()
        .filter(move |h| h.name.eq_ignore_ascii_case(NAMES[i]))
        .map(|h| h.value)
}

/// The date of a field sent exactly once: `Some(None)` when absent, repeated or not a date,
/// `None` when ambiguous.
fn single_date(headers: &[httparse::Header<'_>], i: usize) -> Option<Option<i64>> {
    let values: Vec<&[u8]> = field_values(headers, i).collect();
    if values.len() != 1 {
        return Some(None);
    }
    match date(trim(values[0])) {
        Date::At(d) => Some(Some(d)),
        Date::Not => Some(None),
        Date::Ambiguous => None,
    }
}

/// The elements of a `#entity-tag` list (RFC 9110 sections 5.6.1 and 8.8.3) up to the first
/// malformed one, as (weak, opaque-tag with its quotes), and whether there was one. A scanner
/// over the grammar, one byte at a time:
/// `entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE`, `etagc = %x21 / %x23-7E / obs-text`.
fn entity_tags(v: &[u8]) -> (Vec<(bool, &[u8])>, bool) {
    /// Where the scanner is; a tag counts once the element ends (`,` or the end of the value).
    #[derive(Clone, Copy)]
    enum S<'a> {
        Between,
        W,
        Slash,
        Opaque { start: usize, weak: bool },
        After((bool, &'a [u8])),
    }
    let mut tags = Vec::new();
    let mut s = S::Between;
    for (i, &b) in v.iter().enumerate() {
        s = match (s, b) {
            (S::Between, b' ' | b'\t' | b',') => S::Between,
            (S::Between, b'W') => S::W,
            (S::Between, b'"') => S::Opaque {
                start: i,
                weak: false,
            },
            (S::W, b'/') => S::Slash,
            (S::Slash, b'"') => S::Opaque {
                start: i,
                weak: true,
            },
            (S::Opaque { start, weak }, b'"') => S::After((weak, &v[start..=i])),
            (S::Opaque { .. }, 0x21 | 0x23..=0x7e | 0x80..=0xff) => s,
            (S::After(_), b' ' | b'\t') => s,
            (S::After(tag), b',') => {
                tags.push(tag);
                S::Between
            }
            _ => return (tags, true),
        };
    }
    match s {
        S::After(tag) => {
            tags.push(tag);
            (tags, false)
        }
        S::Between => (tags, false),
        _ => (tags, true),
    }
}

enum Date {
    /// Seconds since the epoch.
    At(i64),
    Not,
    Ambiguous,
}

const DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
const LONG_DAYS: [&[u8]; 7] = [
    b"Monday",
    b"Tuesday",
    b"Wednesday",
    b"Thursday",
    b"Friday",
    b"Saturday",
    b"Sunday",
];
const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// An HTTP-date (RFC 9110 section 5.6.7): `IMF-fixdate = day-name "," SP day SP month SP year
/// SP time-of-day SP "GMT"`, `rfc850-date = day-name-l "," SP day "-" month "-" 2DIGIT SP
/// time-of-day SP "GMT"`, `asctime-date = day-name SP month SP ( 2DIGIT / ( SP DIGIT ) ) SP
/// time-of-day SP year`; names case-sensitive; the day must exist and the day name match it.
fn date(s: &[u8]) -> Date {
    // The grammar is ASCII only.
    let text = match std::str::from_utf8(s) {
        Ok(t) if t.is_ascii() => t,
        _ => return Date::Not,
    };
    let parts: Vec<&str> = text.split(' ').collect();
    let parsed = match parts.as_slice() {
        [wd, day, mon, year, tod, "GMT"] if wd.len() == 4 && wd.ends_with(',') => {
            let year = digits(year, 4);
            (
                day_name(&wd[..3], &DAYS),
                digits(day, 2),
                month(mon),
                year,
                tod,
                false,
            )
        }
        [wd, dmy, tod, "GMT"] if wd.ends_with(',') && dmy.len() == 9 => {
            let (day, mon, yy) = (&dmy[..2], &dmy[3..6], digits(&dmy[7..], 2));
            if &dmy[2..3] != "-" || &dmy[6..7] != "-" {
                return Date::Not;
            }
            let year = match yy {
                Some(y @ 0..=69) => Some(2000 + y),
                Some(70..=89) => return Date::Ambiguous,
                Some(y) => Some(1900 + y),
                None => None,
            };
            let wd = day_name(&wd[..wd.len() - 1], &LONG_DAYS);
            (wd, digits(day, 2), month(mon), year, tod, false)
        }
        [wd, mon, "", day, tod, year] if day.len() == 1 => (
            day_name(wd, &DAYS),
            digits(day, 1),
            month(mon),
            digits(year, 4),
            tod,
            true,
        ),
        [wd, mon, day, tod, year] if day.len() == 2 => (
            day_name(wd, &DAYS),
            digits(day, 2),
            month(mon),
            digits(year, 4),
            tod,
            true,
        ),
        _ => return Date::Not,
    };
    let (Some(wd), Some(day), Some(mon), Some(year), tod, _) = parsed else {
        return Date::Not;
    };
    let t: Vec<Option<i64>> = tod.split(':').map(|p| digits(p, 2)).collect();
    let [Some(h), Some(mi), Some(sec)] = t.as_slice() else {
        return Date::Not;
    };
    let (h, mi, sec) = (*h, *mi, *sec);
    if h > 23 || mi > 59 || sec > 60 || day < 1 || day > days_in_month(year, mon) {
        return Date::Not;
    }
    if sec == 60 {
        return Date::Ambiguous; // a leap second
    }
    let days = days_from_civil(year, mon, day);
    if weekday(days) != wd {
        return Date::Ambiguous;
    }
    Date::At(days * 86_400 + h * 3600 + mi * 60 + sec)
}

fn digits(s: &str, n: usize) -> Option<i64> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

fn day_name(s: &str, names: &[&[u8]; 7]) -> Option<usize> {
    names.iter().position(|n| *n == s.as_bytes())
}

fn month(s: &str) -> Option<i64> {
    MONTHS
        .iter()
        .position(|m| *m == s.as_bytes())
        .map(|m| m as i64 + 1)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date, counted day by day from a year start.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let year_days = |y: i64| if is_leap(y) { 366 } else { 365 };
    let mut days = 0;
    if y >= 1970 {
        days += (1970..y).map(year_days).sum::<i64>();
    } else {
        days -= (y..1970).map(year_days).sum::<i64>();
    }
    days + (1..m).map(|mm| days_in_month(y, mm)).sum::<i64>() + d - 1
}

/// Monday = 0 (1970-01-01 was a Thursday).
fn weekday(days: i64) -> usize {
    (days + 3).rem_euclid(7) as usize
}

/// The date `delta` units from `secs` as text: form bits 0-1 IMF-fixdate, RFC 850, asctime,
/// IMF-fixdate with the next day's name; bits 2-3 the unit (second, hour, 365 days, none).
fn date_text(secs: i64, form: u8, delta: i8) -> Vec<u8> {
    let unit = [1, 3600, 365 * 86_400, 0][usize::from(form >> 2) & 3];
    let t = secs + i64::from(delta) * unit;
    let (days, rem) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // civil from days, by walking years and months (slow but plain)
    let mut y = 1970;
    let mut d = days;
    while d < 0 {
        y -= 1;
        d += if is_leap(y) { 366 } else { 365 };
    }
    while d >= if is_leap(y) { 366 } else { 365 } {
        d -= if is_leap(y) { 366 } else { 365 };
        y += 1;
    }
    let mut m = 1;
    while d >= days_in_month(y, m) {
        d -= days_in_month(y, m);
        m += 1;
    }
    let day = d + 1;
    let wd = weekday(days) + usize::from(form & 3 == 3);
    let (h, mi, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    let mon = std::str::from_utf8(MONTHS[m as usize - 1]).unwrap_or("?");
    let short = std::str::from_utf8(DAYS[wd % 7]).unwrap_or("?");
    let long = std::str::from_utf8(LONG_DAYS[wd % 7]).unwrap_or("?");
    match form & 3 {
        1 => format!(
            "{long}, {day:02}-{mon}-{:02} {h:02}:{mi:02}:{s:02} GMT",
            y.rem_euclid(100)
        ),
        2 => format!("{short} {mon} {day:>2} {h:02}:{mi:02}:{s:02} {y:04}"),
        _ => format!("{short}, {day:02} {mon} {y:04} {h:02}:{mi:02}:{s:02} GMT"),
    }
    .into_bytes()
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
