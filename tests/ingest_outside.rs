//! Device files and the world outside sluice (issue 14): a device file removed, renamed or
//! truncated by another program while sluice runs is followed at once (the next record goes to a
//! fresh file, or to the end of the file as it now is, and the registry follows); SIGHUP reopens
//! device files and the access log (logrotate's convention) instead of ending the process; a symlink placed in DATA
//! is never followed by a POST (403, its target untouched); with a descriptor limit of 256,
//! 600 devices are all acknowledged (the device-file cap follows the real limit, and an EMFILE
//! closes device files and retries instead of answering 500).

mod common;

use common::ingest::*;
use common::*;
use nix::sys::signal::Signal;
use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

/// Waits until `f` holds, polling; panics after `IO_TIMEOUT`.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + IO_TIMEOUT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads device `id` back through the server (which writes out what `--ack buffer` holds).
fn read_back(c: &mut Client, id: &str) -> Vec<u8> {
    let r = c.request(format!("GET /devices/{id} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes());
    r.assert_status(200);
    r.body
}

/// The dashboard's byte count for `id`.
fn api_bytes(c: &mut Client, id: &str) -> u64 {
    let r = c.request(b"GET /api/devices HTTP/1.1\r\nHost: t\r\n\r\n");
    let doc: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let devices = doc["devices"].as_array().unwrap();
    let d = devices
        .iter()
        .find(|d| d["id"] == id)
        .expect("device listed");
    d["bytes"].as_u64().unwrap()
}

#[test]
fn a_device_file_removed_while_running_is_followed_by_a_fresh_one() {
    for ack in ["write", "fsync", "buffer"] {
        let f = start_ingest(&["--ack", ack]);
        let mut c = f.connect();
        post_ok(&mut c, &post("/devices/gone", b"old"));
        read_back(&mut c, "gone");
        fs::remove_file(f.data.join("gone")).unwrap();
        post_ok(&mut c, &post("/devices/gone", b"new"));
        assert_eq!(read_back(&mut c, "gone"), b"new\n", "--ack {ack}");
        assert_eq!(
            f.device("gone").as_deref(),
            Some(&b"new\n"[..]),
            "--ack {ack}"
        );
        assert_eq!(
            api_bytes(&mut c, "gone"),
            4,
            "--ack {ack}: the registry follows"
        );
    }
}

#[test]
fn a_device_file_renamed_while_running_keeps_what_it_had() {
    for ack in ["write", "fsync", "buffer"] {
        let f = start_ingest(&["--ack", ack]);
        let mut c = f.connect();
        post_ok(&mut c, &post("/devices/moved", b"old"));
        read_back(&mut c, "moved");
        fs::rename(f.data.join("moved"), f.data.join("moved.1")).unwrap();
        post_ok(&mut c, &post("/devices/moved", b"new"));
        assert_eq!(read_back(&mut c, "moved"), b"new\n", "--ack {ack}");
        assert_eq!(
            fs::read(f.data.join("moved.1")).unwrap(),
            b"old\n",
            "--ack {ack}"
        );
    }
}

#[test]
fn a_device_file_truncated_while_running_gets_the_next_record_at_its_end() {
    for ack in ["write", "fsync", "buffer"] {
        let f = start_ingest(&["--ack", ack]);
        let mut c = f.connect();
        post_ok(&mut c, &post("/devices/cut", b"first"));
        post_ok(&mut c, &post("/devices/cut", b"second"));
        read_back(&mut c, "cut");
        fs::OpenOptions::new()
            .write(true)
            .open(f.data.join("cut"))
            .unwrap()
            .set_len(6)
            .unwrap();
        post_ok(&mut c, &post("/devices/cut", b"third"));
        assert_eq!(read_back(&mut c, "cut"), b"first\nthird\n", "--ack {ack}");
        assert_eq!(
            api_bytes(&mut c, "cut"),
            12,
            "--ack {ack}: the registry follows"
        );
    }
}

#[test]
fn sighup_reopens_a_renamed_device_file_and_keeps_running() {
    for ack in ["write", "fsync", "buffer"] {
        let mut f = start_ingest(&["--ack", ack]);
        let mut c = f.connect();
        post_ok(&mut c, &post("/devices/rotated", b"before"));
        // --ack buffer writes within a second; a read writes out what is pending.
        c.request(b"GET /devices/rotated HTTP/1.1\r\nHost: t\r\n\r\n")
            .assert_status(200);
        fs::rename(f.data.join("rotated"), f.data.join("rotated.1")).unwrap();
        f.server.signal(Signal::SIGHUP);
        // SIGHUP ends no process: the server still answers on the same connection.
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            f.server.is_running(),
            "--ack {ack}: SIGHUP ended the server"
        );
        post_ok(&mut c, &post("/devices/rotated", b"after"));
        let r = c.request(b"GET /devices/rotated HTTP/1.1\r\nHost: t\r\n\r\n");
        r.assert_status(200);
        assert_eq!(
            r.body, b"after\n",
            "--ack {ack}: the new file has the new record only"
        );
        assert_eq!(
            fs::read(f.data.join("rotated.1")).unwrap(),
            b"before\n",
            "--ack {ack}: the rotated file keeps what it had"
        );
        assert_eq!(f.device("rotated").as_deref(), Some(&b"after\n"[..]));
    }
}

#[test]
fn sighup_reopens_the_access_log() {
    let root = basic_root();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    let data = tempfile::tempdir().unwrap();
    let args = [
        "--access-log",
        log.to_str().unwrap(),
        "--data",
        data.path().to_str().unwrap(),
    ];
    let mut server = Server::start(root.path(), &args);
    let mut c = server.connect();
    c.request(b"GET /first HTTP/1.1\r\nHost: t\r\n\r\n");
    eventually("the first line in the log", || {
        fs::read_to_string(&log).is_ok_and(|t| t.contains("/first"))
    });
    fs::rename(&log, logs.path().join("access.log.1")).unwrap();
    server.signal(Signal::SIGHUP);
    // The reopen creates the log again: after that, lines go to the new file.
    eventually("the access log reopened", || log.exists());
    assert!(server.is_running(), "SIGHUP ended the server");
    c.request(b"GET /second HTTP/1.1\r\nHost: t\r\n\r\n");
    eventually("the second line in a new log", || {
        fs::read_to_string(&log).is_ok_and(|t| t.contains("/second"))
    });
    let old = fs::read_to_string(logs.path().join("access.log.1")).unwrap();
    assert!(old.contains("/first") && !old.contains("/second"), "{old}");
}

#[test]
fn a_symlink_in_data_is_never_followed_by_a_post() {
    for ack in ["write", "fsync", "buffer"] {
        let f = start_ingest(&["--ack", ack]);
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("victim");
        fs::write(&target, b"untouched").unwrap();
        std::os::unix::fs::symlink(&target, f.data.join("linked")).unwrap();
        let mut c = f.connect();
        let r = c.request(&post("/devices/linked", b"t=1"));
        r.assert_status(403);
        expect_still_open(&mut c);
        // Also after a flush and at shutdown.
        c.request(b"GET /devices/linked HTTP/1.1\r\nHost: t\r\n\r\n");
        drop(c);
        drop(f);
        assert_eq!(fs::read(&target).unwrap(), b"untouched", "--ack {ack}");
    }
}

#[test]
fn six_hundred_devices_are_acknowledged_with_256_descriptors() {
    let prlimit_ok = Command::new("prlimit")
        .args(["--nofile=256:256", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !prlimit_ok {
        println!("SKIPPED: no prlimit");
        return;
    }
    let root = basic_root();
    let data = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("prlimit");
    cmd.arg("--nofile=256:256")
        .arg(bin())
        .args(["-l", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .arg(root.path());
    let server = Server::start_command(cmd, 1);
    let mut c = server.connect();
    for n in 0..600 {
        let r = c.request(&post(
            &format!("/devices/fd{n:03}"),
            format!("n={n}").as_bytes(),
        ));
        assert_eq!(r.status, 204, "device {n}:\n{}", r.raw_head);
    }
    for n in 0..600 {
        let file = read_device(data.path(), &format!("fd{n:03}"));
        assert_eq!(file, Some(format!("n={n}\n").into_bytes()), "device {n}");
    }
}
