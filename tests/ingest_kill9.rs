//! Bodies are atomic across `kill -9` (issue 14). Clients post bodies large enough to tear
//! (300 KB to 1.5 MB, thousands of lines, each body checking itself with a checksum line at its
//! end) while the server is SIGKILLed, 20 rounds on one data directory with a restart in
//! between, in `--ack write` and `--ack fsync`. After every restart each device file must be a
//! sequence of whole bodies: every acknowledged body exactly once, in each client's order, and
//! no part of any other body. A torn write that the kill left is counted (it is what recovery
//! repairs). Also a deterministic case: a device file torn by hand is repaired from the log.

mod common;

use common::ingest::*;
use common::*;
use nix::sys::signal::Signal;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

const ROUNDS: usize = 20;
const CLIENTS: usize = 6;
const DEVICES: usize = 3;

/// A body of client `client`, number `seq`: 300 KB to 1.5 MB, thousands of lines.
fn body(client: usize, seq: usize) -> Vec<u8> {
    checked_body(client, seq, 300_000..1_500_000)
}

fn kill_rounds(mode: &str) {
    let data_dir = tempfile::tempdir().unwrap();
    let data = data_dir.path();
    let args = ["--ack", mode, "--max-body", "2M"];
    // Acknowledged seqs per client, and the next seq each client sends.
    let mut acked: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); CLIENTS];
    let mut next_seq = [0usize; CLIENTS];
    let mut torn_before_restart = 0;
    for round in 0..ROUNDS {
        let mut f = start_ingest_in(data, &args);
        check_files(data, &acked, round, mode);
        let addr = f.server.addr();
        let acks = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let logs: Vec<Arc<Mutex<Vec<usize>>>> = (0..CLIENTS)
            .map(|_| Arc::new(Mutex::new(Vec::new())))
            .collect();
        let handles: Vec<_> = (0..CLIENTS)
            .map(|k| {
                let (log, acks, stop, first) = (
                    Arc::clone(&logs[k]),
                    Arc::clone(&acks),
                    Arc::clone(&stop),
                    next_seq[k],
                );
                let target = format!("/devices/kill{}", k % DEVICES);
                let bodies = move |seq| body(k, seq);
                thread::spawn(move || {
                    post_in_pairs(addr, &target, (first, &bodies), &log, (&acks, &stop))
                })
            })
            .collect();
        // Kill mid-stream, after a number of acks that differs from round to round.
        let after = 1 + round % 5;
        let reached = wait_until(Duration::from_secs(60), || {
            acks.load(Ordering::Relaxed) >= after
        });
        assert!(reached, "round {round}: no {after} acks within a minute");
        // Acks leave right after a commit; a kill a little later meets the next writes.
        thread::sleep(Duration::from_micros(500 * (round as u64 % 8)));
        f.server.signal(Signal::SIGKILL);
        f.server.wait_exit(IO_TIMEOUT).expect("killed server exits");
        stop.store(true, Ordering::Relaxed);
        for (k, h) in handles.into_iter().enumerate() {
            next_seq[k] = h.join().expect("client thread");
            acked[k].extend(logs[k].lock().unwrap().iter().copied());
        }
        // What the kill left, before recovery: a torn body is what the restart must repair.
        for d in 0..DEVICES {
            if let Some(file) = read_device(data, &format!("kill{d}")) {
                if bodies_in(&file).is_err() {
                    torn_before_restart += 1;
                }
            }
        }
        drop(f);
    }
    let f = start_ingest_in(data, &args);
    check_files(data, &acked, ROUNDS, mode);
    drop(f);
    let total: usize = acked.iter().map(BTreeSet::len).sum();
    println!(
        "--ack {mode}: {ROUNDS} kill -9 rounds, {total} bodies acknowledged, all whole and once; \
         {torn_before_restart} device files were torn by a kill and repaired at the restart"
    );
}

/// After a restart: every file is whole bodies, each client's in order and each once, with
/// every acknowledged body present.
fn check_files(data: &Path, acked: &[BTreeSet<usize>], round: usize, mode: &str) {
    let mut seen: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for d in 0..DEVICES {
        let Some(file) = read_device(data, &format!("kill{d}")) else {
            continue;
        };
        let bodies = bodies_in(&file)
            .unwrap_or_else(|e| panic!("--ack {mode}, after restart {round}: kill{d}: {e}"));
        for (client, seq) in bodies {
            assert_eq!(client % DEVICES, d, "body of client {client} in kill{d}");
            seen.entry(client).or_default().push(seq);
        }
    }
    for (client, want) in acked.iter().enumerate() {
        let got = seen.get(&client).cloned().unwrap_or_default();
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "--ack {mode}, restart {round}: client {client}'s bodies out of order or twice: {got:?}"
        );
        let got: BTreeSet<usize> = got.into_iter().collect();
        let lost: Vec<&usize> = want.difference(&got).collect();
        assert!(
            lost.is_empty(),
            "--ack {mode}, restart {round}: client {client} lost acknowledged bodies {lost:?}"
        );
    }
}

#[test]
fn twenty_kill9_rounds_in_write_mode_leave_whole_bodies_only() {
    kill_rounds("write");
}

#[test]
fn twenty_kill9_rounds_in_fsync_mode_leave_whole_bodies_only() {
    kill_rounds("fsync");
}

/// Device files damaged by hand the way a killed write leaves them: the last body cut on a page
/// boundary (the restart restores it from the write-ahead log), and a partial body after the
/// last whole one (the restart cuts it off and keeps it aside in `.recovered/`).
#[test]
fn a_torn_device_file_is_repaired_from_the_log_at_start() {
    let data_dir = tempfile::tempdir().unwrap();
    let data = data_dir.path();
    let path = data.join("torn");
    let (a, b) = (body(0, 0), body(0, 1));
    let whole = [a.as_slice(), b.as_slice()].concat();
    let args = ["--max-body", "2M"];
    let mut f = start_ingest_in(data, &args);
    let mut c = f.connect();
    post_ok(&mut c, &post("/devices/torn", &a));
    post_ok(&mut c, &post("/devices/torn", &b));
    drop(c);
    f.server.signal(Signal::SIGKILL);
    f.server.wait_exit(IO_TIMEOUT).expect("killed server exits");
    drop(f);

    // The second body's write torn at a page boundary.
    let cut = (a.len() + b.len() / 2) / 4096 * 4096;
    std::fs::write(&path, &whole[..cut]).unwrap();
    let mut f = start_ingest_in(data, &args);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        whole,
        "the torn body is restored"
    );
    assert!(!data.join(".recovered").exists(), "nothing to keep aside");
    // One more body, then a kill in the middle of the next one's write: half a body that was
    // never acknowledged lies after the last whole one.
    let c3 = body(0, 2);
    let mut c = f.connect();
    post_ok(&mut c, &post("/devices/torn", &c3));
    drop(c);
    f.server.signal(Signal::SIGKILL);
    f.server.wait_exit(IO_TIMEOUT).expect("killed server exits");
    drop(f);
    let whole = [whole.as_slice(), c3.as_slice()].concat();
    let mut glued = whole.clone();
    glued.extend_from_slice(b"c9 s9 l0 half a body\nc9 s9 l1 ha");
    std::fs::write(&path, &glued).unwrap();
    assert!(bodies_in(&glued).is_err(), "the file is torn now");
    let f = start_ingest_in(data, &args);
    let repaired = read_device(data, "torn").unwrap();
    assert_eq!(bodies_in(&repaired), Ok(vec![(0, 0), (0, 1), (0, 2)]));
    assert_eq!(repaired, whole);
    let kept: Vec<_> = std::fs::read_dir(data.join(".recovered"))
        .expect("cut bytes kept aside")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        std::fs::read(&kept[0]).unwrap(),
        b"c9 s9 l0 half a body\nc9 s9 l1 ha"
    );
    // The next body follows the repaired ones.
    let mut c = f.connect();
    post_ok(&mut c, &post("/devices/torn", b"next"));
    let after = read_device(data, "torn").unwrap();
    assert_eq!(after, [whole.as_slice(), b"next\n"].concat());
}
