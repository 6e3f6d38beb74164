//! Request framing and the error table: every malformed or refused request, sent as raw bytes,
//! gets the specified status, and the connection closes or stays usable as specified.
//! Every response read through `common` is also checked for the invariants of every response
//! (status line, Date, Server, Content-Length, error reply format).

mod common;

use common::*;

// ---------------------------------------------------------------------------------------------
// Invariants of ordinary responses
// ---------------------------------------------------------------------------------------------

#[test]
fn get_response_has_status_line_date_server_and_length() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    let r = c.request(&get("/hello.txt"));
    r.assert_status(200).assert_no_connection_close();
    assert_eq!(r.content_length(), Some(HELLO.len() as u64));
    assert_eq!(r.body, HELLO);
}

#[test]
fn head_has_the_get_content_length_and_no_body() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    let g = c.request(&get("/hello.txt"));
    g.assert_status(200);
    // HEAD then GET pipelined: if HEAD sent a body, the GET response would not parse.
    c.send(&cat(&[&head("/hello.txt"), &get("/hello.txt")]));
    let h = c.read_head_response();
    h.assert_status(200);
    assert_eq!(
        h.content_length(),
        g.content_length(),
        "HEAD Content-Length equals GET's"
    );
    assert_eq!(h.header("content-type"), g.header("content-type"));
    let g2 = c.read_response();
    g2.assert_status(200);
    assert_eq!(g2.body, HELLO);
}

#[test]
fn head_of_a_missing_file_has_length_and_no_body() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    let g = c.request(&get("/nope.txt"));
    g.assert_status(404);
    c.send(&cat(&[&head("/nope.txt"), &get("/hello.txt")]));
    let h = c.read_head_response();
    h.assert_status(404);
    assert_eq!(h.content_length(), g.content_length());
    let g2 = c.read_response();
    g2.assert_status(200);
    assert_eq!(g2.body, HELLO);
}

#[test]
fn http10_request_without_host_is_served() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    let r = c.request(b"GET /hello.txt HTTP/1.0\r\n\r\n");
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
}

// ---------------------------------------------------------------------------------------------
// Request line
// ---------------------------------------------------------------------------------------------

#[test]
fn request_line_with_double_space_is_400_and_closes() {
    let f = start_basic(&[]);
    expect_error_close(&f.server, b"GET  / HTTP/1.1\r\nHost: test\r\n\r\n", 400);
}

#[test]
fn request_line_without_version_is_400_and_closes() {
    let f = start_basic(&[]);
    expect_error_close(&f.server, b"GET /\r\nHost: test\r\n\r\n", 400);
}

#[test]
fn lowercase_method_is_an_unknown_method_501_and_keeps_the_connection() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    let r = c.request(b"get /hello.txt HTTP/1.1\r\nHost: test\r\n\r\n");
    r.assert_status(501).assert_no_connection_close();
    expect_still_open(&mut c);
}

#[test]
fn unknown_method_is_501_and_keeps_the_connection() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    let r = c.request(b"FOO / HTTP/1.1\r\nHost: test\r\n\r\n");
    r.assert_status(501).assert_no_connection_close();
    expect_still_open(&mut c);
}

#[test]
fn http_2_0_is_505_and_closes() {
    let f = start_basic(&[]);
    expect_error_close(&f.server, b"GET / HTTP/2.0\r\nHost: test\r\n\r\n", 505);
}

/// RFC 9110 section 2.5: a higher minor version of HTTP/1 is processed as HTTP/1.1, answered
/// with HTTP/1.1 and kept alive as HTTP/1.1 would be.
#[test]
fn http_1_2_and_1_9_are_served_as_http_1_1() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    for v in ["HTTP/1.2", "HTTP/1.9"] {
        let r = c.request(format!("GET /hello.txt {v}\r\nHost: test\r\n\r\n").as_bytes());
        r.assert_status(200).assert_no_connection_close();
        assert!(r.raw_head.starts_with("HTTP/1.1 200"), "{}", r.raw_head);
        assert_eq!(r.body, HELLO);
    }
}

/// RFC 9110 section 4.2.1: an `http` URI with an empty host is invalid, and RFC 9112 section 3.2
/// answers an invalid Host with 400.
#[test]
fn an_empty_host_is_400_and_closes() {
    let f = start_basic(&[]);
    for host in ["Host:", "Host: ", "Host: :80", "Host: :"] {
        let raw = format!("GET /hello.txt HTTP/1.1\r\n{host}\r\n\r\n");
        expect_error_close(&f.server, raw.as_bytes(), 400);
    }
    expect_error_close(&f.server, b"GET /hello.txt HTTP/1.0\r\nHost:\r\n\r\n", 400);
}

#[test]
fn malformed_version_is_400_and_closes() {
    let f = start_basic(&[]);
    for v in ["HTTP/abc", "HTTP/1.x", "FTP/1.1"] {
        let raw = format!("GET / {v}\r\nHost: test\r\n\r\n");
        expect_error_close(&f.server, raw.as_bytes(), 400);
    }
}

/// `GET <target> HTTP/1.1` whose request line (without CRLF) is exactly `len` bytes long; the
/// target is `/missing?q=aaaa...` so the file does not exist whatever the query length.
fn request_line_of(len: usize) -> Vec<u8> {
    let fixed = "GET ".len() + " HTTP/1.1".len() + "/missing?q=".len();
    let target = format!("/missing?q={}", "a".repeat(len - fixed));
    let line = format!("GET {target} HTTP/1.1");
    assert_eq!(line.len(), len);
    format!("{line}\r\nHost: test\r\n\r\n").into_bytes()
}

#[test]
fn request_line_of_exactly_8192_bytes_is_accepted() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    let r = c.request(&request_line_of(8192));
    r.assert_status(404).assert_no_connection_close();
    expect_still_open(&mut c);
}

#[test]
fn request_line_of_8193_bytes_is_414_and_closes() {
    let f = start_basic(&[]);
    expect_error_close(&f.server, &request_line_of(8193), 414);
}

// ---------------------------------------------------------------------------------------------
// Header section
// ---------------------------------------------------------------------------------------------

#[test]
fn header_name_with_a_space_is_400_and_closes() {
    let f = start_basic(&[]);
    expect_error_close(
        &f.server,
        b"GET / HTTP/1.1\r\nHost: test\r\nBad Header: x\r\n\r\n",
        400,
    );
}

#[test]
fn space_before_colon_is_400_and_closes() {
    let f = start_basic(&[]);
    expect_error_close(&f.server, b"GET / HTTP/1.1\r\nHost : test\r\n\r\n", 400);
}

#[test]
fn obs_fold_is_400_and_closes() {
    let f = start_basic(&[]);
    expect_error_close(
        &f.server,
        b"GET / HTTP/1.1\r\nHost: test\r\nX-Folded: first\r\n  second\r\n\r\n",
        400,
    );
    expect_error_close(
        &f.server,
        b"GET / HTTP/1.1\r\nHost: test\r\nX-Folded: a\r\n\tb\r\n\r\n",
        400,
    );
}

#[test]
fn nul_in_a_header_value_is_400_and_closes() {
    let f = start_basic(&[]);
    expect_error_close(
        &f.server,
        b"GET / HTTP/1.1\r\nHost: test\r\nX-Nul: a\0b\r\n\r\n",
        400,
    );
}

#[test]
fn bare_lf_line_endings_are_400_and_close() {
    let f = start_basic(&[]);
    expect_error_close(&f.server, b"GET / HTTP/1.1\nHost: test\n\n", 400);
    expect_error_close(
        &f.server,
        b"GET / HTTP/1.1\r\nHost: test\nX-A: b\r\n\r\n",
        400,
    );
}

#[test]
fn bare_cr_is_400_and_closes() {
    let f = start_basic(&[]);
    expect_error_close(
        &f.server,
        b"GET / HTTP/1.1\r\nHost: test\r\nX-A: a\rb\r\n\r\n",
        400,
    );
    expect_error_close(&f.server, b"GET / HTTP/1.1\r\nHost: test\r\r\n\r\n", 400);
}

#[test]
fn http11_without_host_is_400_and_closes() {
    let f = start_basic(&[]);
    expect_error_close(&f.server, b"GET /hello.txt HTTP/1.1\r\n\r\n", 400);
}

#[test]
fn two_host_headers_are_400_and_close() {
    let f = start_basic(&[]);
    expect_error_close(
        &f.server,
        b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        400,
    );
}

/// A head of exactly `len` bytes (request line through the final CRLF CRLF) for `/hello.txt`,
/// padded with `X-Pad-NNN` fields of about 1000 bytes each.
fn head_of_len(len: usize) -> Vec<u8> {
    let start = "GET /hello.txt HTTP/1.1\r\nHost: test\r\n";
    let remaining = len - start.len() - 2;
    let count = remaining.div_ceil(1000);
    let mut head = String::from(start);
    for i in 0..count {
        let line_len = remaining / count + usize::from(i < remaining % count);
        let name = format!("X-Pad-{i:03}: ");
        head.push_str(&name);
        head.push_str(&"p".repeat(line_len - name.len() - 2));
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    assert_eq!(head.len(), len);
    head.into_bytes()
}

#[test]
fn head_of_exactly_16384_bytes_is_accepted() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    let r = c.request(&head_of_len(16384));
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
    expect_still_open(&mut c);
}

#[test]
fn head_of_exactly_16384_bytes_arriving_in_pieces_is_accepted() {
    let f = start_basic(&[]);
    let raw = head_of_len(16384);
    let mut c = f.connect();
    // Split inside a line, then inside the final CRLF CRLF.
    c.send(&raw[..9000]);
    std::thread::sleep(std::time::Duration::from_millis(50));
    c.send(&raw[9000..16381]);
    std::thread::sleep(std::time::Duration::from_millis(50));
    c.send(&raw[16381..]);
    let r = c.read_response();
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
}

#[test]
fn head_of_16385_bytes_arriving_in_pieces_is_431_and_closes() {
    let f = start_basic(&[]);
    let raw = head_of_len(16385);
    let mut c = f.connect();
    c.send(&raw[..16384]);
    std::thread::sleep(std::time::Duration::from_millis(50));
    c.send(&raw[16384..]);
    let r = c.read_response();
    r.assert_status(431).assert_connection_close();
    c.assert_closed();
}

#[test]
fn head_of_16385_bytes_is_431_and_closes() {
    let f = start_basic(&[]);
    expect_error_close(&f.server, &head_of_len(16385), 431);
}

/// A GET with `n` header fields in total (Host included).
fn head_with_fields(n: usize) -> Vec<u8> {
    let mut s = String::from("GET /hello.txt HTTP/1.1\r\nHost: test\r\n");
    for i in 1..n {
        s.push_str(&format!("X-Field-{i}: {i}\r\n"));
    }
    s.push_str("\r\n");
    s.into_bytes()
}

#[test]
fn one_hundred_header_fields_are_accepted() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    let r = c.request(&head_with_fields(100));
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
}

#[test]
fn one_hundred_and_one_header_fields_are_431_and_close() {
    let f = start_basic(&[]);
    expect_error_close(&f.server, &head_with_fields(101), 431);
}

#[test]
fn unknown_expectation_is_417_and_closes() {
    let f = start_basic(&[]);
    expect_error_close(
        &f.server,
        b"POST /devices/itest HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: something-else\r\n\r\n",
        417,
    );
}

// ---------------------------------------------------------------------------------------------
// Body framing
// ---------------------------------------------------------------------------------------------

#[test]
fn invalid_content_length_is_400_and_closes() {
    let f = start_basic(&[]);
    for v in ["abc", "-1", "+5", "1 2"] {
        let raw = format!("POST /hello.txt HTTP/1.1\r\nHost: test\r\nContent-Length: {v}\r\n\r\n");
        expect_error_close(&f.server, raw.as_bytes(), 400);
    }
}

#[test]
fn differing_content_lengths_are_400_and_close() {
    let f = start_basic(&[]);
    expect_error_close(
        &f.server,
        b"POST /hello.txt HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        400,
    );
}

/// RFC 9110 section 8.6 would let us take repeated identical values as one; nginx and HAProxy
/// refuse them, and so does sluice (issue 15): 400 and close, in two fields or in one list.
#[test]
fn identical_content_lengths_are_400_and_close() {
    let f = start_basic(&[]);
    for fields in [
        "Content-Length: 5\r\nContent-Length: 5",
        "Content-Length: 5, 5",
    ] {
        let raw = format!("POST /hello.txt HTTP/1.1\r\nHost: test\r\n{fields}\r\n\r\nhello");
        let r = expect_error_close(&f.server, raw.as_bytes(), 400);
        assert!(
            r.body_str().contains("more than one Content-Length"),
            "{}",
            r.body_str()
        );
    }
}

#[test]
fn content_length_with_transfer_encoding_is_400_and_closes() {
    let f = start_basic(&[]);
    expect_error_close(
        &f.server,
        b"POST /hello.txt HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
    );
}

#[test]
fn transfer_encoding_in_http10_is_400_and_closes() {
    let f = start_basic(&[]);
    expect_error_close(
        &f.server,
        b"POST /hello.txt HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
    );
}

#[test]
fn transfer_encoding_not_ending_in_chunked_is_400_and_closes() {
    let f = start_basic(&[]);
    expect_error_close(
        &f.server,
        b"POST /hello.txt HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: gzip\r\n\r\n",
        400,
    );
}

#[test]
fn unknown_transfer_coding_before_chunked_is_501_and_closes() {
    let f = start_basic(&[]);
    expect_error_close(
        &f.server,
        b"POST /hello.txt HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        501,
    );
}

/// Chunked POST to the ingest route (which reads the whole body before answering), with `body`
/// as the raw chunked bytes.
fn chunked_ingest(body: &[u8]) -> Vec<u8> {
    cat(&[
        b"POST /devices/itest HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n",
        body,
    ])
}

#[test]
fn chunk_size_that_is_not_hex_is_400_and_closes() {
    let f = start_basic(&[]);
    expect_error_close(&f.server, &chunked_ingest(b"zz\r\n"), 400);
}

#[test]
fn missing_crlf_after_chunk_data_is_400_and_closes() {
    let f = start_basic(&[]);
    expect_error_close(
        &f.server,
        &chunked_ingest(b"5\r\nhelloXX\r\n0\r\n\r\n"),
        400,
    );
}

#[test]
fn bare_lf_in_chunk_size_line_is_400_and_closes() {
    let f = start_basic(&[]);
    expect_error_close(&f.server, &chunked_ingest(b"5\nhello\r\n0\r\n\r\n"), 400);
}

// ---------------------------------------------------------------------------------------------
// --max-body
// ---------------------------------------------------------------------------------------------

#[test]
fn body_of_exactly_max_body_is_accepted() {
    let f = start_basic(&["--max-body", "1K"]);
    let body = vec![b'x'; 1024];
    // Content-Length: to a static file, so 405 (not 413), and the body is consumed.
    let mut c = f.connect();
    c.send(&cat(&[
        b"POST /hello.txt HTTP/1.1\r\nHost: test\r\nContent-Length: 1024\r\n\r\n",
        &body,
        &get("/hello.txt"),
    ]));
    c.read_response()
        .assert_status(405)
        .assert_no_connection_close();
    let r = c.read_response();
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
    // Chunked, split in two chunks.
    let mut c = f.connect();
    c.send(&cat(&[
        b"POST /hello.txt HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"200\r\n",
        &body[..512],
        b"\r\n200\r\n",
        &body[512..],
        b"\r\n0\r\n\r\n",
        &get("/hello.txt"),
    ]));
    c.read_response()
        .assert_status(405)
        .assert_no_connection_close();
    let r = c.read_response();
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
}

#[test]
fn content_length_over_max_body_is_413_right_after_the_head() {
    let f = start_basic(&["--max-body", "1K"]);
    // Only the head is sent: the answer must not wait for the body.
    expect_error_close(
        &f.server,
        b"POST /devices/itest HTTP/1.1\r\nHost: test\r\nContent-Length: 1025\r\n\r\n",
        413,
    );
}

#[test]
fn chunk_size_over_max_body_is_413_when_the_size_line_arrives() {
    let f = start_basic(&["--max-body", "1K"]);
    // Only the size line of the first chunk is sent.
    expect_error_close(&f.server, &chunked_ingest(b"401\r\n"), 413);
}

#[test]
fn chunks_adding_up_over_max_body_are_413() {
    let f = start_basic(&["--max-body", "1K"]);
    let body = cat(&[b"200\r\n", &[b'x'; 512], b"\r\n201\r\n"]);
    expect_error_close(&f.server, &chunked_ingest(&body), 413);
}

// ---------------------------------------------------------------------------------------------
// Methods on static files
// ---------------------------------------------------------------------------------------------

#[test]
fn post_with_content_length_to_a_static_file_is_405_and_the_body_is_consumed() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    c.send(&cat(&[
        b"POST /hello.txt HTTP/1.1\r\nHost: test\r\nContent-Length: 11\r\n\r\nGET / HTTP/",
        &get("/hello.txt"),
    ]));
    let r = c.read_response();
    r.assert_status(405).assert_no_connection_close();
    assert_allow_get_head(&r);
    let r = c.read_response();
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
}

#[test]
fn chunked_post_with_trailers_to_a_static_file_is_405_and_the_body_is_consumed() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    c.send(&cat(&[
        b"POST /hello.txt HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"5\r\nhello\r\n",
        b"7;ext=1\r\n, world\r\n",
        b"0\r\nX-Trailer: one\r\nX-Other: two\r\n\r\n",
        &get("/hello.txt"),
    ]));
    let r = c.read_response();
    r.assert_status(405).assert_no_connection_close();
    assert_allow_get_head(&r);
    let r = c.read_response();
    r.assert_status(200);
    assert_eq!(r.body, HELLO);
}

#[test]
fn expect_continue_post_to_a_static_file_is_405_without_100_and_closes() {
    let f = start_basic(&[]);
    // The body is never sent: the server must not ask for it (no 100 Continue).
    let r = expect_error_close(
        &f.server,
        b"POST /hello.txt HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n",
        405,
    );
    assert_allow_get_head(&r);
}

#[test]
fn options_asterisk_is_204_with_allow() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    let r = c.request(b"OPTIONS * HTTP/1.1\r\nHost: test\r\n\r\n");
    r.assert_status(204);
    assert!(
        r.header("allow").is_some_and(|v| !v.is_empty()),
        "204 needs Allow:\n{}",
        r.raw_head
    );
    assert!(r.body.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_file_is_404_and_keeps_the_connection() {
    let f = start_basic(&[]);
    let mut c = f.connect();
    let r = c.request(&get("/no-such-file.txt"));
    r.assert_status(404).assert_no_connection_close();
    expect_still_open(&mut c);
}

/// Sends `GET <target>` and expects a 400 error reply.
fn expect_400_for(f: &Fixture, target: &str) {
    let mut c = f.connect();
    let r = c.request(&get(target));
    assert_eq!(
        r.status,
        400,
        "GET {target}:\n{}{}",
        r.raw_head,
        r.body_str()
    );
}

#[test]
fn dot_dot_escapes_are_400() {
    let f = start_basic(&[]);
    write_file(f.root.path(), "a/x", b"inside\n");
    expect_400_for(&f, "/../etc/passwd");
    expect_400_for(&f, "/a/%2e%2e/%2e%2e/x");
    expect_400_for(&f, "/a/%2E%2E/%2E%2E/etc/passwd");
}

#[test]
fn encoded_slash_is_400() {
    let f = start_basic(&[]);
    write_file(f.root.path(), "a/x", b"inside\n");
    expect_400_for(&f, "/a%2Fx");
    expect_400_for(&f, "/a%2fx");
}

#[test]
fn encoded_nul_is_400() {
    let f = start_basic(&[]);
    expect_400_for(&f, "/hello.txt%00");
    expect_400_for(&f, "/hello%00.txt");
}
