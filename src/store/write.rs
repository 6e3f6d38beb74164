//! Writing a batch of devices' pending records (group commit): first one `write` of an entry per
//! device to the write-ahead log (`wal.rs`), then one `write` per device file, each cut back if
//! it fails so that no partial record stays (and a *cut* entry logged). Then the waiters are
//! completed (`--ack write`), handed to the sync threads with the file (and the directory, for a
//! file just created) (`--ack fsync`), or nothing more (`--ack buffer`, already acknowledged);
//! and the records are kept for live subscribers.
use super::sync::SyncJob;
use super::{AckMode, Completion, DeviceStore, Published};
use crate::http::error::RequestError;
use log::{error, warn};
use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// A device of the batch whose file is open, with its length before the write.
pub(super) struct Opened {
    index: usize,
    file: Arc<File>,
    before: u64,
    created: bool,
}

impl DeviceStore {
    /// Writes the pending records of the devices `indices` (see the module docs).
    pub(super) fn write_devices(&mut self, indices: &[usize], done: &mut Vec<Completion>) {
        // A file removed or cut by someone just before this batch must not take its records.
        self.collect_changes();
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
                Err(e) => self.write_failed(index, &e, done),
            }
        }
        if let Err(e) = self.wal.write_batch() {
            // Each device's failure is logged (rate-limited) by `write_failed`.
            for opened in batch.drain(..) {
                self.write_failed(opened.index, &e, done);
            }
        }
        for opened in batch.drain(..) {
            self.write_device(opened, done);
        }
        for &index in indices {
            self.devices[index].batched = false;
        }
        let journals = [self.keys.write_batch(), self.wal.write_batch()];
        // The cut entries of failed writes: without them recovery would complete a body whose
        // client got an error (whole, never torn).
        for e in journals.into_iter().filter_map(Result::err) {
            if let Some(n) = self.write_errors.allow(Instant::now()) {
                error!("write-ahead log or keys journal: {e} ({n} more failed writes since)");
            }
        }
        if let Err(e) = self.wal.checkpoint_if_full() {
            warn!("write-ahead log checkpoint: {e}");
        }
        self.batch = batch;
    }

    /// Opens device `index`'s file and learns its length.
    fn open_device(&mut self, index: usize) -> io::Result<Opened> {
        let device = &self.devices[index];
        self.path_scratch.push(device.id.as_str());
        let opened = self.handles.get(index, &self.path_scratch);
        self.path_scratch.pop();
        let (file, created) = opened?;
        let before = match self.devices[index].len {
            Some(len) => len,
            None => file.metadata()?.len(),
        };
        self.devices[index].len = Some(before);
        Ok(Opened {
            index,
            file,
            before,
            created,
        })
    }

    /// Writes device `opened.index`'s pending records with one `write` (looping only on short
    /// writes) and completes them.
    fn write_device(&mut self, opened: Opened, done: &mut Vec<Completion>) {
        let Opened {
            index,
            file,
            before,
            created,
        } = opened;
        let device = &mut self.devices[index];
        let started = Instant::now();
        let written = (&*file).write_all(&device.pending);
        crate::observe::metrics::COMMIT_SECONDS.observe(started.elapsed().as_secs_f64());
        if let Err(e) = written {
            // No partial record may remain: cut the file back to where this write began.
            if let Err(t) = file.set_len(before) {
                error!("{}: cannot truncate after failed write: {t}", device.id);
            }
            self.wal.add_cut(&device.id, before);
            self.write_failed(index, &e, done);
            return;
        }
        let bytes = device.pending.len() as u64;
        let records = device.pending_records;
        self.failing = false;
        if created {
            // A fresh file (the first, or the old one was removed or renamed and the device
            // reopened): the registry follows the file. In buffer mode the records being
            // written were counted when they were acknowledged.
            let buffered = self.config.ack == AckMode::Buffer;
            device.stats.bytes = if buffered { bytes } else { 0 };
            device.stats.records = if buffered { records } else { 0 };
        }
        device.len = Some(before + bytes);
        crate::observe::metrics::COMMIT_RECORDS.observe(records as f64);
        if self.publishing {
            let mut start = 0;
            for &end in &device.pending_ends {
                let at = self.published_bytes.len();
                self.published_bytes
                    .extend_from_slice(&device.pending[start..end]);
                self.published.push(Published {
                    device: device.id,
                    end: before + end as u64,
                    bytes: at..self.published_bytes.len(),
                });
                start = end;
            }
        }
        device.pending.clear();
        device.pending_ends.clear();
        device.pending_records = 0;
        let now = SystemTime::now();
        let secs = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for key in device.pending_keys.drain(..) {
            self.keys.add(device.id, key, secs);
        }
        match self.config.ack {
            AckMode::Buffer => self.unsynced = self.unsynced.saturating_sub(bytes),
            AckMode::Write => {
                device.stats.stored(records, bytes, now);
                done.extend(device.waiters.drain(..).map(|w| (w, Ok(()))));
            }
            AckMode::Fsync => {
                device.stats.stored(records, bytes, now);
                self.unsynced += bytes;
                let job = SyncJob {
                    device: index,
                    file,
                    // A new file's directory entry is made durable with its data.
                    dir: created.then(|| Arc::clone(&self.data_dir)),
                    waiters: std::mem::take(&mut device.waiters),
                    bytes,
                };
                if let Some(sync) = &self.sync {
                    if let Some(failed) = sync.submit(job) {
                        self.unsynced = self.unsynced.saturating_sub(failed.bytes);
                        done.extend(failed.waiters.iter().map(|w| (*w, failed.result)));
                    }
                }
            }
        }
    }

    /// A write of device `index` failed with `e` (the file was cut back already): its waiters
    /// get 507 (no space), 403 (the file is a symlink) or 500. In `--ack buffer` the records,
    /// already acknowledged, stay pending for the next flush, unless they can never be written.
    fn write_failed(&mut self, index: usize, e: &io::Error, done: &mut Vec<Completion>) {
        let status = match e.raw_os_error() {
            Some(libc::ENOSPC) => RequestError::InsufficientStorage,
            Some(libc::ELOOP) => RequestError::Forbidden,
            _ => RequestError::Internal,
        };
        let device = &mut self.devices[index];
        let bytes = device.pending.len();
        if status == RequestError::Forbidden {
            warn!("{}: the device file is a symlink; not written", device.id);
        } else {
            self.failing = true;
            if let Some(suppressed) = self.write_errors.allow(Instant::now()) {
                let more = match suppressed {
                    0 => String::new(),
                    n => format!(" ({n} more failed writes since the last line)"),
                };
                error!("{}: write of {bytes} bytes failed: {e}{more}", device.id);
            }
        }
        self.handles.close(index);
        // Its length is read again at the next write.
        device.len = None;
        if self.config.ack == AckMode::Buffer && status != RequestError::Forbidden {
            // Already acknowledged: keep it in memory and try again at the next flush.
            return;
        }
        device.pending.clear();
        device.pending_ends.clear();
        device.pending_records = 0;
        device.pending_keys.clear();
        done.extend(device.waiters.drain(..).map(|w| (w, Err(status))));
    }
}
