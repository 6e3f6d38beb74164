//! `GET /devices/{id}/live` from a browser (no `Accept: text/event-stream`): the page that shows
//! that device's live stream. Self-contained: inline CSS and JavaScript, no external assets.
use crate::http::reply::{Framing, Reply, ReplyKit};

const LIVE_HTML: &str = include_str!("live.html");

/// Writes the live page.
pub fn page(
    out: &mut Vec<u8>,
    kit: &mut ReplyKit,
    framing: Framing,
    accept: Option<&[u8]>,
) -> Reply {
    let html = "text/html; charset=utf-8";
    kit.page(out, framing, accept, 200, html, LIVE_HTML.as_bytes())
}
