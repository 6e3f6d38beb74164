//! Connection behaviour seen through scripted clients (`sluice::harness`): error replies to HEAD,
//! half-closed live streams, answers before a body cut short.
use sluice::harness::responses::parse;
use sluice::harness::{check, run, Fixture, Script};

/// The one response `script` gets, read as a response to HEAD: it must end the output.
fn only_head_response(f: &Fixture, script: &Script) -> (u16, bool) {
    let r = run(f, script).unwrap();
    check(f, script, &r).unwrap_or_else(|e| panic!("{e}: {}", r.output.escape_ascii()));
    let response = parse(&r.output, 0, true).unwrap();
    assert_eq!(
        response.end,
        r.output.len(),
        "bytes after the head of a reply to HEAD: {}",
        r.output.escape_ascii()
    );
    (response.status, response.closes)
}

#[test]
fn error_replies_to_head_have_no_body() {
    // Found by fuzz/fuzz_targets/connection.rs: a HEAD whose head was refused after its request
    // line (here for its missing Host) got the error text as a body, which the client reads as
    // the start of the next response.
    let f = Fixture::new().unwrap();
    let long = format!(
        "HEAD /1 HTTP/1.1\r\nHost: h\r\nX-Long: {}\r\n\r\n",
        "x".repeat(20_000)
    );
    let mut small_body = Script::new(b"HEAD /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n");
    small_body.max_body = 16;
    let mut half_sent = Script::new(b"HEAD /1 HTTP/1.1\r\nHost: h\r\nX-A: ");
    half_sent.fin = false;
    let mut bad_chunk =
        Script::new(b"HEAD /1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    bad_chunk.fin = false;
    for (script, status) in [
        (Script::new(b"HEAD /1 HTTP/1.1\r\n\r\n"), 400),
        (
            Script::new(b"\r\nHEAD /1 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            400,
        ),
        (
            Script::new(b"HEAD /1 HTTP/1.1\r\nHost: h\nX: y\r\n\r\n"),
            400,
        ),
        (Script::new(long.as_bytes()), 431),
        (small_body, 413),
        (half_sent, 408),
        (bad_chunk, 400),
    ] {
        assert_eq!(
            only_head_response(&f, &script),
            (status, true),
            "{}",
            script.stream.escape_ascii()
        );
    }
}

#[test]
fn a_live_stream_sends_what_is_queued_to_a_client_that_half_closed() {
    // Found by fuzz/fuzz_targets/connection.rs: the client's FIN ended the stream at once, so a
    // client reading slowly got the head cut off after "Cache-Control: no-sto".
    let f = Fixture::new().unwrap();
    for (per_call, per_turn) in [(3, 31), (1, 1), (usize::MAX, 7)] {
        let mut s = Script::new(b"GET /api/live HTTP/1.1\r\nHost: h\r\n\r\n");
        s.write_per_call = per_call;
        s.write_per_turn = per_turn;
        let r = run(&f, &s).unwrap();
        check(&f, &s, &r).unwrap_or_else(|e| panic!("{e}: {}", r.output.escape_ascii()));
        let response = parse(&r.output, 0, false).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"retry: 2000\n\n");
        assert!(r.closed && r.deadlines == 0);
    }
}

#[test]
fn answers_before_a_body_cut_short_still_go_out() {
    // Found by fuzz/fuzz_targets/connection.rs: when the client's FIN cut a body short, the
    // connection closed at once, dropping the complete answers to the requests before it that
    // were still in the write buffer (pipelined, or not yet taken by a slow reader).
    let f = Fixture::new().unwrap();
    let get = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n";
    let cut_405 = b"POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nab";
    let cut_ingest = b"POST /devices/d HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab";
    for (cut, per_turn) in [(&cut_405[..], usize::MAX), (cut_405, 10), (cut_ingest, 10)] {
        let mut s = Script::new(&[&get[..], cut].concat());
        s.write_per_turn = per_turn;
        let r = run(&f, &s).unwrap();
        check(&f, &s, &r).unwrap_or_else(|e| panic!("{e}: {}", r.output.escape_ascii()));
        let response = parse(&r.output, 0, false).unwrap();
        assert_eq!(
            (response.status, response.body.as_slice()),
            (200, &b"1:00000"[..])
        );
        assert_eq!(
            response.end,
            r.output.len(),
            "the cut request got an answer"
        );
        assert!(r.closed && r.deadlines == 0 && r.devices.is_empty());
    }
}
