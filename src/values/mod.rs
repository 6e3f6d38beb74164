//! The readings of each device: every stored record is parsed (`parse.rs`) and each numeric
//! field keeps its latest value with its time and a bounded history (`history.rs`), saved at
//! shutdown and restored at start (`snapshot.rs`), else rebuilt from the tail of the device
//! files (`rebuild.rs`). The reactor hands over the records
//! the store wrote in each turn; pages, the API and `/metrics` read from here. Bounds: devices
//! tracked (`--max-value-devices`), fields per device (`--max-fields`), and fields tracked in
//! all (`--max-series`); what lies beyond them is counted, not kept.
pub mod history;
pub mod parse;
mod rebuild;
mod snapshot;

pub use rebuild::read_tail;
pub use snapshot::{Covered, SNAPSHOT_FILE};

use crate::store::record::split_rfc3339_millis;
use crate::store::DeviceId;
use history::History;
use parse::Readings;
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// The bounds on what is tracked (flags).
#[derive(Debug, Clone, Copy)]
pub struct ValuesConfig {
    pub max_devices: usize,
    pub max_fields: usize,
    pub max_series: usize,
}

/// One field of one device.
#[derive(Debug)]
pub struct Field {
    pub name: Box<str>,
    /// The value of the last record stored that had this field.
    pub value: f64,
    /// When that record was received, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub history: History,
    /// A short name's bytes inline, so that finding a field on every record reads no other
    /// memory (the name's allocation is a cache miss per field with many devices).
    key: [u8; SHORT_NAME_BYTES],
    /// The name's length if it fits in `key`, else `LONG_NAME`.
    key_len: u8,
}

const SHORT_NAME_BYTES: usize = 23;
const LONG_NAME: u8 = u8::MAX;

impl Field {
    pub fn new(name: &str, value: f64, at_ms: i64, history: History) -> Field {
        let mut key = [0; SHORT_NAME_BYTES];
        let key_len = if name.len() <= SHORT_NAME_BYTES {
            key[..name.len()].copy_from_slice(name.as_bytes());
            name.len() as u8
        } else {
            LONG_NAME
        };
        Field {
            name: name.into(),
            value,
            at_ms,
            history,
            key,
            key_len,
        }
    }

    /// Whether this field is named `name`.
    pub fn is(&self, name: &[u8]) -> bool {
        if name.len() <= SHORT_NAME_BYTES {
            usize::from(self.key_len) == name.len() && &self.key[..name.len()] == name
        } else {
            self.key_len == LONG_NAME && self.name.as_bytes() == name
        }
    }
}

/// The fields of one device, in the order they first appeared.
#[derive(Debug, Default)]
pub struct DeviceValues {
    pub fields: Vec<Field>,
}

impl DeviceValues {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.is(name.as_bytes()))
    }
}

/// Every tracked device's readings.
#[derive(Debug)]
pub struct Values {
    config: ValuesConfig,
    devices: HashMap<DeviceId, DeviceValues>,
    series: usize,
    readings: Readings,
    /// Fields of records read that were not kept (a bound was reached, or the name is not
    /// text), since start.
    pub dropped: u64,
    /// Records not read: their device is past `--max-value-devices`, or has no field while
    /// `--max-series` is reached.
    pub untracked: u64,
}

/// Milliseconds since the Unix epoch (0 before it).
pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Values {
    pub fn new(config: ValuesConfig) -> Values {
        Values {
            config,
            devices: HashMap::new(),
            series: 0,
            readings: Readings::default(),
            dropped: 0,
            untracked: 0,
        }
    }

    pub fn config(&self) -> ValuesConfig {
        self.config
    }

    /// Takes in one stored record of `id` (its line break and any `--timestamp` prefix
    /// included), received at `at` unless its prefix says when.
    pub fn observe(&mut self, id: DeviceId, record: &[u8], at: SystemTime) {
        let (at, record) = split_rfc3339_millis(record).unwrap_or((at, record));
        self.observe_at(id, record, unix_ms(at), true);
    }

    /// As [`Values::observe`] with the time in milliseconds; `in_history` false sets only the
    /// latest values (a record whose time is a guess).
    fn observe_at(&mut self, id: DeviceId, record: &[u8], at_ms: i64, in_history: bool) {
        if self.config.max_series == 0 {
            return;
        }
        // A device with no room for any field: its records are not even read.
        let tracked = self.devices.len();
        let series_full = self.series >= self.config.max_series;
        let room = match self.devices.get(&id) {
            Some(device) => !device.fields.is_empty() || !series_full,
            None => tracked < self.config.max_devices && !series_full,
        };
        if !room || self.config.max_fields == 0 {
            self.untracked += 1;
            return;
        }
        if parse::parse(record, self.config.max_fields, &mut self.readings).is_none() {
            return;
        }
        self.dropped += self.readings.skipped as u64;
        let device = self.devices.entry(id).or_default();
        for (k, (name, value)) in self.readings.iter().enumerate() {
            // Records of a device mostly name the same fields in the same order.
            let known = match device.fields.get(k) {
                Some(f) if f.is(name) => Some(k),
                _ => device.fields.iter().position(|f| f.is(name)),
            };
            let field = match known {
                Some(i) => &mut device.fields[i],
                None => {
                    let full = device.fields.len() >= self.config.max_fields
                        || self.series >= self.config.max_series;
                    let Some(name) = parse::field_name(name).filter(|_| !full) else {
                        self.dropped += 1;
                        continue;
                    };
                    self.series += 1;
                    device
                        .fields
                        .push(Field::new(name, value, at_ms, History::default()));
                    device.fields.last_mut().expect("just pushed")
                }
            };
            field.value = value;
            field.at_ms = at_ms;
            if in_history {
                field.history.add(at_ms, value);
            }
        }
    }

    pub fn device(&self, id: &DeviceId) -> Option<&DeviceValues> {
        self.devices.get(id)
    }

    /// Every tracked device, in no particular order.
    pub fn devices(&self) -> impl Iterator<Item = (&DeviceId, &DeviceValues)> {
        self.devices.iter()
    }

    /// Fields tracked, over all devices.
    pub fn series(&self) -> usize {
        self.series
    }
}

#[cfg(test)]
mod tests;
