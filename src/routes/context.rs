//! State shared by every connection on the reactor thread: configuration, the served site, the
//! device store and live hub, the clock of the current loop turn, what writing a reply needs,
//! and the access log. Owned by the reactor; lent by `&mut` to the connection and the routes.
use crate::config::Config;
use crate::files::site::{Show, Site};
use crate::files::Root;
use crate::http::reply::ReplyKit;
use crate::limits::{READ_SCRATCH_BYTES, REFUSAL_LOG_INTERVAL_SECS};
use crate::live::LiveHub;
use crate::observe::access_log::AccessLog;
use crate::observe::throttle::PerKey;
use crate::store::{Completion, DeviceStore, Framing};
use crate::values::Values;
use std::time::{Instant, SystemTime};

/// See the module docs.
pub struct Context {
    pub config: Config,
    /// ROOT, served as static files.
    pub site: Site,
    /// The data directory, for reading device files back.
    pub data_root: Root,
    /// The folder behind `/files/` (`--directory`, default ROOT).
    pub files_root: Root,
    pub store: DeviceStore,
    /// Each device's readings, from the records the store wrote.
    pub values: Values,
    /// Commits completed during this turn, delivered to their connections by the reactor.
    pub completions: Vec<Completion>,
    /// The `Date` value, gzip state and page buffer every reply is written with.
    pub reply: ReplyKit,
    /// Monotonic time at the start of this loop turn (timeouts use it; no syscall per request).
    pub now: Instant,
    /// Wall-clock time at the start of this loop turn.
    pub wall: SystemTime,
    /// Number of the current loop turn (caches revalidate once per turn).
    pub turn: u64,
    /// Every socket read lands here first; connections keep only the bytes they still need.
    pub read_scratch: Box<[u8]>,
    pub access_log: Option<AccessLog>,
    /// Shutting down: every response closes its connection.
    pub draining: bool,
    /// Live-view subscribers.
    pub live: LiveHub,
    /// Connections open now (kept by the reactor, read by `/metrics`).
    pub connections_open: usize,
    /// Registers CGI pipes with the reactor.
    pub registry: mio::Registry,
    /// CGI scripts running now (each `CgiRun` holds a slot).
    pub cgi_running: std::rc::Rc<std::cell::Cell<usize>>,
    /// Host names refused with 421, for one log line per name per interval.
    pub refused_hosts: PerKey<Vec<u8>>,
    /// Bytes held by request body buffers of all connections (`--max-body-memory`).
    pub body_memory: usize,
}

/// The directories a [`Context`] serves: ROOT, the data directory and `--directory`.
pub struct Roots {
    pub root: Root,
    pub data: Root,
    pub files: Root,
}

impl Context {
    /// A context at the current time.
    pub fn new(
        config: Config,
        roots: Roots,
        mut store: DeviceStore,
        access_log: Option<AccessLog>,
        registry: mio::Registry,
    ) -> Self {
        let mut values = Values::new(config.values);
        store.set_publishing(config.values.max_series > 0);
        if config.values.max_series > 0 {
            let started = Instant::now();
            let covered = values.restore(store.dir());
            // Raw records have no boundaries to find in a file.
            let records = if config.store.format.framing == Framing::Lines {
                let ids = store.devices().map(|(id, _)| *id);
                values.rebuild(store.dir(), ids, &covered)
            } else {
                0
            };
            if records > 0 || !covered.is_empty() {
                log::info!(
                    "readings: {} fields of {} devices, {} from the snapshot, {records} records \
                     read, in {} ms",
                    values.series(),
                    values.devices().count(),
                    covered.len(),
                    started.elapsed().as_millis()
                );
            }
        }
        Context {
            values,
            site: {
                // DATA inside ROOT is neither served nor listed there (devices have /devices/).
                let private = roots.root.private(&roots.data);
                let show = Show {
                    listing: config.listing,
                    hidden: config.hidden,
                    // Only where a listing's folder is also the upload's folder.
                    uploads: config.upload && roots.files.path() == roots.root.path(),
                };
                Site::new(roots.root, show, private)
            },
            config,
            data_root: roots.data,
            files_root: roots.files,
            store,
            completions: Vec::new(),
            reply: ReplyKit::default(),
            now: Instant::now(),
            wall: SystemTime::now(),
            turn: 0,
            read_scratch: vec![0; READ_SCRATCH_BYTES].into_boxed_slice(),
            access_log,
            draining: false,
            live: LiveHub::default(),
            connections_open: 0,
            registry,
            cgi_running: Default::default(),
            refused_hosts: PerKey::new(REFUSAL_LOG_INTERVAL_SECS),
            body_memory: 0,
        }
    }

    /// Advances the loop-turn clock.
    pub fn tick(&mut self) {
        self.now = Instant::now();
        self.turn += 1;
        self.wall = SystemTime::now();
        self.reply.date.update(self.wall);
    }
}
