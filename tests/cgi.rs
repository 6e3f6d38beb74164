//! CGI/1.1 (`--cgi`): scripts in ROOT/cgi-bin written by the tests, driven over raw sockets.
//! Covers headers and status, stdin, meta-variables, streaming, 502 for a crash, 504 and kill at
//! the timeout, kill when the client leaves, HTTP/1.0 framing, and 100 scripts at once.
mod common;

use common::{stderr_of_server, Client, Server, IO_TIMEOUT};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

fn script(root: &Path, name: &str, body: &str) {
    let dir = root.join("cgi-bin");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn start(root: &Path, extra: &[&str]) -> Server {
    let mut args = vec!["--cgi"];
    args.extend_from_slice(extra);
    Server::start(root, &args)
}

fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// A response read off the wire: head text and de-chunked (or close-delimited) body.
struct Reply {
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn status(&self) -> u16 {
        self.head[9..12].parse().unwrap()
    }
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

struct Reader {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Reader {
    fn new(stream: TcpStream) -> Self {
        Reader {
            stream,
            buf: Vec::new(),
        }
    }

    fn more(&mut self) -> usize {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk).unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    fn line(&mut self) -> Vec<u8> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return line;
            }
            assert!(self.more() > 0, "connection ended inside a line");
        }
    }

    fn head(&mut self) -> String {
        let mut head = String::new();
        loop {
            let line = String::from_utf8(self.line()).unwrap();
            if line.is_empty() {
                return head;
            }
            head.push_str(&line);
            head.push('\n');
        }
    }

    /// Reads one chunk; `None` for the last (zero-size) chunk.
    fn chunk(&mut self) -> Option<Vec<u8>> {
        let size_line = String::from_utf8(self.line()).unwrap();
        let size = usize::from_str_radix(size_line.trim(), 16).unwrap();
        if size == 0 {
            return None; // the trailer section follows
        }
        while self.buf.len() < size + 2 {
            assert!(self.more() > 0, "connection ended inside a chunk");
        }
        let data: Vec<u8> = self.buf.drain(..size).collect();
        assert_eq!(self.buf.drain(..2).collect::<Vec<u8>>(), b"\r\n");
        Some(data)
    }

    fn reply(&mut self) -> Reply {
        let head = self.head();
        let mut reply = Reply {
            head,
            body: Vec::new(),
        };
        if reply.header("transfer-encoding").as_deref() == Some("chunked") {
            while let Some(data) = self.chunk() {
                reply.body.extend_from_slice(&data);
            }
            assert_eq!(
                self.line(),
                b"",
                "no trailer fields, then the end of the body"
            );
        } else if let Some(len) = reply.header("content-length") {
            let len: usize = len.parse().unwrap();
            while self.buf.len() < len {
                assert!(self.more() > 0);
            }
            reply.body = self.buf.drain(..len).collect();
        } else {
            while self.more() > 0 {}
            reply.body = std::mem::take(&mut self.buf);
        }
        reply
    }
}

fn request(server: &Server, raw: &str) -> Reply {
    let mut s = connect(server);
    s.write_all(raw.as_bytes()).unwrap();
    Reader::new(s).reply()
}

#[test]
fn headers_status_body_and_chunked_framing() {
    let root = tempfile::tempdir().unwrap();
    script(
        root.path(),
        "hello",
        "printf 'Status: 201 Made\\r\\nContent-Type: text/plain\\r\\nX-Script: yes\\r\\nContent-Length: 999\\r\\n\\r\\nhello\\n'\n",
    );
    let server = start(root.path(), &[]);
    let reply = request(&server, "GET /cgi-bin/hello HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(reply.status(), 201, "{}", reply.head);
    assert_eq!(reply.header("x-script").as_deref(), Some("yes"));
    assert_eq!(reply.header("content-type").as_deref(), Some("text/plain"));
    assert_eq!(
        reply.header("transfer-encoding").as_deref(),
        Some("chunked")
    );
    assert_eq!(
        reply.header("content-length"),
        None,
        "the script's length is not trusted"
    );
    assert_eq!(reply.header("server").as_deref(), Some("sluice"));
    assert_eq!(reply.body, b"hello\n");
}

#[test]
fn keep_alive_after_a_chunked_answer_and_close_delimited_for_http10() {
    let root = tempfile::tempdir().unwrap();
    script(
        root.path(),
        "a",
        "printf 'Content-Type: text/plain\\n\\nA'\n",
    );
    std::fs::write(root.path().join("f.txt"), b"file").unwrap();
    let server = start(root.path(), &[]);
    let mut s = connect(&server);
    s.write_all(
        b"GET /cgi-bin/a HTTP/1.1\r\nHost: x\r\n\r\nGET /f.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let mut r = Reader::new(s);
    assert_eq!(r.reply().body, b"A");
    let second = r.reply();
    assert_eq!(
        (second.status(), second.body.as_slice()),
        (200, &b"file"[..])
    );

    let old = request(&server, "GET /cgi-bin/a HTTP/1.0\r\n\r\n");
    assert_eq!(old.status(), 200);
    assert_eq!(old.header("transfer-encoding"), None);
    assert_eq!(old.header("connection").as_deref(), Some("close"));
    assert_eq!(old.body, b"A");
}

#[test]
fn request_body_on_stdin_and_meta_variables() {
    let root = tempfile::tempdir().unwrap();
    script(
        root.path(),
        "env",
        "printf 'Content-Type: text/plain\\n\\n'\n\
         for v in GATEWAY_INTERFACE SERVER_PROTOCOL REQUEST_METHOD SCRIPT_NAME PATH_INFO \\\n\
                  SCRIPT_FILENAME DOCUMENT_ROOT \\\n\
                  QUERY_STRING CONTENT_LENGTH CONTENT_TYPE REMOTE_ADDR SERVER_NAME SERVER_PORT \\\n\
                  HTTP_USER_AGENT HTTP_X_MULTI HTTP_PROXY HTTP_AUTHORIZATION; do\n\
           eval \"echo $v=\\${$v-unset}\"\n\
         done\n\
         echo stdin=$(cat)\n",
    );
    let server = start(root.path(), &[]);
    let port = server.addr().port();
    let reply = request(
        &server,
        "POST /cgi-bin/env/a/b%20c?x=1&y=2 HTTP/1.1\r\nHost: box.lan:8080\r\nUser-Agent: t/1\r\n\
         X-Multi: 1\r\nX-Multi: 2\r\nProxy: http://evil/\r\nAuthorization: Basic eDp5\r\n\
         Content-Type: text/csv\r\nContent-Length: 11\r\n\r\nhello stdin",
    );
    let text = String::from_utf8(reply.body).unwrap();
    let (script_file, doc_root) = (
        format!(
            "SCRIPT_FILENAME={}",
            root.path().join("cgi-bin/env").display()
        ),
        format!("DOCUMENT_ROOT={}", root.path().display()),
    );
    for want in [
        script_file.as_str(),
        doc_root.as_str(),
        "GATEWAY_INTERFACE=CGI/1.1",
        "SERVER_PROTOCOL=HTTP/1.1",
        "REQUEST_METHOD=POST",
        "SCRIPT_NAME=/cgi-bin/env",
        "PATH_INFO=/a/b c",
        "QUERY_STRING=x=1&y=2",
        "CONTENT_LENGTH=11",
        "CONTENT_TYPE=text/csv",
        "REMOTE_ADDR=127.0.0.1",
        "SERVER_NAME=box.lan",
        &format!("SERVER_PORT={port}"),
        "HTTP_USER_AGENT=t/1",
        "HTTP_X_MULTI=1, 2",
        "HTTP_PROXY=unset",
        "HTTP_AUTHORIZATION=unset",
        "stdin=hello stdin",
    ] {
        assert!(
            text.lines().any(|l| l == want),
            "missing {want:?} in:\n{text}"
        );
    }
}

#[test]
fn output_streams_as_the_script_prints_it() {
    let root = tempfile::tempdir().unwrap();
    // The second line only comes after the test has seen the first one (a marker file).
    script(
        root.path(),
        "slow",
        "printf 'Content-Type: text/plain\\n\\nfirst\\n'\n\
         i=0; while [ ! -e go ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done\n\
         echo second\n",
    );
    let server = start(root.path(), &[]);
    let mut s = connect(&server);
    s.write_all(b"GET /cgi-bin/slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut r = Reader::new(s);
    let head = r.head();
    assert!(head.contains("chunked"), "{head}");
    assert_eq!(
        r.chunk().unwrap(),
        b"first\n",
        "first line arrives while the script runs"
    );
    std::fs::write(root.path().join("cgi-bin/go"), b"").unwrap();
    assert_eq!(r.chunk().unwrap(), b"second\n");
    assert_eq!(r.chunk(), None);
    assert_eq!(r.line(), b"");
}

#[test]
fn a_script_that_fails_before_its_headers_gives_502() {
    let root = tempfile::tempdir().unwrap();
    script(root.path(), "crash", "echo 'something broke' >&2\nexit 3\n");
    script(root.path(), "garbage", "echo 'this is not a header'\n");
    script(root.path(), "notype", "printf 'X-A: b\\n\\nbody'\n");
    std::fs::write(root.path().join("cgi-bin/noexec"), b"#!/bin/sh\n").unwrap();
    let server = start(root.path(), &[]);
    for name in ["crash", "garbage", "notype"] {
        let reply = request(
            &server,
            &format!("GET /cgi-bin/{name} HTTP/1.1\r\nHost: x\r\n\r\n"),
        );
        assert_eq!(reply.status(), 502, "{name}: {}", reply.head);
    }
    let reply = request(&server, "GET /cgi-bin/noexec HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        reply.status(),
        403,
        "a script without the execute bit is refused"
    );
    let reply = request(&server, "GET /cgi-bin/missing HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(reply.status(), 404);
}

fn pid_alive(pid: i32) -> bool {
    // Signal 0 checks existence; a zombie would still exist, so reaping is checked too.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

fn wait_gone(pid: i32) -> bool {
    let deadline = Instant::now() + IO_TIMEOUT;
    while Instant::now() < deadline {
        if !pid_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn read_pid(path: &Path) -> i32 {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(pid) = text.trim().parse() {
                return pid;
            }
        }
        assert!(Instant::now() < deadline, "script never wrote its pid");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_script_past_the_timeout_is_killed_with_what_it_started_and_gets_504() {
    let root = tempfile::tempdir().unwrap();
    script(
        root.path(),
        "hang",
        "sleep 300 &\necho $! > child.pid\necho $$ > self.pid\nwait\n",
    );
    let server = start(root.path(), &["--cgi-timeout", "0.5"]);
    let reply = request(&server, "GET /cgi-bin/hang HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(reply.status(), 504, "{}", reply.head);
    let cgi = root.path().join("cgi-bin");
    assert!(
        wait_gone(read_pid(&cgi.join("self.pid"))),
        "script killed and reaped"
    );
    assert!(
        wait_gone(read_pid(&cgi.join("child.pid"))),
        "its child killed too"
    );
}

#[test]
fn a_timeout_is_logged_with_the_script_and_the_flag() {
    let root = tempfile::tempdir().unwrap();
    script(root.path(), "slow", "sleep 300\n");
    let log = stderr_of_server(root.path(), &["--cgi", "--cgi-timeout", "0.5"], |addr| {
        let mut c = Client::connect(addr);
        let r = c.request(b"GET /cgi-bin/slow HTTP/1.1\r\nHost: x\r\n\r\n");
        r.assert_status(504);
    });
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("cgi slow")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains("WARN")
            && lines[0].contains("--cgi-timeout")
            && lines[0].contains("0.5 s"),
        "{log}"
    );
}

#[test]
fn a_client_that_leaves_kills_its_script() {
    let root = tempfile::tempdir().unwrap();
    script(
        root.path(),
        "forever",
        "echo $$ > self.pid\nprintf 'Content-Type: text/plain\\n\\nstart\\n'\nwhile true; do sleep 0.1; done\n",
    );
    let server = start(root.path(), &[]);
    let mut s = connect(&server);
    s.write_all(b"GET /cgi-bin/forever HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut r = Reader::new(s);
    r.head();
    assert_eq!(r.chunk().unwrap(), b"start\n");
    let pid = read_pid(&root.path().join("cgi-bin/self.pid"));
    assert!(pid_alive(pid));
    drop(r);
    assert!(
        wait_gone(pid),
        "the script must die when its client disconnects"
    );
}

#[test]
fn a_hundred_scripts_at_once() {
    let root = tempfile::tempdir().unwrap();
    script(
        root.path(),
        "echo",
        "printf 'Content-Type: text/plain\\n\\n'\nsleep 0.2\necho \"$QUERY_STRING\"\n",
    );
    let server = start(root.path(), &[]);
    let mut streams: Vec<TcpStream> = (0..100)
        .map(|i| {
            let mut s = connect(&server);
            s.write_all(format!("GET /cgi-bin/echo?n={i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .unwrap();
            s
        })
        .collect();
    for (i, s) in streams.drain(..).enumerate() {
        let reply = Reader::new(s).reply();
        assert_eq!(reply.status(), 200);
        assert_eq!(reply.body, format!("n={i}\n").as_bytes());
    }
}

#[test]
fn head_runs_the_script_and_sends_no_body() {
    let root = tempfile::tempdir().unwrap();
    script(
        root.path(),
        "h",
        "printf 'Content-Type: text/plain\\n\\n'\necho \"$REQUEST_METHOD\"\n",
    );
    let server = start(root.path(), &[]);
    let mut s = connect(&server);
    s.write_all(
        b"HEAD /cgi-bin/h HTTP/1.1\r\nHost: x\r\n\r\nGET /cgi-bin/h HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .unwrap();
    let mut r = Reader::new(s);
    let head = r.head();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // The next bytes are the GET's answer, not a body of the HEAD.
    let get = r.reply();
    assert_eq!(get.body, b"GET\n");
}

#[test]
fn without_the_flag_cgi_bin_is_just_a_folder() {
    let root = tempfile::tempdir().unwrap();
    script(root.path(), "s", "echo hi\n");
    let server = Server::start(root.path(), &[]);
    let reply = request(&server, "GET /cgi-bin/s HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(reply.status(), 200);
    assert!(
        reply.body.starts_with(b"#!/bin/sh"),
        "served as a file, not run"
    );
}
