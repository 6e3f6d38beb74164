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
        let formatted = httpdate::HttpDate::from(now).to_string();
        // httpdate always produces an IMF-fixdate of exactly this length for years 1970..=9999.
        if formatted.len() == IMF_FIXDATE_LEN {
            self.text.copy_from_slice(formatted.as_bytes());
        }
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
    use std::io::Write;
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let clamped = UNIX_EPOCH + std::time::Duration::from_secs(secs.min(MAX_HTTP_DATE_SECS));
    let _ = write!(out, "{}", httpdate::HttpDate::from(clamped));
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
