//! Nothing from the request is reflected unescaped: the redirect's `Location`, the listing page
//! (HTML), and the access log. Each test sends what an attacker would.

mod common;

use nix::sys::signal::Signal;

use common::*;

fn get_raw(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: test\r\n\r\n").into_bytes()
}

#[test]
fn redirect_location_stays_on_this_server_and_in_its_field() {
    let f = start_basic(&[]);
    for dir in ["evil.example", "\\evil.example", "q\"<x>", "sp ace"] {
        std::fs::create_dir(f.root.path().join(dir)).unwrap();
    }
    let cases = [
        // A scheme-relative `//host/` would send the browser to another host.
        ("//evil.example", "/evil.example/"),
        ("///evil.example", "/evil.example/"),
        ("http://test//evil.example", "/evil.example/"),
        // Browsers read `\` as `/`: `/\evil.example/` would be `//evil.example/`.
        ("/\\evil.example", "/%5Cevil.example/"),
        ("/%5Cevil.example", "/%5Cevil.example/"),
        // Quotes and angle brackets never reach the field raw.
        ("/q\"<x>", "/q%22%3Cx%3E/"),
        ("/q%22%3Cx%3E", "/q%22%3Cx%3E/"),
        ("/sp%20ace?a=\"<b>&c=d", "/sp%20ace/?a=%22%3Cb%3E&c=d"),
        ("/evil.example?next=//x", "/evil.example/?next=//x"),
    ];
    let mut c = f.connect();
    for (target, location) in cases {
        let r = c.request(&get_raw(target));
        assert_eq!(r.status, 301, "{target:?}:\n{}", r.raw_head);
        assert_eq!(r.header("location"), Some(location), "{target:?}");
        // The redirect leads to the directory it was about.
        let next = c.request(&get_raw(location));
        next.assert_status(200);
    }
}

#[test]
fn listing_escapes_names_and_the_path() {
    let f = start_basic(&[]);
    let dir = f.root.path().join("<script>alert(1)<");
    std::fs::create_dir(&dir).unwrap();
    for name in [
        "<img src=x onerror=alert(1)>.txt",
        "a\"b'c&d.txt",
        "javascript:alert(1)",
    ] {
        std::fs::write(dir.join(name), b"x").unwrap();
    }
    let mut c = f.connect();
    let r = c.request(&get_raw("/%3Cscript%3Ealert(1)%3C/"));
    r.assert_status(200);
    let page = r.body_str();
    for raw in ["<script>alert", "<img", "a\"b'c&d", "href=\"javascript:"] {
        assert!(!page.contains(raw), "raw {raw:?} in the listing:\n{page}");
    }
    for escaped in [
        "Index of /&lt;script&gt;alert(1)&lt;/",
        "&lt;img src=x onerror=alert(1)&gt;.txt",
        "a&quot;b&#39;c&amp;d.txt",
        "href=\"javascript%3Aalert%281%29\"",
    ] {
        assert!(page.contains(escaped), "{escaped:?} missing from:\n{page}");
    }
}

#[test]
fn access_log_escapes_what_the_client_sent() {
    let root = basic_root();
    let logdir = tempfile::tempdir().unwrap();
    let log = logdir.path().join("access.log");
    let mut server = Server::start(root.path(), &["--access-log", log.to_str().unwrap()]);
    let mut c = server.connect();
    // A user agent that tries to close its field and forge the rest of the line, with a tab and
    // bytes outside ASCII; a target and a referer with quotes and backslashes.
    let mut req = b"GET /x\"y\\z HTTP/1.1\r\nHost: test\r\nReferer: a\"b\\c\r\nUser-Agent: ua\" 200 0 \"-\" \"forged\t\xff\xfe\r\n\r\n".to_vec();
    req.extend_from_slice(&get_raw("/hello.txt"));
    c.send(&req);
    c.read_response().assert_status(404);
    c.read_response().assert_status(200);
    drop(c);
    server.signal(Signal::SIGTERM);
    assert!(
        server.wait_exit(IO_TIMEOUT).is_some(),
        "no exit after SIGTERM"
    );

    let text = std::fs::read(&log).unwrap();
    assert!(text.is_ascii(), "non-ASCII bytes reached the log");
    let text = String::from_utf8(text).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "one line per request, none forged:\n{text}");
    let first = lines[0];
    assert!(
        first.ends_with(
            "\"GET /x\\x22y\\x5cz HTTP/1.1\" 404 10 \"a\\x22b\\x5cc\" \
             \"ua\\x22 200 0 \\x22-\\x22 \\x22forged\\x09\\xff\\xfe\""
        ),
        "{first}"
    );
    // Exactly the six quotes of the format: no field was closed early.
    assert_eq!(first.matches('"').count(), 6, "{first}");
    assert!(!first.chars().any(char::is_control), "{first:?}");
}
