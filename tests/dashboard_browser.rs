//! The dashboard and the device page in a real browser: headless Chromium (driven over the
//! DevTools protocol, `browser/cdp.rs` and `browser/page.rs`) loads them while a thread posts
//! readings to a few devices. The DOM must show the devices, their latest values and the live
//! records, the console must stay free of errors, and screenshots are kept in
//! `target/browser-test/` (`dashboard.png`, `dashboard-phone.png`, `live.png`) as evidence.
//!
//! Skipped, with a message, when Chromium is not installed, unless `SLUICE_REQUIRE_BROWSER=1`
//! (as in `tests/browser.rs`).

#[allow(dead_code)] // this test uses part of the harness only
#[path = "browser/cdp.rs"]
mod cdp;
mod common;
#[allow(dead_code)]
#[path = "browser/page.rs"]
mod page;
mod sse;

use common::*;
use page::*;
use serde_json::json;
use sse::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

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

#[test]
fn dashboard_and_live_page_in_headless_chromium() {
    let Some(chromium) = cdp::chromium_or_skip("dashboard browser test") else {
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
    // Each live record shows when it was stored.
    let time = b.eval("document.querySelector('#records li time').textContent.trim()");
    let time = time.as_str().unwrap_or_default();
    assert!(
        time.len() == 8 && time.as_bytes()[2] == b':' && time.as_bytes()[5] == b':',
        "no HH:MM:SS on a live record: {time:?}"
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
    // Each row: latest values, a sparkline, links to the device page and the data, a non-zero
    // record count.
    let rows = b.eval(
        "[...document.querySelectorAll('#rows tr')].map((tr) => ({
            id: tr.cells[0].textContent,
            addr: tr.cells[1].textContent,
            records: Number(tr.cells[5].textContent),
            values: tr.cells[7].textContent,
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
        let values = row["values"].as_str().unwrap();
        assert!(
            values.contains("temp = ") && values.contains("seq = "),
            "{row}"
        );
        assert_eq!(
            row["links"],
            json!([
                format!("/devices/{id}/live"),
                format!("/devices/{id}"),
                format!("/devices/{id}/live")
            ])
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

    // The device page: the recent records at once, then new ones as they arrive.
    b.navigate(&format!("{base}/devices/kitchen/live"));
    assert!(
        b.wait_for(
            "document.getElementById('status').textContent === 'live'",
            STEP
        ),
        "live page never connected: {}",
        b.eval("document.body.innerText")
    );
    assert_eq!(b.eval("document.title"), "sluice · kitchen");
    let mut c = f.connect();
    let marker = format!("kitchen marker {}", std::process::id());
    post_record(&mut c, "kitchen", format!("{marker}\n").as_bytes());
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
    // Records are listed newest first, each with the time it arrived.
    let items = b.eval("[...document.querySelectorAll('#records li')].map((li) => li.textContent)");
    let items = items.as_array().expect("items");
    assert!(items.len() >= 2, "{items:?}");
    assert!(
        items.iter().any(|t| t.as_str().unwrap().contains("temp=")),
        "the server lists earlier records: {items:?}"
    );
    let line = items
        .iter()
        .map(|t| t.as_str().unwrap())
        .find(|t| t.contains(&marker))
        .unwrap();
    let time = line.split(&marker).next().unwrap_or("").trim();
    let clock = time.len() == 8
        && time.bytes().enumerate().all(|(i, b)| {
            if i == 2 || i == 5 {
                b == b':'
            } else {
                b.is_ascii_digit()
            }
        });
    assert!(clock, "no HH:MM:SS before the record: {line:?}");
    let png = b.screenshot(&out.join("live.png"));
    assert_not_blank(&png, "live.png");
    assert_no_errors(&mut b, "/devices/kitchen/live");
    poster.finish();
    println!("screenshots in {}", out.display());
}
