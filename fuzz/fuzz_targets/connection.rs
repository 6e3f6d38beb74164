//! A whole connection (`sluice::harness`): the client's bytes, cut into reads at fuzzer-chosen
//! points, go through an in-memory transport into a `Connection` driven the way the reactor
//! drives it (readiness, turns, the commit point of ingest bodies, deadlines); the answers are
//! taken by a client that reads a few bytes at a time, also fuzzer-chosen.
//!
//! Input: `[flags] [writes] [cuts] stream`, decoded by `Script::from_fuzz`: FIN or not (and
//! whether it comes with the last read), `--ack write` or `buffer`, `EINTR`s, `--max-body`, the
//! bytes one send takes and the bytes per turn, a `Cuts` mode; in the stream every `\xfe\xff`
//! ends a read.
//!
//! Oracle (`sluice::harness::check`): no panic; buffers stay within their caps and the
//! connection always comes to wait; the output is a sequence of well-formed HTTP/1.1 responses
//! (status line, fields, Date and Server, one framing, 1xx/204 without a body) with nothing after
//! one that closes and no send after the server's shutdown; errors after which the stream cannot
//! be trusted (408, 413, 414, 417, 431, 505) close; the requests a small reference understands
//! get one response each, in order: a GET of `/N` exactly file N's bytes (lines naming the file
//! and the offset), HEAD its length, a missing `/N` 404, an ingest POST 204, the connection kept
//! or closed as asked, a missing Host a closing 400; the rest no more responses than requests;
//! device files hold exactly the acknowledged bodies, whole and in order; a client that
//! half-closes sees the connection end without a timeout.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice::harness::{check, run, Fixture, Script};
use std::sync::OnceLock;

/// Built once per process in the temp dir (`sluice-harness-<pid>-0`, left behind).
static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some(script) = Script::from_fuzz(data) else {
        return;
    };
    let fixture = FIXTURE.get_or_init(|| Fixture::new().expect("fixture"));
    let result = run(fixture, &script).expect("run");
    if let Err(e) = check(fixture, &script, &result) {
        panic!(
            "{e}\ninput: {}\noutput: {}",
            shorten(&script.stream),
            shorten(&result.output)
        );
    }
});

/// At most the first and the last kilobyte, escaped.
fn shorten(bytes: &[u8]) -> String {
    if bytes.len() <= 2048 {
        return bytes.escape_ascii().to_string();
    }
    let (head, tail) = (&bytes[..1024], &bytes[bytes.len() - 1024..]);
    format!(
        "{} [... {} bytes ...] {}",
        head.escape_ascii(),
        bytes.len() - 2048,
        tail.escape_ascii()
    )
}
