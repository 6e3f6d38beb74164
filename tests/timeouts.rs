//! Deadlines: header, idle, body and send timeouts (all flags take fractional seconds).
//!
//! Expected closes get generous waits (up to `IO_TIMEOUT`); checks that a timeout did *not* fire
//! only look for a short time well below the configured value.

mod common;

use std::thread;
use std::time::Duration;

use common::*;

#[test]
fn partial_head_past_the_header_timeout_gets_408_then_close() {
    let f = start_basic(&["--header-timeout", "0.5"]);
    let mut c = f.connect();
    c.send(b"GET /hello.txt HTTP/1.1\r\nHost: test\r\n");
    let r = c.read_response();
    r.assert_status(408).assert_connection_close();
    c.assert_closed();
}

#[test]
fn silent_connection_past_the_header_timeout_is_closed_without_a_byte() {
    let f = start_basic(&["--header-timeout", "0.5"]);
    let mut c = f.connect();
    c.assert_closed();
}

#[test]
fn partial_head_within_the_header_timeout_is_still_served() {
    let f = start_basic(&["--header-timeout", "5"]);
    let mut c = f.connect();
    c.send(b"GET /hello.txt HTTP/1.1\r\n");
    c.assert_quiet_for(Duration::from_millis(500));
    c.send(b"Host: test\r\n\r\n");
    let r = c.read_response();
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
}

#[test]
fn idle_keep_alive_connection_is_closed_silently_after_the_idle_timeout() {
    let f = start_basic(&["--idle-timeout", "0.5"]);
    let mut c = f.connect();
    let r = c.request(&get("/hello.txt"));
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
    c.assert_closed();
}

#[test]
fn keep_alive_connection_within_the_idle_timeout_is_reused() {
    let f = start_basic(&["--idle-timeout", "5"]);
    let mut c = f.connect();
    c.request(&get("/hello.txt")).assert_status(200);
    c.assert_quiet_for(Duration::from_millis(500));
    expect_still_open(&mut c);
}

#[test]
fn body_stalling_past_the_body_timeout_gets_408_then_close() {
    let f = start_basic(&["--body-timeout", "0.5"]);
    let mut c = f.connect();
    // The ingest route reads the whole body before it answers.
    c.send(b"POST /devices/itest-stall HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n");
    c.send(&[b'x'; 50]);
    let r = c.read_response();
    r.assert_status(408).assert_connection_close();
    c.assert_closed();
}

#[test]
fn body_pausing_within_the_body_timeout_is_still_read() {
    let f = start_basic(&["--body-timeout", "5"]);
    let mut c = f.connect();
    c.send(b"POST /hello.txt HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nhello");
    thread::sleep(Duration::from_millis(500));
    c.send(&cat(&[b"world", &get("/hello.txt")]));
    let r = c.read_response();
    r.assert_status(405);
    let r = c.read_response();
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
}

#[test]
fn client_that_never_reads_a_large_file_is_disconnected_after_the_send_timeout() {
    const SIZE: u64 = 64 << 20;
    let f = start_basic(&["--send-timeout", "1"]);
    let big = std::fs::File::create(f.root.path().join("big.bin")).unwrap();
    big.set_len(SIZE).unwrap();
    drop(big);

    let mut stalled = f.connect();
    stalled.send(&get("/big.bin"));
    thread::sleep(Duration::from_millis(300));

    // The server keeps serving others while the first client stalls.
    let mut other = f.connect();
    let r = other.request(&get("/hello.txt"));
    r.assert_status(200);
    assert_eq!(r.body, HELLO);

    // Give the send timeout ample time to fire before reading anything (reading would let the
    // transfer make progress again).
    thread::sleep(Duration::from_secs(6));
    let mut total: u64 = 0;
    let mut buf = vec![0u8; 1 << 20];
    stalled.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    loop {
        use std::io::Read;
        match stalled.stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(e) if is_reset(&e) => break,
            Err(e) => panic!("after {total} bytes: expected the server to have closed, got {e}"),
        }
    }
    assert!(
        total < SIZE,
        "the stalled client received the whole file ({total} bytes): it was not disconnected"
    );

    // Still responsive afterwards.
    let r = other.request(&get("/hello.txt"));
    r.assert_status(200);
}

/// Issue 15: `--body-timeout` measures silence, so a byte per interval kept a body alive for
/// ever. Past the body timeout a body must average `--min-body-rate`: a drip gets 408.
#[test]
fn a_body_dripping_slower_than_the_minimum_rate_gets_408() {
    let f = start_basic(&["--body-timeout", "1", "--min-body-rate", "100"]);
    let mut c = f.connect();
    c.send(b"POST /devices/drip HTTP/1.1\r\nHost: test\r\nContent-Length: 10000\r\n\r\n");
    // 10 bytes every 200 ms: 50 bytes a second, never silent for a whole body timeout.
    let mut drip = c.stream.try_clone().unwrap();
    let dripper = thread::spawn(move || {
        for _ in 0..40 {
            if std::io::Write::write_all(&mut drip, &[b'x'; 10]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(200));
        }
    });
    let r = c.read_response();
    r.assert_status(408).assert_connection_close();
    dripper.join().unwrap();
    assert!(r.body_str().contains("--min-body-rate"), "{}", r.body_str());
}

/// A body that is slow but above the minimum rate is read whole.
#[test]
fn a_slow_body_above_the_minimum_rate_is_read() {
    let f = start_basic(&["--body-timeout", "1", "--min-body-rate", "100"]);
    let mut c = f.connect();
    c.send(b"POST /devices/slow HTTP/1.1\r\nHost: test\r\nContent-Length: 480\r\n\r\n");
    // 30 bytes every 100 ms: 300 bytes a second for 1.6 s, three times the minimum.
    for _ in 0..16 {
        c.send(&[b'y'; 30]);
        thread::sleep(Duration::from_millis(100));
    }
    c.read_response().assert_status(204);
}
