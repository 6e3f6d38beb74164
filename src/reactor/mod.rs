//! The reactor: one thread, one `mio::Poll`, the listeners, the connections in a `Slab`, accept
//! with admission and back-off, deadline sweeps, signals and graceful shutdown.
use crate::config::{open_device_files, Config};
use crate::conn::tokens::{self, Named};
use crate::conn::{deliver_completions, Connection, Drive};
use crate::files::Root;
use crate::limits::{EVENTS_PER_POLL, FREE_SPACE_CHECK_SECS, LINGER_SECS, SHUTDOWN_GRACE_SECS};
use crate::observe::access_log::AccessLog;
use crate::observe::metrics;
use crate::routes::context::{Context, Roots};
use crate::store::DeviceStore;
mod accept;
pub use accept::urls_for;
mod peers;

use log::{debug, error, info, warn};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Waker};
use peers::PeerTable;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// A bound server, ready to run.
pub struct Server {
    poll: Poll,
    listeners: Vec<TcpListener>,
    local_addrs: Vec<SocketAddr>,
    conns: Slab<Connection>,
    ctx: Context,
    signals: Signals,
    /// Connections that used their turn with work left.
    again: Vec<usize>,
    /// Accepting is paused (connection limit or no descriptors) until this is cleared.
    accept_paused: bool,
    accept_retry_at: Option<Instant>,
    /// A connection accepted and admitted at `--max-connections` when no connection could make
    /// room: it waits here, unserved, for the next slot (`accept.rs`).
    waiting: Option<(mio::net::TcpStream, SocketAddr)>,
    next_sweep: Instant,
    sweep_every: Duration,
    shutdown_deadline: Option<Instant>,
    next_free_space: Instant,
    /// Serial number of the next accepted connection.
    next_serial: u64,
    /// Scratch for one live event, and the live connections that got events this turn.
    event: Vec<u8>,
    /// The time of this turn's `/api/live` events (reused).
    stamp: Vec<u8>,
    touched: Vec<usize>,
    /// Connections that got the reply to a commit this turn.
    ready: Vec<usize>,
    /// Open connections per client address, for `--max-connections-per-peer`.
    peers: PeerTable,
    accepted: u64,
    /// Connections closed right after accept: peer not in the allow list.
    refused: u64,
    /// Connections closed right after accept: peer already at its connection cap.
    refused_over_cap: u64,
    /// Refused peers, for one log line per address and interval.
    refused_peers: crate::observe::throttle::PerKey<std::net::IpAddr>,
}

impl Server {
    /// Opens the root, the access log and every listener. Errors are one-line messages.
    pub fn bind(config: Config) -> Result<Server, String> {
        let root = Root::open(&config.root)
            .map_err(|e| format!("cannot serve '{}': {e}", config.root.display()))?;
        let access_log = match &config.access_log {
            Some(path) => Some(
                AccessLog::open(path)
                    .map_err(|e| format!("cannot open access log '{}': {e}", path.display()))?,
            ),
            None => None,
        };
        let poll = Poll::new().map_err(|e| format!("cannot create poller: {e}"))?;
        let waker = Arc::new(
            Waker::new(poll.registry(), tokens::WAKER)
                .map_err(|e| format!("cannot create waker: {e}"))?,
        );
        let (store, data_root) = open_store(&config, waker)?;
        let (listeners, local_addrs) = accept::bind_all(&poll, &config.listen)?;
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])
            .map_err(|e| format!("cannot handle signals: {e}"))?;
        poll.registry()
            .register(&mut signals, tokens::SIGNAL, Interest::READABLE)
            .map_err(|e| format!("cannot handle signals: {e}"))?;
        if let Some(fd) = store.watch_fd() {
            poll.registry()
                .register(
                    &mut mio::unix::SourceFd(&fd),
                    tokens::DATA_WATCH,
                    Interest::READABLE,
                )
                .map_err(|e| format!("cannot watch the data directory: {e}"))?;
        }
        let sweep_every = sweep_interval(&config);
        let registry = poll
            .registry()
            .try_clone()
            .map_err(|e| format!("cannot create poller: {e}"))?;
        let peers = PeerTable::new(config.max_connections_per_peer);
        let files_dir = config.directory.as_ref().unwrap_or(&config.root);
        let files_root = Root::open(files_dir)
            .map_err(|e| format!("cannot use --directory '{}': {e}", files_dir.display()))?;
        let roots = Roots {
            root,
            data: data_root,
            files: files_root,
        };
        let registry = (registry, tokens::DATA_WATCH);
        let ctx = Context::new(config, roots, store, access_log, registry);
        if let Some(fd) = ctx.site.watch_fd() {
            poll.registry()
                .register(
                    &mut mio::unix::SourceFd(&fd),
                    tokens::SITE_WATCH,
                    Interest::READABLE,
                )
                .map_err(|e| format!("cannot watch the served directory: {e}"))?;
        }
        Ok(Server {
            poll,
            listeners,
            local_addrs,
            conns: Slab::new(),
            next_sweep: ctx.now + sweep_every,
            ctx,
            signals,
            again: Vec::new(),
            accept_paused: false,
            accept_retry_at: None,
            waiting: None,
            sweep_every,
            shutdown_deadline: None,
            next_free_space: Instant::now() + FREE_SPACE_CHECK_SECS,
            next_serial: 0,
            event: Vec::new(),
            stamp: Vec::new(),
            touched: Vec::new(),
            ready: Vec::new(),
            peers,
            accepted: 0,
            refused: 0,
            refused_over_cap: 0,
            refused_peers: crate::observe::throttle::PerKey::new(
                crate::limits::REFUSAL_LOG_INTERVAL_SECS,
            ),
        })
    }

    /// The addresses actually bound (with the real port where port 0 was asked for).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Connections closed right after accept because the peer is not in the allow list.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Connections closed right after accept because the peer held its
    /// `--max-connections-per-peer` already.
    pub fn refused_over_cap(&self) -> u64 {
        self.refused_over_cap
    }

    /// Runs until SIGINT or SIGTERM, then shuts down gracefully.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        loop {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            self.ctx.tick();
            // Changes to served files first: a request sent after a change must not get the
            // old file, and the change's event was queued before the request was sent (so it
            // is among these events, unless they filled the buffer).
            let (mut count, mut site_changed) = (0, false);
            for event in events.iter() {
                count += 1;
                site_changed |= event.token() == tokens::SITE_WATCH;
            }
            if site_changed || count >= EVENTS_PER_POLL {
                self.ctx.site.apply_changes();
            }
            for event in events.iter() {
                match tokens::name(event.token()) {
                    Named::Signal => {
                        if self.on_signal() {
                            return self.finish();
                        }
                    }
                    Named::Waker => self.ctx.store.collect_reports(&mut self.ctx.completions),
                    Named::DataWatch => self.ctx.store.collect_changes(),
                    Named::SiteWatch => {}
                    Named::Listener(i) => self.accept(i),
                    Named::CgiPipe(key) => self.drive(key),
                    Named::Connection(key) => {
                        if let Some(conn) = self.conns.get_mut(key) {
                            let error = event.is_error();
                            conn.on_ready(
                                event.is_readable() || event.is_read_closed() || error,
                                event.is_writable() || event.is_write_closed() || error,
                                event.is_read_closed() || error,
                            );
                            self.drive(key);
                        }
                    }
                }
            }
            for key in std::mem::take(&mut self.again) {
                if self.conns.contains(key) {
                    self.drive(key);
                }
            }
            // The commit point: every body completed this turn is written, one write per device.
            self.ctx
                .store
                .commit(self.ctx.now, &mut self.ctx.completions);
            self.deliver_completions();
            self.publish_live();
            if self.ctx.now >= self.next_free_space {
                self.next_free_space = self.ctx.now + FREE_SPACE_CHECK_SECS;
                self.ctx.store.refresh_free_space();
            }
            if self.ctx.now >= self.next_sweep {
                self.sweep();
            }
            if self.accept_paused && self.accept_retry_at.is_some_and(|t| self.ctx.now >= t) {
                self.resume_accepting();
            }
            if let Some(log) = self.ctx.access_log.as_mut() {
                if let Err(e) = log.flush() {
                    warn!("access log: {e}");
                }
            }
            if let Some(deadline) = self.shutdown_deadline {
                if self.conns.is_empty() || self.ctx.now >= deadline {
                    return self.finish();
                }
            }
        }
    }

    fn poll_timeout(&self) -> Duration {
        if !self.again.is_empty()
            || self.ctx.store.has_uncommitted()
            || !self.ctx.completions.is_empty()
        {
            return Duration::ZERO;
        }
        let now = Instant::now();
        let mut until = self.next_sweep;
        if let Some(t) = self.accept_retry_at {
            until = until.min(t);
        }
        until.saturating_duration_since(now)
    }

    /// Hands finished commits to their connections (if they are still there) and drives them.
    fn deliver_completions(&mut self) {
        if self.ctx.completions.is_empty() {
            return;
        }
        let mut ready = std::mem::take(&mut self.ready);
        deliver_completions(&mut self.ctx, &mut self.conns, &mut ready);
        for key in ready.drain(..) {
            self.drive(key);
        }
        self.ready = ready;
    }

    /// Hands every record written this turn to the readings and to the live hub, which renders
    /// its events, and delivers them to the subscribed connections; then drives those.
    fn publish_live(&mut self) {
        self.observe_published();
        let ctx = &mut self.ctx;
        let tracking = ctx.values.config().max_series > 0;
        ctx.store.set_publishing(tracking || !ctx.live.is_empty());
        if !ctx.live.is_empty() {
            let (conns, touched, now) = (&mut self.conns, &mut self.touched, ctx.now);
            let records = ctx.store.published();
            // The time only `/api/live` events carry, written into a buffer kept for it.
            let stamp = &mut self.stamp;
            stamp.clear();
            if !ctx.live.all().is_empty() {
                crate::store::record::push_rfc3339_millis(stamp, SystemTime::now());
            }
            let time = std::str::from_utf8(stamp).unwrap_or("");
            ctx.live
                .fan_out((records, time), &mut self.event, |waiter, event| {
                    if let Some(conn) = conns.get_mut(waiter.key).filter(|c| c.waiter() == *waiter)
                    {
                        conn.push_live(event, now);
                        touched.push(waiter.key);
                    }
                });
        }
        ctx.store.clear_published();
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        for key in touched.drain(..) {
            self.drive(key);
        }
        self.touched = touched;
    }

    /// Hands the records written since the last call to the readings.
    fn observe_published(&mut self) {
        let ctx = &mut self.ctx;
        if ctx.values.config().max_series > 0 {
            let wall = SystemTime::now();
            for (device, _, record) in ctx.store.published() {
                ctx.values.observe(device, record, wall);
            }
        }
    }

    /// Drives one connection and acts on the result.
    fn drive(&mut self, key: usize) {
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        match conn.drive(&mut self.ctx) {
            Drive::Wait => {}
            Drive::Again => self.again.push(key),
            Drive::Close => self.close(key),
        }
    }

    fn close(&mut self, key: usize) {
        let mut conn = self.conns.remove(key);
        conn.log_unfinished(&mut self.ctx);
        conn.forget_body(&mut self.ctx);
        self.ctx.connections_open = self.conns.len();
        if let Some(topic) = conn.live_topic() {
            self.ctx.live.unsubscribe(topic, conn.waiter());
        }
        self.peers.release(conn.peer().ip());
        if let Err(e) = self.poll.registry().deregister(conn.stream()) {
            debug!("deregister: {e}");
        }
        drop(conn);
        if self.accept_paused && self.accept_retry_at.is_none() {
            self.resume_accepting();
        }
    }

    /// Expires the connections whose deadline has passed; at `--max-connections` with every
    /// connection busy, looks again for one that has become idle since (`make_room`).
    fn sweep(&mut self) {
        self.next_sweep = self.ctx.now + self.sweep_every;
        if self.accept_paused && self.accept_retry_at.is_none() {
            self.resume_accepting();
        }
        let now = self.ctx.now;
        let expired: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, conn)| conn.deadline(&self.ctx) <= now)
            .map(|(key, _)| key)
            .collect();
        for key in expired {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            match conn.expire(&mut self.ctx) {
                Drive::Wait => {}
                Drive::Again => self.again.push(key),
                Drive::Close => self.close(key),
            }
        }
    }

    /// Starts a graceful shutdown; returns true if the server should stop at once (a second
    /// signal).
    fn on_signal(&mut self) -> bool {
        let (mut stop, mut reopen) = (false, false);
        for signal in self.signals.pending() {
            debug!("signal {signal}");
            match signal {
                SIGHUP => reopen = true,
                _ => stop = true,
            }
        }
        if reopen {
            self.reopen_files();
        }
        if !stop {
            return false;
        }
        if self.shutdown_deadline.is_some() {
            info!("second signal: stopping now");
            return true;
        }
        info!("shutting down");
        for mut listener in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        self.ctx.draining = true;
        self.shutdown_deadline = Some(self.ctx.now + SHUTDOWN_GRACE_SECS);
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, conn)| conn.is_idle())
            .map(|(key, _)| key)
            .collect();
        for key in idle {
            self.close(key);
        }
        false
    }

    /// SIGHUP (logrotate's convention): device files and the access log are opened again by
    /// name, so that records after a rename or removal go to a fresh file of that name.
    fn reopen_files(&mut self) {
        info!("SIGHUP: reopening device files and the access log");
        self.ctx.store.reopen_files(&mut self.ctx.completions);
        if let Some(log) = self.ctx.access_log.as_mut() {
            if let Err(e) = log.reopen() {
                warn!("access log: cannot reopen: {e}");
            }
        }
    }

    fn finish(mut self) -> io::Result<()> {
        // Every acknowledged byte reaches the file before we exit.
        self.ctx.store.shutdown(&mut self.ctx.completions);
        // The readings of those last records too, then all of them for the next start.
        self.observe_published();
        // No data directory was made (nothing was posted): nothing to save, nowhere to.
        if self.ctx.values.config().max_series > 0 && self.ctx.store.is_open() {
            match self.ctx.values.save(self.ctx.store.dir()) {
                Ok(devices) => debug!("readings of {devices} devices saved"),
                Err(e) => warn!("readings not saved for the next start: {e}"),
            }
        }
        if !self.conns.is_empty() {
            info!("{} connections cut at shutdown", self.conns.len());
        }
        if let Some(log) = self.ctx.access_log.as_mut() {
            log.flush()?;
        }
        debug!(
            "accepted {} connections, refused {} (allow list) and {} (per-peer cap)",
            self.accepted, self.refused, self.refused_over_cap
        );
        if self.ctx.config.console {
            let requests = metrics::REQUESTS
                .iter()
                .flatten()
                .map(metrics::Counter::get)
                .sum();
            crate::observe::console::stopped(requests, self.accepted);
        }
        Ok(())
    }
}

/// The device store, and the data directory if it exists already (else it is made at the first
/// record, but a `--data` that could not be made fails here). `waker` wakes the loop.
fn open_store(config: &Config, waker: Arc<Waker>) -> Result<(DeviceStore, Option<Root>), String> {
    let data = &config.store.dir;
    let unusable = |e: io::Error| format!("cannot use data directory '{}': {e}", data.display());
    let wake = Box::new(move || {
        if let Err(e) = waker.wake() {
            error!("waker: {e}");
        }
    });
    let store = DeviceStore::open_lazily(store_config(config), wake).map_err(unusable)?;
    let data_root = match store.is_open() {
        true => Some(Root::open(data).map_err(unusable)?),
        false => {
            DeviceStore::check_creatable(data).map_err(unusable)?;
            None
        }
    };
    Ok((store, data_root))
}

/// How often deadlines are checked: an eighth of the shortest timeout, within 5 to 250 ms.
fn sweep_interval(config: &Config) -> Duration {
    let shortest = [
        config.header_timeout,
        config.body_timeout,
        config.idle_timeout,
        config.send_timeout,
        config.live_heartbeat,
        LINGER_SECS,
    ]
    .into_iter()
    .min()
    .unwrap_or(LINGER_SECS);
    (shortest / 8).clamp(Duration::from_millis(5), Duration::from_millis(250))
}

/// The store's settings with the device-file cap resolved: `--max-open-devices`, or what the
/// open-files limit leaves when it is 0.
fn store_config(config: &Config) -> crate::store::StoreConfig {
    let mut store = config.store.clone();
    let nofile = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _hard)| soft);
    let derived = open_device_files(nofile, config.max_connections);
    if store.max_open_files == 0 {
        store.max_open_files = derived;
    } else if store.max_open_files > derived {
        warn!(
            "--max-open-devices {} is more than the open-files limit leaves ({derived}); \
             device writes may fail for want of descriptors",
            store.max_open_files
        );
    }
    info!("device files open at most: {}", store.max_open_files);
    store
}
