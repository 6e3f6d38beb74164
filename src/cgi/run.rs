//! One running CGI script: the child and its three non-blocking pipes, registered with the
//! reactor under tokens that lead back to the connection. [`CgiRun::pump`] moves what it can
//! (body to stdin, stdout to the client's write buffer, stderr to the log) without blocking.
use super::response::{self, CgiHeadError};
use super::CgiRequest;
use crate::http::{self, Progress};
use crate::limits::{CGI_READ_CHUNK_BYTES, CGI_STDERR_LINE_BYTES};
use log::{debug, warn};
use mio::unix::pipe::{Receiver, Sender};
use mio::{Interest, Registry, Token};
use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

/// Which pipe an event is for (the low bits of its token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pipe {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
}

impl Pipe {
    pub fn from_index(i: usize) -> Option<Pipe> {
        [Pipe::Stdin, Pipe::Stdout, Pipe::Stderr].get(i).copied()
    }
}

/// What a `pump` call achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pumped {
    /// Waiting for a pipe or for the client to read.
    Wait,
    /// The script finished and its whole answer is in the write buffer.
    Finished,
    /// The script's answer is unusable (no valid header section): answer 502 if nothing was
    /// sent yet.
    Failed,
}

/// A running script.
pub struct CgiRun {
    child: Child,
    stdin: Option<Sender>,
    stdout: Option<Receiver>,
    stderr: Option<Receiver>,
    /// The request body, fed to stdin.
    input: Vec<u8>,
    input_pos: usize,
    /// Script output received before its header section was complete.
    head: Vec<u8>,
    head_sent: bool,
    /// The status of the answer, once its header section was read.
    status: u16,
    /// Body bytes relayed (without chunk framing).
    body_bytes: u64,
    chunked: bool,
    head_only: bool,
    stderr_line: Vec<u8>,
    name: String,
    /// Counts this script among the running ones until it is dropped.
    _slot: Slot,
}

/// One of the server's running-script slots, given back on drop.
pub struct Slot(std::rc::Rc<std::cell::Cell<usize>>);

impl Slot {
    /// Takes a slot if fewer than `max` are taken.
    pub fn take(count: &std::rc::Rc<std::cell::Cell<usize>>, max: usize) -> Option<Slot> {
        (count.get() < max).then(|| {
            count.set(count.get() + 1);
            Slot(std::rc::Rc::clone(count))
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

impl CgiRun {
    /// Starts `req.program` with `body` for stdin, registering its pipes with tokens
    /// `base + Pipe as usize`.
    pub fn spawn(
        req: CgiRequest,
        body: Vec<u8>,
        registry: &Registry,
        base: usize,
        slot: Slot,
    ) -> io::Result<CgiRun> {
        let mut child = Command::new(&req.program)
            // Its own process group, so that killing the script also kills what it started.
            .process_group(0)
            .current_dir(&req.dir)
            .env_clear()
            .envs(req.env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut stdin = Sender::from(child.stdin.take().expect("piped stdin"));
        let mut stdout = Receiver::from(child.stdout.take().expect("piped stdout"));
        let mut stderr = Receiver::from(child.stderr.take().expect("piped stderr"));
        for pipe in [&stdout, &stderr] {
            pipe.set_nonblocking(true)?;
        }
        stdin.set_nonblocking(true)?;
        registry.register(
            &mut stdin,
            Token(base + Pipe::Stdin as usize),
            Interest::WRITABLE,
        )?;
        registry.register(
            &mut stdout,
            Token(base + Pipe::Stdout as usize),
            Interest::READABLE,
        )?;
        registry.register(
            &mut stderr,
            Token(base + Pipe::Stderr as usize),
            Interest::READABLE,
        )?;
        let name = req
            .program
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        debug!("cgi {name}: started pid {}", child.id());
        Ok(CgiRun {
            child,
            stdin: Some(stdin),
            stdout: Some(stdout),
            stderr: Some(stderr),
            input: body,
            input_pos: 0,
            head: Vec::new(),
            head_sent: false,
            status: 0,
            body_bytes: 0,
            chunked: !req.http10,
            head_only: req.head_only,
            stderr_line: Vec::new(),
            name,
            _slot: slot,
        })
    }

    /// Whether the response head went to the client already (after that, errors can only close).
    /// The answer's status (0 before its header section was read).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Body bytes relayed so far (without chunk framing).
    pub fn body_bytes(&self) -> u64 {
        self.body_bytes
    }

    /// The script's name under `cgi-bin/`.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn head_sent(&self) -> bool {
        self.head_sent
    }

    /// Whether the connection can be kept after the script's answer.
    pub fn keeps_connection(&self) -> bool {
        self.chunked
    }

    /// Moves data between the script and `out` (the client's write buffer, with `backlog`
    /// bytes still unsent). Stops reading stdout while the client is behind.
    pub fn pump(
        &mut self,
        out: &mut Vec<u8>,
        backlog: usize,
        date: &[u8],
        max_backlog: usize,
    ) -> Pumped {
        self.feed_stdin();
        self.drain_stderr();
        let mut buf = [0u8; CGI_READ_CHUNK_BYTES];
        let mut backlog = backlog;
        while let Some(stdout) = self.stdout.as_mut() {
            if backlog >= max_backlog {
                return Pumped::Wait;
            }
            match stdout.read(&mut buf) {
                Ok(0) => {
                    self.stdout = None;
                    break;
                }
                Ok(n) => {
                    let before = out.len();
                    if !self.take_output(&buf[..n], out, date) {
                        return Pumped::Failed;
                    }
                    backlog += out.len() - before;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Pumped::Wait,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    warn!("cgi {}: reading stdout: {e}", self.name);
                    return Pumped::Failed;
                }
            }
        }
        // stdout closed: the answer is complete.
        self.drain_stderr();
        if !self.head_sent {
            warn!("cgi {}: ended without a complete header section", self.name);
            return Pumped::Failed;
        }
        if self.chunked && !self.head_only {
            out.extend_from_slice(b"0\r\n\r\n");
        }
        Pumped::Finished
    }

    /// Handles a piece of stdout: header section first, then body. False if unusable.
    fn take_output(&mut self, data: &[u8], out: &mut Vec<u8>, date: &[u8]) -> bool {
        if self.head_sent {
            self.push_body(data, out);
            return true;
        }
        self.head.extend_from_slice(data);
        match response::parse(&self.head) {
            Ok(Progress::NeedMore) => true,
            Ok(Progress::Complete((head, used))) => {
                http::response::start(out, head.status, date);
                self.status = head.status;
                out.extend_from_slice(&head.fields);
                if self.chunked {
                    out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
                } else {
                    out.extend_from_slice(b"Connection: close\r\n");
                }
                http::response::end(out);
                self.head_sent = true;
                let rest = std::mem::take(&mut self.head);
                self.push_body(&rest[used..], out);
                true
            }
            Err(e) => {
                let e: CgiHeadError = e;
                warn!("cgi {}: unusable header section: {e:?}", self.name);
                false
            }
        }
    }

    fn push_body(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if data.is_empty() || self.head_only {
            return;
        }
        self.body_bytes += data.len() as u64;
        if self.chunked {
            let _ = write!(out, "{:x}\r\n", data.len());
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        } else {
            out.extend_from_slice(data);
        }
    }

    fn feed_stdin(&mut self) {
        let Some(stdin) = self.stdin.as_mut() else {
            return;
        };
        while self.input_pos < self.input.len() {
            match stdin.write(&self.input[self.input_pos..]) {
                Ok(n) => self.input_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // The script does not read its input (EPIPE): that is its right.
                    debug!("cgi {}: stdin: {e}", self.name);
                    break;
                }
            }
        }
        self.stdin = None; // all written (or refused): close so the script sees end of input
        self.input = Vec::new();
    }

    fn drain_stderr(&mut self) {
        let Some(stderr) = self.stderr.as_mut() else {
            return;
        };
        let mut buf = [0u8; 4096];
        loop {
            match stderr.read(&mut buf) {
                Ok(0) => {
                    self.stderr = None;
                    break;
                }
                Ok(n) => {
                    for &b in &buf[..n] {
                        if b == b'\n' {
                            log_line(&self.name, &mut self.stderr_line);
                        } else if self.stderr_line.len() < CGI_STDERR_LINE_BYTES {
                            self.stderr_line.push(b);
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if self.stderr.is_none() && !self.stderr_line.is_empty() {
            log_line(&self.name, &mut self.stderr_line);
        }
    }
}

/// Logs one line of a script's stderr (escaped: it is the script's text, not ours).
fn log_line(name: &str, line: &mut Vec<u8>) {
    warn!(
        "cgi {name}: {}",
        String::from_utf8_lossy(line).escape_debug()
    );
    line.clear();
}

impl std::fmt::Debug for CgiRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CgiRun")
            .field("script", &self.name)
            .field("pid", &self.child.id())
            .field("head_sent", &self.head_sent)
            .finish()
    }
}

impl Drop for CgiRun {
    /// A script outliving its request (timeout, client gone, or still running after closing
    /// stdout) is killed with its whole process group and reaped, so neither it nor anything it
    /// started stays behind.
    fn drop(&mut self) {
        let pgid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        match self.child.try_wait() {
            Ok(Some(status)) => debug!("cgi {}: exited {status}", self.name),
            _ => {
                debug!("cgi {}: killing process group {pgid}", self.name);
                let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
                let _ = self.child.wait();
            }
        }
        // Whatever the script left running in its group goes too.
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    }
}
