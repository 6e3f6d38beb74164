//! The dashboard and the per-device live page in a real browser: headless Chromium (driven over
//! the DevTools protocol, `browser/cdp.rs`) loads them while a thread posts readings to a few
//! devices. The DOM must show the devices and the live records, the console must stay free of
//! errors, and screenshots are kept in `target/browser-test/` (`dashboard.png`,
//! `dashboard-phone.png`, `live.png`) as evidence.
//!
//! Skipped, with a message, when Chromium is not installed, unless `SLUICE_REQUIRE_BROWSER=1`
//! (as in `tests/browser.rs`).

#[allow(dead_code)] // this test uses part of the harness only
#[path = "browser/cdp.rs"]
mod cdp;
mod common;
mod sse;

use base64::Engine;
use common::*;
use serde_json::{json, Value};
use sse::*;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Longest wait for the browser to start, a protocol reply, or a page condition.
const STEP: Duration = Duration::from_secs(30);

const DEVICES: [&str; 3] = ["kitchen", "garage.01", "greenhouse"];

/// Posts a reading to each device in turn every `gap` until stopped (also on drop, so a failing
/// test does not leave it running). The records posted so far are in `posted`.
struct Poster {
    stop: Arc<AtomicBool>,
    posted: Arc<Mutex<Vec<(String, String)>>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Poster {
    fn start(server: &Server, gap: Duration, run_for: Duration) -> Poster {
        let stop = Arc::new(AtomicBool::new(false));
        let posted = Arc::new(Mutex::new(Vec::new()));
        let addr = server.addr();
        let (s, p) = (stop.clone(), posted.clone());
        let thread = thread::spawn(move || {
            let mut c = Client::connect(addr);
            let end = Instant::now() + run_for;
            let mut seq = 0u32;
            while !s.load(Ordering::Relaxed) && Instant::now() < end {
                let device = DEVICES[seq as usize % DEVICES.len()];
                let record = format!("temp={}.{} seq={seq}", 18 + seq % 7, seq % 10);
                post_record(&mut c, device, format!("{record}\n").as_bytes());
                p.lock().unwrap().push((device.to_string(), record));
                seq += 1;
                thread::sleep(gap);
            }
        });
        Poster {
            stop,
            posted,
            thread: Some(thread),
        }
    }

    fn posted(&self) -> Vec<(String, String)> {
        self.posted.lock().unwrap().clone()
    }

    fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("poster thread");
        }
    }
}

impl Drop for Poster {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `target/browser-test`, for the screenshots.
fn output_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(&tmp).join("browser-test");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One page (a target attached with a flat session) of a headless browser.
struct Page {
    b: cdp::Browser,
    session: String,
}

impl Page {
    fn open(chromium: &Path) -> Page {
        let mut b = cdp::Browser::launch(chromium, STEP);
        let target = b.call(
            None,
            "Target.createTarget",
            json!({"url": "about:blank"}),
            STEP,
        );
        let attached = b.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
            STEP,
        );
        let session = attached["sessionId"].as_str().unwrap().to_string();
        let mut page = Page { b, session };
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            page.call(domain, json!({}));
        }
        page
    }

    #[track_caller]
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.b.call(Some(&self.session), method, params, STEP)
    }

    #[track_caller]
    fn eval(&mut self, expr: &str) -> Value {
        self.b.eval(&self.session, expr, STEP)
    }

    /// Polls the boolean expression `expr` every 100 ms until it is true or `within` passes.
    fn wait_for(&mut self, expr: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.eval(expr) == Value::Bool(true) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Navigates to `url` and waits until that document has loaded. Events of earlier pages are
    /// discarded (check them first).
    #[track_caller]
    fn navigate(&mut self, url: &str) {
        self.b.drain_events(Duration::ZERO);
        let r = self.call("Page.navigate", json!({"url": url}));
        if let Some(err) = r.get("errorText") {
            panic!("navigating to {url}: {err}");
        }
        let loaded = format!(
            "location.href === {} && document.readyState === 'complete'",
            json!(url)
        );
        assert!(self.wait_for(&loaded, STEP), "{url} did not load");
    }

    /// Console errors, failed loads and uncaught exceptions of this page since the last
    /// navigation (waits `settle` for late ones).
    fn errors(&mut self, settle: Duration) -> Vec<String> {
        let mut out = Vec::new();
        for e in self.b.drain_events(settle) {
            if e["sessionId"] != self.session.as_str() {
                continue;
            }
            let p = &e["params"];
            match e["method"].as_str() {
                Some("Runtime.exceptionThrown") => out.push(format!(
                    "exception: {} {}",
                    p["exceptionDetails"]["text"],
                    p["exceptionDetails"]["exception"]["description"]
                )),
                Some("Runtime.consoleAPICalled")
                    if matches!(p["type"].as_str(), Some("error" | "assert")) =>
                {
                    out.push(format!("console.{}: {}", p["type"], p["args"]));
                }
                Some("Log.entryAdded") if p["entry"]["level"] == "error" => out.push(format!(
                    "log: {} ({})",
                    p["entry"]["text"], p["entry"]["url"]
                )),
                _ => {}
            }
        }
        out
    }

    /// Captures the viewport as PNG into `path`; returns the PNG bytes.
    #[track_caller]
    fn screenshot(&mut self, path: &Path) -> Vec<u8> {
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("screenshot data"))
            .expect("base64 screenshot");
        std::fs::write(path, &png).expect("write screenshot");
        png
    }
}

/// Width, height, the share of pixels that differ from the most common colour (the
/// background), and the number of distinct colours of a PNG.
fn png_stats(png_bytes: &[u8]) -> (u32, u32, f64, usize) {
    let mut reader = png::Decoder::new(png_bytes)
        .read_info()
        .expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    let step = info.color_type.samples();
    let mut counts: HashMap<&[u8], usize> = HashMap::new();
    for px in buf[..info.buffer_size()].chunks(step) {
        *counts.entry(px).or_default() += 1;
    }
    let pixels: usize = counts.values().sum();
    let background = counts.values().copied().max().unwrap_or(0);
    let ink = 1.0 - background as f64 / pixels.max(1) as f64;
    let colours = counts.keys().collect::<HashSet<_>>().len();
    (info.width, info.height, ink, colours)
}

/// Checks a screenshot is a real picture of a page, not a blank one.
#[track_caller]
fn assert_not_blank(png: &[u8], name: &str) {
    let (w, h, ink, colours) = png_stats(png);
    println!(
        "{name}: {w}x{h}, {} bytes, {:.1}% non-background pixels, {colours} colours",
        png.len(),
        ink * 100.0
    );
    assert!(ink > 0.01 && colours > 10, "{name} looks blank");
}

#[track_caller]
fn assert_no_errors(p: &mut Page, page: &str) {
    let errors = p.errors(Duration::from_millis(300));
    assert!(
        errors.is_empty(),
        "errors in the console of {page}:\n{errors:#?}"
    );
}

#[test]
fn dashboard_and_live_page_in_headless_chromium() {
    let Some(chromium) = cdp::find_chromium() else {
        let msg = "SKIPPED dashboard browser test: Chromium not found (install `chromium`, or set \
                   SLUICE_CHROMIUM)";
        if std::env::var_os("SLUICE_REQUIRE_BROWSER").is_some_and(|v| v == "1") {
            panic!("{msg}, and SLUICE_REQUIRE_BROWSER=1");
        }
        println!("{msg}");
        eprintln!("{msg}");
        return;
    };
    let out = output_dir();
    let f = start_basic(&[]);
    let base = format!("http://{}", f.server.addr());
    let mut b = Page::open(&chromium);
    b.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": false}),
    );

    // The dashboard, loaded while readings arrive.
    let poster = Poster::start(
        &f.server,
        Duration::from_millis(120),
        Duration::from_secs(30),
    );
    assert!(
        wait_until(IO_TIMEOUT, || poster.posted().len() >= DEVICES.len()),
        "poster did not get going"
    );
    b.navigate(&format!("{base}/devices"));
    let loaded_at = poster.posted().len();
    let rows_ready = format!(
        "(() => {{ const t = document.getElementById('rows').innerText;
             return {}.every((id) => t.includes(id)); }})()",
        json!(DEVICES)
    );
    assert!(
        b.wait_for(&rows_ready, STEP),
        "device rows never showed: {}",
        b.eval("document.body.innerText")
    );
    // The live feed shows records posted after the page loaded, as they arrive.
    assert!(
        b.wait_for("document.querySelectorAll('#records li').length >= 6", STEP),
        "live feed stayed empty: {}",
        b.eval("document.body.innerText")
    );
    let feed = b.eval("document.getElementById('records').innerText");
    let feed = feed.as_str().unwrap_or_default().to_string();
    let posted = poster.posted();
    let shown: Vec<&(String, String)> = posted[loaded_at..]
        .iter()
        .filter(|(_, r)| feed.contains(r.as_str()))
        .collect();
    assert!(
        !shown.is_empty(),
        "no record posted after the page loaded is in the feed:\n{feed}"
    );
    let text = b.eval("document.body.innerText");
    let text = text.as_str().unwrap_or_default();
    assert!(text.contains(&shown[0].1), "{text}");
    assert_eq!(
        b.eval("document.getElementById('count').textContent"),
        "(3)"
    );
    assert_eq!(b.eval("document.querySelectorAll('#rows tr').length"), 3);
    // Each row: a sparkline, links to the data and the live view, a non-zero record count.
    let rows = b.eval(
        "[...document.querySelectorAll('#rows tr')].map((tr) => ({
            id: tr.cells[0].textContent,
            addr: tr.cells[1].textContent,
            records: Number(tr.cells[5].textContent),
            spark: tr.querySelectorAll('svg.spark polyline').length,
            links: [...tr.querySelectorAll('a')].map((a) => a.getAttribute('href')),
        }))",
    );
    for row in rows.as_array().expect("rows") {
        let id = row["id"].as_str().unwrap();
        assert!(DEVICES.contains(&id), "{row}");
        assert_eq!(row["addr"], "127.0.0.1", "{row}");
        assert!(row["records"].as_u64().is_some_and(|n| n > 0), "{row}");
        assert_eq!(row["spark"], 1, "{row}");
        assert_eq!(
            row["links"],
            json!([format!("/devices/{id}"), format!("/devices/{id}/live")])
        );
    }
    // The filter box narrows the rows.
    b.eval(
        "(() => { const f = document.getElementById('filter');
                  f.value = 'green'; f.dispatchEvent(new Event('input')); })()",
    );
    assert_eq!(b.eval("document.querySelectorAll('#rows tr').length"), 1);
    b.eval(
        "(() => { const f = document.getElementById('filter');
                  f.value = ''; f.dispatchEvent(new Event('input')); })()",
    );
    // Sorting by id puts the rows in order.
    b.eval("document.querySelector('th button[data-key=id]').click()");
    let ids =
        b.eval("[...document.querySelectorAll('#rows tr')].map((tr) => tr.cells[0].textContent)");
    assert_eq!(ids, json!(["garage.01", "greenhouse", "kitchen"]));
    // A record is shown as text, never as markup.
    let mut c = f.connect();
    let hostile = "<img src=x onerror=\"window.__xss=1\"><b>bold?</b>";
    post_record(&mut c, "kitchen", format!("{hostile}\n").as_bytes());
    assert!(
        b.wait_for(
            &format!(
                "document.getElementById('records').innerText.includes({})",
                json!(hostile)
            ),
            STEP
        ),
        "the markup record never appeared as text"
    );
    assert_eq!(
        b.eval("window.__xss === undefined && !document.querySelector('#records img, #records b')"),
        true
    );
    let png = b.screenshot(&out.join("dashboard.png"));
    assert_not_blank(&png, "dashboard.png");
    // On a phone-sized screen: no sideways scrolling, rows still readable.
    b.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true}),
    );
    thread::sleep(Duration::from_millis(300)); // let the layout settle
    assert_eq!(
        b.eval("document.documentElement.scrollWidth <= window.innerWidth"),
        true,
        "the dashboard scrolls sideways on a phone: {} > {}",
        b.eval("document.documentElement.scrollWidth"),
        b.eval("window.innerWidth")
    );
    let png = b.screenshot(&out.join("dashboard-phone.png"));
    assert_not_blank(&png, "dashboard-phone.png");
    b.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": false}),
    );
    assert_no_errors(&mut b, "/devices");

    // The per-device live page: the recent records at once, then new ones as they arrive.
    b.navigate(&format!("{base}/devices/kitchen/live"));
    assert!(
        b.wait_for(
            "document.getElementById('status').textContent === 'live'",
            STEP
        ),
        "live page never connected: {}",
        b.eval("document.body.innerText")
    );
    assert_eq!(b.eval("document.title"), "sluice · kitchen · live");
    let mut c = f.connect();
    let marker = format!("kitchen marker {}", std::process::id());
    post_record(&mut c, "kitchen", format!("{marker}\n").as_bytes());
    let file_len = fetch(&f.server, "/devices/kitchen").body.len();
    assert!(
        b.wait_for(
            &format!(
                "document.getElementById('records').innerText.includes({})",
                json!(marker)
            ),
            STEP
        ),
        "the new record never appeared: {}",
        b.eval("document.body.innerText")
    );
    // Records are listed newest first, each with its offset (the event id).
    let items = b.eval("[...document.querySelectorAll('#records li')].map((li) => li.textContent)");
    let items = items.as_array().expect("items");
    assert!(items.len() >= 2, "{items:?}");
    assert!(
        items.iter().any(|t| t.as_str().unwrap().contains("temp=")),
        "the replayed tail shows earlier records: {items:?}"
    );
    // Find the marker: its offset is at most the file length when we read it (the poster may
    // have appended more since).
    let line = items
        .iter()
        .map(|t| t.as_str().unwrap())
        .find(|t| t.contains(&marker))
        .unwrap();
    let offset: usize = line
        .strip_prefix('@')
        .and_then(|t| t.split(&marker).next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no @offset in {line:?}"));
    assert!(
        offset > marker.len() && offset <= file_len,
        "{line:?} vs {file_len}"
    );
    let png = b.screenshot(&out.join("live.png"));
    assert_not_blank(&png, "live.png");
    assert_no_errors(&mut b, "/devices/kitchen/live");
    poster.finish();
    println!("screenshots in {}", out.display());
}
