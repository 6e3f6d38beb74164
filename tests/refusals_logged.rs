//! Refusals are visible (issue 15): a client outside the allow list and a `Host` this server
//! does not answer each get one warning line at the default log level, naming the flag that
//! would admit them; a repeat within the interval logs nothing more.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn stderr_of(args: &[&str], poke: impl FnOnce(std::net::SocketAddr)) -> String {
    let root = basic_root();
    stderr_of_server(root.path(), args, poke)
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
