//! The device page, `GET /devices/{id}/live` in a browser: latest values, a chart per field
//! (the last hour, or 24 hours with `?range=24h`), and the last records, all rendered by the
//! server so the page is useful with JavaScript off. The script only adds: records as they
//! arrive (from the device's event stream, dated when they arrive), and the values and charts
//! fetched again after new records. Self-contained: inline CSS, SVG and JavaScript.
use super::html::{ago, escape, number, rfc3339};
use crate::http::reply::{Framing, Reply, ReplyKit};
use crate::observe::units::counted;
use crate::store::record::split_rfc3339_millis;
use crate::store::{DeviceId, DeviceStats};
use crate::values::{DeviceValues, Field};
use std::fmt::Write as _;

/// Records listed by the server (newest first).
pub const PAGE_RECORDS: usize = 50;

const STYLE: &str = include_str!("device.css");
const SCRIPT: &str = include_str!("device.js");

/// What the device page shows.
pub struct DevicePage<'a> {
    pub id: &'a DeviceId,
    pub stats: Option<&'a DeviceStats>,
    pub values: Option<&'a DeviceValues>,
    /// The end of the device's file: whole lines.
    pub tail: &'a [u8],
    /// `?range=24h`: per-minute means over a day instead of the last hour's raw points.
    pub day: bool,
    pub now_ms: i64,
}

/// Writes the page.
pub fn page(
    out: &mut Vec<u8>,
    kit: &mut ReplyKit,
    framing: Framing,
    accept: Option<&[u8]>,
    p: &DevicePage<'_>,
) -> Reply {
    let mut html = String::with_capacity(16 * 1024);
    let id = p.id.as_str();
    // Device ids are limited to A-Z a-z 0-9 . _ - : nothing to escape.
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <link rel=\"icon\" href=\"data:,\">\n<title>sluice · {id}</title>\n<style>{STYLE}</style>\n\
         </head>\n<body data-device=\"{id}\">\n<header>\n<h1>{id}</h1>\n<span id=\"status\">"
    );
    match p.stats {
        Some(s) => {
            html.push_str(&counted(s.records, "record"));
            if let Some(seen) = s.last_seen {
                let _ = write!(
                    html,
                    ", last {}",
                    ago(p.now_ms, crate::values::unix_ms(seen))
                );
            }
        }
        None => html.push_str("no records yet"),
    }
    let _ = write!(
        html,
        "</span>\n<nav><a href=\"/devices\">all devices</a> · <a href=\"/devices/{id}\">data</a> · \
         <a href=\"/devices/{id}?download\">download</a></nav>\n</header>\n<main>\n"
    );
    latest(&mut html, p);
    charts(&mut html, p);
    records(&mut html, p.tail);
    let _ = write!(
        html,
        "</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    );
    kit.page(out, framing, accept, 200, super::HTML, html.as_bytes())
}

fn fields<'a>(p: &DevicePage<'a>) -> &'a [Field] {
    p.values.map_or(&[], |v| &v.fields)
}

/// The latest value of each field, with its age.
fn latest(html: &mut String, p: &DevicePage<'_>) {
    html.push_str("<section id=\"values\">\n<h2>Latest values</h2>\n");
    if fields(p).is_empty() {
        html.push_str(
            "<p class=\"muted\">No readings yet: records that are JSON objects, \
             <code>key=value</code> pairs, InfluxDB line protocol or a number show here.</p>\n",
        );
    } else {
        html.push_str("<dl>\n");
        for f in fields(p) {
            let _ = writeln!(
                html,
                "<div><dt>{}</dt><dd><b>{}</b> <span class=\"muted\">{}</span></dd></div>",
                escape(&f.name),
                number(f.value),
                ago(p.now_ms, f.at_ms)
            );
        }
        html.push_str("</dl>\n");
    }
    html.push_str("</section>\n");
}

/// One chart per field over the chosen range, and the switch between ranges.
fn charts(html: &mut String, p: &DevicePage<'_>) {
    let (hour, day) = if p.day {
        ("<a href=\"?\">last hour</a>", "<b>24 hours</b>")
    } else {
        ("<b>last hour</b>", "<a href=\"?range=24h\">24 hours</a>")
    };
    let _ = writeln!(
        html,
        "<section id=\"charts\">\n<h2>Charts <span class=\"range\">{hour} · {day}</span></h2>"
    );
    for f in fields(p) {
        chart(html, f, p.day, p.now_ms);
    }
    html.push_str("</section>\n");
}

const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 140.0;
const PAD: f64 = 8.0;

/// An SVG line of a field's readings: raw points over the last hour, or per-minute means (with
/// the minimum and maximum as a band) over 24 hours.
fn chart(html: &mut String, f: &Field, day: bool, now_ms: i64) {
    let range_ms: i64 = if day { 86_400_000 } else { 3_600_000 };
    let since = now_ms - range_ms;
    // (time, value, low, high)
    let points: Vec<(i64, f64, f64, f64)> = if day {
        f.history
            .minutes_since(since)
            .map(|m| (m.minute * 60_000 + 30_000, m.mean(), m.min, m.max))
            .collect()
    } else {
        f.history
            .points_since(since)
            .map(|p| (p.at_ms, p.value, p.value, p.value))
            .collect()
    };
    let name = escape(&f.name);
    let _ = write!(html, "<figure>\n<figcaption>{name}");
    if points.is_empty() {
        let _ = writeln!(
            html,
            " <span class=\"muted\">no readings in this range</span></figcaption>\n</figure>"
        );
        return;
    }
    // The x axis runs from the first point in the range (at least a minute before now) to now,
    // so that a device that started posting recently fills the chart.
    let first = points.first().map_or(since, |p| p.0);
    let start = first.clamp(since, now_ms - 60_000);
    let span_ms = (now_ms - start).max(1);
    let lo = points.iter().map(|p| p.2).fold(f64::INFINITY, f64::min);
    let hi = points.iter().map(|p| p.3).fold(f64::NEG_INFINITY, f64::max);
    let (lo_axis, hi_axis) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 1.0, hi + 1.0)
    };
    let x = |t: i64| PAD + (t - start).max(0) as f64 / span_ms as f64 * (WIDTH - 2.0 * PAD);
    let y = |v: f64| HEIGHT - PAD - (v - lo_axis) / (hi_axis - lo_axis) * (HEIGHT - 2.0 * PAD);
    let _ = writeln!(
        html,
        " <span class=\"muted\">{} points, {} to {}</span></figcaption>",
        points.len(),
        number(lo),
        number(hi)
    );
    let _ = write!(
        html,
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" preserveAspectRatio=\"none\" \
         role=\"img\" aria-label=\"{name}\">"
    );
    if day {
        html.push_str("<polygon class=\"band\" points=\"");
        for p in &points {
            let _ = write!(html, "{:.1},{:.1} ", x(p.0), y(p.3));
        }
        for p in points.iter().rev() {
            let _ = write!(html, "{:.1},{:.1} ", x(p.0), y(p.2));
        }
        html.push_str("\"/>");
    }
    html.push_str("<polyline points=\"");
    for p in &points {
        let _ = write!(html, "{:.1},{:.1} ", x(p.0), y(p.1));
    }
    html.push_str("\"/>");
    if let Some(last) = points.last() {
        let _ = write!(
            html,
            "<circle r=\"3\" cx=\"{:.1}\" cy=\"{:.1}\"/>",
            x(last.0),
            y(last.1)
        );
    }
    let _ = writeln!(
        html,
        "</svg>\n<div class=\"axis muted\"><span>{}</span><span>now</span></div>\n</figure>",
        ago(now_ms, start)
    );
}

/// The last records of the file, newest first, with their time when they carry one.
fn records(html: &mut String, tail: &[u8]) {
    html.push_str("<section id=\"feed\">\n<h2>Records</h2>\n<ol id=\"records\">\n");
    let lines = tail.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    let newest: Vec<&[u8]> = lines.rev().take(PAGE_RECORDS).collect();
    for line in &newest {
        html.push_str("<li>");
        let rest = match split_rfc3339_millis(line) {
            Some((at, rest)) => {
                let stamp = rfc3339(at);
                let _ = write!(html, "<time datetime=\"{stamp}\">{}</time>", &stamp[11..19]);
                rest
            }
            None => line,
        };
        html.push_str(&escape(&String::from_utf8_lossy(rest)));
        html.push_str("</li>\n");
    }
    html.push_str("</ol>\n");
    if newest.is_empty() {
        html.push_str("<p class=\"muted\" id=\"none\">No records yet.</p>\n");
    }
    html.push_str("</section>\n");
}
