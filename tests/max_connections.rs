//! `--max-connections`: at the limit, further connections wait (unserved) until a slot frees.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn third_connection_waits_until_one_of_two_closes() {
    let f = start_basic(&["--max-connections", "2"]);
    let mut a = f.connect();
    let mut b = f.connect();
    // Both are served (and so have been accepted) and stay open.
    for c in [&mut a, &mut b] {
        let r = c.request(&get("/hello.txt"));
        r.assert_status(200);
        assert_eq!(r.body, HELLO);
    }

    // The kernel may complete the third handshake, but the server must not serve it.
    let mut third = f.connect();
    third.send(&get("/hello.txt"));
    third.assert_quiet_for(Duration::from_millis(500));

    // The first two are still served meanwhile.
    expect_still_open(&mut b);

    drop(a);
    let r = third.read_response();
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
    expect_still_open(&mut b);
}

#[test]
fn slot_freed_by_a_server_side_close_admits_the_waiting_connection() {
    let f = start_basic(&["--max-connections", "2"]);
    let mut a = f.connect();
    let mut b = f.connect();
    a.request(&get("/hello.txt")).assert_status(200);
    b.request(&get("/hello.txt")).assert_status(200);

    let mut third = f.connect();
    third.send(&get("/hello.txt"));
    third.assert_quiet_for(Duration::from_millis(500));

    // The server closes `a` itself (Connection: close); its slot goes to the waiting connection.
    let r = a.request(b"GET /hello.txt HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    r.assert_status(200);
    a.assert_closed();
    let r = third.read_response();
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
}
