//! What did my device send? (issue 16): `POST /echo` answers the body back as sent;
//! `/anything` answers any method with a JSON description of the request (httpbin.org's route).

mod common;

use common::*;
use serde_json::Value;

fn request(method: &str, target: &str, fields: &[&str], body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: test\r\n");
    for f in fields {
        head.push_str(f);
        head.push_str("\r\n");
    }
    if !body.is_empty() || method != "GET" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    cat(&[head.as_bytes(), body])
}

#[test]
fn echo_answers_the_body_as_sent() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    let r = c.request(&request("POST", "/echo", &[], b"t=21.5\r\nh=40\n"));
    r.assert_status(200);
    assert_eq!(r.body, b"t=21.5\r\nh=40\n", "byte for byte, line ends kept");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let binary = [0u8, 0xff, 0x10, b'<'];
    let r = c.request(&request(
        "PUT",
        "/echo",
        &["Content-Type: text/html"],
        &binary,
    ));
    assert_eq!(r.body, binary);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    // Chunked, as an ESP32 client may send.
    let r = c.request(
        b"POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    );
    assert_eq!(r.body, b"abcde");
    let r = c.request(&get("/echo"));
    r.assert_status(405);
    assert_eq!(r.header("allow"), Some("POST, PUT, PATCH, OPTIONS"));
    expect_still_open(&mut c);
}

#[test]
fn echo_is_bounded_by_max_body() {
    let f = start_basic(&["--max-body", "16"]);
    let mut c = f.connect();
    c.request(&request("POST", "/echo", &[], &[b'x'; 16]))
        .assert_status(200);
    let r = c.request(&request("POST", "/echo", &[], &[b'x'; 17]));
    r.assert_status(413);
}

#[test]
fn anything_describes_the_request() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    let r = c.request(&request(
        "PATCH",
        "/anything/sensor/7?unit=C&tag=a&tag=b",
        &["Content-Type: application/json", "X-Board: esp32"],
        br#"{"t": 21.5, "nested": {"h": 40}}"#,
    ));
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["method"], "PATCH");
    assert_eq!(v["url"], "http://test/anything/sensor/7?unit=C&tag=a&tag=b");
    assert_eq!(
        v["args"],
        serde_json::json!({"unit": "C", "tag": ["a", "b"]})
    );
    assert_eq!(v["headers"]["X-Board"], "esp32");
    assert_eq!(v["json"]["nested"]["h"], 40);
    assert_eq!(v["data"], r#"{"t": 21.5, "nested": {"h": 40}}"#);
    assert_eq!(v["origin"], "127.0.0.1");

    let r = c.request(&request(
        "POST",
        "/anything",
        &["Content-Type: application/x-www-form-urlencoded"],
        b"t=21.5&t=22&unit=%C2%B0C",
    ));
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        v["form"],
        serde_json::json!({"t": ["21.5", "22"], "unit": "\u{b0}C"})
    );
    assert_eq!(v["json"], Value::Null);

    // Any method, no body.
    for method in ["GET", "DELETE", "OPTIONS"] {
        let r = c.request(format!("{method} /anything HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        r.assert_status(200);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["method"], method);
        assert_eq!(v["data"], "");
    }
    c.send(b"HEAD /anything HTTP/1.1\r\nHost: test\r\n\r\n");
    let h = c.read_head_response();
    h.assert_status(200);
    assert!(h.body.is_empty());
    expect_still_open(&mut c);
}

#[test]
fn writes_to_them_need_the_ingest_token_like_any_write() {
    let f = start_basic(&["--ingest-token", "s3cret"]);
    let mut c = f.connect();
    c.request(&request("POST", "/echo", &[], b"x"))
        .assert_status(401);
    let r = c.request(&request(
        "POST",
        "/echo",
        &["Authorization: Bearer s3cret"],
        b"x",
    ));
    r.assert_status(200);
    assert_eq!(r.body, b"x");
}
