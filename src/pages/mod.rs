//! Generated pages: the dashboard, `GET /api/devices`, `GET /healthz`, `GET /metrics`, the home
//! page, `/echo/{text}`, `/user-agent`, and `POST /echo` and `/anything` (`reflect.rs`). Pages render the data they are given into the write
//! buffer through a [`ReplyKit`]; they drive no I/O and hold no state. Pages are self-contained
//! (inline CSS and JavaScript, no external assets).
mod api;
pub mod dashboard;
pub mod device;
mod html;
pub mod reflect;
pub mod values;

pub use api::devices_json;

use crate::http::reply::{Framing, Reply, ReplyKit, Send};
use crate::http::request::RequestHead;
use crate::observe::metrics;
use crate::observe::units::counted;
use crate::store::DeviceStore;
use crate::values::Values;
use std::time::SystemTime;

/// The type of every generated page.
const HTML: &str = "text/html; charset=utf-8";

/// `GET /echo/{text}`: the (percent-decoded) text back as `text/plain`.
pub fn echo(
    out: &mut Vec<u8>,
    kit: &mut ReplyKit,
    framing: Framing,
    head: &RequestHead<'_, '_>,
    text: &str,
) -> Reply {
    let decoded: std::borrow::Cow<'_, [u8]> = percent_encoding::percent_decode_str(text).into();
    plain_text(out, kit, framing, head, &decoded)
}

/// `GET /user-agent`: the request's User-Agent back as `text/plain` (empty without one).
pub fn user_agent(
    out: &mut Vec<u8>,
    kit: &mut ReplyKit,
    framing: Framing,
    head: &RequestHead<'_, '_>,
) -> Reply {
    let agent = head.header("user-agent").unwrap_or(b"");
    plain_text(out, kit, framing, head, agent)
}

/// `text/plain` exactly, always with Content-Length, gzip whenever the client prefers it.
fn plain_text(
    out: &mut Vec<u8>,
    kit: &mut ReplyKit,
    framing: Framing,
    head: &RequestHead<'_, '_>,
    text: &[u8],
) -> Reply {
    let how = Send {
        min_gzip: 0,
        nosniff: true,
        cache: None,
        ..Send::ok(b"text/plain")
    };
    kit.send(out, framing, head.header("accept-encoding"), how, text)
}

/// `GET /api/devices`, as of `now`.
pub fn api_devices(
    out: &mut Vec<u8>,
    kit: &mut ReplyKit,
    framing: Framing,
    accept: Option<&[u8]>,
    (store, values): (&DeviceStore, &Values),
    now: SystemTime,
) -> Reply {
    let mut body = std::mem::take(&mut kit.page);
    body.clear();
    devices_json(store, values, now, &mut body);
    let reply = kit.page(out, framing, accept, 200, "application/json", &body);
    kit.page = body;
    reply
}

/// `GET /healthz`: 200 while accepting work; 503 while shutting down (`draining`), while device
/// writes fail, or while the store refuses ingest.
pub fn healthz(
    out: &mut Vec<u8>,
    kit: &mut ReplyKit,
    framing: Framing,
    draining: bool,
    store: &DeviceStore,
) -> Reply {
    let (status, body): (u16, &[u8]) = if draining {
        (503, b"shutting down\n")
    } else if store.writes_failing() {
        (503, b"device writes failing\n")
    } else if store.admit().is_err() {
        (503, b"ingest refusing work\n")
    } else {
        (200, b"ok\n")
    };
    kit.page(
        out,
        framing,
        None,
        status,
        "text/plain; charset=utf-8",
        body,
    )
}

/// `GET /metrics`: Prometheus text format, with the gauges read by the caller.
pub fn metrics(
    out: &mut Vec<u8>,
    kit: &mut ReplyKit,
    framing: Framing,
    accept: Option<&[u8]>,
    (gauges, values): (&metrics::Gauges, &Values),
    now: SystemTime,
) -> Reply {
    let mut body = std::mem::take(&mut kit.page);
    body.clear();
    metrics::render(&mut body, gauges);
    values::push_metrics(&mut body, values, crate::values::unix_ms(now));
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    let reply = kit.page(out, framing, accept, 200, content_type, &body);
    kit.page = body;
    reply
}

/// The home page's document when listings are off, before and after the devices summary.
const NO_LISTING_START: &str =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>sluice</title>\n\
<style>:root{color-scheme:light dark}body{font:16px/1.5 system-ui,sans-serif;margin:0 auto;\
padding:1rem;max-width:60rem}</style>\n</head>\n<body>\n<h1>sluice</h1>\n";
const NO_LISTING_END: &str =
    "\n<p>This folder has no <code>index.html</code>, and folder listings are \
off (<code>--no-listing</code>). <a href=\"/devices\">The dashboard</a> shows what devices \
send.</p>\n</body>\n</html>\n";

/// The home page for `GET /` when ROOT has no index.html: a devices summary (with their first
/// latest values) above the listing page `listing` (a complete HTML document, or empty).
pub fn home(
    out: &mut Vec<u8>,
    kit: &mut ReplyKit,
    framing: Framing,
    accept: Option<&[u8]>,
    listing: &[u8],
    (store, values): (&DeviceStore, &Values),
) -> Reply {
    let mut summary = String::new();
    let mut devices: Vec<_> = store.devices().collect();
    devices.sort_by_key(|d| std::cmp::Reverse(d.1.last_seen));
    summary.push_str("<section class=\"devices\"><h2><a href=\"/devices\">Devices</a> (");
    summary.push_str(&devices.len().to_string());
    summary.push_str(")</h2><ul>");
    for (id, stats) in devices.iter().take(10) {
        // Device ids are limited to A-Z a-z 0-9 . _ - : nothing to escape.
        summary.push_str(&format!(
            "<li><a href=\"/devices/{id}/live\">{id}</a> {}, {}",
            counted(stats.records, "record"),
            counted(stats.bytes, "byte")
        ));
        // The first few latest values.
        let fields = values.device(id).map_or(&[][..], |d| &d.fields);
        for (i, f) in fields.iter().take(4).enumerate() {
            let sep = if i == 0 { ": " } else { " · " };
            let name = html::escape(&f.name);
            summary.push_str(&format!("{sep}{name} = <b>{}</b>", html::number(f.value)));
        }
        summary.push_str("</li>");
    }
    summary.push_str("</ul></section>");
    let mut body = Vec::with_capacity(listing.len() + summary.len());
    match memchr::memmem::find(listing, b"<body>") {
        Some(at) => {
            body.extend_from_slice(&listing[..at + 6]);
            body.extend_from_slice(summary.as_bytes());
            body.extend_from_slice(&listing[at + 6..]);
        }
        None if listing.is_empty() => {
            // Listings are off (`--no-listing`): a page of its own around the summary.
            body.extend_from_slice(NO_LISTING_START.as_bytes());
            body.extend_from_slice(summary.as_bytes());
            body.extend_from_slice(NO_LISTING_END.as_bytes());
        }
        None => {
            body.extend_from_slice(summary.as_bytes());
            body.extend_from_slice(listing);
        }
    }
    kit.page(out, framing, accept, 200, HTML, &body)
}
