//! One field's recent past, bounded: the last [`HISTORY_RAW_POINTS`] raw points, and one
//! minimum, mean and maximum per minute for the last [`HISTORY_MINUTES`] minutes (about 40 KB
//! per field when full).
use crate::limits::{HISTORY_MINUTES, HISTORY_RAW_POINTS};
use std::collections::VecDeque;

/// A raw reading: milliseconds since the Unix epoch, and the value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub at_ms: i64,
    pub value: f64,
}

/// One minute's readings of a field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Minute {
    /// Minutes since the Unix epoch.
    pub minute: i64,
    pub min: f64,
    pub max: f64,
    sum: f64,
    pub count: u32,
}

impl Minute {
    pub fn mean(&self) -> f64 {
        self.sum / f64::from(self.count.max(1))
    }
}

#[derive(Debug, Default)]
pub struct History {
    raw: VecDeque<Point>,
    minutes: VecDeque<Minute>,
}

impl History {
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Adds a reading. Readings normally come in time order; one older than the newest minute
    /// is folded into the minute it belongs to if that is still kept, and otherwise only
    /// joins the raw points.
    pub fn add(&mut self, at_ms: i64, value: f64) {
        if self.raw.len() == HISTORY_RAW_POINTS {
            self.raw.pop_front();
        }
        self.raw.push_back(Point { at_ms, value });
        let minute = at_ms.div_euclid(60_000);
        let fresh = Minute {
            minute,
            min: value,
            max: value,
            sum: value,
            count: 1,
        };
        match self.minutes.back().map(|m| m.minute) {
            Some(last) if minute > last => self.minutes.push_back(fresh),
            None => self.minutes.push_back(fresh),
            Some(_) => {
                if let Some(m) = self.minutes.iter_mut().rev().find(|m| m.minute == minute) {
                    m.min = m.min.min(value);
                    m.max = m.max.max(value);
                    m.sum += value;
                    m.count = m.count.saturating_add(1);
                }
            }
        }
        let newest = self.minutes.back().map_or(minute, |m| m.minute);
        while self
            .minutes
            .front()
            .is_some_and(|m| m.minute <= newest - HISTORY_MINUTES as i64)
        {
            self.minutes.pop_front();
        }
    }

    /// Raw points received at or after `since_ms`, oldest first.
    pub fn points_since(&self, since_ms: i64) -> impl Iterator<Item = &Point> {
        let start = self.raw.partition_point(|p| p.at_ms < since_ms);
        self.raw.range(start..)
    }

    /// Minutes that start at or after `since_ms` (or hold it), oldest first.
    pub fn minutes_since(&self, since_ms: i64) -> impl Iterator<Item = &Minute> {
        let first = since_ms.div_euclid(60_000);
        let start = self.minutes.partition_point(|m| m.minute < first);
        self.minutes.range(start..)
    }
    /// Appends the history in the snapshot format (`snapshot.rs`): the raw points, then the
    /// minutes, each list after its length; little-endian.
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.raw.len() as u32).to_le_bytes());
        for p in &self.raw {
            out.extend_from_slice(&p.at_ms.to_le_bytes());
            out.extend_from_slice(&p.value.to_le_bytes());
        }
        out.extend_from_slice(&(self.minutes.len() as u32).to_le_bytes());
        for m in &self.minutes {
            out.extend_from_slice(&m.minute.to_le_bytes());
            for v in [m.min, m.max, m.sum] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&m.count.to_le_bytes());
        }
    }

    /// Reads what [`History::encode`] wrote from the front of `input`; `None` when it is cut
    /// short or holds more than the bounds allow.
    pub(super) fn decode(input: &mut &[u8]) -> Option<History> {
        let mut history = History::default();
        let raw = take_u32(input)? as usize;
        if raw > HISTORY_RAW_POINTS {
            return None;
        }
        for _ in 0..raw {
            let at_ms = take_i64(input)?;
            let value = take_f64(input)?;
            history.raw.push_back(Point { at_ms, value });
        }
        let minutes = take_u32(input)? as usize;
        if minutes > HISTORY_MINUTES {
            return None;
        }
        for _ in 0..minutes {
            let minute = take_i64(input)?;
            let (min, max, sum) = (take_f64(input)?, take_f64(input)?, take_f64(input)?);
            let count = take_u32(input)?;
            history.minutes.push_back(Minute {
                minute,
                min,
                max,
                sum,
                count,
            });
        }
        Some(history)
    }
}

/// The first `N` bytes of `input`, which moves past them.
pub(super) fn take<const N: usize>(input: &mut &[u8]) -> Option<[u8; N]> {
    let head: [u8; N] = input.get(..N)?.try_into().ok()?;
    *input = &input[N..];
    Some(head)
}

pub(super) fn take_u32(input: &mut &[u8]) -> Option<u32> {
    take(input).map(u32::from_le_bytes)
}

pub(super) fn take_i64(input: &mut &[u8]) -> Option<i64> {
    take(input).map(i64::from_le_bytes)
}

pub(super) fn take_f64(input: &mut &[u8]) -> Option<f64> {
    take(input).map(f64::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_points_are_bounded_and_oldest_go_first() {
        let mut h = History::default();
        for i in 0..HISTORY_RAW_POINTS as i64 + 5 {
            h.add(i * 1000, i as f64);
        }
        let points: Vec<_> = h.points_since(0).collect();
        assert_eq!(points.len(), HISTORY_RAW_POINTS);
        assert_eq!(points[0].value, 5.0);
        assert_eq!(h.points_since(1_003_000).count(), 2);
    }

    #[test]
    fn minutes_hold_min_mean_max_and_keep_a_day() {
        let mut h = History::default();
        for (at, v) in [(0, 1.0), (10_000, 3.0), (59_999, 2.0), (60_000, 7.0)] {
            h.add(at, v);
        }
        let minutes: Vec<_> = h.minutes_since(0).copied().collect();
        assert_eq!(minutes.len(), 2);
        assert_eq!(
            (minutes[0].min, minutes[0].max, minutes[0].count),
            (1.0, 3.0, 3)
        );
        assert_eq!(minutes[0].mean(), 2.0);
        assert_eq!((minutes[1].minute, minutes[1].mean()), (1, 7.0));
        // A late reading joins its minute.
        h.add(30_000, -1.0);
        assert_eq!(h.minutes_since(0).next().unwrap().min, -1.0);
        // The day moves on: the minutes of the last HISTORY_MINUTES are kept (1..=day).
        let day = HISTORY_MINUTES as i64;
        h.add(day * 60_000, 0.0);
        let kept: Vec<i64> = h.minutes_since(0).map(|m| m.minute).collect();
        assert_eq!(kept, vec![1, day]);
        h.add((day + 1) * 60_000, 0.0);
        let kept: Vec<i64> = h.minutes_since(0).map(|m| m.minute).collect();
        assert_eq!(kept, vec![day, day + 1]);
        assert_eq!(h.minutes_since((day + 1) * 60_000).count(), 1);
    }
}
