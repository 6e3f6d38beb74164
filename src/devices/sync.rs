//! The sync thread of `--ack fsync`: `fdatasync` runs here, off the reactor, so GETs and other
//! devices keep flowing while a disk flush is under way. Jobs that queue up while a sync runs are
//! grouped: one `fdatasync` per file covers every write made before it started.
use super::Waiter;
use crate::error::RequestError;
use log::error;
use std::fs::File;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Writes waiting for their file to be synced.
pub struct SyncJob {
    pub file: Arc<File>,
    pub waiters: Vec<Waiter>,
    /// Bytes the job covers (to account for unsynced data).
    pub bytes: u64,
}

/// What the sync thread reports for one job.
pub struct SyncDone {
    pub waiters: Vec<Waiter>,
    pub bytes: u64,
    pub result: Result<(), RequestError>,
}

/// Handle to the sync thread.
pub struct SyncThread {
    jobs: Option<Sender<SyncJob>>,
    done: Receiver<SyncDone>,
    thread: Option<JoinHandle<()>>,
}

impl SyncThread {
    /// Starts the thread; `wake` is called after each group of jobs is reported.
    pub fn start(wake: Box<dyn Fn() + Send>) -> std::io::Result<SyncThread> {
        let (job_tx, job_rx) = channel::<SyncJob>();
        let (done_tx, done_rx) = channel::<SyncDone>();
        let thread = std::thread::Builder::new()
            .name("sluice-sync".into())
            .spawn(move || run(job_rx, done_tx, wake))?;
        Ok(SyncThread {
            jobs: Some(job_tx),
            done: done_rx,
            thread: Some(thread),
        })
    }

    /// Queues a job. If the thread is gone, the job fails at once.
    pub fn submit(&self, job: SyncJob) -> Option<SyncDone> {
        let sender = self.jobs.as_ref()?;
        match sender.send(job) {
            Ok(()) => None,
            Err(failed) => Some(SyncDone {
                waiters: failed.0.waiters,
                bytes: failed.0.bytes,
                result: Err(RequestError::Internal),
            }),
        }
    }

    /// Reports finished jobs without blocking.
    pub fn try_done(&self) -> Option<SyncDone> {
        self.done.try_recv().ok()
    }

    /// Stops accepting jobs, waits for the queued ones, and returns their reports.
    pub fn finish(&mut self) -> Vec<SyncDone> {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.done.try_iter().collect()
    }
}

impl Drop for SyncThread {
    fn drop(&mut self) {
        self.finish();
    }
}

fn run(jobs: Receiver<SyncJob>, done: Sender<SyncDone>, wake: Box<dyn Fn() + Send>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        batch.extend(jobs.try_iter());
        let mut synced: Vec<(Arc<File>, Result<(), RequestError>)> = Vec::new();
        for job in batch {
            let result = match synced.iter().find(|(f, _)| Arc::ptr_eq(f, &job.file)) {
                Some((_, result)) => *result,
                None => {
                    let started = std::time::Instant::now();
                    let synced_data = job.file.sync_data();
                    crate::metrics::FSYNC_SECONDS.observe(started.elapsed().as_secs_f64());
                    let result = synced_data.map_err(|e| {
                        error!("fdatasync failed: {e}");
                        if e.raw_os_error() == Some(libc::ENOSPC) {
                            RequestError::InsufficientStorage
                        } else {
                            RequestError::Internal
                        }
                    });
                    synced.push((Arc::clone(&job.file), result));
                    result
                }
            };
            let report = SyncDone {
                waiters: job.waiters,
                bytes: job.bytes,
                result,
            };
            if done.send(report).is_err() {
                return;
            }
        }
        wake();
    }
}
