//! Many devices within a small descriptor limit (issue 4: "an LRU of open device files so
//! 100,000 distinct devices work within the process's descriptor limit"). The server runs under
//! `prlimit --nofile=1024` and gets 2,500 distinct devices, each posted to twice in different
//! orders (so evicted files are reopened): every file must hold exactly its two records, and the
//! server must never hold more than about 512 device files open (the least the cap derived from
//! the limit can be). The cap itself, `--max-open-devices N` or derived from the limit, is reached
//! exactly: N device files open after N devices, still N after one more.

mod common;

use common::ingest::*;
use common::*;
use sluice::config::open_device_files;
use sluice::limits::{MIN_OPEN_DEVICE_FILES, RESERVED_DESCRIPTORS};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

const DEVICES: usize = 2500;
const CLIENTS: usize = 5;
const NOFILE: &str = "1024";
/// The least cap of open device files, plus room for listeners, connections, the poller, the
/// waker, stdio and the log.
const MAX_FDS: usize = MIN_OPEN_DEVICE_FILES + 64;

fn device(n: usize) -> String {
    format!("many{n:05}")
}

fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(Iterator::count)
        .unwrap_or(0)
}

/// Client `k` posts record `pass` to every device `n` with `n % CLIENTS == k`, in ascending
/// order on pass 0 and descending on pass 1, pipelining 10 at a time.
fn post_pass(addr: SocketAddr, k: usize, pass: usize, done: &AtomicUsize) {
    let mut mine: Vec<usize> = (0..DEVICES).filter(|n| n % CLIENTS == k).collect();
    if pass == 1 {
        mine.reverse();
    }
    let mut c = Client::connect(addr);
    for batch in mine.chunks(10) {
        let raw: Vec<u8> = batch
            .iter()
            .flat_map(|&n| post(&format!("/devices/{}", device(n)), &record(n, pass)))
            .collect();
        c.send(&raw);
        for &n in batch {
            let r = c.read_response();
            assert_eq!(r.status, 204, "pass {pass}, {}:\n{}", device(n), r.raw_head);
            done.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[test]
fn thousands_of_devices_work_within_a_small_descriptor_limit() {
    let data = tempfile::tempdir().unwrap();
    let root = basic_root();
    let args = [
        "-l",
        "127.0.0.1:0",
        "--data",
        data.path().to_str().unwrap(),
        root.path().to_str().unwrap(),
    ];
    let prlimit_ok = Command::new("prlimit")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let server = if prlimit_ok {
        let mut cmd = Command::new("prlimit");
        cmd.arg(format!("--nofile={NOFILE}:{NOFILE}"))
            .arg(bin())
            .args(args);
        Server::start_command(cmd, 1)
    } else {
        println!("NOTE: no prlimit; running with the inherited descriptor limit");
        Server::start_args(&args.map(String::from), 1)
    };
    // prlimit execs sluice: the pid is the server's.
    let pid = server.pid();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    assert_eq!(comm.trim(), "sluice", "pid {pid} is not the server");
    let addr = server.addr();

    let mut most_fds = 0;
    for pass in 0..2 {
        let done = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..CLIENTS)
            .map(|k| {
                let done = Arc::clone(&done);
                thread::spawn(move || post_pass(addr, k, pass, &done))
            })
            .collect();
        // Sample the server's descriptors while the clients run.
        while handles.iter().any(|h| !h.is_finished()) {
            most_fds = most_fds.max(open_fds(pid));
            thread::sleep(std::time::Duration::from_millis(10));
        }
        for h in handles {
            h.join().expect("client thread panicked");
        }
        assert_eq!(done.load(Ordering::Relaxed), DEVICES);
    }
    most_fds = most_fds.max(open_fds(pid));
    println!("most descriptors seen: {most_fds}");
    assert!(
        most_fds <= MAX_FDS,
        "the server held {most_fds} descriptors (device files are capped at {MIN_OPEN_DEVICE_FILES})"
    );

    assert_eq!(data_entries(data.path()).len(), DEVICES);
    for n in 0..DEVICES {
        let mut want = record(n, 0);
        want.extend_from_slice(&record(n, 1));
        let got = read_device(data.path(), &device(n));
        assert!(got.as_ref() == Some(&want), "{} holds {got:?}", device(n));
    }
    // Reading any of them back still works.
    let mut c = server.connect();
    for n in [0, DEVICES / 2, DEVICES - 1] {
        let g = c.request(&get(&format!("/devices/{}", device(n))));
        g.assert_status(200);
        assert_eq!(parse_records(&g.body).unwrap(), vec![(n, 0), (n, 1)]);
    }
}

/// Descriptors of process `pid` open on files in `data` (not on `data` itself, which the server
/// keeps open to serve the device files from).
fn data_fds(pid: i32, data: &Path) -> usize {
    let data = data.canonicalize().unwrap();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.parent() == Some(&data))
        // The write-ahead log and the keys journal are open too, and are no device files.
        .filter(|target| {
            !target
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .count()
}

/// Posts one record to each device `first..last` (one connection, pipelined 50 at a time).
fn post_devices(addr: SocketAddr, first: usize, last: usize) {
    let mut c = Client::connect(addr);
    for batch in (first..last).collect::<Vec<_>>().chunks(50) {
        let raw: Vec<u8> = batch
            .iter()
            .flat_map(|&n| post(&format!("/devices/{}", device(n)), &record(n, 0)))
            .collect();
        c.send(&raw);
        for &n in batch {
            let r = c.read_response();
            assert_eq!(r.status, 204, "{}:\n{}", device(n), r.raw_head);
        }
    }
}

/// Posts to `cap` devices, then to one more: `cap` device files are open after each step, and
/// every device's file holds its record.
fn fill_to_the_cap(server: &Server, data: &Path, cap: usize) {
    let pid = server.pid();
    post_devices(server.addr(), 0, cap);
    assert_eq!(
        data_fds(pid, data),
        cap,
        "one open file per device up to the cap"
    );
    post_devices(server.addr(), cap, cap + 1);
    assert_eq!(
        data_fds(pid, data),
        cap,
        "the device past the cap closed another"
    );
    for n in 0..=cap {
        assert_eq!(
            read_device(data, &device(n)),
            Some(record(n, 0)),
            "{}",
            device(n)
        );
    }
}

#[test]
fn max_open_devices_is_reached_exactly() {
    let cap = 20;
    let f = start_ingest(&["--max-open-devices", &cap.to_string()]);
    fill_to_the_cap(&f.server, &f.data, cap);
}

#[test]
fn the_derived_cap_is_what_the_descriptor_limit_leaves() {
    let prlimit_ok = Command::new("prlimit")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !prlimit_ok {
        println!("SKIPPED: no prlimit");
        return;
    }
    // A limit that leaves the minimum plus 8 for device files at 10 connections.
    let connections = 10;
    let cap = MIN_OPEN_DEVICE_FILES + 8;
    let nofile = (RESERVED_DESCRIPTORS..)
        .find(|&n| open_device_files(Some(n as u64), connections) == cap)
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let root = basic_root();
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--nofile={nofile}:{nofile}"))
        .arg(bin())
        .args(["-l", "127.0.0.1:0", "--max-connections"])
        .arg(connections.to_string())
        .arg("--data")
        .arg(data.path())
        .arg(root.path());
    let server = Server::start_command(cmd, 1);
    fill_to_the_cap(&server, data.path(), cap);
}
