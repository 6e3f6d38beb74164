//! Timeouts, derived from the state: when the current wait of a connection expires, and what
//! happens then (a 408 where the client deserves one, else a silent close).
use super::io::Transport;
use super::{says_head, Connection, Drive, Sink, State};
use crate::http::error::RequestError;
use crate::routes::context::Context;
use log::{debug, warn};
use std::time::{Duration, Instant};

impl<S: Transport> Connection<S> {
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
            State::ReadBody { .. } => {
                (self.last_progress + c.body_timeout).min(self.too_slow_at(c))
            }
            State::AwaitCommit { .. } => self.last_progress + c.body_timeout,
            State::Respond { .. } => self.last_progress + c.send_timeout,
            State::Live if self.wpos < self.wbuf.len() => self.last_progress + c.send_timeout,
            State::Live => self.idle_since + c.live_heartbeat,
            State::Cgi { started, .. } if self.wpos < self.wbuf.len() => {
                (self.last_progress + c.send_timeout).min(started + c.cgi_timeout)
            }
            State::Cgi { started, .. } => started + c.cgi_timeout,
            State::Linger { until, .. } => until,
            State::Closed => ctx.now,
        }
    }

    /// When a body that keeps arriving is too slow: past the body timeout, once fewer bytes
    /// have come than `--min-body-rate` gives for the time since it began.
    fn too_slow_at(&self, c: &crate::config::Config) -> Instant {
        if c.min_body_rate == 0 {
            return self.body_started + Duration::from_secs(u64::from(u32::MAX));
        }
        let earned = Duration::from_secs_f64(self.body_bytes_in as f64 / c.min_body_rate as f64);
        self.body_started + earned.max(c.body_timeout)
    }

    /// Handles an expired deadline: a 408 where the client deserves one, else a silent close.
    pub fn expire(&mut self, ctx: &mut Context) -> Drive {
        let pending_write = self.wpos < self.wbuf.len();
        if let State::Live = self.state {
            if pending_write {
                debug!("{}: live subscriber stalled", self.peer);
                return Drive::Close;
            }
            crate::http::sse::push_comment(&mut self.wbuf, "heartbeat");
            self.idle_since = ctx.now;
            return self.drive(ctx);
        }
        if let State::Cgi { run, started, .. } = &self.state {
            if ctx.now >= *started + ctx.config.cgi_timeout {
                warn!(
                    "cgi {}: killed after --cgi-timeout ({} s) for {}",
                    run.name(),
                    ctx.config.cgi_timeout.as_secs_f64(),
                    self.peer
                );
            } else {
                debug!("{}: client stalled reading CGI output", self.peer);
            }
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
                let err = if ctx.now >= self.last_progress + ctx.config.body_timeout {
                    debug!("{}: body timeout", self.peer);
                    RequestError::BodyTimeout
                } else {
                    debug!("{}: body slower than --min-body-rate", self.peer);
                    RequestError::BodyTooSlow
                };
                self.release_body(ctx);
                let reply_at = match sink {
                    Sink::Discard { reply_at, .. } => reply_at,
                    Sink::Route(_) => self.wbuf.len(),
                };
                self.fail(ctx, err, reply_at);
            }
            _ => {
                debug!("{}: timed out", self.peer);
                return Drive::Close;
            }
        }
        self.drive(ctx)
    }
}
