//! The write of one device's pending records: one `write` of everything committed since the
//! last (group commit), cut back if it fails so that no partial record stays in the file; then
//! the waiters are completed (`--ack write`), handed to the sync threads with the file (and the
//! directory, for a file just created) (`--ack fsync`), or nothing more (`--ack buffer`, already
//! acknowledged); and the records are kept for live subscribers.
use super::sync::SyncJob;
use super::{AckMode, Completion, DeviceStore, Published};
use crate::http::error::RequestError;
use log::{error, warn};
use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

impl DeviceStore {
    /// Writes device `index`'s pending records with one `write` (looping only on short writes).
    pub(super) fn write_device(&mut self, index: usize, done: &mut Vec<Completion>) {
        let device = &self.devices[index];
        if device.pending.is_empty() && device.waiters.is_empty() {
            return;
        }
        self.path_scratch.push(device.id.as_str());
        let opened = self.handles.get(index, &self.path_scratch);
        self.path_scratch.pop();
        let device = &mut self.devices[index];
        let result = opened.and_then(|(file, created)| {
            let before = match device.len {
                Some(len) => len,
                None => file.metadata()?.len(),
            };
            let started = Instant::now();
            let written = (&*file).write_all(&device.pending);
            crate::observe::metrics::COMMIT_SECONDS.observe(started.elapsed().as_secs_f64());
            match written {
                Ok(()) => Ok((file, before, created)),
                Err(e) => {
                    // No partial record may remain: cut the file back to where this write began.
                    if let Err(t) = file.set_len(before) {
                        error!("{}: cannot truncate after failed write: {t}", device.id);
                    }
                    device.len = Some(before);
                    Err(e)
                }
            }
        });
        let bytes = device.pending.len() as u64;
        let records = device.pending_records;
        match result {
            Ok((file, before, created)) => {
                if created {
                    // A fresh file (the first, or the old one was removed or renamed and the
                    // device reopened): the registry follows the file. In buffer mode the
                    // records being written were counted when they were acknowledged.
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
            Err(e) => self.write_failed(index, &e, done),
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
            error!("{}: write of {bytes} bytes failed: {e}", device.id);
        }
        self.handles.close(index);
        if self.config.ack == AckMode::Buffer && status != RequestError::Forbidden {
            // Already acknowledged: keep it in memory and try again at the next flush.
            return;
        }
        device.pending.clear();
        device.pending_ends.clear();
        device.pending_records = 0;
        done.extend(device.waiters.drain(..).map(|w| (w, Err(status))));
    }
}
