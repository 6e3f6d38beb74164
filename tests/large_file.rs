//! A file past 4 GiB (sparse): lengths and offsets must not be truncated to 32 bits.
//! Its own test binary so the 4 GiB transfer does not compete with other tests.

mod common;

use std::fs::File;
use std::os::unix::fs::FileExt;

use common::*;

const FOUR_GIB: u64 = 1 << 32;
const SIZE: u64 = FOUR_GIB + (1 << 20);

/// (offset, byte) markers written into the otherwise sparse (zero) file.
const MARKERS: [(u64, u8); 5] = [
    (0, 0xA1),
    (FOUR_GIB - 1, 0xB2),
    (FOUR_GIB, 0xC3),
    (FOUR_GIB + 4096, 0xD4),
    (SIZE - 1, 0xE5),
];

fn make_root() -> tempfile::TempDir {
    let root = root();
    let file = File::create(root.path().join("huge.bin")).unwrap();
    file.set_len(SIZE).unwrap();
    for (off, b) in MARKERS {
        file.write_all_at(&[b], off).unwrap();
    }
    file.sync_all().unwrap();
    write_file(root.path(), "hello.txt", HELLO);
    root
}

/// Checks a piece of the body that starts at file offset `pos`: markers where they belong,
/// zeros everywhere else.
fn check_piece(pos: u64, piece: &[u8], zeros: &[u8]) {
    let mut copy = piece.to_vec();
    for (off, b) in MARKERS {
        if off >= pos && off < pos + piece.len() as u64 {
            let i = (off - pos) as usize;
            assert_eq!(piece[i], b, "marker at offset {off}");
            copy[i] = 0;
        }
    }
    if copy[..] != zeros[..copy.len()] {
        let i = copy.iter().position(|&b| b != 0).unwrap();
        panic!(
            "unexpected byte {:#x} at offset {}",
            copy[i],
            pos + i as u64
        );
    }
}

#[test]
fn file_over_four_gib_is_served_whole_with_markers_in_place() {
    let root = make_root();
    let server = Server::start(root.path(), &[]);
    let mut c = server.connect();

    c.send(&head("/huge.bin"));
    let h = c.read_head_response();
    h.assert_status(200);
    assert_eq!(h.content_length(), Some(SIZE));

    c.send(&get("/huge.bin"));
    let r = c.read_response_head();
    r.assert_status(200);
    assert_eq!(r.header("content-length"), Some("4296015872"));
    let zeros = vec![0u8; 1 << 20];
    let mut pos: u64 = 0;
    c.stream_body(SIZE, |piece| {
        check_piece(pos, piece, &zeros);
        pos += piece.len() as u64;
    });
    assert_eq!(pos, SIZE);

    // The connection is in sync afterwards.
    expect_still_open(&mut c);
}

#[test]
fn range_past_four_gib_returns_the_right_bytes() {
    let root = make_root();
    let server = Server::start(root.path(), &[]);
    let mut c = server.connect();
    let first = FOUR_GIB;
    let last = FOUR_GIB + 4095;
    c.send(
        format!("GET /huge.bin HTTP/1.1\r\nHost: test\r\nRange: bytes={first}-{last}\r\n\r\n")
            .as_bytes(),
    );
    let r = c.read_response_head();
    r.assert_status(206);
    assert_eq!(r.content_length(), Some(4096));
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes {first}-{last}/{SIZE}").as_str()),
        "Content-Range"
    );
    let mut body = Vec::new();
    c.stream_body(4096, |p| body.extend_from_slice(p));
    assert_eq!(body[0], 0xC3, "byte at 2^32");
    assert!(
        body[1..].iter().all(|&b| b == 0),
        "rest of the range is zeros"
    );
    expect_still_open(&mut c);
}

#[test]
fn ranges_near_and_past_four_gib_as_suffix_and_multipart() {
    let root = make_root();
    let server = Server::start(root.path(), &[]);
    let mut c = server.connect();
    let zeros = vec![0u8; 1 << 20];

    // A suffix range: the last 2 bytes, whose offsets need 33 bits.
    let r =
        c.request(b"GET /huge.bin HTTP/1.1\r\nHost: test\r\nRange: bytes=-2\r\n\r\n".as_slice());
    r.assert_status(206);
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes {}-{}/{SIZE}", SIZE - 2, SIZE - 1).as_str())
    );
    assert_eq!(r.body, [0, 0xE5]);

    // Three parts: one at the start, one across the 4 GiB line, one large one past it (sendfile
    // with offsets beyond 32 bits, in several chunks).
    let (a, b) = (FOUR_GIB - 2, FOUR_GIB + 1);
    let (p, q) = (FOUR_GIB + 2048, FOUR_GIB + 2048 + 700_000);
    c.send(
        format!("GET /huge.bin HTTP/1.1\r\nHost: test\r\nRange: bytes=0-0,{a}-{b},{p}-{q}\r\n\r\n")
            .as_bytes(),
    );
    let r = c.read_response();
    r.assert_status(206);
    let ct = r.header("content-type").unwrap().to_string();
    let boundary = ct.strip_prefix("multipart/byteranges; boundary=").unwrap();
    let body = &r.body;
    let mut offsets = Vec::new();
    let mut at = 0;
    for (first, last) in [(0, 0), (a, b), (p, q)] {
        let head = format!(
            "\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\
             Content-Range: bytes {first}-{last}/{SIZE}\r\n\r\n"
        );
        assert!(
            body[at..].starts_with(head.as_bytes()),
            "part head for {first}-{last}"
        );
        at += head.len();
        let len = (last - first + 1) as usize;
        check_piece(first, &body[at..at + len], &zeros);
        offsets.push(at);
        at += len;
    }
    assert_eq!(&body[at..], format!("\r\n--{boundary}--\r\n").as_bytes());
    assert_eq!(body[offsets[0]], 0xA1);
    assert_eq!(&body[offsets[1]..offsets[1] + 4], [0, 0xB2, 0xC3, 0]);
    expect_still_open(&mut c);
}
