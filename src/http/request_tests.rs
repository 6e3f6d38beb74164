//! Table tests for the head scanner and parser. Every case runs three ways: the whole input at
//! once, split in two at every byte, and grown one byte per call; all must agree.
use super::*;
use crate::http::error::RequestError::{self, *};
use crate::limits::MAX_HEADERS;

const LIMITS: HeadLimits = HeadLimits {
    max_head_bytes: 8192,
    max_request_line: 1024,
};

/// An owned copy of what a case produced, so the three runs can be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Summary {
    head_len: usize,
    method: Method,
    method_str: String,
    target: String,
    path: String,
    query: Option<String>,
    version: Version,
    host: Option<Vec<u8>>,
    framing: BodyFraming,
    keep_alive: bool,
    expect_continue: bool,
    headers: usize,
}

/// `Ok(None)`: the scanner still wants bytes.
type Outcome = Result<Option<Summary>, RequestError>;

fn finish(input: &[u8], progress: Progress<usize>) -> Outcome {
    let n = match progress {
        Progress::NeedMore => return Ok(None),
        Progress::Complete(n) => n,
    };
    let mut fields = header_slots::<MAX_HEADERS>();
    let h = parse_head(&input[..n], &mut fields)?;
    assert_eq!(
        h.header("HOST"),
        h.headers
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case("host"))
            .map(|f| f.value)
    );
    Ok(Some(Summary {
        head_len: n,
        method: h.method,
        method_str: h.method_str.to_owned(),
        target: h.target.to_owned(),
        path: h.path.to_owned(),
        query: h.query.map(str::to_owned),
        version: h.version,
        host: h.host.map(<[u8]>::to_vec),
        framing: h.framing,
        keep_alive: h.keep_alive,
        expect_continue: h.expect_continue,
        headers: h.headers.len(),
    }))
}

fn whole(input: &[u8], limits: &HeadLimits) -> Outcome {
    let mut scanner = HeadScanner::default();
    finish(input, scanner.scan(input, limits)?)
}

fn split(input: &[u8], at: usize, limits: &HeadLimits) -> Outcome {
    let mut scanner = HeadScanner::default();
    if let Progress::Complete(n) = scanner.scan(&input[..at], limits)? {
        return finish(input, Progress::Complete(n));
    }
    finish(input, scanner.scan(input, limits)?)
}

fn bytewise(input: &[u8], limits: &HeadLimits) -> Outcome {
    let mut scanner = HeadScanner::default();
    for k in 0..=input.len() {
        if let Progress::Complete(n) = scanner.scan(&input[..k], limits)? {
            return finish(input, Progress::Complete(n));
        }
    }
    Ok(None)
}

fn run_case(input: &[u8], limits: &HeadLimits) -> Outcome {
    let expected = whole(input, limits);
    for at in 0..=input.len() {
        assert_eq!(split(input, at, limits), expected, "split at {at}");
    }
    assert_eq!(bytewise(input, limits), expected, "one byte at a time");
    expected
}

/// What a case must produce; unset fields are not checked.
#[derive(Default)]
struct Want {
    err: Option<RequestError>,
    need_more: bool,
    head_len: Option<usize>,
    method: Option<Method>,
    method_str: Option<&'static str>,
    path: Option<&'static str>,
    query: Option<Option<&'static str>>,
    version: Option<Version>,
    host: Option<Option<&'static [u8]>>,
    framing: Option<BodyFraming>,
    keep_alive: Option<bool>,
    expect_continue: Option<bool>,
    headers: Option<usize>,
}

fn ok() -> Want {
    Want::default()
}

fn err(e: RequestError) -> Want {
    Want {
        err: Some(e),
        ..Want::default()
    }
}

fn need_more() -> Want {
    Want {
        need_more: true,
        ..Want::default()
    }
}

impl Want {
    fn len(self, n: usize) -> Self {
        Want {
            head_len: Some(n),
            ..self
        }
    }
    fn method(self, m: Method, s: &'static str) -> Self {
        Want {
            method: Some(m),
            method_str: Some(s),
            ..self
        }
    }
    fn path(self, p: &'static str, q: Option<&'static str>) -> Self {
        Want {
            path: Some(p),
            query: Some(q),
            ..self
        }
    }
    fn version(self, v: Version) -> Self {
        Want {
            version: Some(v),
            ..self
        }
    }
    fn host(self, h: Option<&'static [u8]>) -> Self {
        Want {
            host: Some(h),
            ..self
        }
    }
    fn framing(self, f: BodyFraming) -> Self {
        Want {
            framing: Some(f),
            ..self
        }
    }
    fn keep_alive(self, k: bool) -> Self {
        Want {
            keep_alive: Some(k),
            ..self
        }
    }
    fn expect(self, e: bool) -> Self {
        Want {
            expect_continue: Some(e),
            ..self
        }
    }
    fn headers(self, n: usize) -> Self {
        Want {
            headers: Some(n),
            ..self
        }
    }

    fn check(&self, outcome: &Outcome) {
        if let Some(e) = self.err {
            assert_eq!(outcome, &Err(e));
            return;
        }
        if self.need_more {
            assert_eq!(outcome, &Ok(None));
            return;
        }
        let s = match outcome {
            Ok(Some(s)) => s,
            other => panic!("expected a head, got {other:?}"),
        };
        fn same<T: PartialEq + std::fmt::Debug>(want: Option<T>, got: T, what: &str) {
            if let Some(w) = want {
                assert_eq!(got, w, "{what}");
            }
        }
        same(self.head_len, s.head_len, "head_len");
        same(self.method, s.method, "method");
        same(self.method_str, s.method_str.as_str(), "method_str");
        same(self.path, s.path.as_str(), "path");
        same(self.query, s.query.as_deref(), "query");
        same(self.version, s.version, "version");
        same(self.host, s.host.as_deref(), "host");
        same(self.framing, s.framing, "framing");
        same(self.keep_alive, s.keep_alive, "keep_alive");
        same(self.expect_continue, s.expect_continue, "expect_continue");
        same(self.headers, s.headers, "headers");
    }
}

/// `name: input [, limits] => want;` runs the input all three ways and checks the outcome.
macro_rules! head_cases {
    ($($name:ident: $input:expr $(, $limits:expr)? => $want:expr;)*) => {$(
        #[test]
        fn $name() {
            #[allow(unused_variables)]
            let limits = LIMITS;
            $(let limits = $limits;)?
            let input: Vec<u8> = $input.to_vec();
            $want.check(&run_case(&input, &limits));
        }
    )*};
}

/// A GET with `Host: h` and the given extra header lines (each without CRLF).
fn get_with(lines: &[&str]) -> Vec<u8> {
    let mut s = String::from("GET / HTTP/1.1\r\nHost: h\r\n");
    for l in lines {
        s.push_str(l);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// A POST to `/in` with `Host: h` and the given extra header lines.
fn post_with(lines: &[&str]) -> Vec<u8> {
    let mut v = get_with(lines);
    v.splice(..5, b"POST /in".iter().copied());
    v
}

/// A request line `GET /aaa… HTTP/1.1` of exactly `len` bytes, then Host and the end.
fn request_line_of(len: usize) -> Vec<u8> {
    let fixed = "GET / HTTP/1.1".len();
    let target = format!("/{}", "a".repeat(len - fixed));
    format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes()
}

/// A head of exactly `len` bytes (padding in one header value).
fn head_of(len: usize) -> Vec<u8> {
    let fixed = "GET / HTTP/1.1\r\nHost: h\r\nX: \r\n\r\n".len();
    format!(
        "GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n",
        "p".repeat(len - fixed)
    )
    .into_bytes()
}

/// A head with `n` header fields in total (Host included).
fn with_fields(n: usize) -> Vec<u8> {
    let extra: Vec<String> = (1..n).map(|i| format!("X-{i}: v")).collect();
    let lines: Vec<&str> = extra.iter().map(String::as_str).collect();
    get_with(&lines)
}

const SMALL: HeadLimits = HeadLimits {
    max_head_bytes: 64,
    max_request_line: 32,
};

head_cases! {
    // --- scanning ---
    simple_get: b"GET /index.html?x=1&y HTTP/1.1\r\nHost: example.com\r\n\r\n"
        => ok().len(53).method(Method::Get, "GET").path("/index.html", Some("x=1&y"))
            .version(Version::Http11).host(Some(b"example.com")).framing(BodyFraming::None)
            .keep_alive(true).expect(false).headers(1);
    incomplete_head: b"GET / HTTP/1.1\r\nHost: h\r\n" => need_more();
    incomplete_request_line: b"GET / HT" => need_more();
    empty_input: b"" => need_more();
    leading_crlfs_are_skipped: b"\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"
        => ok().len(31).path("/", None);
    leading_crlfs_count_toward_the_head: "\r\n".repeat(33).as_bytes(), SMALL
        => err(HeadTooLarge);
    pipelined_stops_at_first_head: b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n"
        => ok().len(28).path("/a", None);
    body_after_head_is_not_scanned: b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n\n\n\n\n"
        => ok().len(47).framing(BodyFraming::Length(4));
    bare_lf_after_request_line: b"GET / HTTP/1.1\nHost: h\r\n\r\n" => err(BareLineFeed);
    bare_lf_in_headers: b"GET / HTTP/1.1\r\nHost: h\r\nX: y\n\r\n" => err(BareLineFeed);
    bare_lf_ending_head: b"GET / HTTP/1.1\r\nHost: h\r\n\n" => err(BareLineFeed);
    bare_lf_before_request_line: b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n" => err(BareLineFeed);
    bare_cr_in_value: b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n" => err(MalformedHeaderValue);
    bare_cr_in_request_line: b"GET /\r HTTP/1.1\r\nHost: h\r\n\r\n" => err(BareLineFeed);
    bare_cr_before_request_line: b"\rGET / HTTP/1.1\r\nHost: h\r\n\r\n" => err(BareLineFeed);
    obs_fold_is_refused: b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n" => err(MalformedHeaderName);
    leading_space_before_first_field: b"GET / HTTP/1.1\r\n Host: h\r\n\r\n" => err(MalformedHeaderName);
    nul_in_value: b"GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n" => err(MalformedHeaderValue);
    control_in_value: b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fb\r\n\r\n" => err(MalformedHeaderValue);
    space_before_colon: b"GET / HTTP/1.1\r\nHost : h\r\n\r\n" => err(MalformedHeaderName);
    empty_field_name: b"GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n" => err(MalformedHeaderName);
    obs_text_in_value_is_kept: b"GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\r\n\r\n" => ok().headers(2);
    empty_value: b"GET / HTTP/1.1\r\nHost: h\r\nX:\r\n\r\n" => ok().headers(2);
    head_of_exact_size: head_of(64), SMALL => ok().len(64);
    head_one_over: head_of(65), SMALL => err(HeadTooLarge);
    head_over_without_end: head_of(80)[..65], SMALL
        => err(HeadTooLarge);
    head_at_limit_but_unfinished: head_of(64)[..63], SMALL
        => need_more();
    request_line_of_exact_size: request_line_of(32), SMALL => ok().len(32 + 13);
    request_line_one_over: request_line_of(33), SMALL => err(UriTooLong);
    request_line_too_long_unfinished: request_line_of(40)[..33], SMALL => err(UriTooLong);
    request_line_at_limit_unfinished: request_line_of(40)[..32], SMALL => need_more();
    request_line_at_limit_then_cr: [&request_line_of(40)[..32], b"\r"].concat(), SMALL => need_more();
    request_line_at_limit_then_cr_junk: [&request_line_of(40)[..32], b"\rx"].concat(), SMALL => err(UriTooLong);
    uri_too_long_wins_over_head_size: request_line_of(80), HeadLimits { max_head_bytes: 60, max_request_line: 40 }
        => err(UriTooLong);
    head_size_wins_when_reached_first: request_line_of(80), HeadLimits { max_head_bytes: 30, max_request_line: 40 }
        => err(HeadTooLarge);
    limit_tie_reports_the_request_line: request_line_of(80), HeadLimits { max_head_bytes: 40, max_request_line: 40 }
        => err(UriTooLong);
    hundred_fields: with_fields(100) => ok().headers(100);
    hundred_and_one_fields: with_fields(101) => err(TooManyHeaders);

    // --- request line ---
    http10_request: b"GET / HTTP/1.0\r\n\r\n" => ok().version(Version::Http10).host(None).keep_alive(false);
    http2_is_unsupported: b"GET / HTTP/2.0\r\nHost: h\r\n\r\n" => err(UnsupportedVersion);
    http12_unless_downgraded_is_unsupported: b"GET / HTTP/1.2\r\nHost: h\r\n\r\n" => err(UnsupportedVersion);
    version_junk: b"GET / HTTP/1.x junk\r\nHost: h\r\n\r\n" => err(MalformedVersion);
    version_trailing_junk: b"GET / HTTP/1.1 junk\r\nHost: h\r\n\r\n" => err(MalformedVersion);
    version_lowercase: b"GET / http/1.1\r\nHost: h\r\n\r\n" => err(MalformedVersion);
    version_missing: b"GET /\r\nHost: h\r\n\r\n" => err(MalformedRequestLine);
    double_space: b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n" => err(MalformedRequestLine);
    leading_space: b" GET / HTTP/1.1\r\nHost: h\r\n\r\n" => err(MalformedRequestLine);
    bad_method_byte: b"GE(T / HTTP/1.1\r\nHost: h\r\n\r\n" => err(MalformedRequestLine);
    tab_separator: b"GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n" => err(MalformedRequestLine);
    unknown_method_is_other: b"BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n" => ok().method(Method::Other, "BREW");
    methods_are_case_sensitive: b"get / HTTP/1.1\r\nHost: h\r\n\r\n" => ok().method(Method::Other, "get");
    method_head: b"HEAD / HTTP/1.1\r\nHost: h\r\n\r\n" => ok().method(Method::Head, "HEAD");
    method_post: b"POST / HTTP/1.1\r\nHost: h\r\n\r\n" => ok().method(Method::Post, "POST");
    method_put: b"PUT / HTTP/1.1\r\nHost: h\r\n\r\n" => ok().method(Method::Put, "PUT");
    method_delete: b"DELETE / HTTP/1.1\r\nHost: h\r\n\r\n" => ok().method(Method::Delete, "DELETE");
    method_trace: b"TRACE / HTTP/1.1\r\nHost: h\r\n\r\n" => ok().method(Method::Trace, "TRACE");
    method_patch: b"PATCH / HTTP/1.1\r\nHost: h\r\n\r\n" => ok().method(Method::Patch, "PATCH");

    // --- request-target ---
    target_with_control_byte: b"GET /a\x01b HTTP/1.1\r\nHost: h\r\n\r\n" => err(InvalidTarget);
    target_with_obs_text: b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n" => err(InvalidTarget);
    target_with_fragment: b"GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n" => err(InvalidTarget);
    target_relative: b"GET a/b HTTP/1.1\r\nHost: h\r\n\r\n" => err(InvalidTarget);
    empty_query: b"GET /a? HTTP/1.1\r\nHost: h\r\n\r\n" => ok().path("/a", Some(""));
    query_split_at_first_mark: b"GET /a?b?c HTTP/1.1\r\nHost: h\r\n\r\n" => ok().path("/a", Some("b?c"));
    absolute_form: b"GET http://other.example:8080/p/q?x HTTP/1.1\r\nHost: h\r\n\r\n"
        => ok().path("/p/q", Some("x")).host(Some(b"other.example:8080"));
    absolute_form_scheme_any_case: b"GET HtTpS://a.example HTTP/1.1\r\nHost: h\r\n\r\n"
        => ok().path("/", None).host(Some(b"a.example"));
    absolute_form_query_without_path: b"GET http://a?q HTTP/1.1\r\nHost: h\r\n\r\n"
        => ok().path("/", Some("q")).host(Some(b"a"));
    absolute_form_still_needs_host: b"GET http://a/ HTTP/1.1\r\n\r\n" => err(MissingHost);
    absolute_form_http10_without_host: b"GET http://a/x HTTP/1.0\r\n\r\n"
        => ok().path("/x", None).host(Some(b"a"));
    absolute_form_empty_authority: b"GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n" => err(InvalidTarget);
    absolute_form_userinfo: b"GET http://u@a/ HTTP/1.1\r\nHost: h\r\n\r\n" => err(InvalidTarget);
    absolute_form_other_scheme: b"GET ftp://a/ HTTP/1.1\r\nHost: h\r\n\r\n" => err(InvalidTarget);
    absolute_form_ipv6: b"GET http://[::1]:80/ HTTP/1.1\r\nHost: h\r\n\r\n" => ok().host(Some(b"[::1]:80"));
    asterisk_form: b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n" => ok().method(Method::Options, "OPTIONS").path("*", None);
    asterisk_form_needs_options: b"GET * HTTP/1.1\r\nHost: h\r\n\r\n" => err(InvalidTarget);
    authority_form: b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"
        => ok().method(Method::Connect, "CONNECT").path("a.example:443", None).host(Some(b"a.example:443"));
    authority_form_needs_port: b"CONNECT a.example HTTP/1.1\r\nHost: h\r\n\r\n" => err(InvalidTarget);
    authority_form_needs_connect: b"GET a.example:443 HTTP/1.1\r\nHost: h\r\n\r\n" => err(InvalidTarget);
    connect_with_origin_form: b"CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n" => err(InvalidTarget);

    // --- Host ---
    missing_host: b"GET / HTTP/1.1\r\n\r\n" => err(MissingHost);
    duplicate_host: b"GET / HTTP/1.1\r\nHost: h\r\nhost: h\r\n\r\n" => err(DuplicateHost);
    duplicate_host_http10: b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n" => err(DuplicateHost);
    host_any_case: b"GET / HTTP/1.1\r\nhOsT: h\r\n\r\n" => ok().host(Some(b"h"));
    host_empty: b"GET / HTTP/1.1\r\nHost:\r\n\r\n" => err(InvalidHost);
    host_empty_http10: b"GET / HTTP/1.0\r\nHost: \r\n\r\n" => err(InvalidHost);
    host_port_only: b"GET / HTTP/1.1\r\nHost: :80\r\n\r\n" => err(InvalidHost);
    host_with_port: b"GET / HTTP/1.1\r\nHost: a.b-c_d~e:8080\r\n\r\n" => ok().host(Some(b"a.b-c_d~e:8080"));
    host_ipv4: b"GET / HTTP/1.1\r\nHost: 192.168.1.2:80\r\n\r\n" => ok().host(Some(b"192.168.1.2:80"));
    host_ipv6: b"GET / HTTP/1.1\r\nHost: [fe80::1]:8080\r\n\r\n" => ok().host(Some(b"[fe80::1]:8080"));
    host_ipvfuture: b"GET / HTTP/1.1\r\nHost: [v1.a:b]\r\n\r\n" => ok().host(Some(b"[v1.a:b]"));
    host_pct_encoded: b"GET / HTTP/1.1\r\nHost: a%2Db\r\n\r\n" => ok().host(Some(b"a%2Db"));
    host_bad_pct: b"GET / HTTP/1.1\r\nHost: a%2\r\n\r\n" => err(InvalidHost);
    host_with_slash: b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n" => err(InvalidHost);
    host_with_space: b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n" => err(InvalidHost);
    host_with_userinfo: b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n" => err(InvalidHost);
    host_port_not_digits: b"GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n" => err(InvalidHost);
    host_two_ports: b"GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n" => err(InvalidHost);
    host_bad_ipv6: b"GET / HTTP/1.1\r\nHost: [fe80::g]\r\n\r\n" => err(InvalidHost);
    host_unclosed_bracket: b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n" => err(InvalidHost);
    host_junk_after_bracket: b"GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n" => err(InvalidHost);

    // --- Content-Length ---
    content_length: post_with(&["Content-Length: 42"]) => ok().framing(BodyFraming::Length(42));
    content_length_zero: post_with(&["Content-Length: 0"]) => ok().framing(BodyFraming::Length(0));
    content_length_leading_zeros: post_with(&["Content-Length: 007"]) => ok().framing(BodyFraming::Length(7));
    content_length_max: post_with(&["Content-Length: 9223372036854775807"])
        => ok().framing(BodyFraming::Length(i64::MAX as u64));
    content_length_over_63_bits: post_with(&["Content-Length: 9223372036854775808"]) => err(InvalidContentLength);
    content_length_overflow: post_with(&["Content-Length: 99999999999999999999999"]) => err(InvalidContentLength);
    content_length_sign: post_with(&["Content-Length: +5"]) => err(InvalidContentLength);
    content_length_negative: post_with(&["Content-Length: -5"]) => err(InvalidContentLength);
    content_length_inner_space: post_with(&["Content-Length: 4 2"]) => err(InvalidContentLength);
    content_length_empty: post_with(&["Content-Length:"]) => err(InvalidContentLength);
    content_length_hex: post_with(&["Content-Length: 0x10"]) => err(InvalidContentLength);
    content_length_empty_element: post_with(&["Content-Length: 5,"]) => err(InvalidContentLength);
    content_length_same_list: post_with(&["Content-Length: 5 ,5,\t5"]) => err(ConflictingContentLength);
    content_length_same_pair: post_with(&["Content-Length: 5, 5"]) => err(ConflictingContentLength);
    content_length_same_fields: post_with(&["Content-Length: 5", "content-length: 5"]) => err(ConflictingContentLength);
    content_length_differing_list: post_with(&["Content-Length: 5, 6"]) => err(ConflictingContentLength);
    content_length_differing_fields: post_with(&["Content-Length: 5", "Content-Length: 6"]) => err(ConflictingContentLength);

    // --- Transfer-Encoding ---
    chunked: post_with(&["Transfer-Encoding: chunked"]) => ok().framing(BodyFraming::Chunked);
    chunked_any_case: post_with(&["transfer-encoding: ChUnKeD"]) => ok().framing(BodyFraming::Chunked);
    chunked_with_empty_elements: post_with(&["Transfer-Encoding: , chunked ,"]) => ok().framing(BodyFraming::Chunked);
    te_in_http10: b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n" => err(TransferEncodingInHttp10);
    te_with_content_length: post_with(&["Content-Length: 5", "Transfer-Encoding: chunked"]) => err(ContentLengthWithTransferEncoding);
    te_with_invalid_content_length: post_with(&["Content-Length: x", "Transfer-Encoding: chunked"]) => err(ContentLengthWithTransferEncoding);
    te_empty: post_with(&["Transfer-Encoding:"]) => err(TransferEncodingNotChunked);
    te_only_commas: post_with(&["Transfer-Encoding: , ,"]) => err(TransferEncodingNotChunked);
    te_gzip_only: post_with(&["Transfer-Encoding: gzip"]) => err(TransferEncodingNotChunked);
    te_chunked_then_gzip: post_with(&["Transfer-Encoding: chunked, gzip"]) => err(TransferEncodingNotChunked);
    te_chunked_twice: post_with(&["Transfer-Encoding: chunked, chunked"]) => err(TransferEncodingNotChunked);
    te_chunked_twice_in_fields: post_with(&["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"]) => err(TransferEncodingNotChunked);
    te_gzip_then_chunked: post_with(&["Transfer-Encoding: gzip, chunked"]) => err(UnknownTransferCoding);
    te_fields_combine: post_with(&["Transfer-Encoding: deflate", "Transfer-Encoding: chunked"]) => err(UnknownTransferCoding);
    te_parameter_on_other: post_with(&["Transfer-Encoding: foo;q=1, chunked"]) => err(UnknownTransferCoding);
    te_parameter_on_chunked: post_with(&["Transfer-Encoding: chunked;x=1"]) => err(TransferEncodingNotChunked);
    te_identity: post_with(&["Transfer-Encoding: identity, chunked"]) => err(UnknownTransferCoding);

    // --- Connection ---
    http11_keeps_alive: b"GET / HTTP/1.1\r\nHost: h\r\n\r\n" => ok().keep_alive(true);
    http11_close: get_with(&["Connection: close"]) => ok().keep_alive(false);
    http11_close_in_list: get_with(&["Connection: Upgrade, CLOSE"]) => ok().keep_alive(false);
    http11_close_in_second_field: get_with(&["Connection: x", "connection: close"]) => ok().keep_alive(false);
    http10_closes: b"GET / HTTP/1.0\r\n\r\n" => ok().keep_alive(false);
    http10_keep_alive: b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n" => ok().keep_alive(true);
    http10_keep_alive_in_list: b"GET / HTTP/1.0\r\nConnection: foo ,keep-alive\r\n\r\n" => ok().keep_alive(true);
    http10_keep_alive_and_close: b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n" => ok().keep_alive(false);
    http10_keep_alive_token_must_match: b"GET / HTTP/1.0\r\nConnection: keep-alives\r\n\r\n" => ok().keep_alive(false);

    // --- Expect ---
    expect_absent: get_with(&[]) => ok().expect(false);
    expect_continue: post_with(&["Expect: 100-continue", "Content-Length: 3"]) => ok().expect(true);
    expect_continue_any_case: post_with(&["expect: 100-Continue "]) => ok().expect(true);
    expect_unknown: post_with(&["Expect: 200-ok"]) => err(UnknownExpectation);
    expect_empty: post_with(&["Expect:"]) => err(UnknownExpectation);
    expect_continue_and_other: post_with(&["Expect: 100-continue, foo"]) => err(UnknownExpectation);
    expect_with_parameter: post_with(&["Expect: 100-continue;x=1"]) => err(UnknownExpectation);
    expect_ignored_in_http10: b"POST / HTTP/1.0\r\nExpect: something\r\n\r\n" => ok().expect(false);
}

#[test]
fn header_lookup_is_case_insensitive_and_first_wins() {
    let head = b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\n\r\n";
    let mut fields = header_slots::<MAX_HEADERS>();
    let h = parse_head(head, &mut fields).unwrap();
    assert_eq!(h.header("X-A"), Some(&b"1"[..]));
    assert_eq!(h.header("x-a"), Some(&b"1"[..]));
    assert_eq!(h.header("X-B"), None);
}

#[test]
fn parse_head_refuses_bare_lf_by_itself() {
    // httparse accepts bare LF line ends; parse_head must not, even without the scanner.
    for head in [
        &b"GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: h\r\n\n",
        b"\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
    ] {
        let mut fields = header_slots::<MAX_HEADERS>();
        assert_eq!(parse_head(head, &mut fields).unwrap_err(), BareLineFeed);
    }
}

#[test]
fn parse_head_refuses_an_unfinished_head() {
    let mut fields = header_slots::<MAX_HEADERS>();
    let head = b"GET / HTTP/1.1\r\nHost: h\r\n";
    assert_eq!(
        parse_head(head, &mut fields).unwrap_err(),
        MalformedRequestLine
    );
    assert_eq!(
        parse_head(b"", &mut fields).unwrap_err(),
        MalformedRequestLine
    );
}

#[test]
fn larger_scratch_space_still_caps_the_field_count() {
    let head = with_fields(101);
    let mut fields = header_slots::<{ 2 * MAX_HEADERS }>();
    assert_eq!(parse_head(&head, &mut fields).unwrap_err(), TooManyHeaders);
}

#[test]
fn scanner_repeats_complete_and_survives_a_shrunk_buffer() {
    let head = b"GET / HTTP/1.1\r\nHost: h\r\n\r\nextra";
    let mut s = HeadScanner::default();
    assert_eq!(s.scan(head, &LIMITS), Ok(Progress::Complete(27)));
    assert_eq!(s.scan(head, &LIMITS), Ok(Progress::Complete(27)));
    assert_eq!(s.scan(&head[..3], &LIMITS), Ok(Progress::NeedMore));
    assert_eq!(s.scan(head, &LIMITS), Ok(Progress::Complete(27)));
}

#[test]
fn no_panic_on_arbitrary_bytes() {
    // A cheap deterministic stand-in for the fuzzer: every short mix of interesting bytes.
    let alphabet = [b'\r', b'\n', b' ', b':', b'G', b'/', b'H', 0u8, 0xff, b'['];
    let tight = HeadLimits {
        max_head_bytes: 6,
        max_request_line: 3,
    };
    let mut input = [0u8; 6];
    for mut n in 0..alphabet.len().pow(6) as u32 {
        for b in input.iter_mut() {
            *b = alphabet[n as usize % alphabet.len()];
            n /= alphabet.len() as u32;
        }
        let mut fields = header_slots::<MAX_HEADERS>();
        let _ = parse_head(&input, &mut fields);
        let _ = HeadScanner::default().scan(&input, &tight);
    }
}

#[test]
fn minor_versions_past_1_1_are_downgraded_in_place() {
    for (before, after) in [
        (
            &b"GET / HTTP/1.2\r\nHost: h\r\n\r\n"[..],
            &b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"[..],
        ),
        (
            b"\r\n\r\nGET / HTTP/1.9\r\n\r\n",
            b"\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        ),
        (b"GET / HTTP/1.0\r\n\r\n", b"GET / HTTP/1.0\r\n\r\n"),
        (b"GET / HTTP/2.0\r\n\r\n", b"GET / HTTP/2.0\r\n\r\n"),
        (b"GET / HTTP/1.10\r\n\r\n", b"GET / HTTP/1.10\r\n\r\n"),
        (b"GET / HTTP/1.2\n\r\n", b"GET / HTTP/1.2\n\r\n"),
        (b"HTTP/1.2\r\n", b"HTTP/1.2\r\n"),
        (b"", b""),
    ] {
        let mut head = before.to_vec();
        downgrade_minor_version(&mut head);
        assert_eq!(head, after, "{}", before.escape_ascii());
    }
    let mut head = b"GET / HTTP/1.2\r\nHost: h\r\n\r\n".to_vec();
    downgrade_minor_version(&mut head);
    let mut fields = header_slots::<MAX_HEADERS>();
    assert_eq!(
        parse_head(&head, &mut fields).unwrap().version,
        Version::Http11
    );
}
