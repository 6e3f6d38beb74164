//! Counting the records of the device files found at start, off the startup path: the registry
//! is rebuilt from sizes and times alone (one `stat` per file), and this thread then reads each
//! file once and reports its `\n`-terminated lines through a channel and the reactor's waker, so
//! the dashboard shows the counts as they arrive. Only the bytes the file had at start are
//! counted: records appended since are counted as they are stored.
use super::id::DeviceId;
use super::log_sync::Wake;
use crate::limits::{COUNT_CHUNK_BYTES, COUNT_WAKE_BYTES, COUNT_WAKE_FILES};
use log::warn;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A file to count: the first `len` bytes of `dir/id`, for device number `device`.
#[derive(Debug, Clone, Copy)]
pub struct CountJob {
    pub device: usize,
    pub id: DeviceId,
    pub len: u64,
}

/// The lines counted in one job's file, or why it could not be read.
#[derive(Debug)]
pub struct Counted {
    pub device: usize,
    pub lines: io::Result<u64>,
}

/// What [`Counter::try_done`] has for the reactor.
pub enum Poll {
    Counted(Counted),
    /// Nothing new yet.
    Pending,
    /// Every job was reported (or the thread is gone).
    Finished,
}

/// Handle to the counting thread; dropping it stops the thread within one read.
pub struct Counter {
    done: Receiver<Counted>,
    /// Jobs not reported yet.
    remaining: usize,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Counter {
    /// Starts counting `jobs` in files under `dir`, in order.
    pub fn start(dir: PathBuf, jobs: Vec<CountJob>, wake: Wake) -> io::Result<Counter> {
        let (tx, rx) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let remaining = jobs.len();
        let thread = std::thread::Builder::new()
            .name("sluice-count".into())
            .spawn(move || run(&dir, jobs, &tx, &*wake, &stopping))?;
        Ok(Counter {
            done: rx,
            remaining,
            stop,
            thread: Some(thread),
        })
    }

    /// The next report, without blocking.
    pub fn try_done(&mut self) -> Poll {
        if self.remaining == 0 {
            return Poll::Finished;
        }
        match self.done.try_recv() {
            Ok(counted) => {
                self.remaining -= 1;
                Poll::Counted(counted)
            }
            Err(TryRecvError::Empty) => Poll::Pending,
            Err(TryRecvError::Disconnected) => Poll::Finished,
        }
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(
    dir: &Path,
    jobs: Vec<CountJob>,
    done: &Sender<Counted>,
    wake: &(dyn Fn() + Send + Sync),
    stop: &AtomicBool,
) {
    let mut buf = vec![0u8; COUNT_CHUNK_BYTES];
    let mut path = dir.to_path_buf();
    let (mut files, mut bytes) = (0, 0);
    for job in jobs {
        if files > 0 && job.len >= COUNT_WAKE_BYTES {
            wake();
            (files, bytes) = (0, 0);
        }
        path.push(job.id.as_str());
        let lines = count_lines(&path, job.len, &mut buf, stop);
        path.pop();
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if let Err(e) = &lines {
            warn!("{}: cannot count its records: {e}", job.id);
        }
        if done
            .send(Counted {
                device: job.device,
                lines,
            })
            .is_err()
        {
            return;
        }
        files += 1;
        bytes += job.len;
        if files >= COUNT_WAKE_FILES || bytes >= COUNT_WAKE_BYTES {
            wake();
            (files, bytes) = (0, 0);
        }
    }
    if files > 0 {
        wake();
    }
}

/// `\n` bytes among the first `limit` bytes of `path` (fewer if the file is shorter); stops
/// early, with what it counted, once `stop` is set.
pub fn count_lines(path: &Path, limit: u64, buf: &mut [u8], stop: &AtomicBool) -> io::Result<u64> {
    let mut file = File::open(path)?;
    let mut left = limit;
    let mut lines = 0u64;
    while left > 0 && !stop.load(Ordering::Relaxed) {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        match file.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => {
                lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
                left -= n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_within_the_limit_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d");
        // More than one read's worth, so the limit falls inside a later read.
        let mut bytes = b"a\n".repeat(COUNT_CHUNK_BYTES);
        bytes.extend_from_slice(b"appended after start\n\n");
        std::fs::write(&path, &bytes).unwrap();
        let mut buf = vec![0u8; COUNT_CHUNK_BYTES];
        let go = AtomicBool::new(false);
        let limit = (2 * COUNT_CHUNK_BYTES) as u64;
        assert_eq!(
            count_lines(&path, limit, &mut buf, &go).unwrap(),
            COUNT_CHUNK_BYTES as u64
        );
        assert_eq!(
            count_lines(&path, limit - 1, &mut buf, &go).unwrap(),
            COUNT_CHUNK_BYTES as u64 - 1
        );
        assert_eq!(
            count_lines(&path, u64::MAX, &mut buf, &go).unwrap(),
            COUNT_CHUNK_BYTES as u64 + 2
        );
        assert_eq!(count_lines(&path, 0, &mut buf, &go).unwrap(), 0);
        assert!(count_lines(&dir.path().join("gone"), 1, &mut buf, &go).is_err());
    }

    /// A wake closure that sends on the returned channel.
    fn waker() -> (Wake, Receiver<()>) {
        let (tx, wakes) = channel();
        let tx = std::sync::Mutex::new(tx);
        let wake: Wake = Arc::new(move || {
            let _ = tx.lock().unwrap().send(());
        });
        (wake, wakes)
    }

    fn job(device: usize, name: &str, len: u64) -> CountJob {
        CountJob {
            device,
            id: DeviceId::parse(name.as_bytes()).unwrap(),
            len,
        }
    }

    #[test]
    fn counts_made_are_reported_before_a_huge_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("small"), b"a\nb\n").unwrap();
        // Sparse: reading its 4 TiB of holes takes minutes.
        let huge = File::create(dir.path().join("huge")).unwrap();
        if let Err(e) = huge.set_len(4 << 40) {
            println!("SKIPPED: cannot make a sparse 4 TiB file here: {e}");
            return;
        }
        let (wake, wakes) = waker();
        let jobs = vec![job(0, "small", 4), job(1, "huge", 4 << 40)];
        let mut counter = Counter::start(dir.path().to_path_buf(), jobs, wake).unwrap();
        wakes
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("woken before the huge file is read");
        match counter.try_done() {
            Poll::Counted(c) => assert_eq!((c.device, c.lines.unwrap()), (0, 2)),
            _ => panic!("the small file's count is not there"),
        }
        assert!(matches!(counter.try_done(), Poll::Pending));
        // Dropping the counter stops the read of the huge file.
        drop(counter);
    }

    #[test]
    fn reports_every_file_and_wakes_after_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let files = COUNT_WAKE_FILES + 1;
        let mut jobs = Vec::new();
        for n in 0..files {
            let name = format!("d{n}");
            std::fs::write(dir.path().join(&name), "x\n".repeat(n % 7)).unwrap();
            jobs.push(job(n, &name, 2 * (n % 7) as u64));
        }
        let (wake, wakes) = waker();
        let mut counter = Counter::start(dir.path().to_path_buf(), jobs, wake).unwrap();
        let guard = std::time::Duration::from_secs(60);
        // One wake after COUNT_WAKE_FILES files, one after the last.
        for _ in 0..2 {
            wakes.recv_timeout(guard).expect("woken");
        }
        let mut seen = vec![None; files];
        for _ in 0..files {
            match counter.try_done() {
                Poll::Counted(c) => seen[c.device] = Some(c.lines.unwrap()),
                Poll::Pending | Poll::Finished => {
                    panic!("woken after the last file, yet reports are missing")
                }
            }
        }
        assert!(matches!(counter.try_done(), Poll::Finished));
        for (n, lines) in seen.iter().enumerate() {
            assert_eq!(*lines, Some((n % 7) as u64), "file d{n}");
        }
    }
}
