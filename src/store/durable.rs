//! `--ack fsync`: group commit through the write-ahead log, so that an acknowledged body
//! survives a power cut, with one `fdatasync` per batch however many devices it holds.
//!
//! Per batch (one per loop turn): one `write` of the batch's entries to the log, then a request
//! to the log's sync thread (`log_sync.rs`). When the sync reports, the batch's records are
//! written to their device files (from the pending buffers, where they stayed) and only then
//! acknowledged, so `GET /devices/{id}` shows every acknowledged byte, and a device file never
//! holds bytes whose log entry might not survive a power cut. Device files are not synced per
//! batch: after a power cut, recovery restores from the log what their page cache lost.
//!
//! Checkpoints keep the log short: once it holds more than `WAL_CHECKPOINT_BYTES` it is rotated
//! (`wal.rs`); once every batch of the old log reached its device files, the checkpoint thread
//! (`checkpoint.rs`) syncs the files it names and the directory, then removes it. No second
//! rotation starts before that checkpoint has finished.
use super::checkpoint::Checkpointer;
use super::log_sync::{LogSync, SyncRequest, Synced, Wake};
use super::write::{Opened, Part, Portion};
use super::{Completion, Device, DeviceId, DeviceStore};
use crate::http::error::RequestError;
use crate::limits::{ERROR_LOG_INTERVAL_SECS, WAL_CHECKPOINT_BYTES};
use log::error;
use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::time::Instant;

/// The state of `--ack fsync` (see the module docs).
pub(super) struct Fsync {
    log_sync: LogSync,
    checkpointer: Checkpointer,
    /// Batches in the log whose records are not yet in their device files, oldest first.
    logged: VecDeque<LoggedBatch>,
    /// The number of the next batch (the first is 1).
    next_batch: u64,
    /// The log file is new since its last sync: the directory is synced with it.
    dir_sync_due: bool,
    /// The devices named in the current log (for its checkpoint).
    segment: Vec<usize>,
    checkpoint: Checkpoint,
    /// Emptied batches, reused.
    spare: Vec<Vec<LoggedWrite>>,
}

struct LoggedBatch {
    number: u64,
    writes: Vec<LoggedWrite>,
}

/// A device's records in a logged batch: the `portion` of its pending records after those of
/// earlier batches, for `before` in its file.
struct LoggedWrite {
    index: usize,
    before: u64,
    portion: Portion,
    created: bool,
    /// The device's generation when logged: a failure since fails this write too.
    generation: u32,
}

enum Checkpoint {
    Idle,
    /// The log was rotated after batch `last_batch`; the checkpoint starts once every batch
    /// through it reached its device files.
    Rotated {
        last_batch: u64,
        ids: Vec<DeviceId>,
    },
    Running(Vec<DeviceId>),
    /// Tried again a while after `at`.
    Failed {
        ids: Vec<DeviceId>,
        at: Instant,
    },
}

impl Fsync {
    pub fn start(dir: PathBuf, wake: &Wake) -> io::Result<Fsync> {
        Ok(Fsync {
            log_sync: LogSync::start(std::sync::Arc::clone(wake))?,
            checkpointer: Checkpointer::start(dir, std::sync::Arc::clone(wake))?,
            logged: VecDeque::new(),
            next_batch: 1,
            dir_sync_due: false,
            segment: Vec::new(),
            checkpoint: Checkpoint::Idle,
            spare: Vec::new(),
        })
    }
}

impl Device {
    /// The pending records not yet in the log (all of them outside `--ack fsync`).
    pub(super) fn unlogged(&self) -> Portion {
        let mut portion = Portion {
            bytes: self.pending.len(),
            ends: self.pending_ends.len(),
            records: self.pending_records,
            keys: self.pending_keys.len(),
            waiters: self.waiters.len(),
        };
        portion.take(self.logged);
        portion
    }
}

impl DeviceStore {
    /// Logs the unlogged records of the devices `indices` as one batch and asks for its sync.
    pub(super) fn log_devices(&mut self, indices: &[usize], done: &mut Vec<Completion>) {
        self.rotate_if_full();
        let Some(fsync) = self.fsync.as_mut() else {
            return;
        };
        let mut writes = fsync.spare.pop().unwrap_or_default();
        for &index in indices {
            // A device may be listed twice (see `DeviceStore::dirty`): one entry per batch.
            let device = &mut self.devices[index];
            if device.unlogged().bytes == 0 || device.batched {
                continue;
            }
            device.batched = true;
            match self.open_device(index) {
                Ok(Opened {
                    before, created, ..
                }) => {
                    let device = &self.devices[index];
                    let portion = device.unlogged();
                    let from = device.logged;
                    self.wal
                        .add_append(&device.id, before, &device.pending[from.bytes..]);
                    self.wal
                        .add_keys(&device.id, &device.pending_keys[from.keys..]);
                    writes.push(LoggedWrite {
                        index,
                        before,
                        portion,
                        created,
                        generation: device.generation,
                    });
                }
                Err(e) => self.write_failed(index, &e, Part::Unlogged, done),
            }
        }
        for &index in indices {
            self.devices[index].batched = false;
        }
        let logged = self.wal.write_batch();
        // A log that is written is open; its file goes to the sync thread.
        let log = logged.and_then(|()| self.wal.file().cloned().ok_or_else(super::wal::not_open));
        let log = match log {
            Ok(log) => Some(log),
            Err(e) => {
                for write in writes.drain(..) {
                    self.write_failed(write.index, &e, Part::Unlogged, done);
                }
                None
            }
        };
        let Some(fsync) = self.fsync.as_mut() else {
            return;
        };
        let Some(log) = log.filter(|_| !writes.is_empty()) else {
            fsync.spare.push(writes);
            return;
        };
        for write in &writes {
            let device = &mut self.devices[write.index];
            let mut logged = device.logged;
            logged.bytes += write.portion.bytes;
            logged.ends += write.portion.ends;
            logged.records += write.portion.records;
            logged.keys += write.portion.keys;
            logged.waiters += write.portion.waiters;
            device.logged = logged;
            device.len = Some(write.before + write.portion.bytes as u64);
            self.unsynced += write.portion.bytes as u64;
            if !device.in_segment {
                device.in_segment = true;
                fsync.segment.push(write.index);
            }
        }
        let number = fsync.next_batch;
        fsync.next_batch += 1;
        fsync.logged.push_back(LoggedBatch { number, writes });
        let request = SyncRequest {
            batch: number,
            log,
            dir: std::mem::take(&mut fsync.dir_sync_due)
                .then(|| self.data_dir.clone())
                .flatten(),
        };
        if let Some(refused) = fsync.log_sync.request(request) {
            self.apply_synced(refused, done);
        }
    }

    /// Takes the reports of the log's sync thread and of the checkpoint thread.
    pub(super) fn collect_fsync_reports(&mut self, done: &mut Vec<Completion>) {
        while let Some(synced) = self.fsync.as_ref().and_then(|f| f.log_sync.try_done()) {
            self.apply_synced(synced, done);
        }
        self.collect_checkpoint();
    }

    /// Waits for every logged batch's sync and writes the batches (for a driver without a
    /// waker: the test harness). Nothing to do outside `--ack fsync`.
    pub fn wait_for_log_syncs(&mut self, done: &mut Vec<Completion>) {
        loop {
            let Some(fsync) = self.fsync.as_ref() else {
                return;
            };
            if fsync.logged.is_empty() {
                return;
            }
            let Some(synced) = fsync.log_sync.wait_done() else {
                return;
            };
            self.apply_synced(synced, done);
        }
    }

    /// At shutdown: waits for the log's outstanding syncs and writes their batches.
    pub(super) fn finish_fsync(&mut self, done: &mut Vec<Completion>) {
        let reports = match self.fsync.as_mut() {
            Some(fsync) => fsync.log_sync.finish(),
            None => return,
        };
        for synced in reports {
            self.apply_synced(synced, done);
        }
    }

    /// The log is durable through batch `synced.through` (or that sync failed): those batches
    /// are written to their device files and acknowledged (or fail).
    fn apply_synced(&mut self, synced: Synced, done: &mut Vec<Completion>) {
        loop {
            let Some(fsync) = self.fsync.as_mut() else {
                return;
            };
            let Some(batch) = fsync.logged.front() else {
                break;
            };
            if batch.number > synced.through {
                break;
            }
            let Some(mut batch) = fsync.logged.pop_front() else {
                break;
            };
            for write in batch.writes.drain(..) {
                self.apply_write(write, synced.result, done);
            }
            if let Some(fsync) = self.fsync.as_mut() {
                fsync.spare.push(batch.writes);
            }
        }
        self.write_journals();
        self.advance_checkpoint();
    }

    /// Writes one device's records of a durable batch (or fails them if the sync failed).
    fn apply_write(
        &mut self,
        write: LoggedWrite,
        synced: Result<(), RequestError>,
        done: &mut Vec<Completion>,
    ) {
        let device = &self.devices[write.index];
        if device.generation != write.generation {
            return;
        }
        if let Err(status) = synced {
            // In the log, maybe durable: a cut entry takes the body back for recovery.
            self.wal.add_cut(&device.id, write.before);
            let errno = match status {
                RequestError::InsufficientStorage => libc::ENOSPC,
                _ => libc::EIO,
            };
            let e = io::Error::from_raw_os_error(errno);
            self.write_failed(write.index, &e, Part::Logged, done);
            return;
        }
        self.path_scratch.push(device.id.as_str());
        let opened = self.handles.get(write.index, &self.path_scratch);
        self.path_scratch.pop();
        let written = opened.and_then(|(file, created)| {
            self.write_portion(&file, write.index, write.before, write.portion)?;
            Ok((file, created))
        });
        match written {
            Ok((file, created)) => {
                let opened = Opened {
                    index: write.index,
                    file,
                    before: write.before,
                    created: created || write.created,
                };
                self.stored(&opened, write.portion, done);
            }
            Err(e) => self.write_failed(write.index, &e, Part::Logged, done),
        }
    }

    /// Rotates the log once it is full and no checkpoint is under way (see the module docs).
    fn rotate_if_full(&mut self) {
        let Some(fsync) = self.fsync.as_mut() else {
            return;
        };
        if !matches!(fsync.checkpoint, Checkpoint::Idle) || self.wal.len() <= WAL_CHECKPOINT_BYTES {
            return;
        }
        if let Err(e) = self.wal.rotate(&self.config.dir) {
            if let Some(n) = self.write_errors.allow(Instant::now()) {
                error!("write-ahead log rotation: {e} ({n} more failed writes since)");
            }
            return;
        }
        fsync.dir_sync_due = true;
        let devices = &mut self.devices;
        let ids = fsync
            .segment
            .drain(..)
            .map(|index| {
                devices[index].in_segment = false;
                devices[index].id
            })
            .collect();
        fsync.checkpoint = Checkpoint::Rotated {
            last_batch: fsync.next_batch - 1,
            ids,
        };
        self.advance_checkpoint();
    }

    /// Starts the checkpoint of the old log once its batches are all in their device files, or
    /// tries a failed one again.
    fn advance_checkpoint(&mut self) {
        let Some(fsync) = self.fsync.as_mut() else {
            return;
        };
        let oldest = fsync.logged.front().map(|b| b.number);
        let ready = match &fsync.checkpoint {
            Checkpoint::Rotated { last_batch, .. } => oldest.map_or(true, |n| n > *last_batch),
            Checkpoint::Failed { at, .. } => at.elapsed() >= ERROR_LOG_INTERVAL_SECS,
            Checkpoint::Idle | Checkpoint::Running(_) => false,
        };
        if !ready {
            return;
        }
        let ids = match std::mem::replace(&mut fsync.checkpoint, Checkpoint::Idle) {
            Checkpoint::Rotated { ids, .. } | Checkpoint::Failed { ids, .. } => ids,
            Checkpoint::Idle | Checkpoint::Running(_) => return,
        };
        fsync.checkpointer.submit(ids.clone());
        fsync.checkpoint = Checkpoint::Running(ids);
    }

    fn collect_checkpoint(&mut self) {
        let Some(fsync) = self.fsync.as_mut() else {
            return;
        };
        while let Some(result) = fsync.checkpointer.try_done() {
            let ids = match std::mem::replace(&mut fsync.checkpoint, Checkpoint::Idle) {
                Checkpoint::Running(ids) => ids,
                _ => Vec::new(),
            };
            if let Err(e) = result {
                if let Some(n) = self.write_errors.allow(Instant::now()) {
                    error!("write-ahead log checkpoint: {e} ({n} more failed writes since)");
                }
                fsync.checkpoint = Checkpoint::Failed {
                    ids,
                    at: Instant::now(),
                };
            }
        }
        self.advance_checkpoint();
    }
}
