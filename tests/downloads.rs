//! Resumable downloads over real sockets: byte ranges (RFC 9110 section 14), validators and
//! preconditions (sections 8.8 and 13), and a file that grows while it is being sent.

mod common;

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;

/// A request with extra header lines.
fn req(method: &str, target: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut s = format!("{method} {target} HTTP/1.1\r\nHost: test\r\n");
    for (name, value) in headers {
        s.push_str(&format!("{name}: {value}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

fn ranged(target: &str, range: &str) -> Vec<u8> {
    req("GET", target, &[("Range", range)])
}

/// A server over a root with `hello.txt`, `small.bin` (1,000 bytes) and `big.bin` (3 MiB + 7),
/// both pseudo-random.
struct Files {
    fx: Fixture,
    small: Vec<u8>,
    big: Vec<u8>,
}

fn files() -> Files {
    let fx = start_basic(&[]);
    let small = pseudo_random(1000, 11);
    let big = pseudo_random(3 * 1024 * 1024 + 7, 12);
    write_file(fx.root.path(), "small.bin", &small);
    write_file(fx.root.path(), "big.bin", &big);
    Files { fx, small, big }
}

/// Sets the modification time of `root/rel` to `secs` after the epoch.
#[track_caller]
fn assert_partial(r: &Response, data: &[u8], first: usize, last: usize) {
    r.assert_status(206);
    let want = format!("bytes {first}-{last}/{}", data.len());
    assert_eq!(
        r.header("content-range"),
        Some(want.as_str()),
        "{}",
        r.raw_head
    );
    assert_eq!(r.content_length(), Some((last - first + 1) as u64));
    assert!(
        r.body == data[first..=last],
        "body of range {first}-{last} differs"
    );
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert!(r.header("etag").is_some() && r.header("last-modified").is_some());
}

/// The parts of a `multipart/byteranges` body: (Content-Range, Content-Type, bytes).
fn parts(r: &Response) -> Vec<(String, String, Vec<u8>)> {
    let ct = r.header("content-type").expect("Content-Type");
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("not multipart: {ct}"));
    assert!(!boundary.is_empty() && boundary.len() <= 70);
    let delim = format!("\r\n--{boundary}");
    let body = &r.body;
    let mut out = Vec::new();
    let mut at = find(body, delim.as_bytes(), 0).expect("first delimiter");
    assert!(
        body[..at].iter().all(|&b| b == b'\r' || b == b'\n'),
        "preamble"
    );
    loop {
        at += delim.len();
        if body[at..].starts_with(b"--\r\n") {
            assert_eq!(at + 4, body.len(), "bytes after the close delimiter");
            return out;
        }
        assert!(body[at..].starts_with(b"\r\n"));
        let head_end = find(body, b"\r\n\r\n", at).expect("part head end");
        let head = String::from_utf8(body[at + 2..head_end].to_vec()).unwrap();
        let mut range = String::new();
        let mut ctype = String::new();
        for line in head.split("\r\n") {
            let (n, v) = line.split_once(": ").unwrap();
            match n.to_ascii_lowercase().as_str() {
                "content-range" => range = v.to_string(),
                "content-type" => ctype = v.to_string(),
                other => panic!("unexpected part field {other}"),
            }
        }
        let data_start = head_end + 4;
        let next = find(body, delim.as_bytes(), data_start).expect("next delimiter");
        out.push((range, ctype, body[data_start..next].to_vec()));
        at = next;
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

#[test]
fn single_ranges_of_every_form() {
    let f = files();
    let mut c = f.fx.connect();
    let n = f.small.len();
    for (range, first, last) in [
        ("bytes=0-0", 0, 0),
        ("bytes=10-19", 10, 19),
        ("bytes=990-", 990, n - 1),
        ("bytes=-10", n - 10, n - 1),
        ("bytes=500-999999", 500, n - 1),
        ("bytes=-5000", 0, n - 1),
        ("BYTES=1-2", 1, 2),
        ("bytes=, 3-4 ,", 3, 4),
    ] {
        let r = c.request(&ranged("/small.bin", range));
        assert_partial(&r, &f.small, first, last);
        r.assert_no_connection_close();
    }
    // A range of a file sent by sendfile, and a range bigger than a sendfile chunk.
    let r = c.request(&ranged("/big.bin", "bytes=1000000-1000099"));
    assert_partial(&r, &f.big, 1_000_000, 1_000_099);
    let r = c.request(&ranged("/big.bin", "bytes=100-"));
    assert_partial(&r, &f.big, 100, f.big.len() - 1);
    let r = c.request(&ranged("/big.bin", "bytes=-2000000"));
    assert_partial(&r, &f.big, f.big.len() - 2_000_000, f.big.len() - 1);
    expect_still_open(&mut c);
}

#[test]
fn invalid_or_foreign_ranges_get_the_whole_file() {
    let f = files();
    let mut c = f.fx.connect();
    for range in [
        "bytes=5-4",
        "bytes=abc",
        "bytes=0-1,x",
        "bytes 0-1",
        "bytes = 0-1",
        "bytes=0 - 1",
        "items=0-1",
        "bytes=",
    ] {
        let r = c.request(&ranged("/small.bin", range));
        r.assert_status(200);
        assert!(r.body == f.small, "{range}");
        assert!(r.header("content-range").is_none());
    }
    // two Range fields: ignored
    let r = c.request(&req(
        "GET",
        "/small.bin",
        &[("Range", "bytes=0-1"), ("Range", "bytes=2-3")],
    ));
    r.assert_status(200);
}

#[test]
fn unsatisfiable_ranges_get_416_with_the_length() {
    let f = files();
    let mut c = f.fx.connect();
    for range in [
        "bytes=1000-",
        "bytes=5000-6000",
        "bytes=-0",
        "bytes=1000-,2000-",
    ] {
        let r = c.request(&ranged("/small.bin", range));
        r.assert_status(416).assert_no_connection_close();
        assert_eq!(r.header("content-range"), Some("bytes */1000"), "{range}");
    }
    write_file(f.fx.root.path(), "empty.txt", b"");
    let r = c.request(&ranged("/empty.txt", "bytes=0-"));
    r.assert_status(416);
    assert_eq!(r.header("content-range"), Some("bytes */0"));
    let r = c.request(&ranged("/empty.txt", "bytes=-5"));
    r.assert_status(200);
    assert_eq!(r.content_length(), Some(0));
    expect_still_open(&mut c);
}

#[test]
fn range_is_ignored_on_head() {
    let f = files();
    let mut c = f.fx.connect();
    c.send(&cat(&[
        &req("HEAD", "/small.bin", &[("Range", "bytes=0-9")]),
        &get("/hello.txt"),
    ]));
    let h = c.read_head_response();
    h.assert_status(200);
    assert_eq!(h.content_length(), Some(1000));
    assert_eq!(h.header("accept-ranges"), Some("bytes"));
    assert!(h.header("content-range").is_none());
    let r = c.read_response();
    assert_eq!(r.body, HELLO);
}

#[test]
fn several_ranges_make_a_multipart_body() {
    let f = files();
    let mut c = f.fx.connect();
    for (data, target) in [(&f.small, "/small.bin"), (&f.big, "/big.bin")] {
        let n = data.len();
        // unordered, one overlapping pair, one suffix
        let r = c.request(&ranged(target, "bytes=500-599,0-9,-10,550-650"));
        r.assert_status(206);
        assert!(r.header("content-range").is_none());
        let got = parts(&r);
        let want = [(0, 9), (500, 650), (n - 10, n - 1)];
        assert_eq!(got.len(), want.len());
        for ((range, ctype, bytes), (first, last)) in got.iter().zip(want) {
            assert_eq!(range, &format!("bytes {first}-{last}/{n}"));
            assert_eq!(ctype, "application/octet-stream");
            assert!(bytes[..] == data[first..=last], "part {first}-{last}");
        }
        r.assert_no_connection_close();
    }
    // big parts through sendfile, each larger than one sendfile chunk
    let r = c.request(&ranged("/big.bin", "bytes=0-1048575,2097152-"));
    let got = parts(&r);
    assert_eq!(got.len(), 2);
    assert!(got[0].2 == f.big[..1_048_576]);
    assert!(got[1].2 == f.big[2_097_152..]);
    // HEAD of a multipart response: same length, no body
    c.send(&req("HEAD", "/big.bin", &[("Range", "bytes=0-9,20-29")]));
    let h = c.read_head_response();
    assert_eq!(h.status, 200, "Range is ignored on HEAD");
    expect_still_open(&mut c);
}

/// `--no-sendfile`: large files, single ranges and multipart bodies are copied through a buffer
/// and come out byte for byte the same, on a keep-alive connection.
#[test]
fn no_sendfile_sends_the_same_bytes() {
    let fx = start_basic(&["--no-sendfile"]);
    let big = pseudo_random(3 * 1024 * 1024 + 7, 12);
    write_file(fx.root.path(), "big.bin", &big);
    let mut c = fx.connect();
    let whole = c.request(&req("GET", "/big.bin", &[]));
    whole.assert_status(200).assert_no_connection_close();
    assert!(whole.body == big, "the whole file");
    let part = c.request(&ranged("/big.bin", "bytes=524287-2097152"));
    assert_partial(&part, &big, 524_287, 2_097_152);
    let r = c.request(&ranged("/big.bin", "bytes=0-1048575,2097152-"));
    let got = parts(&r);
    assert_eq!(got.len(), 2);
    assert!(got[0].2 == big[..1_048_576] && got[1].2 == big[2_097_152..]);
    c.request(&req("GET", "/hello.txt", &[])).assert_status(200);
}

#[test]
fn overlapping_and_adjacent_ranges_coalesce() {
    let f = files();
    let mut c = f.fx.connect();
    let r = c.request(&ranged("/small.bin", "bytes=0-9,10-19,5-14"));
    assert_partial(&r, &f.small, 0, 19);
    let r = c.request(&ranged("/small.bin", "bytes=100-199,0-,50-60"));
    assert_partial(&r, &f.small, 0, 999);
}

#[test]
fn apache_killer_gets_a_small_answer() {
    let f = files();
    let mut c = f.fx.connect();
    // `0-` followed by 1,300 overlapping ranges: one range, one copy of the file.
    let mut field = String::from("bytes=0-");
    for i in 0..1300 {
        field.push_str(&format!(",5-{}", 5 + i));
    }
    let r = c.request(&ranged("/big.bin", &field));
    assert_partial(&r, &f.big, 0, f.big.len() - 1);
    // 1,300 scattered one-byte ranges: more than the cap, so the whole file once with 200.
    let specs: Vec<String> = (0..1300).map(|i| format!("{0}-{0}", i * 2)).collect();
    let r = c.request(&ranged("/big.bin", &format!("bytes={}", specs.join(","))));
    r.assert_status(200);
    assert_eq!(r.content_length(), Some(f.big.len() as u64));
    expect_still_open(&mut c);
}

#[test]
fn range_count_cap_exactly_at_the_limit_and_one_over() {
    let f = files();
    let mut c = f.fx.connect();
    let specs = |n: usize| -> String {
        let v: Vec<String> = (0..n).map(|i| format!("{0}-{0}", i * 10)).collect();
        format!("bytes={}", v.join(","))
    };
    let r = c.request(&ranged("/small.bin", &specs(16)));
    r.assert_status(206);
    let got = parts(&r);
    assert_eq!(got.len(), 16);
    for (i, (range, _, bytes)) in got.iter().enumerate() {
        assert_eq!(range, &format!("bytes {0}-{0}/1000", i * 10));
        assert_eq!(bytes, &[f.small[i * 10]]);
    }
    let r = c.request(&ranged("/small.bin", &specs(17)));
    r.assert_status(200);
    assert!(r.body == f.small);
}

#[test]
fn if_range_decides_between_206_and_200() {
    let f = files();
    let root = f.fx.root.path();
    set_mtime(&root.join("small.bin"), 1_600_000_000);
    let mut c = f.fx.connect();
    let plain = c.request(&get("/small.bin"));
    let etag = plain.header("etag").unwrap().to_string();
    let date = plain.header("last-modified").unwrap().to_string();
    assert_eq!(date, "Sun, 13 Sep 2020 12:26:40 GMT");
    let with = |if_range: &str| {
        req(
            "GET",
            "/small.bin",
            &[("Range", "bytes=10-19"), ("If-Range", if_range)],
        )
    };

    assert_partial(&c.request(&with(&etag)), &f.small, 10, 19);
    assert_partial(&c.request(&with(&date)), &f.small, 10, 19);
    for stale in [
        "\"0-0-0\"".to_string(),
        format!("W/{etag}"),
        "Sun, 13 Sep 2020 12:26:41 GMT".to_string(),
        "not a date".to_string(),
    ] {
        let r = c.request(&with(&stale));
        r.assert_status(200);
        assert!(r.body == f.small, "If-Range {stale}");
    }
    // A file changed within the last second: its date cannot prove it did not change twice.
    write_file(root, "fresh.bin", &f.small);
    let fresh = c.request(&get("/fresh.bin"));
    let fresh_date = fresh.header("last-modified").unwrap().to_string();
    let r = c.request(&req(
        "GET",
        "/fresh.bin",
        &[("Range", "bytes=10-19"), ("If-Range", &fresh_date)],
    ));
    if SystemTime::now()
        .duration_since(httpdate::parse_http_date(&fresh_date).unwrap())
        .unwrap()
        < Duration::from_millis(900)
    {
        r.assert_status(200);
    }
    // After a change the old ETag no longer matches: the whole new file comes back.
    write_file(root, "small.bin", &f.big[..1000]);
    let r = c.request(&with(&etag));
    r.assert_status(200);
    assert!(r.body == f.big[..1000]);
}

#[test]
fn etags_are_strong_and_change_with_the_file() {
    let f = files();
    let root = f.fx.root.path();
    let mut c = f.fx.connect();
    let a = c.request(&get("/small.bin"));
    let b = c.request(&get("/small.bin"));
    let tag = a.header("etag").unwrap().to_string();
    assert!(
        tag.starts_with('"') && tag.ends_with('"') && tag.len() > 2,
        "{tag}"
    );
    assert_eq!(b.header("etag"), Some(tag.as_str()));
    check_imf_fixdate_any(a.header("last-modified").unwrap());
    // same size, new content, possibly the same second: nanoseconds still tell them apart
    std::thread::sleep(Duration::from_millis(5));
    write_file(root, "small.bin", &f.big[..1000]);
    let c2 = c.request(&get("/small.bin"));
    assert_ne!(c2.header("etag"), Some(tag.as_str()));
    // every file response but a 304 carries both validators: 200, 206, HEAD
    let r = c.request(&ranged("/small.bin", "bytes=0-0"));
    assert!(r.header("etag").is_some() && r.header("last-modified").is_some());
    c.send(&head("/big.bin"));
    let h = c.read_head_response();
    assert!(h.header("etag").is_some() && h.header("last-modified").is_some());
}

/// Like `check_imf_fixdate` without the "close to now" part.
fn check_imf_fixdate_any(s: &str) {
    let t = httpdate::parse_http_date(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
    assert_eq!(httpdate::fmt_http_date(t), s);
}

#[test]
fn if_none_match_and_if_modified_since_give_304() {
    let f = files();
    set_mtime(&f.fx.root.path().join("big.bin"), 1_600_000_000);
    let mut c = f.fx.connect();
    let plain = c.request(&get("/big.bin"));
    let etag = plain.header("etag").unwrap().to_string();
    let lm = plain.header("last-modified").unwrap().to_string();
    let cases: Vec<(Vec<(&str, String)>, u16)> = vec![
        (vec![("If-None-Match", etag.clone())], 304),
        (vec![("If-None-Match", format!("W/{etag}"))], 304),
        (vec![("If-None-Match", format!("\"x\", {etag}"))], 304),
        (vec![("If-None-Match", "*".into())], 304),
        (vec![("If-None-Match", "\"x\"".into())], 200),
        (vec![("If-Modified-Since", lm.clone())], 304),
        (
            vec![("If-Modified-Since", "Sun, 13 Sep 2020 12:26:41 GMT".into())],
            304,
        ),
        (
            vec![("If-Modified-Since", "Sunday, 13-Sep-20 12:26:40 GMT".into())],
            304,
        ),
        (
            vec![("If-Modified-Since", "Sun, 13 Sep 2020 12:26:39 GMT".into())],
            200,
        ),
        (vec![("If-Modified-Since", "garbage".into())], 200),
        // If-None-Match present: If-Modified-Since is not looked at
        (
            vec![
                ("If-None-Match", "\"x\"".into()),
                ("If-Modified-Since", lm.clone()),
            ],
            200,
        ),
    ];
    for (fields, status) in cases {
        let fields_ref: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
        c.send(&cat(&[
            &req("GET", "/big.bin", &fields_ref),
            &get("/hello.txt"),
        ]));
        let r = c.read_response();
        r.assert_status(status);
        if status == 304 {
            assert!(r.body.is_empty());
            assert!(r.header("content-length").is_none(), "{}", r.raw_head);
            assert_eq!(r.header("etag"), Some(etag.as_str()));
            // RFC 9110 section 15.4.5: beside an ETag, Last-Modified SHOULD NOT be sent.
            assert_eq!(r.header("last-modified"), None, "{}", r.raw_head);
        } else {
            assert!(r.body == f.big, "{fields:?}");
        }
        // the pipelined request behind it is answered in sync
        assert_eq!(c.read_response().body, HELLO, "{fields:?}");
    }
    // HEAD too
    c.send(&req("HEAD", "/big.bin", &[("If-None-Match", &etag)]));
    c.read_head_response().assert_status(304);
    expect_still_open(&mut c);
}

#[test]
fn if_match_and_if_unmodified_since_give_412() {
    let f = files();
    set_mtime(&f.fx.root.path().join("small.bin"), 1_600_000_000);
    let mut c = f.fx.connect();
    let etag = c
        .request(&get("/small.bin"))
        .header("etag")
        .unwrap()
        .to_string();
    let before = "Sun, 13 Sep 2020 12:26:39 GMT";
    let after = "Sun, 13 Sep 2020 12:26:41 GMT";
    let cases: Vec<(Vec<(&str, &str)>, u16)> = vec![
        (vec![("If-Match", &etag)], 200),
        (vec![("If-Match", "*")], 200),
        (vec![("If-Match", "\"nope\"")], 412),
        (vec![("If-Unmodified-Since", after)], 200),
        (vec![("If-Unmodified-Since", before)], 412),
        (vec![("If-Unmodified-Since", "nonsense")], 200),
        // 13.2.2 precedence: If-Match before If-None-Match, If-Unmodified-Since before IMS
        (
            vec![("If-Match", "\"nope\""), ("If-None-Match", &etag)],
            412,
        ),
        (
            vec![("If-Match", &etag), ("If-Unmodified-Since", before)],
            200,
        ),
        (
            vec![
                ("If-Unmodified-Since", before),
                ("If-Modified-Since", after),
            ],
            412,
        ),
        (vec![("If-Match", &etag), ("If-None-Match", &etag)], 304),
        // a failed precondition wins over a range
        (vec![("If-Match", "\"nope\""), ("Range", "bytes=0-1")], 412),
        (vec![("If-None-Match", &etag), ("Range", "bytes=0-1")], 304),
    ];
    for (fields, status) in cases {
        let r = c.request(&req("GET", "/small.bin", &fields));
        r.assert_status(status);
        if status == 412 {
            r.assert_no_connection_close();
        }
    }
    expect_still_open(&mut c);
}

#[test]
fn a_file_that_grows_during_a_slow_download_is_cut_at_its_advertised_length() {
    let fx = start_basic(&[]);
    let data = pseudo_random(24 * 1024 * 1024, 99);
    write_file(fx.root.path(), "device.log", &data);
    let mut c = fx.connect();
    c.send(&cat(&[&get("/device.log"), &get("/hello.txt")]));
    let r = c.read_response_head();
    r.assert_status(200);
    assert_eq!(r.content_length(), Some(data.len() as u64));
    let mut file = OpenOptions::new()
        .append(true)
        .open(fx.root.path().join("device.log"))
        .unwrap();
    let mut got = Vec::with_capacity(data.len());
    let mut appended = 0;
    // Read slowly, appending 1 MiB to the file after every 2 MiB received.
    let mut next_append = 0;
    c.stream_body(data.len() as u64, |piece| {
        got.extend_from_slice(piece);
        if got.len() >= next_append {
            file.write_all(&pseudo_random(1 << 20, appended + 1))
                .unwrap();
            appended += 1;
            next_append += 2 << 20;
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    assert!(
        appended >= 8,
        "the file grew during the download ({appended} MiB)"
    );
    assert!(
        got == data,
        "body differs from the file as it was when the request started"
    );
    // Nothing beyond the Content-Length: the next bytes are the pipelined response.
    let next = c.read_response();
    next.assert_status(200);
    assert_eq!(next.body, HELLO);
    // A new request sees the new length.
    c.send(&head("/device.log"));
    let h = c.read_head_response();
    assert_eq!(
        h.content_length(),
        Some(data.len() as u64 + (appended << 20))
    );
    drop(file);
    let mut whole = Vec::new();
    File::open(fx.root.path().join("device.log"))
        .unwrap()
        .read_to_end(&mut whole)
        .unwrap();
    assert!(whole.starts_with(&data));
}

#[test]
fn timestamps_before_1970_do_not_break_the_server() {
    let fx = start_basic(&[]);
    write_file(fx.root.path(), "dir/old.txt", b"old\n");
    let f = File::options()
        .write(true)
        .open(fx.root.path().join("dir/old.txt"))
        .unwrap();
    f.set_modified(UNIX_EPOCH - Duration::from_secs(10 * 365 * 86_400))
        .unwrap();
    let mut c = fx.connect();
    let r = c.request(&get("/dir/old.txt"));
    r.assert_status(200);
    assert_eq!(
        r.header("last-modified"),
        Some("Thu, 01 Jan 1970 00:00:00 GMT")
    );
    let r = c.request(&get("/dir/"));
    r.assert_status(200);
    assert!(r.body_str().contains("1960-01-04"), "{}", r.body_str());
    let r = c.request(&get("/dir/?format=json"));
    assert!(
        r.body_str().contains("\"1960-01-04T00:00:00Z\""),
        "{}",
        r.body_str()
    );
    expect_still_open(&mut c);
}

#[test]
fn device_files_get_ranges_validators_and_download_names() {
    let fx = start_basic(&[]);
    let mut c = fx.connect();
    for body in ["first record\n", "second record\n"] {
        let post = format!(
            "POST /devices/sensor-1 HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let r = c.request(post.as_bytes());
        assert!((200..300).contains(&r.status), "{}", r.raw_head);
    }
    let all = c.request(&get("/devices/sensor-1"));
    all.assert_status(200);
    assert_eq!(all.body, b"first record\nsecond record\n");
    let etag = all
        .header("etag")
        .expect("ETag on a device file")
        .to_string();
    let r = c.request(&ranged("/devices/sensor-1", "bytes=13-"));
    assert_partial(&r, &all.body, 13, all.body.len() - 1);
    let r = c.request(&req(
        "GET",
        "/devices/sensor-1",
        &[("If-None-Match", &etag)],
    ));
    r.assert_status(304);
    let r = c.request(&get("/devices/sensor-1?download"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"sensor-1.txt\"; filename*=UTF-8''sensor-1.txt"),
        "a device file downloads as ID.txt, so that it opens in an editor"
    );
    // A device is never precompressed: Accept-Encoding changes nothing.
    let r = c.request(&req(
        "GET",
        "/devices/sensor-1",
        &[("Accept-Encoding", "gzip, br")],
    ));
    assert!(r.header("content-encoding").is_none() && r.header("vary").is_none());
}
