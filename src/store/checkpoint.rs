//! `--ack fsync`: the checkpoint thread. After the write-ahead log was rotated (`wal.rs`) and
//! every batch of the old log reached its device file, the thread makes those files durable
//! without the old log: it syncs each device file the old log names (opened by name, never
//! through a symlink; a file removed since is skipped), the `Idempotency-Key` journal, and the
//! data directory (the names of files created since the last checkpoint), and only then removes
//! the old log. A crash at any point leaves the old log in place, and recovery replays it
//! (replaying an entry whose bytes are in the file already changes nothing).
use super::keys::KEYS_FILE;
use super::log_sync::Wake;
use super::wal::WAL_OLD_FILE;
use super::DeviceId;
use crate::limits::SYNCFS_FROM_FILES;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;

/// Handle to the checkpoint thread.
pub struct Checkpointer {
    jobs: Option<Sender<Vec<DeviceId>>>,
    done: Receiver<io::Result<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread for the data directory `dir`; `wake` is called after each checkpoint.
    pub fn start(dir: PathBuf, wake: Wake) -> io::Result<Checkpointer> {
        let (jobs, job_rx) = channel::<Vec<DeviceId>>();
        let (done_tx, done) = channel();
        let thread = std::thread::Builder::new()
            .name("sluice-checkpoint".into())
            .spawn(move || {
                for ids in job_rx {
                    if done_tx.send(checkpoint(&dir, &ids)).is_err() {
                        return;
                    }
                    wake();
                }
            })?;
        Ok(Checkpointer {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
        })
    }

    /// Starts the checkpoint of the old log, whose entries name the devices `ids`.
    pub fn submit(&self, ids: Vec<DeviceId>) {
        if let Some(jobs) = &self.jobs {
            // The thread only ends when `jobs` is dropped; a send cannot fail before.
            let _ = jobs.send(ids);
        }
    }

    /// The result of a finished checkpoint, without blocking.
    pub fn try_done(&self) -> Option<io::Result<()>> {
        self.done.try_recv().ok()
    }
}

impl Drop for Checkpointer {
    /// Lets a checkpoint under way finish (it only syncs and removes a file).
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Syncs what the old log in `dir` covers (see the module docs), then removes it.
pub fn checkpoint(dir: &std::path::Path, ids: &[DeviceId]) -> io::Result<()> {
    let mut names: Vec<&str> = ids.iter().map(DeviceId::as_str).collect();
    names.push(KEYS_FILE);
    sync_files(dir, &names)?;
    let directory = File::open(dir)?;
    directory.sync_all()?;
    match fs::remove_file(dir.join(WAL_OLD_FILE)) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // So that the old log does not come back after a power cut and get replayed over files
    // changed since by other programs.
    directory.sync_all()
}

/// How [`sync_files`] made the files durable.
#[derive(Debug, PartialEq, Eq)]
pub enum SyncedBy {
    /// One `fdatasync` per file.
    EachFile,
    /// One `syncfs` of the filesystem.
    WholeDisk,
}

/// Makes the files `names` of `dir` durable: one `fdatasync` each, or from `SYNCFS_FROM_FILES`
/// files on one `syncfs` of the filesystem (which also syncs the directory).
pub fn sync_files(dir: &std::path::Path, names: &[&str]) -> io::Result<SyncedBy> {
    if names.len() >= SYNCFS_FROM_FILES {
        let directory = File::open(dir)?;
        nix::unistd::syncfs(directory.as_raw_fd()).map_err(io::Error::from)?;
        return Ok(SyncedBy::WholeDisk);
    }
    for name in names {
        sync_if_present(&dir.join(name))?;
    }
    Ok(SyncedBy::EachFile)
}

/// `fdatasync`s the file at `path` unless it is gone or a symlink (neither holds our records).
fn sync_if_present(path: &std::path::Path) -> io::Result<()> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path);
    match file {
        Ok(file) => file.sync_data(),
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ELOOP) => {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    #[test]
    fn a_checkpoint_removes_the_old_log_and_skips_missing_files_and_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(WAL_OLD_FILE), b"entries").unwrap();
        fs::write(dir.path().join("present"), b"r\n").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("linked")).unwrap();
        let ids: Vec<DeviceId> = ["present", "gone", "linked"]
            .iter()
            .map(|s| DeviceId::parse(s.as_bytes()).unwrap())
            .collect();
        let (tx, rx) = channel();
        let tx = Mutex::new(tx);
        let checkpointer = Checkpointer::start(
            dir.path().to_path_buf(),
            Arc::new(move || {
                let _ = tx.lock().unwrap().send(());
            }),
        )
        .unwrap();
        checkpointer.submit(ids);
        rx.recv_timeout(Duration::from_secs(60)).expect("woken");
        assert!(checkpointer.try_done().expect("reported").is_ok());
        assert!(!dir.path().join(WAL_OLD_FILE).exists());
        assert_eq!(fs::read(dir.path().join("present")).unwrap(), b"r\n");
    }

    #[test]
    fn from_the_limit_on_one_syncfs_replaces_the_file_syncs() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..SYNCFS_FROM_FILES).map(|n| format!("d{n}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let below = &names[..SYNCFS_FROM_FILES - 1];
        assert_eq!(sync_files(dir.path(), below).unwrap(), SyncedBy::EachFile);
        assert_eq!(sync_files(dir.path(), &names).unwrap(), SyncedBy::WholeDisk);
    }

    #[test]
    fn a_failed_checkpoint_keeps_the_old_log() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(WAL_OLD_FILE), b"entries").unwrap();
        // A directory where a device file should be cannot be opened for syncing as a file
        // here only if it is unreadable; use a path under a regular file instead (ENOTDIR).
        fs::write(dir.path().join("plain"), b"").unwrap();
        let bad = DeviceId::parse(b"x").unwrap();
        let result = checkpoint(&dir.path().join("plain"), &[bad]);
        assert!(result.is_err());
        assert!(dir.path().join(WAL_OLD_FILE).exists());
    }
}
