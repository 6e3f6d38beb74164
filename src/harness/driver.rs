//! Drives one scripted connection as the reactor drives its connections (`server.rs`): each turn
//! delivers readiness and drives, drives once more what yielded its turn, then the commit point
//! and the delivery of its completions; after the script, turns continue while the connection
//! has something to send or to commit, and finally its deadlines expire as the sweep would
//! expire them. Time stands still while the script runs, so no timeout fires early.
use super::fixture::{Fixture, LOCAL, PEER};
use super::{MemoryTransport, Script};
use crate::conn::deliver_completions;
use crate::conn::{Connection, Drive};
use crate::limits::{MAX_PENDING_WRITE_BYTES, MAX_REPLAY_BYTES, READ_BUFFER_MAX_BYTES};
use crate::routes::context::Context;
use crate::store::Waiter;
use slab::Slab;
use std::collections::BTreeMap;
use std::io;

/// Most unsent response bytes: the pipelining cap plus the largest single reply (a live replay).
pub const WRITE_PENDING_CAP: usize =
    MAX_PENDING_WRITE_BYTES + MAX_REPLAY_BYTES as usize + 64 * 1024;
/// Turns after the script while the connection still sends or commits (its write budget
/// doubles each turn, so this is never the limit for a correct connection).
const SETTLE_TURNS: usize = 200;
/// Deadlines expired after the script (a live stream never ends by itself).
const EXPIRIES: usize = 4;

/// What a scripted connection did.
#[derive(Debug, Default)]
pub struct Run {
    /// Every byte the server sent.
    pub output: Vec<u8>,
    /// The connection ended (`Drive::Close`); false if still open when the driver stopped.
    pub closed: bool,
    /// Client bytes the server read.
    pub consumed: usize,
    /// Deadlines that had to expire after the script (each one a timeout).
    pub deadlines: usize,
    /// Sends tried after the server shut its side down.
    pub sends_after_shutdown: usize,
    /// The first buffer found over its cap, or a connection still busy after `SETTLE_TURNS`
    /// turns past the script (one that never comes to wait).
    pub over_cap: Option<String>,
    /// The device files afterwards (every acknowledged record written), by device.
    pub devices: BTreeMap<String, Vec<u8>>,
    pub turns: usize,
}

/// Runs `script` against a fresh context on `fixture`.
pub fn run(fixture: &Fixture, script: &Script) -> io::Result<Run> {
    let (ctx, _poll) = fixture.context(script)?;
    let peer = PEER.parse().map_err(|_| io::ErrorKind::InvalidInput)?;
    let local = LOCAL.parse().map_err(|_| io::ErrorKind::InvalidInput)?;
    let transport = MemoryTransport::new(
        script.stream.clone(),
        script.write_per_call,
        script.interrupts,
        local,
    );
    let mut conns = Slab::new();
    let entry = conns.vacant_entry();
    let waiter = Waiter {
        key: entry.key(),
        conn: 0,
    };
    let key = entry.key();
    entry.insert(Connection::new(transport, peer, waiter, ctx.now));
    let mut d = Driver {
        ctx,
        conns,
        key,
        done: None,
        again: 0,
        ready: Vec::new(),
        run: Run::default(),
    };
    d.script(script);
    d.settle(script.write_per_turn);
    for _ in 0..EXPIRIES {
        if d.done.is_some() {
            break;
        }
        d.run.deadlines += 1;
        d.expire();
        d.settle(script.write_per_turn);
    }
    d.finish()
}

struct Driver {
    ctx: Context,
    /// The one connection while it is open (a slab, to share the reactor's delivery code).
    conns: Slab<Connection<MemoryTransport>>,
    key: usize,
    /// The connection once it closed.
    done: Option<Connection<MemoryTransport>>,
    /// Drives owed for turns the connection yielded.
    again: usize,
    ready: Vec<usize>,
    run: Run,
}

impl Driver {
    fn transport(&mut self) -> &mut MemoryTransport {
        match self.done.as_mut() {
            Some(conn) => conn.stream(),
            None => self.conns[self.key].stream(),
        }
    }

    /// Sends the script's reads, one per turn, and its FIN.
    fn script(&mut self, script: &Script) {
        let last = script.ends.len();
        for (i, &end) in script.ends.iter().enumerate() {
            if self.done.is_some() {
                return;
            }
            let fin = script.fin && script.fin_with_last && i + 1 == last;
            let t = self.transport();
            t.release_to(end);
            if fin {
                t.send_fin();
            }
            t.grant(script.write_per_turn);
            self.turn(Some((true, true, fin)));
        }
        if script.fin && !(script.fin_with_last && last > 0) && self.done.is_none() {
            let t = self.transport();
            t.send_fin();
            t.grant(script.write_per_turn);
            self.turn(Some((true, true, true)));
        }
    }

    /// Turns while the connection waits to send, to commit, or was told to come again.
    fn settle(&mut self, mut budget: usize) {
        for _ in 0..SETTLE_TURNS {
            if self.done.is_some() {
                return;
            }
            let blocked = self.transport().is_blocked();
            let pending = self.again > 0
                || !self.ctx.completions.is_empty()
                || self.ctx.store.has_uncommitted();
            if !blocked && !pending {
                return;
            }
            if blocked {
                budget = budget.saturating_mul(2);
                self.transport().grant(budget);
                self.turn(Some((false, true, false)));
            } else {
                self.turn(None);
            }
        }
        self.run
            .over_cap
            .get_or_insert_with(|| format!("still busy after {SETTLE_TURNS} turns"));
    }

    /// Lets time pass to the connection's deadline and expires it, as the sweep does.
    fn expire(&mut self) {
        let deadline = self.conns[self.key].deadline(&self.ctx);
        if let Some(ahead) = deadline.checked_duration_since(self.ctx.now) {
            self.ctx.now = deadline;
            self.ctx.wall += ahead;
            self.ctx.reply.date.update(self.ctx.wall);
        }
        let result = self.conns[self.key].expire(&mut self.ctx);
        self.after(result);
        self.turn(None);
    }

    /// One loop turn: the readiness event if any, the turn owed, the commit point.
    fn turn(&mut self, event: Option<(bool, bool, bool)>) {
        self.run.turns += 1;
        if let Some((readable, writable, read_closed)) = event {
            if self.done.is_none() {
                self.conns[self.key].on_ready(readable, writable, read_closed);
                self.drive();
            }
        }
        for _ in 0..std::mem::take(&mut self.again) {
            self.drive();
        }
        self.ctx
            .store
            .commit(self.ctx.now, &mut self.ctx.completions);
        // `--ack fsync`: the log's sync runs on its thread; this loop has no waker, so the turn
        // waits for it (as a reactor turn would end with the sync's wake).
        self.ctx.store.wait_for_log_syncs(&mut self.ctx.completions);
        deliver_completions(&mut self.ctx, &mut self.conns, &mut self.ready);
        for _ in std::mem::take(&mut self.ready) {
            self.drive();
        }
    }

    fn drive(&mut self) {
        if self.done.is_some() {
            return;
        }
        let result = self.conns[self.key].drive(&mut self.ctx);
        self.after(result);
    }

    fn after(&mut self, result: Drive) {
        if self.done.is_some() {
            return;
        }
        self.check_caps();
        match result {
            Drive::Wait => {}
            Drive::Again => self.again += 1,
            Drive::Close => self.done = Some(self.conns.remove(self.key)),
        }
    }

    fn check_caps(&mut self) {
        let u = self.conns[self.key].buffer_use();
        let max_body = usize::try_from(self.ctx.config.max_body).unwrap_or(usize::MAX);
        let over = u.read_held > READ_BUFFER_MAX_BYTES
            || u.read_capacity > 2 * READ_BUFFER_MAX_BYTES
            || u.write_pending > WRITE_PENDING_CAP
            || u.write_capacity > 2 * WRITE_PENDING_CAP
            || u.body_capacity > max_body.saturating_mul(2).saturating_add(64);
        if over {
            self.run
                .over_cap
                .get_or_insert_with(|| format!("buffers over their caps: {u:?}"));
        }
    }

    /// Writes out what is still buffered (as shutdown does) and collects the results.
    fn finish(mut self) -> io::Result<Run> {
        self.ctx.store.shutdown(&mut self.ctx.completions);
        let t = self.transport();
        let output = t.output().to_vec();
        let (consumed, after) = (t.consumed(), t.sends_after_shutdown());
        let mut run = std::mem::take(&mut self.run);
        run.output = output;
        run.consumed = consumed;
        run.sends_after_shutdown = after;
        run.closed = self.done.is_some();
        let dir = self.ctx.store.dir().to_owned();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // Device files only: the write-ahead log and other dotfiles are no device.
            if entry.file_type()?.is_file() && !name.starts_with('.') {
                run.devices.insert(name, std::fs::read(entry.path())?);
            }
        }
        Ok(run)
    }
}
