//! Peers from several addresses: the allow list (`--allow`), X-Forwarded-For never consulted,
//! and the per-peer connection cap (`--max-connections-per-peer`). Clients bind distinct
//! loopback addresses (127.0.0.2, 127.0.0.3, ...: all of 127/8 is local on Linux) before
//! connecting, so one machine plays several peers.

mod common;

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use socket2::{Domain, Socket, Type};

/// A client connection to `server` from the local address `from` (any port).
fn connect_from(server: &Server, from: &str) -> Client {
    let ip: IpAddr = from.parse().expect("an IP address");
    let socket = Socket::new(Domain::for_address(server.addr()), Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::new(ip, 0).into())
        .unwrap_or_else(|e| panic!("bind {from}: {e} (is all of 127/8 local here?)"));
    socket
        .connect_timeout(&server.addr().into(), IO_TIMEOUT)
        .unwrap_or_else(|e| panic!("connect from {from}: {e}"));
    Client::from_stream(socket.into())
}

/// How long a refused connection may stay open. Well below the default header timeout (10 s),
/// so an admitted connection that sends nothing and is closed by that timeout does not pass.
const REFUSED_WITHIN: Duration = Duration::from_secs(5);

/// Asserts the server closed `c` at once without sending a byte (a refused peer). The client
/// may have written a request first; that write may itself fail once the server has closed.
#[track_caller]
fn assert_refused(c: &mut Client, from: &str) {
    let w = c.wait_for_close(REFUSED_WITHIN);
    assert!(
        w.bytes.is_empty(),
        "refused peer {from} got bytes: {:?}",
        String::from_utf8_lossy(&w.bytes)
    );
    assert!(
        w.closed,
        "connection from {from} was not closed within {REFUSED_WITHIN:?}"
    );
}

/// Sends `raw` ignoring errors (the server may already have closed a refused connection).
fn send_quietly(c: &mut Client, raw: &[u8]) {
    let _ = c.stream.write_all(raw);
}

fn post_ingest(target: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {target} HTTP/1.1\r\nHost: test\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The device files in `dir` (not the write-ahead log or other dotfiles).
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| !name.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn only_addresses_in_the_allow_list_are_served() {
    let f = start_basic(&["--allow", "127.0.0.2/32", "--allow", "127.0.1.0/24"]);
    let mut admitted = Vec::new();
    for from in ["127.0.0.2", "127.0.1.1", "127.0.1.254"] {
        let mut c = connect_from(&f.server, from);
        let r = c.request(&get("/hello.txt"));
        r.assert_status(200);
        assert_eq!(r.body, HELLO, "from {from}");
        admitted.push(c);
    }
    // Refused: closed at once, before anything is read, and nothing is sent back. Both a peer
    // that says nothing and one that sends a whole request.
    for from in ["127.0.0.3", "127.0.0.1", "127.0.2.1"] {
        let mut silent = connect_from(&f.server, from);
        assert_refused(&mut silent, from);
        let mut talker = connect_from(&f.server, from);
        send_quietly(&mut talker, &get("/hello.txt"));
        assert_refused(&mut talker, from);
    }
    // The refusals did not disturb the admitted connections.
    for c in &mut admitted {
        expect_still_open(c);
    }
}

#[test]
fn default_list_admits_loopback_peers() {
    let f = start_basic(&[]);
    for from in ["127.0.0.1", "127.0.0.2", "127.200.0.9"] {
        let mut c = connect_from(&f.server, from);
        c.request(&get("/hello.txt")).assert_status(200);
    }
}

#[test]
fn x_forwarded_for_is_never_consulted() {
    let data = tempfile::tempdir().unwrap();
    let f = start_basic(&[
        "--allow",
        "127.0.0.2/32",
        "--data",
        data.path().to_str().unwrap(),
    ]);
    // A refused peer claiming to be an admitted one is still refused, without an answer.
    let claims =
        "X-Forwarded-For: 127.0.0.2\r\nForwarded: for=127.0.0.2\r\nX-Real-IP: 127.0.0.2\r\n";
    let mut liar = connect_from(&f.server, "127.0.0.3");
    send_quietly(
        &mut liar,
        format!("GET /hello.txt HTTP/1.1\r\nHost: test\r\n{claims}\r\n").as_bytes(),
    );
    assert_refused(&mut liar, "127.0.0.3");

    // An admitted peer claiming an off-LAN address is served as itself, and the device id
    // derived from the address is the socket's, not the claimed one.
    let mut c = connect_from(&f.server, "127.0.0.2");
    let r = c.request(
        b"GET /hello.txt HTTP/1.1\r\nHost: test\r\nX-Forwarded-For: 8.8.8.8\r\nForwarded: for=8.8.8.8\r\n\r\n",
    );
    r.assert_status(200);
    let r = c.request(&post_ingest(
        "/ingest",
        "X-Forwarded-For: 10.9.9.9\r\nForwarded: for=10.9.9.9\r\nX-Real-IP: 10.9.9.9\r\n",
        "reading\n",
    ));
    r.assert_status(204);
    assert_eq!(files_in(data.path()), ["127.0.0.2"]);
    assert_eq!(
        std::fs::read(data.path().join("127.0.0.2")).unwrap(),
        b"reading\n"
    );
}

#[test]
fn per_peer_cap_admits_exactly_the_cap_and_closes_the_next() {
    let f = start_basic(&["--max-connections-per-peer", "2"]);
    // Exactly at the cap: both served and kept.
    let mut a = connect_from(&f.server, "127.0.0.2");
    let mut b = connect_from(&f.server, "127.0.0.2");
    for c in [&mut a, &mut b] {
        c.request(&get("/hello.txt")).assert_status(200);
    }
    // One over: closed at once with no bytes.
    let mut over = connect_from(&f.server, "127.0.0.2");
    send_quietly(&mut over, &get("/hello.txt"));
    assert_refused(&mut over, "127.0.0.2 (third)");

    // Other addresses have their own allowance.
    let mut others: Vec<Client> = ["127.0.0.3", "127.0.0.3", "127.0.0.4"]
        .into_iter()
        .map(|from| connect_from(&f.server, from))
        .collect();
    for c in &mut others {
        c.request(&get("/hello.txt")).assert_status(200);
    }
    expect_still_open(&mut a);
    expect_still_open(&mut b);

    // A slot freed by a close is available again (the server sees the close asynchronously,
    // so retry for a while).
    drop(a);
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let mut c = connect_from(&f.server, "127.0.0.2");
        send_quietly(&mut c, &get("/hello.txt"));
        match c.try_read_response(false) {
            Ok(r) => {
                r.assert_status(200);
                break;
            }
            Err(e) => assert!(
                Instant::now() < deadline,
                "no slot for 127.0.0.2 after a close: {e}"
            ),
        }
        thread::sleep(Duration::from_millis(20));
    }
    expect_still_open(&mut b);
}

#[test]
fn per_peer_cap_counts_connections_not_requests() {
    let f = start_basic(&["--max-connections-per-peer", "1"]);
    let mut c = connect_from(&f.server, "127.0.0.5");
    // Many requests, pipelined and sequential, on the one allowed connection.
    let batch: Vec<u8> = (0..20).flat_map(|_| get("/hello.txt")).collect();
    c.send(&batch);
    for _ in 0..20 {
        c.read_response().assert_status(200);
    }
    expect_still_open(&mut c);
    let mut second = connect_from(&f.server, "127.0.0.5");
    send_quietly(&mut second, &get("/hello.txt"));
    assert_refused(&mut second, "127.0.0.5 (second)");
}

/// The value of an unlabelled sample in Prometheus text.
fn sample(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{metrics}"))
}

#[test]
fn refusals_are_counted_in_the_metrics() {
    let f = start_basic(&["--allow", "127.0.0.2/32", "--max-connections-per-peer", "1"]);
    let mut admitted = connect_from(&f.server, "127.0.0.2");
    admitted.request(&get("/hello.txt")).assert_status(200);
    // Two outside the allow list, one over the cap.
    for from in ["127.0.0.3", "127.0.0.4", "127.0.0.2"] {
        let mut c = connect_from(&f.server, from);
        assert_refused(&mut c, from);
    }
    let r = admitted.request(&get("/metrics"));
    r.assert_status(200);
    let text = r.body_str();
    assert_eq!(sample(&text, "sluice_connections_refused_total"), 3);
    assert_eq!(sample(&text, "sluice_connections_accepted_total"), 1);
}
