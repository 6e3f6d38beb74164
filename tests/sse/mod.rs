//! Helpers for the live-view tests: a Server-Sent Events parser that follows the interpretation
//! rules of the HTML Living Standard ("Server-sent events", 9.2.6), so the tests check what an
//! `EventSource` would see rather than byte strings; a client for one close-delimited event
//! stream over a raw socket; and small request helpers (POST a record, GET JSON).
//!
//! Like `common`, every read has a deadline: no helper can hang a test.
#![allow(dead_code)]

use crate::common::{check_imf_fixdate, is_reset, Client, Response, Server, IO_TIMEOUT};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// The parser
// ---------------------------------------------------------------------------------------------

/// One dispatched event, as `EventSource` would hand it to `onmessage`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field, or `message`.
    pub event_type: String,
    /// The data buffer with its last LF removed (lines of a multi-line event joined by `\n`).
    pub data: String,
    /// `lastEventId` at dispatch (the last `id:` field seen on the stream, not only in this event).
    pub id: String,
}

/// What the parser reports, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Event(Event),
    /// A comment line (`:` first), without the colon and one leading space.
    Comment(String),
    /// A valid `retry:` field (milliseconds).
    Retry(u64),
}

/// An incremental event-stream parser: feed bytes as they arrive, take items as they complete.
#[derive(Debug, Default)]
pub struct SseParser {
    buf: Vec<u8>,
    started: bool,
    data: String,
    event_type: String,
    last_event_id: String,
    items: VecDeque<Item>,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes from the stream and parses every complete line.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if !self.started {
            if self.buf.len() < 3 && b"\xEF\xBB\xBF".starts_with(&self.buf) {
                return; // could still be a BOM
            }
            if self.buf.starts_with(b"\xEF\xBB\xBF") {
                self.buf.drain(..3);
            }
            self.started = true;
        }
        let mut pos = 0;
        while let Some(i) = self.buf[pos..]
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
        {
            let end = pos + i;
            let skip = if self.buf[end] == b'\r' {
                match self.buf.get(end + 1) {
                    Some(b'\n') => 2,
                    Some(_) => 1,
                    // A CR at the end of what arrived may be the first half of CRLF.
                    None => break,
                }
            } else {
                1
            };
            let line = String::from_utf8_lossy(&self.buf[pos..end]).into_owned();
            self.line(&line);
            pos = end + skip;
        }
        self.buf.drain(..pos);
    }

    /// The end of the stream: a line ended by a CR that was the last byte counts; an unterminated
    /// line and an event without its blank line are discarded (as the spec says).
    pub fn finish(&mut self) {
        if let Some(line) = self.buf.strip_suffix(b"\r") {
            let line = String::from_utf8_lossy(line).into_owned();
            self.line(&line);
        }
        self.buf.clear();
    }

    /// Bytes received but not yet part of a complete line.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    pub fn next_item(&mut self) -> Option<Item> {
        self.items.pop_front()
    }

    fn line(&mut self, line: &str) {
        if line.is_empty() {
            self.dispatch();
            return;
        }
        if let Some(comment) = line.strip_prefix(':') {
            let text = comment.strip_prefix(' ').unwrap_or(comment);
            self.items.push_back(Item::Comment(text.to_string()));
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event_type = value.to_string(),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => self.last_event_id = value.to_string(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(ms) = value.parse() {
                    self.items.push_back(Item::Retry(ms));
                }
            }
            _ => {} // ignored, as the spec says
        }
    }

    fn dispatch(&mut self) {
        if self.data.is_empty() {
            self.event_type.clear();
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the last LF
        let event_type = match std::mem::take(&mut self.event_type) {
            t if t.is_empty() => "message".to_string(),
            t => t,
        };
        self.items.push_back(Item::Event(Event {
            event_type,
            data,
            id: self.last_event_id.clone(),
        }));
    }
}

// ---------------------------------------------------------------------------------------------
// The stream client
// ---------------------------------------------------------------------------------------------

/// One live stream: the response head, then items as the parser produces them.
pub struct EventStream {
    pub stream: TcpStream,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub raw_head: String,
    /// Every body byte received so far (for byte-level checks).
    pub raw: Vec<u8>,
    parser: SseParser,
    /// The server closed the connection (EOF or reset).
    pub closed: bool,
}

/// `GET target` asking for `text/event-stream`, with `extra` header lines (`"Name: value"`).
pub fn stream_request(target: &str, extra: &[&str]) -> Vec<u8> {
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n");
    for h in extra {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    req.into_bytes()
}

impl EventStream {
    /// Opens `target` on `addr` and reads the response head.
    #[track_caller]
    pub fn open(addr: SocketAddr, target: &str, extra: &[&str]) -> EventStream {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        EventStream::open_on(stream, target, extra)
    }

    /// Sends the request on an already connected socket and reads the response head.
    #[track_caller]
    pub fn open_on(mut stream: TcpStream, target: &str, extra: &[&str]) -> EventStream {
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream
            .write_all(&stream_request(target, extra))
            .expect("send the stream request");
        let mut es = EventStream {
            stream,
            status: 0,
            headers: Vec::new(),
            raw_head: String::new(),
            raw: Vec::new(),
            parser: SseParser::new(),
            closed: false,
        };
        es.read_head();
        es
    }

    fn read_head(&mut self) {
        let mut got = Vec::new();
        let deadline = Instant::now() + IO_TIMEOUT;
        let end = loop {
            if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(
                Instant::now() < deadline,
                "no response head within {IO_TIMEOUT:?}"
            );
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!(
                    "closed before a response head: {:?}",
                    String::from_utf8_lossy(&got)
                ),
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("reading the response head: {e}"),
            }
        };
        let head = String::from_utf8(got[..end].to_vec()).expect("UTF-8 head");
        let mut lines = head.trim_end_matches("\r\n").split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let code = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|r| r.get(..3))
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
        self.status = code;
        for line in lines {
            let (n, v) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("bad header line {line:?}"));
            self.headers.push((n.to_string(), v.trim().to_string()));
        }
        self.raw_head = head;
        check_imf_fixdate(self.header("date").expect("Date header"));
        assert_eq!(self.header("server"), Some("sluice"), "{}", self.raw_head);
        let rest = got[end..].to_vec();
        self.take(&rest);
    }

    /// The only header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let all: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        assert!(all.len() <= 1, "{name} repeated:\n{}", self.raw_head);
        all.first().copied()
    }

    fn take(&mut self, bytes: &[u8]) {
        self.raw.extend_from_slice(bytes);
        self.parser.feed(bytes);
    }

    /// Reads once, waiting at most `within`. False on timeout or close.
    fn read_some(&mut self, within: Duration) -> bool {
        if self.closed || within.is_zero() {
            return false;
        }
        self.stream.set_read_timeout(Some(within)).unwrap();
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.closed = true;
                    self.parser.finish();
                    return false;
                }
                Ok(n) => {
                    self.take(&chunk[..n]);
                    return true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return false
                }
                Err(e) if is_reset(&e) => {
                    self.closed = true;
                    return false;
                }
                Err(e) => panic!("reading the event stream: {e}"),
            }
        }
    }

    /// The next item within `within`, or `None` on timeout or close.
    pub fn next_item(&mut self, within: Duration) -> Option<Item> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(item) = self.parser.next_item() {
                return Some(item);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if !self.read_some(left) && (self.closed || Instant::now() >= deadline) {
                return self.parser.next_item();
            }
        }
    }

    /// The next event (comments and retry fields are skipped), or `None` on timeout or close.
    pub fn try_next_event(&mut self, within: Duration) -> Option<Event> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_item(left)? {
                Item::Event(e) => return Some(e),
                Item::Comment(_) | Item::Retry(_) => {}
            }
        }
    }

    /// The next event; panics if none arrives within [`IO_TIMEOUT`].
    #[track_caller]
    pub fn next_event(&mut self) -> Event {
        match self.try_next_event(IO_TIMEOUT) {
            Some(e) => e,
            None => panic!(
                "no event within {IO_TIMEOUT:?} (closed: {}); stream so far: {:?}",
                self.closed,
                String::from_utf8_lossy(&self.raw[self.raw.len().saturating_sub(600)..])
            ),
        }
    }

    /// The next `n` events.
    #[track_caller]
    pub fn events(&mut self, n: usize) -> Vec<Event> {
        (0..n).map(|_| self.next_event()).collect()
    }

    /// Asserts that no event arrives for `dur` (comments may).
    #[track_caller]
    pub fn assert_no_event_for(&mut self, dur: Duration) {
        if let Some(e) = self.try_next_event(dur) {
            panic!("unexpected event {e:?}");
        }
    }

    /// Reads (and parses) until the server closes or `within` passes; true if it closed.
    pub fn wait_closed(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while !self.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.read_some(left.min(Duration::from_millis(200)));
        }
        self.closed
    }

    /// Every item already parsed, without reading.
    pub fn drain_items(&mut self) -> Vec<Item> {
        std::iter::from_fn(|| self.parser.next_item()).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// `POST target` with a Content-Length body.
pub fn post(target: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST {target} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

/// Posts `body` as a record of `device` on `c` and asserts a 2xx.
#[track_caller]
pub fn post_record(c: &mut Client, device: &str, body: &[u8]) -> Response {
    let r = c.request(&post(&format!("/devices/{device}"), body));
    assert!(
        (200..300).contains(&r.status),
        "POST to {device}: {}\n{}",
        r.status,
        r.raw_head
    );
    r
}

/// `GET target` on a new connection; the response.
#[track_caller]
pub fn fetch(server: &Server, target: &str) -> Response {
    let mut c = server.connect();
    c.request(
        &format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").into_bytes(),
    )
}

/// `GET target` expecting 200 `application/json`; the parsed document.
#[track_caller]
pub fn get_json(server: &Server, target: &str) -> serde_json::Value {
    let r = fetch(server, target);
    r.assert_status(200);
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{}",
        r.raw_head
    );
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{target}: invalid JSON ({e}): {}", r.body_str()))
}

/// The object of device `id` in a `/api/devices` document; panics if absent.
#[track_caller]
pub fn device<'a>(doc: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    doc["devices"]
        .as_array()
        .expect("devices array")
        .iter()
        .find(|d| d["id"] == id)
        .unwrap_or_else(|| panic!("no device {id} in {doc}"))
}

/// `GET /api/devices` once no device but `except` is still counting the records found in its
/// file at start (`"counting": true`); panics after a minute, which only a hung count needs.
#[track_caller]
pub fn api_devices_counted(server: &Server, except: Option<&str>) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let doc = get_json(server, "/api/devices");
        let counted = doc["devices"]
            .as_array()
            .expect("devices array")
            .iter()
            .all(|d| Some(d["id"].as_str().unwrap_or("")) == except || d["counting"] == false);
        if counted {
            return doc;
        }
        assert!(
            Instant::now() < deadline,
            "records still being counted after a minute: {doc}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The value of the sample `series` (a metric name with its labels exactly as exposed, e.g.
/// `sluice_requests_total{method="GET",class="2xx"}`) from `GET /metrics`; panics if absent.
#[track_caller]
pub fn metric(server: &Server, series: &str) -> f64 {
    let r = fetch(server, "/metrics");
    r.assert_status(200);
    let text = r.body_str();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse::<f64>().expect("numeric sample"))
        })
        .unwrap_or_else(|| panic!("no sample {series} in /metrics:\n{text}"))
}

/// Polls `cond` every 20 ms until it holds or `within` passes; whether it held.
pub fn wait_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod parser_tests {
    use super::*;

    fn items(chunks: &[&[u8]]) -> Vec<Item> {
        let mut p = SseParser::new();
        for c in chunks {
            p.feed(c);
        }
        p.finish();
        std::iter::from_fn(|| p.next_item()).collect()
    }

    fn ev(data: &str, id: &str) -> Item {
        Item::Event(Event {
            event_type: "message".into(),
            data: data.into(),
            id: id.into(),
        })
    }

    #[test]
    fn parser_follows_the_spec_rules() {
        // The examples of the HTML standard, and line breaks split across chunks.
        assert_eq!(
            items(&[b"data: YHOO\ndata: +2\ndata: 10\n\n"]),
            vec![ev("YHOO\n+2\n10", "")]
        );
        assert_eq!(
            items(&[b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n"]),
            vec![
                Item::Comment("test stream".into()),
                ev("first event", "1"),
                ev("second event", ""),
                ev(" third event", ""),
            ]
        );
        assert_eq!(
            items(&[b"data\n\ndata\ndata\n\ndata:"]),
            vec![ev("", ""), ev("\n", "")]
        );
        assert_eq!(
            items(&[
                b"\xEF\xBB",
                b"\xBFretry: 2000\r",
                b"\nid: 9\rdata: a\r",
                b"\r"
            ]),
            vec![Item::Retry(2000), ev("a", "9")]
        );
        assert_eq!(items(&[b"retry: x\n\nevent: e\n\n"]), vec![]);
    }
}
