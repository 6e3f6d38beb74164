//! The command-line habits of `python3 -m http.server`, darkhttpd and friends (issue 17):
//! `sluice PORT` serves the current directory, `-p/--port` with `--bind`, `--listen :PORT` for
//! every interface with a banner naming the addresses a phone can open, and on a terminal a
//! short line per request (`--quiet` silences it) and one at shutdown; the data directory made at
//! the first record, not at start.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

/// Spawns sluice in `dir` with `args` and `stderr`, and reads its listening line.
fn spawn_in(dir: &std::path::Path, args: &[&str], stderr: Stdio) -> (Child, SocketAddr) {
    let mut child = Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn sluice");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("{line:?}"))
        .parse()
        .unwrap();
    (child, addr)
}

fn stop(child: &mut Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    child.wait().unwrap();
}

fn loopback(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new("127.0.0.1".parse().unwrap(), addr.port())
}

#[test]
fn a_bare_port_serves_the_current_directory() {
    let root = basic_root();
    let (mut child, addr) = spawn_in(root.path(), &["0"], Stdio::null());
    assert!(addr.ip().is_unspecified(), "{addr}");
    let r = Client::connect(loopback(addr)).request(&get("/hello.txt"));
    assert_eq!(r.body, HELLO);
    stop(&mut child);
}

/// Serving a folder leaves no `./data` behind; the first record makes it (hidden from the
/// listing at once), in every ack mode, and a body with no record does not.
#[test]
fn the_data_directory_is_made_at_the_first_record_not_at_start() {
    for ack in ["buffer", "write", "fsync"] {
        let root = basic_root();
        fs_remove(&root.path().join("index.html"));
        let (mut child, addr) =
            spawn_in(root.path(), &["-p", "0", "--ack", ack, "."], Stdio::null());
        let mut c = Client::connect(loopback(addr));
        for target in [
            "/",
            "/hello.txt",
            "/api/devices",
            "/devices",
            "/healthz",
            "/metrics",
        ] {
            let r = c.request(&get(target));
            assert!(r.status == 200, "{target}: {}", r.raw_head);
        }
        c.request(&get("/devices/d1")).assert_status(404);
        let empty = b"POST /devices/d1 HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n\r\n\n";
        c.request(empty).assert_status(400);
        assert!(!root.path().join("data").exists(), "{ack}: made at start");

        let post = b"POST /devices/d1 HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nt=1\n";
        c.request(post).assert_status(204);
        assert!(root.path().join("data").is_dir(), "{ack}: not made");
        assert_eq!(c.request(&get("/devices/d1")).body, b"t=1\n");
        let listing = c.request(&get("/")).body_str();
        assert!(!listing.contains("data/"), "{ack}: listed");
        c.request(&get("/data/d1")).assert_status(404);
        stop(&mut child);
        assert_eq!(
            std::fs::read(root.path().join("data/d1")).unwrap(),
            b"t=1\n",
            "{ack}"
        );
    }
}

fn fs_remove(path: &std::path::Path) {
    std::fs::remove_file(path).unwrap();
}

#[test]
fn port_with_bind_and_a_colon_port_for_every_interface() {
    let root = basic_root();
    let (mut child, addr) = spawn_in(
        root.path(),
        &["-p", "0", "--bind", "127.0.0.1", "."],
        Stdio::null(),
    );
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert_eq!(
        Client::connect(addr).request(&get("/hello.txt")).body,
        HELLO
    );
    stop(&mut child);

    let (mut child, addr) = spawn_in(root.path(), &["--listen", ":0", "."], Stdio::piped());
    assert!(addr.ip().is_unspecified(), "{addr}");
    assert_eq!(
        Client::connect(loopback(addr))
            .request(&get("/hello.txt"))
            .body,
        HELLO
    );
    let mut stderr = child.stderr.take().unwrap();
    stop(&mut child);
    let mut text = String::new();
    stderr.read_to_string(&mut text).unwrap();
    let banner = text
        .lines()
        .find(|l| l.starts_with("sluice: serving "))
        .unwrap_or_else(|| panic!("no banner in {text:?}"));
    assert!(
        banner.contains(&format!("http://127.0.0.1:{}/", addr.port())),
        "{banner}"
    );
    assert!(!banner.contains("0.0.0.0"), "{banner}");
}

#[test]
fn port_and_listen_together_are_a_usage_error() {
    let out = run_to_exit(&["-p", "8080", "-l", "127.0.0.1:0", "."]);
    assert_eq!(out.status.code(), Some(2));
    let out = run_to_exit(&["--bind", "127.0.0.1", "."]);
    assert_eq!(out.status.code(), Some(2), "--bind needs --port");
}

/// Runs sluice with stderr on a pseudo-terminal, sends one request, stops it, and returns what
/// the terminal showed.
fn terminal_output(extra: &[&str]) -> String {
    let root = basic_root();
    let pty = nix::pty::openpty(None, None).unwrap();
    let mut args = vec!["-l", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    args.push(".");
    let (mut child, addr) = spawn_in(root.path(), &args, Stdio::from(pty.slave));
    let r = Client::connect(addr).request(&get("/hello.txt"));
    assert_eq!(r.body, HELLO);
    stop(&mut child);
    // The child is gone: read what it wrote until the terminal has nothing more.
    let mut master = std::fs::File::from(pty.master);
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = nix::fcntl::fcntl(
        std::os::fd::AsRawFd::as_raw_fd(&master),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        text.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&text).into_owned()
}

#[test]
fn a_terminal_shows_a_line_per_request_and_one_at_shutdown() {
    let shown = terminal_output(&[]);
    assert!(
        shown
            .lines()
            .any(|l| l.contains(" 127.0.0.1 GET /hello.txt 200 13 B")),
        "{shown:?}"
    );
    assert!(
        shown.contains("sluice: stopped after 1 request on 1 connection"),
        "{shown:?}"
    );
    let quiet = terminal_output(&["--quiet"]);
    assert!(!quiet.contains("GET /hello.txt"), "{quiet:?}");
}
