//! Opening the store: at start if the data directory exists, else at the first record
//! ([`DeviceStore::open_lazily`]), so serving files leaves no empty data directory behind. The
//! opening repairs the files from the write-ahead log before anything reads them.
use super::counter::{CountJob, Counter};
use super::handles::Handles;
use super::{
    durable, index, keys, recovery, registry, wal, watch, AckMode, DeviceStore, StoreConfig,
};
use crate::limits::MIN_OPEN_DEVICE_FILES;
use log::warn;
use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

impl DeviceStore {
    /// Creates the data directory if missing, rebuilds the registry from it, and starts the sync
    /// threads for `--ack fsync` (`wake` is called from them when syncs finish).
    pub fn open(config: StoreConfig, wake: Box<dyn Fn() + Send + Sync>) -> io::Result<DeviceStore> {
        let mut store = DeviceStore::closed(config, wake);
        store.open_disk()?;
        Ok(store)
    }

    /// [`open`](Self::open) if the data directory exists; otherwise a store with no device that
    /// creates the directory when [`open_disk`](Self::open_disk) is called (at the first
    /// record), so serving files leaves no empty data directory behind.
    pub fn open_lazily(
        config: StoreConfig,
        wake: Box<dyn Fn() + Send + Sync>,
    ) -> io::Result<DeviceStore> {
        if config.dir.exists() {
            return DeviceStore::open(config, wake);
        }
        let mut store = DeviceStore::closed(config, wake);
        store.refresh_free_space();
        Ok(store)
    }

    /// A store with nothing on disk yet.
    fn closed(config: StoreConfig, wake: Box<dyn Fn() + Send + Sync>) -> DeviceStore {
        DeviceStore {
            devices: Vec::new(),
            by_id: index::IdIndex::default(),
            dirty: Vec::new(),
            round: Vec::new(),
            flushing: VecDeque::new(),
            handles: Handles::new(match config.max_open_files {
                0 => MIN_OPEN_DEVICE_FILES,
                n => n,
            }),
            unsynced: 0,
            free_bytes: None,
            last_buffer_flush: Instant::now(),
            fsync: None,
            counter: None,
            wake: Arc::from(wake),
            path_scratch: config.dir.clone(),
            data_dir: None,
            wal: wal::Wal::closed(),
            keys: keys::Keys::closed(),
            watch: watch::Watch::none(),
            failing: false,
            write_errors: crate::observe::throttle::Throttle::new(
                crate::limits::ERROR_LOG_INTERVAL_SECS,
            ),
            batch: Vec::new(),
            changed: Vec::new(),
            publishing: false,
            published: Vec::new(),
            published_bytes: Vec::new(),
            config,
        }
    }

    /// Whether the data directory is open (it exists, was repaired and is watched).
    pub fn is_open(&self) -> bool {
        self.data_dir.is_some()
    }

    /// Creates the data directory if missing (its name synced into its parent), repairs every
    /// device file from the write-ahead log, opens the log and the keys journal, starts the
    /// `--ack fsync` threads, and rebuilds the registry from the files. Once; a store with
    /// devices never opens again.
    pub fn open_disk(&mut self) -> io::Result<()> {
        if self.is_open() {
            return Ok(());
        }
        let dir = self.config.dir.clone();
        if !dir.exists() {
            std::fs::create_dir_all(&dir)?;
            // Its name in its parent survives a power cut.
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::File::open(parent)?.sync_all()?;
            }
        }
        // Before anything else reads the files: every device file becomes whole bodies again.
        let recovered = recovery::recover(&dir)?;
        let now_secs = SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let keys = keys::Keys::open(&dir, &recovered.keys, now_secs)?;
        recovery::empty_log(&dir)?;
        for repair in recovered.repairs {
            let kept = repair.kept.as_ref().map(|p| p.display().to_string());
            warn!(
                "{}: repaired after a crash: {} bytes restored from the write-ahead log, {} bytes \
                 past the last whole body cut off{}",
                repair.id,
                repair.restored,
                repair.cut,
                kept.map_or(String::new(), |p| format!(" (kept in {p})"))
            );
        }
        let fsync = match self.config.ack {
            AckMode::Fsync => Some(durable::Fsync::start(dir.clone(), &self.wake)?),
            _ => None,
        };
        let wal = wal::Wal::open(&dir)?;
        // The log's name (and the old log's removal) survive a power cut.
        std::fs::File::open(&dir)?.sync_all()?;
        let data_dir = Arc::new(std::fs::File::open(&dir)?);
        let mut to_count = Vec::new();
        let found = registry::scan(&dir)?;
        // Nothing fails from here on: the store is open.
        (self.keys, self.wal, self.fsync) = (keys, wal, fsync);
        self.watch = watch::Watch::new(&dir);
        self.data_dir = Some(data_dir);
        for (id, stats) in found {
            let index = self.device_index(id);
            if stats.counting {
                to_count.push(CountJob {
                    device: index,
                    id,
                    len: stats.bytes,
                });
            }
            self.devices[index].len = Some(stats.bytes);
            self.devices[index].stats = stats;
        }
        if !to_count.is_empty() {
            // Small files first: most devices get their counts at once, a huge file comes last.
            to_count.sort_unstable_by_key(|job| job.len);
            let wake = Arc::clone(&self.wake);
            self.counter = Some(Counter::start(dir, to_count, wake)?);
        }
        self.refresh_free_space();
        Ok(())
    }

    /// Checks, at start, that the data directory could be made (when it does not exist yet):
    /// makes it and every missing folder above it, then removes what it made. An error names
    /// the reason, as a failed start would.
    pub fn check_creatable(dir: &Path) -> io::Result<()> {
        let mut missing = Vec::new();
        let mut at = dir;
        while !at.exists() {
            missing.push(at.to_path_buf());
            match at.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => at = parent,
                _ => break,
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let made = std::fs::create_dir_all(dir);
        for folder in &missing {
            let _ = std::fs::remove_dir(folder);
        }
        made
    }
}
