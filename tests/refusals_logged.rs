//! Refusals are visible (issue 15): a client outside the allow list and a `Host` this server
//! does not answer each get one warning line at the default log level, naming the flag that
//! would admit them; a repeat within the interval logs nothing more.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs sluice with `args` (stderr captured, default log level), lets `poke` talk to it, stops it
/// with SIGTERM and returns what it wrote to stderr.
fn stderr_of(args: &[&str], poke: impl FnOnce(std::net::SocketAddr)) -> String {
    let root = basic_root();
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin())
        .args(["-l", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .args(args)
        .arg(root.path())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sluice");
    let mut stdout = child.stdout.take().unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\n") {
        assert_eq!(
            stdout.read(&mut byte).unwrap(),
            1,
            "sluice printed no listening line"
        );
        line.push(byte[0]);
    }
    let text = String::from_utf8(line).unwrap();
    let addr = text
        .trim()
        .strip_prefix("listening on http://")
        .unwrap()
        .parse()
        .unwrap();
    poke(addr);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_refused_peer_is_logged_once_naming_allow() {
    let log = stderr_of(&["--allow", "10.0.0.0/8"], |addr| {
        for _ in 0..3 {
            let mut s = TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 16];
            // Closed at once, before a byte is read.
            assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
        }
    });
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("not in the allow list"))
        .collect();
    assert_eq!(lines.len(), 1, "one line for three refusals: {log}");
    assert!(lines[0].contains("--allow 127.0.0.1/32"), "{}", lines[0]);
}

#[test]
fn a_refused_host_is_logged_once_naming_server_name() {
    let log = stderr_of(&[], |addr| {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for _ in 0..3 {
            s.write_all(b"GET / HTTP/1.1\r\nHost: pi.fritz.box:8080\r\n\r\n")
                .unwrap();
            let mut c = Client::from_stream(s.try_clone().unwrap());
            c.read_response().assert_status(421);
        }
    });
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("refused with 421"))
        .collect();
    assert_eq!(lines.len(), 1, "one line for three refusals: {log}");
    assert!(
        lines[0].contains("--server-name pi.fritz.box"),
        "{}",
        lines[0]
    );
}
