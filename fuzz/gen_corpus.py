#!/usr/bin/env python3
"""Writes the seed corpus under fuzz/corpus/<target>/ (run from anywhere; rerun after the table
tests change; files it wrote before are replaced, files libFuzzer added are left alone).

Seeds come from two places:
- the table tests in src/http/request_tests.rs and src/http/body_tests.rs: every case whose input
  is a byte-string literal (or get_with/post_with(...) in the request tests) becomes a file named
  after the test, valid and malformed alike;
- the hand-written cases below: realistic requests (a browser GET, wrk's minimal GET, a 16-request
  pipelined batch, ingest POSTs), chunked bodies with extensions and trailers, request paths that
  probe the fixed tree of the path_resolve target, one response head of each kind, device ids
  and client addresses, Range values (also every one in src/http/range_tests.rs) on several
  lengths, and Accept-Encoding values;
- for conditional, every evaluate(...) and if_range_holds(...) case of
  src/http/conditional_tests.rs on each kind of entity-tag, and generated dates around
  Last-Modified; for query, every query string in src/http/query.rs and generator inputs;
- for the connection target, scripted clients: pipelined GETs of the fixture files, ingest POSTs
  (Content-Length and chunked), HTTP/1.0, close, slow readers, reads cut inside heads and bodies,
  and every raw request of tests/framing.rs followed by a GET that must not be answered.

Each target reads a few control bytes before its data (see the target's doc comment); the seeds
carry them, so a file is `<control bytes><data>`.
"""
import pathlib
import re
import struct

FUZZ = pathlib.Path(__file__).resolve().parent
REPO = FUZZ.parent
CORPUS = FUZZ / "corpus"

# --- Rust literal extraction -------------------------------------------------------------------

BYTE_STR = r'b"((?:[^"\\]|\\.)*)"'
STR = r'"((?:[^"\\]|\\.)*)"'


def unescape(body):
    """A Rust (byte) string literal body to bytes."""
    out = bytearray()
    i = 0
    simple = {"r": 13, "n": 10, "t": 9, "0": 0, "\\": 92, '"': 34, "'": 39}
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        e = body[i + 1]
        if e in simple:
            out.append(simple[e])
            i += 2
        elif e == "x":
            out.append(int(body[i + 2 : i + 4], 16))
            i += 4
        elif e == "u":
            end = body.index("}", i)
            out += chr(int(body[i + 3 : end], 16)).encode()
            i = end + 1
        else:
            raise ValueError(f"unknown escape \\{e} in {body!r}")
    return bytes(out)


def with_lines(first, lines):
    """request_tests.rs get_with / post_with."""
    head = "GET / HTTP/1.1\r\nHost: h\r\n" + "".join(l + "\r\n" for l in lines) + "\r\n"
    if first == "post_with":
        head = "POST /in" + head[5:]
    return head.encode()


def request_cases():
    text = (REPO / "src/http/request_tests.rs").read_text()
    cases = {}
    for m in re.finditer(r"^\s*(\w+): " + BYTE_STR, text, re.M):
        cases[m.group(1)] = unescape(m.group(2))
    for m in re.finditer(r"^\s*(\w+): (get_with|post_with)\(&\[(.*?)\]\)", text, re.M):
        lines = [unescape(s).decode() for s in re.findall(STR, m.group(3))]
        cases[m.group(1)] = with_lines(m.group(2), lines)
    return cases


def body_cases():
    text = (REPO / "src/http/body_tests.rs").read_text()
    cases = {}
    pattern = r"^\s*(\w+): " + BYTE_STR + r", (Chunked|Length\((\d+)\)|BodyFraming::None)(?:, (\d+))? =>"
    for m in re.finditer(pattern, text, re.M):
        name, body, framing, length, cap = m.groups()
        cases[name] = (unescape(body), framing.split("(")[0].removeprefix("BodyFraming::"), int(length or 0), int(cap or 1 << 20))
    return cases


# --- control bytes, mirroring the targets --------------------------------------------------------

HEAD_CAPS = [16 * 1024, 64, 256, 1024]  # head_parser.rs HEAD_CAPS
LINE_CAPS = [8 * 1024, 16, 100, 1000]  # head_parser.rs LINE_CAPS
MAX_BODY = [0, 1, 16, 255, 4096, 1 << 20, 2**63 - 1, 2**64 - 1]  # body_decoder.rs MAX_BODY
RANDOM_SPLITS_UP_TO_8 = 64 + 7  # sluice_fuzz::Cuts: random read sizes 1..=8


def head_seed(data, mode=0, head_cap=0, line_cap=0):
    return bytes([mode, head_cap | line_cap << 2]) + data


def body_seed(data, framing, length=0, max_body=1 << 20, mode=0):
    kind = {"Chunked": 0, "Length": 1, "None": 2}[framing]
    cap = max(i for i, v in enumerate(MAX_BODY) if v <= max_body)
    return bytes([kind | cap << 2]) + struct.pack("<H", min(length, 0xFFFF)) + bytes([mode]) + data


def response_seed(kind, status=0, length=0, seconds=784111777, flags=0, rest=b""):
    return bytes([kind, flags]) + struct.pack(">H", status) + struct.pack("<QI", length, seconds) + rest


# --- hand-written seeds ------------------------------------------------------------------------

BROWSER_GET = (
    b"GET /dashboard/index.html?device=esp32-kitchen HTTP/1.1\r\n"
    b"Host: 192.168.1.20:8080\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Connection: keep-alive\r\n"
    b"Upgrade-Insecure-Requests: 1\r\n"
    b"If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
    b"Sec-Fetch-Dest: document\r\n"
    b"Sec-Fetch-Mode: navigate\r\n"
    b"Sec-Fetch-Site: none\r\n"
    b"Priority: u=0, i\r\n\r\n"
)
WRK_GET = b"GET /small.html HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
RANGE_GET = b"GET /files/big.bin HTTP/1.1\r\nHost: h\r\nRange: bytes=100-199,-5\r\nIf-Range: \"abc\"\r\n\r\n"
INGEST_POST = (
    b"POST /devices/esp32-kitchen HTTP/1.1\r\nHost: 192.168.1.20\r\n"
    b"Content-Type: application/json\r\nContent-Length: 27\r\n\r\n"
    b'{"t":21.5,"rh":40,"v":3.3}\n'
)
CHUNKED_POST = (
    b"POST /devices/sensor-1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
    b"Expect: 100-continue\r\n\r\n5;a=b\r\nhello\r\n0\r\nX-Sum: 1\r\n\r\n"
)

HEADS = {
    "browser_get": BROWSER_GET,
    "wrk_get": WRK_GET,
    "range_get": RANGE_GET,
    "ingest_post": INGEST_POST,
    "chunked_post_expect": CHUNKED_POST,
    "pipelined_16": WRK_GET * 16,
    "pipelined_mixed": WRK_GET + INGEST_POST + BROWSER_GET + b"GET /x HTTP/1.0\r\n\r\n",
    "http10_keep_alive": b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "options_asterisk": b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    "absolute_form": b"GET http://[fe80::1]:8080/a?b HTTP/1.1\r\nHost: [fe80::1]:8080\r\n\r\n",
    "head_half_sent": b"GET / HTTP/1.1\r\nHost: x\r\n",
    "dotdot_encoded": b"GET /%2e%2e/%2E%2e/etc/passwd HTTP/1.1\r\nHost: h\r\n\r\n",
}

BODIES = {
    "chunked_ingest_reading": (b"1b\r\n" + b'{"t":21.5,"rh":40,"v":3.3}\n' + b"\r\n0\r\n\r\n", "Chunked", 0, 1 << 20),
    "chunked_many_tiny": (b"1\r\na\r\n" * 64 + b"0\r\n\r\n", "Chunked", 0, 1 << 20),
    "chunked_ext_and_trailers": (
        b'4;name=value;q="a \\"b\\"";x\r\nwiki\r\n5 ; ext\r\npedia\r\n0;last\r\nChecksum: abc\r\nX-T:\t1 \r\n\r\nGET',
        "Chunked", 0, 1 << 20),
    "chunked_then_pipelined": (b"3\r\nabc\r\n0\r\n\r\nPOST /x HTTP/1.1\r\n", "Chunked", 0, 1 << 20),
    "chunked_4k_chunks": ((b"1000\r\n" + b"x" * 4096 + b"\r\n") * 2 + b"0\r\n\r\n", "Chunked", 0, 1 << 20),
    "length_reading": (b'{"t":21.5,"rh":40,"v":3.3}\n', "Length", 27, 1 << 20),
    "length_then_next_request": (b"abcGET / HTTP/1.1\r\n", "Length", 3, 1 << 20),
    "length_max_body_exact": (b"0123456789abcdef", "Length", 16, 16),
}

PATHS = [
    "/", "/index.html", "/file.txt", "/file.txt/", "/a%20b.txt", "/caf%C3%A9.txt", "/caf\u00e9.txt",
    "/dir", "/dir/", "/dir/nested/", "/dir/nested/deep.txt", "/dir/./nested/../nested/deep.txt",
    "/dir/up_in", "/empty/", "/link_in/deep.txt", "/link_in/", "/link_file", "/abs_in/nested/deep.txt",
    "/link_out/secret.txt", "/link_out/", "/link_secret", "/dir/nested/escape", "/abs_out/secret.txt",
    "/etc/passwd", "/slash/etc/passwd", "/dangling", "/loop", "/sock", "/missing",
    "/..", "/../outside/secret.txt", "/%2e%2e/outside/secret.txt", "/dir/%2E%2E/%2e%2e/outside",
    "/..%2foutside", "/a%00b", "/%zz", "//file.txt", "/dir//nested///deep.txt", "file.txt", "",
    "/link_in/../file.txt", "/link_out/../root/file.txt",
]

def error_count():
    """The number of RequestError variants (response_encoder.rs lists them all, in order)."""
    text = (REPO / "src/http/error.rs").read_text()
    body = text[text.index("pub enum RequestError {") : text.index("\n}\n", text.index("pub enum RequestError {"))]
    return len(re.findall(r"^    ([A-Z]\w*),$", body, re.M))


ERRORS = error_count()
RESPONSES = {
    "file_200_html": response_seed(0, length=600, rest=b"index.html"),
    "file_200_big_bin_close": response_seed(0, length=100 << 20, flags=2, rest=b"100m.bin"),
    "file_200_http10_keep_alive": response_seed(0, length=4096, flags=4, rest=b"data.json"),
    "file_200_no_extension": response_seed(0, length=0, rest=b"README"),
    "options_204": response_seed(2),
    "status_304": response_seed(3, status=304 - 100, rest=b'"etag-1"'),
    "status_599_value_ws": response_seed(3, status=499, length=2**64 - 1, rest=b" \tv a l\xff \t"),
    "status_100": response_seed(3, status=0, rest=b""),
}
for i in range(ERRORS):
    RESPONSES[f"error_{i:02}"] = response_seed(1, status=i, flags=1 if i % 5 == 0 else (2 if i % 2 else 0))

DEVICE_IDS = [
    "esp32-kitchen", "Sensor_01.v2", "a", "-", "_x", "a.", "z" * 64, "z" * 65, "", ".", "..",
    ".hidden", "a/b", "a b", "a%2f", "\u00e9", "a:b", "a\0", "a\n", "../data", "con", "192.168.1.20",
]
DEVICE_IPS = {
    "ip_v4_lan": (2, bytes([192, 168, 1, 20]) + bytes(12)),
    "ip_v6_link_local": (0, bytes.fromhex("fe800000000000000000000000000001")),
    "ip_v6_mapped_v4": (0, bytes.fromhex("00000000000000000000ffff0a000007")),
    "ip_v6_longest_text": (0, bytes.fromhex("fffffffffffffffffffffffffffffffe")),
}

def range_fields():
    """The Range values in src/http/range_tests.rs (string literals with an "="), plus a few."""
    text = (REPO / "src/http/range_tests.rs").read_text()
    fields = {unescape(m) for m in re.findall(STR, text) if "=" in unescape(m).decode("latin-1")}
    scattered = ",".join(f"{2 * i}-{2 * i}" for i in range(17))
    fields |= {
        b"bytes=0-499", b"bytes=-500", b"bytes=9500-", b"bytes=0-0,-1", b"bytes=500-600,601-999",
        b"bytes=0-,5-10,5-11,5-12", ("bytes=" + scattered).encode(), ("bytes=0-," + scattered).encode(),
        b"bytes=18446744073709551615-", b"bytes=-18446744073709551615", b"BYTES=1-2 , 4-5\t,",
    }
    return sorted(f for f in fields if b"{" not in f)


RANGE_LENGTHS = {"len100": bytes([100]), "len0": bytes([0]), "len1": bytes([1]),
                 "len10000": bytes([0x80]) + struct.pack("<Q", 10_000),
                 "len_u64max": bytes([0x80]) + struct.pack("<Q", 2**64 - 1)}

ACCEPT_ENCODINGS = [
    b"gzip, deflate, br, zstd", b"gzip, deflate", b"br;q=1.0, gzip;q=0.8, *;q=0.1", b"identity",
    b"identity;q=0", b"*;q=0", b"*;q=0, identity", b"identity;q=0, *", b"x-gzip", b"x-compress",
    b" GZip ; Q=0.3 ,\tbr\t", b"gzip;q=0, gzip", b"gzip;level=9;q=0.2", b"gzip;q=2, br",
    b"gzip;q = 0.5", b"gzip;q=0.1234", b"gzip;q=1.001", b"gzip;q=0.", b"*", b"", b" , ,",
    b"identity, *;0", b"br;q=0.001, gzip;q=0.001",
]

# --- connection target: scripted clients (src/harness/mod.rs, Script::from_fuzz) ----------------

CUT = b"\xfe\xff"  # ends a read
FIN, FIN_WITH_LAST, ACK_BUFFER, EINTR = 1, 2, 4, 8
MAX_BODY_4096, MAX_BODY_16, MAX_BODY_0 = 0x10, 0x20, 0x30
NO_CUTS = 255


def conn_seed(stream, flags=FIN, per_call=0, per_turn=0, cuts=NO_CUTS):
    """[flags] [writes: per-turn index << 4 | per-call index] [cuts] stream (PER_CALL/PER_TURN)."""
    return bytes([flags, per_turn << 4 | per_call, cuts]) + stream


def get(path, host=b"h", extra=b""):
    return b"GET " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\n" + extra + b"\r\n"


def post(device, body):
    return b"POST /devices/" + device + b" HTTP/1.1\r\nHost: h\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body


def post_chunked(device, chunks):
    out = b"POST /devices/" + device + b" HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    for c in chunks:
        out += b"%x\r\n" % len(c) + c + b"\r\n"
    return out + b"0\r\n\r\n"


ALL_FILES = b"".join(get(b"/%d" % n) for n in range(1, 7)) + get(b"/99") + b"HEAD /6 HTTP/1.1\r\nHost: h\r\n\r\n"
MIXED = (get(b"/1") + CUT + post(b"d1", b'{"t":21.5}\n') + get(b"/4")[:9] + CUT + get(b"/4")[9:]
         + post_chunked(b"d2", [b"ab", b"c\n"]) + CUT + get(b"/5") + post(b"d1", b"second\n") + get(b"/3"))

CONNECTIONS = {
    "wrk_get": conn_seed(get(b"/3", b"127.0.0.1:8080")),
    "wrk_get_no_fin": conn_seed(get(b"/3", b"127.0.0.1:8080"), flags=0),
    "pipelined_16": conn_seed(get(b"/3") * 16),
    "pipelined_16_slow_reader": conn_seed(get(b"/3") * 16, per_call=1, per_turn=3),
    "all_files": conn_seed(ALL_FILES),
    "all_files_one_byte_reads": conn_seed(ALL_FILES, flags=FIN | FIN_WITH_LAST, cuts=0),
    "all_files_random_reads_eintr": conn_seed(ALL_FILES, flags=FIN | EINTR, per_call=9, per_turn=7, cuts=64 + 15),
    "mixed": conn_seed(MIXED),
    "mixed_buffer_ack": conn_seed(MIXED, flags=FIN | FIN_WITH_LAST | ACK_BUFFER),
    "mixed_small_max_body": conn_seed(MIXED, flags=FIN | MAX_BODY_16, per_turn=4),
    "mixed_random_reads": conn_seed(MIXED, cuts=64 + 40, per_call=13, per_turn=5),
    "ingest_post": conn_seed(INGEST_POST + get(b"/1")),
    "chunked_post_expect_ext_trailers": conn_seed(CHUNKED_POST + get(b"/1")),
    "chunked_post_over_max_body_0": conn_seed(post_chunked(b"d", [b"x"]) + get(b"/1"), flags=FIN | MAX_BODY_0),
    "length_post_over_max_body_4096": conn_seed(post(b"d", b"y" * 5000) + get(b"/1"), flags=FIN | MAX_BODY_4096),
    "http10": conn_seed(b"GET /1 HTTP/1.0\r\n\r\n" + get(b"/2")),
    "http10_two_hosts": conn_seed(b"GET /1 HTTP/1.0\r\nHost: a\r\nHost: h\r\n\r\n" + get(b"/2")),
    "http10_keep_alive": conn_seed(b"GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + get(b"/2")),
    "close_then_more": conn_seed(get(b"/1") + get(b"/3", extra=b"Connection: close\r\n") + get(b"/4")),
    "no_host": conn_seed(b"GET /1 HTTP/1.1\r\n\r\n" + get(b"/1")),
    "head_no_host": conn_seed(ALL_FILES[:-29] + b"HEAD /6 HTTP/1.1\r\nHo3t: h\r\n\r\n", per_call=1, per_turn=3),
    "head_over_max_body": conn_seed(b"HEAD /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n", flags=FIN | MAX_BODY_16),
    "half_sent_head_no_fin": conn_seed(get(b"/1") + b"GET /2 HTTP/1.1\r\nHo", flags=0),
    "half_sent_body_no_fin": conn_seed(post(b"d", b"abcdef")[:-3], flags=0),
    "half_sent_body_fin": conn_seed(post(b"d", b"abcdef")[:-3]),
    "answer_before_a_body_cut_short": conn_seed(get(b"/1") + b"POST /1 HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nab"),
    "live_all": conn_seed(get(b"/api/live") + get(b"/1"), flags=0),
    "live_half_close_slow_reader": conn_seed(get(b"/api/live"), per_call=3, per_turn=6),
    "live_device_tail": conn_seed(post(b"d", b"r1\n") + get(b"/devices/d/live?tail=5"), flags=FIN),
    "upload_then_get": conn_seed(b"POST /files/u.txt HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" + get(b"/files/u.txt")),
    "device_read_back": conn_seed(post(b"d", b"abc\n") + get(b"/devices/d") + get(b"/api/devices")),
    "range_and_conditionals": conn_seed(
        get(b"/6", extra=b"Range: bytes=0-9,500-599\r\n") + get(b"/1", extra=b'If-None-Match: "x", W/"y"\r\n')
        + get(b"/5", extra=b"Range: bytes=-10\r\nIf-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n")),
    "browser_get": conn_seed(BROWSER_GET + get(b"/1")),
    "dashboard_listing_metrics": conn_seed(get(b"/") + get(b"/dashboard") + get(b"/metrics") + get(b"/1?download")),
    "options_and_unknown_method": conn_seed(b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\nFOO /1 HTTP/1.1\r\nHost: h\r\n\r\n" + get(b"/1")),
    "leading_empty_lines": conn_seed(b"\r\n\r\n" + get(b"/1") + get(b"/2")),
    "folder_zip_slow_reader": conn_seed(get(b"/?download") + b"HEAD /?download HTTP/1.1\r\nHost: h\r\n\r\n" + get(b"/1"), per_call=7, per_turn=5),
}


def framing_cases():
    """Each test of tests/framing.rs as the raw bytes it sends (its byte-string literals in order,
    a chunked_ingest(...) argument after that helper's head)."""
    text = (REPO / "tests/framing.rs").read_text()
    cases = {}
    for m in re.finditer(r"#\[test\]\s*fn (\w+)\(\) \{(.*?)\n\}", text, re.S):
        name, body = m.groups()
        data = b""
        for lit in re.finditer(r"(chunked_ingest\(&?)?" + BYTE_STR, body):
            if lit.group(1):
                data += b"POST /devices/itest HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
            data += unescape(lit.group(2))
        if data.startswith((b"GET", b"POST", b"get", b"FOO", b"OPTIONS")):
            cases[name] = data
    return cases


# --- conditional and query targets ----------------------------------------------------------

COND_NAMES = ["If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range", "Accept"]
COND_DATES = {"AT": "Sun, 06 Nov 1994 08:49:37 GMT", "BEFORE": "Sun, 06 Nov 1994 08:49:36 GMT",
              "AFTER": "Sun, 06 Nov 1994 08:49:38 GMT"}


def cond_seed(fields, etag=0, get=True, age=3, modified=0, inode=0x1a, size=4, suffix=0):
    """[flags: etag | GET << 2 | age << 3 | modified << 5] [inode] [size] [suffix] fields, each
    [name selector] value, separated by \n (conditional.rs)."""
    flags = etag | (4 if get else 0) | age << 3 | modified << 5
    return bytes([flags, inode, size, suffix]) + b"\n".join(bytes([COND_NAMES.index(n)]) + v for n, v in fields)


def conditional_cases():
    """The evaluate(...) and if_range_holds(...) calls of src/http/conditional_tests.rs."""
    text = (REPO / "src/http/conditional_tests.rs").read_text()
    cases = []
    for m in re.finditer(r"eval\(\s*&\[(.*?)\],\s*(true|false),?\s*\)", text, re.S):
        fields = []
        for f in re.finditer(r'\("([\w-]+)",\s*(?:' + STR + r'|(AT|BEFORE|AFTER))\)', m.group(1)):
            name, lit, const = f.groups()
            value = unescape(lit).decode() if lit is not None else COND_DATES[const]
            canonical = next(n for n in COND_NAMES if n.lower() == name.lower())
            fields.append((canonical, value.encode()))
        cases.append((fields, m.group(2) == "true"))
    for m in re.finditer(r"if_range_holds\(\s*(?:" + BYTE_STR + r"|(AT|BEFORE|AFTER)\.as_bytes\(\))", text):
        lit, const = m.groups()
        value = unescape(lit) if lit is not None else COND_DATES[const].encode()
        cases.append(([("If-Range", value)], True))
    return cases


def query_cases():
    """The query strings of the tests in src/http/query.rs."""
    text = (REPO / "src/http/query.rs").read_text()
    tests = text[text.index("mod tests"):]
    return sorted({unescape(q) for q in re.findall(STR, tests) if "{" not in q})


# --- writing ----------------------------------------------------------------------------------


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def main():
    for name, data in {**{f"test_{k}": v for k, v in request_cases().items()}, **HEADS}.items():
        write("head_parser", name, head_seed(data))
    # The same heads fed in irregular reads, some against small caps that they exceed.
    for name in ["browser_get", "pipelined_16", "chunked_post_expect"]:
        write("head_parser", f"{name}_random_splits", head_seed(HEADS[name], mode=RANDOM_SPLITS_UP_TO_8))
        write("head_parser", f"{name}_small_caps", head_seed(HEADS[name], head_cap=2, line_cap=1))
    write("head_parser", "wrk_get_tiny_caps", head_seed(WRK_GET, head_cap=1, line_cap=1))

    bodies = {f"test_{k}": v for k, v in body_cases().items()}
    bodies.update(BODIES)
    for name, (data, framing, length, cap) in bodies.items():
        write("body_decoder", name, body_seed(data, framing, length, cap))
    write("body_decoder", "chunked_ext_and_trailers_random_splits",
          body_seed(BODIES["chunked_ext_and_trailers"][0], "Chunked", mode=RANDOM_SPLITS_UP_TO_8))

    for i, path in enumerate(PATHS):
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", path).strip("_.") or "root"
        write("path_resolve", f"{i:02}_{slug}", path.encode())

    for name, data in RESPONSES.items():
        write("response_encoder", name, data)

    for i, claimed in enumerate(DEVICE_IDS):
        slug = re.sub(r"[^A-Za-z0-9_-]+", "_", claimed)[:24].strip("_") or "empty"
        write("device_id", f"id_{i:02}_{slug}", b"\0" + claimed.encode())
    for name, (selector, octets) in DEVICE_IPS.items():
        write("device_id", name, bytes([1 | selector]) + octets)

    for i, field in enumerate(range_fields()):
        slug = re.sub(r"[^A-Za-z0-9_=-]+", "_", field.decode("latin-1"))[:40].strip("_")
        lengths = RANGE_LENGTHS if i % 7 == 0 else {"len100": RANGE_LENGTHS["len100"]}
        for lname, prefix in lengths.items():
            write("range", f"{i:03}_{lname}_{slug}", prefix + field)

    write("accept_encoding", "absent", b"\0")
    for i, field in enumerate(ACCEPT_ENCODINGS):
        slug = re.sub(r"[^A-Za-z0-9_=.-]+", "_", field.decode().replace("*", "star")).strip("_") or "empty"
        write("accept_encoding", f"{i:02}_{slug}", b"\1" + field)

    for i, (fields, get_or_head) in enumerate(conditional_cases()):
        # The tests' own tag ("abc", modified 0.5 s past the second) and, for some, the others.
        write("conditional", f"test_{i:03}", cond_seed(fields, get=get_or_head))
        if i % 4 == 0:
            write("conditional", f"test_{i:03}_file_etag", cond_seed(fields, etag=3, get=get_or_head, modified=6))
            write("conditional", f"test_{i:03}_empty_etag_age_0", cond_seed(fields, etag=1, get=get_or_head, age=0))
    for form in range(12):
        for modified in (0, 4, 5, 7):
            date = bytes([form, 0])
            fields = [("If-Modified-Since", b"@" + date), ("If-Range", b"@" + date),
                      ("If-Unmodified-Since", b"@" + bytes([form, 0xff]))]
            write("conditional", f"generated_dates_form{form}_modified{modified}", cond_seed(fields, modified=modified))
    write("conditional", "comma_inside_the_tag", cond_seed([("If-Match", b'"a,b"'), ("If-None-Match", b'W/"a,b", "x"')], etag=2))

    write("query", "absent", b"\0")
    for i, q in enumerate(query_cases()):
        slug = re.sub(r"[^A-Za-z0-9_=-]+", "_", q.decode("utf-8", "replace"))[:30].strip("_") or "empty"
        write("query", f"{i:02}_{slug}", b"\1" + q)
    for i, gen in enumerate([b"\x07\x00\x03\x01\x04\x02\x01\x03\x00\x04\x05\x01", bytes(range(64)), bytes(range(255, 191, -1))]):
        write("query", f"generated_{i}", b"\2" + gen)

    for name, data in CONNECTIONS.items():
        write("connection", name, data)
    for i, (name, data) in enumerate(sorted(framing_cases().items())):
        # The request, then a GET that must not be answered if the request was a framing error;
        # every third one cut into irregular reads.
        write("connection", f"framing_{name}", conn_seed(data + CUT + get(b"/1"), cuts=NO_CUTS if i % 3 else 64 + 9))

    for target in sorted(p.name for p in CORPUS.iterdir()):
        files = list((CORPUS / target).iterdir())
        print(f"{target}: {len(files)} files, {sum(f.stat().st_size for f in files)} bytes")


if __name__ == "__main__":
    main()
