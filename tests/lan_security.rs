//! The request-level defences: the Host rule against DNS rebinding (421), cross-site writes
//! (403), the ingest token (`--ingest-token`, Bearer) and read credentials (`--auth`, Basic).
//! Every refusal keeps the connection and writes nothing to the device store.

mod common;

use std::path::Path;

use common::*;

/// A server over [`basic_root`] with its device files in a directory the test can read.
struct Site {
    f: Fixture,
    data: tempfile::TempDir,
}

impl Site {
    fn start(extra: &[&str]) -> Site {
        Site::start_env(extra, &[])
    }

    fn start_env(extra: &[&str], env: &[(&str, &str)]) -> Site {
        let root = basic_root();
        let data = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = vec!["-l".into(), "127.0.0.1:0".into()];
        args.push("--data".into());
        args.push(data.path().to_str().unwrap().into());
        args.extend(extra.iter().map(ToString::to_string));
        args.push(root.path().to_str().unwrap().into());
        let server = Server::start_args_env(&args, 1, env);
        Site {
            f: Fixture { server, root },
            data,
        }
    }

    fn connect(&self) -> Client {
        self.f.connect()
    }

    /// What device `id`'s file holds (empty if it does not exist).
    fn device(&self, id: &str) -> String {
        read_or_empty(&self.data.path().join(id))
    }
}

fn read_or_empty(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// `METHOD target HTTP/1.1` with `Host: host`, the extra field lines, and `body`.
fn request(method: &str, target: &str, host: &str, fields: &[&str], body: &str) -> Vec<u8> {
    let mut r = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
    for f in fields {
        r.push_str(f);
        r.push_str("\r\n");
    }
    if !body.is_empty() || method == "POST" {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r.into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Host (DNS rebinding)
// ---------------------------------------------------------------------------------------------

#[test]
fn host_rule_table() {
    let s = Site::start(&["--server-name", "Sluice.Example.COM"]);
    let accepted = [
        "127.0.0.1",
        "127.0.0.1:8080",
        "192.168.1.20",
        "[::1]:8080",
        "[fe80::1]",
        "localhost",
        "LocalHost:80",
        "localhost.",
        "nas",
        "printer-2:8080",
        "sluice.local",
        "SLUICE.LOCAL.",
        "pi.home.arpa:8080",
        "box.lan",
        "db.internal",
        "sluice.example.com",
        "sluice.example.com.:8080",
    ];
    let refused = [
        "evil.example",
        "evil.example:8080",
        "attacker.com.",
        "sluice.local.evil.example",
        "lan.evil.example",
        "www.sluice.example.com",
        "1.2.3",
        "127.0.0.1.nip.io",
        "a%2Eb",
        "[v1.x]",
    ];
    let mut c = s.connect();
    for host in accepted {
        let r = c.request(&request("GET", "/hello.txt", host, &[], ""));
        assert_eq!(
            r.status, 200,
            "Host {host:?} should be answered:\n{}",
            r.raw_head
        );
        assert_eq!(r.body, HELLO);
    }
    for host in refused {
        let r = c.request(&request("GET", "/hello.txt", host, &[], ""));
        assert_eq!(
            r.status, 421,
            "Host {host:?} should get 421:\n{}",
            r.raw_head
        );
        assert_eq!(r.reason, "Misdirected Request");
        r.assert_no_connection_close();
    }
    expect_still_open(&mut c);
}

#[test]
fn absolute_form_authority_is_the_host_that_counts() {
    let s = Site::start(&[]);
    let mut c = s.connect();
    let r = c.request(b"GET http://evil.example/hello.txt HTTP/1.1\r\nHost: test\r\n\r\n");
    r.assert_status(421);
    assert!(
        r.body_str().contains("--server-name NAME"),
        "the 421 says how to answer that name: {}",
        r.body_str()
    );
    let r = c.request(b"GET http://box.lan:8080/hello.txt HTTP/1.1\r\nHost: evil.example\r\n\r\n");
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
}

#[test]
fn http10_without_host_is_answered() {
    let s = Site::start(&[]);
    let mut c = s.connect();
    let r = c.request(b"GET /hello.txt HTTP/1.0\r\n\r\n");
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
}

#[test]
fn a_post_to_a_foreign_host_writes_nothing() {
    let s = Site::start(&[]);
    let mut c = s.connect();
    let r = c.request(&request(
        "POST",
        "/devices/d",
        "evil.example",
        &[],
        "rebound\n",
    ));
    r.assert_status(421);
    // The body was read and discarded: the connection is in step.
    let r = c.request(&request("POST", "/devices/d", "sluice.lan", &[], "ok\n"));
    r.assert_status(204);
    assert_eq!(s.device("d"), "ok\n");
}

// ---------------------------------------------------------------------------------------------
// Cross-site writes
// ---------------------------------------------------------------------------------------------

#[test]
fn origin_and_fetch_metadata_cases() {
    let s = Site::start(&[]);
    let host = "sluice.lan:8080";
    // (fields, accepted)
    let cases: &[(&[&str], bool)] = &[
        (&[], true),
        (&["Origin: http://sluice.lan:8080"], true),
        (&["Origin: HTTP://Sluice.LAN:8080"], true),
        (&["Origin: https://sluice.lan:8080"], true),
        (&["Sec-Fetch-Site: same-origin"], true),
        (&["Sec-Fetch-Site: same-site"], true),
        (&["Sec-Fetch-Site: none"], true),
        (
            &[
                "Origin: http://sluice.lan:8080",
                "Sec-Fetch-Site: same-origin",
            ],
            true,
        ),
        (&["Origin: http://evil.example"], false),
        (&["Origin: http://sluice.lan"], false),
        (&["Origin: http://sluice.lan:8081"], false),
        (&["Origin: http://other.lan:8080"], false),
        (&["Origin: null"], false),
        (&["Origin: file://"], false),
        (&["Sec-Fetch-Site: cross-site"], false),
        (
            &[
                "Origin: http://sluice.lan:8080",
                "Sec-Fetch-Site: cross-site",
            ],
            false,
        ),
    ];
    let mut c = s.connect();
    let mut expected = String::new();
    for (i, (fields, accepted)) in cases.iter().enumerate() {
        let body = format!("record {i}\n");
        let r = c.request(&request("POST", "/devices/web", host, fields, &body));
        if *accepted {
            assert_eq!(
                r.status, 204,
                "{fields:?} should be accepted:\n{}",
                r.raw_head
            );
            expected.push_str(&body);
        } else {
            assert_eq!(r.status, 403, "{fields:?} should get 403:\n{}", r.raw_head);
            assert_eq!(r.body, b"cross-site write refused\n");
            r.assert_no_connection_close();
        }
    }
    assert_eq!(s.device("web"), expected, "only accepted bodies are stored");
    expect_still_open(&mut c);
}

#[test]
fn every_write_method_is_checked_and_reads_are_not() {
    let s = Site::start(&[]);
    let evil = ["Origin: http://evil.example"];
    let mut c = s.connect();
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let r = c.request(&request(method, "/hello.txt", "test", &evil, "x"));
        assert_eq!(r.status, 403, "cross-site {method}:\n{}", r.raw_head);
    }
    // Same-origin, the non-ingest writes reach their route (and its 405).
    let r = c.request(&request(
        "PUT",
        "/hello.txt",
        "test",
        &["Origin: http://test"],
        "x",
    ));
    r.assert_status(405);
    // A read from another origin is served (CORS decides what that page may see of it).
    let r = c.request(&request("GET", "/hello.txt", "test", &evil, ""));
    r.assert_status(200);
    assert!(s.device("hello.txt").is_empty());
}

#[test]
fn cross_site_post_with_expect_gets_no_100_continue() {
    let s = Site::start(&[]);
    let mut c = s.connect();
    c.send(
        b"POST /devices/x HTTP/1.1\r\nHost: test\r\nOrigin: http://evil.example\r\n\
          Expect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    let r = c.read_response();
    r.assert_status(403);
    r.assert_connection_close();
    assert!(s.device("x").is_empty());
}

// ---------------------------------------------------------------------------------------------
// --ingest-token (Bearer) for writes
// ---------------------------------------------------------------------------------------------

const TOKEN: &str = "s3cr3t-T0ken_x";

#[test]
fn ingest_token_right_wrong_missing_malformed() {
    let s = Site::start(&["--ingest-token", TOKEN]);
    let right = format!("Authorization: Bearer {TOKEN}");
    let lower = format!("Authorization: bearer {TOKEN}");
    let cases: &[(&str, bool)] = &[
        (&right, true),
        (&lower, true),
        ("", false),
        ("Authorization: Bearer s3cr3t-T0ken_y", false),
        ("Authorization: Bearer s3cr3t-T0ken_", false),
        ("Authorization: Bearer s3cr3t-T0ken_xx", false),
        ("Authorization: Bearer", false),
        ("Authorization: Bearers3cr3t-T0ken_x", false),
        ("Authorization: Basic s3cr3t-T0ken_x", false),
        ("Authorization: s3cr3t-T0ken_x", false),
        ("Authorization: Bearer s3cr3t-T0ken_x extra", false),
    ];
    let mut c = s.connect();
    let mut expected = String::new();
    for (i, (field, accepted)) in cases.iter().enumerate() {
        let fields: Vec<&str> = [*field].into_iter().filter(|f| !f.is_empty()).collect();
        let body = format!("r{i}\n");
        let r = c.request(&request("POST", "/devices/t", "test", &fields, &body));
        if *accepted {
            assert_eq!(r.status, 204, "{field:?}:\n{}", r.raw_head);
            expected.push_str(&body);
        } else {
            assert_eq!(r.status, 401, "{field:?}:\n{}", r.raw_head);
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
            r.assert_no_connection_close();
        }
    }
    assert_eq!(s.device("t"), expected, "only authorized bodies are stored");
    // The other ingest routes need it too; reads do not.
    let r = c.request(&request("POST", "/ingest?device=t", "test", &[], "no\n"));
    r.assert_status(401);
    let r = c.request(&request("POST", "/", "test", &[], "no\n"));
    r.assert_status(401);
    expect_still_open(&mut c);
    assert_eq!(s.device("t"), expected);
}

#[test]
fn ingest_token_from_the_environment() {
    let s = Site::start_env(&[], &[("SLUICE_INGEST_TOKEN", "from-env")]);
    let mut c = s.connect();
    let r = c.request(&request("POST", "/devices/e", "test", &[], "no\n"));
    r.assert_status(401);
    let r = c.request(&request(
        "POST",
        "/devices/e",
        "test",
        &["Authorization: Bearer from-env"],
        "yes\n",
    ));
    r.assert_status(204);
    assert_eq!(s.device("e"), "yes\n");
}

#[test]
fn bad_secrets_on_the_command_line_are_usage_errors() {
    for args in [
        &["--ingest-token", ""][..],
        &["--ingest-token", "two words"],
        &["--auth", "nocolon"],
        &["--auth", ":nouser"],
        &["--server-name", "not a name"],
        &["--max-connections-per-peer", "0"],
    ] {
        let out = run_to_exit(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line for {args:?}: {err}");
    }
}

// ---------------------------------------------------------------------------------------------
// --auth (Basic) for reads
// ---------------------------------------------------------------------------------------------

/// base64("alice:open sesame")
const ALICE: &str = "YWxpY2U6b3BlbiBzZXNhbWU=";
const BASIC_CHALLENGE: &str = "Basic realm=\"sluice\", charset=\"UTF-8\"";

#[test]
fn basic_auth_right_wrong_missing_malformed() {
    let s = Site::start(&["--auth", "alice:open sesame"]);
    let right = format!("Authorization: Basic {ALICE}");
    let lower = format!("Authorization: basic {ALICE}");
    let as_bearer = format!("Authorization: Bearer {ALICE}");
    let cases: &[(&str, bool)] = &[
        (&right, true),
        (&lower, true),
        ("", false),
        // alice:wrong, bob:open sesame
        ("Authorization: Basic YWxpY2U6d3Jvbmc=", false),
        ("Authorization: Basic Ym9iOm9wZW4gc2VzYW1l", false),
        ("Authorization: Basic YWxpY2U6b3BlbiBzZXNhbWU", false),
        ("Authorization: Basic", false),
        ("Authorization: Basic !!!", false),
        ("Authorization: Basic alice:open sesame", false),
        (&as_bearer, false),
    ];
    let mut c = s.connect();
    for (field, accepted) in cases {
        let fields: Vec<&str> = [*field].into_iter().filter(|f| !f.is_empty()).collect();
        for path in ["/hello.txt", "/devices/x"] {
            let r = c.request(&request("GET", path, "test", &fields, ""));
            if *accepted {
                assert_ne!(r.status, 401, "{field:?} {path}:\n{}", r.raw_head);
            } else {
                assert_eq!(r.status, 401, "{field:?} {path}:\n{}", r.raw_head);
                assert_eq!(r.header("www-authenticate"), Some(BASIC_CHALLENGE));
                r.assert_no_connection_close();
            }
        }
    }
    // HEAD too, with the challenge and no body.
    c.send(&request("HEAD", "/hello.txt", "test", &[], ""));
    let r = c.read_head_response();
    r.assert_status(401);
    assert_eq!(r.header("www-authenticate"), Some(BASIC_CHALLENGE));
    let r = c.request(&request("GET", "/hello.txt", "test", &[&right], ""));
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
    // OPTIONS reveals nothing and needs nothing; writes are the token's business, not Basic's.
    let r = c.request(&request("OPTIONS", "*", "test", &[], ""));
    r.assert_status(204);
    let r = c.request(&request("POST", "/devices/w", "test", &[], "w\n"));
    r.assert_status(204);
    assert_eq!(s.device("w"), "w\n");
}

#[test]
fn with_both_writes_need_the_token_and_reads_need_basic() {
    let s = Site::start(&["--ingest-token", TOKEN, "--auth", "alice:open sesame"]);
    let basic = format!("Authorization: Basic {ALICE}");
    let bearer = format!("Authorization: Bearer {TOKEN}");
    let mut c = s.connect();
    let r = c.request(&request("POST", "/devices/b", "test", &[&basic], "no\n"));
    r.assert_status(401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = c.request(&request("POST", "/devices/b", "test", &[&bearer], "yes\n"));
    r.assert_status(204);
    let r = c.request(&request("GET", "/devices/b", "test", &[&bearer], ""));
    r.assert_status(401);
    assert_eq!(r.header("www-authenticate"), Some(BASIC_CHALLENGE));
    let r = c.request(&request("GET", "/devices/b", "test", &[&basic], ""));
    r.assert_status(200);
    assert_eq!(r.body, b"yes\n");
    // The cross-site rule still comes first: the right token does not make a foreign post ok.
    let r = c.request(&request(
        "POST",
        "/devices/b",
        "test",
        &[&bearer, "Origin: http://evil.example"],
        "evil\n",
    ));
    r.assert_status(403);
    assert_eq!(s.device("b"), "yes\n");
}

// ---------------------------------------------------------------------------------------------
// The routes that answer before ingest: live view (SSE) and CGI
// ---------------------------------------------------------------------------------------------

#[test]
fn live_view_obeys_host_and_basic_auth() {
    let s = Site::start(&["--auth", "alice:open sesame"]);
    let basic = format!("Authorization: Basic {ALICE}");
    let mut c = s.connect();
    let r = c.request(&request("GET", "/devices/x/live", "test", &[], ""));
    r.assert_status(401);
    assert_eq!(r.header("www-authenticate"), Some(BASIC_CHALLENGE));
    let r = c.request(&request(
        "GET",
        "/devices/x/live",
        "evil.example",
        &[&basic],
        "",
    ));
    r.assert_status(421);
    // With both right, the stream starts (its head is enough here).
    let mut c = s.connect();
    c.send(&request(
        "GET",
        "/devices/x/live",
        "test",
        &[&basic, "Accept: text/event-stream"],
        "",
    ));
    let head = streamed_head(&mut c);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(
        head.contains("Content-Type: text/event-stream\r\n"),
        "{head}"
    );
}

/// The head of a streamed response (no Content-Length, so not for `read_response`), read
/// straight off a fresh connection.
fn streamed_head(c: &mut Client) -> String {
    use std::io::Read;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = c.stream.read(&mut byte).expect("read a response head");
        assert_eq!(
            n,
            1,
            "closed inside the head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[test]
fn cgi_scripts_obey_the_host_origin_and_token_rules() {
    use std::os::unix::fs::PermissionsExt;
    let root = basic_root();
    let marker = tempfile::tempdir().unwrap();
    let ran = marker.path().join("ran");
    let dir = root.path().join("cgi-bin");
    std::fs::create_dir(&dir).unwrap();
    let script = dir.join("w");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncat >> '{}'\nprintf 'Content-Type: text/plain\\n\\nok\\n'\n",
            ran.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = Server::start(root.path(), &["--cgi", "--ingest-token", TOKEN]);
    let bearer = format!("Authorization: Bearer {TOKEN}");
    for (host, fields, status) in [
        ("evil.example", vec![bearer.as_str()], 421),
        (
            "test",
            vec![bearer.as_str(), "Origin: http://evil.example"],
            403,
        ),
        (
            "test",
            vec!["Sec-Fetch-Site: cross-site", bearer.as_str()],
            403,
        ),
        ("test", vec![], 401),
    ] {
        let mut c = server.connect();
        let r = c.request(&request("POST", "/cgi-bin/w", host, &fields, "refused\n"));
        assert_eq!(r.status, status, "{host} {fields:?}:\n{}", r.raw_head);
    }
    assert!(!ran.exists(), "a refused request ran the script");
    let mut c = server.connect();
    c.send(&request(
        "POST",
        "/cgi-bin/w",
        "test",
        &[&bearer],
        "allowed\n",
    ));
    let head = streamed_head(&mut c);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    drop(c);
    let deadline = std::time::Instant::now() + IO_TIMEOUT;
    while read_or_empty(&ran) != "allowed\n" {
        assert!(
            std::time::Instant::now() < deadline,
            "script output: {:?}",
            read_or_empty(&ran)
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
