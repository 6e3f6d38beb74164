//! One client connection and its state machine (ARCHITECTURE.md, "The connection").
//!
//! [`Connection::drive`] runs the connection until its current operation would block, it closes,
//! or it has used its turn (fairness). Each state has one step function named after it, in the
//! file named after what it does: `head.rs` (reading and answering heads), `body.rs` (reading
//! bodies into their sink), `stream.rs` (live streams, CGI output, waiting for a commit),
//! `write.rs` (sending replies and files, the lingering close), `read.rs` (socket input). The
//! loop in `drive` only dispatches. Syscalls go through [`io`]; timeouts are derived from the
//! state and a few timestamps by [`Connection::deadline`] (`deadline.rs`), so no timer is stored.
//!
//! What a request needs is decided by `crate::routes::dispatch`; the connection executes it.
mod body;
mod deadline;
mod head;
pub mod io;
mod logline;
mod read;
mod stream;
pub mod tokens;
mod write;

use crate::cgi::run::CgiRun;
use crate::http::body::BodyDecoder;
use crate::http::error::RequestError;
use crate::http::reply::{Body, Framing, Reply};
use crate::http::request::{HeadScanner, RequestHead, Version};
use crate::limits::MAX_LIVE_BACKLOG_BYTES;
use crate::live::Topic;
use crate::observe::access_log::Entry;
use crate::observe::metrics;
use crate::routes::context::Context;
use crate::routes::{self, BodySink};
use crate::store::Waiter;
use io::Transport;
use log::{debug, warn};
use mio::net::TcpStream;
use slab::Slab;
use std::net::SocketAddr;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drive {
    /// Waiting for readiness or a deadline.
    Wait,
    /// Used its turn with work left: drive it again after the others.
    Again,
    /// Finished: deregister and drop it.
    Close,
}

/// What [`Connection::buffer_use`] reports, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferUse {
    /// Received and not yet consumed.
    pub read_held: usize,
    pub read_capacity: usize,
    /// Response bytes not yet sent.
    pub write_pending: usize,
    pub write_capacity: usize,
    /// The body being collected (device, upload or CGI).
    pub body_capacity: usize,
}

/// Where the connection is in its request cycle.
#[derive(Debug)]
enum State {
    /// Waiting for a complete head in the read buffer (and flushing earlier responses first).
    ReadHead,
    /// Reading a request body into `sink`.
    ReadBody {
        decoder: BodyDecoder,
        sink: Sink,
        close: bool,
    },
    /// An ingest body was handed to the device store; the reply waits for its commits: one
    /// per device it was appended to (a line-protocol write may name several), the first
    /// error kept.
    AwaitCommit {
        close: bool,
        http10: bool,
        waiting: u32,
        result: Result<(), RequestError>,
    },
    /// A live event stream (on the topic in `Connection::subscribed`): events are appended by
    /// the reactor; reads are only watched for the client leaving.
    Live,
    /// A CGI script runs; its output streams into the write buffer.
    Cgi {
        run: Box<CgiRun>,
        started: Instant,
        close: bool,
    },
    /// Sending the write buffer, then the file body.
    Respond {
        body: Option<Body>,
        close: bool,
    },
    /// Our side is shut down; reading and discarding until the client closes, so that our last
    /// reply is not destroyed by a reset.
    Linger {
        until: Instant,
        discarded: usize,
    },
    Closed,
}

/// Where the bytes of a request body go.
#[derive(Debug)]
enum Sink {
    /// Nowhere: the reply is already in the write buffer from `reply_at` (with its file, if
    /// any) and is replaced by an error reply if the body turns out bad.
    Discard { reply_at: usize, body: Option<Body> },
    /// Collected whole in `Connection::body`, then handed to the route's sink.
    Route(BodySink),
}

/// What one step achieved.
enum Step {
    Continue,
    Wait,
    Yield,
    Close,
}

/// How a read into the buffer went.
enum Fill {
    Read,
    WouldBlock,
    Eof,
    Full,
}

/// A client connection over a transport `S`: a socket of the reactor, or an in-memory transport
/// in tests and fuzzing (monomorphised, so the server's connections pay nothing for the choice).
pub struct Connection<S = TcpStream> {
    stream: S,
    peer: SocketAddr,
    /// Our address on this connection (for CGI's SERVER_PORT).
    local: Option<SocketAddr>,
    /// Who this connection is to the device store: slab key and unique serial number.
    waiter: Waiter,
    /// The body being collected for a device (reused; bounded by `--max-body`).
    body: Vec<u8>,
    /// What `body` counts in the server-wide `Context::body_memory`.
    body_held: usize,
    /// When the current body began, and its bytes so far (for `--min-body-rate`).
    body_started: Instant,
    body_bytes_in: u64,
    /// The access log line of a reply written or ended later (ingest, a file body, CGI).
    pending_log: logline::PendingLog,
    /// The live topic this connection subscribed to (kept after a drop, to unsubscribe).
    subscribed: Option<Topic>,
    /// Read buffer: `rbuf[rstart..]` is received and not yet consumed.
    rbuf: Vec<u8>,
    rstart: usize,
    /// Write buffer: `wbuf[wpos..]` is still to be sent.
    wbuf: Vec<u8>,
    wpos: usize,
    state: State,
    scanner: HeadScanner,
    /// The socket may have unread data (no `WouldBlock` since the last readiness event).
    readable: bool,
    /// The socket may accept more data.
    writable: bool,
    /// The client will send nothing more.
    peer_eof: bool,
    /// The client's FIN was reported by the poller (its end of input may not be read yet).
    fin_seen: bool,
    /// No request has been answered yet (the idle timeout does not apply to a new connection).
    fresh: bool,
    /// The request being answered says HEAD: an error reply for it has no body either.
    head_request: bool,
    /// When the first byte of the current head arrived.
    head_started: Option<Instant>,
    /// When the connection last became idle between requests.
    idle_since: Instant,
    /// When the last read (body) or write made progress.
    last_progress: Instant,
}

impl<S: Transport> Connection<S> {
    /// A new connection accepted at `now`, known to the device store as `waiter`.
    pub fn new(stream: S, peer: SocketAddr, waiter: Waiter, now: Instant) -> Self {
        Connection {
            local: stream.local_addr().ok(),
            stream,
            peer,
            waiter,
            body: Vec::new(),
            body_held: 0,
            body_started: now,
            body_bytes_in: 0,
            pending_log: logline::PendingLog::default(),
            subscribed: None,
            rbuf: Vec::new(),
            rstart: 0,
            wbuf: Vec::new(),
            wpos: 0,
            state: State::ReadHead,
            scanner: HeadScanner::default(),
            readable: true,
            writable: true,
            peer_eof: false,
            fin_seen: false,
            fresh: true,
            head_request: false,
            head_started: None,
            idle_since: now,
            last_progress: now,
        }
    }

    /// The socket, for (de)registration.
    pub fn stream(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The device store's name for this connection.
    pub fn waiter(&self) -> Waiter {
        self.waiter
    }

    /// One commit of this connection's ingest body is known; once the last one is, writes the
    /// reply (with the first error, if any). The caller drives the connection afterwards.
    pub fn committed(&mut self, ctx: &mut Context, result: Result<(), RequestError>) {
        let State::AwaitCommit {
            close,
            http10,
            waiting,
            result: first,
        } = &mut self.state
        else {
            return;
        };
        if first.is_ok() {
            *first = result;
        }
        *waiting = waiting.saturating_sub(1);
        if *waiting > 0 {
            return;
        }
        let (close, http10, result) = (*close, *http10, *first);
        let framing = deferred_framing(close, http10, result);
        let reply = routes::ingest_reply(&mut self.wbuf, ctx.reply.date(), result, framing);
        self.send_deferred(ctx, &reply, framing.close);
        self.last_progress = ctx.now;
    }

    /// Sends a reply written after its head was consumed (ingest commit, upload): counted and
    /// logged from the request summary captured with the head.
    fn send_deferred(&mut self, ctx: &mut Context, reply: &Reply, close: bool) {
        metrics::count_request("POST", reply.status);
        self.pending_log
            .write(ctx, self.peer.ip(), reply.status, reply.body_len);
        self.state = State::Respond { body: None, close };
    }

    /// What this connection watches, if it is a live stream.
    pub fn live_topic(&self) -> Option<Topic> {
        self.subscribed
    }

    /// Queues one live event. A subscriber with more than `MAX_LIVE_BACKLOG_BYTES` unsent bytes is
    /// dropped instead (its connection closes at the next drive). The caller drives afterwards.
    pub fn push_live(&mut self, event: &[u8], now: Instant) {
        if !matches!(self.state, State::Live) {
            return;
        }
        // A subscriber that is keeping up takes any one event, however large; one that still
        // has unsent events is dropped once it would hold more than the backlog.
        let unsent = self.wbuf.len() - self.wpos;
        if unsent > 0 && unsent + event.len() > MAX_LIVE_BACKLOG_BYTES {
            debug!("{}: live subscriber too slow; dropped", self.peer);
            metrics::LIVE_DROPPED.add(1);
            self.state = State::Closed;
            return;
        }
        self.wbuf.extend_from_slice(event);
        self.idle_since = now;
    }

    /// Records readiness from an event.
    /// `read_closed`: the peer's FIN has arrived (EPOLLRDHUP); the end of input must then be read
    /// even after a short read, since no further edge will come for it.
    pub fn on_ready(&mut self, readable: bool, writable: bool, read_closed: bool) {
        self.readable |= readable;
        self.writable |= writable;
        self.fin_seen |= read_closed;
    }

    /// True when closing now loses nothing: no request in progress and nothing left to send
    /// (a live stream never ends by itself, so it counts as idle once its events are sent).
    pub fn is_idle(&self) -> bool {
        let nothing_pending = self.wpos == self.wbuf.len();
        match self.state {
            State::ReadHead => nothing_pending && self.rstart == self.rbuf.len(),
            State::Live => nothing_pending,
            // Our last reply is out and our side shut down: only the client's leftovers remain.
            State::Linger { .. } => true,
            _ => false,
        }
    }

    /// How readily the connection may be closed to make room at `--max-connections`, lowest
    /// first, and since when it has waited: an idle keep-alive connection (0), then one that has
    /// sent nothing since it was opened (1). `None` while it has a request or a reply under way
    /// or part of a head (or is a live stream).
    pub fn eviction_rank(&self) -> Option<(u8, Instant)> {
        let waiting = matches!(self.state, State::ReadHead)
            && self.wpos == self.wbuf.len()
            && self.rstart == self.rbuf.len();
        waiting.then(|| (u8::from(self.fresh), self.idle_since))
    }

    /// The memory the connection holds now, to check against its caps (tests and fuzzing).
    pub fn buffer_use(&self) -> BufferUse {
        BufferUse {
            read_held: self.rbuf.len() - self.rstart,
            read_capacity: self.rbuf.capacity(),
            write_pending: self.wbuf.len() - self.wpos,
            write_capacity: self.wbuf.capacity(),
            body_capacity: self.body.capacity(),
        }
    }

    /// Runs the state machine until it must wait, yields its turn, or closes.
    pub fn drive(&mut self, ctx: &mut Context) -> Drive {
        let mut requests = 0;
        let mut file_bytes = 0;
        loop {
            let step = match self.state {
                State::ReadHead => self.read_head(ctx, &mut requests),
                State::ReadBody { .. } => self.read_body(ctx),
                State::AwaitCommit { .. } => self.await_commit(ctx),
                State::Live => self.live(ctx),
                State::Cgi { .. } => self.cgi(ctx),
                State::Respond { .. } => self.respond(ctx, &mut file_bytes),
                State::Linger { .. } => self.linger(ctx),
                State::Closed => Step::Close,
            };
            match step {
                Step::Continue => {}
                Step::Wait => return Drive::Wait,
                Step::Yield => return Drive::Again,
                Step::Close => {
                    self.state = State::Closed;
                    return Drive::Close;
                }
            }
        }
    }
}

/// Framing of a reply written after the head is gone: the connection also closes after an
/// error that demands it.
fn deferred_framing(close: bool, http10: bool, result: Result<(), RequestError>) -> Framing {
    let close = close || result.is_err_and(RequestError::closes);
    Framing {
        close,
        head_only: false,
        http10_keep_alive: http10 && !close,
    }
}

fn version_str(head: &RequestHead<'_, '_>) -> &'static str {
    match head.version {
        Version::Http10 => "HTTP/1.0",
        Version::Http11 => "HTTP/1.1",
    }
}

/// Whether the request starting at `bytes` says HEAD, as far as its request line shows (after
/// the empty lines a request may follow, RFC 9112 section 2.2), whatever the rest of its head.
fn says_head(mut bytes: &[u8]) -> bool {
    while let Some(rest) = bytes.strip_prefix(b"\r\n") {
        bytes = rest;
    }
    bytes.starts_with(b"HEAD ")
}

#[inline]
fn log_access(
    ctx: &mut Context,
    peer: SocketAddr,
    head: Option<&RequestHead<'_, '_>>,
    status: u16,
    bytes: u64,
) {
    metrics::count_request(head.map_or("-", |h| h.method_str), status);
    if ctx.access_log.is_none() && !ctx.config.console {
        return;
    }
    let entry = Entry {
        peer: peer.ip(),
        request: head.map(|h| (h.method_str, h.target, version_str(h))),
        status,
        bytes,
        referer: head.and_then(|h| h.header("referer")),
        user_agent: head.and_then(|h| h.header("user-agent")),
    };
    record(ctx, &entry);
}

/// Writes `entry` to the access log and, on a terminal, the console.
fn record(ctx: &mut Context, entry: &Entry<'_>) {
    if ctx.config.console {
        crate::observe::console::request(entry, ctx.wall);
    }
    if let Some(log) = ctx.access_log.as_mut() {
        if let Err(e) = log.record(entry, ctx.wall) {
            warn!("access log: {e}");
        }
    }
}

/// Hands every finished commit in `ctx.completions` to its connection, if that connection is
/// still there (a slab key can be reused by a later connection, hence the waiter check), and
/// adds its key to `ready`: it has its reply now and must be driven. Completions that arrive
/// while those are driven (a read of a device file writes it out) wait for the next turn.
pub fn deliver_completions<S: Transport>(
    ctx: &mut Context,
    conns: &mut Slab<Connection<S>>,
    ready: &mut Vec<usize>,
) {
    let mut done = std::mem::take(&mut ctx.completions);
    for (waiter, result) in done.drain(..) {
        let Some(conn) = conns.get_mut(waiter.key) else {
            continue;
        };
        if conn.waiter() != waiter {
            continue;
        }
        conn.committed(ctx, result);
        ready.push(waiter.key);
    }
    // Keep the allocation, and any completion that arrived meanwhile.
    done.append(&mut ctx.completions);
    ctx.completions = done;
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_request_line_says_head() {
        assert!(super::says_head(b"HEAD / HTTP/1.1\r\n"));
        assert!(super::says_head(b"\r\n\r\nHEAD /"));
        assert!(!super::says_head(b"HEADER / HTTP/1.1\r\n"));
        assert!(!super::says_head(b"head / HTTP/1.1\r\n"));
        assert!(!super::says_head(b" HEAD / HTTP/1.1\r\n"));
        assert!(!super::says_head(b"GET / HTTP/1.1\r\n"));
    }
}
