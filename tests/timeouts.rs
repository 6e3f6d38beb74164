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
