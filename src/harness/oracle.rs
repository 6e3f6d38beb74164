//! The oracle for a scripted connection: what [`run`](super::run) produced must agree with the
//! [`reference`](super::reference) and with the rules every response stream follows.
use super::reference::{self, Expect};
use super::responses::{self, Response};
use super::{Fixture, Run, Script};
use std::collections::BTreeMap;

/// What a run that passed looked like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Final responses read.
    pub responses: usize,
    /// Of those, the ones the reference predicted.
    pub predicted: usize,
    /// The device files were compared with the acknowledged bodies.
    pub ingest_checked: bool,
}

/// Checks `run`, the result of `script` on `fixture`:
///
/// - no buffer went over its cap, and the connection always came to wait;
/// - the output is a sequence of well-formed HTTP/1.1 responses (`responses::parse`);
/// - the requests the reference understands get, in order, one response each: exactly the
///   file's bytes for a GET of a fixture file (its length for HEAD), 404 for a missing one, 204
///   for an ingest POST, and the connection kept or closed as the client asked;
/// - after a response that closes the connection nothing follows, the server writes nothing
///   after shutting down its side, and a client that half-closed sees the connection end
///   without a timeout;
/// - the rest of the output has no more responses than the rest of the input has requests;
/// - when the reference understood every request that was answered, each device file holds
///   exactly the bodies acknowledged with 204, whole and in order.
pub fn check(fixture: &Fixture, script: &Script, run: &Run) -> Result<Report, String> {
    if let Some(e) = &run.over_cap {
        return Err(e.clone());
    }
    if run.sends_after_shutdown > 0 {
        return Err(format!(
            "{} sends after the server shut down its side",
            run.sends_after_shutdown
        ));
    }
    if script.fin && (!run.closed || run.deadlines > 0) {
        return Err("the client half-closed and the connection waited for a timeout".into());
    }
    let model = reference::model(&script.stream, fixture, script.max_body);
    let out = &run.output;
    let mut report = Report {
        responses: 0,
        predicted: 0,
        ingest_checked: false,
    };
    let mut acked: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut all_predicted = true;
    let mut pos = 0;
    for (i, expect) in model.expects.iter().enumerate() {
        if pos == out.len() {
            return Err(format!("request {i} ({expect:?}) got no response"));
        }
        let r = responses::parse(out, pos, expect.head())
            .map_err(|e| format!("response to request {i} ({expect:?}): {e}"))?;
        answers(fixture, expect, &r)
            .map_err(|e| format!("response to request {i} ({expect:?}) at {pos}: {e}"))?;
        report.responses += 1;
        report.predicted += 1;
        match expect {
            Expect::Ingest { device, stored, .. } => {
                acked.entry(device.clone()).or_default().extend(stored);
            }
            Expect::Other { .. } => all_predicted = false,
            _ => {}
        }
        pos = r.end;
        if r.closes {
            return ingest(run, acked, all_predicted, report);
        }
    }
    // What the reference did not understand: anything well-formed, within what the client sent.
    let rest = &script.stream[model.stop..];
    let heads = count(rest, b"HEAD ");
    let finals = count(rest, b"HTTP/1.");
    let found = responses::parse_rest(out, pos, heads, finals)?;
    let interim = found.iter().filter(|r| r.is_interim()).count();
    if interim > count(&rest.to_ascii_lowercase(), b"100-continue") {
        return Err(format!(
            "{interim} interim responses without as many requests for one"
        ));
    }
    report.responses += found.len() - interim;
    all_predicted &= rest.is_empty();
    ingest(run, acked, all_predicted, report)
}

/// Whether `r` is the response `expect` must get.
fn answers(fixture: &Fixture, expect: &Expect, r: &Response) -> Result<(), String> {
    let (status, body, close) = match expect {
        Expect::File { name, head, close } => {
            let file = fixture.file(name).unwrap_or_default();
            let want = if *head { &[][..] } else { file };
            if r.content_length != Some(file.len() as u64) {
                return Err(format!(
                    "Content-Length {:?}, the file has {}",
                    r.content_length,
                    file.len()
                ));
            }
            (200, Some(want), *close)
        }
        Expect::Missing { close, .. } => (404, None, *close),
        Expect::Ingest { close, .. } => (204, None, *close),
        Expect::NoRecord { close } => (400, None, *close),
        Expect::Other { close, .. } => {
            if *close && !r.closes {
                return Err("the connection had to close and was kept".into());
            }
            return if r.is_interim() {
                Err("an interim response no one asked for".into())
            } else {
                Ok(())
            };
        }
    };
    if r.status != status {
        return Err(format!("status {}, not {status}", r.status));
    }
    if let Some(want) = body {
        if r.body != want {
            return Err(format!(
                "a body of {} bytes starting {:?}, not the file's",
                r.body.len(),
                String::from_utf8_lossy(&r.body[..r.body.len().min(40)])
            ));
        }
    }
    if r.closes != close {
        return Err(format!("closes: {}, asked: {close}", r.closes));
    }
    Ok(())
}

/// The device files hold exactly the acknowledged bodies, when every answered request was
/// understood (an unknown request may have written to a device too).
fn ingest(
    run: &Run,
    acked: BTreeMap<String, Vec<u8>>,
    all_predicted: bool,
    mut report: Report,
) -> Result<Report, String> {
    if !all_predicted {
        return Ok(report);
    }
    let written: BTreeMap<&String, &Vec<u8>> = run.devices.iter().collect();
    let acked: BTreeMap<&String, &Vec<u8>> = acked.iter().collect();
    if written != acked {
        return Err(format!(
            "device files {:?} are not the acknowledged bodies {:?}",
            summary(&written),
            summary(&acked)
        ));
    }
    report.ingest_checked = true;
    Ok(report)
}

fn summary(files: &BTreeMap<&String, &Vec<u8>>) -> Vec<(String, usize)> {
    files.iter().map(|(k, v)| ((*k).clone(), v.len())).collect()
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    memchr::memmem::find_iter(hay, needle).count()
}
