//! Live-view subscriptions: which connections watch which device (`GET /devices/{id}/live`) or
//! every device (`GET /api/live`). The reactor fans each written record out to them; a
//! subscriber that falls behind is dropped by its connection, never buffered without bound.
pub mod page;

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
