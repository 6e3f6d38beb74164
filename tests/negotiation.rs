//! What a browser gets besides the bytes: precompressed siblings chosen by `Accept-Encoding`
//! (RFC 9110 section 12.5.3), `Content-Disposition` for `?download` (RFC 6266), directory listings
//! (sorted, HTML or JSON), the query string rules, and Content-Type by extension.

mod common;

use common::*;

fn req(target: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut s = format!("GET {target} HTTP/1.1\r\nHost: test\r\n");
    for (name, value) in headers {
        s.push_str(&format!("{name}: {value}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// `app.js` with `.gz` and `.br` siblings (fake contents: the server never decodes them),
/// `style.css` with only `.gz`, `plain.txt` with none, `big.js` with a 100 KiB `.gz`.
fn compressed_root() -> Fixture {
    let fx = start_basic(&[]);
    let r = fx.root.path();
    write_file(r, "app.js", b"console.log('identity');\n");
    write_file(r, "app.js.gz", b"GZ-BYTES-OF-APP");
    write_file(r, "app.js.br", b"BR-BYTES");
    write_file(r, "style.css", b"body{}\n");
    write_file(r, "style.css.gz", b"GZ-CSS");
    write_file(r, "plain.txt", b"plain\n");
    write_file(r, "big.js", &pseudo_random(300_000, 1));
    write_file(r, "big.js.gz", &pseudo_random(100_000, 2));
    fx
}

#[test]
fn precompressed_siblings_follow_accept_encoding() {
    let fx = compressed_root();
    let mut c = fx.connect();
    /// (target, Accept-Encoding, body, Content-Encoding)
    type Case<'a> = (&'a str, Option<&'a str>, &'a [u8], Option<&'a str>);
    let cases: [Case<'_>; 10] = [
        (
            "/app.js",
            Some("gzip, deflate, br, zstd"),
            b"BR-BYTES",
            Some("br"),
        ),
        ("/app.js", Some("gzip, br"), b"BR-BYTES", Some("br")),
        ("/app.js", Some("br, gzip"), b"BR-BYTES", Some("br")),
        ("/app.js", Some("gzip"), b"GZ-BYTES-OF-APP", Some("gzip")),
        ("/app.js", Some("x-gzip"), b"GZ-BYTES-OF-APP", Some("gzip")),
        (
            "/app.js",
            Some("br;q=0.5, gzip"),
            b"GZ-BYTES-OF-APP",
            Some("gzip"),
        ),
        ("/app.js", Some("*"), b"BR-BYTES", Some("br")),
        (
            "/app.js",
            Some("identity"),
            b"console.log('identity');\n",
            None,
        ),
        (
            "/app.js",
            Some("br;q=0, gzip;q=0"),
            b"console.log('identity');\n",
            None,
        ),
        ("/style.css", Some("br, gzip"), b"GZ-CSS", Some("gzip")),
    ];
    let mut etags = std::collections::HashSet::new();
    for (target, ae, body, coding) in cases {
        let headers: Vec<(&str, &str)> = ae.iter().map(|v| ("Accept-Encoding", *v)).collect();
        let r = c.request(&req(target, &headers));
        r.assert_status(200);
        assert_eq!(r.body, body, "{target} {ae:?}");
        assert_eq!(r.header("content-encoding"), coding, "{target} {ae:?}");
        assert_eq!(r.header("vary"), Some("Accept-Encoding"), "{target} {ae:?}");
        let ct = r.header("content-type").unwrap();
        assert!(
            ct == "text/javascript; charset=utf-8" || ct == "text/css; charset=utf-8",
            "the original's type, not gzip's: {ct}"
        );
        etags.insert((target, coding, r.header("etag").unwrap().to_string()));
    }
    // one ETag per representation, and different representations never share one
    let distinct: std::collections::HashSet<&String> = etags.iter().map(|e| &e.2).collect();
    assert_eq!(distinct.len(), 4, "{etags:?}");

    // Without Accept-Encoding only the file itself is sent (and no lookups are made).
    let r = c.request(&get("/app.js"));
    assert_eq!(r.body, b"console.log('identity');\n");
    assert!(r.header("content-encoding").is_none());
    // No sibling: no Vary.
    let r = c.request(&req("/plain.txt", &[("Accept-Encoding", "gzip, br")]));
    assert_eq!(r.body, b"plain\n");
    assert!(r.header("vary").is_none() && r.header("content-encoding").is_none());
    // Asking for the sibling by name gets it as a file of its own type.
    let r = c.request(&req("/app.js.gz", &[("Accept-Encoding", "gzip")]));
    assert_eq!(r.header("content-type"), Some("application/gzip"));
    assert!(r.header("content-encoding").is_none());
    expect_still_open(&mut c);
}

#[test]
fn ranges_and_validators_apply_to_the_selected_representation() {
    let fx = compressed_root();
    let gz = std::fs::read(fx.root.path().join("big.js.gz")).unwrap();
    let mut c = fx.connect();
    let ae = ("Accept-Encoding", "gzip");
    // whole sibling by sendfile
    let r = c.request(&req("/big.js", &[ae]));
    assert!(r.body == gz);
    let etag = r.header("etag").unwrap().to_string();
    assert!(etag.ends_with("-gz\""), "{etag}");
    // a range of the compressed bytes
    let r = c.request(&req("/big.js", &[ae, ("Range", "bytes=50000-50099")]));
    r.assert_status(206);
    assert_eq!(r.header("content-range"), Some("bytes 50000-50099/100000"));
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert!(r.body == gz[50_000..50_100]);
    // If-Range with the identity ETag does not match the gzip representation
    let identity = c.request(&req("/big.js", &[("Range", "bytes=0-0")]));
    let identity_tag = identity.header("etag").unwrap().to_string();
    assert_ne!(identity_tag, etag);
    let r = c.request(&req(
        "/big.js",
        &[ae, ("Range", "bytes=0-9"), ("If-Range", &identity_tag)],
    ));
    r.assert_status(200);
    assert!(r.body == gz);
    // conditional GET of the gzip representation
    let r = c.request(&req("/big.js", &[ae, ("If-None-Match", &etag)]));
    r.assert_status(304);
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    let r = c.request(&req("/big.js", &[("If-None-Match", &etag)]));
    r.assert_status(200);
    // HEAD: the sibling's length
    c.send(b"HEAD /big.js HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n");
    let h = c.read_head_response();
    assert_eq!(h.content_length(), Some(100_000));
    expect_still_open(&mut c);
}

#[test]
fn a_stale_sibling_is_not_served() {
    let fx = compressed_root();
    set_mtime(&fx.root.path().join("app.js.br"), 1_000_000_000);
    set_mtime(&fx.root.path().join("app.js.gz"), 1_000_000_000);
    let mut c = fx.connect();
    let r = c.request(&req("/app.js", &[("Accept-Encoding", "gzip, br")]));
    assert_eq!(r.body, b"console.log('identity');\n");
    assert!(r.header("content-encoding").is_none());
}

#[test]
fn download_adds_an_encoded_content_disposition() {
    let fx = start_basic(&[]);
    let r = fx.root.path();
    write_file(r, "report 2024.pdf", b"%PDF");
    write_file(r, "données €.csv", b"a,b\n");
    write_file(r, "quo\"te\\s%.txt", b"q");
    write_file(r, "evil\r\nX-Injected: 1.txt", b"e");
    let mut c = fx.connect();
    let cases = [
        (
            "/report%202024.pdf?download",
            "attachment; filename=\"report 2024.pdf\"; filename*=UTF-8''report%202024.pdf",
        ),
        (
            "/donn%C3%A9es%20%E2%82%AC.csv?download=1",
            "attachment; filename=\"donn_es _.csv\"; filename*=UTF-8''donn%C3%A9es%20%E2%82%AC.csv",
        ),
        (
            "/quo%22te%5Cs%25.txt?download",
            "attachment; filename=\"quo_te_s_.txt\"; filename*=UTF-8''quo%22te%5Cs%25.txt",
        ),
        (
            "/evil%0D%0AX-Injected:%201.txt?download",
            "attachment; filename=\"evil__X-Injected: 1.txt\"; filename*=UTF-8''evil%0D%0AX-Injected%3A%201.txt",
        ),
        (
            "/index.html?download",
            "attachment; filename=\"index.html\"; filename*=UTF-8''index.html",
        ),
        // A folder's `?download` is the folder as a zip (tests/folder_zip.rs), even one with
        // an index.html.
        (
            "/?download",
            "attachment; filename=\"ROOT.zip\"; filename*=UTF-8''ROOT.zip",
        ),
    ];
    let root_name = fx.root.path().file_name().unwrap().to_str().unwrap();
    for (target, want) in cases {
        let want = &*want.replace("ROOT", root_name);
        let r = c.request(&get(target));
        r.assert_status(200);
        assert_eq!(r.header("content-disposition"), Some(want), "{target}");
        assert!(r.header("x-injected").is_none());
    }
    // With a range: the part is still an attachment.
    let r = c.request(&req(
        "/report%202024.pdf?download",
        &[("Range", "bytes=1-2")],
    ));
    r.assert_status(206);
    assert!(r.header("content-disposition").is_some());
    // Without ?download (or with download=0): no Content-Disposition.
    for target in ["/report%202024.pdf", "/report%202024.pdf?download=0"] {
        assert!(c
            .request(&get(target))
            .header("content-disposition")
            .is_none());
    }
}

#[test]
fn malformed_queries_are_400_and_keep_the_connection() {
    let fx = start_basic(&[]);
    std::fs::create_dir(fx.root.path().join("d")).unwrap();
    let mut c = fx.connect();
    for target in [
        "/hello.txt?a=%zz",
        "/hello.txt?%",
        "/hello.txt?download=perhaps",
        "/d/?sort=colour",
        "/d/?order=sideways",
        "/d/?format=xml",
        "/d/?x=%ff",
    ] {
        let r = c.request(&get(target));
        r.assert_status(400).assert_no_connection_close();
    }
    // unknown keys are fine
    assert_eq!(c.request(&get("/hello.txt?v=3&utm=a+b")).body, HELLO);
    // A bad value of a known key names the key and what it takes.
    for (target, says) in [
        ("/d/?sort=bogus", "?sort= takes name, size or modified"),
        ("/d/?order=sideways", "?order= takes asc or desc"),
        ("/d/?format=xml", "?format= takes html or json"),
    ] {
        let r = c.request(&get(target));
        r.assert_status(400);
        assert_eq!(r.body_str().trim_end(), says, "{target}");
    }
}

/// A directory with files of known sizes and times: `b.txt` (10 B, newest), `a.txt` (3000 B),
/// `C.txt` (1 B, oldest), `sub/`, and a hostile name.
fn listing_root() -> Fixture {
    let fx = start_basic(&[]);
    let d = fx.root.path().join("list");
    write_file(&d, "b.txt", &[b'b'; 10]);
    write_file(&d, "a.txt", &vec![b'a'; 3000]);
    write_file(&d, "C.txt", b"c");
    write_file(&d, "<b>x&y.txt", b"");
    std::fs::create_dir(d.join("sub")).unwrap();
    set_mtime(&d.join("b.txt"), 1_700_000_300);
    set_mtime(&d.join("a.txt"), 1_700_000_200);
    set_mtime(&d.join("C.txt"), 1_700_000_100);
    set_mtime(&d.join("<b>x&y.txt"), 1_700_000_150);
    fx
}

/// Names in the order the HTML listing links them.
fn html_order(body: &str) -> Vec<String> {
    body.split("<td class=\"n\"><a href=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .collect()
}

#[test]
fn html_listing_sorts_by_every_column() {
    let fx = listing_root();
    let mut c = fx.connect();
    let hostile = "%3Cb%3Ex%26y.txt";
    for (query, want) in [
        // `<` sorts before letters
        ("", vec!["../", "sub/", hostile, "a.txt", "b.txt", "C.txt"]),
        (
            "?sort=name&order=desc",
            vec!["../", "sub/", "C.txt", "b.txt", "a.txt", hostile],
        ),
        (
            "?sort=size",
            vec!["../", "sub/", hostile, "C.txt", "b.txt", "a.txt"],
        ),
        (
            "?sort=size&order=desc",
            vec!["../", "sub/", "a.txt", "b.txt", "C.txt", hostile],
        ),
        (
            "?sort=modified",
            vec!["../", "sub/", "C.txt", hostile, "a.txt", "b.txt"],
        ),
        (
            "?sort=modified&order=desc",
            vec!["../", "sub/", "b.txt", "a.txt", hostile, "C.txt"],
        ),
    ] {
        let r = c.request(&get(&format!("/list/{query}")));
        r.assert_status(200);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        let body = r.body_str();
        assert_eq!(html_order(&body), want, "{query}");
        assert!(body.contains("&lt;b&gt;x&amp;y.txt"));
        assert!(!body.contains("<b>"));
    }
    let body = c.request(&get("/list/?sort=size&order=desc")).body_str();
    // human sizes, column links, mobile viewport
    assert!(body.contains("<td class=\"s\">2.9 KiB</td>"), "{body}");
    assert!(body.contains("<td class=\"s\">10 B</td>"));
    assert!(
        body.contains("href=\"?sort=size&amp;order=asc\">Size \u{25bc}</a>"),
        "{body}"
    );
    assert!(body.contains("href=\"?sort=name&amp;order=asc\">Name</a>"));
    assert!(body.contains("href=\"?sort=modified&amp;order=desc\">Modified (UTC)</a>"));
    assert!(body.contains("name=\"viewport\""));
    assert!(
        body.contains("2023-11-14 22:18"),
        "b.txt's time in UTC minutes"
    );
}

#[test]
fn json_listing_by_accept_or_query() {
    let fx = listing_root();
    let mut c = fx.connect();
    let by_accept = c.request(&req("/list/", &[("Accept", "application/json")]));
    let by_query = c.request(&get("/list/?format=json"));
    for r in [&by_accept, &by_query] {
        r.assert_status(200);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let items = v.as_array().unwrap();
        let names: Vec<&str> = items.iter().map(|i| i["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["sub", "<b>x&y.txt", "a.txt", "b.txt", "C.txt"]);
        assert_eq!(items[0]["type"], "dir");
        assert_eq!(items[0]["size"], serde_json::Value::Null);
        assert_eq!(items[2]["type"], "file");
        assert_eq!(items[2]["size"], 3000);
        assert_eq!(items[3]["modified"], "2023-11-14T22:18:20Z");
        for item in items {
            let keys: Vec<&String> = item.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["name", "type", "size", "modified"]);
        }
    }
    // Listings are negotiated on Accept (format) and Accept-Encoding (gzip on the fly).
    assert_eq!(by_accept.header("vary"), Some("Accept-Encoding, Accept"));
    // sorting applies to JSON too
    let r = c.request(&get("/list/?format=json&sort=size&order=desc"));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v[1]["name"], "a.txt");
    // a browser's Accept gets HTML; `?format=html` wins over Accept
    let browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let r = c.request(&req("/list/", &[("Accept", browser)]));
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let r = c.request(&req(
        "/list/?format=html",
        &[("Accept", "application/json")],
    ));
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    // HEAD matches GET
    c.send(b"HEAD /list/?format=json HTTP/1.1\r\nHost: t\r\n\r\n");
    let h = c.read_head_response();
    assert_eq!(h.content_length(), Some(by_query.body.len() as u64));
    expect_still_open(&mut c);
}

#[test]
fn no_listing_flag_forbids_listings_in_every_format() {
    let root = root();
    std::fs::create_dir(root.path().join("d")).unwrap();
    write_file(root.path(), "hello.txt", HELLO);
    let server = Server::start(root.path(), &["--no-listing"]);
    let mut c = server.connect();
    for target in ["/d/", "/d/?format=json", "/?format=json"] {
        c.request(&get(target)).assert_status(403);
    }
    // The home page stays, without the listing of ROOT: a whole page that says why.
    let home = c.request(&get("/"));
    home.assert_status(200);
    let page = home.body_str();
    assert!(!page.contains("hello.txt"), "{page}");
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    assert!(
        page.contains("<title>") && page.contains("name=\"viewport\""),
        "{page}"
    );
    assert!(
        page.contains("--no-listing") && page.contains("href=\"/devices\""),
        "{page}"
    );
    assert!(page.trim_end().ends_with("</html>"), "{page}");
    // files are still served
    assert_eq!(c.request(&get("/hello.txt")).body, HELLO);
}

#[test]
fn content_types_for_common_web_media_and_data_files() {
    let fx = start_basic(&[]);
    let cases = [
        ("a.json", "application/json; charset=utf-8"),
        ("a.svg", "image/svg+xml"),
        ("a.wasm", "application/wasm"),
        ("a.webp", "image/webp"),
        ("a.avif", "image/avif"),
        ("a.mjs", "text/javascript; charset=utf-8"),
        ("a.js", "text/javascript; charset=utf-8"),
        ("a.csv", "text/csv; charset=utf-8"),
        ("a.log", "text/plain; charset=utf-8"),
        ("a.txt", "text/plain; charset=utf-8"),
        ("a.html", "text/html; charset=utf-8"),
        ("a.css", "text/css; charset=utf-8"),
        ("a.png", "image/png"),
        ("a.jpg", "image/jpeg"),
        ("a.gif", "image/gif"),
        ("a.ico", "image/x-icon"),
        ("a.mp4", "video/mp4"),
        ("a.webm", "video/webm"),
        ("a.mp3", "audio/mpeg"),
        ("a.woff2", "font/woff2"),
        ("a.pdf", "application/pdf"),
        ("a.zip", "application/zip"),
        ("a.xml", "text/xml; charset=utf-8"),
        ("a.md", "text/markdown; charset=utf-8"),
        ("a.bin", "application/octet-stream"),
    ];
    for (name, _) in cases {
        write_file(fx.root.path(), name, b"x");
    }
    let mut c = fx.connect();
    for (name, want) in cases {
        let r = c.request(&get(&format!("/{name}")));
        assert_eq!(r.header("content-type"), Some(want), "{name}");
    }
}

#[test]
fn the_home_page_lists_root_and_json_gets_the_listing() {
    let root = root();
    write_file(root.path(), "hello.txt", HELLO);
    write_file(root.path(), "big.bin", &[0; 5000]);
    let server = Server::start(root.path(), &[]);
    let mut c = server.connect();
    let home = c.request(&get("/?sort=size&order=desc"));
    home.assert_status(200);
    let body = home.body_str();
    let (big, hello) = (
        body.find("big.bin").unwrap(),
        body.find("hello.txt").unwrap(),
    );
    assert!(big < hello, "sorted by size, largest first:\n{body}");
    let r = c.request(&get("/?format=json"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v[0]["name"], "big.bin");
    assert_eq!(v[1]["name"], "hello.txt");
}
