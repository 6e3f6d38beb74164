//! Power cuts (issue 14). sluice runs with DATA on a FUSE filesystem of the test's own
//! (`power_fs`) that keeps in memory what was not synced and drops it at each cut: file bytes
//! since the file's last `fdatasync`, directory entries since the directory's last `fsync`.
//! Clients post self-checking bodies (a checksum line at the end of each) to old and new devices;
//! after a number of acknowledgements that differs per round, sluice is SIGKILLed, the power is
//! cut, the filesystem is mounted again and sluice restarted on it, 50 times. After every restart
//! each device file must be whole bodies only, and every acknowledged body there exactly once.
//!
//! The same harness run against `--ack write` (which promises nothing across a power cut) must
//! find acknowledged bodies lost, which shows that it can fail.
//!
//! FUSE needs `/dev/fuse` and the right to mount (root, or `fusermount3`). Without them the test
//! says SKIPPED, unless `SLUICE_REQUIRE_FUSE` is set (as `.ci/run` does), where it fails.

mod common;
mod power_fs;

use common::ingest::*;
use common::*;
use nix::sys::signal::Signal;
use power_fs::{Mounted, PowerFs};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

const CUTS: usize = 50;
const CLIENTS: usize = 4;
/// Clients below this number post to a new device every round (new directory entries).
const NEW_DEVICE_CLIENTS: usize = 2;

/// A body: 100 bytes to 64 KB.
fn body(client: usize, seq: usize) -> Vec<u8> {
    checked_body(client, seq, 100..64_000)
}

/// (client, seq) of a body.
type BodyId = (usize, usize);

/// Mounts `fs` at `at`, or says why not (None: skip).
fn mount(fs: &PowerFs, at: &Path) -> Option<Mounted> {
    match fs.mount(at) {
        Ok(m) => Some(m),
        Err(e) if std::env::var_os("SLUICE_REQUIRE_FUSE").is_none() => {
            println!("SKIPPED: cannot mount a FUSE filesystem here ({e}); needs /dev/fuse");
            None
        }
        Err(e) => panic!("SLUICE_REQUIRE_FUSE is set and FUSE cannot mount: {e}"),
    }
}

/// What a restart found: acknowledged bodies missing, and problems (damage, duplicates).
struct Found {
    lost: Vec<BodyId>,
    problems: Vec<String>,
    bodies: usize,
}

/// Reads every device file in `data`: whole bodies only, none twice, every acknowledged one.
fn check(data: &Path, acked: &BTreeSet<BodyId>) -> Found {
    let mut seen: BTreeMap<BodyId, usize> = BTreeMap::new();
    let mut problems = Vec::new();
    for id in data_entries(data) {
        let file = read_device(data, &id).unwrap_or_default();
        match bodies_in(&file) {
            Ok(bodies) => {
                for b in bodies {
                    *seen.entry(b).or_default() += 1;
                }
            }
            Err(e) => problems.push(format!("{id}: {e}")),
        }
    }
    for (b, n) in &seen {
        if *n > 1 {
            problems.push(format!("body {b:?} stored {n} times"));
        }
    }
    Found {
        lost: acked
            .iter()
            .filter(|b| !seen.contains_key(b))
            .copied()
            .collect(),
        problems,
        bodies: seen.len(),
    }
}

/// Runs `cuts` power-cut rounds in `--ack mode`, checking after every restart; returns the
/// acknowledged bodies lost over all restarts (None: FUSE not available).
fn power_cut_rounds(mode: &str, cuts: usize) -> Option<usize> {
    let fs = PowerFs::new();
    let mnt = tempfile::tempdir().unwrap();
    // A folder of the mount: its own directory entry must survive the cuts too.
    let data = mnt.path().join("data");
    let args = ["--ack", mode, "--max-body", "1M"];
    let mut acked: BTreeSet<BodyId> = BTreeSet::new();
    let mut next_seq = [0usize; CLIENTS];
    let mut lost_total = 0;
    for round in 0..=cuts {
        let mounted = mount(&fs, mnt.path())?;
        let mut f = start_ingest_in(&data, &args);
        let found = check(&data, &acked);
        assert!(
            found.problems.is_empty(),
            "--ack {mode}, restart {round}: {:?}",
            found.problems
        );
        if mode == "fsync" {
            assert!(
                found.lost.is_empty(),
                "--ack fsync, restart {round}: acknowledged bodies lost: {:?}",
                found.lost
            );
        }
        lost_total += found.lost.len();
        // A lost body is not looked for again.
        for b in &found.lost {
            acked.remove(b);
        }
        if round == cuts {
            println!(
                "--ack {mode}: {cuts} power cuts, {} bodies acknowledged and checked, {} whole \
                 bodies on disk at the end, {lost_total} acknowledged bodies lost; {:?} \
                 (syncs, cuts) seen by the filesystem",
                acked.len() + lost_total,
                found.bodies,
                fs.counts()
            );
            drop(f);
            drop(mounted);
            break;
        }
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
                let target = if k < NEW_DEVICE_CLIENTS {
                    format!("/devices/new{round}-{k}")
                } else {
                    format!("/devices/old{k}")
                };
                let bodies = move |seq| body(k, seq);
                thread::spawn(move || {
                    post_in_pairs(addr, &target, (first, &bodies), &log, (&acks, &stop))
                })
            })
            .collect();
        // Cut after a number of acknowledgements that differs from round to round.
        let after = 2 + round % 7 * 3;
        let reached = wait_until(Duration::from_secs(60), || {
            acks.load(Ordering::Relaxed) >= after
        });
        assert!(reached, "round {round}: no {after} acks within a minute");
        thread::sleep(Duration::from_micros(700 * (round as u64 % 6)));
        f.server.signal(Signal::SIGKILL);
        f.server.wait_exit(IO_TIMEOUT).expect("killed server exits");
        stop.store(true, Ordering::Relaxed);
        for (k, h) in handles.into_iter().enumerate() {
            next_seq[k] = h.join().expect("client thread");
            acked.extend(logs[k].lock().unwrap().iter().map(|&seq| (k, seq)));
        }
        drop(f);
        drop(mounted);
        fs.cut();
    }
    Some(lost_total)
}

#[test]
fn fifty_power_cuts_in_fsync_mode_lose_no_acknowledged_body() {
    if let Some(lost) = power_cut_rounds("fsync", CUTS) {
        assert_eq!(lost, 0);
    }
}

#[test]
fn the_harness_finds_the_losses_of_write_mode() {
    if let Some(lost) = power_cut_rounds("write", 3) {
        assert!(
            lost > 0,
            "--ack write promises nothing across a power cut, yet nothing was lost: the \
             harness cannot see a loss"
        );
    }
}
