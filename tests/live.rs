//! The live view over Server-Sent Events: `GET /devices/{id}/live` (as `text/event-stream`) and
//! `GET /api/live`. Streams are read over raw sockets and parsed with the spec's rules
//! (`sse::SseParser`), so the checks are on what a browser's `EventSource` would dispatch:
//! framing of multi-line records, event ids equal to byte offsets in the device file, resume by
//! `Last-Event-ID`, `?tail=N`, heartbeats, and the cut-off of a subscriber that does not read.

mod common;
mod sse;

use common::*;
use sse::*;
use std::fs;
use std::net::TcpStream;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

/// A server with its own `--data` directory, so the tests can read the device files.
struct Live {
    server: Server,
    data: tempfile::TempDir,
    _root: tempfile::TempDir,
}

impl Live {
    fn start(extra: &[&str]) -> Live {
        let root = basic_root();
        let data = tempfile::tempdir().expect("data dir");
        let mut args = vec!["--data", data.path().to_str().unwrap()];
        args.extend_from_slice(extra);
        let server = Server::start(root.path(), &args);
        Live {
            server,
            data,
            _root: root,
        }
    }

    fn stream(&self, target: &str, extra: &[&str]) -> EventStream {
        EventStream::open(self.server.addr(), target, extra)
    }

    fn file(&self, device: &str) -> PathBuf {
        self.data.path().join(device)
    }
}

/// What a record of `body` looks like as event data: its lines (split at CRLF, CR or LF) joined
/// by LF, one trailing line break dropped.
fn as_event_data(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .or_else(|| text.strip_suffix('\r'))
        .unwrap_or(&text);
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// Posts each body to `device` on one connection; returns the offset just past each record.
fn post_all(live: &Live, device: &str, bodies: &[Vec<u8>], start: u64) -> Vec<u64> {
    let mut c = live.server.connect();
    let mut end = start;
    bodies
        .iter()
        .map(|b| {
            post_record(&mut c, device, b);
            end += b.len() as u64;
            end
        })
        .collect()
}

fn lines(prefix: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{prefix} {i} {}\n", "x".repeat(i % 7)).into_bytes())
        .collect()
}

#[track_caller]
fn assert_event(e: &Event, data: &str, id: u64) {
    assert_eq!(e.event_type, "message", "{e:?}");
    assert_eq!(e.data, data, "{e:?}");
    assert_eq!(e.id, id.to_string(), "event id of {data:?}");
}

// ---------------------------------------------------------------------------------------------
// The response
// ---------------------------------------------------------------------------------------------

#[test]
fn stream_head_is_close_delimited_event_stream_with_retry_hint() {
    let l = Live::start(&[]);
    let mut s = l.stream("/devices/kitchen/live", &[]);
    assert_eq!(s.status, 200, "{}", s.raw_head);
    assert_eq!(s.header("content-type"), Some("text/event-stream"));
    assert_eq!(s.header("cache-control"), Some("no-store"));
    assert!(
        s.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close")),
        "a close-delimited body needs Connection: close:\n{}",
        s.raw_head
    );
    assert_eq!(s.header("content-length"), None, "{}", s.raw_head);
    assert_eq!(s.header("transfer-encoding"), None, "{}", s.raw_head);
    assert_eq!(s.next_item(IO_TIMEOUT), Some(Item::Retry(2000)));
    assert!(s.raw.starts_with(b"retry: 2000\n\n"), "{:?}", s.raw);
    s.assert_no_event_for(Duration::from_millis(300));
    assert!(!s.closed, "the stream stays open");
}

#[test]
fn head_request_gets_the_stream_head_only() {
    let l = Live::start(&[]);
    let mut c = l.server.connect();
    c.send(b"HEAD /devices/kitchen/live HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n");
    let w = c.wait_for_close(IO_TIMEOUT);
    assert!(w.closed, "HEAD of a stream ends with the head");
    let text = String::from_utf8_lossy(&w.bytes);
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    assert!(
        text.contains("Content-Type: text/event-stream\r\n"),
        "{text}"
    );
    assert!(
        text.ends_with("\r\n\r\n"),
        "no body after a HEAD head: {text:?}"
    );
}

#[test]
fn browser_navigation_gets_the_live_page() {
    let l = Live::start(&[]);
    for accept in ["", "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n"] {
        let mut c = l.server.connect();
        let r = c.request(
            format!("GET /devices/kitchen/live HTTP/1.1\r\nHost: t\r\n{accept}\r\n").as_bytes(),
        );
        r.assert_status(200);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert!(r.body_str().contains("EventSource"), "the page subscribes");
        expect_still_open(&mut c);
    }
}

/// The live page follows the method rule of every resource route: OPTIONS lists the methods,
/// an unknown method is 501, a known one it does not allow is 405 with `Allow`.
#[test]
fn the_live_page_follows_the_method_rule() {
    let l = Live::start(&[]);
    let mut c = l.server.connect();
    let r = c.request(b"OPTIONS /devices/kitchen/live HTTP/1.1\r\nHost: t\r\n\r\n");
    r.assert_status(204);
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
    let r = c.request(b"BREW /devices/kitchen/live HTTP/1.1\r\nHost: t\r\n\r\n");
    r.assert_status(501);
    let r = c.request(b"DELETE /devices/kitchen/live HTTP/1.1\r\nHost: t\r\n\r\n");
    r.assert_status(405);
    assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
    expect_still_open(&mut c);
}

#[test]
fn invalid_device_ids_are_400() {
    let l = Live::start(&[]);
    let long = "a".repeat(65);
    for id in [".hidden", "a%20b", "sp ce", long.as_str(), "%2e%2e"] {
        let target = format!("/devices/{id}/live");
        let mut c = l.server.connect();
        c.send(&stream_request(&target, &[]));
        let r = c.read_response();
        assert_eq!(r.status, 400, "{target}:\n{}", r.raw_head);
    }
    // The same ids in a browser navigation.
    let mut c = l.server.connect();
    c.request(&get("/devices/.hidden/live")).assert_status(400);
}

// ---------------------------------------------------------------------------------------------
// Framing and ids
// ---------------------------------------------------------------------------------------------

#[test]
fn multi_line_records_become_one_event_and_field_lookalikes_stay_data() {
    // Raw framing: a body is one record, however many lines it has.
    let l = Live::start(&["--framing", "raw"]);
    let mut s = l.stream("/devices/kitchen/live", &[]);
    let bodies: Vec<Vec<u8>> = vec![
        b"first\r\nsecond\rthird\nid: 7\nevent: alarm\nretry: 1\n: not a comment\n\ndata: x\r\n"
            .to_vec(),
        b"no line break at the end".to_vec(),
        b"two trailing\n\n".to_vec(),
        b"\n".to_vec(),
        b"cr only\r".to_vec(),
    ];
    let ends = post_all(&l, "kitchen", &bodies, 0);
    for (body, end) in bodies.iter().zip(&ends) {
        let e = s.next_event();
        assert_event(&e, &as_event_data(body), *end);
    }
    // The first record's data, spelled out: its lines, none of them a field of the stream.
    let first = as_event_data(&bodies[0]);
    assert_eq!(
        first,
        "first\nsecond\nthird\nid: 7\nevent: alarm\nretry: 1\n: not a comment\n\ndata: x"
    );
    let raw = String::from_utf8_lossy(&s.raw);
    assert!(
        raw.contains("data: id: 7\n") && !raw.contains("\nid: 7\n"),
        "{raw:?}"
    );
    assert!(!raw.contains('\r'), "no CR reaches the stream: {raw:?}");
    assert!(
        !s.drain_items().contains(&Item::Retry(1)),
        "retry inside a record must not change the reconnection time"
    );
    s.assert_no_event_for(Duration::from_millis(200));
}

#[test]
fn event_ids_are_offsets_in_the_device_file() {
    let l = Live::start(&["--framing", "raw"]);
    let mut s = l.stream("/devices/meter/live", &[]);
    let mut bodies = lines("kWh", 25);
    bodies.push(b"last one, multi\nline".to_vec());
    let ends = post_all(&l, "meter", &bodies, 0);
    let events = s.events(bodies.len());
    let file = fs::read(l.file("meter")).expect("device file");
    let mut start = 0usize;
    for ((e, body), end) in events.iter().zip(&bodies).zip(&ends) {
        let id: usize = e.id.parse().expect("numeric id");
        assert_eq!(id as u64, *end);
        // The bytes between two ids in the file are exactly this event's record.
        assert_eq!(&file[start..id], &body[..], "file bytes before id {id}");
        assert_eq!(e.data, as_event_data(&file[start..id]));
        start = id;
    }
    assert_eq!(file.len(), start, "the last id is the file length");
    let r = fetch(&l.server, "/devices/meter");
    r.assert_status(200);
    assert_eq!(r.content_length(), Some(start as u64));
}

/// Lines framing (the default): each line of a body is a record, and an event of its own whose
/// id is the offset just past that line; line breaks of any kind become one `\n` in the file.
#[test]
fn each_line_of_a_body_is_an_event_with_its_offset() {
    let l = Live::start(&[]);
    let mut s = l.stream("/devices/lines/live", &[]);
    let mut c = l.server.connect();
    post_record(&mut c, "lines", b"a=1\r\nb=2\n\nc=3");
    post_record(&mut c, "lines", b"d=4\r");
    let want = [("a=1", 4), ("b=2", 8), ("c=3", 12), ("d=4", 16)];
    for (data, end) in want {
        assert_event(&s.next_event(), data, end);
    }
    s.assert_no_event_for(Duration::from_millis(200));
    assert_eq!(fs::read(l.file("lines")).unwrap(), b"a=1\nb=2\nc=3\nd=4\n");
}

#[test]
fn each_stream_gets_only_its_device() {
    let l = Live::start(&[]);
    let mut garage = l.stream("/devices/garage/live", &[]);
    let mut kitchen = l.stream("/devices/kitchen/live", &[]);
    let mut c = l.server.connect();
    post_record(&mut c, "kitchen", b"k1\n");
    post_record(&mut c, "garage", b"g1\n");
    post_record(&mut c, "kitchen", b"k2\n");
    assert_event(&garage.next_event(), "g1", 3);
    assert_event(&kitchen.next_event(), "k1", 3);
    assert_event(&kitchen.next_event(), "k2", 6);
    garage.assert_no_event_for(Duration::from_millis(200));
}

// ---------------------------------------------------------------------------------------------
// Resume and tail
// ---------------------------------------------------------------------------------------------

#[test]
fn reconnect_with_last_event_id_gets_exactly_the_missed_records_then_live_ones() {
    let l = Live::start(&[]);
    let bodies = lines("t=21", 8);
    // A first subscriber sees records 0..3, then goes away.
    let mut a = l.stream("/devices/probe/live", &[]);
    let ends = post_all(&l, "probe", &bodies[..3], 0);
    let seen = a.events(3);
    drop(a);
    // While it is away, records 3..6 arrive.
    let more = post_all(&l, "probe", &bodies[3..6], ends[2]);
    // It reconnects with the id of the last event it saw, like EventSource does.
    let last = format!("Last-Event-ID: {}", seen[2].id);
    let mut b = l.stream("/devices/probe/live", &[&last]);
    let replayed = b.events(3);
    for (i, e) in replayed.iter().enumerate() {
        assert_event(e, &as_event_data(&bodies[3 + i]), more[i]);
    }
    b.assert_no_event_for(Duration::from_millis(300)); // nothing twice
    let live = post_all(&l, "probe", &bodies[6..], more[2]);
    for (i, end) in live.iter().enumerate() {
        assert_event(&b.next_event(), &as_event_data(&bodies[6 + i]), *end);
    }
    b.assert_no_event_for(Duration::from_millis(300));
}

#[test]
fn last_event_id_edge_cases() {
    let l = Live::start(&[]);
    let bodies = lines("v", 4);
    let ends = post_all(&l, "edge", &bodies, 0);
    let len = *ends.last().unwrap();
    // 0: the whole file.
    let mut s = l.stream("/devices/edge/live", &["Last-Event-ID: 0"]);
    for (body, end) in bodies.iter().zip(&ends) {
        assert_event(&s.next_event(), &as_event_data(body), *end);
    }
    s.assert_no_event_for(Duration::from_millis(200));
    // The current length, beyond it, or not a number: nothing replayed, then live.
    for header in [
        format!("Last-Event-ID: {len}"),
        format!("Last-Event-ID: {}", len + 1000),
        "Last-Event-ID: banana".to_string(),
    ] {
        let mut s = l.stream("/devices/edge/live", &[&header]);
        s.assert_no_event_for(Duration::from_millis(200));
        assert!(!s.closed, "{header}");
    }
    // A multi-line record is replayed one event per line (the file keeps no other boundary);
    // each id is the offset just past its line.
    let multi = post_all(&l, "edge", &[b"a\nb\n".to_vec()], len);
    let mut s = l.stream("/devices/edge/live", &[&format!("Last-Event-ID: {len}")]);
    assert_event(&s.next_event(), "a", len + 2);
    assert_event(&s.next_event(), "b", multi[0]);
    // An unknown device: nothing to replay, still a stream.
    let mut s = l.stream("/devices/nobody/live", &["Last-Event-ID: 5"]);
    assert_eq!(s.status, 200);
    s.assert_no_event_for(Duration::from_millis(200));
}

#[test]
fn tail_replays_the_last_lines() {
    let l = Live::start(&[]);
    let bodies = lines("rec", 10);
    let ends = post_all(&l, "tailed", &bodies, 0);
    let mut s = l.stream("/devices/tailed/live?tail=3", &[]);
    for i in 7..10 {
        assert_event(&s.next_event(), &as_event_data(&bodies[i]), ends[i]);
    }
    s.assert_no_event_for(Duration::from_millis(200));
    let next = post_all(&l, "tailed", &[b"live\n".to_vec()], ends[9]);
    assert_event(&s.next_event(), "live", next[0]);

    let mut s = l.stream("/devices/tailed/live?tail=0", &[]);
    s.assert_no_event_for(Duration::from_millis(200));
    // More than there are lines, and more than the cap (1000): every line, not an error.
    for n in [11, 5000] {
        let mut s = l.stream(&format!("/devices/tailed/live?tail={n}"), &[]);
        let got = s.events(11);
        assert_eq!(got[0].data, as_event_data(&bodies[0]));
        assert_eq!(got[10].id, next[0].to_string());
        s.assert_no_event_for(Duration::from_millis(200));
    }
    // An unknown device has nothing to replay.
    let mut s = l.stream("/devices/nobody/live?tail=5", &[]);
    assert_eq!(s.status, 200);
    s.assert_no_event_for(Duration::from_millis(200));
}

#[test]
fn tail_that_is_not_a_count_is_400() {
    let l = Live::start(&[]);
    post_all(&l, "tailed", &lines("rec", 2), 0);
    for q in [
        "tail=x",
        "tail=-1",
        "tail=",
        "tail=1.5",
        "tail=99999999999999999999999",
    ] {
        let mut c = l.server.connect();
        c.send(&stream_request(&format!("/devices/tailed/live?{q}"), &[]));
        let r = c.read_response();
        assert_eq!(r.status, 400, "?{q}:\n{}", r.raw_head);
        assert_ne!(r.header("content-type"), Some("text/event-stream"));
    }
}

// ---------------------------------------------------------------------------------------------
// Heartbeat
// ---------------------------------------------------------------------------------------------

#[test]
fn idle_stream_gets_heartbeat_comments() {
    let l = Live::start(&["--live-heartbeat", "0.3"]);
    let mut s = l.stream("/devices/quiet/live", &[]);
    let t0 = Instant::now();
    let mut beats = 0;
    while beats < 3 {
        match s.next_item(IO_TIMEOUT) {
            Some(Item::Comment(c)) => {
                assert_eq!(c, "heartbeat");
                beats += 1;
            }
            Some(Item::Retry(_)) => {}
            other => panic!(
                "expected a heartbeat, got {other:?} after {:?}",
                t0.elapsed()
            ),
        }
    }
    let took = t0.elapsed();
    // Three intervals of 0.3 s; generous on a loaded machine, but not the 15 s default.
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(6),
        "3 heartbeats took {took:?}"
    );
    assert!(String::from_utf8_lossy(&s.raw).ends_with("\n\n: heartbeat\n\n"));
    // Events still flow between heartbeats.
    post_all(&l, "quiet", &[b"x\n".to_vec()], 0);
    assert_event(&s.next_event(), "x", 2);
}

#[test]
fn default_heartbeat_is_not_sent_within_a_second() {
    let l = Live::start(&[]);
    let mut s = l.stream("/devices/quiet/live", &[]);
    assert_eq!(s.next_item(IO_TIMEOUT), Some(Item::Retry(2000)));
    assert_eq!(s.next_item(Duration::from_secs(1)), None);
    assert!(!s.closed);
}

// ---------------------------------------------------------------------------------------------
// /api/live
// ---------------------------------------------------------------------------------------------

#[test]
fn api_live_streams_every_device_as_json() {
    // Raw framing, so that a multi-line body is one record with its line break inside.
    let l = Live::start(&["--framing", "raw"]);
    let mut s = l.stream("/api/live", &[]);
    assert_eq!(s.status, 200);
    assert_eq!(s.header("content-type"), Some("text/event-stream"));
    let posts: [(&str, &[u8]); 4] = [
        ("kitchen", b"t=21.5\n"),
        ("garage.01", "door \"open\"\t\\ caf\u{e9}\n".as_bytes()),
        ("kitchen", b"multi\nline\n"),
        ("kitchen", b"no newline"),
    ];
    let mut c = l.server.connect();
    let mut offsets = std::collections::HashMap::new();
    for (device, body) in posts {
        post_record(&mut c, device, body);
        let end = offsets.entry(device).or_insert(0u64);
        *end += body.len() as u64;
        let e = s.next_event();
        let v: serde_json::Value = serde_json::from_str(&e.data)
            .unwrap_or_else(|err| panic!("event data is not JSON ({err}): {:?}", e.data));
        let obj = v.as_object().expect("a JSON object");
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["device", "offset", "record", "time"]);
        let time = obj["time"].as_str().unwrap();
        assert!(time.len() == 24 && time.ends_with('Z'), "{time}");
        assert_eq!(obj["device"], device);
        assert_eq!(obj["offset"].as_u64(), Some(*end));
        let text = std::str::from_utf8(body).unwrap();
        assert_eq!(obj["record"], text.strip_suffix('\n').unwrap_or(text));
        assert_eq!(e.id, end.to_string(), "the id is the device offset");
        assert!(!e.data.contains('\n'), "one data line per event");
    }
    s.assert_no_event_for(Duration::from_millis(200));
}

#[test]
fn api_live_needs_no_accept_header() {
    let l = Live::start(&[]);
    let mut c = l.server.connect();
    c.send(&get("/api/live"));
    let mut buf = Vec::new();
    let ok = wait_until(IO_TIMEOUT, || {
        let w = c.wait_for_close(Duration::from_millis(100));
        buf.extend_from_slice(&w.bytes);
        String::from_utf8_lossy(&buf).contains("retry: 2000\n\n") || w.closed
    });
    let text = String::from_utf8_lossy(&buf);
    assert!(ok && text.starts_with("HTTP/1.1 200 "), "{text}");
    assert!(
        text.contains("Content-Type: text/event-stream\r\n"),
        "{text}"
    );
}

#[test]
fn api_live_has_no_replay() {
    let l = Live::start(&[]);
    post_all(&l, "kitchen", &lines("old", 3), 0);
    // Ids of different devices interleave, so a resume point means nothing here.
    let mut s = l.stream("/api/live?tail=5", &["Last-Event-ID: 0"]);
    assert_eq!(s.status, 200);
    s.assert_no_event_for(Duration::from_millis(300));
    post_all(&l, "garage", &[b"new\n".to_vec()], 0);
    let e = s.next_event();
    assert!(e.data.contains("\"garage\""), "{e:?}");
}

#[test]
fn live_heartbeat_flag_is_validated() {
    for bad in ["0", "-1", "soon", "86401"] {
        let out = run_to_exit(&[&format!("--live-heartbeat={bad}")]);
        assert_eq!(out.status.code(), Some(2), "--live-heartbeat {bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "one-line error: {err:?}");
        assert!(err.contains("live-heartbeat"), "names the flag: {err:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Slow subscribers and shutdown
// ---------------------------------------------------------------------------------------------

/// A client socket with a small receive buffer (set before connecting, so the window the server
/// sees is small from the start).
fn small_window_socket(addr: std::net::SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None).expect("socket");
    sock.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    sock.connect_timeout(&addr.into(), IO_TIMEOUT)
        .expect("connect");
    sock.into()
}

/// The most bytes the kernel can hold for a subscriber that never reads: the server's send
/// buffer (at most tcp_wmem's maximum) plus our receive buffer.
fn kernel_slack() -> u64 {
    let wmem_max = fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4u64 << 20);
    wmem_max + 64 * 1024
}

#[test]
fn a_subscriber_that_does_not_read_is_dropped_and_others_keep_up() {
    const RECORD: usize = 64 * 1024;
    const BACKLOG: u64 = 256 * 1024;
    let l = Live::start(&["--max-body", "1M"]);
    let addr = l.server.addr();
    let mut slow = EventStream::open_on(small_window_socket(addr), "/devices/big/live", &[]);
    // A reader that keeps up, on its own thread.
    let fast = l.stream("/devices/big/live", &[]);
    let (tx, rx) = std::sync::mpsc::channel::<u64>();
    let reader = thread::spawn(move || {
        let mut fast = fast;
        let mut ids = Vec::new();
        let mut max = u64::MAX;
        loop {
            if let Ok(m) = rx.try_recv() {
                max = m;
            }
            if ids.last().is_some_and(|&last| last >= max) {
                break;
            }
            match fast.try_next_event(Duration::from_millis(200)) {
                Some(e) => ids.push(e.id.parse::<u64>().unwrap()),
                None if fast.closed => break,
                None => {}
            }
        }
        (ids, fast.closed)
    });
    assert_eq!(metric(&l.server, "sluice_live_subscribers"), 2.0);

    // Post 64 KiB records until the server gives up on the slow subscriber; it must do so
    // before the bytes it holds for it exceed what the kernel can buffer plus the backlog cap.
    let limit = kernel_slack() + BACKLOG + 2 * RECORD as u64;
    let mut c = l.server.connect();
    let mut ends = Vec::new();
    let mut end = 0u64;
    let mut dropped_at = None;
    for i in 0..((limit as usize) / RECORD + 16) {
        let mut body = pseudo_random(RECORD - 1, i as u64)
            .iter()
            .map(|b| b'a' + b % 26)
            .collect::<Vec<u8>>();
        body.push(b'\n');
        let t = Instant::now();
        post_record(&mut c, "big", &body);
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "POST {i} took {:?}: the server must stay responsive",
            t.elapsed()
        );
        end += body.len() as u64;
        ends.push(end);
        if i % 4 == 3 && metric(&l.server, "sluice_live_dropped_total") >= 1.0 {
            dropped_at = Some(end);
            break;
        }
    }
    let dropped_at = dropped_at.unwrap_or_else(|| {
        panic!("slow subscriber still subscribed after {end} bytes (limit {limit})")
    });
    eprintln!("slow subscriber dropped after {dropped_at} bytes were posted");
    // A few more records: only the fast subscriber gets them.
    for i in 0..4u64 {
        let body = format!("after the drop {i}\n");
        post_record(&mut c, "big", body.as_bytes());
        end += body.len() as u64;
        ends.push(end);
    }
    tx.send(end).unwrap();

    // The slow subscriber's connection ends; what it got is a clean prefix of the events.
    assert!(
        slow.wait_closed(Duration::from_secs(20)),
        "the slow subscriber's connection was not closed"
    );
    let mut got = Vec::new();
    while let Some(e) = slow.try_next_event(Duration::ZERO) {
        got.push(e.id.parse::<u64>().unwrap());
    }
    assert!(
        got.len() < ends.len() - 4,
        "the slow subscriber got every event"
    );
    assert_eq!(got[..], ends[..got.len()], "slow subscriber's events");
    assert!(
        (slow.raw.len() as u64) < limit,
        "{} bytes reached the slow subscriber",
        slow.raw.len()
    );

    let (fast_ids, fast_closed) = reader.join().expect("reader thread");
    assert!(!fast_closed, "the reading subscriber must not be dropped");
    assert_eq!(fast_ids, ends, "the reading subscriber gets every event");

    assert_eq!(metric(&l.server, "sluice_live_dropped_total"), 1.0);
    assert!(
        wait_until(IO_TIMEOUT, || metric(&l.server, "sluice_live_subscribers")
            == 0.0),
        "subscribers gauge after both left"
    );
    fetch(&l.server, "/healthz").assert_status(200);
}

#[test]
fn a_record_larger_than_the_backlog_reaches_a_reading_subscriber() {
    let l = Live::start(&["--max-body", "1M"]);
    let mut s = l.stream("/devices/big/live", &[]);
    let mut body = vec![b'z'; 300 * 1024];
    body.push(b'\n');
    post_all(&l, "big", &[body.clone()], 0);
    let e = s.next_event();
    assert_eq!(e.data.len(), body.len() - 1);
    assert_eq!(metric(&l.server, "sluice_live_dropped_total"), 0.0);
}

#[test]
fn shutdown_ends_live_streams_and_exits() {
    let mut l = Live::start(&[]);
    let mut s = l.stream("/devices/kitchen/live", &[]);
    post_all(&l, "kitchen", &[b"before\n".to_vec()], 0);
    assert_event(&s.next_event(), "before", 7);
    let t = Instant::now();
    l.server.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(s.wait_closed(IO_TIMEOUT), "stream not ended by shutdown");
    let status = l.server.wait_exit(IO_TIMEOUT).expect("server exits");
    assert!(status.success(), "exit status {status:?}");
    eprintln!("shutdown with a live stream took {:?}", t.elapsed());
    assert_eq!(fs::read(l.file("kitchen")).unwrap(), b"before\n");
}
