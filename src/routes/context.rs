//! State shared by every connection on the reactor thread: configuration, the served site, the
//! device store and live hub, the clock of the current loop turn, what writing a reply needs,
//! and the access log. Owned by the reactor; lent by `&mut` to the connection and the routes.
use crate::config::Config;
use crate::files::site::{Show, Site};
use crate::files::Root;
use crate::http::error::RequestError;
use crate::http::reply::ReplyKit;
use crate::limits::{READ_SCRATCH_BYTES, REFUSAL_LOG_INTERVAL_SECS, SENDFILE_CHUNK_BYTES};
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
    /// The data directory, for reading device files back; `None` until it exists (it is created
    /// at the first record, [`Context::open_store`]).
    pub data_root: Option<Root>,
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
    /// With `--no-sendfile`, file bytes pass through here on their way to a socket (empty
    /// otherwise).
    pub file_copy: Box<[u8]>,
    pub access_log: Option<AccessLog>,
    /// Shutting down: every response closes its connection.
    pub draining: bool,
    /// Live-view subscribers.
    pub live: LiveHub,
    /// Connections open now (kept by the reactor, read by `/metrics`).
    pub connections_open: usize,
    /// Registers CGI pipes (and the data directory's watch) with the reactor.
    pub registry: mio::Registry,
    /// The token of the data directory's watch.
    data_watch: mio::Token,
    /// CGI scripts running now (each `CgiRun` holds a slot).
    pub cgi_running: std::rc::Rc<std::cell::Cell<usize>>,
    /// Host names refused with 421, for one log line per name per interval.
    pub refused_hosts: PerKey<Vec<u8>>,
    /// Bytes held by request body buffers of all connections (`--max-body-memory`).
    pub body_memory: usize,
}

/// The directories a [`Context`] serves: ROOT, the data directory (if it exists yet) and
/// `--directory`.
pub struct Roots {
    pub root: Root,
    pub data: Option<Root>,
    pub files: Root,
}

impl Context {
    /// A context at the current time.
    pub fn new(
        config: Config,
        roots: Roots,
        mut store: DeviceStore,
        access_log: Option<AccessLog>,
        (registry, data_watch): (mio::Registry, mio::Token),
    ) -> Self {
        let mut values = Values::new(config.values);
        store.set_publishing(config.values.max_series > 0);
        if config.values.max_series > 0 && store.is_open() {
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
        let file_copy = match config.sendfile {
            true => Box::default(),
            false => vec![0; SENDFILE_CHUNK_BYTES].into_boxed_slice(),
        };
        Context {
            values,
            site: {
                // DATA inside ROOT is neither served nor listed there (devices have /devices/).
                let private = roots.data.as_ref().and_then(|d| roots.root.private(d));
                let show = Show {
                    listing: config.listing,
                    hidden: config.hidden,
                    // Only where a listing's folder is also the upload's folder.
                    uploads: config.upload && roots.files.path() == roots.root.path(),
                    cgi: config.cgi,
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
            file_copy,
            access_log,
            draining: false,
            live: LiveHub::default(),
            connections_open: 0,
            registry,
            data_watch,
            cgi_running: Default::default(),
            refused_hosts: PerKey::new(REFUSAL_LOG_INTERVAL_SECS),
            body_memory: 0,
        }
    }

    /// Opens the store's data directory before its first record: creates it, watches it, and
    /// hides it from ROOT's listings if it lies inside ROOT. Nothing to do once open. A failure
    /// is 507 for a full disk, else 500, and the next record tries again.
    pub fn open_store(&mut self) -> Result<(), RequestError> {
        if self.data_root.is_some() {
            return Ok(());
        }
        let dir = self.store.dir().to_path_buf();
        let fail = |e: std::io::Error| {
            log::error!("cannot create the data directory {}: {e}", dir.display());
            match e.raw_os_error() {
                Some(libc::ENOSPC) | Some(libc::EDQUOT) => RequestError::InsufficientStorage,
                _ => RequestError::Internal,
            }
        };
        // On the reactor thread: no request runs between its creation and its hiding.
        self.store.open_disk().map_err(fail)?;
        let data = Root::open(&dir).map_err(fail)?;
        self.site.set_private(self.site.root.private(&data));
        self.data_root = Some(data);
        if let Some(fd) = self.store.watch_fd() {
            let source = &mut mio::unix::SourceFd(&fd);
            if let Err(e) = self
                .registry
                .register(source, self.data_watch, mio::Interest::READABLE)
            {
                log::warn!("cannot watch the data directory: {e}");
            }
        }
        log::info!(
            "created the data directory {} for the first record",
            dir.display()
        );
        Ok(())
    }

    /// Advances the loop-turn clock.
    pub fn tick(&mut self) {
        self.now = Instant::now();
        self.turn += 1;
        self.wall = SystemTime::now();
        self.reply.date.update(self.wall);
    }
}
