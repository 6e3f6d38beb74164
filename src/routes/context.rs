//! State shared by every connection on the reactor thread: configuration, the served root, the
//! clock of the current loop turn, scratch buffers and the access log.
use crate::config::Config;
use crate::files::{Root, Scratch};
use crate::http::date::DateCache;
use crate::limits::READ_SCRATCH_BYTES;
use crate::live::LiveHub;
use crate::observe::access_log::AccessLog;
use crate::store::{Completion, DeviceStore};
use std::time::{Instant, SystemTime};

/// Passed by `&mut` to connection and route code; owned by the server.
pub struct Context {
    pub config: Config,
    pub root: Root,
    /// The data directory, for reading device files back.
    pub data_root: Root,
    pub store: DeviceStore,
    /// Commits completed during this turn, delivered to their connections by the reactor.
    pub completions: Vec<Completion>,
    /// The `Date` value, refreshed once per loop turn.
    pub date: DateCache,
    /// Monotonic time at the start of this loop turn (timeouts use it; no syscall per request).
    pub now: Instant,
    /// Wall-clock time at the start of this loop turn.
    pub wall: SystemTime,
    /// Number of the current loop turn (caches revalidate once per turn).
    pub turn: u64,
    /// Reused while resolving paths.
    pub scratch: Scratch,
    /// Reused for generated pages whose length must be known before the head is written.
    pub page: Vec<u8>,
    /// Every socket read lands here first; connections keep only the bytes they still need.
    pub read_scratch: Box<[u8]>,
    /// The folder behind `/files/` (`--directory`, default ROOT).
    pub files_root: Root,
    /// Recently resolved static files.
    pub file_cache: crate::files::cache::FileCache,
    /// Reused gzip state and output for generated bodies.
    pub gzip: crate::http::gzip::Gzip,
    pub gzip_out: Vec<u8>,
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
}

impl Context {
    /// A context at the current time.
    pub fn new(
        config: Config,
        root: Root,
        store: DeviceStore,
        data_root: Root,
        files_root: Root,
        access_log: Option<AccessLog>,
        registry: mio::Registry,
    ) -> Self {
        Context {
            config,
            root,
            data_root,
            store,
            completions: Vec::new(),
            date: DateCache::new(),
            now: Instant::now(),
            wall: SystemTime::now(),
            turn: 0,
            scratch: Scratch::default(),
            page: Vec::new(),
            read_scratch: vec![0; READ_SCRATCH_BYTES].into_boxed_slice(),
            files_root,
            gzip: Default::default(),
            file_cache: Default::default(),
            gzip_out: Vec::new(),
            access_log,
            draining: false,
            live: LiveHub::default(),
            connections_open: 0,
            registry,
            cgi_running: Default::default(),
        }
    }

    /// Advances the loop-turn clock.
    pub fn tick(&mut self) {
        self.now = Instant::now();
        self.turn += 1;
        self.wall = SystemTime::now();
        self.date.update(self.wall);
    }
}
