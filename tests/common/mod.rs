//! Shared helpers for the integration tests: run the `sluice` binary on a free port, talk raw
//! HTTP/1.1 bytes to it over real sockets, and check the invariants every response must keep.
//!
//! Every socket gets read and write timeouts ([`IO_TIMEOUT`]) and every wait has a deadline, so no
//! test can hang. Waits for something that *should* happen are generous; checks that something
//! does *not* happen only look for a short time.
#![allow(dead_code)]

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// Device-ingestion helpers (imported explicitly: `use common::ingest::*`).
pub mod ingest;

/// Longest a single socket operation, server start or process exit may take before a test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Path of the server binary built by cargo for these tests; `SLUICE_TEST_BIN` overrides it
/// (to run the suite against another build, e.g. a release binary).
pub fn bin() -> String {
    std::env::var("SLUICE_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_sluice").to_string())
}

// ---------------------------------------------------------------------------------------------
// The server process
// ---------------------------------------------------------------------------------------------

/// A running `sluice` child process; killed when dropped.
pub struct Server {
    child: Option<Child>,
    /// The addresses from the `listening on http://...` lines, in order.
    pub addrs: Vec<SocketAddr>,
    /// The exact listening lines as printed.
    pub listen_lines: Vec<String>,
    /// Further stdout lines (after the listening lines), as the server prints them.
    pub stdout: mpsc::Receiver<String>,
    /// Working directory of the child (so `./data` and friends land in a scratch directory).
    _cwd: tempfile::TempDir,
}

impl Server {
    /// Starts `sluice -l 127.0.0.1:0 <extra...> <root>` and waits for its listening line.
    pub fn start(root: &Path, extra: &[&str]) -> Server {
        let mut args: Vec<String> = vec!["-l".into(), "127.0.0.1:0".into()];
        args.extend(extra.iter().map(ToString::to_string));
        args.push(root.to_str().expect("utf-8 root path").to_string());
        Server::start_args(&args, 1)
    }

    /// Starts `sluice <args...>` (the caller supplies `-l` and ROOT) and waits until it has printed
    /// `listeners` listening lines. Panics (with the exit status) if it exits or stays silent.
    pub fn start_args(args: &[String], listeners: usize) -> Server {
        Server::start_args_env(args, listeners, &[])
    }

    /// Like [`Server::start_args`], with extra environment variables for the child.
    pub fn start_args_env(args: &[String], listeners: usize, env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(bin());
        cmd.args(args);
        Server::start_command_env(cmd, listeners, env)
    }

    /// Starts `cmd` (sluice itself, or a wrapper such as strace or prlimit that runs sluice with
    /// stdout passed through) in a scratch cwd and waits for `listeners` listening lines. The
    /// child killed on drop is `cmd`'s process.
    pub fn start_command(cmd: Command, listeners: usize) -> Server {
        Server::start_command_env(cmd, listeners, &[])
    }

    fn start_command_env(mut cmd: Command, listeners: usize, env: &[(&str, &str)]) -> Server {
        let args = format!("{cmd:?}");
        let cwd = tempfile::tempdir().expect("tempdir for the server's cwd");
        let mut child = cmd
            .current_dir(cwd.path())
            .env_remove("RUST_LOG")
            // Credentials from the developer's environment must not change what tests see.
            .env_remove("SLUICE_INGEST_TOKEN")
            .env_remove("SLUICE_AUTH")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn sluice");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            // Keeps draining stdout for the life of the child so it can never block on a full pipe.
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            // Receiver gone: keep reading anyway so the pipe never fills.
                            continue;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        let mut server = Server {
            child: Some(child),
            addrs: Vec::new(),
            listen_lines: Vec::new(),
            stdout: rx,
            _cwd: cwd,
        };
        let deadline = Instant::now() + IO_TIMEOUT;
        while server.addrs.len() < listeners {
            let left = deadline.saturating_duration_since(Instant::now());
            match server.stdout.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("listening on http://") {
                        let addr: SocketAddr = rest.parse().unwrap_or_else(|e| {
                            panic!("listening line {line:?}: bad address {rest:?}: {e}")
                        });
                        assert_ne!(
                            addr.port(),
                            0,
                            "listening line must show the real port: {line:?}"
                        );
                        assert_eq!(
                            line,
                            format!("listening on http://{addr}"),
                            "exact listening line"
                        );
                        server.addrs.push(addr);
                        server.listen_lines.push(line);
                    } else {
                        eprintln!("server stdout before listening line: {line:?}");
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("{args} printed no listening line within {IO_TIMEOUT:?}")
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = server.wait_exit(IO_TIMEOUT);
                    panic!("{args} closed stdout before listening; exit: {status:?}")
                }
            }
        }
        server
    }

    /// The server's working directory (where a relative `--data`, e.g. the default `./data`,
    /// lands).
    pub fn cwd(&self) -> &Path {
        self._cwd.path()
    }

    /// The first listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// A new client connection to the first listener.
    pub fn connect(&self) -> Client {
        Client::connect(self.addr())
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("child").id() as i32
    }

    /// Sends a signal to the server.
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig).expect("kill(2)");
    }

    /// Waits up to `within` for the process to exit; `None` if it is still running.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + within;
        loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => c.try_wait().expect("try_wait").is_none(),
            None => false,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `sluice <args>` to completion (it is expected to exit by itself: `--help`, bad flags, ...).
/// Kills it and panics if it is still running after [`IO_TIMEOUT`].
pub fn run_to_exit(args: &[&str]) -> Output {
    let cwd = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(bin())
        .args(args)
        .current_dir(cwd.path())
        .env_remove("RUST_LOG")
        .env_remove("SLUICE_INGEST_TOKEN")
        .env_remove("SLUICE_AUTH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sluice");
    // Drain both pipes on threads so a chatty child cannot block.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + IO_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sluice {args:?} did not exit within {IO_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    }
}

// ---------------------------------------------------------------------------------------------
// The document root
// ---------------------------------------------------------------------------------------------

/// A fresh, empty document root.
pub fn root() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir for ROOT")
}

/// Writes `bytes` to `root/rel`, creating parent directories.
pub fn write_file(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).expect("create_dir_all");
    }
    fs::write(&p, bytes).expect("write file");
}

/// Sets the modification time of `path` to `secs` seconds after the epoch.
pub fn set_mtime(path: &Path, secs: u64) {
    let f = fs::File::options()
        .write(true)
        .open(path)
        .expect("open to set mtime");
    f.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(secs))
        .expect("set_modified");
}

/// A root with `hello.txt` ("hello, world\n") and `index.html`.
pub fn basic_root() -> tempfile::TempDir {
    let r = root();
    write_file(r.path(), "hello.txt", HELLO);
    write_file(r.path(), "index.html", INDEX_HTML);
    r
}

pub const HELLO: &[u8] = b"hello, world\n";
pub const INDEX_HTML: &[u8] = b"<!doctype html><title>root index</title><p>root index</p>\n";

/// Deterministic pseudo-random bytes (xorshift64*), for byte-exact comparisons of large files.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    v.truncate(len);
    v
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// `GET <target> HTTP/1.1` with a Host header.
pub fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: test\r\n\r\n").into_bytes()
}

/// `HEAD <target> HTTP/1.1` with a Host header.
pub fn head(target: &str) -> Vec<u8> {
    format!("HEAD {target} HTTP/1.1\r\nHost: test\r\n\r\n").into_bytes()
}

/// Concatenates byte strings (for pipelined requests).
pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The raw head (status line to the empty line), for messages.
    pub raw_head: String,
}

impl Response {
    /// The value of the only field named `name` (case-insensitive); panics if repeated.
    pub fn header(&self, name: &str) -> Option<&str> {
        let all = self.headers_named(name);
        assert!(
            all.len() <= 1,
            "header {name} appears {} times in:\n{}",
            all.len(),
            self.raw_head
        );
        all.first().copied()
    }

    /// Every value of fields named `name` (case-insensitive).
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether a comma-separated header (e.g. Connection, Allow) contains `token`
    /// (case-insensitive), over every field of that name.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers_named(name)
            .iter()
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length").map(|v| {
            v.parse::<u64>()
                .unwrap_or_else(|_| panic!("bad Content-Length {v:?}\n{}", self.raw_head))
        })
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the status, printing the whole response if it differs.
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "expected status {status}, got:\n{}{}",
            self.raw_head,
            String::from_utf8_lossy(&self.body[..self.body.len().min(400)])
        );
        self
    }

    /// Asserts the response announces that the connection closes.
    #[track_caller]
    pub fn assert_connection_close(&self) -> &Self {
        assert!(
            self.has_token("connection", "close"),
            "a response that closes the connection must carry `Connection: close`:\n{}",
            self.raw_head
        );
        self
    }

    /// Asserts the response does not announce a close.
    #[track_caller]
    pub fn assert_no_connection_close(&self) -> &Self {
        assert!(
            !self.has_token("connection", "close"),
            "keep-alive response carries `Connection: close`:\n{}",
            self.raw_head
        );
        self
    }

    /// Header invariants of every response (spec: status line, Date, Server, Content-Length).
    #[track_caller]
    fn check_head(&self) {
        let h = &self.raw_head;
        let date = self
            .header("date")
            .unwrap_or_else(|| panic!("every response needs a Date header:\n{h}"));
        check_imf_fixdate(date);
        assert_eq!(self.header("server"), Some("sluice"), "Server header:\n{h}");
        let cl = self.headers_named("content-length");
        if (100..200).contains(&self.status) || self.status == 204 {
            assert!(
                cl.is_empty(),
                "no Content-Length on a {} response:\n{h}",
                self.status
            );
        } else if self.status != 304 {
            assert_eq!(
                cl.len(),
                1,
                "exactly one Content-Length on a {} response:\n{h}",
                self.status
            );
            assert!(
                !cl[0].is_empty() && cl[0].bytes().all(|b| b.is_ascii_digit()),
                "Content-Length must be decimal digits: {:?}",
                cl[0]
            );
        }
        if self.status >= 400 {
            assert_eq!(
                self.header("content-type"),
                Some("text/plain; charset=utf-8"),
                "error replies are text/plain; charset=utf-8:\n{h}"
            );
        }
    }

    /// Body invariants of error replies: one line of text ending in `\n`.
    #[track_caller]
    fn check_error_body(&self) {
        if self.status >= 400 {
            let b = &self.body;
            assert!(
                b.len() >= 2 && b.ends_with(b"\n") && !b[..b.len() - 1].contains(&b'\n'),
                "error body must be one non-empty line ending in \\n, got {:?}",
                String::from_utf8_lossy(b)
            );
            assert!(
                !b.contains(&b'\r'),
                "error body must not contain CR: {:?}",
                String::from_utf8_lossy(b)
            );
            assert!(std::str::from_utf8(b).is_ok(), "error body must be UTF-8");
        }
    }
}

/// Checks `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 section 5.6.7) and that it is about now.
#[track_caller]
pub fn check_imf_fixdate(s: &str) {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let ok = b.len() == 29
        && DAYS.contains(&&s[0..3])
        && &s[3..5] == ", "
        && digits(5..7)
        && b[7] == b' '
        && MONTHS.contains(&&s[8..11])
        && b[11] == b' '
        && digits(12..16)
        && b[16] == b' '
        && digits(17..19)
        && b[19] == b':'
        && digits(20..22)
        && b[22] == b':'
        && digits(23..25)
        && &s[25..] == " GMT";
    assert!(ok, "Date is not an IMF-fixdate: {s:?}");
    let t = httpdate::parse_http_date(s).unwrap_or_else(|e| panic!("Date {s:?}: {e}"));
    // Canonical form: the weekday must match the date.
    assert_eq!(
        httpdate::fmt_http_date(t),
        s,
        "Date weekday/date inconsistent"
    );
    let now = SystemTime::now();
    let skew = match now.duration_since(t) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    assert!(
        skew < Duration::from_secs(600),
        "Date {s:?} is far from now"
    );
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/// A raw HTTP/1.1 client connection with a read buffer (pipelined responses may arrive together).
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// How a wait for the peer's close ended.
#[derive(Debug)]
pub struct CloseWait {
    /// The peer closed (read returned 0 or the connection was reset).
    pub closed: bool,
    /// Bytes that arrived (including any already buffered) before the close or the deadline.
    pub bytes: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        Client::from_stream(stream)
    }

    pub fn from_stream(stream: TcpStream) -> Client {
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes all of `bytes` in one `write_all`.
    #[track_caller]
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write to server: {e}"));
    }

    /// Writes `bytes` one byte per `write`, sleeping `gap` between bytes.
    pub fn send_slowly(&mut self, bytes: &[u8], gap: Duration) {
        for b in bytes {
            self.stream
                .write_all(std::slice::from_ref(b))
                .expect("write one byte");
            self.stream.flush().unwrap();
            thread::sleep(gap);
        }
    }

    /// Sends a request and reads its response (GET semantics: a body unless the status forbids).
    #[track_caller]
    pub fn request(&mut self, raw: &[u8]) -> Response {
        self.send(raw);
        self.read_response()
    }

    /// Reads one response to a non-HEAD request; checks the invariants of every response.
    #[track_caller]
    pub fn read_response(&mut self) -> Response {
        self.try_read_response(false)
            .unwrap_or_else(|e| panic!("reading response: {e}"))
    }

    /// Reads one response to a HEAD request (no body follows).
    #[track_caller]
    pub fn read_head_response(&mut self) -> Response {
        self.try_read_response(true)
            .unwrap_or_else(|e| panic!("reading HEAD response: {e}"))
    }

    /// Reads one response; `Err` on EOF, reset, timeout or a malformed response.
    pub fn try_read_response(&mut self, head_request: bool) -> io::Result<Response> {
        let mut resp = self.try_read_head()?;
        let bodiless = head_request
            || (100..200).contains(&resp.status)
            || resp.status == 204
            || resp.status == 304;
        if !bodiless {
            if let Some(len) = resp.content_length() {
                let len = usize::try_from(len).map_err(|_| bad("Content-Length too large"))?;
                self.fill_to(len)?;
                resp.body = self.buf.drain(..len).collect();
            } else {
                // No length: the body runs to EOF (not allowed by the spec; check_head reports it).
                resp.body = self.read_to_eof();
            }
        }
        if !head_request {
            resp.check_error_body();
        }
        Ok(resp)
    }

    /// Reads and parses a response head only (for streaming big bodies with [`Client::stream_body`]).
    #[track_caller]
    pub fn read_response_head(&mut self) -> Response {
        self.try_read_head()
            .unwrap_or_else(|e| panic!("reading response head: {e}"))
    }

    /// Reads one head (up to and including the empty line) as text, without the checks of
    /// [`Client::read_response`]: for interim `1xx` responses, which need no `Date`.
    pub fn read_raw_head(&mut self) -> io::Result<String> {
        let end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > 64 * 1024 {
                return Err(bad("response head larger than 64 KiB"));
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed before a full head; got {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                ));
            }
        };
        let head: Vec<u8> = self.buf.drain(..end).collect();
        String::from_utf8(head).map_err(|_| bad("head is not UTF-8"))
    }

    /// Bytes received and not yet consumed by a read of a response.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    fn try_read_head(&mut self) -> io::Result<Response> {
        let end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > 64 * 1024 {
                return Err(bad("response head larger than 64 KiB"));
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed before a full response head; got {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                ));
            }
        };
        let head: Vec<u8> = self.buf.drain(..end).collect();
        let text = String::from_utf8(head).map_err(|_| bad("response head is not UTF-8"))?;
        let resp = parse_head(&text)?;
        resp.check_head();
        Ok(resp)
    }

    /// Passes the next `len` body bytes to `f` in pieces, never holding more than one read's worth.
    pub fn stream_body(&mut self, mut len: u64, mut f: impl FnMut(&[u8])) {
        if !self.buf.is_empty() {
            let n = (self.buf.len() as u64).min(len) as usize;
            f(&self.buf[..n]);
            self.buf.drain(..n);
            len -= n as u64;
        }
        let mut chunk = vec![0u8; 1 << 20];
        while len > 0 {
            let want = (chunk.len() as u64).min(len) as usize;
            let n = self
                .stream
                .read(&mut chunk[..want])
                .unwrap_or_else(|e| panic!("reading body with {len} bytes to go: {e}"));
            assert!(n > 0, "connection closed with {len} body bytes to go");
            f(&chunk[..n]);
            len -= n as u64;
        }
    }

    /// Reads until EOF (or reset); returns everything not yet consumed. Panics on timeout.
    #[track_caller]
    pub fn read_to_eof(&mut self) -> Vec<u8> {
        let w = self.wait_for_close(IO_TIMEOUT);
        assert!(
            w.closed,
            "server did not close within {IO_TIMEOUT:?}; got {:?}",
            String::from_utf8_lossy(&w.bytes)
        );
        w.bytes
    }

    /// Reads until the peer closes or `within` passes, collecting what arrives.
    pub fn wait_for_close(&mut self, within: Duration) -> CloseWait {
        let mut bytes = std::mem::take(&mut self.buf);
        let deadline = Instant::now() + within;
        let mut chunk = [0u8; 16 * 1024];
        let closed = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break false;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.stream.read(&mut chunk) {
                Ok(0) => break true,
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break false
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_reset(&e) => break true,
                Err(e) => panic!("unexpected read error while waiting for close: {e}"),
            }
        };
        self.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        CloseWait { closed, bytes }
    }

    /// Asserts the server closes the connection (within [`IO_TIMEOUT`]) without sending more bytes.
    #[track_caller]
    pub fn assert_closed(&mut self) {
        let w = self.wait_for_close(IO_TIMEOUT);
        assert!(
            w.bytes.is_empty(),
            "expected a silent close, got bytes {:?}",
            String::from_utf8_lossy(&w.bytes)
        );
        assert!(
            w.closed,
            "server did not close the connection within {IO_TIMEOUT:?}"
        );
    }

    /// Asserts that for `dur` nothing arrives and the connection stays open.
    #[track_caller]
    pub fn assert_quiet_for(&mut self, dur: Duration) {
        let w = self.wait_for_close(dur);
        assert!(
            w.bytes.is_empty(),
            "expected no bytes for {dur:?}, got {:?}",
            String::from_utf8_lossy(&w.bytes)
        );
        assert!(!w.closed, "server closed the connection within {dur:?}");
        // Nothing arrived, so nothing to put back.
    }

    /// Half-closes our sending side (the server sees EOF after what was sent).
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Reads more bytes into the buffer; returns how many (0 = EOF).
    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn fill_to(&mut self, len: usize) -> io::Result<()> {
        while self.buf.len() < len {
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed with {} of {len} body bytes",
                        self.buf.len()
                    ),
                ));
            }
        }
        Ok(())
    }
}

pub fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Parses `HTTP/1.1 <3 digits> <reason>\r\n(<name>: <value>\r\n)*\r\n`.
fn parse_head(text: &str) -> io::Result<Response> {
    let body = text
        .strip_suffix("\r\n\r\n")
        .ok_or_else(|| bad("head does not end in CRLF CRLF"))?;
    let mut lines = body.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let err = |m: &str| bad(&format!("{m}: {text:?}"));
    if body
        .split("\r\n")
        .any(|l| l.contains('\n') || l.contains('\r'))
    {
        return Err(err("bare LF or CR in response head"));
    }
    let rest = status_line
        .strip_prefix("HTTP/1.1 ")
        .ok_or_else(|| err("status line is not HTTP/1.1"))?;
    let (code, reason) = rest.split_at(rest.len().min(3));
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("status code is not 3 digits"));
    }
    let reason = reason
        .strip_prefix(' ')
        .ok_or_else(|| err("no SP after status code"))?;
    if reason.is_empty() || reason.bytes().any(|b| b.is_ascii_control()) {
        return Err(err("empty or invalid reason phrase"));
    }
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| err("header line without colon"))?;
        if name.is_empty() || name.bytes().any(|b| !is_tchar(b)) {
            return Err(err("invalid header name"));
        }
        headers.push((
            name.to_string(),
            value.trim_matches(|c| c == ' ' || c == '\t').to_string(),
        ));
    }
    Ok(Response {
        status: code.parse().unwrap(),
        reason: reason.to_string(),
        headers,
        body: Vec::new(),
        raw_head: text.to_string(),
    })
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

// ---------------------------------------------------------------------------------------------
// Common assertions
// ---------------------------------------------------------------------------------------------

/// Sends `raw` on a new connection, expects an error reply with `status`, `Connection: close`,
/// and then the close.
#[track_caller]
pub fn expect_error_close(server: &Server, raw: &[u8], status: u16) -> Response {
    let mut c = server.connect();
    c.send(raw);
    let r = c.read_response();
    r.assert_status(status);
    r.assert_connection_close();
    let w = c.wait_for_close(IO_TIMEOUT);
    assert!(
        w.bytes.is_empty(),
        "bytes after the {status} reply: {:?}",
        String::from_utf8_lossy(&w.bytes)
    );
    assert!(
        w.closed,
        "connection not closed after the {status} reply (request {:?})",
        String::from_utf8_lossy(raw)
    );
    r
}

/// Asserts the connection is still usable: a GET for `/hello.txt` on it gets `HELLO`.
#[track_caller]
pub fn expect_still_open(c: &mut Client) {
    let r = c.request(&get("/hello.txt"));
    r.assert_status(200);
    assert_eq!(r.body, HELLO, "body of /hello.txt on the reused connection");
}

/// Asserts `Allow` lists `GET` and `HEAD`.
#[track_caller]
pub fn assert_allow_get_head(r: &Response) {
    assert!(
        r.has_token("allow", "GET") && r.has_token("allow", "HEAD"),
        "Allow must list GET and HEAD:\n{}",
        r.raw_head
    );
}

/// A server together with its document root (the server field is dropped first).
pub struct Fixture {
    pub server: Server,
    pub root: tempfile::TempDir,
}

impl Fixture {
    pub fn connect(&self) -> Client {
        self.server.connect()
    }
}

/// A server over [`basic_root`] with extra flags.
pub fn start_basic(extra: &[&str]) -> Fixture {
    let root = basic_root();
    let server = Server::start(root.path(), extra);
    Fixture { server, root }
}

/// Runs sluice on `root` with `args` (stderr captured, default log level), lets `poke` talk to it, stops it
/// with SIGTERM and returns what it wrote to stderr.
pub fn stderr_of_server(root: &Path, args: &[&str], poke: impl FnOnce(SocketAddr)) -> String {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin())
        .args(["-l", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .args(args)
        .arg(root)
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

/// A size-limited tmpfs mounted at a directory; unmounted on drop.
pub struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    pub fn mount(at: &Path, size: &str) -> Result<Tmpfs, String> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if out.status.success() {
            Ok(Tmpfs(at.to_path_buf()))
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }
}

impl Tmpfs {
    /// [`Tmpfs::mount`], or `None` after printing why the test is skipped (mounting needs root).
    pub fn mount_or_skip(at: &Path, size: &str) -> Option<Tmpfs> {
        Tmpfs::mount(at, size)
            .map_err(|e| println!("SKIPPED: cannot mount a tmpfs (needs root): {e}"))
            .ok()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Still busy (a process we started not yet reaped): detach it lazily.
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}
