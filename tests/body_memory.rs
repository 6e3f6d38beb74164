//! `--max-body-memory`: request bodies held in memory by all connections together are capped; a
//! body that would pass the cap gets 503 with `Retry-After` and the connection closes (the rest
//! of the body is not read). A declared length counts whole from the head on.

mod common;

use std::time::Duration;

use common::*;

fn post_head(device: &str, len: usize) -> Vec<u8> {
    format!("POST /devices/{device} HTTP/1.1\r\nHost: test\r\nContent-Length: {len}\r\n\r\n")
        .into_bytes()
}

/// A body of `len` bytes has begun on a new connection (its head and one byte are in).
fn begun(f: &Fixture, device: &str, len: usize) -> Client {
    let mut c = f.connect();
    c.send(&post_head(device, len));
    c.send(b"x");
    c
}

#[test]
fn bodies_fill_the_cap_exactly_and_the_next_byte_is_refused() {
    let f = start_basic(&["--max-body-memory", "1K"]);
    let mut a = begun(&f, "a", 800);
    // Give the server time to count `a`'s body before the next head arrives.
    std::thread::sleep(Duration::from_millis(200));
    let mut over = f.connect();
    let r = over.request(&cat(&[&post_head("b", 225), &[b'y'; 225]]));
    r.assert_status(503).assert_connection_close();
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(
        r.body_str().contains("--max-body-memory"),
        "{}",
        r.body_str()
    );
    // 800 + 224 is exactly the cap.
    let mut fits = begun(&f, "c", 224);
    fits.send(&[b'z'; 223]);
    fits.read_response().assert_status(204);
    // Once `a` is stored, its memory is free again.
    a.send(&[b'x'; 799]);
    a.read_response().assert_status(204);
    let mut after = f.connect();
    after
        .request(&cat(&[&post_head("b", 225), &[b'y'; 225]]))
        .assert_status(204);
}

#[test]
fn a_chunked_body_growing_past_the_cap_is_refused() {
    let f = start_basic(&["--max-body-memory", "4K"]);
    let mut c = f.connect();
    c.send(b"POST /devices/chunky HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n");
    // 8 KiB in 1 KiB chunks, without the last chunk: refused once past 4 KiB.
    let chunk = format!("400\r\n{}\r\n", "w".repeat(1024));
    c.send(chunk.repeat(8).as_bytes());
    let r = c.read_response();
    r.assert_status(503).assert_connection_close();
    // A small body still fits.
    let mut small = f.connect();
    small
        .request(&cat(&[&post_head("small", 3), b"t=1"]))
        .assert_status(204);
}
