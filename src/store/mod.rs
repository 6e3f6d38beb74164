//! The device store: one append-only file per device in the data directory, written with group
//! commit, and the registry of what each device sent (behind the dashboard).
//!
//! Contract with the reactor (which drives it; the store knows nothing of connections):
//! - [`DeviceStore::append`] takes a whole body (never a partial one) and either acknowledges it
//!   at once (`--ack buffer`) or registers a [`Waiter`].
//! - At the end of each loop turn the reactor calls [`DeviceStore::commit`]: every device with
//!   pending records is written with one `write` (group commit). In `--ack write` mode the
//!   waiters are completed right there; in `--ack fsync` mode the batch goes to the write-ahead
//!   log, and its records reach their files and complete when [`DeviceStore::collect_reports`]
//!   reports the log's sync (`durable.rs`).
//! - In `--ack buffer` mode a commit writes only once the flush interval is due, and then at most
//!   [`BUFFER_FLUSH_DEVICES_PER_TURN`] devices (and about [`BUFFER_FLUSH_BYTES_PER_TURN`] bytes)
//!   per turn: a flush round over more devices goes on in the next turns, and
//!   [`DeviceStore::has_uncommitted`] tells the reactor not to sleep until it is done, so one
//!   flush of many devices never holds the loop for long.
//! - The registry is rebuilt at open from one `stat` per file; the records already in the files
//!   are counted by a background thread, reported through [`DeviceStore::collect_reports`].
//! - A failed write is truncated back so that no partial record stays in the file, and every
//!   waiter of that write gets 507 (no space) or 500.
mod checkpoint;
mod counter;
mod durable;
mod handles;
pub mod id;
mod index;
mod keys;
mod log_sync;
mod open;
pub mod record;
mod recovery;
mod registry;
mod wal;
mod watch;
mod write;

pub use id::DeviceId;
pub use keys::parse_key;
pub use record::{Framing, RecordFormat};
pub use registry::{epoch_minute, DeviceStats};

use crate::http::error::RequestError;
use crate::limits::{
    BUFFER_FLUSH_BYTES_PER_TURN, BUFFER_FLUSH_DEVICES_PER_TURN, BUFFER_FLUSH_INTERVAL_SECS,
};
use counter::Counter;
use handles::Handles;
use log::{error, warn};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// When a POST is acknowledged (README.md, "Device ingestion").
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AckMode {
    /// After the body was written to the device file with `write(2)`.
    Write,
    /// After that write was also `fdatasync`ed.
    Fsync,
    /// As soon as the body is in memory; written at least once a second and at shutdown.
    Buffer,
}

/// Settings of the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub dir: PathBuf,
    pub ack: AckMode,
    pub format: RecordFormat,
    /// Acknowledged-but-not-durable bytes beyond which new bodies get 503.
    pub max_pending: u64,
    /// Free space on the data disk below which new bodies get 503.
    pub min_free: u64,
    /// Most device files open at once (`--max-open-devices`); 0 for [`MIN_OPEN_DEVICE_FILES`].
    /// The server replaces 0 with a cap derived from the descriptor limit before opening.
    pub max_open_files: usize,
}

/// Identifies a connection waiting for its record to be committed: its slab key and its unique
/// connection number (the key alone could be reused by a later connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiter {
    pub key: usize,
    pub conn: u64,
}

/// A commit outcome for one waiter.
pub type Completion = (Waiter, Result<(), RequestError>);

/// What `append` did with a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Acknowledged now (`--ack buffer`).
    Acknowledged,
    /// Its `Idempotency-Key` was stored by the device already: acknowledged again, not stored.
    Duplicate,
    /// Completes at a later commit.
    Waiting,
}

struct Device {
    id: DeviceId,
    /// Records not yet written to the file.
    pending: Vec<u8>,
    pending_records: u64,
    /// End of each pending record within `pending` (for publishing records one by one).
    pending_ends: Vec<usize>,
    /// The `Idempotency-Key` values of the pending bodies.
    pending_keys: Vec<Box<str>>,
    waiters: Vec<Waiter>,
    /// Has records to write, and is listed in `DeviceStore::dirty` or `DeviceStore::flushing`.
    dirty: bool,
    /// Its file was checked not to be a symlink in this run.
    checked: bool,
    /// In the batch being written (`write.rs`).
    batched: bool,
    /// Length of the file as written by us (`--ack fsync`: and logged to be written).
    len: Option<u64>,
    /// `--ack fsync`: the first records of `pending`, in the log, not yet in the file.
    logged: write::Portion,
    /// Bumped when its logged records fail: their queued writes are skipped.
    generation: u32,
    /// `--ack fsync`: named in the current log (`Fsync::segment`).
    in_segment: bool,
    stats: DeviceStats,
}

/// The store; owned by the reactor's context.
pub struct DeviceStore {
    config: StoreConfig,
    devices: Vec<Device>,
    by_id: index::IdIndex,
    /// Devices with pending records. An entry whose device is no longer dirty (written early by
    /// `flush_device`) is stale and skipped, so a device may be listed more than once.
    dirty: Vec<usize>,
    /// `--ack buffer`: the devices written in this turn of a flush round (reused).
    round: Vec<usize>,
    /// `--ack buffer`: the devices of the flush round under way (the dirty ones when it began),
    /// written at most `BUFFER_FLUSH_DEVICES_PER_TURN` per turn. Stale entries as in `dirty`.
    flushing: VecDeque<usize>,
    handles: Handles,
    /// Acknowledged bytes that are not yet durable under the ack mode (buffer: in memory only;
    /// fsync: written, not yet synced; write: always 0 after a commit).
    unsynced: u64,
    free_bytes: Option<u64>,
    last_buffer_flush: Instant,
    /// `--ack fsync`: the log's sync thread, the batches it has not covered yet, checkpoints.
    fsync: Option<durable::Fsync>,
    /// Counts the records of the files found at start (until it has reported them all).
    counter: Option<Counter>,
    /// Wakes the reactor. Kept here so that it lives as long as the store: the last owner of the
    /// reactor's waker closes its descriptor, and a thread that ends (the counter) must not be
    /// it, or a wake it just sent is lost with the descriptor.
    wake: log_sync::Wake,
    path_scratch: PathBuf,
    /// The data directory, synced with a new log file (`--ack fsync`); `None` until opened.
    data_dir: Option<Arc<std::fs::File>>,
    /// The write-ahead log every batch goes through before the device files.
    wal: wal::Wal,
    /// The `Idempotency-Key` values each device stored.
    keys: keys::Keys,
    /// Device files changed by other programs.
    watch: watch::Watch,
    /// The last device write failed (and none succeeded since): `/healthz` says 503.
    failing: bool,
    /// One log line per interval for failed writes.
    write_errors: crate::observe::throttle::Throttle,
    /// The devices of the batch being written (reused).
    batch: Vec<write::Opened>,
    /// Changes the watch reported (reused).
    changed: Vec<(DeviceId, watch::Change)>,
    /// Keep a copy of every record written, for live subscribers (set by the reactor).
    publishing: bool,
    published: Vec<Published>,
    published_bytes: Vec<u8>,
}

/// A record that reached its device file during this turn.
#[derive(Debug, Clone)]
struct Published {
    device: DeviceId,
    /// Byte offset in the device file just past the record.
    end: u64,
    bytes: std::ops::Range<usize>,
}

impl DeviceStore {
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }

    /// How bodies become records.
    pub fn format(&self) -> RecordFormat {
        self.config.format
    }

    pub fn ack_mode(&self) -> AckMode {
        self.config.ack
    }

    /// Whether a new body may be accepted now: `Overloaded` while too much acknowledged data is
    /// not yet durable or the data disk is nearly full.
    pub fn admit(&self) -> Result<(), RequestError> {
        if self.unsynced > self.config.max_pending {
            return Err(RequestError::Overloaded);
        }
        if self
            .free_bytes
            .is_some_and(|free| free < self.config.min_free)
        {
            return Err(RequestError::Overloaded);
        }
        Ok(())
    }

    /// Appends the records of one whole body to `id`, received from `peer` at `now`. A body
    /// that holds no record (with lines framing: no non-empty line) is refused with
    /// `NoRecord` and leaves no trace, not even the device. A body whose `key` the device
    /// stored already is a `Duplicate` and stores nothing; one whose key is in a body still
    /// being committed completes with that body.
    pub fn append(
        &mut self,
        id: DeviceId,
        (body, key): (&[u8], Option<Box<str>>),
        peer: IpAddr,
        now: SystemTime,
        waiter: Waiter,
    ) -> Result<Appended, RequestError> {
        let format = self.config.format;
        if !format.has_record(body) {
            return Err(RequestError::NoRecord);
        }
        if !self.is_open() {
            // The owner opens the data directory before the first record (`open_disk`).
            error!("a record for {id} before the data directory was opened");
            return Err(RequestError::Internal);
        }
        // One lookup of the device: it is hashed on every POST.
        let known = self.by_id.get(&self.devices, &id);
        if let Some(key) = &key {
            if self.keys.contains(&id, key) {
                return Ok(Appended::Duplicate);
            }
            if known.is_some_and(|i| self.devices[i].pending_keys.contains(key)) {
                return Ok(self.wait_for_commit(id, waiter));
            }
        }
        if !known.is_some_and(|i| self.devices[i].checked) {
            self.refuse_symlink(&id)?;
        }
        let index = match known {
            Some(index) => index,
            None => self.device_index(id),
        };
        let device = &mut self.devices[index];
        device.checked = true;
        if !device.dirty {
            device.dirty = true;
            self.dirty.push(index);
        }
        let before = device.pending.len();
        let records = format.append(&mut device.pending, &mut device.pending_ends, body, now);
        device.pending_keys.extend(key);
        device.pending_records += records;
        let record_len = (device.pending.len() - before) as u64;
        device.stats.seen(peer, now);
        Ok(match self.config.ack {
            AckMode::Buffer => {
                device.stats.stored(records, record_len, now);
                self.unsynced += record_len;
                Appended::Acknowledged
            }
            AckMode::Write | AckMode::Fsync => {
                device.waiters.push(waiter);
                Appended::Waiting
            }
        })
    }

    /// The commit point: writes pending records (one `write` per device) and reports the
    /// waiters that are complete. In buffer mode, writes only once per flush interval, and then
    /// a bounded part of the round per call (see [`BUFFER_FLUSH_DEVICES_PER_TURN`]).
    pub fn commit(&mut self, now: Instant, done: &mut Vec<Completion>) {
        if self.config.ack == AckMode::Buffer {
            self.flush_round(now, done);
        } else if !self.dirty.is_empty() {
            self.write_dirty(done);
        }
    }

    /// `--ack buffer`: starts a flush round when the interval is due and none is under way,
    /// then writes the next devices of the round, up to the per-turn limits. Devices that become
    /// dirty during a round wait for the next one, so a round ends however fast bodies arrive.
    fn flush_round(&mut self, now: Instant, done: &mut Vec<Completion>) {
        if self.flushing.is_empty() {
            if self.dirty.is_empty()
                || now.duration_since(self.last_buffer_flush) < BUFFER_FLUSH_INTERVAL_SECS
            {
                return;
            }
            self.last_buffer_flush = now;
            self.flushing = VecDeque::from(std::mem::take(&mut self.dirty));
        }
        let mut round = std::mem::take(&mut self.round);
        round.clear();
        let mut bytes = 0;
        while round.len() < BUFFER_FLUSH_DEVICES_PER_TURN && bytes < BUFFER_FLUSH_BYTES_PER_TURN {
            let Some(index) = self.flushing.pop_front() else {
                break;
            };
            if !self.devices[index].dirty {
                continue;
            }
            bytes += self.devices[index].pending.len();
            round.push(index);
        }
        self.write_devices(&round, done);
        for &index in &round {
            let device = &mut self.devices[index];
            device.dirty = device.unlogged().bytes > 0;
            if device.dirty {
                // The write failed: keep the records and try again in the next round.
                self.dirty.push(index);
            }
        }
        self.round = round;
    }

    /// Writes every dirty device; those whose write failed in buffer mode stay dirty.
    fn write_dirty(&mut self, done: &mut Vec<Completion>) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.retain(|&index| self.devices[index].dirty);
        self.write_devices(&dirty, done);
        dirty.retain(|&index| {
            let device = &mut self.devices[index];
            device.dirty = device.unlogged().bytes > 0;
            device.dirty
        });
        self.dirty = dirty;
    }

    /// Takes what the background threads reported (the waker's event): syncs that finished
    /// (`--ack fsync`), completing their waiters, and records counted in the files found at start.
    pub fn collect_reports(&mut self, done: &mut Vec<Completion>) {
        self.collect_fsync_reports(done);
        while let Some(counter) = &mut self.counter {
            match counter.try_done() {
                counter::Poll::Counted(counted) => {
                    let stats = &mut self.devices[counted.device].stats;
                    // A file that cannot be read keeps the records counted since start.
                    stats.records += counted.lines.unwrap_or(0);
                    stats.counting = false;
                }
                counter::Poll::Pending => break,
                counter::Poll::Finished => {
                    self.counter = None;
                    // Only if the thread was lost before it reported every file.
                    for device in &mut self.devices {
                        device.stats.counting = false;
                    }
                }
            }
        }
    }

    /// A retry of a body still being committed: it completes with that body (at once in
    /// `--ack buffer`, which acknowledged it already).
    fn wait_for_commit(&mut self, id: DeviceId, waiter: Waiter) -> Appended {
        match self.config.ack {
            AckMode::Buffer => Appended::Acknowledged,
            AckMode::Write | AckMode::Fsync => {
                let index = self.device_index(id);
                self.devices[index].waiters.push(waiter);
                Appended::Waiting
            }
        }
    }

    /// Whether records of the files found at start are still being counted.
    pub fn counting(&self) -> bool {
        self.counter.is_some()
    }

    /// Writes the pending records of `id` now, so a read sees every acknowledged byte
    /// (read-your-writes in buffer mode). Waiters complete through `done`.
    /// Its entry in `dirty` or `flushing` is left there, stale (listed devices can number
    /// 100,000 in buffer mode; a GET should not search them).
    pub fn flush_device(&mut self, id: &DeviceId, done: &mut Vec<Completion>) {
        if let Some(index) = self.by_id.get(&self.devices, id) {
            if self.devices[index].dirty {
                self.write_devices(&[index], done);
                let device = &mut self.devices[index];
                device.dirty = device.unlogged().bytes > 0;
            }
        }
    }

    /// At shutdown: writes everything pending (a flush round under way included) and waits for
    /// outstanding syncs.
    pub fn shutdown(&mut self, done: &mut Vec<Completion>) {
        let mut all: Vec<usize> = self.flushing.drain(..).collect();
        all.append(&mut self.dirty);
        self.dirty = all;
        self.write_dirty(done);
        self.finish_fsync(done);
    }

    /// Whether written records are kept for [`DeviceStore::published`] (only worth it while
    /// someone watches).
    pub fn set_publishing(&mut self, on: bool) {
        self.publishing = on;
    }

    /// Records written since the last [`DeviceStore::clear_published`]: device, offset just past
    /// the record, and the record's bytes.
    pub fn published(&self) -> impl Iterator<Item = (DeviceId, u64, &[u8])> {
        self.published
            .iter()
            .map(|p| (p.device, p.end, &self.published_bytes[p.bytes.clone()]))
    }

    pub fn clear_published(&mut self) {
        self.published.clear();
        self.published_bytes.clear();
    }

    /// Every known device and its statistics, in no particular order.
    pub fn devices(&self) -> impl Iterator<Item = (&DeviceId, &DeviceStats)> {
        self.devices.iter().map(|d| (&d.id, &d.stats))
    }

    /// Statistics of one device.
    pub fn stats(&self, id: &DeviceId) -> Option<&DeviceStats> {
        self.by_id
            .get(&self.devices, id)
            .map(|i| &self.devices[i].stats)
    }

    /// True when records wait for a commit that should happen without delay (write and fsync
    /// modes, or a buffer flush round under way); the reactor then polls without sleeping.
    pub fn has_uncommitted(&self) -> bool {
        match self.config.ack {
            AckMode::Buffer => !self.flushing.is_empty(),
            AckMode::Write | AckMode::Fsync => !self.dirty.is_empty(),
        }
    }

    /// Whether device writes are failing now (the last one failed, none succeeded since).
    pub fn writes_failing(&self) -> bool {
        self.failing
    }

    /// Device files open now (at most [`DeviceStore::max_open_files`]).
    pub fn open_files(&self) -> usize {
        self.handles.open_count()
    }

    /// Most device files open at once.
    pub fn max_open_files(&self) -> usize {
        self.handles.capacity()
    }

    /// Acknowledged bytes not yet durable under the ack mode.
    pub fn unsynced_bytes(&self) -> u64 {
        self.unsynced
    }

    /// Re-reads the free space of the data disk (call about once a second, not per request).
    pub fn refresh_free_space(&mut self) {
        // Before the data directory exists: the disk it will be made on.
        let mut dir = self.config.dir.as_path();
        while !self.is_open() && !dir.exists() {
            match dir.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => dir = parent,
                _ => {
                    dir = Path::new(".");
                    break;
                }
            }
        }
        self.free_bytes = match nix::sys::statvfs::statvfs(dir) {
            Ok(st) => Some(st.blocks_available().saturating_mul(st.fragment_size())),
            Err(e) => {
                warn!("statvfs {}: {e}", dir.display());
                None
            }
        };
    }

    fn device_index(&mut self, id: DeviceId) -> usize {
        if let Some(index) = self.by_id.get(&self.devices, &id) {
            return index;
        }
        let index = self.devices.len();
        self.devices.push(Device {
            id,
            pending: Vec::new(),
            pending_records: 0,
            pending_ends: Vec::new(),
            pending_keys: Vec::new(),
            waiters: Vec::new(),
            dirty: false,
            checked: false,
            batched: false,
            len: None,
            logged: write::Portion::default(),
            generation: 0,
            in_segment: false,
            stats: DeviceStats::default(),
        });
        self.by_id.insert(&self.devices, &id, index);
        index
    }
}
#[cfg(test)]
mod tests;
