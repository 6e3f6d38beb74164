//! Reading a request body into its sink: decoded as it arrives (Content-Length or chunked,
//! bounded by `--max-body`), then discarded behind a reply already made, or handed whole to the
//! route's sink: the device store, a CGI script. An upload is the exception: written to its
//! file as it arrives (bounded by `--max-upload`), and renamed into place at its end.
use super::io::{Outcome, Transport};
use super::{deferred_framing, tokens, Connection, Fill, Sink, State, Step};
use crate::cgi::run::{CgiRun, Slot};
use crate::http::error::RequestError;
use crate::limits::{BODY_BUFFER_KEEP_BYTES, MAX_CGI_PROCESSES, MAX_PENDING_WRITE_BYTES};
use crate::routes::context::Context;
use crate::routes::{self, BodySink};
use crate::store::Appended;
use log::{debug, warn};

impl<S: Transport> Connection<S> {
    pub(super) fn read_body(&mut self, ctx: &mut Context) -> Step {
        let State::ReadBody { decoder, sink, .. } = &mut self.state else {
            return Step::Close;
        };
        let input = &self.rbuf[self.rstart..self.rbuf.len()];
        let body = &mut self.body;
        // An upload streams to its file; a write that fails ends the request.
        let mut write_failed = None;
        let (collect, decoded) = match sink {
            Sink::Discard { .. } => (false, decoder.decode(input, &mut |_| {})),
            Sink::Route(BodySink::Upload { upload, .. }) => {
                let decoded = decoder.decode(input, &mut |data| {
                    if write_failed.is_none() {
                        write_failed = upload.write(data).err();
                    }
                });
                let too_large = Err(RequestError::BodyTooLarge);
                (
                    false,
                    if decoded == too_large {
                        Err(RequestError::UploadTooLarge)
                    } else {
                        decoded
                    },
                )
            }
            Sink::Route(_) => (
                true,
                decoder.decode(input, &mut |data| body.extend_from_slice(data)),
            ),
        };
        let decoded = match write_failed {
            // The rest of the body is not read: the connection closes after the error.
            Some(err) => {
                let reply_at = self.wbuf.len();
                self.fail_closing(ctx, err, reply_at, true);
                return Step::Continue;
            }
            None => decoded,
        };
        match decoded {
            Ok(decoded) => {
                self.rstart += decoded.consumed;
                self.body_bytes_in += decoded.consumed as u64;
                if collect && !self.account_body(ctx) {
                    debug!("{}: body memory full (--max-body-memory)", self.peer);
                    self.release_body(ctx);
                    self.fail(ctx, RequestError::BodyMemoryFull, self.wbuf.len());
                    return Step::Continue;
                }
                if decoded.done {
                    self.body_done(ctx);
                    return Step::Continue;
                }
            }
            Err(err) => {
                debug!("{}: body: {err}", self.peer);
                let reply_at = match sink {
                    Sink::Discard { reply_at, .. } => *reply_at,
                    Sink::Route(_) => self.wbuf.len(),
                };
                self.release_body(ctx);
                self.fail(ctx, err, reply_at);
                return Step::Continue;
            }
        }
        // Earlier replies (and a `100 Continue`) go out before the body is awaited; a reply
        // waiting for its own body to be discarded stays, since a bad body replaces it.
        let flushed = match self.state {
            State::ReadBody {
                sink: Sink::Discard { reply_at, .. },
                ..
            } => self.flush_to(ctx.now, reply_at, false),
            _ => self.flush(ctx.now, false),
        };
        if let Outcome::Closed = flushed {
            return Step::Close;
        }
        if self.peer_eof {
            debug!("{}: body cut short", self.peer);
            // This request gets no answer, but those before it, still in the write buffer
            // (pipelined, or waiting for a slow reader), go out before the connection closes.
            if let State::ReadBody {
                sink: Sink::Discard { reply_at, .. },
                ..
            } = self.state
            {
                self.wbuf.truncate(reply_at.max(self.wpos));
            }
            self.release_body(ctx);
            self.state = State::Respond {
                body: None,
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

    /// The body is complete: discard it and send the prepared reply, or hand it to its sink.
    pub(super) fn body_done(&mut self, ctx: &mut Context) {
        let State::ReadBody { sink, close, .. } = std::mem::replace(&mut self.state, State::Closed)
        else {
            return;
        };
        match sink {
            Sink::Discard { body, .. } => {
                let buffered = body.is_none();
                self.state = State::Respond { body, close };
                if !close && buffered && self.wbuf.len() - self.wpos < MAX_PENDING_WRITE_BYTES {
                    self.enter_read_head(ctx);
                }
            }
            Sink::Route(BodySink::Cgi(req)) => {
                let Some(slot) = Slot::take(&ctx.cgi_running, MAX_CGI_PROCESSES) else {
                    self.release_body(ctx);
                    self.fail(ctx, RequestError::Overloaded, self.wbuf.len());
                    return;
                };
                let close = close || req.http10;
                let body = std::mem::take(&mut self.body);
                self.release_body(ctx);
                let base = tokens::cgi_pipe_base(self.waiter.key);
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
            Sink::Route(BodySink::Reflect(reflect)) => {
                let framing = deferred_framing(close, reflect.http10(), Ok(()));
                let kit = &mut ctx.reply;
                let reply =
                    routes::reflect::reply(&mut self.wbuf, kit, framing, &reflect, &self.body);
                self.release_body(ctx);
                self.send_deferred(ctx, &reply, framing.close);
            }
            Sink::Route(BodySink::Upload {
                upload,
                path,
                http10,
            }) => {
                let result = upload.finish();
                let framing = deferred_framing(close, http10, result);
                let date = ctx.reply.date();
                let reply = routes::upload_reply(&mut self.wbuf, date, &path, result, framing);
                self.send_deferred(ctx, &reply, framing.close);
            }
            Sink::Route(BodySink::Device { id, http10, key }) => {
                let body = (&self.body[..], key);
                // The data directory is made with the first record (not for a body that holds
                // none: `append` refuses that before it looks at the directory).
                let first = !ctx.store.is_open() && ctx.store.format().has_record(body.0);
                let opened = if first { ctx.open_store() } else { Ok(()) };
                let peer = self.peer.ip();
                let appended =
                    opened.and_then(|()| ctx.store.append(id, body, peer, ctx.wall, self.waiter));
                self.release_body(ctx);
                self.state = State::AwaitCommit {
                    close,
                    http10,
                    waiting: 1,
                    result: Ok(()),
                };
                // Refused (no record), or acknowledged at once (`--ack buffer`): the reply goes
                // out now; otherwise at the commit.
                match appended {
                    Ok(Appended::Waiting) => {}
                    Ok(Appended::Acknowledged | Appended::Duplicate) => {
                        self.committed(ctx, Ok(()));
                    }
                    Err(err) => self.committed(ctx, Err(err)),
                }
            }
            Sink::Route(BodySink::LineProtocol { http10, gzip }) => {
                let peer = self.peer.ip();
                let written = routes::influx::store(ctx, &self.body, gzip, peer, self.waiter);
                self.release_body(ctx);
                // One more than the commits under way: the call below settles it with the
                // store's own result, and replies at once if nothing waits.
                self.state = State::AwaitCommit {
                    close,
                    http10,
                    waiting: written.waiting + 1,
                    result: Ok(()),
                };
                self.committed(ctx, written.result);
            }
        }
    }

    /// Counts this connection's body buffer (its capacity) in the server-wide total of
    /// `--max-body-memory`. False if it grew past what the total allows (the buffer is then still
    /// counted; the caller releases it).
    pub(super) fn account_body(&mut self, ctx: &mut Context) -> bool {
        let held = self.body.capacity();
        let others = ctx.body_memory - self.body_held;
        ctx.body_memory = others + held;
        let grew = held > self.body_held;
        self.body_held = held;
        !(grew && ctx.body_memory as u64 > ctx.config.max_body_memory)
    }

    /// Empties the body buffer and stops counting it: a buffer of up to `BODY_BUFFER_KEEP_BYTES`
    /// is kept for the next body (counted again when that begins), a larger one given back.
    pub(super) fn release_body(&mut self, ctx: &mut Context) {
        self.body.clear();
        if self.body.capacity() > BODY_BUFFER_KEEP_BYTES {
            self.body = Vec::new();
        }
        ctx.body_memory -= self.body_held;
        self.body_held = 0;
    }

    /// Gives back everything this connection counts in the server-wide body memory (it closes).
    pub fn forget_body(&mut self, ctx: &mut Context) {
        self.release_body(ctx);
    }

    /// Starts counting a body: its rate from now, and for a declared length its whole buffer at
    /// once. False if that length would pass `--max-body-memory`.
    pub(super) fn begin_body(&mut self, ctx: &mut Context, declared: Option<u64>) -> bool {
        self.body_started = ctx.now;
        self.body_bytes_in = 0;
        let Some(len) = declared else {
            return true;
        };
        let len = len.min(ctx.config.max_body);
        let others = ctx.body_memory - self.body_held;
        if others as u64 + len > ctx.config.max_body_memory {
            return false;
        }
        self.body
            .reserve_exact(usize::try_from(len).unwrap_or(usize::MAX));
        self.account_body(ctx)
    }
}
