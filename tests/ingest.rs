//! Device ingestion over real sockets (issue 4, README.md "URLs" and "Ack modes"): the POST
//! routes and the device-id rules; GET, HEAD, OPTIONS and 405 on `/devices/{id}`; the ack modes'
//! basic promise; store failures other than a full disk; and the ingest flags. Every check of
//! "nothing written" reads the data directory itself. Bodies, `Expect` and cut-short requests are
//! in ingest_bodies.rs, record framing in ingest_framing.rs.

mod common;

use common::ingest::*;
use common::*;

// ---------------------------------------------------------------------------------------------
// Routes and device ids
// ---------------------------------------------------------------------------------------------

#[test]
fn post_to_a_device_appends_the_body_and_answers_204() {
    let f = start_ingest(&[]);
    assert!(f.entries().is_empty(), "fresh data dir: {:?}", f.entries());
    let mut c = f.connect();
    // The POST and a GET pipelined: if the 204 carried a body, the GET's reply would not parse.
    c.send(&cat(&[
        &post("/devices/kitchen", b"t=21.5\n"),
        &get("/hello.txt"),
    ]));
    let r = c.read_response();
    r.assert_status(204).assert_no_connection_close();
    assert_eq!(r.reason, "No Content");
    let g = c.read_response();
    g.assert_status(200);
    assert_eq!(g.body, HELLO);
    assert_eq!(f.device("kitchen").as_deref(), Some(&b"t=21.5\n"[..]));
    // A second body is appended after the first, as a line of its own.
    post_ok(&mut c, &post("/devices/kitchen", b"t=21.7"));
    assert_eq!(
        f.device("kitchen").as_deref(),
        Some(&b"t=21.5\nt=21.7\n"[..])
    );
    assert_eq!(f.entries(), ["kitchen".to_string()].into());
}

/// Every route form and id rule of README.md: a valid id gets 204 and exactly the file of that
/// name; anything else gets 400, keeps the connection (the body is read and discarded), and
/// writes nothing at all.
#[test]
fn device_id_rules_for_every_post_route() {
    let z64 = "z".repeat(64);
    let z65 = "z".repeat(65);
    let path_ok: Vec<(String, String)> = [
        "a",
        "Z",
        "0",
        "-",
        "_",
        "a.",
        "x..y",
        "esp32-kitchen",
        "Sensor_01.v2",
        "A-Za-z0-9._-",
        &z64,
    ]
    .iter()
    .map(|id| (format!("/devices/{id}"), id.to_string()))
    .collect();
    let query_ok: Vec<(String, String)> = [
        ("/?device=q1", "q1"),
        ("/ingest?device=q2", "q2"),
        ("/ingest?x=1&device=q3&y=2", "q3"),
        ("/?device=sensor%2D7", "sensor-7"),
        ("/ingest?device=_.x", "_.x"),
    ]
    .iter()
    .map(|(t, id)| (t.to_string(), id.to_string()))
    .collect();
    let bad_path: Vec<String> = [
        "", ".", "..", ".hidden", &z65, "a%2Fb", "a%20b", "%2E%2E", "%C3%A9", "a:b", "a*b", "a~b",
        "a+b", "a,b", "a=b", "a@b", "a!b", "a;b", "(x)", "a/b", "x/", "x/y/z",
    ]
    .iter()
    .map(|id| format!("/devices/{id}"))
    .collect();
    let bad_query: Vec<String> = [
        "/ingest?device=",
        "/?device=",
        "/?device=..",
        "/?device=.x",
        "/ingest?device=a%2Fb",
        "/ingest?device=..%2F..%2Fetc%2Fpasswd",
        "/ingest?device=a%20b",
        "/?device=a+b",
        "/?device=a%3Ab",
        "/?device=%00",
    ]
    .iter()
    .map(ToString::to_string)
    .chain([format!("/ingest?device={z65}")])
    .collect();

    let f = start_ingest(&[]);
    for (target, id) in path_ok.iter().chain(&query_ok) {
        let before = f.entries();
        let body = format!("body for {target}\n");
        let mut c = f.connect();
        let r = c.request(&post(target, body.as_bytes()));
        assert_eq!(r.status, 204, "POST {target}:\n{}", r.raw_head);
        let mut want = before.clone();
        want.insert(id.clone());
        assert_eq!(
            f.entries(),
            want,
            "POST {target} must create exactly {id:?}"
        );
        assert_eq!(
            f.device(id).as_deref(),
            Some(body.as_bytes()),
            "POST {target}: contents of {id:?}"
        );
        expect_still_open(&mut c);
        // And the record reads back under the same id.
        let g = c.request(&get(&format!("/devices/{id}")));
        assert_eq!(g.status, 200, "GET /devices/{id}:\n{}", g.raw_head);
        assert_eq!(g.body, body.as_bytes(), "GET /devices/{id}");
    }
    for target in bad_path.iter().chain(&bad_query) {
        let before = f.entries();
        let mut c = f.connect();
        let r = c.request(&post(target, b"must not be stored\n"));
        assert_eq!(r.status, 400, "POST {target}:\n{}", r.raw_head);
        assert_eq!(f.entries(), before, "POST {target} wrote something");
        // The body was read and discarded: the connection still parses the next request.
        expect_still_open(&mut c);
        // And the same with a chunked body.
        let r = c.request(&post_chunked(target, &[b"must not", b" be stored\n"]));
        assert_eq!(r.status, 400, "chunked POST {target}:\n{}", r.raw_head);
        assert_eq!(f.entries(), before, "chunked POST {target} wrote something");
        expect_still_open(&mut c);
    }
}

/// `POST /` and `POST /ingest` without `?device=` store under the peer address (127.0.0.1).
#[test]
fn post_without_device_uses_the_peer_address() {
    let f = start_ingest(&[]);
    let mut c = f.connect();
    let mut want = Vec::new();
    for (i, target) in [
        "/ingest",
        "/",
        "/?other=1",
        "/ingest?devices=x",
        "/?Device=x",
    ]
    .iter()
    .enumerate()
    {
        let body = format!("{i}: {target}\n");
        post_ok(&mut c, &post(target, body.as_bytes()));
        want.extend_from_slice(body.as_bytes());
    }
    post_ok(&mut c, &post_chunked("/ingest", &[b"chunked ", b"too\n"]));
    want.extend_from_slice(b"chunked too\n");
    assert_eq!(f.entries(), ["127.0.0.1".to_string()].into());
    assert_eq!(f.device("127.0.0.1"), Some(want));
}

#[test]
fn ipv6_peer_address_id_replaces_colons_with_dashes() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        println!("SKIPPED: cannot bind [::1] (no IPv6 loopback here)");
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let root = basic_root();
    let args: Vec<String> = [
        "-l",
        "[::1]:0",
        "--data",
        data.path().to_str().unwrap(),
        root.path().to_str().unwrap(),
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    let server = Server::start_args(&args, 1);
    let mut c = server.connect();
    post_ok(&mut c, &post("/ingest", b"from ::1\n"));
    post_ok(&mut c, &post("/", b"again\n"));
    // A readable name (issue 16): every group of the address, never `--1`.
    assert_eq!(
        data_entries(data.path()),
        ["0-0-0-0-0-0-0-1".to_string()].into()
    );
    assert_eq!(
        read_device(data.path(), "0-0-0-0-0-0-0-1").as_deref(),
        Some(&b"from ::1\nagain\n"[..])
    );
}

#[test]
fn post_to_a_non_ingest_path_is_405_and_writes_nothing() {
    let f = start_ingest(&[]);
    let mut c = f.connect();
    for target in ["/hello.txt", "/other", "/ingest/x", "/devicesx"] {
        let r = c.request(&post(target, b"x=1\n"));
        r.assert_status(405).assert_no_connection_close();
        assert_allow_get_head(&r);
        assert!(!r.has_token("allow", "POST"), "{target}:\n{}", r.raw_head);
    }
    expect_still_open(&mut c);
    assert!(f.entries().is_empty(), "wrote {:?}", f.entries());
}

#[test]
fn default_data_dir_is_created_in_the_working_directory() {
    let root = basic_root();
    let server = Server::start(root.path(), &[]);
    let data = server.cwd().join("data");
    assert!(
        !data.exists(),
        "./data is made at the first record, not at start"
    );
    let mut c = server.connect();
    post_ok(&mut c, &post("/devices/d1", b"x\n"));
    assert_eq!(read_device(&data, "d1").as_deref(), Some(&b"x\n"[..]));
}

#[test]
fn missing_nested_data_dir_is_created() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("a/b/c");
    let f = start_ingest_in(&data, &[]);
    assert!(
        !parent.path().join("a").exists(),
        "nothing is made at start"
    );
    let mut c = f.connect();
    post_ok(&mut c, &post("/devices/d1", b"x\n"));
    assert_eq!(f.device("d1").as_deref(), Some(&b"x\n"[..]));
}

#[test]
fn http10_post_is_stored() {
    let f = start_ingest(&[]);
    let mut c = f.connect();
    let r = c.request(b"POST /devices/old HTTP/1.0\r\nContent-Length: 6\r\n\r\nv=1.0\n");
    r.assert_status(204);
    assert_eq!(f.device("old").as_deref(), Some(&b"v=1.0\n"[..]));
}

// ---------------------------------------------------------------------------------------------
// GET, HEAD, OPTIONS and other methods on /devices/{id}
// ---------------------------------------------------------------------------------------------

#[test]
fn get_and_head_serve_the_device_file_as_utf8_text() {
    let f = start_ingest(&[]);
    let mut c = f.connect();
    let body = "temp=21.5 °C\n".as_bytes();
    post_ok(&mut c, &post("/devices/served", body));
    let g = c.request(&get("/devices/served"));
    g.assert_status(200).assert_no_connection_close();
    assert_eq!(g.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(g.body, body);
    // HEAD then GET pipelined: HEAD has GET's length and no body.
    c.send(&cat(&[&head("/devices/served"), &get("/hello.txt")]));
    let h = c.read_head_response();
    h.assert_status(200);
    assert_eq!(h.content_length(), Some(body.len() as u64));
    assert_eq!(h.header("content-type"), Some("text/plain; charset=utf-8"));
    let g2 = c.read_response();
    assert_eq!(g2.body, HELLO);
    // A file larger than the small-file copy limit goes out whole too (the body is made of
    // lines, so that it is stored as it was sent).
    let big: Vec<u8> = pseudo_random(100_000, 3)
        .iter()
        .map(|&b| if b == b'\r' || b == b'\n' { b'\n' } else { b })
        .collect::<Vec<u8>>()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .flat_map(|l| l.iter().copied().chain([b'\n']))
        .collect();
    post_ok(&mut c, &post("/devices/served", &big));
    let g = c.request(&get("/devices/served"));
    g.assert_status(200);
    assert_eq!(g.content_length(), Some((body.len() + big.len()) as u64));
    assert_eq!(&g.body[..body.len()], body);
    assert_eq!(&g.body[body.len()..], &big[..]);
}

#[test]
fn get_and_head_of_an_unknown_device_are_404() {
    let f = start_ingest(&[]);
    let mut c = f.connect();
    let g = c.request(&get("/devices/nobody"));
    g.assert_status(404).assert_no_connection_close();
    c.send(&cat(&[&head("/devices/nobody"), &get("/hello.txt")]));
    let h = c.read_head_response();
    h.assert_status(404);
    assert_eq!(h.content_length(), g.content_length());
    assert_eq!(c.read_response().body, HELLO);
    // An invalid id is a 400, not a path into the data directory's parent.
    for target in ["/devices/..", "/devices/.hidden", "/devices/a%2Fb"] {
        let r = c.request(&get(target));
        r.assert_status(400).assert_no_connection_close();
    }
    assert!(f.entries().is_empty());
}

#[test]
fn options_on_a_device_is_204_with_allow() {
    let f = start_ingest(&[]);
    let mut c = f.connect();
    for target in ["/devices/any", "/devices/nobody-yet"] {
        let r = c.request(format!("OPTIONS {target} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes());
        r.assert_status(204).assert_no_connection_close();
        assert_eq!(r.header("allow"), Some("GET, HEAD, POST, OPTIONS"));
    }
    assert!(f.entries().is_empty());
}

#[test]
fn other_methods_on_a_device_are_405_with_allow_and_write_nothing() {
    let f = start_ingest(&[]);
    let mut c = f.connect();
    post_ok(&mut c, &post("/devices/m", b"kept\n"));
    for method in ["PUT", "DELETE", "PATCH"] {
        // With a body: it is read and discarded, never stored.
        let raw = format!(
            "{method} /devices/m HTTP/1.1\r\nHost: test\r\nContent-Length: 9\r\n\r\noverwrite"
        );
        let r = c.request(raw.as_bytes());
        r.assert_status(405).assert_no_connection_close();
        assert_eq!(
            r.header("allow"),
            Some("GET, HEAD, POST, OPTIONS"),
            "{method}"
        );
        let raw = format!("{method} /devices/new HTTP/1.1\r\nHost: test\r\n\r\n");
        let r = c.request(raw.as_bytes());
        r.assert_status(405);
        assert_eq!(
            r.header("allow"),
            Some("GET, HEAD, POST, OPTIONS"),
            "{method}"
        );
    }
    expect_still_open(&mut c);
    assert_eq!(f.device("m").as_deref(), Some(&b"kept\n"[..]));
    assert_eq!(f.entries(), ["m".to_string()].into());
}

// ---------------------------------------------------------------------------------------------
// --ack modes, basic behaviour (ordering, crash and sync tests have their own files)
// ---------------------------------------------------------------------------------------------

#[test]
fn every_ack_mode_stores_and_serves_acknowledged_records() {
    for mode in ["write", "fsync", "buffer"] {
        let f = start_ingest(&["--ack", mode]);
        let mut c = f.connect();
        let mut want = Vec::new();
        for i in 0..5 {
            let body = format!("{mode} {i}\n");
            post_ok(&mut c, &post("/devices/mode", body.as_bytes()));
            want.extend_from_slice(body.as_bytes());
            // Read-your-writes in every mode.
            let g = c.request(&get("/devices/mode"));
            g.assert_status(200);
            assert_eq!(g.body, want, "--ack {mode}: GET after record {i}");
        }
        if mode != "buffer" {
            // write and fsync acknowledge after the write: the file already has everything.
            assert_eq!(f.device("mode"), Some(want), "--ack {mode}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Store failures other than a full disk
// ---------------------------------------------------------------------------------------------

#[test]
fn a_device_whose_file_cannot_be_opened_gets_500_never_2xx() {
    let data = tempfile::tempdir().unwrap();
    // A directory where the device file would be: opening it for appending fails (EISDIR).
    std::fs::create_dir(data.path().join("blocked")).unwrap();
    let f = start_ingest_in(data.path(), &[]);
    let mut c = f.connect();
    for raw in [
        post("/devices/blocked", b"x=1\n"),
        post_chunked("/devices/blocked", &[b"x=", b"2\n"]),
    ] {
        let r = c.request(&raw);
        r.assert_status(500).assert_no_connection_close();
    }
    // Other devices and reads are unaffected, on the same connection.
    post_ok(&mut c, &post("/devices/fine", b"ok\n"));
    expect_still_open(&mut c);
    assert_eq!(f.device("fine").as_deref(), Some(&b"ok\n"[..]));
    let g = c.request(&get("/devices/blocked"));
    assert_eq!(g.status, 404, "GET of a directory device:\n{}", g.raw_head);
    assert!(data.path().join("blocked").is_dir());
    assert_eq!(
        std::fs::read_dir(data.path().join("blocked"))
            .unwrap()
            .count(),
        0
    );
}

// ---------------------------------------------------------------------------------------------
// Ingest flags on the command line
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_ingest_flags_and_unusable_data_dirs_end_the_process_with_one_line() {
    let root = basic_root();
    let file = root.path().join("hello.txt");
    let r = root.path().to_str().unwrap();
    let f = file.to_str().unwrap();
    let cases: [(&[&str], i32, &str); 6] = [
        (&["--ack", "sometimes"], 2, "--ack"),
        (&["--max-pending", "1X"], 2, "--max-pending"),
        (&["--min-free=-1"], 2, "--min-free"),
        (&["--max-body", "lots"], 2, "--max-body"),
        (&["--data", f], 1, f),
        (
            &["--data", "/proc/nonexistent/data"],
            1,
            "/proc/nonexistent/data",
        ),
    ];
    for (flags, code, names) in cases {
        let mut args = vec!["-l", "127.0.0.1:0"];
        args.extend_from_slice(flags);
        args.push(r);
        let out = run_to_exit(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{flags:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{flags:?}: {stderr}");
        assert!(stderr.contains(names), "{flags:?} must be named: {stderr}");
        assert!(out.stdout.is_empty(), "{flags:?} printed {:?}", out.stdout);
    }
}

/// Issue 16: MAC addresses, as ESP32 projects name boards, are device ids; every spelling names
/// one device, stored under a portable file name (no `:`), and a bad id's 400 states the rule.
#[test]
fn mac_addresses_are_device_ids_in_any_spelling() {
    let f = start_ingest(&[]);
    let mut c = f.connect();
    post_ok(&mut c, &post("/devices/a4:cf:12:0b:9e:01", b"t=1"));
    post_ok(&mut c, &post("/devices/A4-CF-12-0B-9E-01", b"t=2"));
    assert_eq!(
        data_entries(&f.data),
        ["A4-CF-12-0B-9E-01".to_string()].into()
    );
    let r = c.request(&get("/devices/A4:CF:12:0B:9E:01"));
    r.assert_status(200);
    assert_eq!(r.body, b"t=1\nt=2\n");
    let r = c.request(&post("/devices/a:b", b"t=3"));
    r.assert_status(400);
    assert!(
        r.body_str().contains("AA:BB:CC:DD:EE:FF") && r.body_str().contains("A-Z a-z 0-9"),
        "{}",
        r.body_str()
    );
}
