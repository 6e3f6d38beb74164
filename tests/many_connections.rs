//! 10,000 simultaneous connections, each served. Its own test binary (and so its own process),
//! because it raises RLIMIT_NOFILE for the test process and the server it spawns.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::*;
use nix::sys::resource::{getrlimit, setrlimit, Resource};

const CONNECTIONS: usize = 10_000;

#[test]
fn ten_thousand_connections_at_once_are_all_served() {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if hard < 10_500 {
        println!("SKIPPED: hard RLIMIT_NOFILE is {hard}, below 10500");
        return;
    }
    if soft < hard {
        // Inherited by the server process spawned below.
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("setrlimit");
    }

    // All from one address: lift the per-peer cap (by default a quarter of the connections).
    let f = start_basic(&[
        "--max-connections",
        "20000",
        "--max-connections-per-peer",
        "20000",
    ]);
    let addr = f.server.addr();

    let mut conns = Vec::with_capacity(CONNECTIONS);
    for i in 0..CONNECTIONS {
        let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect #{i}: {e}"));
        conns.push(s);
    }

    let req = get("/hello.txt");
    let mut clients: Vec<Client> = conns.into_iter().map(Client::from_stream).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        use std::io::Write;
        c.stream
            .write_all(&req)
            .unwrap_or_else(|e| panic!("write #{i}: {e}"));
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let r = c
            .try_read_response(false)
            .unwrap_or_else(|e| panic!("response #{i}: {e}"));
        assert_eq!(r.status, 200, "response #{i}:\n{}", r.raw_head);
        assert_eq!(r.body, HELLO, "response #{i}");
    }

    // All still open: a second round on every 100th connection.
    for c in clients.iter_mut().step_by(100) {
        expect_still_open(c);
    }
    drop(clients);

    // The server is still fine after they all go away.
    let mut c = f.connect();
    expect_still_open(&mut c);
    let mut server = f.server;
    assert!(server.is_running(), "server exited");
    assert!(server.wait_exit(Duration::from_millis(10)).is_none());
}
