//! Writing devices' pending records (group commit).
//!
//! In `--ack write` and `--ack buffer`, a batch is written in one turn: first one `write` of an
//! entry per device to the write-ahead log (`wal.rs`), then one `write` per device file, each cut
//! back if it fails so that no partial record stays (and a *cut* entry logged). Then the waiters
//! are completed (`--ack write`) or nothing more is needed (`--ack buffer`, already
//! acknowledged). In `--ack fsync` the device files are written only once the log is durable
//! (`durable.rs`), through the same [`DeviceStore::write_portion`] and [`DeviceStore::stored`].
//! Records that reached their file are kept for live subscribers.
use super::{AckMode, Completion, DeviceStore, Published};
use crate::http::error::RequestError;
use log::{error, warn};
use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// A device of the batch whose file is open, with where the batch's bytes begin in it.
pub(super) struct Opened {
    pub index: usize,
    pub file: Arc<File>,
    pub before: u64,
    pub created: bool,
}

/// A prefix of a device's pending records: its bytes, record ends, records, keys and waiters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Portion {
    pub bytes: usize,
    pub ends: usize,
    pub records: u64,
    pub keys: usize,
    pub waiters: usize,
}

impl Portion {
    pub fn take(&mut self, other: Portion) {
        self.bytes -= other.bytes;
        self.ends -= other.ends;
        self.records -= other.records;
        self.keys -= other.keys;
        self.waiters -= other.waiters;
    }
}

/// Which of a device's pending records a failure takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    /// Those not yet in the log (all of them outside `--ack fsync`).
    Unlogged,
    /// Those in the log and waiting for its sync or their device write (`--ack fsync`).
    Logged,
}

impl DeviceStore {
    /// Writes the pending records of the devices `indices` (see the module docs).
    pub(super) fn write_devices(&mut self, indices: &[usize], done: &mut Vec<Completion>) {
        // A file removed or cut by someone just before this batch must not take its records.
        self.collect_changes();
        if self.fsync.is_some() {
            self.log_devices(indices, done);
            return;
        }
        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        for &index in indices {
            // A device may be listed twice (see `DeviceStore::dirty`): one entry per batch.
            let device = &mut self.devices[index];
            if device.pending.is_empty() || device.batched {
                continue;
            }
            device.batched = true;
            match self.open_device(index) {
                Ok(opened) => {
                    let device = &self.devices[index];
                    self.wal
                        .add_append(&device.id, opened.before, &device.pending);
                    self.wal.add_keys(&device.id, &device.pending_keys);
                    batch.push(opened);
                }
                Err(e) => self.write_failed(index, &e, Part::Unlogged, done),
            }
        }
        if let Err(e) = self.wal.write_batch() {
            // Each device's failure is logged (rate-limited) by `write_failed`.
            for opened in batch.drain(..) {
                self.write_failed(opened.index, &e, Part::Unlogged, done);
            }
        }
        for opened in batch.drain(..) {
            let portion = self.devices[opened.index].unlogged();
            match self.write_portion(&opened.file, opened.index, opened.before, portion) {
                Ok(()) => self.stored(&opened, portion, done),
                Err(e) => self.write_failed(opened.index, &e, Part::Unlogged, done),
            }
        }
        for &index in indices {
            self.devices[index].batched = false;
        }
        self.write_journals();
        if let Err(e) = self.wal.checkpoint_if_full() {
            warn!("write-ahead log checkpoint: {e}");
        }
        self.batch = batch;
    }

    /// Writes the keys journal and the log's cut entries of failed writes: without those,
    /// recovery would complete a body whose client got an error (whole, never torn).
    pub(super) fn write_journals(&mut self) {
        let journals = [self.keys.write_batch(), self.wal.write_batch()];
        for e in journals.into_iter().filter_map(Result::err) {
            if let Some(n) = self.write_errors.allow(Instant::now()) {
                error!("write-ahead log or keys journal: {e} ({n} more failed writes since)");
            }
        }
    }

    /// Opens device `index`'s file and learns where its next bytes go: past what it holds and
    /// what is logged for it but not written yet.
    pub(super) fn open_device(&mut self, index: usize) -> io::Result<Opened> {
        let device = &self.devices[index];
        self.path_scratch.push(device.id.as_str());
        let opened = self.handles.get(index, &self.path_scratch);
        self.path_scratch.pop();
        let (file, created) = opened?;
        let device = &self.devices[index];
        let before = match device.len {
            Some(len) => len,
            None => file.metadata()?.len() + device.logged.bytes as u64,
        };
        self.devices[index].len = Some(before);
        Ok(Opened {
            index,
            file,
            before,
            created,
        })
    }

    /// Writes the first `portion` of device `index`'s pending bytes to `file` (which ends at
    /// `before`) with one `write`, looping only on short writes. On failure the file is cut back
    /// to `before`, so that no partial record stays, and a cut entry is logged.
    pub(super) fn write_portion(
        &mut self,
        file: &File,
        index: usize,
        before: u64,
        portion: Portion,
    ) -> io::Result<()> {
        let device = &self.devices[index];
        let started = Instant::now();
        let written = (&*file).write_all(&device.pending[..portion.bytes]);
        crate::observe::metrics::COMMIT_SECONDS.observe(started.elapsed().as_secs_f64());
        if written.is_err() {
            if let Err(t) = file.set_len(before) {
                error!("{}: cannot truncate after failed write: {t}", device.id);
            }
            self.wal.add_cut(&device.id, before);
        }
        written
    }

    /// The first `portion` of device `opened.index`'s pending records reached its file at
    /// `opened.before`: the registry counts them, live subscribers get them, their keys are
    /// kept, their waiters complete, and they leave the pending buffers.
    pub(super) fn stored(&mut self, opened: &Opened, portion: Portion, done: &mut Vec<Completion>) {
        let ack = self.config.ack;
        let device = &mut self.devices[opened.index];
        let bytes = portion.bytes as u64;
        self.failing = false;
        if opened.created {
            // A fresh file (the first, or the old one was removed or renamed and the device
            // reopened): the registry follows the file. In buffer mode the records being
            // written were counted when they were acknowledged.
            let buffered = ack == AckMode::Buffer;
            device.stats.bytes = if buffered { bytes } else { 0 };
            device.stats.records = if buffered { portion.records } else { 0 };
        }
        if ack != AckMode::Fsync {
            // In fsync mode the length moved on when the records were logged.
            device.len = Some(opened.before + bytes);
        }
        crate::observe::metrics::COMMIT_RECORDS.observe(portion.records as f64);
        if self.publishing {
            let mut start = 0;
            for &end in &device.pending_ends[..portion.ends] {
                let at = self.published_bytes.len();
                self.published_bytes
                    .extend_from_slice(&device.pending[start..end]);
                self.published.push(Published {
                    device: device.id,
                    end: opened.before + end as u64,
                    bytes: at..self.published_bytes.len(),
                });
                start = end;
            }
        }
        device.pending.drain(..portion.bytes);
        device.pending_ends.drain(..portion.ends);
        for end in &mut device.pending_ends {
            *end -= portion.bytes;
        }
        device.pending_records -= portion.records;
        let now = SystemTime::now();
        let secs = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for key in device.pending_keys.drain(..portion.keys) {
            self.keys.add(device.id, key, secs);
        }
        match ack {
            AckMode::Buffer => self.unsynced = self.unsynced.saturating_sub(bytes),
            AckMode::Write | AckMode::Fsync => {
                if ack == AckMode::Fsync {
                    device.logged.take(portion);
                    self.unsynced = self.unsynced.saturating_sub(bytes);
                }
                device.stats.stored(portion.records, bytes, now);
                let waiters = device.waiters.drain(..portion.waiters);
                done.extend(waiters.map(|w| (w, Ok(()))));
                if device.pending.is_empty() {
                    // Retries of a body that was logged already wait here (`wait_for_commit`).
                    done.extend(device.waiters.drain(..).map(|w| (w, Ok(()))));
                }
            }
        }
    }

    /// A write of device `index` failed with `e` (the file was cut back already): the waiters
    /// of `part` of its records get 507 (no space), 403 (the file is a symlink) or 500. In
    /// `--ack buffer` the records, already acknowledged, stay pending for the next flush,
    /// unless they can never be written.
    pub(super) fn write_failed(
        &mut self,
        index: usize,
        e: &io::Error,
        part: Part,
        done: &mut Vec<Completion>,
    ) {
        let status = match e.raw_os_error() {
            Some(libc::ENOSPC) => RequestError::InsufficientStorage,
            Some(libc::ELOOP) => RequestError::Forbidden,
            _ => RequestError::Internal,
        };
        let device = &mut self.devices[index];
        if status == RequestError::Forbidden {
            warn!("{}: the device file is a symlink; not written", device.id);
        } else {
            self.failing = true;
            if let Some(suppressed) = self.write_errors.allow(Instant::now()) {
                let more = match suppressed {
                    0 => String::new(),
                    n => format!(" ({n} more failed writes since the last line)"),
                };
                error!("{}: write failed: {e}{more}", device.id);
            }
        }
        self.handles.close(index);
        if part == Part::Logged || device.logged.bytes == 0 {
            // Its length is read again at the next write (nothing logged is still to come).
            device.len = None;
        }
        if self.config.ack == AckMode::Buffer && status != RequestError::Forbidden {
            // Already acknowledged: keep it in memory and try again at the next flush.
            return;
        }
        let logged = device.logged;
        let failed = match part {
            Part::Unlogged => {
                device.pending.truncate(logged.bytes);
                device.pending_ends.truncate(logged.ends);
                device.pending_records = logged.records;
                device.pending_keys.truncate(logged.keys);
                device.waiters.drain(logged.waiters..)
            }
            Part::Logged => {
                device.pending.drain(..logged.bytes);
                device.pending_ends.drain(..logged.ends);
                for end in &mut device.pending_ends {
                    *end -= logged.bytes;
                }
                device.pending_records -= logged.records;
                device.pending_keys.drain(..logged.keys);
                device.logged = Portion::default();
                // Writes of it still queued were logged before: they are skipped.
                device.generation = device.generation.wrapping_add(1);
                self.unsynced = self.unsynced.saturating_sub(logged.bytes as u64);
                // With no record left, the rest are retries of the bodies that failed.
                let upto = if device.pending.is_empty() {
                    device.waiters.len()
                } else {
                    logged.waiters
                };
                device.waiters.drain(..upto)
            }
        };
        done.extend(failed.map(|w| (w, Err(status))));
    }
}
