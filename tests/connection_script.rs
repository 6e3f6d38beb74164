//! Whole connections driven by scripts through the in-memory transport (`sluice::harness`), with
//! the oracle of the `connection` fuzz target: the seed corpus of that target, and hand-made
//! scripts cut at every byte. Also checks that the oracle itself catches responses out of order,
//! duplicated or cut short.
use sluice::harness::{check, run, Cuts, Fixture, Report, Script};
use sluice::store::AckMode;
use std::path::Path;

fn fixture() -> Fixture {
    Fixture::new().expect("fixture")
}

/// Runs `script` and checks it; panics with the script and the output on a violation.
fn pass(f: &Fixture, script: &Script) -> Report {
    let r = run(f, script).expect("run");
    match check(f, script, &r) {
        Ok(report) => report,
        Err(e) => panic!(
            "{e}\nscript: {:?}\ninput: {}\noutput: {}",
            Script {
                stream: Vec::new(),
                ..script.clone()
            },
            script.stream.escape_ascii(),
            r.output.escape_ascii()
        ),
    }
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes()
}

fn post(device: &str, body: &[u8]) -> Vec<u8> {
    let head = format!(
        "POST /devices/{device} HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    [head.as_bytes(), body].concat()
}

fn post_chunked(device: &str, chunks: &[&[u8]]) -> Vec<u8> {
    let mut out =
        format!("POST /devices/{device} HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
            .into_bytes();
    for c in chunks {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// A pipelined batch touching every fixture file, a missing one, HEAD, and two devices.
fn mixed_batch() -> Vec<u8> {
    [
        get("/1"),
        get("/4"),
        post("d1", b"first\n"),
        b"HEAD /6 HTTP/1.1\r\nHost: h\r\n\r\n".to_vec(),
        get("/2"),
        post_chunked("d2", &[b"ab", b"c\n"]),
        get("/5"),
        get("/99"),
        post("d1", b"second\n"),
        get("/3"),
        get("/6"),
    ]
    .concat()
}

#[test]
fn seed_corpus_passes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/connection");
    let f = fixture();
    let mut seeds = 0;
    let mut predicted = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/connection") {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let Some(script) = Script::from_fuzz(&data) else {
            continue;
        };
        let r = run(&f, &script).unwrap();
        let report = check(&f, &script, &r).unwrap_or_else(|e| {
            panic!(
                "{}: {e}\noutput: {}",
                path.display(),
                r.output.escape_ascii()
            )
        });
        seeds += 1;
        predicted += report.predicted;
    }
    assert!(seeds >= 20, "only {seeds} seeds in {}", dir.display());
    assert!(
        predicted >= 50,
        "the reference predicted only {predicted} responses"
    );
}

#[test]
fn a_mixed_batch_cut_at_every_byte() {
    let f = fixture();
    let batch = mixed_batch();
    for ack in [AckMode::Write, AckMode::Buffer, AckMode::Fsync] {
        for at in 1..batch.len() {
            let mut s = Script::new(&batch);
            s.ends = vec![at, batch.len()];
            s.ack = ack;
            let report = pass(&f, &s);
            assert_eq!(report.predicted, 11, "cut at {at}");
            assert!(report.ingest_checked, "cut at {at}");
        }
    }
}

#[test]
fn a_mixed_batch_one_byte_at_a_time_to_a_slow_reader() {
    let f = fixture();
    let batch = mixed_batch();
    for (per_call, per_turn, fin_with_last) in [(1, 3, false), (7, 100, true), (4096, 1, true)] {
        let mut s = Script::new(&batch).cut_by(&mut Cuts::new(0));
        s.write_per_call = per_call;
        s.write_per_turn = per_turn;
        s.fin_with_last = fin_with_last;
        s.interrupts = true;
        let report = pass(&f, &s);
        assert_eq!((report.predicted, report.responses), (11, 11));
    }
}

#[test]
fn irregular_reads_and_no_fin() {
    let f = fixture();
    let batch = [mixed_batch(), get("/1")].concat();
    for mode in 64..128 {
        let mut s = Script::new(&batch).cut_by(&mut Cuts::new(mode));
        s.fin = mode % 2 == 0;
        s.write_per_turn = 1 + usize::from(mode) * 37;
        assert_eq!(pass(&f, &s).predicted, 12, "mode {mode}");
    }
}

#[test]
fn many_pipelined_copies_exceed_the_pending_write_cap_and_all_arrive() {
    // 20 copies of a 16 KiB file: more than MAX_PENDING_WRITE_BYTES waits unsent.
    let f = fixture();
    let batch: Vec<u8> = (0..20).flat_map(|_| get("/4")).collect();
    let mut s = Script::new(&batch);
    s.write_per_turn = 5000;
    assert_eq!(pass(&f, &s).predicted, 20);
}

#[test]
fn nothing_is_answered_after_a_framing_error() {
    let f = fixture();
    for bad in [
        &b"GET / HTTP/1.1\r\nHost: test\r\nX-Folded: a\r\n\tb\r\n\r\n"[..],
        b"GET  / HTTP/1.1\r\nHost: test\r\n\r\n",
        b"GET / HTTP/2.0\r\nHost: test\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: test\nX-A: b\r\n\r\n",
        b"POST /1 HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"POST /devices/d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /devices/d HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n",
        b"GET /1 HTTP/1.1\r\n\r\n",
    ] {
        let stream = [bad, &get("/1"), &get("/3")].concat();
        for at in [1, bad.len(), stream.len()] {
            let mut s = Script::new(&stream);
            s.ends = vec![at, stream.len()];
            s.ends.dedup();
            let report = pass(&f, &s);
            assert_eq!(report.responses, 1, "{}", bad.escape_ascii());
            let out = run(&f, &s).unwrap().output;
            assert!(
                out.windows(19).any(|w| w == b"Connection: close\r\n"),
                "{}",
                out.escape_ascii()
            );
        }
    }
}

#[test]
fn a_half_sent_head_gets_408_when_its_deadline_passes() {
    let f = fixture();
    let stream = [get("/1"), b"GET /2 HTTP/1.1\r\nHo".to_vec()].concat();
    let mut s = Script::new(&stream);
    s.fin = false;
    let r = run(&f, &s).unwrap();
    check(&f, &s, &r).unwrap();
    assert!(r.closed);
    let text = String::from_utf8_lossy(&r.output);
    assert!(text.contains("HTTP/1.1 408 "), "{text}");
}

/// The responses of `out`, each as its bytes (all are to GET requests here).
fn split(out: &[u8]) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    let mut pos = 0;
    while pos < out.len() {
        let r = sluice::harness::responses::parse(out, pos, false).unwrap();
        parts.push(out[pos..r.end].to_vec());
        pos = r.end;
    }
    parts
}

#[test]
fn the_oracle_catches_responses_out_of_order_duplicated_or_missing() {
    let f = fixture();
    let batch = [get("/1"), get("/3"), get("/3"), get("/5")].concat();
    let s = Script::new(&batch);
    let mut r = run(&f, &s).unwrap();
    check(&f, &s, &r).unwrap();
    let parts = split(&r.output);
    assert_eq!(parts.len(), 4);
    let good = r.output.clone();
    for (name, order) in [
        ("swapped", vec![1, 0, 2, 3]),
        ("shuffled", vec![0, 3, 1, 2]),
        ("duplicated", vec![0, 1, 1, 2, 3]),
        ("dropped", vec![0, 1, 3]),
        ("one too many", vec![0, 1, 2, 3, 3]),
    ] {
        r.output = order.iter().flat_map(|&i| parts[i].clone()).collect();
        assert!(check(&f, &s, &r).is_err(), "{name} was not caught");
    }
    r.output = good[..good.len() - 1].to_vec();
    assert!(check(&f, &s, &r).is_err(), "a cut body was not caught");
    r.output = good.clone();
    r.devices.insert("d".into(), b"stray".to_vec());
    assert!(
        check(&f, &s, &r).is_err(),
        "a write no one acknowledged was not caught"
    );
}
