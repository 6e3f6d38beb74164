//! The cached `Date` header value (RFC 9110 section 6.6.1): formatted once per second, not per
//! response.
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const IMF_FIXDATE_LEN: usize = 29;

/// An IMF-fixdate that is refreshed at most once per second.
#[derive(Debug, Clone)]
pub struct DateCache {
    second: u64,
    text: [u8; IMF_FIXDATE_LEN],
}

impl DateCache {
    /// A cache holding the current time.
    pub fn new() -> Self {
        let mut cache = DateCache {
            second: u64::MAX,
            text: [b' '; IMF_FIXDATE_LEN],
        };
        cache.update(SystemTime::now());
        cache
    }

    /// Reformats if `now` is in a different second from the cached value. Cheap otherwise.
    pub fn update(&mut self, now: SystemTime) {
        let second = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if second == self.second {
            return;
        }
        self.second = second;
        self.text = imf_fixdate(second);
    }

    /// The current value, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.text
    }
}

/// Latest instant an IMF-fixdate can show: 9999-12-31 23:59:59 UTC.
const MAX_HTTP_DATE_SECS: u64 = 253_402_300_799;

/// Appends `t` as an IMF-fixdate (e.g. for `Last-Modified`), without allocating. Times before
/// 1970 are written as the epoch and times after the year 9999 as its last second: httpdate
/// cannot represent (and would panic on) either, and a file's timestamp can be anything.
pub fn write_http_date(out: &mut Vec<u8>, t: SystemTime) {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    out.extend_from_slice(&imf_fixdate(secs));
}

/// `secs` after the epoch as an IMF-fixdate (RFC 9110 section 5.6.7), clamped to the year 9999.
/// Written by hand rather than through `httpdate`'s `Display`: this runs for every file response
/// (`Last-Modified`), and the formatting machinery cost more than the rest of the head.
pub fn imf_fixdate(secs: u64) -> [u8; IMF_FIXDATE_LEN] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let secs = secs.min(MAX_HTTP_DATE_SECS);
    let days = secs / 86_400;
    let (year, month, day) = civil_from_days(days);
    let second_of_day = secs % 86_400;
    let mut text = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    text[..3].copy_from_slice(DAYS[(days % 7) as usize]);
    two_digits(&mut text[5..7], day);
    text[8..11].copy_from_slice(MONTHS[month as usize - 1]);
    two_digits(&mut text[12..14], year / 100);
    two_digits(&mut text[14..16], year % 100);
    two_digits(&mut text[17..19], second_of_day / 3600);
    two_digits(&mut text[20..22], second_of_day / 60 % 60);
    two_digits(&mut text[23..25], second_of_day % 60);
    text
}

/// The proleptic Gregorian date `days` after 1970-01-01: (year, month 1-12, day 1-31). Counts
/// from 0000-03-01 so that the leap day ends a year, then splits 400-year eras (146,097 days),
/// centuries, four-year cycles and years.
pub fn civil_from_days(days: u64) -> (u64, u64, u64) {
    const DAYS_0000_03_01_TO_1970: u64 = 719_468;
    let z = days + DAYS_0000_03_01_TO_1970;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

fn two_digits(out: &mut [u8], n: u64) {
    out[0] = b'0' + (n / 10 % 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

impl Default for DateCache {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_imf_fixdate_and_refreshes_per_second() {
        let mut cache = DateCache::new();
        cache.update(UNIX_EPOCH + Duration::from_secs(784111777));
        assert_eq!(cache.as_bytes(), b"Sun, 06 Nov 1994 08:49:37 GMT");
        cache.update(UNIX_EPOCH + Duration::from_millis(784_111_777_900));
        assert_eq!(cache.as_bytes(), b"Sun, 06 Nov 1994 08:49:37 GMT");
        cache.update(UNIX_EPOCH + Duration::from_secs(784111778));
        assert_eq!(cache.as_bytes(), b"Sun, 06 Nov 1994 08:49:38 GMT");
    }

    #[test]
    fn imf_fixdate_agrees_with_httpdate_from_1970_to_9999() {
        let check = |secs: u64| {
            let expected = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
            assert_eq!(
                std::str::from_utf8(&imf_fixdate(secs)).unwrap(),
                expected,
                "{secs} s after the epoch"
            );
        };
        // Every day boundary of the first years, leap years (1972, 2000, 2400) and the last day.
        for day in 0..3 * 366 {
            check(day * 86_400);
            check(day * 86_400 + 86_399);
        }
        for secs in [951_782_400, 951_868_799, 13_574_563_200, MAX_HTTP_DATE_SECS] {
            check(secs);
        }
        // A stride through the whole range that lands on every time of day and weekday.
        let mut secs = 0;
        while secs <= MAX_HTTP_DATE_SECS {
            check(secs);
            secs += 10_000_019;
        }
    }

    #[test]
    fn http_dates_are_clamped_to_what_the_format_holds() {
        let date = |t: SystemTime| {
            let mut out = Vec::new();
            write_http_date(&mut out, t);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            date(UNIX_EPOCH + Duration::from_millis(784_111_777_900)),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            date(UNIX_EPOCH - Duration::from_secs(86_400 * 365 * 10)),
            "Thu, 01 Jan 1970 00:00:00 GMT"
        );
        assert_eq!(
            date(UNIX_EPOCH + Duration::from_secs(MAX_HTTP_DATE_SECS + 1_000_000)),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
    }
}
