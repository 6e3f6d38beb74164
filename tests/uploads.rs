//! Uploads stream to disk (`POST /files/{path}`): past `--max-body` and `--max-body-memory`, up
//! to `--max-upload` exactly, into folders below `--directory` but never into the data
//! directory, and a full disk gives 507 with nothing left behind.

mod common;

use std::fs;
use std::path::Path;

use common::*;

fn post_head(path: &str, len: usize) -> Vec<u8> {
    format!("POST /files/{path} HTTP/1.1\r\nHost: test\r\nContent-Length: {len}\r\n\r\n")
        .into_bytes()
}

fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = post_head(path, body.len());
    r.extend_from_slice(body);
    r
}

/// The names in `dir`, sorted (temporary files included).
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn an_upload_streams_past_max_body_and_body_memory_up_to_max_upload_exactly() {
    let root = root();
    let max = 3 << 20;
    let server = Server::start(
        root.path(),
        &[
            "--upload",
            "--max-body",
            "1K",
            "--max-body-memory",
            "1M",
            "--max-upload",
            "3M",
        ],
    );
    let body = pseudo_random(max, 3);
    let mut c = server.connect();
    let r = c.request(&post("exact.bin", &body));
    r.assert_status(201);
    assert!(fs::read(root.path().join("exact.bin")).unwrap() == body);
    // A device body is still held to --max-body.
    c.request(&post_head("x", 0)).assert_status(201);
    let device = c.request(
        format!(
            "POST /devices/d HTTP/1.1\r\nHost: test\r\nContent-Length: 1025\r\n\r\n{}",
            "x".repeat(1025)
        )
        .as_bytes(),
    );
    device.assert_status(413);
    assert!(device.body_str().contains("(--max-body)"));

    // One byte more, declared: 413 from the head alone, before a byte is stored. Only the head
    // is sent: the lingering close drains at most LINGER_MAX_BYTES, so a client still writing a
    // 3 MiB body may rightly be reset.
    let mut c = server.connect();
    let mut over = pseudo_random(max + 1, 4);
    let r = c.request(&post_head("over.bin", over.len()));
    r.assert_status(413).assert_connection_close();
    assert!(
        r.body_str()
            .contains("the limit is 3145728 bytes (--max-upload)"),
        "{}",
        r.body_str()
    );
    // One byte more, chunked: found while it streams; the temporary file goes.
    let mut c = server.connect();
    let mut chunked =
        b"POST /files/over.bin HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for piece in over.chunks(1 << 20) {
        chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        chunked.extend_from_slice(piece);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let r = c.request(&chunked);
    r.assert_status(413).assert_connection_close();
    over.clear();
    let mut probe = server.connect();
    probe
        .request(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .assert_status(200);
    assert_eq!(names(root.path()), ["exact.bin", "x"]);
}

#[test]
fn uploads_go_into_folders_below_directory_never_into_data() {
    let root = root();
    fs::create_dir_all(root.path().join("sub/deeper")).unwrap();
    let data = root.path().join("data");
    let server = Server::start(root.path(), &["--upload", "--data", data.to_str().unwrap()]);
    let mut c = server.connect();
    c.request(b"POST /devices/d1 HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n\r\nr\n")
        .assert_status(204);

    let r = c.request(&post("sub/deeper/r%C3%A9sum%C3%A9%201.txt", b"nested"));
    r.assert_status(201);
    assert_eq!(
        r.header("location"),
        Some("/files/sub/deeper/r%C3%A9sum%C3%A9%201.txt")
    );
    assert_eq!(
        fs::read(root.path().join("sub/deeper/résumé 1.txt")).unwrap(),
        b"nested"
    );
    let back =
        c.request(b"GET /sub/deeper/r%C3%A9sum%C3%A9%201.txt HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(back.body, b"nested");
    let back =
        c.request(b"GET /files/sub/deeper/r%C3%A9sum%C3%A9%201.txt HTTP/1.1\r\nHost: test\r\n\r\n");
    assert_eq!(back.body, b"nested");

    // A folder that does not exist; the data directory, to write or to read.
    c.request(&post("missing/x.txt", b"x")).assert_status(404);
    c.request(&post("data/d1", b"overwrite")).assert_status(404);
    c.request(&post("sub/.hidden/x", b"x")).assert_status(400);
    c.request(&post("sub//x", b"x")).assert_status(400);
    let r = c.request(b"GET /files/data/d1 HTTP/1.1\r\nHost: test\r\n\r\n");
    r.assert_status(404);
    assert_eq!(fs::read(data.join("d1")).unwrap(), b"r\n");
    assert_eq!(names(&root.path().join("sub/deeper")), ["résumé 1.txt"]);
}

#[test]
fn a_full_disk_mid_upload_gives_507_closes_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_mount) = Tmpfs::mount_or_skip(dir.path(), "1m") else {
        return;
    };
    let root = root();
    let server = Server::start(root.path(), &["--directory", dir.path().to_str().unwrap()]);
    let mut c = server.connect();
    // 1.5 MiB: the server stops storing at about 1 MiB and its lingering close drains the rest
    // (under LINGER_MAX_BYTES), so the 507 is never lost to a reset.
    let big = pseudo_random(3 << 19, 9);
    c.send(&post_head("big.bin", big.len()));
    let _ = std::io::Write::write_all(&mut c.stream, &big);
    let r = c.read_response();
    r.assert_status(507).assert_connection_close();
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
    let mut c = server.connect();
    c.request(&post("small.txt", b"fits")).assert_status(201);
    assert_eq!(names(dir.path()), ["small.txt"]);
}
