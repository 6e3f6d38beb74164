//! `--max-connections`: at the limit a new connection is served at once by closing, as nginx
//! does, the idle keep-alive connection that has waited longest, else the connection that has
//! sent nothing for the longest time. Connections with a request under way are never closed
//! for it: with all of them busy the new one waits for a slot.

mod common;

use std::time::Duration;

use common::*;

/// Leaves half a head on `c` that the server has certainly read: it goes in the same write as a
/// whole request, whose answer is awaited. (A sleep would only make that likely.)
fn start_next_request(c: &mut Client) {
    let mut bytes = get("/hello.txt");
    bytes.extend_from_slice(b"GET /hello.txt HTTP/1.1\r\n");
    c.send(&bytes);
    c.read_response().assert_status(200);
}

#[test]
fn the_oldest_idle_keep_alive_connection_makes_room() {
    let f = start_basic(&["--max-connections", "2"]);
    let mut a = f.connect();
    let mut b = f.connect();
    for c in [&mut a, &mut b] {
        c.request(&get("/hello.txt")).assert_status(200);
    }
    // `a` has been idle longest.
    expect_still_open(&mut b);
    let mut third = f.connect();
    let r = third.request(&get("/hello.txt"));
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
    assert!(
        a.wait_for_close(IO_TIMEOUT).closed,
        "the oldest idle one was closed"
    );
    expect_still_open(&mut b);
    expect_still_open(&mut third);
}

#[test]
fn a_connection_that_sent_nothing_makes_room_when_none_is_idle() {
    let f = start_basic(&["--max-connections", "2"]);
    let mut silent = f.connect();
    let mut busy = f.connect();
    // Half a head: a request under way, never closed to make room.
    start_next_request(&mut busy);
    let mut third = f.connect();
    let r = third.request(&get("/hello.txt"));
    r.assert_status(200);
    assert!(
        silent.wait_for_close(IO_TIMEOUT).closed,
        "the silent one was closed"
    );
    busy.send(b"Host: test\r\n\r\n");
    let r = busy.read_response();
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
}

#[test]
fn with_every_connection_busy_a_new_one_waits_for_a_slot() {
    let f = start_basic(&["--max-connections", "2"]);
    let mut a = f.connect();
    let mut b = f.connect();
    start_next_request(&mut a);
    start_next_request(&mut b);
    let mut third = f.connect();
    third.send(&get("/hello.txt"));
    third.assert_quiet_for(Duration::from_millis(500));
    // `a` finishes its request and keeps its connection: it is idle now, and the waiting
    // connection takes its place.
    a.send(b"Host: test\r\n\r\n");
    a.read_response().assert_status(200);
    let r = third.read_response();
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
    assert!(
        a.wait_for_close(IO_TIMEOUT).closed,
        "the idle one made room"
    );
    b.send(b"Host: test\r\n\r\n");
    b.read_response().assert_status(200);
}

#[test]
fn evictions_are_counted() {
    let f = start_basic(&["--max-connections", "2"]);
    let mut a = f.connect();
    a.request(&get("/hello.txt")).assert_status(200);
    let mut b = f.connect();
    b.request(&get("/hello.txt")).assert_status(200);
    let mut third = f.connect();
    let metrics = third.request(&get("/metrics"));
    assert!(
        metrics
            .body_str()
            .contains("sluice_connections_evicted_total 1\n"),
        "{}",
        metrics.body_str()
    );
}
