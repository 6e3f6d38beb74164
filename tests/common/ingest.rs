//! Helpers for the device-ingestion tests: a server with a data directory the test can read,
//! POST requests in both framings, and the numbered records that the concurrency and crash tests
//! send, so that a device file can be checked for whole records, each once, in each client's
//! order.
use super::{basic_root, Client, Server};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// A server over `basic_root()` whose `--data` is a directory the test can inspect.
/// Fields drop in order: the server is killed before its directories go.
pub struct Ingest {
    pub server: Server,
    pub root: tempfile::TempDir,
    /// The data directory passed as `--data`.
    pub data: PathBuf,
    _data_dir: Option<tempfile::TempDir>,
}

impl Ingest {
    pub fn connect(&self) -> Client {
        self.server.connect()
    }

    /// The contents of device `id`'s file; `None` if there is no such file.
    pub fn device(&self, id: &str) -> Option<Vec<u8>> {
        read_device(&self.data, id)
    }

    /// Names of the entries in the data directory.
    pub fn entries(&self) -> BTreeSet<String> {
        data_entries(&self.data)
    }
}

/// Starts sluice with `--data <fresh temp dir>` and `extra` flags over [`basic_root`].
pub fn start_ingest(extra: &[&str]) -> Ingest {
    let dir = tempfile::tempdir().expect("tempdir for --data");
    let data = dir.path().to_path_buf();
    let mut ingest = start_ingest_in(&data, extra);
    ingest._data_dir = Some(dir);
    ingest
}

/// Starts sluice with `--data <data>` (which the caller owns) and `extra` flags.
pub fn start_ingest_in(data: &Path, extra: &[&str]) -> Ingest {
    let root = basic_root();
    let data_arg = data.to_str().expect("utf-8 data path").to_string();
    let mut args: Vec<&str> = vec!["--data", &data_arg];
    args.extend_from_slice(extra);
    let server = Server::start(root.path(), &args);
    Ingest {
        server,
        root,
        data: data.to_path_buf(),
        _data_dir: None,
    }
}

/// The contents of `data/id`; `None` if it does not exist.
pub fn read_device(data: &Path, id: &str) -> Option<Vec<u8>> {
    match fs::read(data.join(id)) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => panic!("reading device file {id:?}: {e}"),
    }
}

/// Names of the device files in `data` (none if it does not exist): its entries but the dotfiles (the write-ahead log
/// `.sluice-wal`, the `.recovered/` folder), which no device id can name.
pub fn data_entries(data: &Path) -> BTreeSet<String> {
    // None yet: the data directory is made at the first record.
    if !data.exists() {
        return BTreeSet::new();
    }
    fs::read_dir(data)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", data.display()))
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .into_string()
                .expect("utf-8 file name")
        })
        .filter(|name| !name.starts_with('.'))
        .collect()
}

/// Polls `f` every 20 ms until it is true or `within` passes; returns its last value.
pub fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// `POST <target> HTTP/1.1` with a Content-Length body.
pub fn post(target: &str, body: &[u8]) -> Vec<u8> {
    post_with(target, "", body)
}

/// Like [`post`] with extra header lines (each ending in CRLF) after Content-Length.
pub fn post_with(target: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "POST {target} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n{headers}\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

/// `POST <target> HTTP/1.1` with a chunked body made of `chunks` (empty chunks are skipped: an
/// empty chunk would end the body).
pub fn post_chunked(target: &str, chunks: &[&[u8]]) -> Vec<u8> {
    let mut v =
        format!("POST {target} HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n")
            .into_bytes();
    v.extend_from_slice(&chunked_body(chunks));
    v
}

/// The chunked encoding of `chunks`, last chunk and empty trailer section included.
pub fn chunked_body(chunks: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    for c in chunks.iter().filter(|c| !c.is_empty()) {
        v.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        v.extend_from_slice(c);
        v.extend_from_slice(b"\r\n");
    }
    v.extend_from_slice(b"0\r\n\r\n");
    v
}

/// Splits `body` into three chunks of uneven size (for chunked variants of a body).
pub fn three_chunks(body: &[u8]) -> [&[u8]; 3] {
    let a = body.len() / 3;
    let b = a + (body.len() - a) / 2;
    [&body[..a], &body[a..b], &body[b..]]
}

// ---------------------------------------------------------------------------------------------
// Numbered records
// ---------------------------------------------------------------------------------------------

/// Padding length of record (`client`, `seq`): varies so records straddle reads and writes.
pub fn pad_len(client: usize, seq: usize) -> usize {
    (client * 131 + seq * 71) % 1200
}

fn pad_byte(client: usize) -> u8 {
    b'a' + (client % 26) as u8
}

/// The body `client=<client> seq=<seq> pad=<pad>\n`; the pad's length and letter follow from
/// `client` and `seq`, so a torn or spliced record does not parse.
pub fn record(client: usize, seq: usize) -> Vec<u8> {
    let mut v = format!("client={client} seq={seq} pad=").into_bytes();
    v.resize(v.len() + pad_len(client, seq), pad_byte(client));
    v.push(b'\n');
    v
}

/// Parses one line of [`record`] (without its `\n`).
pub fn parse_record(line: &[u8]) -> Result<(usize, usize), String> {
    let text = std::str::from_utf8(line).map_err(|_| "not UTF-8".to_string())?;
    let shown = || format!("{:?}", &text[..text.len().min(80)]);
    let mut parts = text.split(' ');
    let field = |part: Option<&str>, name: &str| -> Result<usize, String> {
        part.and_then(|p| p.strip_prefix(name))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("bad {name} field in {}", shown()))
    };
    let client = field(parts.next(), "client=")?;
    let seq = field(parts.next(), "seq=")?;
    let pad = parts
        .next()
        .and_then(|p| p.strip_prefix("pad="))
        .ok_or_else(|| format!("no pad in {}", shown()))?;
    if parts.next().is_some() {
        return Err(format!("extra fields in {}", shown()));
    }
    if pad.len() != pad_len(client, seq) || pad.bytes().any(|b| b != pad_byte(client)) {
        return Err(format!(
            "pad of client {client} seq {seq} is torn: {} bytes, expected {}",
            pad.len(),
            pad_len(client, seq)
        ));
    }
    Ok((client, seq))
}

/// Parses a device file made of [`record`]s: every line must be a whole record and the file
/// must end with a `\n` (no torn last record). Returns (client, seq) in file order.
pub fn parse_records(file: &[u8]) -> Result<Vec<(usize, usize)>, String> {
    if file.is_empty() {
        return Ok(Vec::new());
    }
    let Some(body) = file.strip_suffix(b"\n") else {
        let tail = &file[file.len().saturating_sub(80)..];
        return Err(format!(
            "file ends inside a record: ...{:?}",
            String::from_utf8_lossy(tail)
        ));
    };
    body.split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| parse_record(line).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

/// Reads every file in `data`, checks that each holds only whole [`record`]s and that each
/// record is in the file `device_of(client)` names. Returns each client's seqs in file order.
#[track_caller]
pub fn records_by_client(
    data: &Path,
    device_of: impl Fn(usize) -> String,
) -> BTreeMap<usize, Vec<usize>> {
    let mut by_client: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for name in data_entries(data) {
        let bytes = read_device(data, &name).unwrap_or_default();
        let records = parse_records(&bytes).unwrap_or_else(|e| panic!("device file {name:?}: {e}"));
        for (client, seq) in records {
            assert_eq!(
                device_of(client),
                name,
                "record client={client} seq={seq} is in the wrong device file"
            );
            by_client.entry(client).or_default().push(seq);
        }
    }
    by_client
}

/// Sends a POST on `c` and asserts it is acknowledged: `204`, no body, connection kept.
#[track_caller]
pub fn post_ok(c: &mut Client, raw: &[u8]) {
    let r = c.request(raw);
    r.assert_status(204).assert_no_connection_close();
    assert!(r.body.is_empty(), "204 with a body");
}

/// Position of `needle` in `hay`.
pub fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A body of client `client`, number `seq`, with a pseudo-random length in `size`: lines of
/// pseudo-random lengths, then `sum <client> <seq> <lines> <crc32 of the lines>`, so that it
/// checks itself ([`bodies_in`]).
pub fn checked_body(client: usize, seq: usize, size: std::ops::Range<usize>) -> Vec<u8> {
    let mut x = (client * 1_000_003 + seq * 7919 + 1) as u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let target = size.start + (next() % (size.end - size.start) as u64) as usize;
    let mut out = Vec::with_capacity(target + 100);
    let prefix = format!("c{client} s{seq} l");
    let pad = [b'x'; 80];
    let mut lines = 0usize;
    while out.len() < target {
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(lines.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(&pad[..(next() % 80) as usize]);
        out.push(b'\n');
        lines += 1;
    }
    let crc = crc32fast::hash(&out);
    writeln!(out, "sum {client} {seq} {lines} {crc:08x}").unwrap();
    out
}

/// The bodies in a device file, as (client, seq), checked line by line; `Err` names the first
/// damage (a checksum that does not match, lines of two bodies mixed, or a partial body at the
/// end).
pub fn bodies_in(file: &[u8]) -> Result<Vec<(usize, usize)>, String> {
    let mut found = Vec::new();
    let mut start = 0;
    let mut lines = 0;
    let mut pos = 0;
    while pos < file.len() {
        let Some(nl) = file[pos..].iter().position(|&b| b == b'\n') else {
            return Err(format!(
                "a partial line at byte {pos} ({} bytes)",
                file.len() - pos
            ));
        };
        let line = &file[pos..pos + nl];
        if let Some(sum) = line.strip_prefix(b"sum ") {
            let text = String::from_utf8_lossy(sum);
            let f: Vec<&str> = text.split(' ').collect();
            let (client, seq): (usize, usize) = (f[0].parse().unwrap(), f[1].parse().unwrap());
            let want_lines: usize = f[2].parse().unwrap();
            let crc = format!("{:08x}", crc32fast::hash(&file[start..pos]));
            if want_lines != lines || crc != f[3] {
                return Err(format!(
                    "body c{client} s{seq} at byte {start}: {lines} lines (want {want_lines}), \
                     crc {crc} (want {})",
                    f[3]
                ));
            }
            found.push((client, seq));
            start = pos + nl + 1;
            lines = 0;
        } else {
            lines += 1;
        }
        pos += nl + 1;
    }
    if start != file.len() {
        return Err(format!(
            "{} bytes of a partial body at the end",
            file.len() - start
        ));
    }
    Ok(found)
}

/// A client that posts bodies to `target` two at a time (so that the server is often in the
/// middle of a write when it is killed) until the connection dies or `stop`, the body of number
/// `seq` being `body(seq)` from `first_seq` on; the acknowledged numbers go to `acked`, and
/// `acks` counts them. Returns the next number it would send.
pub fn post_in_pairs(
    addr: std::net::SocketAddr,
    target: &str,
    (first_seq, body): (usize, &dyn Fn(usize) -> Vec<u8>),
    acked: &std::sync::Mutex<Vec<usize>>,
    (acks, stop): (
        &std::sync::atomic::AtomicUsize,
        &std::sync::atomic::AtomicBool,
    ),
) -> usize {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    let mut c = Client::connect(addr);
    let mut seq = first_seq;
    while !stop.load(Ordering::Relaxed) {
        let raw = [post(target, &body(seq)), post(target, &body(seq + 1))].concat();
        seq += 2;
        if c.stream.write_all(&raw).is_err() {
            break;
        }
        for sent in [seq - 2, seq - 1] {
            match c.try_read_response(false) {
                Ok(r) if r.status == 204 => {
                    acked.lock().unwrap().push(sent);
                    acks.fetch_add(1, Ordering::Relaxed);
                }
                Ok(r) => panic!("{target} seq {sent}: {}", r.raw_head),
                Err(_) => return seq,
            }
        }
    }
    seq
}
