//! A headless Chromium driven over the Chrome DevTools Protocol, for the browser tests: launch
//! it with a fresh profile, navigate, evaluate JavaScript, wait for a condition, collect console
//! errors and uncaught exceptions, and capture screenshots. Also a small PNG decoder so a test can
//! tell a screenshot with content from a blank one.
//!
//! Every wait has a deadline, and the browser's whole process group is killed on drop, so a
//! misbehaving browser can fail a test but never hang it.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::fs;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};
use tungstenite::{Message, WebSocket};

/// Longest wait for the browser to start, a protocol reply, or a page condition.
pub const BROWSER_TIMEOUT: Duration = Duration::from_secs(30);

/// The Chromium to use: `SLUICE_CHROMIUM` if set, else `/usr/bin/chromium` if it exists.
pub fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SLUICE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let p = PathBuf::from("/usr/bin/chromium");
    p.exists().then_some(p)
}

/// Where browser tests keep their screenshots and logs: `target/browser-test/`.
pub fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("browser-test");
    fs::create_dir_all(&dir).expect("create target/browser-test");
    dir
}

/// One headless browser with one page attached.
pub struct Browser {
    child: Child,
    ws: WebSocket<TcpStream>,
    next_id: u64,
    /// Protocol events received so far (method and params), oldest first.
    pub events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts `exe` headless with a fresh profile; its stderr goes to `log`.
    pub fn launch(exe: &Path, log: &Path) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let stderr = fs::File::create(log).expect("browser log file");
        let mut child = Command::new(exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
                "--hide-scrollbars",
                "--window-size=1280,900",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            // Its own process group, so drop can end the browser and every helper it started.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", exe.display()));
        // Chromium writes the port it picked to DevToolsActivePort in the profile.
        let port_file = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + BROWSER_TIMEOUT;
        let port: u16 = loop {
            if let Some(port) = fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.lines().next()?.trim().parse().ok())
            {
                break port;
            }
            if let Ok(Some(st)) = child.try_wait() {
                panic!("browser exited at start ({st}); see {}", log.display());
            }
            if Instant::now() >= deadline {
                kill_group(&mut child);
                panic!(
                    "browser did not start within {BROWSER_TIMEOUT:?}; see {}",
                    log.display()
                );
            }
            thread::sleep(Duration::from_millis(50));
        };
        let ws_url = match page_websocket(port, deadline) {
            Ok(url) => url,
            Err(e) => {
                kill_group(&mut child);
                panic!("no page target: {e}");
            }
        };
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to DevTools");
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        stream.set_write_timeout(Some(BROWSER_TIMEOUT)).unwrap();
        let (ws, _) = tungstenite::client(ws_url.as_str(), stream)
            .unwrap_or_else(|e| panic!("DevTools websocket {ws_url}: {e}"));
        let mut browser = Browser {
            child,
            ws,
            next_id: 1,
            events: Vec::new(),
            _profile: profile,
        };
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            browser.call(domain, json!({}));
        }
        browser
    }

    /// Sends one command and returns its `result`; panics on a protocol error or timeout.
    #[track_caller]
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws
            .send(Message::Text(msg))
            .unwrap_or_else(|e| panic!("send {method}: {e}"));
        let deadline = Instant::now() + BROWSER_TIMEOUT;
        loop {
            assert!(
                Instant::now() < deadline,
                "no reply to {method} within {BROWSER_TIMEOUT:?}"
            );
            if let Some(reply) = self.read_one() {
                if reply["id"] == id {
                    if let Some(err) = reply.get("error") {
                        panic!("{method} failed: {err}");
                    }
                    return reply["result"].clone();
                }
            }
        }
    }

    /// Reads one protocol message (waiting at most ~100 ms); events are kept in `events`.
    fn read_one(&mut self) -> Option<Value> {
        match self.ws.read() {
            Ok(Message::Text(text)) => {
                let v: Value = serde_json::from_str(&text).expect("protocol message is JSON");
                if v.get("method").is_some() {
                    self.events.push(v);
                    None
                } else {
                    Some(v)
                }
            }
            Ok(_) => None,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("DevTools connection: {e}"),
        }
    }

    /// Evaluates `expr` in the page (promises awaited) and returns its value.
    #[track_caller]
    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(ex) = r.get("exceptionDetails") {
            panic!("evaluating {expr:?} threw: {ex}");
        }
        r["result"]["value"].clone()
    }

    /// Polls the boolean expression `expr` every 100 ms until it is true or `within` passes.
    pub fn wait_for(&mut self, expr: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.eval(expr) == Value::Bool(true) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Navigates to `url` and waits until the document has loaded. Clears `events`.
    #[track_caller]
    pub fn navigate(&mut self, url: &str) {
        self.events.clear();
        let r = self.call("Page.navigate", json!({"url": url}));
        if let Some(err) = r.get("errorText") {
            panic!("navigating to {url}: {err}");
        }
        assert!(
            self.wait_for(
                &format!(
                    "document.readyState === 'complete' && location.href === {}",
                    json!(url)
                ),
                BROWSER_TIMEOUT
            ),
            "{url} did not finish loading"
        );
    }

    /// Processes protocol events for `dur` (so late console messages are collected).
    pub fn pump(&mut self, dur: Duration) {
        let deadline = Instant::now() + dur;
        while Instant::now() < deadline {
            let _ = self.read_one();
        }
    }

    /// Console errors, failed resource loads and uncaught exceptions since the last navigation.
    pub fn errors(&self) -> Vec<String> {
        let mut out = Vec::new();
        for e in &self.events {
            let p = &e["params"];
            match e["method"].as_str() {
                Some("Runtime.exceptionThrown") => out.push(format!(
                    "exception: {} {}",
                    p["exceptionDetails"]["text"],
                    p["exceptionDetails"]["exception"]["description"]
                )),
                Some("Runtime.consoleAPICalled")
                    if matches!(p["type"].as_str(), Some("error" | "assert")) =>
                {
                    out.push(format!("console.{}: {}", p["type"], p["args"]))
                }
                Some("Log.entryAdded") if p["entry"]["level"] == "error" => out.push(format!(
                    "log: {} ({})",
                    p["entry"]["text"], p["entry"]["url"]
                )),
                _ => {}
            }
        }
        out
    }

    /// Captures the viewport as PNG into `path`; returns the PNG bytes.
    #[track_caller]
    pub fn screenshot(&mut self, path: &Path) -> Vec<u8> {
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let png = base64_decode(r["data"].as_str().expect("screenshot data"));
        fs::write(path, &png).expect("write screenshot");
        png
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ask politely, then end the whole process group.
        let msg = json!({"id": 0, "method": "Browser.close", "params": {}}).to_string();
        let _ = self.ws.send(Message::Text(msg));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        kill_group(&mut self.child);
    }
}

fn kill_group(child: &mut Child) {
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

/// The websocket URL of the first page target, from `GET /json/list`.
fn page_websocket(port: u16, deadline: Instant) -> Result<String, String> {
    loop {
        let attempt = (|| -> io::Result<Option<String>> {
            let mut s = TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            write!(
                s,
                "GET /json/list HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
            )?;
            // The DevTools server keeps the connection open: read by Content-Length.
            let mut resp = Vec::new();
            let mut chunk = [0u8; 16 * 1024];
            let body = loop {
                let n = s.read(&mut chunk)?;
                resp.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&resp).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head.lines().find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    });
                    if n == 0 || len.is_some_and(|len| body.len() >= len) {
                        break body.to_string();
                    }
                } else if n == 0 {
                    break String::new();
                }
            };
            let list: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            Ok(list.as_array().and_then(|targets| {
                targets
                    .iter()
                    .find(|t| t["type"] == "page")
                    .and_then(|t| t["webSocketDebuggerUrl"].as_str())
                    .map(str::to_string)
            }))
        })();
        match attempt {
            Ok(Some(url)) => return Ok(url),
            Ok(None) | Err(_) if Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(100))
            }
            Ok(None) => return Err("no page in /json/list".into()),
            Err(e) => return Err(format!("/json/list: {e}")),
        }
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("bad base64 byte {c}"),
        }
    };
    let clean: Vec<u8> = s
        .bytes()
        .filter(|&c| c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(clean.len() * 3 / 4);
    for chunk in clean.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c) << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// PNG
// ---------------------------------------------------------------------------------------------

/// A decoded 8-bit RGB(A) image.
pub struct Image {
    pub width: usize,
    pub height: usize,
    /// RGBA, row by row.
    pub rgba: Vec<[u8; 4]>,
}

impl Image {
    /// The share of pixels that differ from the most common colour (the background).
    pub fn ink(&self) -> f64 {
        let mut counts = std::collections::HashMap::new();
        for p in &self.rgba {
            *counts.entry(*p).or_insert(0usize) += 1;
        }
        let background = counts.values().copied().max().unwrap_or(0);
        1.0 - background as f64 / self.rgba.len().max(1) as f64
    }

    /// How many distinct colours the image has.
    pub fn colours(&self) -> usize {
        self.rgba
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len()
    }
}

/// Decodes a non-interlaced 8-bit RGB or RGBA PNG (what Chromium's screenshots are).
pub fn decode_png(png: &[u8]) -> Image {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let mut pos = 8;
    let (mut width, mut height, mut channels) = (0usize, 0usize, 0usize);
    let mut idat = Vec::new();
    while pos + 8 <= png.len() {
        let len = u32::from_be_bytes(png[pos..pos + 4].try_into().unwrap()) as usize;
        let kind = &png[pos + 4..pos + 8];
        let data = &png[pos + 8..pos + 8 + len];
        match kind {
            b"IHDR" => {
                width = u32::from_be_bytes(data[0..4].try_into().unwrap()) as usize;
                height = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
                assert_eq!(data[8], 8, "bit depth");
                channels = match data[9] {
                    2 => 3,
                    6 => 4,
                    t => panic!("PNG colour type {t}"),
                };
                assert_eq!(data[12], 0, "interlaced PNG");
            }
            b"IDAT" => idat.extend_from_slice(data),
            b"IEND" => break,
            _ => {}
        }
        pos += 12 + len;
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .expect("inflate PNG data");
    let stride = width * channels;
    assert_eq!(raw.len(), height * (stride + 1), "PNG data size");
    let mut prev = vec![0u8; stride];
    let mut rgba = Vec::with_capacity(width * height);
    for row in raw.chunks(stride + 1) {
        let (filter, line) = (row[0], &row[1..]);
        let mut cur = vec![0u8; stride];
        for i in 0..stride {
            let a = if i >= channels { cur[i - channels] } else { 0 };
            let b = prev[i];
            let c = if i >= channels { prev[i - channels] } else { 0 };
            let x = line[i];
            cur[i] = match filter {
                0 => x,
                1 => x.wrapping_add(a),
                2 => x.wrapping_add(b),
                3 => x.wrapping_add(((u16::from(a) + u16::from(b)) / 2) as u8),
                4 => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) = (
                        (p - i16::from(a)).abs(),
                        (p - i16::from(b)).abs(),
                        (p - i16::from(c)).abs(),
                    );
                    let pred = if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    };
                    x.wrapping_add(pred)
                }
                f => panic!("PNG filter {f}"),
            };
        }
        for px in cur.chunks(channels) {
            rgba.push([px[0], px[1], px[2], if channels == 4 { px[3] } else { 255 }]);
        }
        prev = cur;
    }
    Image {
        width,
        height,
        rgba,
    }
}
