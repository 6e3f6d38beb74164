//! `--ack buffer` and backpressure (issue 4): acknowledged records are readable at once
//! (read-your-writes) before they reach the file, reach it within about a second and at SIGTERM;
//! more acknowledged-but-unwritten data than `--max-pending` gets 503 with `Retry-After` until
//! the flush; a data disk with less free space than `--min-free` gets 503 at once.

mod common;

use common::ingest::*;
use common::*;
use nix::sys::signal::Signal;
use sluice::limits::BUFFER_FLUSH_DEVICES_PER_TURN;
use std::thread;
use std::time::{Duration, Instant};

/// Long enough for any flush on a loaded machine; the flush interval itself is one second.
const FLUSH_WAIT: Duration = Duration::from_secs(15);

/// Whether device `id`'s file holds exactly `want`.
fn file_is(f: &Ingest, id: &str, want: &[u8]) -> bool {
    f.device(id).unwrap_or_default() == want
}

/// Asserts a 503 from ingest: `Retry-After` in whole seconds.
#[track_caller]
fn assert_overloaded(r: &Response) {
    r.assert_status(503);
    let retry = r
        .header("retry-after")
        .unwrap_or_else(|| panic!("503 without Retry-After:\n{}", r.raw_head));
    assert!(
        retry.parse::<u32>().is_ok_and(|s| s >= 1),
        "Retry-After must be a number of seconds, is {retry:?}"
    );
}

#[test]
fn buffer_mode_get_shows_acknowledged_records_not_yet_in_the_file() {
    let f = start_ingest(&["--ack", "buffer"]);
    let mut c = f.connect();
    let mut want = Vec::new();
    let mut caught_unflushed = 0;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seq = 0;
    while caught_unflushed < 3 && Instant::now() < deadline {
        let body = record(1, seq);
        seq += 1;
        post_ok(&mut c, &post("/devices/ryw", &body));
        want.extend_from_slice(&body);
        let on_disk = f.device("ryw").unwrap_or_default();
        assert!(
            want.starts_with(&on_disk),
            "the file is not a prefix of what was sent"
        );
        if on_disk.len() < want.len() {
            caught_unflushed += 1;
        }
        // Whether flushed or not, a GET right after the 204 has every acknowledged byte.
        let g = c.request(&get("/devices/ryw"));
        g.assert_status(200);
        assert!(
            g.body == want,
            "GET after record {seq} misses acknowledged bytes"
        );
    }
    assert!(
        caught_unflushed >= 3,
        "in {seq} posts no record was ever acknowledged before reaching the file"
    );
}

#[test]
fn buffer_mode_writes_records_out_within_the_flush_interval() {
    let f = start_ingest(&["--ack", "buffer"]);
    let mut c = f.connect();
    let mut want = Vec::new();
    for seq in 0..5 {
        let body = record(2, seq);
        post_ok(&mut c, &post("/devices/later", &body));
        want.extend_from_slice(&body);
    }
    // No GET (which would flush): the timer alone writes them.
    assert!(
        wait_until(FLUSH_WAIT, || file_is(&f, "later", &want)),
        "not written within {FLUSH_WAIT:?}"
    );
}

#[test]
fn a_flush_of_more_devices_than_one_turn_writes_reaches_every_device() {
    // A flush round writes BUFFER_FLUSH_DEVICES_PER_TURN devices per loop turn; the server must
    // carry the round on over the next turns (nothing else happens to wake it) until all are out.
    let devices = BUFFER_FLUSH_DEVICES_PER_TURN * 3 + 1;
    let f = start_ingest(&["--ack", "buffer"]);
    let mut c = f.connect();
    for batch in (0..devices).collect::<Vec<_>>().chunks(50) {
        let raw: Vec<u8> = batch
            .iter()
            .flat_map(|&n| post(&format!("/devices/round{n}"), &record(n, 0)))
            .collect();
        c.send(&raw);
        for _ in batch {
            let r = c.read_response();
            r.assert_status(204);
        }
    }
    drop(c);
    let all_written = || (0..devices).all(|n| file_is(&f, &format!("round{n}"), &record(n, 0)));
    assert!(
        wait_until(FLUSH_WAIT, all_written),
        "not every device was written within {FLUSH_WAIT:?}"
    );
    assert_eq!(f.entries().len(), devices);
}

#[test]
fn buffer_mode_sigterm_writes_every_acknowledged_byte_and_exits_0() {
    let mut f = start_ingest(&["--ack", "buffer"]);
    let mut c = f.connect();
    let mut want = [Vec::new(), Vec::new()];
    let devices = ["term0", "term1"];
    // Post until the newest records are acknowledged but not yet in their files.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seq = 0;
    loop {
        for (d, id) in devices.iter().enumerate() {
            let body = record(d, seq);
            post_ok(&mut c, &post(&format!("/devices/{id}"), &body));
            want[d].extend_from_slice(&body);
        }
        seq += 1;
        let pending = devices
            .iter()
            .zip(&want)
            .all(|(id, w)| f.device(id).unwrap_or_default().len() < w.len());
        if pending {
            break;
        }
        assert!(Instant::now() < deadline, "never caught records pending");
    }
    drop(c);
    f.server.signal(Signal::SIGTERM);
    let status = f.server.wait_exit(IO_TIMEOUT + Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "exit status after SIGTERM: {status:?}"
    );
    for (id, w) in devices.iter().zip(&want) {
        assert!(
            f.device(id).unwrap_or_default() == *w,
            "{id}: acknowledged records missing after SIGTERM"
        );
    }
}

#[test]
fn max_pending_exceeded_gives_503_with_retry_after_until_the_flush() {
    let f = start_ingest(&["--ack", "buffer", "--max-pending", "1K"]);
    let mut c = f.connect();
    let body = |seq: usize| {
        let mut b = format!("seq={seq} ").into_bytes();
        b.resize(600, b'p');
        b.push(b'\n');
        b
    };
    let mut want = Vec::new();
    let mut seq = 0;
    // Two 601-byte records are more than 1 KiB; a flush in between only delays the 503.
    let deadline = Instant::now() + Duration::from_secs(30);
    let refused = loop {
        assert!(Instant::now() < deadline, "no 503 after {seq} posts");
        let b = body(seq);
        let r = c.request(&post("/devices/bp", &b));
        if r.status == 204 {
            want.extend_from_slice(&b);
            seq += 1;
            continue;
        }
        break r;
    };
    assert_overloaded(&refused);
    refused.assert_no_connection_close();
    println!("503 after {seq} accepted posts");
    // Refused ingest does not stop anything else, and the refused body was read and dropped.
    expect_still_open(&mut c);
    // The flush makes room again.
    thread::sleep(Duration::from_millis(1100));
    let deadline = Instant::now() + FLUSH_WAIT;
    loop {
        let b = body(seq);
        let r = c.request(&post("/devices/bp", &b));
        if r.status == 204 {
            want.extend_from_slice(&b);
            break;
        }
        assert_overloaded(&r);
        assert!(Instant::now() < deadline, "still 503 after {FLUSH_WAIT:?}");
        thread::sleep(Duration::from_millis(200));
    }
    // Only the accepted records reach the file, in order.
    assert!(
        wait_until(FLUSH_WAIT, || file_is(&f, "bp", &want)),
        "file differs from the accepted records: {:?}",
        String::from_utf8_lossy(&f.device("bp").unwrap_or_default())
    );
}

#[test]
fn min_free_above_the_disk_free_space_gives_503_at_once() {
    for mode in ["write", "fsync", "buffer"] {
        let f = start_ingest(&["--ack", mode, "--min-free", "1000000G"]);
        let mut c = f.connect();
        let r = c.request(&post("/devices/nospace", b"x=1\n"));
        assert_overloaded(&r);
        r.assert_no_connection_close();
        let r = c.request(&post_chunked("/ingest", &[b"x=", b"2\n"]));
        assert_overloaded(&r);
        // Reading still works, on the same connection.
        expect_still_open(&mut c);
        // With Expect: 100-continue the 503 comes instead of the 100, and the connection closes
        // (the body will not follow).
        let mut c = f.connect();
        c.send(
            b"POST /devices/nospace HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\n\
              Content-Length: 4\r\n\r\n",
        );
        let r = c.read_response();
        assert_overloaded(&r);
        r.assert_connection_close();
        assert!(
            f.entries().is_empty(),
            "--ack {mode} wrote {:?}",
            f.entries()
        );
    }
}
