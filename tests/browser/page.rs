//! A page of headless Chromium for the browser tests (driven over the DevTools protocol,
//! `cdp.rs`): navigate, evaluate, wait for a condition, collect console errors, take
//! screenshots, and check that a screenshot is a picture of a page.
use base64::Engine;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::cdp;

/// Longest wait for the browser to start, a protocol reply, or a page condition.
pub const STEP: Duration = Duration::from_secs(30);

/// `target/browser-test`, for the screenshots.
pub fn output_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(&tmp).join("browser-test");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One page (a target attached with a flat session) of a headless browser.
pub struct Page {
    b: cdp::Browser,
    session: String,
}

impl Page {
    pub fn open(chromium: &Path) -> Page {
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
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.b.call(Some(&self.session), method, params, STEP)
    }

    #[track_caller]
    pub fn eval(&mut self, expr: &str) -> Value {
        self.b.eval(&self.session, expr, STEP)
    }

    /// Polls the boolean expression `expr` every 100 ms until it is true or `within` passes.
    pub fn wait_for(&mut self, expr: &str, within: Duration) -> bool {
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
    pub fn navigate(&mut self, url: &str) {
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
    pub fn errors(&mut self, settle: Duration) -> Vec<String> {
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
    pub fn screenshot(&mut self, path: &Path) -> Vec<u8> {
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
pub fn png_stats(png_bytes: &[u8]) -> (u32, u32, f64, usize) {
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
pub fn assert_not_blank(png: &[u8], name: &str) {
    let (w, h, ink, colours) = png_stats(png);
    println!(
        "{name}: {w}x{h}, {} bytes, {:.1}% non-background pixels, {colours} colours",
        png.len(),
        ink * 100.0
    );
    assert!(ink > 0.01 && colours > 10, "{name} looks blank");
}

#[track_caller]
pub fn assert_no_errors(p: &mut Page, page: &str) {
    let errors = p.errors(Duration::from_millis(300));
    assert!(
        errors.is_empty(),
        "errors in the console of {page}:\n{errors:#?}"
    );
}
