//! `--ack fsync`: the thread that makes the write-ahead log durable, off the reactor so that GETs
//! and other devices keep flowing while the disk flushes. The reactor writes each batch to the
//! log and asks for a sync through that batch's number; the thread takes every request queued
//! meanwhile and covers them all with one `fdatasync` (group commit, as PostgreSQL's WAL writer
//! does), however many devices the batches hold, then reports the highest batch now durable and
//! wakes the reactor.
use crate::http::error::RequestError;
use log::error;
use std::fs::File;
use std::io;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

/// A request to make the log durable through batch `batch`.
pub struct SyncRequest {
    pub batch: u64,
    /// The log file the batch was written to (a new one after a rotation).
    pub log: Arc<File>,
    /// The data directory, when the log file is new: synced after it, so that its name (and
    /// the rotation that made it) is as durable as its content.
    pub dir: Option<Arc<File>>,
}

/// What one sync covered: every batch through `through`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Synced {
    pub through: u64,
    pub result: Result<(), RequestError>,
}

/// How the thread syncs a file (`fdatasync`; tests put a probe here).
pub type SyncFn = dyn Fn(&File) -> io::Result<()> + Send + Sync;

/// Called after each report is sent (wakes the reactor).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Queue {
    requests: Vec<SyncRequest>,
    /// No more requests come; the thread ends once `requests` is empty.
    closed: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    more: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Handle to the log's sync thread.
pub struct LogSync {
    shared: Arc<Shared>,
    done: Receiver<Synced>,
    thread: Option<JoinHandle<()>>,
}

impl LogSync {
    /// Starts the thread; `wake` is called after each report.
    pub fn start(wake: Wake) -> io::Result<LogSync> {
        Self::start_with(wake, Arc::new(File::sync_data))
    }

    pub fn start_with(wake: Wake, sync: Arc<SyncFn>) -> io::Result<LogSync> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            more: Condvar::new(),
        });
        let (tx, done) = channel();
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("sluice-log-sync".into())
            .spawn(move || run(&thread_shared, &tx, &*wake, &*sync))?;
        Ok(LogSync {
            shared,
            done,
            thread: Some(thread),
        })
    }

    /// Queues a request. Once the thread is finishing, it fails at once.
    pub fn request(&self, request: SyncRequest) -> Option<Synced> {
        let mut queue = self.shared.lock();
        if queue.closed {
            return Some(Synced {
                through: request.batch,
                result: Err(RequestError::Internal),
            });
        }
        queue.requests.push(request);
        self.shared.more.notify_one();
        None
    }

    /// A finished sync, without blocking.
    pub fn try_done(&self) -> Option<Synced> {
        self.done.try_recv().ok()
    }

    /// The next finished sync, waiting for it (None once the thread is gone).
    pub fn wait_done(&self) -> Option<Synced> {
        self.done.recv().ok()
    }

    /// Stops taking requests, waits for the queued ones, and returns their reports.
    pub fn finish(&mut self) -> Vec<Synced> {
        self.shared.lock().closed = true;
        self.shared.more.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.done.try_iter().collect()
    }
}

impl Drop for LogSync {
    fn drop(&mut self) {
        self.finish();
    }
}

fn run(shared: &Shared, done: &Sender<Synced>, wake: &(dyn Fn() + Send + Sync), sync: &SyncFn) {
    let mut requests = Vec::new();
    loop {
        {
            let mut queue = shared.lock();
            while queue.requests.is_empty() && !queue.closed {
                queue = shared
                    .more
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if queue.requests.is_empty() {
                return;
            }
            std::mem::swap(&mut requests, &mut queue.requests);
        }
        let started = std::time::Instant::now();
        let result = sync_all(&requests, sync);
        crate::observe::metrics::FSYNC_SECONDS.observe(started.elapsed().as_secs_f64());
        let through = requests.iter().map(|r| r.batch).max().unwrap_or(0);
        requests.clear();
        let result = result.map_err(|e| {
            error!("fdatasync of the write-ahead log failed: {e}");
            match e.raw_os_error() {
                Some(libc::ENOSPC) => RequestError::InsufficientStorage,
                _ => RequestError::Internal,
            }
        });
        if done.send(Synced { through, result }).is_err() {
            return;
        }
        wake();
    }
}

/// Syncs each log file the requests name, in order (one, unless the log was rotated), then the
/// directory if a request asks for it.
fn sync_all(requests: &[SyncRequest], sync: &SyncFn) -> io::Result<()> {
    let mut last: Option<&Arc<File>> = None;
    for request in requests {
        if !last.is_some_and(|f| Arc::ptr_eq(f, &request.log)) {
            // An earlier file is synced once its successor appears: the rotation happened
            // after all of its batches were written.
            if let Some(previous) = last {
                sync(previous)?;
            }
            last = Some(&request.log);
        }
    }
    if let Some(log) = last {
        sync(log)?;
    }
    if let Some(dir) = requests.iter().find_map(|r| r.dir.as_ref()) {
        dir.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::RecvTimeoutError;
    use std::time::Duration;

    /// Guards against a hang only; no test depends on how long anything takes.
    const GUARD: Duration = Duration::from_secs(60);

    fn start(sync: Arc<SyncFn>) -> (LogSync, Receiver<()>) {
        let (tx, rx) = channel();
        let tx = Mutex::new(tx);
        let wake: Wake = Arc::new(move || {
            let _ = tx.lock().unwrap().send(());
        });
        (LogSync::start_with(wake, sync).unwrap(), rx)
    }

    fn next(log_sync: &LogSync, wakes: &Receiver<()>) -> Synced {
        loop {
            if let Some(synced) = log_sync.try_done() {
                return synced;
            }
            match wakes.recv_timeout(GUARD) {
                Ok(()) => {}
                Err(RecvTimeoutError::Timeout) => panic!("no report within {GUARD:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("sync thread gone"),
            }
        }
    }

    fn request(batch: u64, log: &Arc<File>) -> SyncRequest {
        SyncRequest {
            batch,
            log: Arc::clone(log),
            dir: None,
        }
    }

    #[test]
    fn requests_queued_during_a_sync_share_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(File::create(dir.path().join("log")).unwrap());
        let (entered_tx, entered) = channel::<()>();
        let (release, gate) = channel::<()>();
        let calls = Arc::new(Mutex::new(0));
        let seen = Arc::clone(&calls);
        let (entered_tx, gate) = (Mutex::new(entered_tx), Mutex::new(gate));
        let sync: Arc<SyncFn> = Arc::new(move |_: &File| {
            let first = {
                let mut n = seen.lock().unwrap();
                *n += 1;
                *n == 1
            };
            if first {
                entered_tx.lock().unwrap().send(()).unwrap();
                gate.lock().unwrap().recv_timeout(GUARD).unwrap();
            }
            Ok(())
        });
        let (log_sync, wakes) = start(sync);
        assert!(log_sync.request(request(1, &log)).is_none());
        entered.recv_timeout(GUARD).unwrap();
        for batch in 2..=5 {
            log_sync.request(request(batch, &log));
        }
        release.send(()).unwrap();
        assert_eq!(
            next(&log_sync, &wakes),
            Synced {
                through: 1,
                result: Ok(())
            }
        );
        assert_eq!(
            next(&log_sync, &wakes),
            Synced {
                through: 5,
                result: Ok(())
            }
        );
        assert_eq!(*calls.lock().unwrap(), 2, "one sync for batches 2 to 5");
    }

    #[test]
    fn after_a_rotation_both_logs_are_synced_old_first() {
        let dir = tempfile::tempdir().unwrap();
        let old = Arc::new(File::create(dir.path().join("old")).unwrap());
        let new = Arc::new(File::create(dir.path().join("new")).unwrap());
        let synced = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&synced);
        let sync: Arc<SyncFn> = Arc::new(move |f: &File| {
            seen.lock().unwrap().push(f.metadata().unwrap().len());
            Ok(())
        });
        std::fs::write(dir.path().join("old"), b"o").unwrap();
        let requests = [request(1, &old), request(2, &old), request(3, &new)];
        sync_all(&requests, &*sync).unwrap();
        assert_eq!(*synced.lock().unwrap(), vec![1, 0]);
        let (log_sync, wakes) = start(Arc::new(|_: &File| Ok(())));
        let mut with_dir = request(1, &new);
        with_dir.dir = Some(Arc::new(File::open(dir.path()).unwrap()));
        log_sync.request(with_dir);
        assert_eq!(next(&log_sync, &wakes).result, Ok(()));
    }

    #[test]
    fn a_failed_sync_fails_every_batch_it_covered() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(File::create(dir.path().join("log")).unwrap());
        let (log_sync, wakes) = start(Arc::new(|_: &File| {
            Err(io::Error::from_raw_os_error(libc::ENOSPC))
        }));
        log_sync.request(request(7, &log));
        assert_eq!(
            next(&log_sync, &wakes),
            Synced {
                through: 7,
                result: Err(RequestError::InsufficientStorage)
            }
        );
    }

    #[test]
    fn finish_reports_queued_requests_then_refuses_new_ones() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(File::create(dir.path().join("log")).unwrap());
        let (mut log_sync, _wakes) = start(Arc::new(|_: &File| Ok(())));
        for batch in 1..=3 {
            log_sync.request(request(batch, &log));
        }
        let reports = log_sync.finish();
        assert_eq!(reports.iter().map(|s| s.through).max(), Some(3));
        let refused = log_sync.request(request(4, &log)).expect("refused");
        assert_eq!(refused.result, Err(RequestError::Internal));
    }
}
