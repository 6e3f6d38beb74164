//! The states in which something other than a request-reply exchange runs: a live event
//! stream, a CGI script's output, and an ingest body waiting for its commit.
use super::io::{Outcome, Transport};
use super::{Connection, Fill, State, Step};
use crate::cgi::run::Pumped;
use crate::http::error::RequestError;
use crate::limits::{LINGER_MAX_BYTES, MAX_PENDING_WRITE_BYTES};
use crate::routes::context::Context;

impl<S: Transport> Connection<S> {
    /// Streaming: send what is queued, and notice when the client goes away (what it sends is
    /// discarded).
    ///
    /// A client that half-closes still gets what is queued (the head and any replay), then the
    /// stream ends: cutting it there would leave a response broken off in its head.
    pub(super) fn live(&mut self, ctx: &mut Context) -> Step {
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
    pub(super) fn cgi(&mut self, ctx: &mut Context) -> Step {
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
                ctx.reply.date(),
                MAX_PENDING_WRITE_BYTES,
            ) {
                Pumped::Wait if self.wbuf.len() > before && self.writable => continue,
                Pumped::Wait => break,
                Pumped::Finished => {
                    let close = *close || !run.keeps_connection();
                    let (status, bytes) = (run.status(), run.body_bytes());
                    self.state = State::Respond { body: None, close };
                    self.pending_log.write(ctx, self.peer.ip(), status, bytes);
                    return Step::Continue;
                }
                // Logged by the reactor's close, with what the script sent.
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
    pub(super) fn await_commit(&mut self, ctx: &mut Context) -> Step {
        match self.flush(ctx.now, false) {
            Outcome::Closed => Step::Close,
            _ => Step::Wait,
        }
    }
}
