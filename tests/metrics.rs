//! `GET /metrics`: every line of the exposition is parsed against the Prometheus text format
//! (version 0.0.4): `# HELP` / `# TYPE` lines, sample lines with label syntax and escapes, float
//! values, families grouped and typed before their samples, histogram buckets cumulative and
//! ending in `+Inf` equal to `_count`. Then the counters are checked to move by exactly what the
//! test did.

mod common;
mod sse;

use common::*;
use sse::*;
use std::collections::{BTreeMap, HashSet};
use std::net::{SocketAddr, TcpStream};

// ---------------------------------------------------------------------------------------------
// The exposition parser
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

#[derive(Debug, Default)]
struct Family {
    name: String,
    help: Option<String>,
    kind: Option<String>,
    samples: Vec<Sample>,
}

#[derive(Debug, Default)]
struct Exposition {
    families: Vec<Family>,
}

impl Exposition {
    fn family(&self, name: &str) -> &Family {
        self.families
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no metric family {name}"))
    }

    /// The value of the sample `name` with exactly `labels` (in any order).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let mut want: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        want.sort();
        self.families
            .iter()
            .flat_map(|f| &f.samples)
            .find(|s| {
                let mut have = s.labels.clone();
                have.sort();
                s.name == name && have == want
            })
            .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
            .value
    }
}

fn is_metric_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

fn is_label_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// A sample value: a Go-style float, `NaN`, `+Inf` or `-Inf`.
fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ if s
            .bytes()
            .all(|c| c.is_ascii_digit() || b"+-.eE".contains(&c)) =>
        {
            s.parse().ok()
        }
        _ => None,
    }
}

/// Parses `{name="value",...}` at the start of `s`; returns the labels and the rest.
fn parse_labels(s: &str, line: &str) -> (Vec<(String, String)>, String) {
    let mut labels = Vec::new();
    let mut rest = s.strip_prefix('{').unwrap();
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return (labels, r.to_string());
        }
        let eq = rest
            .find('=')
            .unwrap_or_else(|| panic!("label without '=': {line:?}"));
        let name = &rest[..eq];
        assert!(is_label_name(name), "bad label name {name:?}: {line:?}");
        assert!(!name.starts_with("__"), "reserved label name: {line:?}");
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .unwrap_or_else(|| panic!("label value not quoted: {line:?}"));
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => panic!("bad escape {other:?} in label value: {line:?}"),
                },
                Some((i, '"')) => break i,
                Some((_, '\n')) => panic!("newline in label value: {line:?}"),
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value: {line:?}"),
            }
        };
        assert!(
            !labels.iter().any(|(n, _)| n == name),
            "label {name} repeated: {line:?}"
        );
        labels.push((name.to_string(), value));
        rest = &rest[end + 1..];
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else {
            assert!(rest.starts_with('}'), "expected ',' or '}}': {line:?}");
        }
    }
}

/// The family a sample belongs to: histogram samples end in `_bucket`, `_sum`, `_count`.
fn family_of<'a>(sample: &'a str, families: &[Family]) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = sample.strip_suffix(suffix) {
            if families
                .iter()
                .any(|f| f.name == base && f.kind.as_deref() == Some("histogram"))
            {
                return base;
            }
        }
    }
    sample
}

/// Parses and validates a whole exposition; panics with the offending line on any violation.
/// Stricter than the format in one way: sluice declares a TYPE for every family, so a sample
/// without one is an error here.
fn parse_exposition(text: &str) -> Exposition {
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    let mut exp = Exposition::default();
    let mut closed: HashSet<String> = HashSet::new(); // families whose lines have ended
    let mut seen_series: HashSet<String> = HashSet::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        assert!(!line.contains('\r'), "CR in {line:?}");
        let (name, what) = if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let keyword = parts.next().unwrap();
            if keyword != "HELP" && keyword != "TYPE" {
                continue; // a comment
            }
            let name = parts.next().unwrap_or_default();
            assert!(is_metric_name(name), "bad metric name: {line:?}");
            let arg = parts
                .next()
                .unwrap_or_else(|| panic!("{keyword} without text: {line:?}"));
            if keyword == "TYPE" {
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&arg),
                    "unknown type: {line:?}"
                );
            } else {
                // Docstring escapes: only \\ and \n.
                let mut chars = arg.chars();
                while let Some(c) = chars.next() {
                    if c == '\\' {
                        assert!(
                            matches!(chars.next(), Some('\\' | 'n')),
                            "bad escape in HELP: {line:?}"
                        );
                    }
                }
            }
            (
                name.to_string(),
                Some((keyword.to_string(), arg.to_string())),
            )
        } else {
            assert!(!line.starts_with('#'), "comment without a space: {line:?}");
            (String::new(), None)
        };
        if let Some((keyword, arg)) = what {
            if exp.families.last().map(|f| &f.name) != Some(&name) {
                assert!(
                    !closed.contains(&name),
                    "family {name} continues after other families: {line:?}"
                );
                if let Some(prev) = exp.families.last() {
                    closed.insert(prev.name.clone());
                }
                exp.families.push(Family {
                    name: name.clone(),
                    ..Family::default()
                });
            }
            let fam = exp.families.last_mut().unwrap();
            assert!(fam.samples.is_empty(), "{keyword} after samples: {line:?}");
            let slot = if keyword == "HELP" {
                &mut fam.help
            } else {
                &mut fam.kind
            };
            assert!(slot.is_none(), "second {keyword} for {name}: {line:?}");
            *slot = Some(arg);
            continue;
        }
        // A sample: name, optional labels, value, optional timestamp.
        let name_end = line
            .find(['{', ' '])
            .unwrap_or_else(|| panic!("sample without value: {line:?}"));
        let sample_name = &line[..name_end];
        assert!(is_metric_name(sample_name), "bad sample name: {line:?}");
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..], line)
        } else {
            (Vec::new(), line[name_end..].to_string())
        };
        let rest = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("no space before the value: {line:?}"));
        let mut fields = rest.split(' ');
        let value = fields.next().and_then(parse_value);
        let value = value.unwrap_or_else(|| panic!("value is not a float: {line:?}"));
        if let Some(ts) = fields.next() {
            assert!(
                ts.trim_start_matches('-')
                    .bytes()
                    .all(|c| c.is_ascii_digit()),
                "bad timestamp: {line:?}"
            );
        }
        assert!(fields.next().is_none(), "trailing fields: {line:?}");
        let family = family_of(sample_name, &exp.families).to_string();
        let fam = exp
            .families
            .last_mut()
            .filter(|f| f.name == family)
            .unwrap_or_else(|| {
                panic!("sample outside its family's block (no TYPE first?): {line:?}")
            });
        assert!(fam.kind.is_some(), "sample before TYPE: {line:?}");
        let mut key_labels = labels.clone();
        key_labels.sort();
        assert!(
            seen_series.insert(format!("{sample_name}{key_labels:?}")),
            "duplicate series: {line:?}"
        );
        fam.samples.push(Sample {
            name: sample_name.to_string(),
            labels,
            value,
        });
    }
    for fam in &exp.families {
        check_family(fam);
    }
    exp
}

/// Type-specific rules: counters are non-negative; histograms have cumulative buckets ending in
/// `+Inf`, whose count equals `_count`, and a `_sum`.
fn check_family(fam: &Family) {
    let kind = fam.kind.as_deref().unwrap_or("untyped");
    assert!(
        !fam.samples.is_empty(),
        "family {} has no samples",
        fam.name
    );
    match kind {
        "counter" => {
            for s in &fam.samples {
                assert_eq!(s.name, fam.name, "counter sample name");
                assert!(s.value >= 0.0 && s.value.is_finite(), "{s:?}");
            }
        }
        "gauge" => {
            for s in &fam.samples {
                assert_eq!(s.name, fam.name, "gauge sample name");
            }
        }
        "histogram" => {
            // Group by the labels other than `le`.
            let mut groups: BTreeMap<String, Vec<&Sample>> = BTreeMap::new();
            for s in &fam.samples {
                let mut key: Vec<&(String, String)> =
                    s.labels.iter().filter(|(n, _)| n != "le").collect();
                key.sort();
                groups.entry(format!("{key:?}")).or_default().push(s);
            }
            for (key, samples) in groups {
                let buckets: Vec<&&Sample> = samples
                    .iter()
                    .filter(|s| s.name == format!("{}_bucket", fam.name))
                    .collect();
                assert!(!buckets.is_empty(), "{} {key}: no buckets", fam.name);
                let mut prev_le = f64::NEG_INFINITY;
                let mut prev_count = 0.0;
                for b in &buckets {
                    let le = b
                        .labels
                        .iter()
                        .find(|(n, _)| n == "le")
                        .map(|(_, v)| parse_value(v).unwrap_or_else(|| panic!("le {v:?}")))
                        .unwrap_or_else(|| panic!("bucket without le: {b:?}"));
                    assert!(le > prev_le, "{}: le not increasing at {b:?}", fam.name);
                    assert!(
                        b.value >= prev_count,
                        "{}: buckets not cumulative at {b:?}",
                        fam.name
                    );
                    assert_eq!(b.value.fract(), 0.0, "bucket counts are integers: {b:?}");
                    prev_le = le;
                    prev_count = b.value;
                }
                assert_eq!(prev_le, f64::INFINITY, "{}: last bucket is +Inf", fam.name);
                let count = samples
                    .iter()
                    .find(|s| s.name == format!("{}_count", fam.name))
                    .unwrap_or_else(|| panic!("{}: no _count", fam.name));
                assert_eq!(
                    count.value, prev_count,
                    "{}: +Inf bucket == _count",
                    fam.name
                );
                let sum = samples
                    .iter()
                    .find(|s| s.name == format!("{}_sum", fam.name))
                    .unwrap_or_else(|| panic!("{}: no _sum", fam.name));
                assert!(sum.value >= 0.0, "{}: _sum {sum:?}", fam.name);
                if count.value == 0.0 {
                    assert_eq!(sum.value, 0.0, "{}: empty histogram with a sum", fam.name);
                }
            }
        }
        _ => {}
    }
}

fn scrape(server: &Server) -> (Exposition, Response) {
    let r = fetch(server, "/metrics");
    r.assert_status(200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = String::from_utf8(r.body.clone()).expect("UTF-8 exposition");
    (parse_exposition(&text), r)
}

/// The raw length of a response as it came over the wire.
fn wire_len(r: &Response) -> usize {
    r.raw_head.len() + r.body.len()
}

#[test]
fn parser_rejects_what_the_format_forbids() {
    let ok = "# HELP a_total A \\\\ help.\n# TYPE a_total counter\na_total{x=\"q\\\"\\n\",y=\"\"} 1 1700000000000\n\
              # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n";
    parse_exposition(ok);
    let bad = [
        "a 1",                                               // no final newline
        "# TYPE a counter\na one\n",                         // value
        "a 1\n",                                             // no TYPE
        "# TYPE a counter\na{x=y} 1\n",                      // unquoted label
        "# TYPE a counter\na{1x=\"y\"} 1\n",                 // label name
        "# TYPE a counter\na 1\n# TYPE b gauge\nb 1\na 2\n", // family interleaved
        "# TYPE a counter\na -1\n",                          // negative counter
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", // no +Inf
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
        "# TYPE a counter\na 1\na 2\n", // duplicate series
        "# TYPE a counter\n# TYPE a counter\na 1\n", // second TYPE
    ];
    for text in bad {
        let r = std::panic::catch_unwind(|| parse_exposition(text));
        assert!(r.is_err(), "accepted: {text:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// The server's exposition
// ---------------------------------------------------------------------------------------------

const COUNTERS: [&str; 8] = [
    "sluice_requests_total",
    "sluice_received_bytes_total",
    "sluice_sent_bytes_total",
    "sluice_connections_accepted_total",
    "sluice_connections_refused_total",
    "sluice_records_total",
    "sluice_ingested_bytes_total",
    "sluice_live_dropped_total",
];
const GAUGES: [&str; 6] = [
    "sluice_up",
    "sluice_connections_open",
    "sluice_devices",
    "sluice_device_files_open",
    "sluice_unsynced_bytes",
    "sluice_live_subscribers",
];
const HISTOGRAMS: [&str; 3] = [
    "sluice_commit_batch_records",
    "sluice_commit_seconds",
    "sluice_fsync_seconds",
];

#[test]
fn exposition_is_well_formed_and_complete() {
    let f = start_basic(&[]);
    // Some traffic first, so that no histogram is trivially empty.
    let mut c = f.connect();
    post_record(&mut c, "kitchen", b"t=1\n");
    c.request(&get("/nope")).assert_status(404);
    let _live = EventStream::open(f.server.addr(), "/devices/kitchen/live", &[]);
    let (exp, _) = scrape(&f.server);
    for (names, kind) in [
        (&COUNTERS[..], "counter"),
        (&GAUGES[..], "gauge"),
        (&HISTOGRAMS[..], "histogram"),
    ] {
        for name in names {
            let fam = exp.family(name);
            assert_eq!(fam.kind.as_deref(), Some(kind), "{name}");
            assert!(
                fam.help.as_deref().is_some_and(|h| !h.is_empty()),
                "{name} HELP"
            );
        }
    }
    // Requests by method and status class: every combination is exposed, even at zero.
    let req = exp.family("sluice_requests_total");
    for method in ["GET", "HEAD", "POST", "other"] {
        for class in ["1xx", "2xx", "3xx", "4xx", "5xx"] {
            let v = exp.value(
                "sluice_requests_total",
                &[("method", method), ("class", class)],
            );
            assert_eq!(v.fract(), 0.0);
        }
    }
    assert_eq!(req.samples.len(), 20);
    assert_eq!(exp.value("sluice_up", &[]), 1.0);
    assert_eq!(exp.value("sluice_devices", &[]), 1.0);
    assert_eq!(exp.value("sluice_live_subscribers", &[]), 1.0);
    assert!(exp.value("sluice_connections_open", &[]) >= 2.0);
    assert_eq!(exp.value("sluice_records_total", &[]), 1.0);
    assert_eq!(exp.value("sluice_commit_batch_records_count", &[]), 1.0);
    assert_eq!(exp.value("sluice_commit_batch_records_sum", &[]), 1.0);
    assert_eq!(exp.value("sluice_commit_seconds_count", &[]), 1.0);
    assert_eq!(exp.value("sluice_fsync_seconds_count", &[]), 0.0);
}

#[test]
fn counters_move_by_exactly_what_was_done() {
    let f = start_basic(&[]);
    let (before, first) = scrape(&f.server);
    let mut c = f.connect();
    let bodies: Vec<(&str, Vec<u8>)> = (0..7)
        .map(|i| {
            let dev = if i % 3 == 0 { "garage" } else { "kitchen" };
            (dev, format!("reading {i} {}\n", "v".repeat(i)).into_bytes())
        })
        .collect();
    let mut sent = 0; // request bytes on `c`
    let mut answered = 0; // response bytes on `c`
    for (dev, body) in &bodies {
        let req = post(&format!("/devices/{dev}"), body);
        sent += req.len();
        let r = c.request(&req);
        assert!(r.status / 100 == 2);
        answered += wire_len(&r);
    }
    for (req, status) in [(get("/hello.txt"), 200), (get("/nope"), 404)] {
        sent += req.len();
        let r = c.request(&req);
        r.assert_status(status);
        answered += wire_len(&r);
    }
    let h = head("/hello.txt");
    sent += h.len();
    c.send(&h);
    let r = c.read_head_response();
    r.assert_status(200);
    answered += r.raw_head.len();
    let odd = b"PROPFIND /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n";
    sent += odd.len();
    let r = c.request(odd);
    r.assert_status(501);
    answered += wire_len(&r);

    let scrape_req = b"GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".len();
    let (after, _) = scrape(&f.server);
    let d = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    let record_bytes: usize = bodies.iter().map(|(_, b)| b.len()).sum();
    assert_eq!(d("sluice_records_total", &[]), 7.0);
    assert_eq!(d("sluice_ingested_bytes_total", &[]), record_bytes as f64);
    let req = |m: &str, c: &str| d("sluice_requests_total", &[("method", m), ("class", c)]);
    assert_eq!(req("POST", "2xx"), 7.0);
    // The first scrape and /hello.txt (each scrape counts either itself or its predecessor).
    assert_eq!(req("GET", "2xx"), 2.0);
    assert_eq!(req("GET", "4xx"), 1.0);
    assert_eq!(req("HEAD", "2xx"), 1.0);
    assert_eq!(req("other", "5xx"), 1.0);
    let total: f64 = ["GET", "HEAD", "POST", "other"]
        .iter()
        .flat_map(|m| ["1xx", "2xx", "3xx", "4xx", "5xx"].map(|c| req(m, c)))
        .sum();
    assert_eq!(total, 12.0, "no other request was counted");
    // Connections: `c` and the second scrape's.
    assert_eq!(d("sluice_connections_accepted_total", &[]), 2.0);
    assert_eq!(d("sluice_connections_refused_total", &[]), 0.0);
    // Bytes in: everything `c` sent and the second scrape's request.
    assert_eq!(
        d("sluice_received_bytes_total", &[]),
        (sent + scrape_req) as f64
    );
    // Bytes out: the first scrape's response (written after it was rendered) and `c`'s.
    assert_eq!(
        d("sluice_sent_bytes_total", &[]),
        (wire_len(&first) + answered) as f64
    );
    // Group commit: every record is in exactly one batch; one write per batch.
    assert_eq!(d("sluice_commit_batch_records_sum", &[]), 7.0);
    let batches = d("sluice_commit_batch_records_count", &[]);
    assert!((2.0..=7.0).contains(&batches), "{batches} device writes");
    assert_eq!(d("sluice_commit_seconds_count", &[]), batches);
    assert!(d("sluice_commit_seconds_sum", &[]) > 0.0);
    assert_eq!(d("sluice_fsync_seconds_count", &[]), 0.0);
    assert_eq!(after.value("sluice_devices", &[]), 2.0);
    // `c` and the scrape's own; the first scrape's may still be closing.
    let open = after.value("sluice_connections_open", &[]);
    assert!((2.0..=3.0).contains(&open), "{open} connections open");
}

#[test]
fn fsync_latency_is_recorded_in_fsync_mode() {
    let f = start_basic(&["--ack", "fsync"]);
    let mut c = f.connect();
    for i in 0..3 {
        post_record(&mut c, "disk", format!("{i}\n").as_bytes());
    }
    let (exp, _) = scrape(&f.server);
    let syncs = exp.value("sluice_fsync_seconds_count", &[]);
    assert!((1.0..=3.0).contains(&syncs), "{syncs} fsyncs for 3 records");
    assert!(exp.value("sluice_fsync_seconds_sum", &[]) > 0.0);
    assert_eq!(
        exp.value("sluice_unsynced_bytes", &[]),
        0.0,
        "fsync acks durable bytes"
    );
}

#[test]
fn refused_connections_are_counted() {
    // Admit 127.0.0.1 only, then connect from 127.0.0.2 (also loopback on Linux).
    let f = start_basic(&["--allow", "127.0.0.1/32"]);
    let addr = f.server.addr();
    for _ in 0..3 {
        use socket2::{Domain, Socket, Type};
        let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let from: SocketAddr = "127.0.0.2:0".parse().unwrap();
        sock.bind(&from.into()).expect("bind 127.0.0.2");
        sock.connect_timeout(&addr.into(), IO_TIMEOUT).unwrap();
        let mut c = Client::from_stream(TcpStream::from(sock));
        c.send(&get("/hello.txt"));
        let w = c.wait_for_close(IO_TIMEOUT);
        assert!(w.closed, "a refused client is disconnected");
    }
    assert!(wait_until(IO_TIMEOUT, || metric(
        &f.server,
        "sluice_connections_refused_total"
    ) == 3.0));
}

#[test]
fn live_subscribers_gauge_follows_streams() {
    let f = start_basic(&[]);
    let a = EventStream::open(f.server.addr(), "/devices/x/live", &[]);
    let b = EventStream::open(f.server.addr(), "/api/live", &[]);
    assert_eq!(metric(&f.server, "sluice_live_subscribers"), 2.0);
    drop(a);
    assert!(wait_until(IO_TIMEOUT, || metric(
        &f.server,
        "sluice_live_subscribers"
    ) == 1.0));
    drop(b);
    assert!(wait_until(IO_TIMEOUT, || metric(
        &f.server,
        "sluice_live_subscribers"
    ) == 0.0));
}
