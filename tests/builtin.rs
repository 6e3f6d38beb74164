//! Built-in routes (issue 7): `/echo/{text}`, `/user-agent` and their gzip negotiation, `/files/`
//! reads and atomic uploads, gzip of generated pages, and strict query parsing.
mod common;

use common::{start_basic, Client, Response, Server};
use std::io::Read;
use std::time::Duration;

fn req(target: &str, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut r = format!("GET {target} HTTP/1.1\r\nHost: test\r\n");
    for (k, v) in fields {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.into_bytes()
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The body as the client would see it after undoing any content coding.
fn decoded(r: &Response) -> Vec<u8> {
    match r.header("content-encoding") {
        Some("gzip") => gunzip(&r.body),
        None => r.body.clone(),
        Some(other) => panic!("unexpected coding {other}"),
    }
}

fn server() -> (tempfile::TempDir, Server) {
    let root = common::basic_root();
    let server = Server::start(root.path(), &[]);
    (root, server)
}

#[test]
fn echo_returns_the_decoded_text_as_plain_text() {
    let (_root, server) = server();
    let mut c = server.connect();
    let r = c.request(&req("/echo/hello%20w%C3%B6rld/and/more", &[]));
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.body, "hello wörld/and/more".as_bytes());
    assert_eq!(r.content_length(), Some(r.body.len() as u64));
    c.send(&common::head("/echo/abc"));
    let head = c.read_head_response();
    assert_eq!(head.content_length(), Some(3));
}

#[test]
fn user_agent_echoes_the_field_or_nothing() {
    let (_root, server) = server();
    let mut c = server.connect();
    let r = c.request(&req("/user-agent", &[("User-Agent", "probe/2.0 (test)")]));
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"probe/2.0 (test)"[..])
    );
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let none = c.request(&req("/user-agent", &[]));
    assert_eq!((none.status, none.content_length()), (200, Some(0)));
}

#[test]
fn gzip_only_when_the_client_prefers_it() {
    let (_root, server) = server();
    let mut c = server.connect();
    // (Accept-Encoding, gzipped?)
    let cases: [(Option<&str>, bool); 12] = [
        (None, false),
        (Some(""), false),
        (Some("gzip"), true),
        (Some("deflate, gzip;q=0.8, br"), true),
        (Some("GZIP"), true),
        (Some("x-gzip"), true),
        (Some("*"), true),
        (Some("br, zstd"), false),
        (Some("gzip;q=0"), false),
        (Some("gzip;q=0.5, identity;q=1"), false),
        (Some("gzip;q=0.5, identity;q=0"), true),
        (Some("identity;q=0, *;q=0.1"), true),
    ];
    for (field, gzipped) in cases {
        let fields: Vec<(&str, &str)> = field.map(|f| ("Accept-Encoding", f)).into_iter().collect();
        let r = c.request(&req("/echo/some%20text", &fields));
        assert_eq!(r.status, 200, "{field:?}");
        assert_eq!(
            r.header("content-encoding") == Some("gzip"),
            gzipped,
            "Accept-Encoding {field:?}: {}",
            r.raw_head
        );
        assert_eq!(decoded(&r), b"some text", "{field:?}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        assert_eq!(r.content_length(), Some(r.body.len() as u64));
    }
}

#[test]
fn generated_pages_are_gzipped_but_files_never_on_the_fly() {
    let root = common::basic_root();
    common::write_file(root.path(), "big.txt", &b"text ".repeat(10_000));
    let server = Server::start(root.path(), &[]);
    let mut c = server.connect();
    // (A fresh server's /api/devices is shorter than the gzip threshold.)
    for page in ["/devices", "/metrics"] {
        let r = c.request(&req(page, &[("Accept-Encoding", "gzip")]));
        assert_eq!(r.header("content-encoding"), Some("gzip"), "{page}");
        assert!(!decoded(&r).is_empty());
    }
    let file = c.request(&req("/big.txt", &[("Accept-Encoding", "gzip")]));
    assert_eq!(
        file.header("content-encoding"),
        None,
        "no on-the-fly gzip for files"
    );
    assert_eq!(file.body.len(), 50_000);
}

#[test]
fn upload_creates_then_replaces_atomically_and_reads_back() {
    let root = common::root();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(root.path(), &["--directory", dir.path().to_str().unwrap()]);
    let mut c = server.connect();
    let post = |body: &[u8]| {
        let mut r = format!(
            "POST /files/data%201.bin HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    };
    let created = c.request(&post(b"first version"));
    created.assert_status(201);
    assert_eq!(created.header("location"), Some("/files/data%201.bin"));
    assert_eq!(
        std::fs::read(dir.path().join("data 1.bin")).unwrap(),
        b"first version"
    );
    let replaced = c.request(&post(b"second"));
    replaced.assert_status(201);
    let r = c.request(&req("/files/data%201.bin", &[]));
    assert_eq!((r.status, r.body.as_slice()), (200, &b"second"[..]));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    let part = c.request(&req("/files/data%201.bin", &[("Range", "bytes=1-3")]));
    assert_eq!((part.status, part.body.as_slice()), (206, &b"eco"[..]));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["data 1.bin"], "no temporary file is left");
    let missing = c.request(&req("/files/nope", &[]));
    missing.assert_status(404);
}

#[test]
fn a_cut_off_upload_leaves_nothing() {
    let root = common::root();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.txt"), b"old").unwrap();
    let server = Server::start(root.path(), &["--directory", dir.path().to_str().unwrap()]);
    for (name, framing) in [
        ("new.txt", "Content-Length: 100\r\n\r\nonly part"),
        (
            "keep.txt",
            "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        ),
    ] {
        let mut c: Client = server.connect();
        c.send(format!("POST /files/{name} HTTP/1.1\r\nHost: test\r\n{framing}").as_bytes());
        drop(c);
    }
    // Give the server time to notice both disconnects, then check the folder.
    let mut probe = server.connect();
    probe.request(&req("/healthz", &[])).assert_status(200);
    std::thread::sleep(Duration::from_millis(200));
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["keep.txt"]);
    assert_eq!(std::fs::read(dir.path().join("keep.txt")).unwrap(), b"old");
}

#[test]
fn upload_names_are_validated() {
    let root = common::root();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(root.path(), &["--directory", dir.path().to_str().unwrap()]);
    let mut c = server.connect();
    for name in ["..%2Fescape", "%2e%2e", ".hidden", "a%00b", "a%5Cb"] {
        let r = c.request(
            format!("POST /files/{name} HTTP/1.1\r\nHost: test\r\nContent-Length: 1\r\n\r\nx")
                .as_bytes(),
        );
        r.assert_status(400);
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let r = c.request(&req("/files/", &[]));
    assert!(r.status == 400 || r.status == 404, "{}", r.raw_head);
}

#[test]
fn malformed_queries_are_400_and_unknown_parameters_ignored() {
    let (_root, server) = server();
    let mut c = server.connect();
    c.request(&req("/hello.txt?unknown=1&x", &[]))
        .assert_status(200);
    c.request(&req("/hello.txt?bad=%zz", &[]))
        .assert_status(400);
    c.request(&req("/?sort=sideways", &[])).assert_status(400);
    c.request(&req("/hello.txt?download=maybe", &[]))
        .assert_status(400);
    // The connection is still usable after a 400 for a query.
    c.request(&req("/hello.txt", &[])).assert_status(200);
}

/// Uploads are off unless asked for: `POST /files/{name}` is 403 naming `--upload`, and stores
/// nothing; `--upload` turns them on (as an explicit `--directory` does).
#[test]
fn uploads_are_off_unless_asked_for() {
    let body = b"hello";
    let raw = format!(
        "POST /files/new.txt HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\nhello",
        body.len()
    );
    let f = start_basic(&[]);
    let mut c = f.connect();
    let r = c.request(raw.as_bytes());
    r.assert_status(403);
    assert!(r.body_str().contains("--upload"), "{}", r.body_str());
    assert!(!f.root.path().join("new.txt").exists(), "nothing stored");
    let f = start_basic(&["--upload"]);
    let mut c = f.connect();
    c.request(raw.as_bytes()).assert_status(201);
    assert_eq!(std::fs::read(f.root.path().join("new.txt")).unwrap(), body);
}
