//! The sync threads of `--ack fsync`: `fdatasync` runs here, off the reactor, so GETs and other
//! devices keep flowing while a disk flush is under way. [`SYNC_THREADS`] threads sync different
//! device files at the same time, so with many devices the syncs overlap (and the filesystem can
//! group them into one journal commit) instead of running one after another. One device is synced
//! by one thread at a time: jobs that queue up for it meanwhile are grouped, and one `fdatasync`
//! after the running one covers every write made before it started. Each finished sync is
//! reported through the channel and the reactor's waker.
use super::Waiter;
use crate::http::error::RequestError;
use log::error;
use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

/// Writes of one device waiting for its file to be synced.
pub struct SyncJob {
    /// The device (its index in the store): jobs of one device share a sync.
    pub device: usize,
    pub file: Arc<File>,
    /// The data directory, when the file was created since its last sync: synced after the
    /// file, so that the new directory entry is as durable as the data.
    pub dir: Option<Arc<File>>,
    pub waiters: Vec<Waiter>,
    /// Bytes the job covers (to account for unsynced data).
    pub bytes: u64,
}

/// What the sync threads report for the jobs one sync covered.
pub struct SyncDone {
    pub waiters: Vec<Waiter>,
    pub bytes: u64,
    pub result: Result<(), RequestError>,
}

/// How a thread syncs a device's file (`fdatasync`; tests put a probe here).
type SyncFn = dyn Fn(usize, &File) -> io::Result<()> + Send + Sync;

/// Called after each sync's report is sent (wakes the reactor).
pub type Wake = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct Queue {
    /// Jobs no thread has taken yet, by device.
    pending: HashMap<usize, Vec<SyncJob>>,
    /// Devices with pending jobs and no sync under way, oldest first.
    ready: VecDeque<usize>,
    /// Devices being synced now.
    busy: HashSet<usize>,
    /// No more jobs come; threads end once `pending` is empty.
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

/// Handle to the sync threads.
pub struct SyncPool {
    shared: Arc<Shared>,
    done: Receiver<SyncDone>,
    threads: Vec<JoinHandle<()>>,
}

impl SyncPool {
    /// Starts `threads` threads that `fdatasync`; `wake` is called after each report.
    pub fn start(threads: usize, wake: Wake) -> io::Result<SyncPool> {
        Self::start_with(threads, wake, Arc::new(|_, file: &File| file.sync_data()))
    }

    fn start_with(threads: usize, wake: Wake, sync: Arc<SyncFn>) -> io::Result<SyncPool> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            more: Condvar::new(),
        });
        let (done_tx, done_rx) = channel::<SyncDone>();
        let mut pool = SyncPool {
            shared,
            done: done_rx,
            threads: Vec::with_capacity(threads),
        };
        for n in 0..threads.max(1) {
            let (shared, done, wake, sync) = (
                Arc::clone(&pool.shared),
                done_tx.clone(),
                Arc::clone(&wake),
                Arc::clone(&sync),
            );
            let thread = std::thread::Builder::new()
                .name(format!("sluice-sync-{n}"))
                .spawn(move || run(&shared, &done, &*wake, &*sync))?;
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    /// Queues a job. Once the pool is finishing, the job fails at once.
    pub fn submit(&self, job: SyncJob) -> Option<SyncDone> {
        let mut queue = self.shared.lock();
        if queue.closed {
            return Some(SyncDone {
                waiters: job.waiters,
                bytes: job.bytes,
                result: Err(RequestError::Internal),
            });
        }
        let device = job.device;
        let Queue {
            pending,
            ready,
            busy,
            ..
        } = &mut *queue;
        let jobs = pending.entry(device).or_default();
        jobs.push(job);
        if jobs.len() == 1 && !busy.contains(&device) {
            ready.push_back(device);
            self.shared.more.notify_one();
        }
        None
    }

    /// Reports finished syncs without blocking.
    pub fn try_done(&self) -> Option<SyncDone> {
        self.done.try_recv().ok()
    }

    /// Stops accepting jobs, waits for the queued ones, and returns their reports.
    pub fn finish(&mut self) -> Vec<SyncDone> {
        self.shared.lock().closed = true;
        self.shared.more.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        self.done.try_iter().collect()
    }
}

impl Drop for SyncPool {
    fn drop(&mut self) {
        self.finish();
    }
}

fn run(shared: &Shared, done: &Sender<SyncDone>, wake: &(dyn Fn() + Send + Sync), sync: &SyncFn) {
    loop {
        let (device, jobs) = {
            let mut queue = shared.lock();
            loop {
                if let Some(device) = queue.ready.pop_front() {
                    let jobs = queue.pending.remove(&device).unwrap_or_default();
                    queue.busy.insert(device);
                    break (device, jobs);
                }
                if queue.closed && queue.pending.is_empty() {
                    return;
                }
                queue = shared
                    .more
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        let mut report = SyncDone {
            waiters: Vec::new(),
            bytes: 0,
            result: Ok(()),
        };
        // `fdatasync` flushes the file, whichever descriptor wrote: the newest one covers all.
        if let Some(last) = jobs.last() {
            let started = std::time::Instant::now();
            let mut synced = sync(device, &last.file);
            if let Some(dir) = jobs.iter().find_map(|job| job.dir.as_ref()) {
                synced = synced.and_then(|()| dir.sync_all());
            }
            crate::observe::metrics::FSYNC_SECONDS.observe(started.elapsed().as_secs_f64());
            report.result = synced.map_err(|e| {
                error!("fdatasync failed: {e}");
                if e.raw_os_error() == Some(libc::ENOSPC) {
                    RequestError::InsufficientStorage
                } else {
                    RequestError::Internal
                }
            });
        }
        for job in jobs {
            report.waiters.extend(job.waiters);
            report.bytes += job.bytes;
        }
        let sent = done.send(report).is_ok();
        {
            let mut queue = shared.lock();
            queue.busy.remove(&device);
            if queue.pending.contains_key(&device) {
                queue.ready.push_back(device);
                shared.more.notify_one();
            }
            if queue.closed {
                shared.more.notify_all();
            }
        }
        if !sent {
            return;
        }
        wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::SYNC_THREADS;
    use std::sync::mpsc::RecvTimeoutError;
    use std::time::Duration;

    /// Guards against a hang only; no test depends on how long anything takes.
    const GUARD: Duration = Duration::from_secs(60);

    fn waiter(n: u64) -> Waiter {
        Waiter {
            key: n as usize,
            conn: n,
        }
    }

    fn job(dir: &tempfile::TempDir, device: usize, waiter_n: u64) -> SyncJob {
        let file = File::create(dir.path().join(format!("d{device}"))).unwrap();
        SyncJob {
            device,
            file: Arc::new(file),
            dir: None,
            waiters: vec![waiter(waiter_n)],
            bytes: 10,
        }
    }

    /// A pool whose wakes arrive on the returned channel.
    fn pool(threads: usize, sync: Arc<SyncFn>) -> (SyncPool, Receiver<()>) {
        let (tx, rx) = channel();
        let tx = Mutex::new(tx);
        let wake: Wake = Arc::new(move || {
            let _ = tx.lock().unwrap().send(());
        });
        (SyncPool::start_with(threads, wake, sync).unwrap(), rx)
    }

    /// Waits for the next report, woken by the pool.
    fn next_report(pool: &SyncPool, wakes: &Receiver<()>) -> SyncDone {
        loop {
            if let Some(report) = pool.try_done() {
                return report;
            }
            match wakes.recv_timeout(GUARD) {
                Ok(()) => {}
                Err(RecvTimeoutError::Timeout) => panic!("no report within {GUARD:?}"),
                Err(RecvTimeoutError::Disconnected) => panic!("sync threads gone"),
            }
        }
    }

    #[test]
    fn as_many_devices_as_threads_are_synced_at_the_same_time() {
        let dir = tempfile::tempdir().unwrap();
        // Each sync waits until SYNC_THREADS syncs are under way together; with fewer threads
        // than that it gives up (after GUARD) and fails.
        let running = Arc::new((Mutex::new(0usize), Condvar::new()));
        let probe = Arc::clone(&running);
        let sync: Arc<SyncFn> = Arc::new(move |_, _: &File| {
            let (count, changed) = &*probe;
            let mut n = count.lock().unwrap();
            *n += 1;
            changed.notify_all();
            let (n, timeout) = changed
                .wait_timeout_while(n, GUARD, |n| *n < SYNC_THREADS)
                .unwrap();
            drop(n);
            if timeout.timed_out() {
                Err(io::Error::other("the syncs did not overlap"))
            } else {
                Ok(())
            }
        });
        let (pool, wakes) = pool(SYNC_THREADS, sync);
        for device in 0..SYNC_THREADS {
            assert!(pool.submit(job(&dir, device, device as u64)).is_none());
        }
        let mut waiters = Vec::new();
        for _ in 0..SYNC_THREADS {
            let report = next_report(&pool, &wakes);
            assert_eq!(report.result, Ok(()));
            waiters.extend(report.waiters.iter().map(|w| w.key));
        }
        waiters.sort_unstable();
        assert_eq!(waiters, (0..SYNC_THREADS).collect::<Vec<_>>());
    }

    #[test]
    fn jobs_of_a_device_being_synced_wait_and_share_the_next_sync() {
        let dir = tempfile::tempdir().unwrap();
        let (entered_tx, entered) = channel::<usize>();
        let (release, gate) = channel::<()>();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&calls);
        let (entered_tx, gate) = (Mutex::new(entered_tx), Mutex::new(gate));
        let sync: Arc<SyncFn> = Arc::new(move |device, _: &File| {
            let first = {
                let mut calls = seen.lock().unwrap();
                calls.push(device);
                calls.len() == 1
            };
            if first {
                // Hold the first sync (device 0) until the test releases it.
                entered_tx.lock().unwrap().send(device).unwrap();
                gate.lock().unwrap().recv_timeout(GUARD).unwrap();
            }
            Ok(())
        });
        let (pool, wakes) = pool(4, sync);
        pool.submit(job(&dir, 0, 1));
        assert_eq!(entered.recv_timeout(GUARD), Ok(0));
        pool.submit(job(&dir, 0, 2));
        pool.submit(job(&dir, 0, 3));
        pool.submit(job(&dir, 1, 4));
        // Device 1 is synced while device 0's first sync is still under way.
        let report = next_report(&pool, &wakes);
        assert_eq!(report.waiters, vec![waiter(4)]);
        release.send(()).unwrap();
        let report = next_report(&pool, &wakes);
        assert_eq!(report.waiters, vec![waiter(1)]);
        let report = next_report(&pool, &wakes);
        assert_eq!(
            report.waiters,
            vec![waiter(2), waiter(3)],
            "one sync for both"
        );
        assert_eq!(report.bytes, 20);
        assert_eq!(*calls.lock().unwrap(), vec![0, 1, 0]);
    }

    #[test]
    fn a_failed_sync_fails_the_waiters_it_covers() {
        let dir = tempfile::tempdir().unwrap();
        let sync: Arc<SyncFn> = Arc::new(|device, _: &File| match device {
            0 => Err(io::Error::from_raw_os_error(libc::ENOSPC)),
            1 => Err(io::Error::from_raw_os_error(libc::EIO)),
            _ => Ok(()),
        });
        let (pool, wakes) = pool(2, sync);
        for device in 0..3 {
            pool.submit(job(&dir, device, device as u64));
        }
        let mut results: Vec<_> = (0..3)
            .map(|_| {
                let r = next_report(&pool, &wakes);
                (r.waiters[0].key, r.result)
            })
            .collect();
        results.sort_by_key(|r| r.0);
        assert_eq!(
            results,
            vec![
                (0, Err(RequestError::InsufficientStorage)),
                (1, Err(RequestError::Internal)),
                (2, Ok(())),
            ]
        );
    }

    #[test]
    fn finish_reports_every_queued_job_then_refuses_new_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (mut pool, _wakes) = pool(2, Arc::new(|_, _: &File| Ok(())));
        for n in 0..20 {
            pool.submit(job(&dir, (n % 5) as usize, n));
        }
        let mut waiters: Vec<u64> = pool
            .finish()
            .iter()
            .flat_map(|r| r.waiters.iter().map(|w| w.conn))
            .collect();
        waiters.sort_unstable();
        assert_eq!(waiters, (0..20).collect::<Vec<_>>());
        let refused = pool.submit(job(&dir, 0, 99)).expect("refused after finish");
        assert_eq!(refused.result, Err(RequestError::Internal));
    }
}
