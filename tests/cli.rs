//! The command line: help, bad flags, bad ROOT, address in use, several listeners, signals,
//! and the access log.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use common::*;
use nix::sys::signal::Signal;

/// Asserts that stderr is exactly one non-empty line, and returns it.
#[track_caller]
fn one_line(stderr: &[u8]) -> String {
    let s = String::from_utf8_lossy(stderr).into_owned();
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "expected a one-line error on stderr, got:\n{s}"
    );
    lines[0].to_string()
}

#[test]
fn help_exits_zero() {
    let out = run_to_exit(&["--help"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "--help exit status; stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.is_empty(), "--help prints something on stdout");
}

#[test]
fn unknown_flag_exits_2_with_a_one_line_error() {
    let out = run_to_exit(&["--no-such-flag"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "exit status for an unknown flag"
    );
    let line = one_line(&out.stderr);
    assert!(
        line.contains("--no-such-flag"),
        "the error should name the flag: {line:?}"
    );
}

/// A value outside a flag's choices names the choices (`--ack fast`, `--framing lines2`).
#[test]
fn an_invalid_choice_lists_the_valid_ones() {
    for (flag, bad, valid) in [
        ("--ack", "fast", "write, fsync, buffer"),
        ("--framing", "lines2", "lines, raw"),
    ] {
        let out = run_to_exit(&[flag, bad]);
        assert_eq!(out.status.code(), Some(2), "{flag} {bad}");
        let line = one_line(&out.stderr);
        assert!(
            line.contains(bad) && line.contains(valid),
            "{flag} {bad}: {line:?}"
        );
    }
}

#[test]
fn missing_root_directory_exits_nonzero_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("does-not-exist");
    let missing = missing.to_str().unwrap();
    let out = run_to_exit(&["-l", "127.0.0.1:0", missing]);
    let code = out.status.code();
    assert!(
        matches!(code, Some(1) | Some(2)),
        "exit status {code:?} for a missing ROOT"
    );
    let line = one_line(&out.stderr);
    assert!(
        line.contains(missing),
        "the error should name {missing}: {line:?}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing is listening: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn root_that_is_a_file_exits_nonzero() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), "plain.txt", b"x");
    let file = dir.path().join("plain.txt");
    let file = file.to_str().unwrap();
    let out = run_to_exit(&["-l", "127.0.0.1:0", file]);
    let code = out.status.code();
    assert!(
        matches!(code, Some(1) | Some(2)),
        "exit status {code:?} for a ROOT that is a file"
    );
    let line = one_line(&out.stderr);
    assert!(
        line.contains(file),
        "the error should name {file}: {line:?}"
    );
}

#[test]
fn address_in_use_exits_1_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let root = basic_root();
    let out = run_to_exit(&["-l", &addr, root.path().to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "exit status when {addr} is in use"
    );
    let line = one_line(&out.stderr);
    assert!(
        line.contains(&addr),
        "the error should mention {addr}: {line:?}"
    );
    drop(taken);
}

#[test]
fn two_listeners_print_two_lines_and_both_serve() {
    let root = basic_root();
    let ipv6 = TcpListener::bind("[::1]:0").is_ok();
    let second = if ipv6 {
        "[::1]:0"
    } else {
        println!("SKIPPED IPv6 part: cannot bind [::1]; using a second IPv4 listener");
        "127.0.0.1:0"
    };
    let args: Vec<String> = [
        "-l",
        "127.0.0.1:0",
        "-l",
        second,
        root.path().to_str().unwrap(),
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    let server = Server::start_args(&args, 2);
    assert_eq!(server.addrs.len(), 2);
    assert!(
        server.addrs[0].is_ipv4(),
        "first line is the first -l: {:?}",
        server.listen_lines
    );
    if ipv6 {
        let a6: SocketAddr = server.addrs[1];
        assert!(a6.is_ipv6(), "second listener {a6}");
        assert_eq!(
            server.listen_lines[1],
            format!("listening on http://[::1]:{}", a6.port())
        );
    }
    assert_ne!(server.addrs[0], server.addrs[1]);
    for addr in &server.addrs {
        let mut c = Client::connect(*addr);
        let r = c.request(&get("/hello.txt"));
        r.assert_status(200);
        assert_eq!(r.body, HELLO, "via {addr}");
    }
}

fn exits_zero_on(sig: Signal) {
    let root = basic_root();
    let mut server = Server::start(root.path(), &[]);
    // One served request, and one idle keep-alive connection left open across the signal.
    let mut idle = server.connect();
    idle.request(&get("/hello.txt")).assert_status(200);
    server.signal(sig);
    let status = server.wait_exit(IO_TIMEOUT);
    match status {
        Some(st) => assert_eq!(st.code(), Some(0), "exit status after {sig:?}: {st:?}"),
        None => panic!("sluice still running {IO_TIMEOUT:?} after {sig:?}"),
    }
    // The idle connection was closed by the exit.
    let w = idle.wait_for_close(Duration::from_secs(2));
    assert!(w.closed, "idle connection still open after exit");
}

/// A client that keeps its socket open after a `Connection: close` reply does not hold up
/// shutdown: a lingering connection is closed at once, so sluice exits well before the
/// lingering close would have ended (`LINGER_SECS`, 2 s).
#[test]
fn a_lingering_client_does_not_hold_up_shutdown() {
    let root = basic_root();
    let mut server = Server::start(root.path(), &[]);
    let mut lingering = server.connect();
    let r = lingering.request(b"GET /hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    r.assert_status(200);
    // The client neither reads to the end nor closes: the server lingers on this connection.
    let t0 = std::time::Instant::now();
    server.signal(Signal::SIGTERM);
    let status = server.wait_exit(IO_TIMEOUT).expect("sluice exits");
    let took = t0.elapsed();
    assert_eq!(status.code(), Some(0));
    assert!(
        took < sluice::limits::LINGER_SECS,
        "shutdown waited {took:?} for a lingering client"
    );
    drop(lingering);
}

#[test]
fn sigterm_exits_zero() {
    exits_zero_on(Signal::SIGTERM);
}

#[test]
fn sigint_exits_zero() {
    exits_zero_on(Signal::SIGINT);
}

/// Checks `[10/Oct/2000:13:55:36 -0700]`-style timestamps (without the brackets).
#[track_caller]
fn check_clf_time(t: &str) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let ok = b.len() == 26
        && digits(0..2)
        && b[2] == b'/'
        && MONTHS.contains(&&t[3..6])
        && b[6] == b'/'
        && digits(7..11)
        && b[11] == b':'
        && digits(12..14)
        && b[14] == b':'
        && digits(15..17)
        && b[17] == b':'
        && digits(18..20)
        && b[20] == b' '
        && (b[21] == b'+' || b[21] == b'-')
        && digits(22..26);
    assert!(
        ok,
        "access log time {t:?} is not dd/Mon/yyyy:HH:MM:SS +zzzz"
    );
}

#[test]
fn access_log_writes_one_combined_line_per_request() {
    let root = basic_root();
    let logdir = tempfile::tempdir().unwrap();
    let log = logdir.path().join("access.log");
    let mut server = Server::start(root.path(), &["--access-log", log.to_str().unwrap()]);

    let mut c = server.connect();
    let r1 = c.request(b"GET /x HTTP/1.1\r\nHost: test\r\nUser-Agent: itest-agent/1.0\r\n\r\n");
    r1.assert_status(404);
    let r2 = c.request(
        b"GET /hello.txt HTTP/1.1\r\nHost: test\r\nUser-Agent: itest-agent/2.0\r\nReferer: http://test/\r\n\r\n",
    );
    r2.assert_status(200);
    drop(c);

    // Stop the server so the log is surely flushed.
    server.signal(Signal::SIGTERM);
    assert!(
        server.wait_exit(IO_TIMEOUT).is_some(),
        "sluice did not exit after SIGTERM"
    );

    let text = std::fs::read_to_string(&log).expect("access log file exists");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "one line per request:\n{text}");
    let expected_rest = [
        format!(
            "\"GET /x HTTP/1.1\" 404 {} \"-\" \"itest-agent/1.0\"",
            r1.body.len()
        ),
        format!(
            "\"GET /hello.txt HTTP/1.1\" 200 {} \"http://test/\" \"itest-agent/2.0\"",
            HELLO.len()
        ),
    ];
    for (line, rest) in lines.iter().zip(expected_rest) {
        let after = line
            .strip_prefix("127.0.0.1 - - [")
            .unwrap_or_else(|| panic!("line does not start with `127.0.0.1 - - [`: {line:?}"));
        let (time, tail) = after
            .split_once("] ")
            .unwrap_or_else(|| panic!("no `] ` in {line:?}"));
        check_clf_time(time);
        assert_eq!(tail, rest, "access log line {line:?}");
    }
}

/// `--data` equal to ROOT would serve device records as pages: refused at start, exit 2.
#[test]
fn data_equal_to_root_is_a_usage_error() {
    let root = basic_root();
    let path = root.path().to_str().unwrap();
    let out = run_to_exit(&["-l", "127.0.0.1:0", "--data", path, path]);
    assert_eq!(out.status.code(), Some(2));
    let line = one_line(&out.stderr);
    assert!(line.contains("--data") && line.contains("ROOT"), "{line:?}");
    assert!(out.stdout.is_empty(), "nothing is listening");
}

/// Issue 15: the access log counts the body bytes really sent: a download cut short logs what
/// went out, not the file's length, and a CGI answer logs its own status and body length.
#[test]
fn access_log_counts_bytes_really_sent() {
    use std::io::Read;
    let root = basic_root();
    let big_len: u64 = 256 << 20;
    std::fs::File::create(root.path().join("big.bin"))
        .unwrap()
        .set_len(big_len)
        .unwrap();
    let cgi = root.path().join("cgi-bin");
    std::fs::create_dir(&cgi).unwrap();
    std::fs::write(
        cgi.join("made"),
        "#!/bin/sh\nprintf 'Status: 201 Created\\nContent-Type: text/plain\\n\\nhello\\n'\n",
    )
    .unwrap();
    std::fs::set_permissions(
        cgi.join("made"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let logdir = tempfile::tempdir().unwrap();
    let log = logdir.path().join("access.log");
    let mut server = Server::start(
        root.path(),
        &["--cgi", "--access-log", log.to_str().unwrap()],
    );

    let mut c = server.connect();
    c.send(&get("/big.bin"));
    let mut got = vec![0u8; 1 << 20];
    let mut read = 0;
    while read < got.len() {
        read += c.stream.read(&mut got[read..]).unwrap();
    }
    drop(c); // unread data: the kernel resets the connection
    let mut c = server.connect();
    // HTTP/1.0: the answer ends with the connection (no chunked framing to read).
    c.send(b"GET /cgi-bin/made HTTP/1.0\r\n\r\n");
    let answer = c.read_to_eof();
    assert!(
        answer.starts_with(b"HTTP/1.1 201"),
        "{}",
        answer.escape_ascii()
    );
    drop(c);
    // The cut download is noticed on the server's next send; then stop it to flush the log.
    std::thread::sleep(Duration::from_millis(300));
    server.signal(Signal::SIGTERM);
    assert!(server.wait_exit(IO_TIMEOUT).is_some());
    let text = std::fs::read_to_string(&log).unwrap();
    let field = |line: &str, n: usize| line.rsplitn(5, ' ').nth(n).unwrap().to_string();
    let big = text
        .lines()
        .find(|l| l.contains("GET /big.bin"))
        .unwrap_or_else(|| panic!("{text}"));
    let (status, bytes) = (field(big, 3), field(big, 2).parse::<u64>().unwrap());
    assert_eq!(status, "200", "{big}");
    assert!(
        bytes > 0 && bytes < big_len,
        "cut download logged {bytes} bytes: {big}"
    );
    let made = text
        .lines()
        .find(|l| l.contains("GET /cgi-bin/made"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(made.contains("\" 201 6 \""), "{made}");
}
