//! The crash test of issue 4: in `--ack write` mode, 20 clients post numbered records; the server
//! is killed with SIGKILL mid-stream. Every record that got a 2xx must be in its file, whole,
//! exactly once; records that got no 2xx may or may not be there, but never torn. Then a restart
//! on the same data directory appends after what survived.

mod common;

use common::ingest::*;
use common::*;
use nix::sys::signal::Signal;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

const CLIENTS: usize = 20;
const DEVICES: usize = 4;
/// Acknowledgements to wait for before the kill.
const ACKS_BEFORE_KILL: usize = 500;
/// How long the clients may take to get there on a slow, loaded machine.
const ACK_DEADLINE: Duration = Duration::from_secs(120);

fn device_of(client: usize) -> String {
    format!("crash{}", client % DEVICES)
}

/// What one client saw.
#[derive(Debug, Default)]
struct Outcome {
    /// Seqs 0..acked got a 204.
    acked: usize,
    /// Seqs 0..sent were sent, whole or in part.
    sent: usize,
    /// A reply other than 204 before the connection died.
    bad_reply: Option<String>,
}

/// Posts records on one connection until it dies (or `stop`); odd clients pipeline 3 at a time.
fn run_client(
    addr: SocketAddr,
    client: usize,
    start: &Barrier,
    acks: &AtomicUsize,
    stop: &AtomicBool,
) -> Outcome {
    let mut c = Client::connect(addr);
    let mut out = Outcome::default();
    let depth = if client % 2 == 1 { 3 } else { 1 };
    start.wait();
    while !stop.load(Ordering::Relaxed) {
        let seqs = out.sent..out.sent + depth;
        let mut raw = Vec::new();
        for seq in seqs.clone() {
            let target = format!("/devices/{}", device_of(client));
            let body = record(client, seq);
            if (client + seq) % 3 == 0 {
                raw.extend_from_slice(&post_chunked(&target, &three_chunks(&body)));
            } else {
                raw.extend_from_slice(&post(&target, &body));
            }
        }
        out.sent = seqs.end;
        if c.stream.write_all(&raw).is_err() {
            return out;
        }
        for seq in seqs {
            match c.try_read_response(false) {
                Ok(r) if r.status == 204 => {
                    assert_eq!(seq, out.acked, "acks arrive in order");
                    out.acked += 1;
                    acks.fetch_add(1, Ordering::Relaxed);
                }
                Ok(r) => {
                    out.bad_reply = Some(format!("seq {seq}: {}", r.raw_head));
                    return out;
                }
                // The server is gone.
                Err(_) => return out,
            }
        }
    }
    out
}

#[test]
fn sigkill_mid_stream_loses_no_acknowledged_record_and_tears_none() {
    crash_round("write", ACKS_BEFORE_KILL);
}

#[test]
fn sigkill_later_in_the_stream_loses_nothing_acknowledged_either() {
    crash_round("write", 4 * ACKS_BEFORE_KILL);
}

#[test]
fn sigkill_in_fsync_mode_loses_no_acknowledged_record() {
    // fsync acknowledges later than write, so a kill can only lose less.
    crash_round("fsync", ACKS_BEFORE_KILL / 2);
}

/// Starts a server in `--ack <mode>`, lets the clients post until `kill_after` acks, SIGKILLs
/// it, checks the files against what the clients saw, and restarts on the same data.
fn crash_round(mode: &str, kill_after: usize) {
    let data_dir = tempfile::tempdir().unwrap();
    let data = data_dir.path();
    let mut f = start_ingest_in(data, &["--ack", mode]);
    let addr = f.server.addr();
    let start = Arc::new(Barrier::new(CLIENTS + 1));
    let acks = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (start, acks, stop) = (Arc::clone(&start), Arc::clone(&acks), Arc::clone(&stop));
            thread::Builder::new()
                .name(format!("client-{i}"))
                .spawn(move || run_client(addr, i, &start, &acks, &stop))
                .expect("spawn client")
        })
        .collect();
    start.wait();
    let t0 = Instant::now();
    let reached = wait_until(ACK_DEADLINE, || acks.load(Ordering::Relaxed) >= kill_after);
    if !reached {
        stop.store(true, Ordering::Relaxed);
    }
    assert!(
        reached,
        "only {} acks within {ACK_DEADLINE:?}",
        acks.load(Ordering::Relaxed)
    );
    // Mid-stream: the clients are still posting as fast as they can.
    f.server.signal(Signal::SIGKILL);
    let status = f
        .server
        .wait_exit(IO_TIMEOUT)
        .expect("server exits after SIGKILL");
    assert_eq!(status.signal(), Some(Signal::SIGKILL as i32), "{status:?}");
    let acks_at_kill = acks.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let outcomes: Vec<Outcome> = handles
        .into_iter()
        .map(|h| h.join().expect("client thread panicked"))
        .collect();
    println!(
        "--ack {mode}: killed after {:?} with {acks_at_kill} acks; {} acks in all",
        t0.elapsed(),
        outcomes.iter().map(|o| o.acked).sum::<usize>()
    );

    // Every file holds whole records only, each in its device's file.
    let by_client = records_by_client(data, device_of);
    let mut unacked_present = 0;
    for (client, out) in outcomes.iter().enumerate() {
        assert!(
            out.bad_reply.is_none(),
            "client {client}: {:?}",
            out.bad_reply
        );
        let got = by_client.get(&client).map(Vec::as_slice).unwrap_or(&[]);
        // One connection's records are written in its order, each once: the file has a prefix
        // 0..k of what the client sent, ...
        let prefix: Vec<usize> = (0..got.len()).collect();
        assert_eq!(
            got,
            &prefix[..],
            "client {client}: seqs in file order must be 0, 1, 2, ... each once"
        );
        // ... containing every acknowledged record ...
        assert!(
            got.len() >= out.acked,
            "client {client}: {} records acknowledged, only {} in the file",
            out.acked,
            got.len()
        );
        // ... and nothing that was never sent.
        assert!(
            got.len() <= out.sent,
            "client {client}: {} records in the file, only {} sent",
            got.len(),
            out.sent
        );
        unacked_present += got.len() - out.acked;
    }
    println!("records written but not acknowledged before the kill: {unacked_present}");

    // A restart on the same directory appends after what survived. Recovery may complete a
    // body whose device write the kill interrupted (it was in the write-ahead log): still whole
    // records, each client's in order and each once, every acknowledged one among them.
    let f = start_ingest_in(data, &["--ack", mode]);
    let by_client = records_by_client(data, device_of);
    for (client, out) in outcomes.iter().enumerate() {
        let got = by_client.get(&client).map(Vec::as_slice).unwrap_or(&[]);
        let prefix: Vec<usize> = (0..got.len()).collect();
        assert_eq!(got, &prefix[..], "client {client} after the restart");
        assert!(
            got.len() >= out.acked && got.len() <= out.sent,
            "client {client}"
        );
    }
    let before: Vec<Option<Vec<u8>>> = (0..DEVICES)
        .map(|d| read_device(data, &device_of(d)))
        .collect();
    let mut c = f.connect();
    for (d, old) in before.into_iter().enumerate() {
        let id = device_of(d);
        let body = format!("after restart {d}\n");
        let r = c.request(&post(&format!("/devices/{id}"), body.as_bytes()));
        r.assert_status(204);
        let mut want = old.unwrap_or_default();
        want.extend_from_slice(body.as_bytes());
        let g = c.request(&get(&format!("/devices/{id}")));
        g.assert_status(200);
        assert!(
            g.body == want,
            "GET {id} after restart is not old data + new record"
        );
        assert_eq!(f.device(&id), Some(want), "{id} after restart");
    }
}
