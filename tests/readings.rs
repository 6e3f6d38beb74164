//! Readings (README.md, "Readings"): every record shape posted and read back as latest values
//! from `/api/devices`, as a series (JSON, CSV, per minute) and as `/metrics` gauges; the bounds
//! hit exactly; readings after a restart.

mod common;
mod sse;

use common::ingest::*;
use sse::{device, fetch, get_json, post_record};

fn latest(doc: &serde_json::Value, id: &str, field: &str) -> f64 {
    device(doc, id)["values"][field]["value"]
        .as_f64()
        .unwrap_or_else(|| panic!("no value of {id}.{field}: {doc}"))
}

#[test]
fn every_shape_gives_latest_values_and_the_file_keeps_the_bytes() {
    let f = start_ingest(&[]);
    let mut c = f.connect();
    let posts: [(&str, &[u8]); 5] = [
        (
            "json",
            br#"{"t": 21.5, "env": {"co2": 415}, "ok": true, "name": "x"}"#,
        ),
        (
            "influx",
            b"weather,device=k temp=82,rain=2i,note=\"a b\" 1465839830100400200",
        ),
        ("pairs", b"t=21.5&h=40 room=kitchen"),
        ("number", b"-3.25"),
        ("text", b"hello world"),
    ];
    for (id, body) in posts {
        post_record(&mut c, id, body);
    }
    post_record(&mut c, "pairs", b"t=22.5;h=41");
    let doc = get_json(&f.server, "/api/devices");
    assert_eq!(latest(&doc, "json", "t"), 21.5);
    assert_eq!(latest(&doc, "json", "env.co2"), 415.0);
    assert_eq!(latest(&doc, "json", "ok"), 1.0);
    assert_eq!(latest(&doc, "influx", "weather.temp"), 82.0);
    assert_eq!(latest(&doc, "influx", "weather.rain"), 2.0);
    assert_eq!(latest(&doc, "pairs", "t"), 22.5);
    assert_eq!(latest(&doc, "pairs", "h"), 41.0);
    assert_eq!(latest(&doc, "number", "value"), -3.25);
    assert_eq!(device(&doc, "text")["values"], serde_json::json!({}));
    let names: Vec<&String> = device(&doc, "json")["values"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(names, ["t", "env.co2", "ok"], "in the order they appeared");
    let t = &device(&doc, "pairs")["values"]["t"];
    assert!(t["age_seconds"].as_f64().unwrap() >= 0.0, "{t}");
    assert_eq!(t["time"].as_str().unwrap().len(), 24, "{t}");
    // Parsing never changes what is stored.
    assert_eq!(
        f.device("pairs").unwrap(),
        b"t=21.5&h=40 room=kitchen\nt=22.5;h=41\n"
    );
    assert_eq!(f.device("number").unwrap(), b"-3.25\n");
}

#[test]
fn a_series_in_json_csv_and_minutes() {
    let f = start_ingest(&[]);
    let mut c = f.connect();
    for v in [1.5, 2.5, 4.0] {
        post_record(&mut c, "k", format!("t={v}").as_bytes());
    }
    let doc = get_json(&f.server, "/api/devices/k/series?field=t");
    assert_eq!(doc["device"], "k");
    assert_eq!(doc["field"], "t");
    assert_eq!(doc["resolution"], "raw");
    let points = doc["points"].as_array().unwrap();
    let values: Vec<f64> = points.iter().map(|p| p[1].as_f64().unwrap()).collect();
    assert_eq!(values, [1.5, 2.5, 4.0]);
    let times: Vec<i64> = points.iter().map(|p| p[0].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // since= keeps what came at or after it.
    let since = |ms: i64| {
        format!(
            "/api/devices/k/series?field=t&since={}.{:03}",
            ms / 1000,
            ms % 1000
        )
    };
    let doc = get_json(&f.server, &since(times[2] + 1));
    assert_eq!(doc["points"].as_array().unwrap().len(), 0, "{doc}");
    let doc = get_json(&f.server, &since(times[2]));
    let kept = times.iter().filter(|&&t| t >= times[2]).count();
    assert_eq!(doc["points"].as_array().unwrap().len(), kept, "{doc}");
    let doc = get_json(&f.server, "/api/devices/k/series?field=t&since=-3600");
    assert_eq!(doc["points"].as_array().unwrap().len(), 3, "{doc}");

    let r = fetch(&f.server, "/api/devices/k/series?field=t&format=csv");
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    let csv = r.body_str();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "time,value");
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(lines[3].ends_with("Z,4"), "{csv}");

    let doc = get_json(&f.server, "/api/devices/k/series?field=t&resolution=minute");
    let minutes = doc["points"].as_array().unwrap();
    // Three posts within a test may straddle a minute boundary.
    let counts: u64 = minutes.iter().map(|m| m[4].as_u64().unwrap()).sum();
    assert_eq!(counts, 3, "{doc}");
    let min = minutes
        .iter()
        .map(|m| m[1].as_f64().unwrap())
        .fold(f64::MAX, f64::min);
    let max = minutes
        .iter()
        .map(|m| m[3].as_f64().unwrap())
        .fold(f64::MIN, f64::max);
    assert_eq!((min, max), (1.5, 4.0));

    for (target, status) in [
        ("/api/devices/k/series", 400),
        ("/api/devices/k/series?field=t&since=yesterday", 400),
        ("/api/devices/k/series?field=t&format=xml", 400),
        ("/api/devices/k/series?field=t&resolution=hour", 400),
        ("/api/devices/k/series?field=nope", 404),
        ("/api/devices/nobody/series?field=t", 404),
        ("/api/devices/bad%20id/series?field=t", 400),
    ] {
        assert_eq!(fetch(&f.server, target).status, status, "{target}");
    }
    let r = fetch(&f.server, "/api/devices/k/series");
    assert!(r.body_str().contains("?field=NAME"), "{}", r.body_str());
}

#[test]
fn metrics_export_latest_values_within_max_series() {
    let f = start_ingest(&["--max-series", "2"]);
    let mut c = f.connect();
    post_record(&mut c, "a", b"t=21.5 h=40");
    post_record(&mut c, "b", br#"{"x": 1, "y": 2}"#);
    let r = fetch(&f.server, "/metrics");
    r.assert_status(200);
    let text = r.body_str();
    assert!(
        text.contains("sluice_device_value{device=\"a\",field=\"t\"} 21.5\n"),
        "{text}"
    );
    assert!(
        text.contains("sluice_device_value{device=\"a\",field=\"h\"} 40\n"),
        "{text}"
    );
    assert!(!text.contains("device=\"b\""), "past --max-series: {text}");
    // b has no room for any field: its record is not read.
    assert!(
        text.contains("sluice_device_value_records_untracked_total 1\n"),
        "{text}"
    );
    assert!(
        text.contains("sluice_device_value_fields_dropped_total 0\n"),
        "{text}"
    );
    // A third field of a: read, and dropped.
    post_record(&mut c, "a", b"t=22 p=1000");
    let text = fetch(&f.server, "/metrics").body_str();
    assert!(
        text.contains("sluice_device_value_fields_dropped_total 1\n"),
        "{text}"
    );
    assert!(
        text.contains("sluice_device_value{device=\"a\",field=\"t\"} 22\n"),
        "{text}"
    );
    assert!(text.contains("sluice_device_value_age_seconds{device=\"a\",field=\"t\"} "));
    assert!(text.contains("# TYPE sluice_device_value gauge\n"));
}

#[test]
fn max_fields_and_max_value_devices_are_hit_exactly() {
    let f = start_ingest(&["--max-fields", "2", "--max-value-devices", "1"]);
    let mut c = f.connect();
    post_record(&mut c, "a", b"x=1 y=2 z=3");
    post_record(&mut c, "b", b"x=1");
    let doc = get_json(&f.server, "/api/devices");
    let a = device(&doc, "a")["values"].as_object().unwrap().len();
    assert_eq!(a, 2);
    assert_eq!(device(&doc, "b")["values"], serde_json::json!({}));
    // Stored all the same.
    assert_eq!(f.device("b").unwrap(), b"x=1\n");
}

#[test]
fn readings_come_back_after_a_restart() {
    let data = tempfile::tempdir().unwrap();
    {
        let f = start_ingest_in(data.path(), &["--timestamp"]);
        let mut c = f.connect();
        post_record(&mut c, "timed", b"t=1");
        post_record(&mut c, "timed", b"t=2");
    }
    {
        let f = start_ingest_in(data.path(), &[]);
        let mut c = f.connect();
        post_record(&mut c, "plain", b"t=5");
        post_record(&mut c, "plain", b"t=6");
    }
    let f = start_ingest_in(data.path(), &[]);
    let doc = get_json(&f.server, "/api/devices");
    assert_eq!(latest(&doc, "timed", "t"), 2.0);
    assert_eq!(latest(&doc, "plain", "t"), 6.0);
    // With --timestamp the history survives; without, only the latest value does.
    let timed = get_json(&f.server, "/api/devices/timed/series?field=t");
    assert_eq!(timed["points"].as_array().unwrap().len(), 2, "{timed}");
    let plain = get_json(&f.server, "/api/devices/plain/series?field=t");
    assert_eq!(plain["points"].as_array().unwrap().len(), 0, "{plain}");
    // The metrics have them too.
    let text = fetch(&f.server, "/metrics").body_str();
    assert!(
        text.contains("sluice_device_value{device=\"plain\",field=\"t\"} 6\n"),
        "{text}"
    );
}

#[test]
fn the_pages_render_readings_without_javascript() {
    let f = start_ingest(&["--timestamp"]);
    let mut c = f.connect();
    post_record(&mut c, "k", b"t=21.5 h=40");
    post_record(&mut c, "k", br#"{"t": 22, "<b>x</b>": 1}"#);
    post_record(&mut c, "quiet", b"hello");
    let page = fetch(&f.server, "/devices").body_str();
    assert!(page.contains("<a href=\"/devices/k/live\">k</a>"), "{page}");
    assert!(page.contains("t = <b>22</b>"), "{page}");
    assert!(page.contains("h = <b>40</b>"), "{page}");
    assert!(
        page.contains("&lt;b&gt;x&lt;/b&gt; = <b>1</b>"),
        "field names are escaped"
    );
    assert!(!page.contains("<b>x</b>"), "{page}");
    assert!(page.contains("<p id=\"empty\" hidden>"), "{page}");
    assert!(page.contains("(2)"), "{page}");

    let r = fetch(&f.server, "/devices/k/live");
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let page = r.body_str();
    assert!(page.contains("<dt>t</dt><dd><b>22</b>"), "{page}");
    assert_eq!(page.matches("<svg class=\"chart\"").count(), 3, "{page}");
    assert!(page.contains("<polyline points=\""), "{page}");
    // The last records, newest first, each with its --timestamp time.
    let first = page.find("{&quot;t&quot;: 22").expect("newest record");
    let second = page.find("t=21.5 h=40").expect("older record");
    assert!(first < second, "newest first");
    assert!(page.contains("<li><time datetime=\""), "{page}");
    // 24 hours: per-minute means with their band.
    let day = fetch(&f.server, "/devices/k/live?range=24h").body_str();
    assert!(day.contains("<polygon class=\"band\""), "{day}");
    assert!(day.contains("<b>24 hours</b>"), "{day}");
    assert_eq!(fetch(&f.server, "/devices/k/live?range=week").status, 400);
    // A device without readings, and one never seen.
    let quiet = fetch(&f.server, "/devices/quiet/live").body_str();
    assert!(quiet.contains("No readings yet"), "{quiet}");
    assert!(quiet.contains("hello"), "{quiet}");
    // The home page (ROOT without index.html) lists the devices with their first values.
    std::fs::remove_file(f.root.path().join("index.html")).unwrap();
    let home = fetch(&f.server, "/").body_str();
    assert!(home.contains(">k</a> 2 records"), "{home}");
    assert!(home.contains(": t = <b>22</b> · h = <b>40</b>"), "{home}");
    let none = fetch(&f.server, "/devices/nobody/live");
    none.assert_status(200);
    assert!(none.body_str().contains("no records yet"));
}

#[test]
fn a_clean_restart_keeps_the_history_of_undated_records() {
    let data = tempfile::tempdir().unwrap();
    let before = {
        let mut f = start_ingest_in(data.path(), &[]);
        let mut c = f.connect();
        for v in [1, 2, 3] {
            post_record(&mut c, "k", format!("t={v}").as_bytes());
        }
        let before = get_json(&f.server, "/api/devices/k/series?field=t");
        f.server.signal(nix::sys::signal::Signal::SIGTERM);
        let status = f
            .server
            .wait_exit(common::IO_TIMEOUT)
            .expect("exits on SIGTERM");
        assert!(status.success(), "{status:?}");
        before
    };
    assert!(data.path().join(".sluice-readings").exists());
    let f = start_ingest_in(data.path(), &[]);
    let after = get_json(&f.server, "/api/devices/k/series?field=t");
    assert_eq!(after, before, "the same points at the same times");
    assert_eq!(after["points"].as_array().unwrap().len(), 3);
    // The snapshot is not a device.
    let doc = get_json(&f.server, "/api/devices");
    assert_eq!(doc["count"], 1, "{doc}");
}
