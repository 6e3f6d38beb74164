//! The default allow list against real non-loopback addresses: sluice runs in one network
//! namespace and curl in another, joined by a veth pair that carries a private address
//! (10.231.0.0/24, fd99::/64) and an off-LAN one (198.51.100.0/24 and 2001:db8::/64, the
//! documentation ranges). Needs root, `ip netns` and curl; skips with a message otherwise.
//! Both ends live in namespaces of their own, so the host's routing is never touched.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::thread;

use common::*;

/// Two namespaces and the veth pair between them, removed on drop (removing a namespace
/// removes its end of the pair, and with it the other end).
struct Netns {
    server: String,
    client: String,
}

impl Drop for Netns {
    fn drop(&mut self) {
        for ns in [&self.server, &self.client] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Sets up the namespaces, or says why it cannot.
fn setup() -> Result<Netns, String> {
    if Command::new("curl").arg("--version").output().is_err() {
        return Err("curl is not installed".into());
    }
    let tag = std::process::id() % 100_000;
    let ns = Netns {
        server: format!("sluice-s{tag}"),
        client: format!("sluice-c{tag}"),
    };
    ip(&["netns", "add", &ns.server])?;
    ip(&["netns", "add", &ns.client])?;
    let (a, b) = (format!("sls{tag}"), format!("slc{tag}"));
    ip(&[
        "link", "add", &a, "netns", &ns.server, "type", "veth", "peer", "name", &b, "netns",
        &ns.client,
    ])?;
    for (space, dev, v4, v6) in [
        (
            &ns.server,
            &a,
            ["10.231.0.1/24", "198.51.100.1/24"],
            ["fd99::1/64", "2001:db8::1/64"],
        ),
        (
            &ns.client,
            &b,
            ["10.231.0.2/24", "198.51.100.2/24"],
            ["fd99::2/64", "2001:db8::2/64"],
        ),
    ] {
        let run = |args: &[&str]| {
            let mut all = vec!["-n", space.as_str()];
            all.extend_from_slice(args);
            ip(&all)
        };
        for addr in v4 {
            run(&["addr", "add", addr, "dev", dev])?;
        }
        for addr in v6 {
            run(&["-6", "addr", "add", addr, "dev", dev, "nodad"])?;
        }
        run(&["link", "set", dev, "up"])?;
        run(&["link", "set", "lo", "up"])?;
    }
    Ok(ns)
}

/// A sluice process, killed when dropped (also when an assertion fails, so no server outlives
/// the test holding its output pipes).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// sluice in the server namespace on `0.0.0.0:0` and `[::]:0`, with its listening addresses.
fn start_sluice(ns: &Netns, root: &std::path::Path, extra: &[&str]) -> (Running, Vec<SocketAddr>) {
    let cwd = tempfile::tempdir().unwrap();
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.server,
            &bin(),
            "-l",
            "0.0.0.0:0",
            "-l",
            "[::]:0",
        ])
        .args(extra)
        .arg(root)
        .current_dir(cwd.path())
        .env_remove("RUST_LOG")
        .env_remove("SLUICE_INGEST_TOKEN")
        .env_remove("SLUICE_AUTH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn ip netns exec sluice");
    let stdout = child.stdout.take().unwrap();
    let child = Running(child);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut addrs = Vec::new();
    while addrs.len() < 2 {
        let line = rx
            .recv_timeout(IO_TIMEOUT)
            .expect("sluice printed no listening lines in the namespace");
        if let Some(a) = line.strip_prefix("listening on http://") {
            addrs.push(a.parse().unwrap());
        }
    }
    (child, addrs)
}

/// `curl` from the client namespace, from source address `from`, to `url`.
fn curl(ns: &Netns, from: &str, url: &str) -> Output {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.client,
            "curl",
            "-sS",
            "-g",
            "--max-time",
            "5",
        ])
        .args(["--interface", from, url])
        .output()
        .expect("run curl")
}

#[track_caller]
fn assert_served(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, HELLO, "{what}");
}

/// Refused: closed with nothing sent. curl reports an empty reply (52) or a reset (56).
#[track_caller]
fn assert_refused(out: &Output, what: &str) {
    assert!(out.stdout.is_empty(), "{what}: got {:?}", out.stdout);
    assert!(
        matches!(out.status.code(), Some(52 | 56)),
        "{what}: expected an empty reply or reset, curl said {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn default_list_admits_lan_addresses_and_refuses_others() {
    let ns = match setup() {
        Ok(ns) => ns,
        Err(why) => {
            println!("SKIPPED: network namespaces unavailable ({why}); tests/peers.rs covers admission over loopback");
            return;
        }
    };
    let root = basic_root();
    let (child, addrs) = start_sluice(&ns, root.path(), &[]);
    let (p4, p6) = (addrs[0].port(), addrs[1].port());

    let out = curl(
        &ns,
        "10.231.0.2",
        &format!("http://10.231.0.1:{p4}/hello.txt"),
    );
    assert_served(&out, "10.231.0.2 (private IPv4)");
    let out = curl(&ns, "fd99::2", &format!("http://[fd99::1]:{p6}/hello.txt"));
    assert_served(&out, "fd99::2 (unique-local IPv6)");

    let out = curl(
        &ns,
        "198.51.100.2",
        &format!("http://198.51.100.1:{p4}/hello.txt"),
    );
    assert_refused(&out, "198.51.100.2 (off-LAN IPv4)");
    let out = curl(
        &ns,
        "2001:db8::2",
        &format!("http://[2001:db8::1]:{p6}/hello.txt"),
    );
    assert_refused(&out, "2001:db8::2 (off-LAN IPv6)");
    // The address the client reaches does not matter, only where it comes from.
    let out = curl(
        &ns,
        "198.51.100.2",
        &format!("http://10.231.0.1:{p4}/hello.txt"),
    );
    assert_refused(&out, "198.51.100.2 to the private address");

    drop(child);

    // --allow replaces the default list.
    let (_child, addrs) = start_sluice(&ns, root.path(), &["--allow", "198.51.100.0/24"]);
    let p4 = addrs[0].port();
    let out = curl(
        &ns,
        "198.51.100.2",
        &format!("http://198.51.100.1:{p4}/hello.txt"),
    );
    assert_served(&out, "198.51.100.2 with --allow 198.51.100.0/24");
    let out = curl(
        &ns,
        "10.231.0.2",
        &format!("http://10.231.0.1:{p4}/hello.txt"),
    );
    assert_refused(&out, "10.231.0.2 outside --allow");
}
