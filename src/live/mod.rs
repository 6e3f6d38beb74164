//! The live view, in one room: which connections watch which device (`GET /devices/{id}/live`)
//! or every device (`GET /api/live`) ([`LiveHub`]), the start of a stream with its replay
//! (`stream.rs`), and the events each stored record becomes ([`LiveHub::fan_out`]); the browser
//! page is `pages/device.rs`. The reactor only hands over what the store wrote in a turn and delivers the
//! events to the connections; a subscriber that falls behind is dropped by its connection, never
//! buffered without bound.
pub mod stream;

use crate::http::sse;
use crate::store::{DeviceId, Waiter};
use std::collections::HashMap;

/// What a live connection watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Device(DeviceId),
    All,
}

/// Subscribers by topic.
#[derive(Debug, Default)]
pub struct LiveHub {
    by_device: HashMap<DeviceId, Vec<Waiter>>,
    all: Vec<Waiter>,
    count: usize,
}

impl LiveHub {
    pub fn subscribe(&mut self, topic: Topic, waiter: Waiter) {
        match topic {
            Topic::Device(id) => self.by_device.entry(id).or_default().push(waiter),
            Topic::All => self.all.push(waiter),
        }
        self.count += 1;
    }

    pub fn unsubscribe(&mut self, topic: Topic, waiter: Waiter) {
        let list = match topic {
            Topic::Device(id) => match self.by_device.get_mut(&id) {
                Some(list) => list,
                None => return,
            },
            Topic::All => &mut self.all,
        };
        if let Some(i) = list.iter().position(|w| *w == waiter) {
            list.swap_remove(i);
            self.count -= 1;
        }
        if let Topic::Device(id) = topic {
            if self.by_device.get(&id).is_some_and(Vec::is_empty) {
                self.by_device.remove(&id);
            }
        }
    }

    /// Subscribers of one device.
    pub fn device(&self, id: &DeviceId) -> &[Waiter] {
        self.by_device.get(id).map_or(&[], Vec::as_slice)
    }

    /// Subscribers of every device.
    pub fn all(&self) -> &[Waiter] {
        &self.all
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Renders the events of the records written this turn (`device`, offset just past the
    /// record, the record's bytes), stored at `time` (RFC 3339), and hands each to `deliver`
    /// with every subscriber it is for: the record itself to the device's subscribers, and a
    /// JSON object (`device`, `offset`, `record`, `time`) to those of every device. `event` is
    /// scratch space, reused across calls.
    pub fn fan_out<'r>(
        &self,
        (records, time): (impl Iterator<Item = (DeviceId, u64, &'r [u8])>, &str),
        event: &mut Vec<u8>,
        mut deliver: impl FnMut(&Waiter, &[u8]),
    ) {
        for (device, end, record) in records {
            let watchers = self.device(&device);
            if !watchers.is_empty() {
                event.clear();
                sse::push_event(event, None, end, record);
                for w in watchers {
                    deliver(w, event);
                }
            }
            if !self.all.is_empty() {
                event.clear();
                let text = String::from_utf8_lossy(record);
                let json = serde_json::json!({
                    "device": device.as_str(),
                    "offset": end,
                    "record": strip_line_break(&text),
                    "time": time,
                });
                sse::push_event(event, None, end, json.to_string().as_bytes());
                for w in &self.all {
                    deliver(w, event);
                }
            }
        }
    }
}

/// A record without its one final line break (CRLF, LF or CR), as the per-device stream shows it.
fn strip_line_break(text: &str) -> &str {
    text.strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .or_else(|| text.strip_suffix('\r'))
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_and_unsubscribe() {
        let mut hub = LiveHub::default();
        let a = DeviceId::parse(b"a").unwrap();
        let w = |n| Waiter {
            key: n,
            conn: n as u64,
        };
        hub.subscribe(Topic::Device(a), w(1));
        hub.subscribe(Topic::Device(a), w(2));
        hub.subscribe(Topic::All, w(3));
        assert_eq!(hub.len(), 3);
        assert_eq!(hub.device(&a), &[w(1), w(2)]);
        hub.unsubscribe(Topic::Device(a), w(1));
        hub.unsubscribe(Topic::Device(a), w(9)); // not subscribed: no effect
        assert_eq!(hub.device(&a), &[w(2)]);
        hub.unsubscribe(Topic::Device(a), w(2));
        hub.unsubscribe(Topic::All, w(3));
        assert!(hub.is_empty());
        assert!(hub.by_device.is_empty());
    }
}
