//! `GET /api/devices`: the dashboard's data as JSON. Field names are part of the interface
//! (documented in README.md) and do not change.
use crate::store::DeviceStore;
use crate::values::{unix_ms, Values};
use serde_json::{json, Value};
use std::time::SystemTime;

fn rfc3339(t: Option<SystemTime>) -> Value {
    t.map_or(Value::Null, |t| Value::String(super::html::rfc3339(t)))
}

/// Writes `{"now", "ack", "count", "devices": [...]}` into `out`, devices sorted by id, each
/// with its latest readings (`values`).
pub fn devices_json(store: &DeviceStore, values: &Values, now: SystemTime, out: &mut Vec<u8>) {
    let now_ms = unix_ms(now);
    let mut devices: Vec<_> = store.devices().collect();
    devices.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    let list: Vec<Value> = devices
        .iter()
        .map(|(id, stats)| {
            let hour = stats.last_hour(now);
            let last5: u32 = hour[55..].iter().sum();
            json!({
                "id": id.as_str(),
                "bytes": stats.bytes,
                "records": stats.records,
                "counting": stats.counting,
                "first_seen": rfc3339(stats.first_seen),
                "last_seen": rfc3339(stats.last_seen),
                "last_addr": stats.last_addr.map(|a| a.to_string()),
                "rate_per_minute": f64::from(last5) / 5.0,
                "last_hour": hour.to_vec(),
                "data_url": format!("/devices/{id}"),
                "live_url": format!("/devices/{id}/live"),
                "values": super::values::latest_json(values.device(id), now_ms),
            })
        })
        .collect();
    let ack = match store.ack_mode() {
        crate::store::AckMode::Write => "write",
        crate::store::AckMode::Fsync => "fsync",
        crate::store::AckMode::Buffer => "buffer",
    };
    let doc = json!({
        "now": rfc3339(Some(now)),
        "ack": ack,
        "count": list.len(),
        "devices": list,
    });
    if serde_json::to_writer(&mut *out, &doc).is_err() {
        out.clear();
        out.extend_from_slice(b"{}");
    }
}
