//! Tests of path resolution and listings against a real temporary tree: files, nested
//! directories, index files, symlinks inside and out of the root, a FIFO, a socket, and hostile
//! names. Every resolution test runs both with `openat2` and with the canonicalize fallback.

use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rustix::io::Errno;
use tempfile::TempDir;

use super::*;

const HOSTILE: &str = "<script>&\"'.txt";

/// `tmp/outside.txt` and `tmp/root/...`; returns the temp dir and the root path.
fn tree() -> (TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let base = fs::canonicalize(tmp.path()).unwrap();
    let root = base.join("root");
    let write = |rel: &str, body: &str| {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    };
    fs::write(base.join("outside.txt"), "secret").unwrap();
    write("hello.txt", "hello");
    for name in [
        "page.html",
        "data.json",
        "logo.svg",
        "app.wasm",
        "pic.webp",
        "pic.avif",
        "mod.mjs",
        "table.csv",
        "app.log",
        "blob.unknownext",
        "noext",
    ] {
        write(name, name);
    }
    write("sub/file.txt", "in sub");
    write("sub/index.html", "<h1>sub</h1>");
    write("sub/deeper/file.bin", "bin");
    write("list/b.txt", "bb");
    write("list/A.txt", "a");
    write("list/c.txt", &"c".repeat(1300));
    write(&format!("list/{HOSTILE}"), "x");
    fs::create_dir_all(root.join("list/zdir")).unwrap();
    fs::create_dir_all(root.join("list/Adir")).unwrap();
    fs::write(root.join(OsStr::from_bytes(b"list/caf\xe9.txt")), "latin1").unwrap();
    symlink("../../outside.txt", root.join("list/escape")).unwrap();
    write("pct%41.txt", "percent");
    symlink("sub/file.txt", root.join("link-in")).unwrap();
    symlink("sub", root.join("link-dir")).unwrap();
    symlink(root.join("sub/file.txt"), root.join("link-abs")).unwrap();
    symlink(root.join("sub"), root.join("link-abs-dir")).unwrap();
    symlink("/etc", root.join("link-etc")).unwrap();
    symlink("../outside.txt", root.join("link-out")).unwrap();
    symlink("link-loop", root.join("link-loop")).unwrap();
    symlink("nothing-here", root.join("link-dangling")).unwrap();
    write("idx-in/other.html", "other");
    symlink("other.html", root.join("idx-in/index.html")).unwrap();
    fs::create_dir_all(root.join("idx-out")).unwrap();
    symlink("../../outside.txt", root.join("idx-out/index.html")).unwrap();
    fs::create_dir_all(root.join("idx-dir/index.html")).unwrap();
    nix::unistd::mkfifo(
        &root.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    (tmp, root)
}

/// Runs `check` once with `openat2` and once on the canonicalize fallback.
fn both_modes(check: impl Fn(&Root, &mut Scratch)) {
    let (_tmp, root_path) = tree();
    for fallback in [false, true] {
        let root = Root::open(&root_path).unwrap();
        if fallback {
            root.disable_openat2();
        } else if !root.openat2.load(Ordering::Relaxed) {
            eprintln!("openat2 unavailable here: only the fallback is tested");
        }
        check(&root, &mut Scratch::default());
    }
}

fn body(resolved: Result<Resolved, RequestError>, path: &str) -> String {
    match resolved {
        Ok(Resolved::File(f)) => {
            let mut s = String::new();
            (&*f.file).read_to_string(&mut s).unwrap();
            s
        }
        other => panic!("{path}: expected a file, got {other:?}"),
    }
}

fn err(resolved: Result<Resolved, RequestError>) -> Option<RequestError> {
    resolved.err()
}

#[test]
fn decoding_and_dot_segments() {
    both_modes(|root, s| {
        for (path, want) in [
            ("/hello.txt", "hello"),
            ("/hello%2Etxt", "hello"),
            ("/%68ello.txt", "hello"),
            ("//sub//file.txt", "in sub"),
            ("/sub/./deeper/../file.txt", "in sub"),
            ("/a/../hello.txt", "hello"),
            ("/sub/%2e%2e/hello.txt", "hello"),
            ("/pct%2541.txt", "percent"),
        ] {
            assert_eq!(body(resolve(root, path, s), path), want, "{path}");
        }
        assert_eq!(
            body(resolve(root, "/list/caf%E9.txt", s), "latin1"),
            "latin1"
        );
        for path in [
            "/..",
            "/../root/hello.txt",
            "/%2e%2e/outside.txt",
            "/sub/../../outside.txt",
            "/sub%2Ffile.txt",
            "/sub%2ffile.txt",
            "/hello.txt%00",
            "/hello\0.txt",
            "/%zz",
            "/hello%2",
            "hello.txt",
            "",
        ] {
            assert_eq!(
                err(resolve(root, path, s)),
                Some(RequestError::BadPath),
                "{path:?}"
            );
        }
    });
}

#[test]
fn directories_redirect_index_and_list() {
    both_modes(|root, s| {
        assert!(matches!(
            resolve(root, "/sub", s),
            Ok(Resolved::RedirectToSlash)
        ));
        assert!(matches!(
            resolve(root, "/sub/deeper", s),
            Ok(Resolved::RedirectToSlash)
        ));
        // `/sub/.` and `/sub/deeper/..` are `/sub/` once dot segments are removed (RFC 3986
        // section 5.2.4): its index, no redirect.
        for dotted in ["/sub/.", "/sub/deeper/..", "/nosuch/../sub/."] {
            assert_eq!(body(resolve(root, dotted, s), dotted), "<h1>sub</h1>");
        }
        assert!(matches!(
            resolve(root, "/nosuch/..", s),
            Ok(Resolved::Directory(_))
        ));
        match resolve(root, "/sub/", s) {
            Ok(Resolved::File(f)) => {
                assert_eq!(f.content_type.essence, "text/html");
                assert_eq!(f.len, "<h1>sub</h1>".len() as u64);
            }
            other => panic!("/sub/: {other:?}"),
        }
        assert_eq!(body(resolve(root, "/sub//", s), "/sub//"), "<h1>sub</h1>");
        assert!(matches!(resolve(root, "/", s), Ok(Resolved::Directory(_))));
        assert!(matches!(
            resolve(root, "/sub/deeper/", s),
            Ok(Resolved::Directory(_))
        ));
        assert!(matches!(
            resolve(root, "/list/", s),
            Ok(Resolved::Directory(_))
        ));
        // An index.html that is a directory is no index.
        assert!(matches!(
            resolve(root, "/idx-dir/", s),
            Ok(Resolved::Directory(_))
        ));
        // An index.html symlink to a file inside the root is followed; one leading out is not.
        assert_eq!(body(resolve(root, "/idx-in/", s), "/idx-in/"), "other");
        assert_eq!(
            err(resolve(root, "/idx-out/", s)),
            Some(RequestError::Forbidden)
        );
    });
}

#[test]
fn missing_paths_are_not_found() {
    both_modes(|root, s| {
        for path in [
            "/missing",
            "/sub/missing.txt",
            "/hello.txt/",
            "/hello.txt/x",
            "/link-dangling",
        ] {
            assert_eq!(
                err(resolve(root, path, s)),
                Some(RequestError::NotFound),
                "{path}"
            );
        }
        let long = format!("/{}", "a".repeat(300));
        assert_eq!(err(resolve(root, &long, s)), Some(RequestError::NotFound));
    });
}

#[test]
fn symlinks_inside_the_root_are_followed() {
    both_modes(|root, s| {
        assert_eq!(body(resolve(root, "/link-in", s), "/link-in"), "in sub");
        assert_eq!(
            body(resolve(root, "/link-dir/file.txt", s), "/link-dir"),
            "in sub"
        );
        assert_eq!(body(resolve(root, "/link-abs", s), "/link-abs"), "in sub");
        assert_eq!(
            body(resolve(root, "/link-abs-dir/file.txt", s), "abs-dir"),
            "in sub"
        );
        assert!(matches!(
            resolve(root, "/link-abs-dir", s),
            Ok(Resolved::RedirectToSlash)
        ));
        assert!(matches!(
            resolve(root, "/link-abs-dir/", s),
            Ok(Resolved::File(_))
        ));
    });
}

#[test]
fn symlinks_out_of_the_root_are_forbidden() {
    both_modes(|root, s| {
        for path in [
            "/link-etc",
            "/link-etc/",
            "/link-etc/passwd",
            "/link-out",
            "/link-loop",
            "/list/escape",
        ] {
            assert_eq!(
                err(resolve(root, path, s)),
                Some(RequestError::Forbidden),
                "{path}"
            );
        }
    });
}

#[test]
fn fifo_and_socket_are_forbidden_without_blocking() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        both_modes(|root, s| {
            tx.send((
                err(resolve(root, "/fifo", s)),
                err(resolve(root, "/sock", s)),
            ))
            .unwrap();
        });
    });
    for _ in 0..2 {
        let got = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("opening a FIFO blocked");
        assert_eq!(
            got,
            (Some(RequestError::Forbidden), Some(RequestError::Forbidden))
        );
    }
}

#[test]
fn open_file_metadata_and_content_types() {
    both_modes(|root, s| {
        let Ok(Resolved::File(f)) = resolve(root, "/hello.txt", s) else {
            panic!()
        };
        let meta = fs::metadata(root.path().join("hello.txt")).unwrap();
        assert_eq!((f.len, f.inode), (5, meta.ino()));
        assert_eq!(f.modified, meta.modified().unwrap());
        for (path, want) in [
            ("/page.html", "text/html; charset=utf-8"),
            ("/hello.txt", "text/plain; charset=utf-8"),
            ("/data.json", "application/json; charset=utf-8"),
            ("/logo.svg", "image/svg+xml"),
            ("/app.wasm", "application/wasm"),
            ("/pic.webp", "image/webp"),
            ("/pic.avif", "image/avif"),
            ("/mod.mjs", "text/javascript; charset=utf-8"),
            ("/table.csv", "text/csv; charset=utf-8"),
            ("/app.log", "text/plain; charset=utf-8"),
            ("/blob.unknownext", "application/octet-stream"),
            ("/noext", "application/octet-stream"),
            ("/sub/", "text/html; charset=utf-8"),
            // The type follows the name in the URL, not the symlink's target.
            ("/link-in", "application/octet-stream"),
        ] {
            let Ok(Resolved::File(f)) = resolve(root, path, s) else {
                panic!("{path}")
            };
            let mut value = Vec::new();
            f.content_type.write_to(&mut value);
            assert_eq!(String::from_utf8(value).unwrap(), want, "{path}");
        }
    });
}

#[test]
fn warm_scratch_is_not_reallocated() {
    let (_tmp, root_path) = tree();
    let root = Root::open(&root_path).unwrap();
    let mut s = Scratch::default();
    resolve(&root, "/sub/deeper/file.bin", &mut s).unwrap();
    let (ptr, cap) = (s.path.as_ptr(), s.path.capacity());
    for path in ["/hello.txt", "/sub/", "/sub", "/", "/missing", "/link-in"] {
        let _ = resolve(&root, path, &mut s);
        assert_eq!((s.path.as_ptr(), s.path.capacity()), (ptr, cap), "{path}");
    }
}

#[test]
fn open_errors_map_to_statuses() {
    use OpenFailure::*;
    for (errno, want) in [
        (Errno::NOENT, Refuse(RequestError::NotFound)),
        (Errno::NOTDIR, Refuse(RequestError::NotFound)),
        (Errno::NAMETOOLONG, Refuse(RequestError::NotFound)),
        (Errno::ACCESS, Refuse(RequestError::Forbidden)),
        (Errno::PERM, Refuse(RequestError::Forbidden)),
        (Errno::NXIO, Refuse(RequestError::Forbidden)),
        (Errno::IO, Refuse(RequestError::Internal)),
        (Errno::MFILE, Refuse(RequestError::Internal)),
        (Errno::XDEV, CheckSymlink),
        (Errno::LOOP, CheckSymlink),
        (Errno::NOSYS, NoOpenat2),
        (Errno::AGAIN, Retry),
    ] {
        assert_eq!(classify(errno), want, "{errno:?}");
    }
    let denied = io::Error::from_raw_os_error(Errno::ACCESS.raw_os_error());
    assert_eq!(refusal_io(&denied), RequestError::Forbidden);
    assert_eq!(
        refusal_io(&io::Error::other("no errno")),
        RequestError::Internal
    );
}

#[test]
fn root_open_requires_a_directory() {
    let (_tmp, root_path) = tree();
    let missing = Root::open(&root_path.join("nope")).unwrap_err();
    assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    assert!(missing.to_string().contains("nope"), "{missing}");
    let file = Root::open(&root_path.join("hello.txt")).unwrap_err();
    assert!(file.to_string().contains("hello.txt"), "{file}");
    assert!(file.to_string().contains("Not a directory"), "{file}");
    let root = Root::open(&root_path.join("sub/../sub")).unwrap();
    assert_eq!(root.path(), root_path.join("sub"));
}

fn listing(root: &Root, url: &str) -> String {
    let Ok(Resolved::Directory(dir)) = resolve(root, url, &mut Scratch::default()) else {
        panic!("{url} is not a listable directory")
    };
    let mut out = Vec::new();
    render_listing(&dir, url, ListingOrder::default(), &mut out).unwrap();
    // The directory's own offset is untouched: it can be listed again.
    let mut again = Vec::new();
    render_listing(&dir, url, ListingOrder::default(), &mut again).unwrap();
    assert_eq!(out, again);
    String::from_utf8(out).unwrap()
}

#[test]
fn listing_orders_escapes_and_links() {
    let (_tmp, root_path) = tree();
    let root = Root::open(&root_path).unwrap();
    let page = listing(&root, "/list/");
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    for needle in [
        "<meta charset=\"utf-8\">",
        "<meta name=\"viewport\"",
        "<title>Index of /list/</title>",
        "href=\"%3Cscript%3E%26%22%27.txt\">&lt;script&gt;&amp;&quot;&#39;.txt</a>",
        "href=\"caf%E9.txt\">caf\u{fffd}.txt</a>",
        "href=\"zdir/\">zdir/</a>",
        "href=\"c.txt\">c.txt</a></td><td class=\"s\">1.3 KiB</td>",
        "href=\"b.txt\">b.txt</a></td><td class=\"s\">2 B</td>",
        "<h1>Index of <a href=\"/\">/</a><a href=\"/list/\">list</a>/</h1>",
        "<input type=\"search\" id=\"filter\"",
    ] {
        assert!(page.contains(needle), "missing {needle:?} in\n{page}");
    }
    // The one script is the filter's: no file name makes it into script context.
    assert_eq!(page.matches("<script>").count(), 1, "{page}");
    assert!(!page.contains("<script>&"), "{page}");
    assert!(!page.contains("href=\".\"") && !page.contains("href=\"./\""));
    let order: Vec<&str> = [
        "../", "Adir/", "zdir/", "<", "A.txt", "b.txt", "c.txt", "caf", "escape",
    ]
    .iter()
    .map(|n| {
        let at = page
            .find(&format!("\">{}", n.replace('<', "&lt;")))
            .unwrap_or_else(|| panic!("{n}"));
        &page[at..]
    })
    .collect();
    assert!(
        order.windows(2).all(|w| w[0].len() > w[1].len()),
        "wrong order in\n{page}"
    );
    // A directory's modification time is shown as UTC minutes.
    let date = page.split("<td class=\"m\">").nth(2).unwrap();
    assert_eq!(date.as_bytes()[4], b'-');
    assert_eq!(&date[10..11], " ");
}

#[test]
fn listing_of_root_and_encoded_paths() {
    let (_tmp, root_path) = tree();
    let root = Root::open(&root_path).unwrap();
    let page = listing(&root, "/");
    assert!(page.contains("<title>Index of /</title>"));
    assert!(!page.contains("href=\"../\""));
    assert!(
        page.contains("href=\"link-dir/\">link-dir/</a>"),
        "symlinked dir shown as dir"
    );
    assert!(page.contains("href=\"pct%2541.txt\">pct%41.txt</a>"));
    assert!(page.contains("href=\"link-dangling\">link-dangling</a></td><td class=\"s\">-</td>"));

    fs::create_dir_all(root_path.join("a <b>")).unwrap();
    let page = listing(&root, "/a%20%3Cb%3E/");
    assert!(
        page.contains("<title>Index of /a &lt;b&gt;/</title>"),
        "{page}"
    );
    assert!(page.contains("href=\"../\""));
}

#[test]
fn paths_with_odd_bytes_stay_inside() {
    both_modes(|root, s| {
        let made = root.path().join(OsStr::from_bytes(b"odd\\..\\name"));
        fs::write(&made, "odd").unwrap();
        assert_eq!(body(resolve(root, "/odd%5C..%5Cname", s), "odd"), "odd");
        fs::remove_file(Path::new(&made)).unwrap();
    });
}
