//! Rate-limited log lines: a condition that repeats (every write failing on a full disk) logs
//! one line per interval, and the next line says how many were suppressed meanwhile, instead of
//! flooding the log (64,388 lines in 3 s on a full disk before).
use std::time::{Duration, Instant};

/// One log line per `interval` for one kind of event.
#[derive(Debug)]
pub struct Throttle {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    pub const fn new(interval: Duration) -> Throttle {
        Throttle {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// Whether the event at `now` may be logged: `Some(n)`, with `n` events suppressed since the
    /// last line, or `None` (counted as suppressed).
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < self.interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// At most one log line per key (a peer address, a host name) per interval; remembers at most
/// `MAX_THROTTLED_KEYS` keys (then starts over), so a flood of distinct keys stays bounded.
#[derive(Debug)]
pub struct PerKey<K> {
    interval: Duration,
    last: std::collections::HashMap<K, Instant>,
}

impl<K: std::hash::Hash + Eq> PerKey<K> {
    pub fn new(interval: Duration) -> PerKey<K> {
        PerKey {
            interval,
            last: std::collections::HashMap::new(),
        }
    }

    /// Whether an event for `key` at `now` may be logged. The key is copied only when a line
    /// is logged.
    pub fn allow<Q>(&mut self, key: &Q, now: Instant) -> bool
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        if let Some(last) = self.last.get(key) {
            if now.duration_since(*last) < self.interval {
                return false;
            }
        }
        if self.last.len() >= crate::limits::MAX_THROTTLED_KEYS {
            self.last.clear();
        }
        self.last.insert(key.to_owned(), now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_then_the_count_of_the_rest() {
        let mut t = Throttle::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(t.allow(t0), Some(0));
        for ms in 1..=999 {
            assert_eq!(t.allow(t0 + Duration::from_millis(ms)), None);
        }
        assert_eq!(t.allow(t0 + Duration::from_secs(1)), Some(999));
        assert_eq!(t.allow(t0 + Duration::from_millis(1500)), None);
        assert_eq!(t.allow(t0 + Duration::from_secs(3)), Some(1));
    }

    #[test]
    fn one_line_per_key_per_interval() {
        let mut t: PerKey<String> = PerKey::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(t.allow("a", t0));
        assert!(t.allow("b", t0), "another key has its own line");
        assert!(!t.allow("a", t0 + Duration::from_secs(59)));
        assert!(t.allow("a", t0 + Duration::from_secs(60)));
    }
}
