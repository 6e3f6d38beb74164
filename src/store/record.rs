//! How a request body becomes records in a device file (README.md, "Device ingestion").
//!
//! With `--framing lines` (the default) a record is a line: the body is split at `\n`, `\r\n`
//! and lone `\r`; every non-empty line is stored followed by exactly one `\n` (so a missing
//! final line break is added and empty lines are dropped); a body without any record is refused.
//! With `--framing raw` the body is one record, stored byte for byte. `--timestamp` prefixes
//! every record of a body with the body's receive time (RFC 3339, UTC, milliseconds) and a space.
use crate::observe::access_log::civil_from_days;
use std::time::{SystemTime, UNIX_EPOCH};

/// How bodies are cut into records (`--framing`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Framing {
    /// A record is a line; line ends become `\n`, empty lines are dropped.
    #[default]
    Lines,
    /// A body is one record, stored byte for byte (binary bodies).
    Raw,
}

/// The record format chosen by `--framing` and `--timestamp`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordFormat {
    pub framing: Framing,
    /// Every record starts with `YYYY-MM-DDTHH:MM:SS.mmmZ `.
    pub timestamp: bool,
}

impl RecordFormat {
    /// Whether `body` holds at least one record: a non-empty line, or with raw framing any
    /// byte at all.
    pub fn has_record(&self, body: &[u8]) -> bool {
        match self.framing {
            Framing::Raw => !body.is_empty(),
            Framing::Lines => body.iter().any(|&b| b != b'\n' && b != b'\r'),
        }
    }

    /// Appends the records of `body`, received at `now`, to `out`, and the end of each record
    /// within `out` to `ends`. Returns the number of records.
    pub fn append(
        &self,
        out: &mut Vec<u8>,
        ends: &mut Vec<usize>,
        body: &[u8],
        now: SystemTime,
    ) -> u64 {
        // The stamp is written once, before the first record, and copied before the others.
        let stamp_at = out.len();
        if self.timestamp {
            push_rfc3339_millis(out, now);
            out.push(b' ');
        }
        let stamp = stamp_at..out.len();
        match self.framing {
            Framing::Raw => {
                out.extend_from_slice(body);
                ends.push(out.len());
                1
            }
            Framing::Lines => {
                let mut records = 0;
                for line in lines(body) {
                    if records > 0 {
                        out.extend_from_within(stamp.clone());
                    }
                    out.extend_from_slice(line);
                    out.push(b'\n');
                    ends.push(out.len());
                    records += 1;
                }
                if records == 0 {
                    out.truncate(stamp_at);
                }
                records
            }
        }
    }
}

/// The non-empty lines of `body`, split at `\n`, `\r\n` and lone `\r`.
fn lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    // memchr2 finds the line ends a vector at a time; a byte-by-byte split cost about 8
    // instructions per byte of every body (benches/README.md, "Per-request counts").
    let mut rest = body;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let end = memchr::memchr2(b'\n', b'\r', rest).unwrap_or(rest.len());
        let line = &rest[..end];
        rest = &rest[(end + 1).min(rest.len())..];
        if !line.is_empty() {
            return Some(line);
        }
    })
}

/// Length of `2026-11-22T16:40:00.123Z`.
pub const TIMESTAMP_LEN: usize = 24;

/// Appends `now` as `YYYY-MM-DDTHH:MM:SS.mmmZ` without allocating.
pub fn push_rfc3339_millis(out: &mut Vec<u8>, now: SystemTime) {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    push_padded(out, year.clamp(0, 9999) as u64, 4);
    out.push(b'-');
    push_padded(out, u64::from(month), 2);
    out.push(b'-');
    push_padded(out, u64::from(day), 2);
    out.push(b'T');
    push_padded(out, rem / 3600, 2);
    out.push(b':');
    push_padded(out, rem / 60 % 60, 2);
    out.push(b':');
    push_padded(out, rem % 60, 2);
    out.push(b'.');
    push_padded(out, u64::from(since.subsec_millis()), 3);
    out.push(b'Z');
}

/// The time of a record's `--timestamp` prefix (`YYYY-MM-DDTHH:MM:SS.mmmZ `), and the record
/// after it; `None` when the record does not start with one.
pub fn split_rfc3339_millis(record: &[u8]) -> Option<(SystemTime, &[u8])> {
    let stamp = record.get(..25)?;
    let digits = |range: std::ops::Range<usize>| -> Option<u64> {
        let part = &stamp[range];
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |n, &d| n * 10 + u64::from(d - b'0')))
    };
    let shape = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ];
    if shape.iter().any(|&(i, b)| stamp[i] != b) || &stamp[23..] != b"Z " {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let millis = digits(20..23)?;
    let valid = (1..=12).contains(&month) && (1..=31).contains(&day);
    if !valid || hour > 23 || minute > 59 || second > 60 || year < 1970 {
        return None;
    }
    let days = days_from_civil(year as i64, month as u32, day as u32);
    let secs = days as u64 * 86_400 + hour * 3600 + minute * 60 + second;
    let time = UNIX_EPOCH + std::time::Duration::from_millis(secs * 1000 + millis);
    Some((time, &record[25..]))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse of `civil_from_days`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Appends `n` in decimal, zero-padded to `width` digits (at most 4).
fn push_padded(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [b'0'; 4];
    for d in digits[..width].iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&digits[..width]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn timestamps_are_rfc3339_utc_millis() {
        let mut out = Vec::new();
        push_rfc3339_millis(&mut out, at(1_795_365_600_007));
        assert_eq!(out, b"2026-11-22T16:40:00.007Z");
        assert_eq!(out.len(), TIMESTAMP_LEN);
    }

    #[test]
    fn timestamps_read_back_as_they_were_written() {
        for ms in [0, 951_782_400_999, 1_795_365_600_007, 4_107_542_399_999] {
            let mut record = Vec::new();
            push_rfc3339_millis(&mut record, at(ms));
            record.extend_from_slice(b" t=1");
            assert_eq!(
                split_rfc3339_millis(&record),
                Some((at(ms), &b"t=1"[..])),
                "{ms}"
            );
        }
        for bad in [
            &b"2026-11-22T16:40:00.007Z"[..], // no space after it
            b"2026-13-22T16:40:00.007Z t=1",
            b"2026-11-22T24:40:00.007Z t=1",
            b"2026-11-22 16:40:00.007Z t=1",
            b"2026-11-22T16:40:00,007Z t=1",
            b"t=1",
        ] {
            assert_eq!(split_rfc3339_millis(bad), None);
        }
    }

    fn records(format: RecordFormat, body: &[u8]) -> (Vec<u8>, Vec<usize>, u64) {
        let (mut out, mut ends) = (b"prev".to_vec(), Vec::new());
        let n = format.append(&mut out, &mut ends, body, at(0));
        (out[4..].to_vec(), ends.iter().map(|e| e - 4).collect(), n)
    }

    const LINES: RecordFormat = RecordFormat {
        framing: Framing::Lines,
        timestamp: false,
    };

    #[test]
    fn a_record_is_a_line() {
        let cases: [(&[u8], &[u8], &[usize]); 9] = [
            (b"t=21.5", b"t=21.5\n", &[7]),
            (b"t=21.5\n", b"t=21.5\n", &[7]),
            (b"a\r\nb\r\n", b"a\nb\n", &[2, 4]),
            (b"a\rb", b"a\nb\n", &[2, 4]),
            (b"a\n\n\nb\n\n", b"a\nb\n", &[2, 4]),
            (b"\r\n\r\na", b"a\n", &[2]),
            (b" \n", b" \n", &[2]),
            (b"\x00\xff", b"\x00\xff\n", &[3]),
            (b"x\n\r\ny", b"x\ny\n", &[2, 4]),
        ];
        for (body, want, ends) in cases {
            let (out, got_ends, n) = records(LINES, body);
            assert_eq!(out, want, "{body:?}");
            assert_eq!(got_ends, ends, "{body:?}");
            assert_eq!(n, ends.len() as u64);
            assert!(LINES.has_record(body));
        }
    }

    #[test]
    fn a_body_without_a_line_has_no_record() {
        for body in [&b""[..], b"\n", b"\r\n\r\n", b"\r"] {
            assert!(!LINES.has_record(body), "{body:?}");
            assert_eq!(records(LINES, body), (Vec::new(), Vec::new(), 0));
        }
    }

    #[test]
    fn raw_framing_keeps_the_bytes() {
        let raw = RecordFormat {
            framing: Framing::Raw,
            timestamp: false,
        };
        assert!(!raw.has_record(b""), "an empty body holds no record");
        for body in [&b"t=21.5"[..], b"a\r\n\n\nb", b"\n"] {
            assert!(raw.has_record(body));
            assert_eq!(records(raw, body), (body.to_vec(), vec![body.len()], 1));
        }
    }

    #[test]
    fn every_record_of_a_body_gets_the_body_time() {
        let stamped = RecordFormat {
            framing: Framing::Lines,
            timestamp: true,
        };
        let (out, ends, n) = records(stamped, b"a\r\nb");
        assert_eq!(
            out,
            b"1970-01-01T00:00:00.000Z a\n1970-01-01T00:00:00.000Z b\n".to_vec()
        );
        assert_eq!((ends, n), (vec![27, 54], 2));
        let raw = RecordFormat {
            framing: Framing::Raw,
            timestamp: true,
        };
        assert_eq!(records(raw, b"x").0, b"1970-01-01T00:00:00.000Z x".to_vec());
    }
}
