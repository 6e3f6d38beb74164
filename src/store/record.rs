//! How a request body becomes a record in a device file: optionally prefixed with its receive
//! time (RFC 3339, UTC, milliseconds, then a space) and optionally ending in exactly one `\n`.
use crate::observe::access_log::civil_from_days;
use std::time::{SystemTime, UNIX_EPOCH};

/// The record framing chosen by `--timestamp` and `--newline`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordFormat {
    /// Every record ends with exactly one `\n` (trailing newlines of the body are replaced).
    pub newline: bool,
    /// Every record starts with `YYYY-MM-DDTHH:MM:SS.mmmZ `.
    pub timestamp: bool,
}

impl RecordFormat {
    /// Appends the record for `body`, received at `now`, to `out`.
    pub fn append(&self, out: &mut Vec<u8>, body: &[u8], now: SystemTime) {
        if self.timestamp {
            push_rfc3339_millis(out, now);
            out.push(b' ');
        }
        if self.newline {
            let end = body.iter().rposition(|&b| b != b'\n').map_or(0, |i| i + 1);
            out.extend_from_slice(&body[..end]);
            out.push(b'\n');
        } else {
            out.extend_from_slice(body);
        }
    }

    /// The length of the record `append` writes for `body`.
    pub fn record_len(&self, body: &[u8]) -> usize {
        let stamp = if self.timestamp { TIMESTAMP_LEN + 1 } else { 0 };
        let text = if self.newline {
            body.iter().rposition(|&b| b != b'\n').map_or(0, |i| i + 1) + 1
        } else {
            body.len()
        };
        stamp + text
    }
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

    #[test]
    fn framing_variants() {
        let now = at(0);
        let cases: [(RecordFormat, &[u8], &[u8]); 7] = [
            (RecordFormat::default(), b"t=21.5", b"t=21.5"),
            (RecordFormat::default(), b"t=21.5\n\n", b"t=21.5\n\n"),
            (
                RecordFormat {
                    newline: true,
                    timestamp: false,
                },
                b"t=21.5",
                b"t=21.5\n",
            ),
            (
                RecordFormat {
                    newline: true,
                    timestamp: false,
                },
                b"t=21.5\n\n\n",
                b"t=21.5\n",
            ),
            (
                RecordFormat {
                    newline: true,
                    timestamp: false,
                },
                b"",
                b"\n",
            ),
            (
                RecordFormat {
                    newline: false,
                    timestamp: true,
                },
                b"x",
                b"1970-01-01T00:00:00.000Z x",
            ),
            (
                RecordFormat {
                    newline: true,
                    timestamp: true,
                },
                b"a\nb\n",
                b"1970-01-01T00:00:00.000Z a\nb\n",
            ),
        ];
        for (format, body, want) in cases {
            let mut out = b"prev".to_vec();
            format.append(&mut out, body, now);
            assert_eq!(&out[4..], want, "{format:?} {body:?}");
            assert_eq!(format.record_len(body), want.len());
        }
    }
}
