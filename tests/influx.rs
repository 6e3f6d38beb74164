//! The InfluxDB write API (README.md, "InfluxDB write API"): line protocol through both
//! endpoints, plain and gzip, each line stored as a record of the device its tags name; the
//! token in InfluxDB's scheme; bad writes refused whole; the client libraries' checks.

mod common;
mod sse;

use common::ingest::*;
use common::Response;
use sse::{device, get_json};
use std::io::Write as _;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write(f: &Ingest, target: &str, headers: &str, body: &[u8]) -> Response {
    let mut req = format!(
        "POST {target} HTTP/1.1\r\nHost: test\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    f.connect().request(&req)
}

const LINES: &[u8] = b"env,device=kitchen t=21.5,h=40i 1700000000000000000\n\
# a comment\n\
\n\
env,host=esp32-a t=19\r\n\
env,device=kitchen t=21.6\n\
wifi rssi=-61i";

#[test]
fn both_endpoints_store_each_line_for_the_device_its_tags_name() {
    for (target, encoding) in [
        ("/api/v2/write?org=o&bucket=b&precision=ns", ""),
        ("/write?db=sensors", ""),
        ("/api/v2/write?org=o&bucket=b", "Content-Encoding: gzip\r\n"),
        ("/write?db=sensors", "Content-Encoding: gzip\r\n"),
    ] {
        let f = start_ingest(&[]);
        let body = if encoding.is_empty() {
            LINES.to_vec()
        } else {
            gzip(LINES)
        };
        let r = write(&f, target, encoding, &body);
        assert_eq!(r.status, 204, "{target} {encoding}: {}", r.body_str());
        assert_eq!(
            f.device("kitchen").unwrap(),
            b"env,device=kitchen t=21.5,h=40i 1700000000000000000\nenv,device=kitchen t=21.6\n"
        );
        assert_eq!(f.device("esp32-a").unwrap(), b"env,host=esp32-a t=19\n");
        // No tag: the client's address names the device.
        assert_eq!(f.device("127.0.0.1").unwrap(), b"wifi rssi=-61i\n");
        let doc = get_json(&f.server, "/api/devices");
        let kitchen = &device(&doc, "kitchen")["values"];
        assert_eq!(kitchen["env.t"]["value"], 21.6, "{kitchen}");
        assert_eq!(kitchen["env.h"]["value"], 40.0, "{kitchen}");
        assert_eq!(
            device(&doc, "127.0.0.1")["values"]["wifi.rssi"]["value"],
            -61.0
        );
    }
}

#[test]
fn a_bad_line_refuses_the_whole_write() {
    let f = start_ingest(&[]);
    let r = write(
        &f,
        "/api/v2/write",
        "",
        b"env,device=a t=1\nthis is not line protocol\n",
    );
    assert_eq!(r.status, 400);
    assert!(r.body_str().contains("line protocol"), "{}", r.body_str());
    assert_eq!(f.device("a"), None, "nothing stored");
    let r = write(&f, "/write", "", b"env,device=bad/id t=1\n");
    assert_eq!(r.status, 400);
    assert!(r.body_str().contains("device id"), "{}", r.body_str());
    assert_eq!(write(&f, "/write", "", b"\n# only a comment\n").status, 400);
    // Encodings: gzip that is not, one we do not read, a bomb past --max-body.
    let r = write(&f, "/write", "Content-Encoding: gzip\r\n", b"plain text");
    assert_eq!(r.status, 400);
    let r = write(&f, "/write", "Content-Encoding: br\r\n", b"m t=1");
    assert_eq!(r.status, 415);
    assert_eq!(f.device("127.0.0.1"), None);
    let bomb = gzip(&b"m,device=bomb t=1\n".repeat(100_000));
    assert!(bomb.len() < 1 << 20);
    let r = write(&f, "/write", "Content-Encoding: gzip\r\n", &bomb);
    assert_eq!(r.status, 413);
    assert_eq!(f.device("bomb"), None);
    // The connection stays usable after a refused write.
    let mut c = f.connect();
    let bad = b"POST /write HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nbad";
    assert_eq!(c.request(bad).status, 400);
    let good = b"POST /write HTTP/1.1\r\nHost: t\r\nContent-Length: 16\r\n\r\nm,device=ok t=1\n";
    assert_eq!(c.request(good).status, 204);
}

#[test]
fn the_ingest_token_in_influxdbs_scheme() {
    let f = start_ingest(&["--ingest-token", "s3cret"]);
    let body = b"m,device=a t=1";
    assert_eq!(write(&f, "/api/v2/write", "", body).status, 401);
    let wrong = "Authorization: Token nope\r\n";
    assert_eq!(write(&f, "/api/v2/write", wrong, body).status, 401);
    let token = "Authorization: Token s3cret\r\n";
    assert_eq!(write(&f, "/api/v2/write", token, body).status, 204);
    let bearer = "Authorization: Bearer s3cret\r\n";
    assert_eq!(write(&f, "/write", bearer, body).status, 204);
    assert_eq!(f.device("a").unwrap(), b"m,device=a t=1\nm,device=a t=1\n");
}

#[test]
fn many_devices_in_one_write_are_answered_once_in_every_ack_mode() {
    for ack in ["write", "fsync", "buffer"] {
        let f = start_ingest(&["--ack", ack]);
        let mut c = f.connect();
        let body: Vec<u8> = (0..50)
            .flat_map(|i| format!("m,device=d{} t={i}\n", i % 7).into_bytes())
            .collect();
        let req = |body: &[u8]| {
            let mut r = format!(
                "POST /write HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(body);
            r
        };
        // Pipelined: each write gets exactly one answer, in order.
        let mut two = req(&body);
        two.extend(req(b"m,device=d0 t=99\n"));
        c.send(&two);
        assert_eq!(c.read_response().status, 204, "{ack}");
        assert_eq!(c.read_response().status, 204, "{ack}");
        let ping = c.request(b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
        assert_eq!(ping.status, 204, "{ack}");
        // Read through the server: in buffer mode the file may not be written yet.
        let d0 = c
            .request(b"GET /devices/d0 HTTP/1.1\r\nHost: t\r\n\r\n")
            .body_str();
        assert_eq!(d0.lines().count(), 8 + 1, "{ack}: {d0}");
        assert!(d0.ends_with("m,device=d0 t=99\n"), "{ack}");
    }
}

#[test]
fn the_client_libraries_checks_and_methods() {
    let f = start_ingest(&[]);
    let mut c = f.connect();
    let r = c.request(b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 204);
    let r = c.request(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
    let health: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(health["status"], "pass");
    let r = c.request(b"GET /api/v2/write HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST, OPTIONS"));
}

#[test]
fn a_file_named_ping_or_health_under_root_comes_first() {
    let f = start_ingest(&[]);
    std::fs::write(f.root.path().join("health"), b"my own health page\n").unwrap();
    let mut c = f.connect();
    let r = c.request(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "my own health page\n");
    // /ping has no file: InfluxDB's answer.
    assert_eq!(
        c.request(b"GET /ping HTTP/1.1\r\nHost: t\r\n\r\n").status,
        204
    );
}
