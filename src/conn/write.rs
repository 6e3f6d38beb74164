//! Sending: the write buffer, then a file body by `sendfile` (a multipart body alternates part
//! heads and file ranges), capped per call and per turn so one download cannot starve the
//! others; then the next request, or the lingering close.
use super::io::{self, Outcome, Transport};
use super::{Connection, State, Step};
use crate::http::reply::{Body, FileBody};
use crate::limits::{
    FILE_BYTES_PER_TURN, GENERATED_CHUNK_BYTES, KEEP_BUFFER_BYTES, LINGER_MAX_BYTES, LINGER_SECS,
    SENDFILE_CHUNK_BYTES,
};
use crate::routes::context::Context;
use log::warn;
use std::time::Instant;

/// What sending a body changes besides the body itself.
struct Progress<'a> {
    writable: &'a mut bool,
    /// File bytes this loop turn, for `FILE_BYTES_PER_TURN`.
    file_bytes: &'a mut u64,
    body_sent: &'a mut u64,
    last_progress: &'a mut Instant,
    now: Instant,
    /// `--no-sendfile`: the buffer file bytes are copied through (empty: `sendfile`).
    copy: &'a mut [u8],
}

/// Sends `body`'s ranges by `sendfile` (or copied, `--no-sendfile`), each part head from `wbuf` between them. `None` once the
/// whole body is sent, else what the connection does next.
fn send_file<S: Transport>(
    stream: &mut S,
    body: &mut FileBody,
    p: Progress<'_>,
    peer: std::net::SocketAddr,
) -> Option<Step> {
    // Never more than `remaining`: the length was fixed when the request started, so a file
    // that grows meanwhile cannot push the body past its Content-Length.
    while body.remaining > 0 {
        if *p.file_bytes >= FILE_BYTES_PER_TURN {
            return Some(Step::Yield);
        }
        if !*p.writable {
            return Some(Step::Wait);
        }
        let count = body.remaining.min(SENDFILE_CHUNK_BYTES as u64) as usize;
        let sent = if p.copy.is_empty() {
            io::sendfile(stream, &body.file, &mut body.offset, count)
        } else {
            io::copy_file(stream, &body.file, &mut body.offset, (count, p.copy))
        };
        match sent {
            Outcome::Done(0) => {
                warn!("{peer}: file shrank while being sent; closing");
                return Some(Step::Close);
            }
            Outcome::Done(n) => {
                body.remaining -= n as u64;
                *p.file_bytes += n as u64;
                *p.body_sent += n as u64;
                *p.last_progress = p.now;
            }
            Outcome::WouldBlock => {
                *p.writable = false;
                return Some(Step::Wait);
            }
            Outcome::Closed => return Some(Step::Close),
        }
    }
    None
}

impl<S: Transport> Connection<S> {
    pub(super) fn respond(&mut self, ctx: &mut Context, file_bytes: &mut u64) -> Step {
        // A multipart body alternates: part head from the write buffer, then its file range. A
        // generated body refills the write buffer until it is complete.
        loop {
            let more = match &self.state {
                State::Respond {
                    body: Some(Body::File(b)),
                    ..
                } => b.remaining > 0,
                State::Respond {
                    body: Some(Body::Generated(_)),
                    ..
                } => true,
                _ => false,
            };
            match self.flush(ctx.now, more) {
                Outcome::Done(_) => {}
                Outcome::WouldBlock => return Step::Wait,
                Outcome::Closed => return Step::Close,
            }
            let step = match &mut self.state {
                State::Respond {
                    body: Some(Body::File(body)),
                    ..
                } => {
                    let progress = Progress {
                        writable: &mut self.writable,
                        file_bytes,
                        body_sent: &mut self.pending_log.body_sent,
                        last_progress: &mut self.last_progress,
                        now: ctx.now,
                        copy: &mut ctx.file_copy,
                    };
                    match send_file(&mut self.stream, body, progress, self.peer) {
                        None if body.next_part(&mut self.wbuf) => continue,
                        step => step,
                    }
                }
                State::Respond {
                    body: Some(Body::Generated(body)),
                    ..
                } => {
                    if *file_bytes >= FILE_BYTES_PER_TURN {
                        return Step::Yield;
                    }
                    if !self.writable {
                        return Step::Wait;
                    }
                    match body.fill(&mut self.wbuf, GENERATED_CHUNK_BYTES) {
                        Ok(0) => None,
                        Ok(n) => {
                            *file_bytes += n as u64;
                            self.pending_log.body_sent += n as u64;
                            continue;
                        }
                        Err(e) => {
                            warn!("{}: {e}; closing", self.peer);
                            return Step::Close;
                        }
                    }
                }
                _ => None,
            };
            match step {
                Some(step) => return step,
                None => break,
            }
        }
        self.log_file_sent(ctx);
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
    pub(super) fn start_linger(&mut self, ctx: &Context) -> Step {
        // At shutdown no connection lingers: the server stops at once.
        if self.peer_eof || ctx.draining {
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

    pub(super) fn linger(&mut self, ctx: &mut Context) -> Step {
        let State::Linger { mut discarded, .. } = self.state else {
            return Step::Close;
        };
        let step = self.discard_input(&mut ctx.read_scratch, &mut discarded, LINGER_MAX_BYTES);
        if let State::Linger { discarded: d, .. } = &mut self.state {
            *d = discarded;
        }
        step
    }

    /// Writes `wbuf[wpos..]`. `Done` once all of it is sent.
    pub(super) fn flush(&mut self, now: Instant, more_follows: bool) -> Outcome {
        match self.flush_to(now, self.wbuf.len(), more_follows) {
            Outcome::Done(_) => {
                self.wbuf.clear();
                self.wpos = 0;
                Outcome::Done(0)
            }
            other => other,
        }
    }

    /// Writes `wbuf[wpos..end]`, keeping what follows (a reply that may still be replaced, while
    /// the body of its request is read and discarded). `Done` once all of it is sent.
    pub(super) fn flush_to(&mut self, now: Instant, end: usize, more_follows: bool) -> Outcome {
        while self.wpos < end {
            if !self.writable {
                return Outcome::WouldBlock;
            }
            match io::write(&mut self.stream, &self.wbuf[self.wpos..end], more_follows) {
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
        Outcome::Done(0)
    }

    /// Gives back read and write buffers that grew large for one request, once idle.
    pub(super) fn shrink_buffers(&mut self) {
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
