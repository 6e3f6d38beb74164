//! `GET /devices`: the dashboard. The server renders the table (each device with its latest
//! values), so it is useful with JavaScript off; the script sorts, filters, refreshes from
//! `/api/devices` and shows live records from `/api/live`.
use super::html::{ago, escape, number, rfc3339};
use crate::http::reply::{Framing, Reply, ReplyKit};
use crate::observe::units::write_size;
use crate::store::{DeviceId, DeviceStats, DeviceStore};
use crate::values::{unix_ms, Values};
use std::fmt::Write as _;
use std::time::SystemTime;

const TEMPLATE: &str = include_str!("dashboard.html");

/// Writes the dashboard as of `now`.
pub fn page(
    out: &mut Vec<u8>,
    kit: &mut ReplyKit,
    framing: Framing,
    accept: Option<&[u8]>,
    (store, values): (&DeviceStore, &Values),
    now: SystemTime,
) -> Reply {
    let mut devices: Vec<(&DeviceId, &DeviceStats)> = store.devices().collect();
    devices.sort_by(|a, b| {
        b.1.last_seen
            .cmp(&a.1.last_seen)
            .then(a.0.as_str().cmp(b.0.as_str()))
    });
    let now_ms = unix_ms(now);
    let mut rows = String::new();
    for (id, stats) in &devices {
        row(&mut rows, id, stats, values, now, now_ms);
    }
    let html = TEMPLATE
        .replacen("<!--COUNT-->", &format!("({})", devices.len()), 1)
        .replacen("<!--ROWS-->", &rows, 1)
        .replacen(
            "<p id=\"empty\">",
            if devices.is_empty() {
                "<p id=\"empty\">"
            } else {
                "<p id=\"empty\" hidden>"
            },
            1,
        );
    kit.page(out, framing, accept, 200, super::HTML, html.as_bytes())
}

/// One device's row, as the script renders it too.
fn row(
    html: &mut String,
    id: &DeviceId,
    stats: &DeviceStats,
    values: &Values,
    now: SystemTime,
    now_ms: i64,
) {
    // Device ids are limited to A-Z a-z 0-9 . _ - : nothing to escape.
    let _ = write!(
        html,
        "<tr><td class=\"id\"><a href=\"/devices/{id}/live\">{id}</a></td>\
         <td data-label=\"Address\">{}</td>",
        stats
            .last_addr
            .map_or_else(|| "–".to_string(), |a| a.to_string())
    );
    for (label, at) in [
        ("First seen", stats.first_seen),
        ("Last seen", stats.last_seen),
    ] {
        let _ = write!(html, "<td data-label=\"{label}\">");
        match at {
            Some(at) => {
                let stamp = rfc3339(at);
                let _ = write!(
                    html,
                    "<div>{}</div><div class=\"muted\">{} {} UTC</div>",
                    ago(now_ms, unix_ms(at)),
                    &stamp[..10],
                    &stamp[11..19]
                );
            }
            None => html.push('–'),
        }
        html.push_str("</td>");
    }
    let mut size = Vec::new();
    let _ = write_size(stats.bytes, &mut size);
    let hour = stats.last_hour(now);
    let rate = f64::from(hour[55..].iter().sum::<u32>()) / 5.0;
    let _ = write!(
        html,
        "<td class=\"num\" data-label=\"Bytes\">{}</td>\
         <td class=\"num\" data-label=\"Records\">{}{}</td>\
         <td class=\"num\" data-label=\"Rate\">{rate:.1}/min</td><td data-label=\"Values\">",
        String::from_utf8_lossy(&size),
        if stats.counting { "≥ " } else { "" },
        stats.records
    );
    if let Some(device) = values.device(id).filter(|d| !d.fields.is_empty()) {
        let newest = device
            .fields
            .iter()
            .map(|f| f.at_ms)
            .max()
            .unwrap_or(now_ms);
        for (i, f) in device.fields.iter().enumerate() {
            let sep = if i > 0 { " · " } else { "" };
            let name = escape(&f.name);
            let _ = write!(
                html,
                "{sep}<span class=\"value\">{name} = <b>{}</b></span>",
                number(f.value)
            );
        }
        let _ = write!(html, "<div class=\"muted\">{}</div>", ago(now_ms, newest));
    } else {
        html.push('–');
    }
    html.push_str("</td><td>");
    spark(html, &hour);
    let _ = writeln!(
        html,
        "</td><td><a href=\"/devices/{id}\">data</a> · <a href=\"/devices/{id}/live\">live</a></td></tr>"
    );
}

/// Records per minute over the last hour, as a sparkline.
fn spark(html: &mut String, counts: &[u32; 60]) {
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let total: u32 = counts.iter().sum();
    html.push_str(
        "<svg class=\"spark\" viewBox=\"0 0 59 20\" preserveAspectRatio=\"none\"><polyline points=\"",
    );
    for (i, c) in counts.iter().enumerate() {
        let y = 19.0 - f64::from(*c) / f64::from(max) * 18.0;
        let _ = write!(html, "{i},{y:.1} ");
    }
    let _ = write!(
        html,
        "\"></polyline><title>{total} records in the last hour</title></svg>"
    );
}
