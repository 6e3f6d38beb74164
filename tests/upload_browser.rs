//! Uploads from a folder's listing in a real browser (headless Chromium over the DevTools
//! protocol): two files chosen with the file picker go up with a progress bar each, land in
//! that folder byte for byte, and show in the listing's rows without a reload; a third file
//! dragged onto the drop zone does the same. Without uploads on, the listing has no upload
//! form. Screenshot: `target/browser-test/upload.png`.
//!
//! Skipped, with a message, when Chromium is not installed, unless `SLUICE_REQUIRE_BROWSER=1`.

#[allow(dead_code)]
#[path = "browser/cdp.rs"]
mod cdp;
mod common;
#[allow(dead_code)]
#[path = "browser/page.rs"]
mod page;

use common::*;
use page::*;
use serde_json::json;
use std::fs;
use std::time::Duration;

#[test]
fn files_chosen_or_dropped_in_a_listing_upload_with_progress_and_show_in_its_rows() {
    let Some(chromium) = cdp::chromium_or_skip("upload browser test") else {
        return;
    };
    let out = output_dir();
    let root = root();
    fs::create_dir(root.path().join("photos")).unwrap();
    write_file(root.path(), "photos/old.txt", b"old\n");
    // Files on the browser's side, one large enough for several progress events.
    let local = tempfile::tempdir().unwrap();
    let big = pseudo_random(24 << 20, 77);
    let (big_path, small_path) = (
        local.path().join("big film.bin"),
        local.path().join("é.txt"),
    );
    fs::write(&big_path, &big).unwrap();
    fs::write(&small_path, b"small\n").unwrap();

    let server = Server::start(root.path(), &["--upload"]);
    let base = format!("http://{}", server.addr());
    let mut b = Page::open(&chromium);
    b.navigate(&format!("{base}/photos/"));
    assert!(
        b.wait_for("!document.getElementById('upload').hidden", STEP),
        "the upload form stayed hidden"
    );
    let doc = b.call("DOM.getDocument", json!({}));
    let input = b.call(
        "DOM.querySelector",
        json!({"nodeId": doc["root"]["nodeId"], "selector": "#pick"}),
    );
    b.call(
        "DOM.setFileInputFiles",
        json!({"nodeId": input["nodeId"], "files": [big_path, small_path]}),
    );
    let listed = "[...document.querySelectorAll('tbody td.n a')].map(a => a.textContent)";
    assert!(
        b.wait_for(
            &format!(
                "document.querySelectorAll('#progress li.ok').length === 2 && \
                 {listed}.includes('big film.bin') && {listed}.includes('é.txt')"
            ),
            Duration::from_secs(30)
        ),
        "uploads did not finish and show: {}",
        b.eval("document.getElementById('upload').innerText")
    );
    assert!(fs::read(root.path().join("photos/big film.bin")).unwrap() == big);
    assert_eq!(
        fs::read(root.path().join("photos/é.txt")).unwrap(),
        b"small\n"
    );
    let text = b.eval("document.getElementById('progress').innerText");
    assert!(
        text.as_str().unwrap().matches("done").count() == 2,
        "{text}"
    );
    let bars =
        b.eval("[...document.querySelectorAll('#progress progress')].map(p => p.value === p.max)");
    assert_eq!(bars, json!([true, true]));
    // A file dropped on the form goes the same way.
    let dropped = local.path().join("dropped.txt");
    fs::write(&dropped, b"dropped\n").unwrap();
    let rect = b.eval(
        "(() => { const r = document.getElementById('upload').getBoundingClientRect(); \
         return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()",
    );
    let data = json!({"items": [], "files": [dropped], "dragOperationsMask": 1});
    for kind in ["dragEnter", "dragOver", "drop"] {
        b.call(
            "Input.dispatchDragEvent",
            json!({"type": kind, "x": rect["x"], "y": rect["y"], "data": data}),
        );
    }
    assert!(
        b.wait_for(
            &format!(
                "document.querySelectorAll('#progress li.ok').length === 3 && \
                 {listed}.includes('dropped.txt')"
            ),
            Duration::from_secs(30)
        ),
        "the dropped file did not go up: {}",
        b.eval("document.getElementById('upload').innerText")
    );
    assert_eq!(
        fs::read(root.path().join("photos/dropped.txt")).unwrap(),
        b"dropped\n"
    );
    let png = b.screenshot(&out.join("upload.png"));
    assert_not_blank(&png, "upload.png");
    assert_no_errors(&mut b, "/photos/");
    let mut names: Vec<String> = fs::read_dir(root.path().join("photos"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["big film.bin", "dropped.txt", "old.txt", "é.txt"],
        "no temporary file"
    );

    // Uploads off: no form.
    drop(server);
    let server = Server::start(root.path(), &[]);
    b.navigate(&format!("http://{}/photos/", server.addr()));
    assert_eq!(b.eval("document.getElementById('upload')"), json!(null));
}
