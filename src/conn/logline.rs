//! Access log lines written when a reply ends rather than when it starts, so that they count the
//! body bytes really sent: a file body (a download cut after 10 MB logs 10 MB, not the file's
//! length) and a CGI answer (its status and body are known only as the script writes them).
//! Ingest and upload replies, written after the body, are logged from here too.
use super::io::Transport;
use super::{version_str, Connection, State};
use crate::http::request::RequestHead;
use crate::observe::access_log::RequestSummary;
use crate::observe::metrics;
use crate::routes::context::Context;
use std::net::IpAddr;

/// A reply whose log line waits for its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Deferred {
    /// A file body of `planned` bytes, answered with `status`.
    File { status: u16, planned: u64 },
    /// A CGI script's answer.
    Cgi,
    /// A reply written after the request body (ingest, upload).
    AfterBody,
}

/// What a log line written later needs: the request's fields, and what is being waited for.
#[derive(Debug, Default)]
pub(super) struct PendingLog {
    summary: RequestSummary,
    deferred: Option<Deferred>,
    /// Body bytes of the current file reply sent so far.
    pub body_sent: u64,
}

impl PendingLog {
    /// Counts the request now (unless its reply comes after its body) and keeps what its log
    /// line needs until the reply ends, if there is an access log.
    pub fn defer(&mut self, ctx: &Context, head: &RequestHead<'_, '_>, kind: Deferred) {
        match kind {
            Deferred::File { status, .. } => metrics::count_request(head.method_str, status),
            Deferred::Cgi => metrics::count_request(head.method_str, 200),
            Deferred::AfterBody => {}
        }
        if ctx.access_log.is_none() && !ctx.config.console {
            return;
        }
        let (referer, agent) = (head.header("referer"), head.header("user-agent"));
        let version = version_str(head);
        self.summary
            .capture(head.method_str, head.target, version, referer, agent);
        self.deferred = Some(kind);
        self.body_sent = 0;
    }

    pub fn waiting(&self) -> Option<Deferred> {
        self.deferred
    }

    /// Writes the waiting log line, if any, with `status` and `bytes` of body sent.
    pub fn write(&mut self, ctx: &mut Context, peer: IpAddr, status: u16, bytes: u64) {
        if self.deferred.take().is_none() {
            return;
        }
        let entry = self.summary.entry(peer, status, bytes);
        super::record(ctx, &entry);
    }
}

impl<S: Transport> Connection<S> {
    /// A file body went out whole.
    pub(super) fn log_file_sent(&mut self, ctx: &mut Context) {
        if let Some(Deferred::File { status, planned }) = self.pending_log.waiting() {
            self.pending_log.write(ctx, self.peer.ip(), status, planned);
        }
    }

    /// The connection closes: a reply still under way is logged with what was sent of it.
    pub fn log_unfinished(&mut self, ctx: &mut Context) {
        let (status, bytes) = match self.pending_log.waiting() {
            Some(Deferred::File { status, .. }) => (status, self.pending_log.body_sent),
            Some(Deferred::Cgi) => match &self.state {
                State::Cgi { run, .. } => (run.status(), run.body_bytes()),
                _ => (0, 0),
            },
            Some(Deferred::AfterBody) | None => return,
        };
        self.pending_log.write(ctx, self.peer.ip(), status, bytes);
    }
}
