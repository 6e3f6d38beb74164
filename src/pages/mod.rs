//! Generated pages and APIs: the dashboard, the per-device live page, `GET /api/devices`,
//! `GET /healthz`, `GET /metrics`, the home page, and the start of a live event stream.
//! Pages are self-contained (inline CSS and JavaScript, no external assets).
mod api;
mod live;

pub use api::devices_json;
pub use live::{live_target, start_live};

use crate::context::Context;
use crate::http::response;
use crate::metrics;
use crate::routes::{Framing, Reply};

const DASHBOARD_HTML: &str = include_str!("dashboard.html");
const LIVE_HTML: &str = include_str!("live.html");

/// Writes a complete 200 (or `status`) response with `body`.
pub fn page(
    out: &mut Vec<u8>,
    ctx: &Context,
    framing: Framing,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Reply {
    response::start(out, status, ctx.date.as_bytes());
    response::header(out, "Content-Type", content_type.as_bytes());
    response::content_length(out, body.len() as u64);
    response::header(out, "Cache-Control", b"no-store");
    response::connection(out, framing.close, framing.http10_keep_alive);
    response::end(out);
    if !framing.head_only {
        out.extend_from_slice(body);
    }
    Reply {
        status,
        body_len: body.len() as u64,
        file: None,
    }
}

/// `GET /devices`: the dashboard.
pub fn dashboard(out: &mut Vec<u8>, ctx: &Context, framing: Framing) -> Reply {
    page(
        out,
        ctx,
        framing,
        200,
        "text/html; charset=utf-8",
        DASHBOARD_HTML.as_bytes(),
    )
}

/// `GET /devices/{id}/live` from a browser: the page that shows that device's live stream.
pub fn live_page(out: &mut Vec<u8>, ctx: &Context, framing: Framing) -> Reply {
    page(
        out,
        ctx,
        framing,
        200,
        "text/html; charset=utf-8",
        LIVE_HTML.as_bytes(),
    )
}

/// `GET /api/devices`.
pub fn api_devices(out: &mut Vec<u8>, ctx: &mut Context, framing: Framing) -> Reply {
    let mut body = std::mem::take(&mut ctx.page);
    body.clear();
    devices_json(ctx, &mut body);
    let reply = page(out, ctx, framing, 200, "application/json", &body);
    ctx.page = body;
    reply
}

/// `GET /healthz`: 200 while accepting work; 503 while shutting down or refusing ingest.
pub fn healthz(out: &mut Vec<u8>, ctx: &Context, framing: Framing) -> Reply {
    let (status, body): (u16, &[u8]) = if ctx.draining {
        (503, b"shutting down\n")
    } else if ctx.store.admit().is_err() {
        (503, b"ingest refusing work\n")
    } else {
        (200, b"ok\n")
    };
    page(out, ctx, framing, status, "text/plain; charset=utf-8", body)
}

/// `GET /metrics`: Prometheus text format.
pub fn metrics(
    out: &mut Vec<u8>,
    ctx: &mut Context,
    framing: Framing,
    connections_open: u64,
) -> Reply {
    let gauges = metrics::Gauges {
        connections_open,
        devices: ctx.store.devices().count() as u64,
        device_files_open: ctx.store.open_files() as u64,
        unsynced_bytes: ctx.store.unsynced_bytes(),
        live_subscribers: ctx.live.len() as u64,
    };
    let mut body = std::mem::take(&mut ctx.page);
    body.clear();
    metrics::render(&mut body, &gauges);
    let reply = page(
        out,
        ctx,
        framing,
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        &body,
    );
    ctx.page = body;
    reply
}

/// The home page for `GET /` when ROOT has no index.html: a devices summary above the listing
/// page `listing` (a complete HTML document).
pub fn home(out: &mut Vec<u8>, ctx: &mut Context, framing: Framing, listing: &[u8]) -> Reply {
    let mut summary = String::new();
    let mut devices: Vec<_> = ctx.store.devices().collect();
    devices.sort_by_key(|d| std::cmp::Reverse(d.1.last_seen));
    summary.push_str("<section class=\"devices\"><h2><a href=\"/devices\">Devices</a> (");
    summary.push_str(&devices.len().to_string());
    summary.push_str(")</h2><ul>");
    for (id, stats) in devices.iter().take(10) {
        // Device ids are limited to A-Z a-z 0-9 . _ - : nothing to escape.
        summary.push_str(&format!(
            "<li><a href=\"/devices/{id}/live\">{id}</a> {} records, {} bytes</li>",
            stats.records, stats.bytes
        ));
    }
    summary.push_str("</ul></section>");
    let mut body = Vec::with_capacity(listing.len() + summary.len());
    match find(listing, b"<body>") {
        Some(at) => {
            body.extend_from_slice(&listing[..at + 6]);
            body.extend_from_slice(summary.as_bytes());
            body.extend_from_slice(&listing[at + 6..]);
        }
        None => {
            body.extend_from_slice(summary.as_bytes());
            body.extend_from_slice(listing);
        }
    }
    page(out, ctx, framing, 200, "text/html; charset=utf-8", &body)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}
