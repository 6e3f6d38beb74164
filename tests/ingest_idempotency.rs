//! Exactly-once retries (issue 14): a POST carrying `Idempotency-Key: K` whose key its device
//! already stored gets the same 204 and stores nothing, in every ack mode, also when the retry
//! is pipelined right behind the original, and after a restart (clean or `kill -9`). Keys are
//! per device; a key that is not 1 to 255 visible ASCII characters is 400.

mod common;

use common::ingest::*;
use common::*;
use nix::sys::signal::Signal;

fn keyed(device: &str, key: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = format!(
        "POST /devices/{device} HTTP/1.1\r\nHost: test\r\nIdempotency-Key: {key}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    raw
}

#[test]
fn a_retried_key_is_acknowledged_again_and_stored_once() {
    for ack in ["write", "fsync", "buffer"] {
        let f = start_ingest(&["--ack", ack]);
        let mut c = f.connect();
        post_ok(&mut c, &keyed("esp", "boot3-seq1", b"t=21.5"));
        post_ok(&mut c, &keyed("esp", "boot3-seq1", b"t=21.5"));
        // The same key quoted as a structured-field string is the same key.
        post_ok(&mut c, &keyed("esp", "\"boot3-seq1\"", b"t=21.5"));
        post_ok(&mut c, &keyed("esp", "boot3-seq2", b"t=21.6"));
        // Keys are per device.
        post_ok(&mut c, &keyed("other", "boot3-seq1", b"t=9"));
        // Without a key, a body is stored every time.
        post_ok(&mut c, &post("/devices/esp", b"t=21.7"));
        post_ok(&mut c, &post("/devices/esp", b"t=21.7"));
        // --ack buffer writes within a second; a read writes out what is pending.
        for device in ["esp", "other"] {
            c.request(format!("GET /devices/{device} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
                .assert_status(200);
        }
        assert_eq!(
            f.device("esp").as_deref(),
            Some(&b"t=21.5\nt=21.6\nt=21.7\nt=21.7\n"[..]),
            "--ack {ack}"
        );
        assert_eq!(
            f.device("other").as_deref(),
            Some(&b"t=9\n"[..]),
            "--ack {ack}"
        );
    }
}

#[test]
fn a_retry_pipelined_behind_its_original_is_stored_once() {
    for ack in ["write", "fsync", "buffer"] {
        let f = start_ingest(&["--ack", ack]);
        let mut c = f.connect();
        let one = keyed("pipe", "k-1", b"n=1");
        c.send(&[one.clone(), one.clone(), one].concat());
        for _ in 0..3 {
            c.read_response().assert_status(204);
        }
        c.request(b"GET /devices/pipe HTTP/1.1\r\nHost: t\r\n\r\n")
            .assert_status(200);
        assert_eq!(
            f.device("pipe").as_deref(),
            Some(&b"n=1\n"[..]),
            "--ack {ack}"
        );
    }
}

#[test]
fn keys_are_kept_across_a_restart_and_a_kill() {
    let data = tempfile::tempdir().unwrap();
    let f = start_ingest_in(data.path(), &[]);
    let mut c = f.connect();
    post_ok(&mut c, &keyed("esp", "before-stop", b"a=1"));
    drop(c);
    drop(f);
    let mut f = start_ingest_in(data.path(), &[]);
    let mut c = f.connect();
    post_ok(&mut c, &keyed("esp", "before-stop", b"a=1"));
    post_ok(&mut c, &keyed("esp", "before-kill", b"b=2"));
    drop(c);
    f.server.signal(Signal::SIGKILL);
    f.server.wait_exit(IO_TIMEOUT).expect("killed server exits");
    drop(f);
    let f = start_ingest_in(data.path(), &[]);
    let mut c = f.connect();
    post_ok(&mut c, &keyed("esp", "before-stop", b"a=1"));
    post_ok(&mut c, &keyed("esp", "before-kill", b"b=2"));
    post_ok(&mut c, &keyed("esp", "after", b"c=3"));
    assert_eq!(f.device("esp").as_deref(), Some(&b"a=1\nb=2\nc=3\n"[..]));
}

#[test]
fn a_key_outside_the_rules_is_400_and_the_longest_is_accepted() {
    let f = start_ingest(&[]);
    let mut c = f.connect();
    let longest = "k".repeat(255);
    post_ok(&mut c, &keyed("rules", &longest, b"x=1"));
    let over = "k".repeat(256);
    for bad in ["", "\"\"", "two words", over.as_str(), "caf\u{e9}"] {
        let r = c.request(&keyed("rules", bad, b"x=2"));
        r.assert_status(400);
        assert!(
            r.body_str().contains("Idempotency-Key"),
            "{bad:?}: {}",
            r.body_str()
        );
        expect_still_open(&mut c);
    }
    assert_eq!(f.device("rules").as_deref(), Some(&b"x=1\n"[..]));
}
