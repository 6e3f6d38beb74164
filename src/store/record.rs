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
