//! Process-wide counters and histograms, exposed at `GET /metrics` in the Prometheus text format
//! (version 0.0.4). Atomics, because the fsync thread records latencies too; on the reactor
//! thread an update is one uncontended relaxed add.
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A monotonically increasing count.
pub struct Counter(AtomicU64);

impl Counter {
    pub const fn new() -> Self {
        Counter(AtomicU64::new(0))
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

impl Default for Counter {
    fn default() -> Self {
        Self::new()
    }
}

/// A histogram with fixed bucket bounds.
pub struct Histogram {
    bounds: &'static [f64],
    /// `counts[i]`: observations `<= bounds[i]`, not cumulative; the last slot is `+Inf`.
    counts: [AtomicU64; 16],
    sum_bits: AtomicU64,
}

impl Histogram {
    /// `bounds` must be increasing and at most 15 long.
    pub const fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: [const { AtomicU64::new(0) }; 16],
            sum_bits: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        let slot = self
            .bounds
            .iter()
            .position(|&b| value <= b)
            .unwrap_or(self.bounds.len());
        self.counts[slot.min(15)].fetch_add(1, Relaxed);
        let _ = self.sum_bits.fetch_update(Relaxed, Relaxed, |bits| {
            Some((f64::from_bits(bits) + value).to_bits())
        });
    }

    fn write(&self, out: &mut Vec<u8>, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, bound) in self.bounds.iter().enumerate() {
            cumulative += self.counts[i].load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.counts[self.bounds.len().min(15)].load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let sum = f64::from_bits(self.sum_bits.load(Relaxed));
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {cumulative}");
    }
}

const LATENCY_BOUNDS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5,
];
const BATCH_BOUNDS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// Methods counted separately; everything else is `other`.
const METHODS: [&str; 4] = ["GET", "HEAD", "POST", "other"];

/// Requests by method and status class.
pub static REQUESTS: [[Counter; 5]; 4] = [const { [const { Counter::new() }; 5] }; 4];
pub static BYTES_RECEIVED: Counter = Counter::new();
pub static BYTES_SENT: Counter = Counter::new();
pub static CONNECTIONS_ACCEPTED: Counter = Counter::new();
pub static CONNECTIONS_REFUSED: Counter = Counter::new();
pub static CONNECTIONS_EVICTED: Counter = Counter::new();
pub static RECORDS_INGESTED: Counter = Counter::new();
pub static BYTES_INGESTED: Counter = Counter::new();
pub static LIVE_DROPPED: Counter = Counter::new();
/// Records per device write (group commit batch size).
pub static COMMIT_RECORDS: Histogram = Histogram::new(BATCH_BOUNDS);
/// Duration of one device write.
pub static COMMIT_SECONDS: Histogram = Histogram::new(LATENCY_BOUNDS);
/// Duration of one `fdatasync`.
pub static FSYNC_SECONDS: Histogram = Histogram::new(LATENCY_BOUNDS);

/// Counts one answered request.
pub fn count_request(method: &str, status: u16) {
    let m = METHODS[..3].iter().position(|&m| m == method).unwrap_or(3);
    let class = usize::from((status / 100).clamp(1, 5)) - 1;
    REQUESTS[m][class].add(1);
}

/// Values that are read from the server's state at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    pub connections_open: u64,
    pub devices: u64,
    pub device_files_open: u64,
    pub unsynced_bytes: u64,
    pub live_subscribers: u64,
}

/// Writes the whole exposition.
pub fn render(out: &mut Vec<u8>, gauges: &Gauges) {
    let _ = writeln!(
        out,
        "# HELP sluice_requests_total Requests answered, by method and status class.\n\
         # TYPE sluice_requests_total counter"
    );
    for (m, method) in METHODS.iter().enumerate() {
        for (c, counter) in REQUESTS[m].iter().enumerate() {
            let _ = writeln!(
                out,
                "sluice_requests_total{{method=\"{method}\",class=\"{}xx\"}} {}",
                c + 1,
                counter.get()
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP sluice_up 1 while the server answers.\n# TYPE sluice_up gauge\nsluice_up 1"
    );
    let counters: [(&str, &str, &Counter); 8] = [
        (
            "sluice_received_bytes_total",
            "Bytes read from clients.",
            &BYTES_RECEIVED,
        ),
        (
            "sluice_sent_bytes_total",
            "Bytes written to clients.",
            &BYTES_SENT,
        ),
        (
            "sluice_connections_accepted_total",
            "Connections accepted.",
            &CONNECTIONS_ACCEPTED,
        ),
        (
            "sluice_connections_refused_total",
            "Connections refused at admission or by a cap.",
            &CONNECTIONS_REFUSED,
        ),
        (
            "sluice_connections_evicted_total",
            "Idle connections closed at --max-connections to make room for a new one.",
            &CONNECTIONS_EVICTED,
        ),
        (
            "sluice_records_total",
            "Device records stored.",
            &RECORDS_INGESTED,
        ),
        (
            "sluice_ingested_bytes_total",
            "Bytes stored in device files.",
            &BYTES_INGESTED,
        ),
        (
            "sluice_live_dropped_total",
            "Live subscribers dropped for falling behind.",
            &LIVE_DROPPED,
        ),
    ];
    for (name, help, counter) in counters {
        let value = counter.get();
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
    render_gauges(out, gauges);
    COMMIT_RECORDS.write(
        out,
        "sluice_commit_batch_records",
        "Records per device write (group commit).",
    );
    COMMIT_SECONDS.write(
        out,
        "sluice_commit_seconds",
        "Duration of one device write.",
    );
    FSYNC_SECONDS.write(out, "sluice_fsync_seconds", "Duration of one fdatasync.");
}

/// The gauges the caller read for this exposition.
fn render_gauges(out: &mut Vec<u8>, gauges: &Gauges) {
    let gauges: [(&str, &str, u64); 5] = [
        (
            "sluice_connections_open",
            "Connections open now.",
            gauges.connections_open,
        ),
        ("sluice_devices", "Devices known.", gauges.devices),
        (
            "sluice_device_files_open",
            "Device files open now.",
            gauges.device_files_open,
        ),
        (
            "sluice_unsynced_bytes",
            "Acknowledged bytes not yet durable under the ack mode.",
            gauges.unsynced_bytes,
        ),
        (
            "sluice_live_subscribers",
            "Live-view subscribers now.",
            gauges.live_subscribers,
        ),
    ];
    for (name, help, value) in gauges {
        write_family(out, (name, "gauge"), help, value);
    }
}

/// One family of a single sample without labels: its HELP and TYPE (`kind`) lines, then
/// `name value`.
pub fn write_family(
    out: &mut Vec<u8>,
    (name, kind): (&str, &str),
    help: &str,
    value: impl std::fmt::Display,
) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        static H: Histogram = Histogram::new(&[1.0, 10.0]);
        for v in [0.5, 1.0, 5.0, 50.0] {
            H.observe(v);
        }
        let mut out = Vec::new();
        H.write(&mut out, "h", "test");
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("h_bucket{le=\"1\"} 2\n"), "{text}");
        assert!(text.contains("h_bucket{le=\"10\"} 3\n"), "{text}");
        assert!(text.contains("h_bucket{le=\"+Inf\"} 4\n"), "{text}");
        assert!(text.contains("h_sum 56.5\nh_count 4\n"), "{text}");
    }

    #[test]
    fn exposition_lines_are_well_formed() {
        count_request("GET", 200);
        count_request("PROPFIND", 501);
        let mut out = Vec::new();
        render(&mut out, &Gauges::default());
        let text = String::from_utf8(out).unwrap();
        for line in text.lines() {
            if line.starts_with('#') {
                assert!(
                    line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                    "{line}"
                );
                continue;
            }
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(name.starts_with("sluice_"), "{line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
        assert!(text.contains("sluice_requests_total{method=\"other\",class=\"5xx\"}"));
    }
}
