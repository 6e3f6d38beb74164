//! Persistent connections: keep-alive defaults per HTTP version, `Connection: close`,
//! pipelining, and a request that trickles in one byte at a time.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn http11_keeps_the_connection_alive_by_default() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    for _ in 0..3 {
        let r = c.request(&get("/hello.txt"));
        r.assert_status(200).assert_no_connection_close();
        assert_eq!(r.body, HELLO);
    }
    c.assert_quiet_for(Duration::from_millis(300));
    expect_still_open(&mut c);
}

#[test]
fn http11_connection_close_gets_the_response_then_the_close() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    let r = c.request(b"GET /hello.txt HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    r.assert_status(200).assert_connection_close();
    assert_eq!(r.body, HELLO);
    c.assert_closed();
}

#[test]
fn requests_pipelined_after_connection_close_are_not_answered() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    c.send(&cat(&[
        b"GET /hello.txt HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
        &get("/index.html"),
    ]));
    let r = c.read_response();
    r.assert_status(200).assert_connection_close();
    assert_eq!(r.body, HELLO);
    c.assert_closed();
}

#[test]
fn http10_closes_after_the_response_by_default() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    let r = c.request(b"GET /hello.txt HTTP/1.0\r\nHost: test\r\n\r\n");
    r.assert_status(200).assert_connection_close();
    assert_eq!(r.body, HELLO);
    c.assert_closed();
}

#[test]
fn http10_with_keep_alive_stays_open_and_says_so() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    for _ in 0..2 {
        let r =
            c.request(b"GET /hello.txt HTTP/1.0\r\nHost: test\r\nConnection: keep-alive\r\n\r\n");
        r.assert_status(200);
        assert!(
            r.has_token("connection", "keep-alive"),
            "HTTP/1.0 keep-alive response needs `Connection: keep-alive`:\n{}",
            r.raw_head
        );
        assert_eq!(r.body, HELLO);
    }
    expect_still_open(&mut c);
}

#[test]
fn http10_keep_alive_error_on_a_missing_file_stays_open() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    let r = c.request(b"GET /missing HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    r.assert_status(404);
    assert!(r.has_token("connection", "keep-alive"), "{}", r.raw_head);
    expect_still_open(&mut c);
}

#[test]
fn fifty_pipelined_requests_in_one_write_are_answered_in_order() {
    let root = root();
    for i in 0..50 {
        // Different lengths too, so a mix-up cannot go unnoticed.
        write_file(
            root.path(),
            &format!("f{i:02}.txt"),
            format!("file {i:02} {}\n", "z".repeat(i)).as_bytes(),
        );
    }
    write_file(root.path(), "hello.txt", HELLO);
    let server = Server::start(root.path(), &[]);
    let mut c = server.connect();
    let mut all = Vec::new();
    for i in 0..50 {
        all.extend_from_slice(&get(&format!("/f{i:02}.txt")));
    }
    c.send(&all);
    for i in 0..50 {
        let r = c.read_response();
        r.assert_status(200);
        assert_eq!(
            r.body_str(),
            format!("file {i:02} {}\n", "z".repeat(i)),
            "response {i} out of order"
        );
    }
    c.assert_quiet_for(Duration::from_millis(200));
    expect_still_open(&mut c);
}

#[test]
fn pipelined_head_get_and_missing_mix_in_order() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    c.send(&cat(&[
        &get("/hello.txt"),
        &head("/index.html"),
        &get("/missing"),
        &get("/index.html"),
        b"FOO / HTTP/1.1\r\nHost: test\r\n\r\n",
        &get("/hello.txt"),
    ]));
    let r = c.read_response();
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
    let r = c.read_head_response();
    r.assert_status(200);
    assert_eq!(r.content_length(), Some(INDEX_HTML.len() as u64));
    c.read_response().assert_status(404);
    let r = c.read_response();
    r.assert_status(200);
    assert_eq!(r.body, INDEX_HTML);
    c.read_response().assert_status(501);
    let r = c.read_response();
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
}

#[test]
fn request_sent_one_byte_at_a_time_is_answered() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    c.send_slowly(
        b"GET /hello.txt HTTP/1.1\r\nHost: test\r\nUser-Agent: slow\r\n\r\n",
        Duration::from_millis(3),
    );
    let r = c.read_response();
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
    expect_still_open(&mut c);
}

#[test]
fn chunked_post_sent_one_byte_at_a_time_is_framed_correctly() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    c.send_slowly(
        b"POST /hello.txt HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n\
          3\r\nabc\r\n0\r\nX-T: 1\r\n\r\nGET /index.html HTTP/1.1\r\nHost: test\r\n\r\n",
        Duration::from_millis(2),
    );
    let r = c.read_response();
    r.assert_status(405);
    let r = c.read_response();
    r.assert_status(200);
    assert_eq!(r.body, INDEX_HTML);
}

/// A reply already made goes out while a later pipelined request's body is still awaited (here
/// one that is never sent): before, the GET's 200 waited for the POST's body timeout and came
/// with its 408.
#[test]
fn a_reply_goes_out_while_a_later_body_is_awaited() {
    let fx = start_basic(&["--body-timeout", "60"]);
    let mut c = fx.connect();
    c.send(
        b"GET /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n\
          POST /nosuch HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n",
    );
    let r = c.read_response();
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
    // The POST's own answer waits for its body, and goes out once the body is there.
    c.send(b"12345");
    c.read_response().assert_status(405);
}
