//! The balancer in front (issue 17): `examples/haproxy/haproxy.cfg` run on loopback over three
//! sluice nodes. Every device's records land on one node; when a node stops, only its own
//! devices move, and the others keep landing where they were. Static files come from any node.
//!
//! Needs `haproxy`; without it the test says SKIPPED, unless `SLUICE_REQUIRE_HAPROXY` is set (as
//! `.ci/run` does), where it fails.

mod common;

use common::ingest::*;
use common::*;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEVICES: usize = 60;

/// The shipped configuration, with the nodes and the frontend port of this test, and quick
/// health checks.
fn config(front: u16, nodes: &[SocketAddr]) -> String {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/haproxy/haproxy.cfg"
    ))
    .unwrap();
    let mut out = String::new();
    for line in shipped.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("server node") {
            let n: usize = rest[..1].parse().unwrap();
            out.push_str(&format!("    server node{n} {} check\n", nodes[n - 1]));
        } else if trimmed.starts_with("bind ") {
            out.push_str(&format!("    bind 127.0.0.1:{front}\n"));
        } else if trimmed.starts_with("default-server") {
            out.push_str("    default-server inter 100ms fall 1 rise 1\n");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_haproxy(cfg: &str) -> Option<Haproxy> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    let child = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    match child {
        Ok(mut child) => {
            // Keep its log drained.
            let err = child.stderr.take().unwrap();
            std::thread::spawn(move || for _ in BufReader::new(err).lines() {});
            // The file is read at start; the directory can go.
            std::thread::sleep(Duration::from_millis(300));
            Some(Haproxy(child))
        }
        Err(e) if std::env::var_os("SLUICE_REQUIRE_HAPROXY").is_none() => {
            println!("SKIPPED: cannot run haproxy ({e}); apt-get install haproxy");
            None
        }
        Err(e) => panic!("SLUICE_REQUIRE_HAPROXY is set and haproxy does not run: {e}"),
    }
}

/// Posts `body` to every device through the balancer, retrying while it is not ready.
fn post_all(front: SocketAddr, body: &str) {
    for d in 0..DEVICES {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut c = Client::connect(front);
            let r = c.request(&post(&format!("/devices/dev{d}"), body.as_bytes()));
            if r.status == 204 {
                break;
            }
            assert!(Instant::now() < deadline, "dev{d}: {}", r.raw_head);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Which node holds which records of every device: node index by device, and the records.
fn placement(nodes: &[Ingest]) -> BTreeMap<usize, Vec<(usize, Vec<u8>)>> {
    let mut out: BTreeMap<usize, Vec<(usize, Vec<u8>)>> = BTreeMap::new();
    for (n, node) in nodes.iter().enumerate() {
        for d in 0..DEVICES {
            if let Some(bytes) = read_device(&node.data, &format!("dev{d}")) {
                out.entry(d).or_default().push((n, bytes));
            }
        }
    }
    out
}

#[test]
fn a_device_lands_on_one_node_and_only_a_stopped_nodes_devices_move() {
    let mut nodes: Vec<Ingest> = (0..3).map(|_| start_ingest(&[])).collect();
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.server.addr()).collect();
    let front_port = free_port();
    let Some(_haproxy) = start_haproxy(&config(front_port, &addrs)) else {
        return;
    };
    let front: SocketAddr = format!("127.0.0.1:{front_port}").parse().unwrap();

    post_all(front, "t=1");
    post_all(front, "t=2");
    let before = placement(&nodes);
    assert_eq!(before.len(), DEVICES, "every device stored");
    let mut home = BTreeMap::new();
    for (d, held) in &before {
        assert_eq!(held.len(), 1, "dev{d} on nodes {held:?}");
        assert_eq!(held[0].1, b"t=1\nt=2\n", "dev{d}: both records, in order");
        home.insert(*d, held[0].0);
    }
    let per_node: Vec<usize> = (0..3)
        .map(|n| home.values().filter(|&&h| h == n).count())
        .collect();
    assert!(per_node.iter().all(|&c| c > 0), "spread: {per_node:?}");
    // Static files from any node.
    for _ in 0..3 {
        assert_eq!(
            Client::connect(front).request(&get("/hello.txt")).body,
            HELLO
        );
    }

    // Node 2 stops; once its health check fails, its devices move and only they do.
    let stopped = 1;
    nodes[stopped]
        .server
        .signal(nix::sys::signal::Signal::SIGKILL);
    nodes[stopped].server.wait_exit(IO_TIMEOUT);
    std::thread::sleep(Duration::from_millis(500));
    post_all(front, "t=3");
    let after = placement(&nodes);
    for d in 0..DEVICES {
        let held = &after[&d];
        if home[&d] == stopped {
            let moved: Vec<usize> = held
                .iter()
                .filter(|h| h.1 == b"t=3\n")
                .map(|h| h.0)
                .collect();
            assert_eq!(moved.len(), 1, "dev{d} moved to one node: {held:?}");
            assert_ne!(moved[0], stopped);
        } else {
            assert_eq!(held.len(), 1, "dev{d} stayed on one node: {held:?}");
            assert_eq!(held[0].0, home[&d], "dev{d} stayed home");
            assert_eq!(held[0].1, b"t=1\nt=2\nt=3\n", "dev{d}");
        }
    }
    println!(
        "devices per node: {per_node:?}; node {} stopped, its {} devices moved",
        stopped + 1,
        per_node[stopped]
    );
}
