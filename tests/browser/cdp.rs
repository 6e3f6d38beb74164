//! A minimal Chrome DevTools Protocol client for the browser test: start headless Chromium in a
//! fresh profile and its own process group, connect to its browser endpoint over WebSocket, send
//! commands (flat sessions), and wait for replies and events. Every wait has a deadline; dropping
//! the browser closes it and kills what is left of its process group.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

/// Chromium for the browser test `test`, or `None` after printing why it is skipped (to stdout
/// and stderr, so CI's skip count sees it); with `SLUICE_REQUIRE_BROWSER=1` a missing Chromium
/// fails the test instead.
pub fn chromium_or_skip(test: &str) -> Option<PathBuf> {
    let found = find_chromium();
    if found.is_none() {
        let msg = format!(
            "SKIPPED {test}: Chromium not found (install `chromium`, or set SLUICE_CHROMIUM)"
        );
        if std::env::var_os("SLUICE_REQUIRE_BROWSER").is_some_and(|v| v == "1") {
            panic!("{msg}, and SLUICE_REQUIRE_BROWSER=1");
        }
        println!("{msg}");
        eprintln!("{msg}");
    }
    found
}

/// Where Chromium is, if installed: `SLUICE_CHROMIUM`, else the usual names on `PATH`.
fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SLUICE_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in [
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// A running headless Chromium and a DevTools connection to its browser target.
pub struct Browser {
    child: Child,
    ws: WebSocket<TcpStream>,
    next_id: u64,
    /// Events received while waiting for something else.
    events: VecDeque<Value>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts `chromium` headless with a fresh profile; waits up to `within` for its DevTools
    /// endpoint.
    pub fn launch(chromium: &Path, within: Duration) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-crash-reporter",
                "--disable-breakpad",
                "--remote-debugging-port=0",
                "--remote-allow-origins=*",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group, so that every renderer and helper can be ended with it.
            .process_group(0)
            .spawn()
            .expect("spawn chromium");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if !sent {
                    if let Some(at) = line.find("ws://") {
                        let _ = tx.send(line[at..].trim().to_string());
                        sent = true;
                    }
                }
                // Keep draining so Chromium never blocks on a full pipe; its log is noise.
            }
        });
        let Ok(url) = rx.recv_timeout(within) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium printed no DevTools endpoint within {within:?}");
        };
        let hostport = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let stream = TcpStream::connect(&hostport).expect("connect to DevTools");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (ws, _) = tungstenite::client(url.as_str(), stream).expect("WebSocket handshake");
        // From now on reads return every 200 ms, so that waits can check their deadlines.
        ws.get_ref()
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Browser {
            child,
            ws,
            next_id: 1,
            events: VecDeque::new(),
            _profile: profile,
        }
    }

    /// Sends a command (to `session` if given) and waits up to `within` for its result.
    /// Panics on a protocol error or timeout.
    pub fn call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
        within: Duration,
    ) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .unwrap_or_else(|e| panic!("send {method}: {e}"));
        let deadline = Instant::now() + within;
        loop {
            let v = self
                .read(deadline)
                .unwrap_or_else(|| panic!("no reply to {method} within {within:?}"));
            if v.get("id").and_then(Value::as_u64) == Some(id) {
                if let Some(err) = v.get("error") {
                    panic!("{method} failed: {err}");
                }
                return v["result"].clone();
            }
            if v.get("method").is_some() {
                self.events.push_back(v);
            }
        }
    }

    /// Waits up to `within` for an event named `method` for which `pred` holds (earlier events
    /// that were queued count); returns its params.
    pub fn wait_event(
        &mut self,
        method: &str,
        within: Duration,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> Value {
        if let Some(i) = self
            .events
            .iter()
            .position(|e| e["method"] == method && pred(&e["params"]))
        {
            return self.events.remove(i).unwrap()["params"].clone();
        }
        let deadline = Instant::now() + within;
        loop {
            let v = self
                .read(deadline)
                .unwrap_or_else(|| panic!("no {method} event within {within:?}"));
            if v["method"] == method && pred(&v["params"]) {
                return v["params"].clone();
            }
            if v.get("method").is_some() {
                self.events.push_back(v);
            }
        }
    }

    /// Evaluates `expr` in the page of `session`; returns its value (promises awaited).
    pub fn eval(&mut self, session: &str, expr: &str, within: Duration) -> Value {
        let r = self.call(
            Some(session),
            "Runtime.evaluate",
            json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }),
            within,
        );
        if let Some(ex) = r.get("exceptionDetails") {
            panic!("{expr}: {ex}");
        }
        r["result"]["value"].clone()
    }

    /// Every event queued or received within `within`, oldest first; the queue is emptied.
    /// (For console messages and exceptions, which nobody waits for by name.)
    #[allow(dead_code)] // used by tests/dashboard_browser.rs, not by tests/browser.rs
    pub fn drain_events(&mut self, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        while let Some(v) = self.read(deadline) {
            if v.get("method").is_some() {
                self.events.push_back(v);
            }
        }
        self.events.drain(..).collect()
    }

    /// The next message, or `None` once `deadline` passes.
    fn read(&mut self, deadline: Instant) -> Option<Value> {
        loop {
            if Instant::now() >= deadline {
                return None;
            }
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    return Some(serde_json::from_str(t.as_str()).expect("DevTools JSON"))
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("DevTools connection: {e}"),
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let id = self.next_id;
        let _ = self.ws.send(Message::text(
            json!({ "id": id, "method": "Browser.close", "params": {} }).to_string(),
        ));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        // Whatever is left of the group we created (renderers, zygotes): end it.
        let pgid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}
