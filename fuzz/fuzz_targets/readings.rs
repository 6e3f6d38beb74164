//! The reading parsers (`sluice::values::parse`) and the tracker they feed.
//!
//! Input: `[max_fields] record...`.
//!
//! Oracle: no panic; at most `max_fields` fields, each with a non-empty name of at most
//! `MAX_FIELD_NAME_BYTES` and a finite value (the tracker keeps only names that are text
//! without control characters); every JSON object
//! serde_json accepts, nested at most `MAX_JSON_DEPTH` deep, is read as JSON (ours may accept
//! more: huge numbers and odd strings are skipped, not fatal); a record that is one finite
//! number is read as the field `value` with that number; and the tracker keeps its bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice::limits::{MAX_FIELD_NAME_BYTES, MAX_JSON_DEPTH};
use sluice::store::DeviceId;
use sluice::values::parse::{parse, Readings, Shape};
use sluice::values::{Values, ValuesConfig};
use std::time::{Duration, UNIX_EPOCH};

fuzz_target!(|input: &[u8]| {
    let [max_fields, record @ ..] = input else {
        return;
    };
    let max_fields = usize::from(*max_fields % 40);
    let mut out = Readings::default();
    let shape = parse(record, max_fields, &mut out);
    assert!(out.len() <= max_fields);
    for (name, value) in out.iter() {
        assert!(!name.is_empty() && name.len() <= MAX_FIELD_NAME_BYTES, "{name:?}");
        assert!(value.is_finite());
    }
    if shape.is_none() {
        assert!(out.is_empty());
    }
    let trimmed = sluice::values::parse::trim(record);
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(trimmed) {
        let depth = 1 + map.values().map(depth).max().unwrap_or(0);
        if depth <= MAX_JSON_DEPTH {
            assert_eq!(shape, Some(Shape::Json));
        }
    }
    let number = std::str::from_utf8(trimmed)
        .ok()
        .filter(|t| t.len() <= 64 && t.bytes().all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b)))
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|v| v.is_finite());
    if let Some(v) = number {
        assert_eq!(shape, Some(Shape::Number));
        if max_fields > 0 {
            assert_eq!(out.iter().collect::<Vec<_>>(), vec![(&b"value"[..], v)]);
        }
    }
    // The tracker: two devices, tight bounds.
    let mut values = Values::new(ValuesConfig {
        max_devices: 1,
        max_fields: 3,
        max_series: 2,
    });
    let (a, b) = (DeviceId::parse(b"a").unwrap(), DeviceId::parse(b"b").unwrap());
    for (i, id) in [a, b, a].into_iter().enumerate() {
        values.observe(id, record, UNIX_EPOCH + Duration::from_secs(i as u64));
    }
    assert!(values.series() <= 2);
    assert!(values.devices().count() <= 1);
    for (_, device) in values.devices() {
        for field in &device.fields {
            assert!(!field.name.chars().any(char::is_control), "{:?}", field.name);
            assert!(field.value.is_finite());
        }
    }
});

/// Objects and arrays nested in `value`, itself included.
fn depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        serde_json::Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}
