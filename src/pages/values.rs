//! Readings as data: each device's latest values in `/api/devices`, one field's points from
//! `GET /api/devices/{id}/series?field=F`, and the `sluice_device_value` gauges of `/metrics`.
use crate::http::error::RequestError;
use crate::http::query::validate;
use crate::http::reply::{Framing, Reply, ReplyKit};
use crate::observe::metrics;
use crate::store::record::push_rfc3339_millis;
use crate::values::{DeviceValues, Values};
use serde_json::{json, Map, Value};
use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `{"t": {"value": 21.5, "time": "...Z", "age_seconds": 3.2}, ...}`, fields in the order
/// they first appeared; `{}` for a device without readings.
pub fn latest_json(device: Option<&DeviceValues>, now_ms: i64) -> Value {
    let mut map = Map::new();
    for field in device.map_or(&[][..], |d| &d.fields) {
        map.insert(
            field.name.to_string(),
            json!({
                "value": field.value,
                "time": rfc3339(field.at_ms),
                "age_seconds": age_seconds(now_ms, field.at_ms),
            }),
        );
    }
    Value::Object(map)
}

fn age_seconds(now_ms: i64, at_ms: i64) -> f64 {
    (now_ms - at_ms).max(0) as f64 / 1000.0
}

/// RFC 3339 with milliseconds, UTC.
pub fn rfc3339(at_ms: i64) -> String {
    super::html::rfc3339(time_of(at_ms))
}

fn time_of(at_ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(at_ms.max(0) as u64)
}

/// Appends the RFC 3339 form of `at_ms` (no allocation).
fn push_time(out: &mut Vec<u8>, at_ms: i64) {
    push_rfc3339_millis(out, time_of(at_ms));
}

/// What a series request asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesQuery {
    pub field: String,
    /// Points at or after this time (milliseconds since the Unix epoch); all when `None`.
    pub since_ms: Option<i64>,
    pub csv: bool,
    /// One point per minute (min, mean, max, count) instead of the raw points.
    pub minutes: bool,
}

impl SeriesQuery {
    /// Reads `field` (required), `since` (Unix seconds, `-SECONDS` before `now_ms`, or RFC
    /// 3339 with a `Z`), `format` (`json`, `csv`) and `resolution` (`raw`, `minute`).
    pub fn parse(query: Option<&str>, now_ms: i64) -> Result<SeriesQuery, RequestError> {
        let query = query.unwrap_or("");
        validate(query.as_bytes()).map_err(|_| RequestError::BadQuery)?;
        let mut q = SeriesQuery {
            field: String::new(),
            since_ms: None,
            csv: false,
            minutes: false,
        };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "field" => q.field = value.into_owned(),
                "since" => q.since_ms = Some(since(&value, now_ms).ok_or(RequestError::BadSeries)?),
                "format" => {
                    q.csv = match &*value {
                        "json" => false,
                        "csv" => true,
                        _ => return Err(RequestError::BadSeries),
                    }
                }
                "resolution" => {
                    q.minutes = match &*value {
                        "raw" => false,
                        "minute" => true,
                        _ => return Err(RequestError::BadSeries),
                    }
                }
                _ => {}
            }
        }
        if q.field.is_empty() {
            return Err(RequestError::BadSeries);
        }
        Ok(q)
    }
}

fn since(text: &str, now_ms: i64) -> Option<i64> {
    if text.contains('T') {
        // RFC 3339 in UTC, with or without milliseconds.
        let mut stamp = text.as_bytes().to_vec();
        if stamp.len() == 20 && stamp.ends_with(b"Z") {
            stamp.truncate(19);
            stamp.extend_from_slice(b".000Z");
        }
        stamp.push(b' ');
        let (at, _) = crate::store::record::split_rfc3339_millis(&stamp)?;
        return Some(crate::values::unix_ms(at));
    }
    let secs: f64 = text.parse().ok().filter(|s: &f64| s.is_finite())?;
    let ms = (secs * 1000.0).round() as i64;
    Some(if text.starts_with('-') {
        now_ms + ms
    } else {
        ms
    })
}

/// `GET /api/devices/{id}/series`: the field's points as JSON
/// (`{"device", "field", "resolution", "points": [[ms, value], ...]}`, minutes as
/// `[ms, min, mean, max, count]`) or CSV (`time,value` or `time,min,mean,max,count`).
pub fn series(
    out: &mut Vec<u8>,
    kit: &mut ReplyKit,
    framing: Framing,
    accept: Option<&[u8]>,
    values: &Values,
    id: &crate::store::DeviceId,
    query: &SeriesQuery,
) -> Result<Reply, RequestError> {
    let field = values
        .device(id)
        .and_then(|d| d.field(&query.field))
        .ok_or(RequestError::NotFound)?;
    let since = query.since_ms.unwrap_or(i64::MIN);
    let mut body = std::mem::take(&mut kit.page);
    body.clear();
    let history = &field.history;
    if query.csv {
        if query.minutes {
            body.extend_from_slice(b"time,min,mean,max,count\n");
            for m in history.minutes_since(since) {
                push_time(&mut body, m.minute * 60_000);
                let _ = writeln!(body, ",{},{},{},{}", m.min, m.mean(), m.max, m.count);
            }
        } else {
            body.extend_from_slice(b"time,value\n");
            for p in history.points_since(since) {
                push_time(&mut body, p.at_ms);
                let _ = writeln!(body, ",{}", p.value);
            }
        }
    } else {
        let resolution = if query.minutes { "minute" } else { "raw" };
        let head = json!({"device": id.as_str(), "field": &*field.name, "resolution": resolution});
        let _ = serde_json::to_writer(&mut body, &head);
        body.pop(); // the closing brace: the points follow
        body.extend_from_slice(b",\"points\":[");
        if query.minutes {
            for m in history.minutes_since(since) {
                let (at, mean) = (m.minute * 60_000, m.mean());
                let _ = write!(body, "[{at},{},{mean},{},{}],", m.min, m.max, m.count);
            }
        } else {
            for p in history.points_since(since) {
                let _ = write!(body, "[{},{}],", p.at_ms, p.value);
            }
        }
        if body.last() == Some(&b',') {
            body.pop();
        }
        body.extend_from_slice(b"]}");
    }
    let content_type = if query.csv {
        "text/csv; charset=utf-8"
    } else {
        "application/json"
    };
    let reply = kit.page(out, framing, accept, 200, content_type, &body);
    kit.page = body;
    Ok(reply)
}

/// Appends each tracked field's latest value and its age as Prometheus gauges, devices sorted
/// by id, and the count of fields not kept.
pub fn push_metrics(out: &mut Vec<u8>, values: &Values, now_ms: i64) {
    let mut devices: Vec<_> = values.devices().collect();
    devices.sort_unstable_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    // A family is written only with samples (some scrapers refuse an empty one).
    let gauges = [
        (
            "sluice_device_value",
            "The latest value of each device field.",
        ),
        (
            "sluice_device_value_age_seconds",
            "Seconds since the latest value of each device field was received.",
        ),
    ];
    for (i, (name, help)) in gauges.into_iter().enumerate() {
        if values.series() == 0 {
            break;
        }
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (id, device) in &devices {
            for f in &device.fields {
                let field = label(&f.name);
                let _ = match i {
                    0 => writeln!(
                        out,
                        "{name}{{device=\"{id}\",field=\"{field}\"}} {}",
                        f.value
                    ),
                    _ => {
                        let age = age_seconds(now_ms, f.at_ms);
                        writeln!(out, "{name}{{device=\"{id}\",field=\"{field}\"}} {age}")
                    }
                };
            }
        }
    }
    metrics::write_family(
        out,
        ("sluice_device_value_fields_dropped_total", "counter"),
        "Fields of records read that were not tracked: past --max-fields or --max-series, or names that are not text.",
        values.dropped,
    );
    metrics::write_family(
        out,
        ("sluice_device_value_records_untracked_total", "counter"),
        "Records not read for readings: their device is past --max-value-devices, or has no field while --max-series is reached.",
        values.untracked,
    );
}

/// A label value escaped as the Prometheus text format wants (`\`, `"`, line feed).
fn label(name: &str) -> std::borrow::Cow<'_, str> {
    if !name.contains(['\\', '"', '\n']) {
        return name.into();
    }
    name.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_queries() {
        let now = 10_000_000;
        let q = SeriesQuery::parse(Some("field=t&since=-60&format=csv&resolution=minute"), now);
        let want = SeriesQuery {
            field: "t".into(),
            since_ms: Some(now - 60_000),
            csv: true,
            minutes: true,
        };
        assert_eq!(q, Ok(want));
        let q = SeriesQuery::parse(Some("field=a.b&since=1795365600.5"), now).unwrap();
        assert_eq!(
            (q.field.as_str(), q.since_ms),
            ("a.b", Some(1_795_365_600_500))
        );
        for stamp in ["2026-11-22T16:40:00Z", "2026-11-22T16:40:00.000Z"] {
            let q = SeriesQuery::parse(Some(&format!("field=t&since={stamp}")), now).unwrap();
            assert_eq!(q.since_ms, Some(1_795_365_600_000));
        }
        for bad in [
            None,
            Some(""),
            Some("since=1"),
            Some("field=t&since=x"),
            Some("field=t&format=xml"),
            Some("field=t&resolution=hour"),
            Some("field=t&since=2026-11-22"),
        ] {
            assert_eq!(
                SeriesQuery::parse(bad, now),
                Err(RequestError::BadSeries),
                "{bad:?}"
            );
        }
        assert_eq!(
            SeriesQuery::parse(Some("field=%zz"), now),
            Err(RequestError::BadQuery)
        );
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(label("t"), "t");
    }
}
