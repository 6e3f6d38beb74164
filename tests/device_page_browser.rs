//! Readings in a real browser (headless Chromium over the DevTools protocol): a device posting
//! every 200 ms draws a chart that moves on its page (two screenshots of the charts differ), the
//! page reads well on a phone and in dark mode, and with JavaScript disabled the dashboard and
//! the device page still show the device, its latest values and its last records. Screenshots
//! are kept in `target/browser-test/` (`device.png`, `device-phone.png`, `device-dark.png`,
//! `dashboard-nojs.png`, `device-nojs.png`).
//!
//! Skipped, with a message, when Chromium is not installed, unless `SLUICE_REQUIRE_BROWSER=1`.

#[allow(dead_code)]
#[path = "browser/cdp.rs"]
mod cdp;
mod common;
#[allow(dead_code)]
#[path = "browser/page.rs"]
mod page;
mod sse;

use base64::Engine;
use common::ingest::wait_until;
use common::*;
use page::*;
use serde_json::{json, Value};
use sse::post_record;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Posts `{"t": ..., "h": ...}` to device `sensor` every 200 ms until dropped.
struct Poster {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Poster {
    fn start(server: &Server) -> Poster {
        let stop = Arc::new(AtomicBool::new(false));
        let (s, addr) = (stop.clone(), server.addr());
        let thread = thread::spawn(move || {
            let mut c = Client::connect(addr);
            let mut i = 0u32;
            while !s.load(Ordering::Relaxed) {
                let t = 20.0 + 3.0 * (f64::from(i) / 4.0).sin();
                let body = format!("{{\"t\": {t:.2}, \"h\": {}}}\n", 40 + i % 9);
                post_record(&mut c, "sensor", body.as_bytes());
                i += 1;
                thread::sleep(Duration::from_millis(200));
            }
        });
        Poster {
            stop,
            thread: Some(thread),
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

/// A screenshot of the element `selector` only.
fn shot_of(b: &mut Page, selector: &str) -> Vec<u8> {
    let rect = b.eval(&format!(
        "(() => {{ const r = document.querySelector({}).getBoundingClientRect();
                   return {{x: r.x, y: r.y, width: r.width, height: r.height}}; }})()",
        json!(selector)
    ));
    let mut clip = rect.clone();
    clip["scale"] = json!(1);
    let r = b.call(
        "Page.captureScreenshot",
        json!({"format": "png", "clip": clip}),
    );
    base64::engine::general_purpose::STANDARD
        .decode(r["data"].as_str().expect("screenshot data"))
        .expect("base64 screenshot")
}

fn desktop(b: &mut Page) {
    b.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
    );
}

#[test]
fn charts_move_and_pages_work_without_javascript() {
    let Some(chromium) = cdp::chromium_or_skip("device page browser test") else {
        return;
    };
    let out = output_dir();
    let f = start_basic(&[]);
    let base = format!("http://{}", f.server.addr());
    let poster = Poster::start(&f.server);
    assert!(
        wait_until(IO_TIMEOUT, || fetch_status(&f.server, "/devices/sensor")
            == 200),
        "the poster did not get going"
    );
    thread::sleep(Duration::from_millis(700));
    let mut b = Page::open(&chromium);
    desktop(&mut b);

    // The device page: latest values, one chart per field, and a chart that moves.
    b.navigate(&format!("{base}/devices/sensor/live"));
    assert!(
        b.wait_for(
            "document.getElementById('status').textContent === 'live'",
            STEP
        ),
        "the page never went live: {}",
        b.eval("document.body.innerText")
    );
    assert_eq!(
        b.eval("document.querySelectorAll('#charts svg.chart').length"),
        2
    );
    assert_eq!(
        b.eval("[...document.querySelectorAll('#values dt')].map((d) => d.textContent)"),
        json!(["t", "h"])
    );
    let points = "document.querySelector('#charts polyline').getAttribute('points')";
    // A screenshot of the charts and the line it shows (taken again if the page redrew the
    // charts meanwhile).
    let steady_shot = |b: &mut Page| loop {
        let line = b.eval(points);
        let shot = shot_of(b, "#charts");
        if b.eval(points) == line {
            return (line, shot);
        }
    };
    let (before_line, before) = steady_shot(&mut b);
    std::fs::write(out.join("device-chart-1.png"), &before).unwrap();
    // New readings redraw the chart (the page fetches itself again at most once a second).
    assert!(
        b.wait_for(&format!("{points} !== {before_line}"), STEP),
        "the chart never changed"
    );
    let (after_line, after) = steady_shot(&mut b);
    std::fs::write(out.join("device-chart-2.png"), &after).unwrap();
    assert_ne!(before_line, after_line);
    assert!(
        before != after,
        "two screenshots of the charts are the same (device-chart-1.png, device-chart-2.png)"
    );
    let (_, _, ink, _) = png_stats(&after);
    assert!(ink > 0.01, "the chart area is blank");
    // New records are listed as they arrive.
    assert!(
        b.wait_for("document.querySelectorAll('#records li').length >= 5", STEP),
        "no records listed"
    );
    let png = b.screenshot(&out.join("device.png"));
    assert_not_blank(&png, "device.png");

    // On a phone: no sideways scrolling; then dark mode.
    b.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true}),
    );
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        b.eval("document.documentElement.scrollWidth <= window.innerWidth"),
        true,
        "the device page scrolls sideways on a phone"
    );
    let png = b.screenshot(&out.join("device-phone.png"));
    assert_not_blank(&png, "device-phone.png");
    b.call(
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}),
    );
    thread::sleep(Duration::from_millis(300));
    let background = b.eval("getComputedStyle(document.body).backgroundColor");
    assert_eq!(background, "rgb(13, 17, 23)", "dark mode not applied");
    let png = b.screenshot(&out.join("device-dark.png"));
    assert_not_blank(&png, "device-dark.png");
    b.call(
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "prefers-color-scheme", "value": "light"}]}),
    );
    desktop(&mut b);
    assert_no_errors(&mut b, "/devices/sensor/live");

    // JavaScript off: the server's own rendering is the page.
    b.call(
        "Emulation.setScriptExecutionDisabled",
        json!({"value": true}),
    );
    b.navigate(&format!("{base}/devices"));
    let text = page_text(&mut b);
    assert!(text.contains("sensor"), "{text}");
    assert!(
        text.contains("t = "),
        "no latest value on the dashboard: {text}"
    );
    assert!(!text.contains("No device has posted yet"), "{text}");
    let png = b.screenshot(&out.join("dashboard-nojs.png"));
    assert_not_blank(&png, "dashboard-nojs.png");
    b.navigate(&format!("{base}/devices/sensor/live"));
    let text = page_text(&mut b);
    assert!(text.contains("Latest values"), "{text}");
    let status = b.eval("document.getElementById('status').textContent");
    assert!(
        status.as_str().is_some_and(|s| s.contains("records")),
        "the status is not the server's (scripts ran?): {status}"
    );
    assert!(text.contains("\"t\": "), "no records listed: {text}");
    let png = b.screenshot(&out.join("device-nojs.png"));
    assert_not_blank(&png, "device-nojs.png");
    drop(poster);
    println!("screenshots in {}", out.display());
}

/// The page's text, read through the DOM (works with the page's scripts disabled).
fn page_text(b: &mut Page) -> String {
    match b.eval("document.body.innerText") {
        Value::String(s) => s,
        other => panic!("no text: {other}"),
    }
}

fn fetch_status(server: &Server, target: &str) -> u16 {
    sse::fetch(server, target).status
}
