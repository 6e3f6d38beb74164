//! `GET /api/devices` (the dashboard's data as JSON), `GET /healthz`, and the HTML pages built on
//! them (`GET /devices`, the home page). Field names and types are part of the documented
//! interface (README.md), so they are checked one by one.

mod common;
mod sse;

use common::*;
use serde_json::Value;
use sse::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Every field of a device object, sorted.
fn device_fields() -> Vec<&'static str> {
    let mut v = vec![
        "id",
        "bytes",
        "records",
        "counting",
        "first_seen",
        "last_seen",
        "last_addr",
        "rate_per_minute",
        "last_hour",
        "data_url",
        "live_url",
        "values",
    ];
    v.sort_unstable();
    v
}

/// A server with a `--data` directory the test owns (to restart on the same files).
fn start_with_data(data: &std::path::Path, root: &std::path::Path, extra: &[&str]) -> Server {
    let mut args = vec!["--data", data.to_str().unwrap()];
    args.extend_from_slice(extra);
    Server::start(root, &args)
}

/// Parses `YYYY-MM-DDTHH:MM:SS.mmmZ` (the only form the API uses) into a time.
#[track_caller]
fn rfc3339_millis(s: &str) -> SystemTime {
    let b = s.as_bytes();
    let shape = b.len() == 24
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z'
        && [0..4, 5..7, 8..10, 11..13, 14..16, 17..19, 20..23]
            .iter()
            .all(|r| b[r.clone()].iter().all(u8::is_ascii_digit));
    assert!(shape, "not YYYY-MM-DDTHH:MM:SS.mmmZ: {s:?}");
    let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap();
    let (y, mo, d) = (n(0..4), n(5..7), n(8..10));
    assert!((1..=12).contains(&mo) && (1..=31).contains(&d), "{s:?}");
    assert!(n(11..13) < 24 && n(14..16) < 60 && n(17..19) < 61, "{s:?}");
    // Days from the civil date (proleptic Gregorian), after H. Hinnant's algorithm.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19);
    UNIX_EPOCH + Duration::from_secs(secs as u64) + Duration::from_millis(n(20..23) as u64)
}

#[track_caller]
fn near(a: SystemTime, b: SystemTime, tolerance: Duration) -> bool {
    let d = a.duration_since(b).unwrap_or_else(|e| e.duration());
    d <= tolerance
}

/// Checks the types of one device object and returns its `last_hour` sum.
#[track_caller]
fn check_device_shape(d: &Value) -> u64 {
    let obj = d.as_object().expect("device is an object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, device_fields(), "fields of {d}");
    let id = d["id"].as_str().expect("id is a string");
    assert!(d["bytes"].is_u64(), "bytes: {d}");
    assert!(d["records"].is_u64(), "records: {d}");
    assert!(d["counting"].is_boolean(), "counting: {d}");
    assert!(d["values"].is_object(), "values: {d}");
    for f in ["first_seen", "last_seen"] {
        match &d[f] {
            Value::Null => {}
            Value::String(s) => {
                rfc3339_millis(s);
            }
            other => panic!("{f} is {other}"),
        }
    }
    assert!(
        d["last_addr"].is_null() || d["last_addr"].is_string(),
        "last_addr: {d}"
    );
    let rate = d["rate_per_minute"].as_f64().expect("rate is a number");
    assert!(rate >= 0.0 && rate.is_finite(), "{d}");
    let hour = d["last_hour"].as_array().expect("last_hour array");
    assert_eq!(hour.len(), 60, "last_hour has 60 minutes: {d}");
    assert!(
        hour.iter().all(Value::is_u64),
        "last_hour entries are counts: {d}"
    );
    let last5: u64 = hour[55..].iter().map(|v| v.as_u64().unwrap()).sum();
    assert!(
        (rate - last5 as f64 / 5.0).abs() < 1e-9,
        "rate_per_minute is the last five minutes' records / 5: {d}"
    );
    assert_eq!(d["data_url"], format!("/devices/{id}"));
    assert_eq!(d["live_url"], format!("/devices/{id}/live"));
    hour.iter().map(|v| v.as_u64().unwrap()).sum()
}

#[track_caller]
fn check_document(doc: &Value, ack: &str) {
    let obj = doc.as_object().expect("a JSON object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["ack", "count", "devices", "now"], "{doc}");
    let now = rfc3339_millis(doc["now"].as_str().expect("now is a string"));
    assert!(
        near(now, SystemTime::now(), Duration::from_secs(60)),
        "now is about now: {doc}"
    );
    assert_eq!(doc["ack"], ack);
    let devices = doc["devices"].as_array().expect("devices array");
    assert_eq!(doc["count"].as_u64(), Some(devices.len() as u64));
    let ids: Vec<&str> = devices.iter().map(|d| d["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "devices sorted by id");
}

#[test]
fn no_devices_yet() {
    let f = start_basic(&[]);
    let doc = get_json(&f.server, "/api/devices");
    check_document(&doc, "write");
    assert_eq!(doc["count"], 0);
    assert_eq!(doc["devices"], serde_json::json!([]));
}

#[test]
fn devices_after_posts_have_exact_counts_bytes_and_times() {
    let root = basic_root();
    let data = tempfile::tempdir().unwrap();
    let server = start_with_data(data.path(), root.path(), &[]);
    let t0 = SystemTime::now();
    let mut c = server.connect();
    let kitchen: [&[u8]; 3] = [b"t=21.5\n", b"t=21.6\n", b"t=21.8 h=40\n"];
    for b in kitchen {
        post_record(&mut c, "kitchen", b);
    }
    // Stored as lines: the missing final line break is added (one byte more).
    let garage: [&[u8]; 2] = [b"door=open\n", b"door=closed\n"];
    post_record(&mut c, "garage.01", b"door=open");
    post_record(&mut c, "garage.01", b"door=closed\n");
    let t1 = SystemTime::now();
    let doc = get_json(&server, "/api/devices");
    check_document(&doc, "write");
    assert_eq!(doc["count"], 2);
    assert_eq!(doc["devices"][0]["id"], "garage.01");
    assert_eq!(doc["devices"][1]["id"], "kitchen");
    for (id, bodies) in [("kitchen", &kitchen[..]), ("garage.01", &garage[..])] {
        let d = device(&doc, id);
        let hour_sum = check_device_shape(d);
        let bytes: usize = bodies.iter().map(|b| b.len()).sum();
        assert_eq!(d["bytes"].as_u64(), Some(bytes as u64), "{d}");
        assert_eq!(d["records"].as_u64(), Some(bodies.len() as u64), "{d}");
        assert_eq!(
            hour_sum,
            bodies.len() as u64,
            "last_hour counts this process's records"
        );
        assert_eq!(d["last_addr"], "127.0.0.1");
        let first = rfc3339_millis(d["first_seen"].as_str().unwrap());
        let last = rfc3339_millis(d["last_seen"].as_str().unwrap());
        let slack = Duration::from_millis(1);
        assert!(first <= last, "{d}");
        assert!(
            first + slack >= t0 && last <= t1 + slack,
            "first/last seen during the posts: {d}"
        );
        // The data URL serves exactly `bytes` bytes.
        let r = fetch(&server, d["data_url"].as_str().unwrap());
        r.assert_status(200);
        assert_eq!(r.body, bodies.concat());
        assert_eq!(
            std::fs::metadata(data.path().join(id)).unwrap().len(),
            bytes as u64
        );
    }
    // Rate over the last five minutes: every record was posted just now.
    assert_eq!(device(&doc, "kitchen")["rate_per_minute"], 3.0 / 5.0);
}

#[test]
fn ack_mode_is_reported() {
    for mode in ["fsync", "buffer", "write"] {
        let f = start_basic(&["--ack", mode]);
        check_document(&get_json(&f.server, "/api/devices"), mode);
    }
}

#[test]
fn restart_restores_bytes_records_and_times_from_the_files() {
    let root = basic_root();
    let data = tempfile::tempdir().unwrap();
    let before = {
        let mut server = start_with_data(data.path(), root.path(), &[]);
        let mut c = server.connect();
        for i in 0..5 {
            post_record(&mut c, "kitchen", format!("t=2{i}.0\n").as_bytes());
        }
        post_record(&mut c, "garage", b"door=open\n");
        let doc = get_json(&server, "/api/devices");
        server.signal(nix::sys::signal::Signal::SIGTERM);
        let st = server
            .wait_exit(IO_TIMEOUT)
            .expect("server exits on SIGTERM");
        assert!(st.success(), "{st:?}");
        doc
    };
    let server = start_with_data(data.path(), root.path(), &[]);
    // Records are counted in the background after start; nothing is forgotten once that is done.
    let after = api_devices_counted(&server, None);
    check_document(&after, "write");
    assert_eq!(after["count"], 2);
    for id in ["garage", "kitchen"] {
        let (b, a) = (device(&before, id), device(&after, id));
        check_device_shape(a);
        assert_eq!(a["bytes"], b["bytes"], "{id}: bytes from the file size");
        assert_eq!(a["records"], b["records"], "{id}: records from the lines");
        assert!(
            a["last_addr"].is_null(),
            "no address known after a restart: {a}"
        );
        // Times from the file's metadata: within a second or two of what the first run saw.
        for f in ["first_seen", "last_seen"] {
            let (tb, ta) = (
                rfc3339_millis(b[f].as_str().unwrap()),
                rfc3339_millis(a[f].as_str().unwrap()),
            );
            assert!(near(ta, tb, Duration::from_secs(2)), "{id} {f}: {b} vs {a}");
        }
        assert_eq!(
            a["last_hour"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .sum::<u64>(),
            0,
            "last_hour counts this process's records only"
        );
    }
    // New records add to the restored counts.
    let mut c = server.connect();
    post_record(&mut c, "kitchen", b"t=30.0\n");
    let doc = get_json(&server, "/api/devices");
    let k = device(&doc, "kitchen");
    assert_eq!(k["records"], 6);
    assert_eq!(k["bytes"], 5 * 7 + 7);
    assert_eq!(k["last_addr"], "127.0.0.1");
    assert_eq!(check_device_shape(k), 1);
}

#[test]
fn api_devices_head_and_methods() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    let g = c.request(&get("/api/devices"));
    g.assert_status(200).assert_no_connection_close();
    c.send(&head("/api/devices"));
    let h = c.read_head_response();
    h.assert_status(200);
    assert_eq!(h.header("content-type"), Some("application/json"));
    assert_eq!(h.content_length(), g.content_length());
    expect_still_open(&mut c);
}

// ---------------------------------------------------------------------------------------------
// /healthz
// ---------------------------------------------------------------------------------------------

#[test]
fn healthz_is_ok_while_accepting() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    let r = c.request(&get("/healthz"));
    r.assert_status(200);
    assert_eq!(r.body, b"ok\n");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    c.send(&head("/healthz"));
    let h = c.read_head_response();
    h.assert_status(200);
    assert_eq!(h.content_length(), Some(3));
}

#[test]
fn healthz_is_503_when_ingest_refuses_work() {
    let f = start_basic(&["--min-free", "1000000G"]);
    let mut c = f.connect();
    let r = c.request(&get("/healthz"));
    r.assert_status(503);
    assert_eq!(r.body, b"ingest refusing work\n");
    // And ingest does refuse.
    let p = c.request(&post("/devices/kitchen", b"t=1\n"));
    assert_eq!(p.status, 503, "{}", p.raw_head);
}

#[test]
fn healthz_is_503_while_shutting_down() {
    let mut f = start_basic(&[]);
    // A request in flight: half a head, finished after the signal.
    let mut c = f.connect();
    c.send(b"GET /healthz HTTP/1.1\r\n");
    // An idle keep-alive connection: the server closes it when the shutdown starts, which tells
    // us when the signal has been handled.
    let mut idle = f.connect();
    expect_still_open(&mut idle);
    std::thread::sleep(Duration::from_millis(100));
    f.server.signal(nix::sys::signal::Signal::SIGTERM);
    let w = idle.wait_for_close(IO_TIMEOUT);
    assert!(w.closed, "idle connection closed at shutdown");
    c.send(b"Host: t\r\n\r\n");
    let r = c.read_response();
    r.assert_status(503).assert_connection_close();
    assert_eq!(r.body, b"shutting down\n");
    let st = f.server.wait_exit(IO_TIMEOUT).expect("exits");
    assert!(st.success());
}

// ---------------------------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------------------------

#[test]
fn dashboard_is_self_contained_html_using_the_api() {
    let f = start_basic(&[]);
    let r = fetch(&f.server, "/devices");
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let html = r.body_str();
    assert!(html.contains("/api/devices") && html.contains("/api/live"));
    assert!(html.contains("name=\"viewport\""), "good on a phone");
    for external in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "@import",
        "url(http",
    ] {
        assert!(
            !html.contains(external),
            "external asset ({external}) in the dashboard"
        );
    }
    let live = fetch(&f.server, "/devices/kitchen/live");
    live.assert_status(200);
    assert!(!live.body_str().contains("src=\"http"));
}

#[test]
fn home_page_lists_devices_above_the_root_listing() {
    let root = root();
    write_file(root.path(), "notes.txt", b"n\n");
    let data = tempfile::tempdir().unwrap();
    let server = start_with_data(data.path(), root.path(), &[]);
    let mut c = server.connect();
    post_record(&mut c, "kitchen", b"t=1\n");
    post_record(&mut c, "garage", b"d=0\n");
    let r = fetch(&server, "/");
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let html = r.body_str();
    let devices = html
        .find("/devices/kitchen/live")
        .expect("kitchen in the summary");
    assert!(html.contains("/devices/garage/live"), "{html}");
    assert!(html.contains("href=\"/devices\""), "link to the dashboard");
    // Counts read as English: one record, four bytes; then the latest values.
    assert!(
        html.contains(">kitchen</a> 1 record, 4 bytes: t = <b>1</b><"),
        "{html}"
    );
    post_record(&mut c, "garage", b"d=1\n");
    let html = fetch(&server, "/").body_str();
    assert!(
        html.contains(">garage</a> 2 records, 8 bytes: d = <b>1</b><"),
        "{html}"
    );
    let listing = html.find("notes.txt").expect("ROOT listing");
    assert!(devices < listing, "the devices come before the listing");
    // With an index.html, ROOT's own page wins.
    let f = start_basic(&[]);
    assert_eq!(fetch(&f.server, "/").body, INDEX_HTML);
}

/// The README's first command serves `examples/site`: its page leads to the dashboard.
#[test]
fn the_example_site_links_to_the_dashboard() {
    let site = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/site");
    let data = tempfile::tempdir().unwrap();
    let server = start_with_data(data.path(), &site, &[]);
    let r = fetch(&server, "/");
    r.assert_status(200);
    assert!(
        r.body_str().contains("href=\"/devices\""),
        "{}",
        r.body_str()
    );
    fetch(&server, "/devices").assert_status(200);
}
