//! Reading a request head and starting what it asks for: the head is parsed, handed to
//! `routes::dispatch`, and the [`Next`] it returns becomes the connection's next state.
use super::io::{Outcome, Transport};
use super::logline::Deferred;
use super::{log_access, says_head, Connection, Fill, Sink, State, Step};
use crate::http::body::BodyDecoder;
use crate::http::error::RequestError;
use crate::http::reply::{self, Framing};
use crate::http::request::{
    downgrade_minor_version, header_slots, parse_head, BodyFraming, HeadScanner,
};
use crate::http::Progress;
use crate::limits::{MAX_HEADERS, MAX_PENDING_WRITE_BYTES, REQUESTS_PER_TURN};
use crate::routes::context::Context;
use crate::routes::{self, BodySink, Ends, Next};
use log::debug;

/// The interim response that invites the body of an `Expect: 100-continue` request.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What the connection keeps of a head once it is answered: how its body is framed.
#[derive(Clone, Copy)]
struct BodyAhead {
    framing: BodyFraming,
    expect_continue: bool,
}

impl<S: Transport> Connection<S> {
    /// Starts waiting for the next request.
    pub(super) fn enter_read_head(&mut self, ctx: &Context) {
        self.state = State::ReadHead;
        self.scanner = HeadScanner::default();
        self.fresh = false;
        self.idle_since = ctx.now;
        self.head_started = (self.rstart < self.rbuf.len()).then_some(ctx.now);
    }

    pub(super) fn read_head(&mut self, ctx: &mut Context, requests: &mut usize) -> Step {
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

    /// Parses the complete head `rbuf[rstart..rstart + len]`, has it dispatched, and picks the
    /// next state.
    fn handle_head(&mut self, ctx: &mut Context, len: usize) {
        downgrade_minor_version(&mut self.rbuf[self.rstart..self.rstart + len]);
        let head_bytes = &self.rbuf[self.rstart..self.rstart + len];
        // Known from the request line even when the rest of the head is refused.
        self.head_request = says_head(head_bytes);
        let reply_at = self.wbuf.len();
        let mut fields = header_slots::<MAX_HEADERS>();
        let dispatched = match parse_head(head_bytes, &mut fields) {
            Ok(head) => {
                let ends = Ends {
                    peer: self.peer,
                    local: self.local,
                };
                let next = routes::dispatch(&head, ctx, &mut self.wbuf, ends);
                // The access log line is written now, or for a body's reply, written later,
                // from what is kept of the head here.
                match &next {
                    // A file body is logged when it ends, with the bytes really sent.
                    Next::Reply { reply, .. } if reply.body.is_some() => {
                        let (status, planned) = (reply.status, reply.body_len);
                        let kind = Deferred::File { status, planned };
                        self.pending_log.defer(ctx, &head, kind);
                    }
                    Next::Reply { reply, .. } => {
                        log_access(ctx, self.peer, Some(&head), reply.status, reply.body_len);
                    }
                    Next::ReadBody {
                        sink: BodySink::Cgi(_),
                        ..
                    } => self.pending_log.defer(ctx, &head, Deferred::Cgi),
                    Next::Live { .. } => log_access(ctx, self.peer, Some(&head), 200, 0),
                    Next::ReadBody { .. } => {
                        self.pending_log.defer(ctx, &head, Deferred::AfterBody);
                    }
                }
                let body = BodyAhead {
                    framing: head.framing,
                    expect_continue: head.expect_continue,
                };
                Ok((next, body))
            }
            Err(err) => Err(err),
        };
        self.rstart += len;
        self.last_progress = ctx.now;
        match dispatched {
            Ok((next, body)) => self.start(ctx, next, body, reply_at),
            Err(err) => {
                debug!("{}: {err}", self.peer);
                self.fail(ctx, err, reply_at);
            }
        }
        // A small answer that keeps the connection waits in the buffer, so the answers to a
        // pipelined batch leave in one write.
        if let State::Respond {
            body: None,
            close: false,
        } = self.state
        {
            if self.wbuf.len() - self.wpos < MAX_PENDING_WRITE_BYTES {
                self.enter_read_head(ctx);
            }
        }
    }

    /// Executes what the dispatcher decided for a head whose body is framed as `body`.
    fn start(&mut self, ctx: &mut Context, next: Next, body: BodyAhead, reply_at: usize) {
        let has_body = body.framing != BodyFraming::None;
        self.state = match next {
            // After a reply that does not want the request body: read and discard the body if
            // the connection stays open (the reply, at `reply_at`, waits for that).
            Next::Reply { reply, close } if has_body && !close => {
                self.begin_body(ctx, None);
                State::ReadBody {
                    decoder: BodyDecoder::new(body.framing, ctx.config.max_body),
                    sink: Sink::Discard {
                        reply_at,
                        body: reply.body,
                    },
                    close,
                }
            }
            Next::Reply { reply, close } => State::Respond {
                body: reply.body,
                close,
            },
            Next::ReadBody { sink, close } => {
                // An upload streams to disk: it holds no body memory, and has its own limit.
                let upload = matches!(sink, BodySink::Upload { .. });
                let declared = match body.framing {
                    BodyFraming::Length(n) if !upload => Some(n),
                    _ => None,
                };
                let limit = if upload {
                    ctx.config.max_upload
                } else {
                    ctx.config.max_body
                };
                if !self.begin_body(ctx, declared) {
                    // Refused before a byte of it is read: the 100 Continue is not sent.
                    self.state = State::Closed;
                    self.fail(ctx, RequestError::BodyMemoryFull, reply_at);
                    return;
                }
                if has_body && body.expect_continue {
                    self.wbuf.extend_from_slice(CONTINUE);
                }
                State::ReadBody {
                    decoder: BodyDecoder::new(body.framing, limit),
                    sink: Sink::Route(sink),
                    close,
                }
            }
            Next::Live { topic } => {
                ctx.live.subscribe(topic, self.waiter);
                self.subscribed = Some(topic);
                State::Live
            }
        };
    }

    /// Replaces everything from `reply_at` in the write buffer with the error reply for `err`
    /// and sends it. A reply to HEAD has no body (RFC 9110 section 9.3.2).
    pub(super) fn fail(&mut self, ctx: &mut Context, err: RequestError, reply_at: usize) {
        self.fail_closing(ctx, err, reply_at, err.closes());
    }

    /// [`fail`](Self::fail), closing the connection afterwards also if `close` (a body whose
    /// rest is left unread).
    pub(super) fn fail_closing(
        &mut self,
        ctx: &mut Context,
        err: RequestError,
        reply_at: usize,
        close: bool,
    ) {
        let reply_at = reply_at.max(self.wpos);
        self.wbuf.truncate(reply_at);
        let close = close || err.closes() || ctx.draining;
        let framing = Framing {
            close,
            head_only: self.head_request,
            http10_keep_alive: false,
        };
        let limits = (ctx.config.max_body, ctx.config.max_upload);
        let reply = reply::error_within(&mut self.wbuf, ctx.reply.date(), err, framing, limits);
        if let Some(waiting) = self.pending_log.waiting() {
            // A body or CGI script that failed or timed out: the request is known.
            if waiting == Deferred::AfterBody {
                crate::observe::metrics::count_request("-", reply.status);
            }
            let peer = self.peer.ip();
            self.pending_log
                .write(ctx, peer, reply.status, reply.body_len);
        } else {
            log_access(ctx, self.peer, None, reply.status, reply.body_len);
        }
        self.state = State::Respond { body: None, close };
    }
}
