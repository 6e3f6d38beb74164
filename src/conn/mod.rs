//! One client connection and its state machine (DESIGN.md, "Connection state machine").
//!
//! [`Connection::drive`] runs the connection until its current operation would block, it closes,
//! or it has used its turn (fairness). Each state has one step function named after it; the loop
//! in `drive` only dispatches. Syscalls go through `crate::conn::io`; timeouts are derived from the state
//! and a few timestamps by [`Connection::deadline`], so no timer is stored.
use crate::cgi::run::{CgiRun, Pumped, Slot};
use crate::cgi::{self, CgiRequest};
use crate::http::body::BodyDecoder;
use crate::http::error::RequestError;
use crate::http::request::{
    header_slots, parse_head, BodyFraming, HeadScanner, Method, RequestHead, Version,
};
use crate::http::Progress;
use crate::limits::{
    FILE_BYTES_PER_TURN, KEEP_BUFFER_BYTES, LINGER_MAX_BYTES, LINGER_SECS, MAX_CGI_PROCESSES,
    MAX_HEADERS, MAX_LIVE_BACKLOG_BYTES, MAX_PENDING_WRITE_BYTES, READ_BUFFER_MAX_BYTES,
    REQUESTS_PER_TURN, SENDFILE_CHUNK_BYTES,
};
use crate::observe::access_log::{Entry, RequestSummary};
use crate::routes::context::Context;
use crate::store::{Appended, DeviceId, Waiter};
pub mod io;

use crate::live::Topic;
use crate::routes::{self, FileBody, Framing};
use io::{Outcome, Transport};
use log::{debug, warn};
use mio::net::TcpStream;
use std::net::SocketAddr;
use std::time::Instant;

/// What the server should do with the connection after `drive`.
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

/// The interim response that invites the body of an `Expect: 100-continue` request.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Where the connection is in its request cycle.
#[derive(Debug)]
enum State {
    /// Waiting for a complete head in the read buffer (and flushing earlier responses first).
    ReadHead,
    /// Reading a request body into `sink`.
    ReadBody {
        decoder: BodyDecoder,
        sink: BodySink,
        close: bool,
    },
    /// An ingest body was handed to the device store; the reply waits for its commit.
    AwaitCommit {
        close: bool,
        http10: bool,
    },
    /// A live event stream: events are appended by the reactor; reads are only watched for the
    /// client leaving.
    Live {
        topic: Topic,
    },
    /// A CGI script runs; its output streams into the write buffer.
    Cgi {
        run: Box<CgiRun>,
        started: Instant,
        close: bool,
    },
    /// Sending the write buffer, then the file body.
    Respond {
        file: Option<FileBody>,
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
enum BodySink {
    /// Nowhere: the reply is already in the write buffer from `reply_at` (with its file, if
    /// any) and is replaced by an error reply if the body turns out bad.
    Discard {
        reply_at: usize,
        file: Option<FileBody>,
    },
    /// Collected whole in `Connection::body`, then appended to the device.
    Device { id: DeviceId, http10: bool },
    /// Collected whole in `Connection::body`, then given to the script on stdin.
    Cgi(Box<CgiRequest>),
    /// Collected whole in `Connection::body`, then stored as `--directory`/name.
    Upload { name: Vec<u8>, http10: bool },
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
    /// The request whose reply is written later (ingest), for the access log.
    summary: RequestSummary,
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
            summary: RequestSummary::default(),
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

    /// The commit of this connection's ingest body is known: writes the reply. The caller drives
    /// the connection afterwards.
    pub fn committed(&mut self, ctx: &mut Context, result: Result<(), RequestError>) {
        let State::AwaitCommit { close, http10 } = self.state else {
            return;
        };
        let framing = deferred_framing(close, http10, result);
        let reply = routes::ingest_reply(&mut self.wbuf, ctx, result, framing);
        self.send_deferred(ctx, &reply, framing.close);
        self.last_progress = ctx.now;
    }

    /// Sends a reply written after its head was consumed (ingest commit, upload): counted and
    /// logged from the request summary captured with the head.
    fn send_deferred(&mut self, ctx: &mut Context, reply: &routes::Reply, close: bool) {
        crate::observe::metrics::count_request("POST", reply.status);
        if let Some(log) = ctx.access_log.as_mut() {
            let entry = self
                .summary
                .entry(self.peer.ip(), reply.status, reply.body_len);
            if let Err(e) = log.record(&entry, ctx.wall) {
                warn!("access log: {e}");
            }
        }
        self.state = State::Respond { file: None, close };
    }

    /// What this connection watches, if it is a live stream.
    pub fn live_topic(&self) -> Option<Topic> {
        self.subscribed
    }

    /// Queues one live event. A subscriber with more than `MAX_LIVE_BACKLOG_BYTES` unsent bytes is
    /// dropped instead (its connection closes at the next drive). The caller drives afterwards.
    pub fn push_live(&mut self, event: &[u8], now: Instant) {
        if !matches!(self.state, State::Live { .. }) {
            return;
        }
        // A subscriber that is keeping up takes any one event, however large; one that still
        // has unsent events is dropped once it would hold more than the backlog.
        let unsent = self.wbuf.len() - self.wpos;
        if unsent > 0 && unsent + event.len() > MAX_LIVE_BACKLOG_BYTES {
            debug!("{}: live subscriber too slow; dropped", self.peer);
            crate::observe::metrics::LIVE_DROPPED.add(1);
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
            State::Live { .. } => nothing_pending,
            _ => false,
        }
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
                State::Live { .. } => self.live(ctx),
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

    /// When this connection's current wait expires, derived from its state.
    pub fn deadline(&self, ctx: &Context) -> Instant {
        let c = &ctx.config;
        match self.state {
            State::ReadHead if self.wpos < self.wbuf.len() => self.last_progress + c.send_timeout,
            State::ReadHead => match self.head_started {
                Some(t) => t + c.header_timeout,
                None if self.fresh => self.idle_since + c.header_timeout,
                None => self.idle_since + c.idle_timeout,
            },
            State::ReadBody { .. } | State::AwaitCommit { .. } => {
                self.last_progress + c.body_timeout
            }
            State::Respond { .. } => self.last_progress + c.send_timeout,
            State::Live { .. } if self.wpos < self.wbuf.len() => {
                self.last_progress + c.send_timeout
            }
            State::Live { .. } => self.idle_since + c.live_heartbeat,
            State::Cgi { started, .. } if self.wpos < self.wbuf.len() => {
                (self.last_progress + c.send_timeout).min(started + c.cgi_timeout)
            }
            State::Cgi { started, .. } => started + c.cgi_timeout,
            State::Linger { until, .. } => until,
            State::Closed => ctx.now,
        }
    }

    /// Handles an expired deadline: a 408 where the client deserves one, else a silent close.
    pub fn expire(&mut self, ctx: &mut Context) -> Drive {
        let pending_write = self.wpos < self.wbuf.len();
        if let State::Live { .. } = self.state {
            if pending_write {
                debug!("{}: live subscriber stalled", self.peer);
                return Drive::Close;
            }
            crate::http::sse::push_comment(&mut self.wbuf, "heartbeat");
            self.idle_since = ctx.now;
            return self.drive(ctx);
        }
        if let State::Cgi { run, .. } = &self.state {
            debug!("{}: CGI script timed out or client stalled", self.peer);
            if run.head_sent() {
                return Drive::Close;
            }
            self.state = State::Closed; // drops the run: the script is killed
            self.fail(ctx, RequestError::GatewayTimeout, self.wbuf.len());
            return self.drive(ctx);
        }
        match std::mem::replace(&mut self.state, State::Closed) {
            State::ReadHead if !pending_write && self.head_started.is_some() => {
                debug!("{}: header timeout", self.peer);
                self.head_request = says_head(&self.rbuf[self.rstart..]);
                self.fail(ctx, RequestError::HeaderTimeout, self.wbuf.len());
            }
            State::ReadBody { sink, .. } => {
                debug!("{}: body timeout", self.peer);
                self.body.clear();
                let reply_at = match sink {
                    BodySink::Discard { reply_at, .. } => reply_at,
                    _ => self.wbuf.len(),
                };
                self.fail(ctx, RequestError::HeaderTimeout, reply_at);
            }
            _ => {
                debug!("{}: timed out", self.peer);
                return Drive::Close;
            }
        }
        self.drive(ctx)
    }

    /// Starts waiting for the next request.
    fn enter_read_head(&mut self, ctx: &Context) {
        self.state = State::ReadHead;
        self.scanner = HeadScanner::default();
        self.fresh = false;
        self.idle_since = ctx.now;
        self.head_started = (self.rstart < self.rbuf.len()).then_some(ctx.now);
    }

    fn read_head(&mut self, ctx: &mut Context, requests: &mut usize) -> Step {
        let input = &self.rbuf[self.rstart..self.rbuf.len()];
        match self.scanner.scan(input, &ctx.config.head_limits) {
            Ok(Progress::Complete(len)) => {
                if *requests >= REQUESTS_PER_TURN {
                    return Step::Yield;
                }
                *requests += 1;
                self.handle_head(ctx, len);
                Step::Continue
            }
            Ok(Progress::NeedMore) => {
                if ctx.draining && self.rstart == self.rbuf.len() && self.wpos == self.wbuf.len() {
                    return Step::Close;
                }
                // Answers go out before more requests are read: a client that does not read
                // its responses is throttled by its own receive window.
                match self.flush(ctx.now, false) {
                    Outcome::Done(_) => {}
                    Outcome::WouldBlock => return Step::Wait,
                    Outcome::Closed => return Step::Close,
                }
                if self.peer_eof {
                    return Step::Close;
                }
                self.shrink_buffers();
                match self.fill(&mut ctx.read_scratch) {
                    Fill::Read => {
                        self.head_started.get_or_insert(ctx.now);
                        Step::Continue
                    }
                    Fill::WouldBlock => Step::Wait,
                    Fill::Eof => Step::Continue,
                    Fill::Full => {
                        self.head_request = says_head(&self.rbuf[self.rstart..]);
                        self.fail(ctx, RequestError::HeadTooLarge, self.wbuf.len());
                        Step::Continue
                    }
                }
            }
            Err(err) => {
                self.head_request = says_head(input);
                self.fail(ctx, err, self.wbuf.len());
                Step::Continue
            }
        }
    }

    /// Parses the complete head `rbuf[rstart..rstart + len]`, answers it, and picks the next state.
    fn handle_head(&mut self, ctx: &mut Context, len: usize) {
        let head_bytes = &self.rbuf[self.rstart..self.rstart + len];
        // Known from the request line even when the rest of the head is refused.
        self.head_request = says_head(head_bytes);
        let mut fields = header_slots::<MAX_HEADERS>();
        let state = match parse_head(head_bytes, &mut fields) {
            Ok(head) => {
                let conn = (self.peer, self.local, self.waiter);
                answer(&head, ctx, &mut self.wbuf, conn, &mut self.summary)
            }
            Err(err) => {
                debug!("{}: {err}", self.peer);
                let reply_at = self.wbuf.len();
                let head_only = self.head_request;
                error_state(
                    ctx,
                    &mut self.wbuf,
                    err,
                    reply_at,
                    self.peer,
                    None,
                    head_only,
                )
            }
        };
        self.rstart += len;
        self.last_progress = ctx.now;
        if let State::Live { topic } = state {
            self.subscribed = Some(topic);
        }
        self.state = state;
        // A small answer that keeps the connection waits in the buffer, so the answers to a
        // pipelined batch leave in one write.
        if let State::Respond {
            file: None,
            close: false,
        } = self.state
        {
            if self.wbuf.len() - self.wpos < MAX_PENDING_WRITE_BYTES {
                self.enter_read_head(ctx);
            }
        }
    }

    fn read_body(&mut self, ctx: &mut Context) -> Step {
        let State::ReadBody { decoder, sink, .. } = &mut self.state else {
            return Step::Close;
        };
        let input = &self.rbuf[self.rstart..self.rbuf.len()];
        let collect = !matches!(sink, BodySink::Discard { .. });
        let body = &mut self.body;
        let decoded = if collect {
            decoder.decode(input, &mut |data| body.extend_from_slice(data))
        } else {
            decoder.decode(input, &mut |_| {})
        };
        match decoded {
            Ok(decoded) => {
                self.rstart += decoded.consumed;
                if decoded.done {
                    self.body_done(ctx);
                    return Step::Continue;
                }
            }
            Err(err) => {
                debug!("{}: body: {err}", self.peer);
                self.body.clear();
                let reply_at = match sink {
                    BodySink::Discard { reply_at, .. } => *reply_at,
                    _ => self.wbuf.len(),
                };
                self.fail(ctx, err, reply_at);
                return Step::Continue;
            }
        }
        if collect {
            // Earlier replies and a `100 Continue` go out before the body is awaited.
            if let Outcome::Closed = self.flush(ctx.now, false) {
                return Step::Close;
            }
        }
        if self.peer_eof {
            debug!("{}: body cut short", self.peer);
            // This request gets no answer, but those before it, still in the write buffer
            // (pipelined, or waiting for a slow reader), go out before the connection closes.
            if let State::ReadBody {
                sink: BodySink::Discard { reply_at, .. },
                ..
            } = self.state
            {
                self.wbuf.truncate(reply_at.max(self.wpos));
            }
            self.body.clear();
            self.state = State::Respond {
                file: None,
                close: true,
            };
            return Step::Continue;
        }
        match self.fill(&mut ctx.read_scratch) {
            Fill::Read => {
                self.last_progress = ctx.now;
                Step::Continue
            }
            Fill::WouldBlock => Step::Wait,
            Fill::Eof | Fill::Full => Step::Continue,
        }
    }

    /// The body is complete: discard it and send the prepared reply, or hand it to the device.
    fn body_done(&mut self, ctx: &mut Context) {
        let State::ReadBody { sink, close, .. } = std::mem::replace(&mut self.state, State::Closed)
        else {
            return;
        };
        match sink {
            BodySink::Discard { file, .. } => {
                self.state = State::Respond { file, close };
                if !close
                    && file_is_none(&self.state)
                    && self.wbuf.len() - self.wpos < MAX_PENDING_WRITE_BYTES
                {
                    self.enter_read_head(ctx);
                }
            }
            BodySink::Cgi(req) => {
                let Some(slot) = Slot::take(&ctx.cgi_running, MAX_CGI_PROCESSES) else {
                    self.body.clear();
                    self.fail(ctx, RequestError::Overloaded, self.wbuf.len());
                    return;
                };
                let close = close || req.http10;
                let body = std::mem::take(&mut self.body);
                let base = crate::reactor::PIPE_BASE + self.waiter.key * 4;
                match CgiRun::spawn(*req, body, &ctx.registry, base, slot) {
                    Ok(run) => {
                        self.state = State::Cgi {
                            run: Box::new(run),
                            started: ctx.now,
                            close,
                        };
                    }
                    Err(e) => {
                        warn!("{}: cannot start CGI script: {e}", self.peer);
                        self.fail(ctx, RequestError::BadGateway, self.wbuf.len());
                    }
                }
            }
            BodySink::Upload { name, http10 } => {
                let result = crate::files::upload::store(ctx.files_root.path(), &name, &self.body);
                self.body.clear();
                let framing = deferred_framing(close, http10, result);
                let reply = routes::upload_reply(&mut self.wbuf, ctx, &name, result, framing);
                self.send_deferred(ctx, &reply, framing.close);
            }
            BodySink::Device { id, http10 } => {
                let appended =
                    ctx.store
                        .append(id, &self.body, self.peer.ip(), ctx.wall, self.waiter);
                self.body.clear();
                self.state = State::AwaitCommit { close, http10 };
                if appended == Appended::Acknowledged {
                    self.committed(ctx, Ok(()));
                }
            }
        }
    }

    /// Streaming: send what is queued, and notice when the client goes away (what it sends is
    /// discarded).
    ///
    /// A client that half-closes still gets what is queued (the head and any replay), then the
    /// stream ends: cutting it there would leave a response broken off in its head.
    fn live(&mut self, ctx: &mut Context) -> Step {
        let flushed = self.flush(ctx.now, false);
        if let Outcome::Closed = flushed {
            return Step::Close;
        }
        if self.peer_eof {
            return match flushed {
                Outcome::Done(_) => Step::Close,
                _ => Step::Wait,
            };
        }
        let mut discarded = 0;
        match self.discard_input(&mut ctx.read_scratch, &mut discarded, LINGER_MAX_BYTES) {
            Step::Close if self.peer_eof => Step::Continue,
            step => step,
        }
    }

    /// A script runs: its output goes out as it comes; the client is watched for leaving (which
    /// kills the script, as dropping the run does).
    fn cgi(&mut self, ctx: &mut Context) -> Step {
        loop {
            if let Outcome::Closed = self.flush(ctx.now, false) {
                return Step::Close;
            }
            let backlog = self.wbuf.len() - self.wpos;
            let State::Cgi { run, close, .. } = &mut self.state else {
                return Step::Close;
            };
            let before = self.wbuf.len();
            match run.pump(
                &mut self.wbuf,
                backlog,
                ctx.date.as_bytes(),
                MAX_PENDING_WRITE_BYTES,
            ) {
                Pumped::Wait if self.wbuf.len() > before && self.writable => continue,
                Pumped::Wait => break,
                Pumped::Finished => {
                    let close = *close || !run.keeps_connection();
                    self.state = State::Respond { file: None, close };
                    return Step::Continue;
                }
                Pumped::Failed if run.head_sent() => return Step::Close,
                Pumped::Failed => {
                    self.state = State::Closed;
                    self.fail(ctx, RequestError::BadGateway, self.wbuf.len());
                    return Step::Continue;
                }
            }
        }
        // Pipelined requests wait in the read buffer; end of input means the client left.
        loop {
            match self.fill(&mut ctx.read_scratch) {
                Fill::Read => {}
                Fill::Eof => return Step::Close,
                Fill::WouldBlock | Fill::Full => return Step::Wait,
            }
        }
    }

    /// Waiting for the commit: earlier replies may still go out; nothing more is read.
    fn await_commit(&mut self, ctx: &mut Context) -> Step {
        match self.flush(ctx.now, false) {
            Outcome::Closed => Step::Close,
            _ => Step::Wait,
        }
    }

    fn respond(&mut self, ctx: &mut Context, file_bytes: &mut u64) -> Step {
        // A multipart body alternates: part head from the write buffer, then its file range.
        loop {
            let more =
                matches!(&self.state, State::Respond { file: Some(b), .. } if b.remaining > 0);
            match self.flush(ctx.now, more) {
                Outcome::Done(_) => {}
                Outcome::WouldBlock => return Step::Wait,
                Outcome::Closed => return Step::Close,
            }
            let State::Respond {
                file: Some(body), ..
            } = &mut self.state
            else {
                break;
            };
            // Never more than `remaining`: the length was fixed when the request started, so a
            // file that grows meanwhile cannot push the body past its Content-Length.
            while body.remaining > 0 {
                if *file_bytes >= FILE_BYTES_PER_TURN {
                    return Step::Yield;
                }
                if !self.writable {
                    return Step::Wait;
                }
                let count = body.remaining.min(SENDFILE_CHUNK_BYTES as u64) as usize;
                match io::sendfile(&mut self.stream, &body.file, &mut body.offset, count) {
                    Outcome::Done(0) => {
                        warn!("{}: file shrank while being sent; closing", self.peer);
                        return Step::Close;
                    }
                    Outcome::Done(n) => {
                        body.remaining -= n as u64;
                        *file_bytes += n as u64;
                        self.last_progress = ctx.now;
                    }
                    Outcome::WouldBlock => {
                        self.writable = false;
                        return Step::Wait;
                    }
                    Outcome::Closed => return Step::Close,
                }
            }
            if !body.next_part(&mut self.wbuf) {
                break;
            }
        }
        let State::Respond { close, .. } = self.state else {
            return Step::Close;
        };
        if close || self.peer_eof {
            return self.start_linger(ctx);
        }
        self.enter_read_head(ctx);
        Step::Continue
    }

    /// After the last reply on a closing connection: shut down our side and drain.
    fn start_linger(&mut self, ctx: &Context) -> Step {
        if self.peer_eof {
            return Step::Close;
        }
        if self.stream.shutdown_write().is_err() {
            return Step::Close;
        }
        self.state = State::Linger {
            until: ctx.now + LINGER_SECS,
            discarded: 0,
        };
        Step::Continue
    }

    fn linger(&mut self, ctx: &mut Context) -> Step {
        let State::Linger { mut discarded, .. } = self.state else {
            return Step::Close;
        };
        let step = self.discard_input(&mut ctx.read_scratch, &mut discarded, LINGER_MAX_BYTES);
        if let State::Linger { discarded: d, .. } = &mut self.state {
            *d = discarded;
        }
        step
    }

    /// Replaces everything from `reply_at` in the write buffer with the error reply for `err`.
    fn fail(&mut self, ctx: &mut Context, err: RequestError, reply_at: usize) {
        let reply_at = reply_at.max(self.wpos);
        let (peer, head_only) = (self.peer, self.head_request);
        self.state = error_state(ctx, &mut self.wbuf, err, reply_at, peer, None, head_only);
    }

    /// Writes `wbuf[wpos..]`. `Done` once all of it is sent.
    fn flush(&mut self, now: Instant, more_follows: bool) -> Outcome {
        while self.wpos < self.wbuf.len() {
            if !self.writable {
                return Outcome::WouldBlock;
            }
            match io::write(&mut self.stream, &self.wbuf[self.wpos..], more_follows) {
                Outcome::Done(n) => {
                    self.wpos += n;
                    self.last_progress = now;
                }
                Outcome::WouldBlock => {
                    self.writable = false;
                    return Outcome::WouldBlock;
                }
                Outcome::Closed => return Outcome::Closed,
            }
        }
        self.wbuf.clear();
        self.wpos = 0;
        Outcome::Done(0)
    }

    /// Reads once into the shared `scratch` and appends what arrived to the read buffer, which
    /// so holds only received bytes: an idle connection with a few bytes of a head costs a few
    /// bytes, and a keep-alive connection reuses its buffer's capacity.
    fn fill(&mut self, scratch: &mut [u8]) -> Fill {
        if self.rstart == self.rbuf.len() {
            self.rbuf.clear();
            self.rstart = 0;
        }
        let held = self.rbuf.len() - self.rstart;
        if held >= READ_BUFFER_MAX_BYTES {
            return Fill::Full;
        }
        let room = scratch.len().min(READ_BUFFER_MAX_BYTES - held);
        let (fill, n) = self.read_into(&mut scratch[..room]);
        if n > 0 {
            if self.rstart > 0 && self.rbuf.capacity() - self.rbuf.len() < n {
                self.rbuf.drain(..self.rstart);
                self.rstart = 0;
            }
            self.rbuf.extend_from_slice(&scratch[..n]);
        }
        fill
    }

    /// Reads once into `buf` (for input that is discarded, or copied by `fill`).
    fn read_into(&mut self, buf: &mut [u8]) -> (Fill, usize) {
        if self.peer_eof {
            return (Fill::Eof, 0);
        }
        if !self.readable {
            return (Fill::WouldBlock, 0);
        }
        match io::read(&mut self.stream, buf) {
            Outcome::Done(n) => {
                // A short read drained the socket: wait for the next edge instead of paying a
                // read that returns EAGAIN (edge-triggered epoll reports every new arrival).
                if n < buf.len() && !self.fin_seen {
                    self.readable = false;
                }
                (Fill::Read, n)
            }
            Outcome::WouldBlock => {
                self.readable = false;
                (Fill::WouldBlock, 0)
            }
            Outcome::Closed => {
                self.peer_eof = true;
                (Fill::Eof, 0)
            }
        }
    }

    /// Reads and drops client input until it would block; `Close` at its end or past `limit`
    /// bytes in all (`discarded` keeps the count across calls).
    fn discard_input(&mut self, scratch: &mut [u8], discarded: &mut usize, limit: usize) -> Step {
        loop {
            match self.read_into(scratch) {
                (Fill::Read, n) => {
                    *discarded += n;
                    if *discarded > limit {
                        return Step::Close;
                    }
                }
                (Fill::WouldBlock, _) => return Step::Wait,
                _ => return Step::Close,
            }
        }
    }

    /// Gives back read and write buffers that grew large for one request, once idle.
    fn shrink_buffers(&mut self) {
        if self.rstart == self.rbuf.len() && self.rbuf.capacity() > KEEP_BUFFER_BYTES {
            self.rbuf = Vec::new();
            self.rstart = 0;
        }
        if self.wpos == self.wbuf.len() && self.wbuf.capacity() > KEEP_BUFFER_BYTES {
            self.wbuf = Vec::new();
            self.wpos = 0;
        }
    }
}

/// Answers a parsed head: the route's reply goes into `out` (or, for ingest, later); returns the
/// next state.
///
/// `#[inline]`: called from the generic `Connection<S>`, it is exported for other crates'
/// instances, and LLVM then no longer inlines its one call into `drive` by itself.
#[inline]
fn answer(
    head: &RequestHead<'_, '_>,
    ctx: &mut Context,
    out: &mut Vec<u8>,
    (peer, local_addr, waiter): (SocketAddr, Option<SocketAddr>, Waiter),
    summary: &mut RequestSummary,
) -> State {
    let reply_at = out.len();
    // Host, cross-site and credential checks come before any route (live, CGI, ingest, files):
    // a refused request's body, if any, is read and discarded, never handed on.
    if let Err(err) = crate::security::check(head, &ctx.config.security) {
        let oversized = matches!(head.framing, BodyFraming::Length(n) if n > ctx.config.max_body);
        let close = !head.keep_alive
            || ctx.draining
            || err.closes()
            || oversized
            || (head.framing != BodyFraming::None && head.expect_continue);
        let reply = routes::error(out, ctx, err, Framing::for_request(head, close));
        log_access(ctx, peer, Some(head), reply.status, reply.body_len);
        return discard_or_respond(head, ctx, reply, reply_at, close);
    }
    if let Some(target) = crate::live::page::live_target(head) {
        match target
            .and_then(|topic| crate::live::page::start_live(head, topic, ctx, out).map(|()| topic))
        {
            Ok(topic) => {
                log_access(ctx, peer, Some(head), 200, 0);
                if head.method == Method::Head {
                    return State::Respond {
                        file: None,
                        close: true,
                    };
                }
                ctx.live.subscribe(topic, waiter);
                return State::Live { topic };
            }
            Err(err) => {
                out.truncate(reply_at);
                let close = !head.keep_alive || ctx.draining;
                let reply = routes::error(out, ctx, err, Framing::for_request(head, close));
                log_access(ctx, peer, Some(head), reply.status, reply.body_len);
                return State::Respond { file: None, close };
            }
        }
    }
    let has_body = head.framing != BodyFraming::None;
    if let BodyFraming::Length(n) = head.framing {
        if n > ctx.config.max_body {
            return error_state(
                ctx,
                out,
                RequestError::BodyTooLarge,
                reply_at,
                peer,
                Some(head),
                head.method == Method::Head,
            );
        }
    }
    let keep = head.keep_alive && !ctx.draining;
    let http10 = head.version == Version::Http10;
    if ctx.config.cgi {
        if let Some(target) = cgi::target(head, &ctx.root, &mut ctx.scratch, peer, local_addr) {
            match target {
                Ok(req) => {
                    log_access(ctx, peer, Some(head), 200, 0);
                    let sink = BodySink::Cgi(Box::new(req));
                    return read_wanted_body(head, ctx, out, summary, sink, keep);
                }
                Err(err) => {
                    let allow = routes::ALLOW_STATIC;
                    return refuse(head, ctx, out, (peer, reply_at), err, keep, allow);
                }
            }
        }
    }
    if let Some(target) = routes::upload_target(head) {
        match target {
            Ok(name) => {
                let sink = BodySink::Upload { name, http10 };
                return read_wanted_body(head, ctx, out, summary, sink, keep);
            }
            Err(err) => {
                let allow = routes::ALLOW_FILES;
                return refuse(head, ctx, out, (peer, reply_at), err, keep, allow);
            }
        }
    }
    let ingest = routes::ingest_target(head, peer.ip())
        .map(|target| target.and_then(|id| ctx.store.admit().map(|()| id)));
    match ingest {
        Some(Ok(id)) => {
            let sink = BodySink::Device { id, http10 };
            read_wanted_body(head, ctx, out, summary, sink, keep)
        }
        Some(Err(err)) => {
            let allow = routes::ALLOW_DEVICE;
            refuse(head, ctx, out, (peer, reply_at), err, keep, allow)
        }
        None => {
            // No other route reads bodies: an unwanted body announced with
            // `Expect: 100-continue` is never sent, so the connection closes after the answer.
            let close = !keep || (has_body && head.expect_continue);
            let reply = routes::respond(head, ctx, out, Framing::for_request(head, close));
            log_access(ctx, peer, Some(head), reply.status, reply.body_len);
            discard_or_respond(head, ctx, reply, reply_at, close)
        }
    }
}

/// Starts reading a body a route wants into `sink`: invites it with `100 Continue` if the client
/// waits for that, and keeps what the access log needs for the reply written later.
fn read_wanted_body(
    head: &RequestHead<'_, '_>,
    ctx: &Context,
    out: &mut Vec<u8>,
    summary: &mut RequestSummary,
    sink: BodySink,
    keep: bool,
) -> State {
    if head.framing != BodyFraming::None && head.expect_continue {
        out.extend_from_slice(CONTINUE);
    }
    if ctx.access_log.is_some() {
        let (referer, agent) = (head.header("referer"), head.header("user-agent"));
        summary.capture(
            head.method_str,
            head.target,
            version_str(head),
            referer,
            agent,
        );
    }
    State::ReadBody {
        decoder: BodyDecoder::new(head.framing, ctx.config.max_body),
        sink,
        close: !keep,
    }
}

/// Refuses a request whose route would have read its body. A body announced with
/// `Expect: 100-continue` is never sent, so then the connection closes after the answer;
/// otherwise the body is read and discarded.
fn refuse(
    head: &RequestHead<'_, '_>,
    ctx: &mut Context,
    out: &mut Vec<u8>,
    (peer, reply_at): (SocketAddr, usize),
    err: RequestError,
    keep: bool,
    allow: &str,
) -> State {
    let has_body = head.framing != BodyFraming::None;
    let close = !keep || err.closes() || (has_body && head.expect_continue);
    let reply = routes::error_with_allow(out, ctx, err, Framing::for_request(head, close), allow);
    log_access(ctx, peer, Some(head), reply.status, reply.body_len);
    discard_or_respond(head, ctx, reply, reply_at, close)
}

/// After a reply that does not want the request body: read and discard the body if the
/// connection stays open (the reply, at `reply_at`, waits for that), else send the reply.
fn discard_or_respond(
    head: &RequestHead<'_, '_>,
    ctx: &Context,
    reply: routes::Reply,
    reply_at: usize,
    close: bool,
) -> State {
    if head.framing != BodyFraming::None && !close {
        State::ReadBody {
            decoder: BodyDecoder::new(head.framing, ctx.config.max_body),
            sink: BodySink::Discard {
                reply_at,
                file: reply.file,
            },
            close,
        }
    } else {
        State::Respond {
            file: reply.file,
            close,
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

fn file_is_none(state: &State) -> bool {
    matches!(state, State::Respond { file: None, .. })
}

/// Writes the error reply for `err` at `reply_at` (dropping anything after it) and returns the
/// state that sends it. A reply to HEAD (`head_only`) has no body (RFC 9110 section 9.3.2).
fn error_state(
    ctx: &mut Context,
    out: &mut Vec<u8>,
    err: RequestError,
    reply_at: usize,
    peer: SocketAddr,
    head: Option<&RequestHead<'_, '_>>,
    head_only: bool,
) -> State {
    out.truncate(reply_at);
    let close = err.closes() || ctx.draining;
    let framing = Framing {
        close,
        head_only,
        http10_keep_alive: false,
    };
    let reply = routes::error(out, ctx, err, framing);
    log_access(ctx, peer, head, reply.status, reply.body_len);
    State::Respond { file: None, close }
}

fn log_access(
    ctx: &mut Context,
    peer: SocketAddr,
    head: Option<&RequestHead<'_, '_>>,
    status: u16,
    bytes: u64,
) {
    crate::observe::metrics::count_request(head.map_or("-", |h| h.method_str), status);
    let Some(log) = ctx.access_log.as_mut() else {
        return;
    };
    let entry = Entry {
        peer: peer.ip(),
        request: head.map(|h| (h.method_str, h.target, version_str(h))),
        status,
        bytes,
        referer: head.and_then(|h| h.header("referer")),
        user_agent: head.and_then(|h| h.header("user-agent")),
    };
    if let Err(e) = log.record(&entry, ctx.wall) {
        warn!("access log: {e}");
    }
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
