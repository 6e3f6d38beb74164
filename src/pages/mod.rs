//! Generated pages and APIs: the dashboard, the per-device live page, `GET /api/devices`,
//! `GET /healthz`, `GET /metrics`, the home page, and the start of a live event stream.
//! Pages are self-contained (inline CSS and JavaScript, no external assets).
mod api;

pub use api::devices_json;

use crate::http::accept_encoding;
use crate::http::request::RequestHead;
use crate::http::response;
use crate::limits::MIN_GZIP_BYTES;
use crate::observe::metrics;
use crate::routes::context::Context;
use crate::routes::{Framing, Reply};

const DASHBOARD_HTML: &str = include_str!("dashboard.html");
const LIVE_HTML: &str = include_str!("../live/live.html");

/// How a generated body is sent.
#[derive(Debug, Clone, Copy)]
pub struct Send<'a> {
    pub status: u16,
    pub content_type: &'a [u8],
    /// `Cache-Control` value, if any.
    pub cache: Option<&'a [u8]>,
    /// The body depends on `Accept` too (content negotiation of listings).
    pub vary_accept: bool,
    /// Bodies at least this long are gzipped for clients that prefer gzip; `usize::MAX` never.
    pub min_gzip: usize,
    /// Adds `X-Content-Type-Options: nosniff` (bodies that echo the request).
    pub nosniff: bool,
}

impl<'a> Send<'a> {
    /// A 200 of `content_type`, gzipped from `MIN_GZIP_BYTES`, not cached.
    pub fn ok(content_type: &'a [u8]) -> Self {
        Send {
            status: 200,
            content_type,
            cache: Some(b"no-store"),
            vary_accept: false,
            min_gzip: MIN_GZIP_BYTES,
            nosniff: false,
        }
    }
}

/// Writes a complete response with the generated `body`, gzipped when `accept_encoding`
/// prefers gzip to identity and the body is long enough (RFC 9110 section 12.5.3).
pub fn send(
    out: &mut Vec<u8>,
    ctx: &mut Context,
    framing: Framing,
    accept_encoding: Option<&[u8]>,
    how: Send<'_>,
    body: &[u8],
) -> Reply {
    let negotiable = how.min_gzip != usize::MAX;
    let gzip = negotiable && body.len() >= how.min_gzip && prefers_gzip(accept_encoding);
    let mut packed = std::mem::take(&mut ctx.gzip_out);
    packed.clear();
    if gzip {
        ctx.gzip.compress(body, &mut packed);
    }
    let sent: &[u8] = if gzip { &packed } else { body };
    response::start(out, how.status, ctx.date.as_bytes());
    response::header(out, "Content-Type", how.content_type);
    response::content_length(out, sent.len() as u64);
    if gzip {
        response::header(out, "Content-Encoding", b"gzip");
    }
    match (negotiable, how.vary_accept) {
        (true, true) => response::header(out, "Vary", b"Accept-Encoding, Accept"),
        (true, false) => response::header(out, "Vary", b"Accept-Encoding"),
        (false, true) => response::header(out, "Vary", b"Accept"),
        (false, false) => {}
    }
    if let Some(cache) = how.cache {
        response::header(out, "Cache-Control", cache);
    }
    if how.nosniff {
        response::header(out, "X-Content-Type-Options", b"nosniff");
    }
    response::connection(out, framing.close, framing.http10_keep_alive);
    response::end(out);
    if !framing.head_only {
        out.extend_from_slice(sent);
    }
    let body_len = if framing.head_only {
        0
    } else {
        sent.len() as u64
    };
    ctx.gzip_out = packed;
    Reply {
        status: how.status,
        body_len,
        file: None,
    }
}

/// Whether a generated body goes out gzipped: gzip is acceptable (q > 0, by name or `*`) and
/// `identity` is not explicitly given a higher weight. The implicit acceptability of identity
/// does not count against a gzip the client listed.
fn prefers_gzip(accept_encoding: Option<&[u8]>) -> bool {
    let gzip = accept_encoding::weight(accept_encoding, "gzip");
    if gzip == 0 {
        return false;
    }
    let identity = accept_encoding.and_then(|field| {
        accept_encoding::weighted(field)
            .find(|(name, _)| name.eq_ignore_ascii_case(b"identity"))
            .map(|(_, q)| q)
    });
    identity.map_or(true, |q| gzip >= q)
}

/// Writes a complete 200 (or `status`) response with `body` (see [`send`]).
pub fn page(
    out: &mut Vec<u8>,
    ctx: &mut Context,
    framing: Framing,
    accept_encoding: Option<&[u8]>,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Reply {
    let how = Send {
        status,
        ..Send::ok(content_type.as_bytes())
    };
    send(out, ctx, framing, accept_encoding, how, body)
}

/// `GET /echo/{text}`: the (percent-decoded) text back as `text/plain`.
pub fn echo(
    out: &mut Vec<u8>,
    ctx: &mut Context,
    framing: Framing,
    head: &RequestHead<'_, '_>,
) -> Reply {
    let text = head.path.strip_prefix("/echo/").unwrap_or("");
    let decoded: std::borrow::Cow<'_, [u8]> = percent_encoding::percent_decode_str(text).into();
    plain_text(out, ctx, framing, head, &decoded)
}

/// `GET /user-agent`: the request's User-Agent back as `text/plain` (empty without one).
pub fn user_agent(
    out: &mut Vec<u8>,
    ctx: &mut Context,
    framing: Framing,
    head: &RequestHead<'_, '_>,
) -> Reply {
    let agent = head.header("user-agent").unwrap_or(b"");
    plain_text(out, ctx, framing, head, agent)
}

/// `text/plain` exactly, always with Content-Length, gzip whenever the client prefers it.
fn plain_text(
    out: &mut Vec<u8>,
    ctx: &mut Context,
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
    send(out, ctx, framing, head.header("accept-encoding"), how, text)
}

/// `GET /devices`: the dashboard.
pub fn dashboard(
    out: &mut Vec<u8>,
    ctx: &mut Context,
    framing: Framing,
    accept: Option<&[u8]>,
) -> Reply {
    page(
        out,
        ctx,
        framing,
        accept,
        200,
        "text/html; charset=utf-8",
        DASHBOARD_HTML.as_bytes(),
    )
}

/// `GET /devices/{id}/live` from a browser: the page that shows that device's live stream.
pub fn live_page(
    out: &mut Vec<u8>,
    ctx: &mut Context,
    framing: Framing,
    accept: Option<&[u8]>,
) -> Reply {
    page(
        out,
        ctx,
        framing,
        accept,
        200,
        "text/html; charset=utf-8",
        LIVE_HTML.as_bytes(),
    )
}

/// `GET /api/devices`.
pub fn api_devices(
    out: &mut Vec<u8>,
    ctx: &mut Context,
    framing: Framing,
    accept: Option<&[u8]>,
) -> Reply {
    let mut body = std::mem::take(&mut ctx.page);
    body.clear();
    devices_json(ctx, &mut body);
    let reply = page(out, ctx, framing, accept, 200, "application/json", &body);
    ctx.page = body;
    reply
}

/// `GET /healthz`: 200 while accepting work; 503 while shutting down or refusing ingest.
pub fn healthz(out: &mut Vec<u8>, ctx: &mut Context, framing: Framing) -> Reply {
    let (status, body): (u16, &[u8]) = if ctx.draining {
        (503, b"shutting down\n")
    } else if ctx.store.admit().is_err() {
        (503, b"ingest refusing work\n")
    } else {
        (200, b"ok\n")
    };
    page(
        out,
        ctx,
        framing,
        None,
        status,
        "text/plain; charset=utf-8",
        body,
    )
}

/// `GET /metrics`: Prometheus text format.
pub fn metrics(
    out: &mut Vec<u8>,
    ctx: &mut Context,
    framing: Framing,
    accept: Option<&[u8]>,
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
        accept,
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        &body,
    );
    ctx.page = body;
    reply
}

/// The home page for `GET /` when ROOT has no index.html: a devices summary above the listing
/// page `listing` (a complete HTML document).
pub fn home(
    out: &mut Vec<u8>,
    ctx: &mut Context,
    framing: Framing,
    accept: Option<&[u8]>,
    listing: &[u8],
) -> Reply {
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
    page(
        out,
        ctx,
        framing,
        accept,
        200,
        "text/html; charset=utf-8",
        &body,
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}
