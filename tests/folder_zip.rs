//! `GET /dir/?download`: a folder as one zip, read back with the `zip` crate: which files are in
//! it, their bytes, the length announced up front, the limits, and ZIP64 past 4 GiB.

mod common;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Cursor, Read, Seek, SeekFrom, Write};
use std::net::SocketAddr;

use common::*;

fn get_download(server: &Server, target: &str) -> Response {
    let raw = format!("GET {target} HTTP/1.1\r\nHost: test\r\n\r\n");
    server.connect().request(raw.as_bytes())
}

/// Every member of the archive in `bytes`: name -> contents (each CRC checked by the reader).
fn members(bytes: Vec<u8>) -> BTreeMap<String, Vec<u8>> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).expect("a zip the crate reads");
    let mut all = BTreeMap::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let mut data = Vec::new();
        f.read_to_end(&mut data).expect("member reads back, CRC ok");
        all.insert(f.name().to_string(), data);
    }
    all
}

/// A tree with what a zip takes and what it leaves out.
fn tree() -> (tempfile::TempDir, Vec<u8>) {
    let root = root();
    let p = root.path();
    let big = pseudo_random(700 * 1024 + 3, 5);
    write_file(p, "a.txt", b"alpha\n");
    write_file(p, "sub/b.bin", &big);
    write_file(p, "sub/deep/c.txt", b"gamma\n");
    write_file(p, "sub/.secret", b"hidden\n");
    write_file(p, ".hidden", b"hidden\n");
    fs::create_dir(p.join("empty")).unwrap();
    std::os::unix::fs::symlink("a.txt", p.join("link.txt")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", p.join("outside")).unwrap();
    std::os::unix::fs::symlink("..", p.join("sub/up")).unwrap();
    (root, big)
}

#[test]
fn a_folder_downloads_as_a_zip_of_its_visible_files() {
    let (root, big) = tree();
    let data = root.path().join("data");
    let server = Server::start(root.path(), &["--data", data.to_str().unwrap()]);
    let mut c = server.connect();
    c.request(b"POST /devices/d1 HTTP/1.1\r\nHost: test\r\nContent-Length: 2\r\n\r\nx\n")
        .assert_status(204);

    let r = get_download(&server, "/?download");
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("application/zip"));
    assert_eq!(r.content_length(), Some(r.body.len() as u64));
    let root_name = root.path().file_name().unwrap().to_str().unwrap();
    let disposition = r.header("content-disposition").unwrap();
    assert!(
        disposition.contains(&format!("filename=\"{root_name}.zip\"")),
        "{disposition}"
    );
    let got = members(r.body.clone());
    let names: Vec<&str> = got.keys().map(String::as_str).collect();
    // No dotfiles, no data directory, no symlink out of ROOT, no folder entered through a link.
    assert_eq!(names, ["a.txt", "link.txt", "sub/b.bin", "sub/deep/c.txt"]);
    assert_eq!(got["a.txt"], b"alpha\n");
    assert_eq!(got["link.txt"], b"alpha\n");
    assert!(got["sub/b.bin"] == big, "the large member's bytes");
    assert_eq!(got["sub/deep/c.txt"], b"gamma\n");

    // A subfolder: names relative to it; HEAD announces the same length with no body.
    let r = get_download(&server, "/sub/?download");
    r.assert_status(200);
    assert!(r
        .header("content-disposition")
        .unwrap()
        .contains("filename=\"sub.zip\""));
    let len = r.content_length();
    let names: Vec<String> = members(r.body.clone()).into_keys().collect();
    assert_eq!(names, ["b.bin", "deep/c.txt"]);
    let mut hc = server.connect();
    hc.send(b"HEAD /sub/?download HTTP/1.1\r\nHost: test\r\n\r\n");
    let h = hc.read_head_response();
    h.assert_status(200);
    assert_eq!(h.content_length(), len);

    // The listing offers it.
    let listing = get_download(&server, "/sub/").body_str();
    assert!(
        listing.contains("<a href=\"?download\" download>"),
        "{listing}"
    );

    // A file, a missing folder, the data directory.
    get_download(&server, "/a.txt/?download").assert_status(404);
    get_download(&server, "/nothing/?download").assert_status(404);
    get_download(&server, "/data/?download").assert_status(404);
    get_download(&server, "/.hidden/?download").assert_status(404);
    // The keep-alive connection goes on after a zip.
    let raw = b"GET /sub/deep/?download HTTP/1.1\r\nHost: test\r\n\r\n";
    for _ in 0..2 {
        let r = c.request(raw);
        r.assert_status(200);
        assert_eq!(members(r.body).len(), 1);
    }
}

#[test]
fn hidden_files_are_archived_with_hidden_and_listings_off_refuses() {
    let (root, _) = tree();
    let server = Server::start(root.path(), &["--hidden"]);
    let got = members(get_download(&server, "/?download").body);
    assert!(got.contains_key(".hidden") && got.contains_key("sub/.secret"));
    drop(server);
    let server = Server::start(root.path(), &["--no-listing"]);
    get_download(&server, "/?download").assert_status(403);
}

/// With `--cgi` the scripts in ROOT's `cgi-bin/` run; a zip never carries their source.
#[test]
fn cgi_scripts_are_archived_only_when_cgi_is_off() {
    let root = root();
    write_file(
        root.path(),
        "cgi-bin/secret.sh",
        b"#!/bin/sh\necho token=42\n",
    );
    write_file(
        root.path(),
        "docs/cgi-bin/readme.txt",
        b"not ROOT's cgi-bin\n",
    );
    let server = Server::start(root.path(), &["--cgi"]);
    let names: Vec<String> = members(get_download(&server, "/?download").body)
        .into_keys()
        .collect();
    assert_eq!(names, ["docs/cgi-bin/readme.txt"]);
    drop(server);
    let server = Server::start(root.path(), &[]);
    let names: Vec<String> = members(get_download(&server, "/?download").body)
        .into_keys()
        .collect();
    assert_eq!(names, ["cgi-bin/secret.sh", "docs/cgi-bin/readme.txt"]);
}

#[test]
fn a_folder_of_exactly_max_archive_files_is_archived_and_one_more_is_refused() {
    let max = sluice::limits::MAX_ARCHIVE_FILES;
    let root = root();
    let dir = root.path().join("many");
    fs::create_dir(&dir).unwrap();
    for i in 0..max {
        File::create(dir.join(format!("{i:05}"))).unwrap();
    }
    let server = Server::start(root.path(), &[]);
    let r = get_download(&server, "/many/?download");
    r.assert_status(200);
    let zip = zip::ZipArchive::new(Cursor::new(r.body)).unwrap();
    assert_eq!(zip.len(), max);
    File::create(dir.join("one-more")).unwrap();
    let r = get_download(&server, "/many/?download");
    r.assert_status(403);
    assert!(r.body_str().contains("10000 files"), "{}", r.body_str());
}

#[test]
fn folders_deeper_than_max_archive_depth_are_refused() {
    let max = sluice::limits::MAX_ARCHIVE_DEPTH;
    let root = root();
    let deepest = (0..max)
        .map(|i| format!("d{i}"))
        .collect::<Vec<_>>()
        .join("/");
    write_file(root.path(), &format!("{deepest}/f"), b"x");
    let server = Server::start(root.path(), &[]);
    let r = get_download(&server, "/?download");
    r.assert_status(200);
    assert_eq!(members(r.body).len(), 1);
    write_file(root.path(), &format!("{deepest}/d{max}/f"), b"x");
    get_download(&server, "/?download").assert_status(403);
}

/// A file that changes size while its zip is sent cuts the response short: the connection
/// closes rather than send a body that disagrees with its Content-Length.
#[test]
fn a_file_that_changes_size_mid_zip_closes_the_connection() {
    let root = root();
    write_file(root.path(), "first.bin", &pseudo_random(32 << 20, 1));
    write_file(root.path(), "second.txt", b"short\n");
    let server = Server::start(root.path(), &[]);
    let mut c = server.connect();
    c.send(b"GET /?download HTTP/1.1\r\nHost: test\r\n\r\n");
    // The server is held back by our receive window while the first file goes out.
    let mut first = [0u8; 4096];
    c.stream.read_exact(&mut first).unwrap();
    write_file(root.path(), "second.txt", b"longer now\n");
    let mut rest = Vec::new();
    let _ = c.stream.read_to_end(&mut rest);
    let head_end = first.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&first[..head_end]).to_lowercase();
    let announced: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let got = first.len() - head_end + rest.len();
    assert!(got < announced, "closed early: {got} of {announced} bytes");
}

/// Reads one response to `GET target` from `addr`, the body written to `out`: runs of zeros are
/// skipped with a seek, so a sparse file stays sparse. Returns the announced length.
fn download_sparse(addr: SocketAddr, target: &str, out: &mut File) -> u64 {
    let mut c = Client::connect(addr);
    c.send(format!("GET {target} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
    let mut buf = vec![0u8; 1 << 20];
    let zeros = vec![0u8; 1 << 20];
    let mut head = Vec::new();
    let (len, mut body_start) = loop {
        let n = c.stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the head");
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&head[..end]).to_lowercase();
            assert!(text.starts_with("http/1.1 200"), "{text}");
            let len: u64 = text
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .unwrap()
                .parse()
                .unwrap();
            break (len, head.split_off(end + 4));
        }
    };
    out.write_all(&body_start).unwrap();
    let mut got = body_start.len() as u64;
    body_start.clear();
    while got < len {
        let want = buf.len().min((len - got) as usize);
        let n = c.stream.read(&mut buf[..want]).unwrap();
        assert!(n > 0, "closed after {got} of {len} bytes");
        if buf[..n] == zeros[..n] {
            out.seek(SeekFrom::Current(n as i64)).unwrap();
        } else {
            out.write_all(&buf[..n]).unwrap();
        }
        got += n as u64;
    }
    out.set_len(len).unwrap();
    len
}

/// The CRC-32 of `len` zero bytes, by combining the CRC of 1 MiB of zeros.
fn crc_of_zeros(len: u64) -> u32 {
    let mib = 1u64 << 20;
    let mut block = crc32fast::Hasher::new();
    block.update(&vec![0u8; mib as usize]);
    let mut all = crc32fast::Hasher::new();
    for _ in 0..len / mib {
        all.combine(&block);
    }
    all.update(&vec![0u8; (len % mib) as usize]);
    all.finalize()
}

/// A member of 4 GiB + 100 bytes (sparse) and one after it, past the 32-bit offsets: the ZIP64
/// fields let a zip library find and check both.
#[test]
fn a_folder_past_4_gib_downloads_as_zip64() {
    let root = root();
    let big_len = (4u64 << 30) + 100;
    let big = File::create(root.path().join("big.bin")).unwrap();
    big.set_len(big_len).unwrap();
    write_file(root.path(), "tail.txt", b"after the big one\n");
    let server = Server::start(root.path(), &[]);

    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("out.zip");
    let mut out = File::create(&path).unwrap();
    let len = download_sparse(server.addr(), "/?download", &mut out);
    drop(out);
    assert!(len > big_len);

    let mut zip = zip::ZipArchive::new(File::open(&path).unwrap()).unwrap();
    assert_eq!(zip.len(), 2);
    {
        let f = zip.by_name("big.bin").unwrap();
        assert_eq!(f.size(), big_len);
        assert_eq!(
            f.crc32(),
            crc_of_zeros(big_len),
            "the CRC streamed with the data"
        );
    }
    let mut f = zip.by_name("tail.txt").unwrap();
    assert!(f.header_start() > u32::MAX as u64, "its offset needs ZIP64");
    let mut text = String::new();
    f.read_to_string(&mut text).unwrap();
    assert_eq!(text, "after the big one\n");
}
