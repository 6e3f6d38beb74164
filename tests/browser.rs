//! End to end in a real browser: headless Chromium (driven over the DevTools protocol) against a
//! sluice process.
//!
//! 1. Chromium downloads a 50 MiB file (`?download`, so a real download to a directory, named by
//!    `Content-Disposition`) and the bytes match.
//! 2. A page served by sluice fetches the file, cancels the stream after about half, resumes with
//!    `Range: bytes=N-` and `If-Range: <ETag>`, and reports the status and the SHA-256 of the
//!    concatenation in its title; a stale `If-Range` must get the whole file (200).
//! 3. The directory listing renders: screenshots (desktop and phone width) are written to
//!    `target/browser-test/` and must not be blank; the phone layout must not scroll sideways.
//!
//! Skipped, with a message, when Chromium is not installed, unless `SLUICE_REQUIRE_BROWSER=1`
//! (set by `.ci/run`), which turns a missing browser into a failure.

#[path = "browser/cdp.rs"]
mod cdp;
mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::json;
use sha2::{Digest, Sha256};

use common::*;

const STEP: Duration = Duration::from_secs(30);
const FILE_LEN: usize = 50 * 1024 * 1024;
/// A name that needs RFC 8187 encoding: the browser must save it under exactly this name.
const DOWNLOAD_NAME: &str = "données 50MiB.bin";
const DOWNLOAD_URL_NAME: &str = "donn%C3%A9es%2050MiB.bin";

const RESUME_PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>RUNNING</title>
<script>
(async () => {
  try {
    const url = "/dl/big.bin";
    const first = await fetch(url, { cache: "no-store" });
    const etag = first.headers.get("ETag");
    const total = Number(first.headers.get("Content-Length"));
    const reader = first.body.getReader();
    const chunks = [];
    let got = 0;
    while (got < total / 2) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      got += value.length;
    }
    await reader.cancel();
    const rest = await fetch(url, {
      cache: "no-store",
      headers: { "Range": "bytes=" + got + "-", "If-Range": etag },
    });
    const tail = new Uint8Array(await rest.arrayBuffer());
    const all = new Uint8Array(got + tail.length);
    let at = 0;
    for (const c of chunks) { all.set(c, at); at += c.length; }
    all.set(tail, at);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
    const hex = Array.from(digest, b => b.toString(16).padStart(2, "0")).join("");
    const stale = await fetch(url, {
      cache: "no-store",
      headers: { "Range": "bytes=" + got + "-", "If-Range": "\"stale\"" },
    });
    const staleLen = (await stale.arrayBuffer()).byteLength;
    document.title = ["DONE", rest.status, got, total, all.length,
      rest.headers.get("Content-Range"), hex, stale.status, staleLen].join("|");
  } catch (e) {
    document.title = "FAIL|" + e;
  }
})();
</script>
<p>resume test</p>
"#;

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `target/browser-test`, for the screenshots.
fn output_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.parent().unwrap_or(&tmp).join("browser-test");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Distinct RGBA colours in a PNG, and its size.
fn png_colours(png_bytes: &[u8]) -> (usize, u32, u32) {
    let decoder = png::Decoder::new(png_bytes);
    let mut reader = decoder.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    let bytes = &buf[..info.buffer_size()];
    let step = info.color_type.samples();
    let colours: HashSet<&[u8]> = bytes.chunks(step).collect();
    (colours.len(), info.width, info.height)
}

#[test]
fn chromium_downloads_resumes_and_renders_the_listing() {
    let Some(chromium) = cdp::chromium_or_skip("browser test") else {
        return;
    };
    let started = Instant::now();
    let root = root();
    let data = pseudo_random(FILE_LEN, 0xb10b);
    let want_hash = sha256_hex(&data);
    write_file(root.path(), &format!("dl/{DOWNLOAD_NAME}"), &data);
    write_file(root.path(), "dl/big.bin", &data);
    write_file(root.path(), "dl/notes.txt", b"a few words\n");
    write_file(root.path(), "dl/<b>tricky & odd.html", b"<p>x</p>\n");
    write_file(root.path(), "dl/photos/cat.jpg", &pseudo_random(123_456, 3));
    write_file(root.path(), "resume.html", RESUME_PAGE.as_bytes());
    let server = Server::start(root.path(), &[]);
    let base = format!("http://{}", server.addr());

    let mut b = cdp::Browser::launch(&chromium, STEP);
    let downloads = tempfile::tempdir().unwrap();
    b.call(
        None,
        "Browser.setDownloadBehavior",
        json!({ "behavior": "allow", "downloadPath": downloads.path(), "eventsEnabled": true }),
        STEP,
    );
    let target = b.call(
        None,
        "Target.createTarget",
        json!({ "url": "about:blank" }),
        STEP,
    );
    let attached = b.call(
        None,
        "Target.attachToTarget",
        json!({ "targetId": target["targetId"], "flatten": true }),
        STEP,
    );
    let session = attached["sessionId"].as_str().unwrap().to_string();
    let s = Some(session.as_str());
    b.call(s, "Page.enable", json!({}), STEP);

    // 1. A real download to a directory.
    b.call(
        s,
        "Page.navigate",
        json!({ "url": format!("{base}/dl/{DOWNLOAD_URL_NAME}?download") }),
        STEP,
    );
    let begin = b.wait_event("Browser.downloadWillBegin", STEP, |_| true);
    assert_eq!(begin["suggestedFilename"], DOWNLOAD_NAME, "{begin}");
    let guid = begin["guid"].clone();
    let done = b.wait_event("Browser.downloadProgress", Duration::from_secs(120), |p| {
        p["guid"] == guid && (p["state"] == "completed" || p["state"] == "canceled")
    });
    assert_eq!(done["state"], "completed", "{done}");
    let saved = downloads.path().join(DOWNLOAD_NAME);
    let got = std::fs::read(&saved).unwrap_or_else(|e| panic!("{}: {e}", saved.display()));
    assert_eq!(got.len(), FILE_LEN);
    let got_hash = sha256_hex(&got);
    assert_eq!(got_hash, want_hash, "downloaded bytes differ");
    println!(
        "download: {} bytes saved as {DOWNLOAD_NAME:?}, sha256 {got_hash}",
        got.len()
    );

    // 2. An interrupted download resumed with Range + If-Range, in a page served by sluice.
    b.call(
        s,
        "Page.navigate",
        json!({ "url": format!("{base}/resume.html") }),
        STEP,
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let title = loop {
        let t = b.eval(&session, "document.title", STEP);
        let t = t.as_str().unwrap_or("").to_string();
        if t.starts_with("DONE") || t.starts_with("FAIL") {
            break t;
        }
        assert!(Instant::now() < deadline, "resume page still says {t:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    println!("resume page: {title}");
    let f: Vec<&str> = title.split('|').collect();
    assert_eq!(f[0], "DONE", "{title}");
    let (status, first, total, len) = (f[1], f[2], f[3], f[4]);
    let first: usize = first.parse().unwrap();
    assert_eq!(status, "206", "{title}");
    assert_eq!(total, FILE_LEN.to_string());
    assert_eq!(len, FILE_LEN.to_string());
    assert!(
        (FILE_LEN / 2..FILE_LEN).contains(&first),
        "cancelled after {first} bytes"
    );
    assert_eq!(
        f[5],
        format!("bytes {first}-{}/{FILE_LEN}", FILE_LEN - 1),
        "Content-Range"
    );
    assert_eq!(f[6], want_hash, "resumed download differs");
    assert_eq!(
        (f[7], f[8]),
        ("200", FILE_LEN.to_string().as_str()),
        "a stale If-Range gets the whole file"
    );

    // 3. The listing renders, on a desktop and on a phone.
    let out = output_dir();
    for (name, width, height, mobile) in [
        ("listing.png", 1000, 700, false),
        ("listing-mobile.png", 375, 700, true),
    ] {
        b.call(
            s,
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
            STEP,
        );
        let url = format!("{base}/dl/?sort=size&order=desc");
        b.call(s, "Page.navigate", json!({ "url": url }), STEP);
        // Loaded when the document at that URL is complete (events of earlier pages may linger).
        let loaded = format!(
            "location.href === {} && document.readyState === 'complete'",
            json!(url)
        );
        let deadline = Instant::now() + STEP;
        while b.eval(&session, &loaded, STEP) != json!(true) {
            assert!(Instant::now() < deadline, "{url} did not load");
            std::thread::sleep(Duration::from_millis(50));
        }
        let title = b.eval(&session, "document.title", STEP);
        assert_eq!(title, "Index of /dl/");
        let rows = b.eval(
            &session,
            "Array.from(document.querySelectorAll('tbody tr td.n a'), a => a.textContent)",
            STEP,
        );
        assert_eq!(
            rows,
            json!([
                "../",
                "photos/",
                DOWNLOAD_NAME,
                "big.bin",
                "notes.txt",
                "<b>tricky & odd.html"
            ]),
            "rows as the browser sees them (escaped names come out as text)"
        );
        let crumbs = b.eval(
            &session,
            "Array.from(document.querySelectorAll('h1 a'), a => a.getAttribute('href'))",
            STEP,
        );
        assert_eq!(crumbs, json!(["/", "/dl/"]), "breadcrumbs");
        // The filter box narrows the rows as one types (the parent link stays).
        let shown = b.eval(
            &session,
            "(() => { const f = document.getElementById('filter'); f.value = 'NO'; \
             f.dispatchEvent(new Event('input')); \
             const v = Array.from(document.querySelectorAll('tbody tr'), r => r) \
               .filter(r => !r.hidden).map(r => r.querySelector('td.n').textContent); \
             f.value = ''; f.dispatchEvent(new Event('input')); return v; })()",
            STEP,
        );
        assert_eq!(shown, json!(["../", "notes.txt"]), "filtered rows");
        let overflow = b.eval(
            &session,
            "document.documentElement.scrollWidth <= window.innerWidth",
            STEP,
        );
        assert_eq!(overflow, json!(true), "{name}: the page scrolls sideways");
        let shot = b.call(
            s,
            "Page.captureScreenshot",
            json!({ "format": "png" }),
            STEP,
        );
        let png_bytes = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        let path = out.join(name);
        std::fs::write(&path, &png_bytes).unwrap();
        let (colours, w, h) = png_colours(&png_bytes);
        println!("{}: {w}x{h}, {colours} distinct colours", path.display());
        assert_eq!((w, h), (width, height));
        assert!(colours >= 16, "{name} looks blank: {colours} colours");
    }
    drop(b);
    println!("browser test took {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(300));
}
