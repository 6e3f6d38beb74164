//! Static files under ROOT: exact bytes, content types, percent-decoding, directories
//! (redirect, index.html, listing), symlinks, and large files (the sendfile path).

mod common;

use std::os::unix::fs::symlink;

use common::*;

#[test]
fn get_returns_the_exact_bytes_with_the_content_type() {
    let f = start_basic(&[]);
    write_file(f.root.path(), "page.html", b"<p>page</p>\n");
    write_file(
        f.root.path(),
        "blob.qqqz",
        &[0, 1, 2, 255, 254, b'\n', b'\r'],
    );
    let mut c = f.connect();

    let r = c.request(&get("/page.html"));
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.body, b"<p>page</p>\n");

    let r = c.request(&get("/blob.qqqz"));
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.body, [0, 1, 2, 255, 254, b'\n', b'\r']);

    let r = c.request(&get("/hello.txt"));
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
}

#[test]
fn head_returns_the_get_headers_without_a_body() {
    let f = start_basic(&[]);
    write_file(f.root.path(), "page.html", b"<p>page</p>\n");
    let mut c = f.connect();
    c.send(&cat(&[&head("/page.html"), &get("/page.html")]));
    let h = c.read_head_response();
    h.assert_status(200);
    assert_eq!(h.content_length(), Some(12));
    assert_eq!(h.header("content-type"), Some("text/html; charset=utf-8"));
    let g = c.read_response();
    g.assert_status(200);
    assert_eq!(g.body, b"<p>page</p>\n");
}

#[test]
fn empty_file_is_served_with_length_zero() {
    let f = start_basic(&[]);
    write_file(f.root.path(), "empty.txt", b"");
    let mut c = f.connect();
    let r = c.request(&get("/empty.txt"));
    r.assert_status(200);
    assert_eq!(r.content_length(), Some(0));
    expect_still_open(&mut c);
}

#[test]
fn percent_encoded_names_are_decoded() {
    let f = start_basic(&[]);
    write_file(f.root.path(), "hello world.txt", b"spaced\n");
    write_file(f.root.path(), "sub dir/n\u{e9}.txt", b"accent\n");
    let mut c = f.connect();
    let r = c.request(&get("/hello%20world.txt"));
    r.assert_status(200);
    assert_eq!(r.body, b"spaced\n");
    let r = c.request(&get("/sub%20dir/n%C3%A9.txt"));
    r.assert_status(200);
    assert_eq!(r.body, b"accent\n");
}

#[test]
fn query_string_does_not_change_the_file() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    let r = c.request(&get("/hello.txt?x=1&y=2"));
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
}

#[test]
fn directory_without_slash_redirects_301_to_the_slash() {
    let f = start_basic(&[]);
    write_file(f.root.path(), "dir/index.html", b"dir index\n");
    let mut c = f.connect();
    let r = c.request(&get("/dir"));
    r.assert_status(301);
    assert_eq!(r.header("location"), Some("/dir/"));
    expect_still_open(&mut c);
}

#[test]
fn directory_with_index_html_serves_it() {
    let f = start_basic(&[]);
    write_file(f.root.path(), "dir/index.html", b"<p>dir index</p>\n");
    let mut c = f.connect();
    let r = c.request(&get("/dir/"));
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.body, b"<p>dir index</p>\n");
}

#[test]
fn root_serves_its_index_html() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    let r = c.request(&get("/"));
    r.assert_status(200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.body, INDEX_HTML);
}

#[test]
fn directory_without_index_gets_an_escaped_html_listing() {
    let f = start_basic(&[]);
    write_file(f.root.path(), "list/a<b>&c.txt", b"tricky\n");
    write_file(f.root.path(), "list/plain-name.txt", b"plain\n");
    std::fs::create_dir(f.root.path().join("list/subdir")).unwrap();
    let mut c = f.connect();
    let r = c.request(&get("/list/"));
    r.assert_status(200);
    let ct = r.header("content-type").unwrap_or("");
    assert!(ct.starts_with("text/html"), "listing Content-Type {ct:?}");
    let body = r.body_str();
    assert!(
        body.contains("plain-name.txt"),
        "listing lacks plain-name.txt:\n{body}"
    );
    assert!(body.contains("subdir"), "listing lacks subdir:\n{body}");
    assert!(
        body.contains("a&lt;b&gt;&amp;c.txt"),
        "listing lacks the escaped name:\n{body}"
    );
    assert!(
        !body.contains("a<b>"),
        "listing contains the raw name:\n{body}"
    );
    // HEAD of the listing matches its GET length.
    c.send(&head("/list/"));
    let h = c.read_head_response();
    h.assert_status(200);
    assert_eq!(h.content_length(), Some(r.body.len() as u64));
}

#[test]
fn symlink_to_a_file_outside_the_root_is_403() {
    let f = start_basic(&[]);
    let outside = tempfile::tempdir().unwrap();
    write_file(outside.path(), "secret.txt", b"secret\n");
    symlink(
        outside.path().join("secret.txt"),
        f.root.path().join("leak.txt"),
    )
    .unwrap();
    symlink(outside.path(), f.root.path().join("leakdir")).unwrap();
    let mut c = f.connect();
    let r = c.request(&get("/leak.txt"));
    r.assert_status(403).assert_no_connection_close();
    assert!(!r.body_str().contains("secret"));
    let r = c.request(&get("/leakdir/secret.txt"));
    r.assert_status(403);
    expect_still_open(&mut c);
}

#[test]
fn symlink_to_a_file_inside_the_root_is_served() {
    let f = start_basic(&[]);
    symlink(
        f.root.path().join("hello.txt"),
        f.root.path().join("alias.txt"),
    )
    .unwrap();
    symlink("hello.txt", f.root.path().join("relative-alias.txt")).unwrap();
    let mut c = f.connect();
    for p in ["/alias.txt", "/relative-alias.txt"] {
        let r = c.request(&get(p));
        r.assert_status(200);
        assert_eq!(r.body, HELLO, "{p}");
    }
}

#[test]
fn file_larger_than_one_mebibyte_is_served_whole_and_exact() {
    let f = start_basic(&[]);
    let data = pseudo_random(3 * 1024 * 1024 + 12_345, 0x5eed);
    write_file(f.root.path(), "big.dat", &data);
    let mut c = f.connect();
    let r = c.request(&get("/big.dat"));
    r.assert_status(200);
    assert_eq!(r.content_length(), Some(data.len() as u64));
    assert!(r.body == data, "large body differs from the file");
    // The connection is reusable after a sendfile body.
    expect_still_open(&mut c);
    // And twice more, pipelined.
    c.send(&cat(&[&get("/big.dat"), &get("/big.dat")]));
    for _ in 0..2 {
        let r = c.read_response();
        r.assert_status(200);
        assert!(r.body == data, "large pipelined body differs from the file");
    }
}

#[test]
fn head_of_a_large_file_sends_no_body() {
    let f = start_basic(&[]);
    let data = pseudo_random(2 * 1024 * 1024 + 1, 7);
    write_file(f.root.path(), "big.dat", &data);
    let mut c = f.connect();
    // HEAD then GET pipelined: a body after the HEAD reply would corrupt the GET reply.
    c.send(&cat(&[&head("/big.dat"), &get("/hello.txt")]));
    let h = c.read_head_response();
    h.assert_status(200);
    assert_eq!(h.content_length(), Some(data.len() as u64));
    let r = c.read_response();
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
}

/// Dotfiles (`.git/config`, `.env`, `.htpasswd`) are not served or listed by default: 404, as if
/// missing, also spelled `%2E`; `/.well-known/` always is (RFC 8615); `--hidden` serves and lists
/// them all. `.` and `..` segments are path syntax, not dotfiles.
#[test]
fn dotfiles_are_hidden_unless_asked_for() {
    let setup = |f: &Fixture| {
        let root = f.root.path();
        write_file(root, ".env", b"SECRET=1\n");
        write_file(root, ".git/config", b"[core]\n");
        write_file(root, "dir/.htpasswd", b"u:x\n");
        write_file(root, ".well-known/security.txt", b"Contact: x\n");
        write_file(root, "dir/visible.txt", b"v\n");
    };
    let f = start_basic(&[]);
    setup(&f);
    let mut c = f.connect();
    for hidden in [
        "/.env",
        "/.git/config",
        "/.git/",
        "/dir/.htpasswd",
        "/%2Eenv",
        "/dir/%2ehtpasswd",
    ] {
        c.request(&get(hidden)).assert_status(404);
    }
    let r = c.request(&get("/.well-known/security.txt"));
    r.assert_status(200);
    assert_eq!(r.body, b"Contact: x\n");
    assert_eq!(c.request(&get("/dir/./visible.txt")).body, b"v\n");
    assert_eq!(c.request(&get("/dir/../dir/visible.txt")).body, b"v\n");
    let listing = c.request(&get("/dir/")).body_str();
    assert!(
        listing.contains("visible.txt") && !listing.contains(".htpasswd"),
        "{listing}"
    );
    let root = c.request(&get("/?format=json")).body_str();
    assert!(!root.contains(".env") && !root.contains(".git"), "{root}");

    let f = start_basic(&["--hidden"]);
    setup(&f);
    let mut c = f.connect();
    assert_eq!(c.request(&get("/.env")).body, b"SECRET=1\n");
    assert_eq!(c.request(&get("/dir/.htpasswd")).body, b"u:x\n");
    let listing = c.request(&get("/dir/")).body_str();
    assert!(listing.contains(".htpasswd"), "{listing}");
}

/// RFC 3986 section 5.2.4: `/dir/..` is `/` and `/dir/.` is `/dir/` once dot segments are
/// removed, whether `dir` exists or not: served at once, not redirected to `/dir/../`.
#[test]
fn dot_segments_at_the_end_name_the_directory_without_a_redirect() {
    let f = start_basic(&[]);
    write_file(f.root.path(), "sub/index.html", b"<p>sub</p>");
    let mut c = f.connect();
    for (path, body) in [
        ("/nosuch/..", INDEX_HTML),
        ("/sub/..", INDEX_HTML),
        ("/sub/.", &b"<p>sub</p>"[..]),
        ("/nosuch/../sub/%2e", b"<p>sub</p>"),
    ] {
        let r = c.request(&get(path));
        r.assert_status(200);
        assert_eq!(r.body, body, "{path}");
    }
    let r = c.request(&get("/sub"));
    r.assert_status(301);
    assert_eq!(r.header("location"), Some("/sub/"));
    // A listing reached that way (no index.html): its breadcrumbs resolve the dot segments.
    std::fs::remove_file(f.root.path().join("sub/index.html")).unwrap();
    for path in ["/sub/.", "/nosuch/../sub/."] {
        let r = c.request(&get(path));
        r.assert_status(200);
        assert!(
            r.body_str().contains("<a href=\"/sub/\">sub</a>/</h1>"),
            "{path}: {}",
            r.body_str()
        );
    }
}

/// Issue 15: a data directory inside ROOT is neither served nor listed there, under any
/// spelling of its path; the records stay readable at `/devices/`.
#[test]
fn a_data_directory_inside_root_is_neither_served_nor_listed() {
    let root = basic_root();
    // No index.html: `/` shows ROOT's listing.
    std::fs::remove_file(root.path().join("index.html")).unwrap();
    std::fs::create_dir_all(root.path().join("var")).unwrap();
    for data_rel in ["data", "var/data"] {
        let data = root.path().join(data_rel);
        let data_arg = data.to_str().unwrap();
        let server = Server::start(root.path(), &["--data", data_arg]);
        let mut c = server.connect();
        let post = b"POST /devices/probe HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\n\r\nt=1";
        c.request(post).assert_status(204);
        assert_eq!(std::fs::read(data.join("probe")).unwrap(), b"t=1\n");
        let under = format!("/{data_rel}");
        let encoded = under.replacen("data", "d%61ta", 1);
        for path in [
            under.clone(),
            format!("{under}/"),
            format!("{under}/probe"),
            format!("{encoded}/probe"),
            format!("{under}/../{data_rel}/probe"),
            format!("{under}/?format=json"),
        ] {
            c.request(&get(&path)).assert_status(404);
        }
        let parent = if data_rel == "data" { "/" } else { "/var/" };
        let listing = c.request(&get(parent));
        listing.assert_status(200);
        // No row for it (the page's `data:,` icon link is not one).
        assert!(
            !listing.body_str().contains("data/"),
            "{parent}: {}",
            listing.body_str()
        );
        let json = c.request(&get(&format!("{parent}?format=json")));
        assert!(!json.body_str().contains("data"), "{}", json.body_str());
        assert_eq!(c.request(&get("/devices/probe")).body, b"t=1\n");
        // Files beside it are still served.
        assert_eq!(c.request(&get("/hello.txt")).body, HELLO);
    }
}
