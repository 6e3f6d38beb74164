//! The start of a live stream: `GET /devices/{id}/live` asked for as `text/event-stream` (what
//! `EventSource` sends) and `GET /api/live` (every device). The response is close-delimited
//! (RFC 9112 section 6.3, rule 8): events follow for as long as the client stays.
//!
//! Event ids are byte offsets in the device file just past the record, so a client that
//! reconnects with `Last-Event-ID: N` is sent what was stored after offset N (at most
//! `MAX_REPLAY_BYTES`, the newest), then the live records. `?tail=N` replays the last N lines.
//! Replayed data is split into lines, since the file keeps no other record boundaries.
use crate::files::OpenFile;
use crate::http::error::RequestError;
use crate::http::request::{Method, RequestHead};
use crate::http::{response, sse};
use crate::limits::{MAX_REPLAY_BYTES, MAX_TAIL_RECORDS, TAIL_WINDOW_BYTES};
use std::os::unix::fs::FileExt;

/// Tells the browser how soon to reconnect, in milliseconds.
const RETRY_MS: &[u8] = b"retry: 2000\n\n";

/// Whether `head` asks for an event stream (`Accept: text/event-stream`, what `EventSource`
/// sends) rather than a page.
pub fn asks_for_events(head: &RequestHead<'_, '_>) -> bool {
    head.header("accept")
        .is_some_and(|a| memchr::memmem::find(a, b"text/event-stream").is_some())
}

/// What a device stream replays before its live events: the records after the byte offset of
/// `Last-Event-ID`, or the last `?tail=N` lines; `None` when the request asks for neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replay {
    resume: Option<u64>,
    tail: Option<usize>,
}

impl Replay {
    /// What `head` asks to replay, or 400 for a bad `?tail=`.
    pub fn asked(head: &RequestHead<'_, '_>) -> Result<Option<Replay>, RequestError> {
        let resume = head
            .header("last-event-id")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let tail = head
            .query
            .and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "tail")
                    .map(|(_, v)| v.parse::<usize>().map_err(|_| RequestError::BadTail))
            })
            .transpose()?;
        let tail = tail.map(|n| n.min(MAX_TAIL_RECORDS));
        Ok((resume.is_some() || tail.is_some()).then_some(Replay { resume, tail }))
    }
}

/// Writes the stream's head, the retry hint and the replay of `replay` from the device file
/// `file` (none when the device has no file yet) into `out`.
pub fn start(
    head: &RequestHead<'_, '_>,
    replay: Option<(Replay, Option<OpenFile>)>,
    date: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), RequestError> {
    let replay = match replay {
        Some((asked, Some(file))) => events_of(&file, asked)?,
        _ => Vec::new(),
    };
    response::start(out, 200, date);
    response::header(out, "Content-Type", b"text/event-stream");
    response::header(out, "Cache-Control", b"no-store");
    response::connection(out, true, false);
    response::end(out);
    if head.method == Method::Head {
        return Ok(());
    }
    out.extend_from_slice(RETRY_MS);
    out.extend_from_slice(&replay);
    Ok(())
}

/// The events to replay from `file`: after `resume` (a byte offset), or the last `tail` lines.
fn events_of(file: &OpenFile, Replay { resume, tail }: Replay) -> Result<Vec<u8>, RequestError> {
    let len = file.len;
    let window = MAX_REPLAY_BYTES.min(len);
    let mut start = match resume {
        Some(offset) => offset.min(len).max(len - window),
        None => len - window.min(TAIL_WINDOW_BYTES),
    };
    let mut data = vec![0; (len - start) as usize];
    file.file
        .read_exact_at(&mut data, start)
        .map_err(|_| RequestError::Internal)?;
    let mut text: &[u8] = &data;
    // Starting inside a line (window cut, or a resume offset mid-record): skip to the next line,
    // unless the client asked for exactly this offset.
    if resume != Some(start) && start > 0 {
        let skip = memchr::memchr(b'\n', text).map_or(text.len(), |i| i + 1);
        text = &text[skip..];
        start += skip as u64;
    }
    let mut lines: Vec<(u64, &[u8])> = Vec::new();
    let mut offset = start;
    while !text.is_empty() {
        let end = memchr::memchr(b'\n', text).map_or(text.len(), |i| i + 1);
        offset += end as u64;
        lines.push((offset, &text[..end]));
        text = &text[end..];
    }
    if let Some(n) = tail {
        let from = lines.len().saturating_sub(n);
        lines.drain(..from);
    }
    let mut out = Vec::new();
    for (end, line) in lines {
        sse::push_event(&mut out, None, end, line);
    }
    Ok(out)
}
