//! An LRU of open device files, so that any number of devices work within the process's
//! descriptor limit: at most `capacity` files are open at once; the least recently used is closed
//! when another must be opened, and also when an open fails for want of descriptors (`EMFILE`,
//! `ENFILE`) while other device files are open. Device files are opened without following a
//! symlink (`O_NOFOLLOW`: a symlink in DATA fails with `ELOOP`, its target untouched), and an
//! open reports whether it created the file, so that `--ack fsync` can sync the directory. The capacity is `--max-open-devices`, by default derived from the
//! descriptor limit at start (`config::open_device_files`), never less than
//! [`MIN_OPEN_DEVICE_FILES`].
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

/// Open append-mode files indexed by device number.
pub struct Handles {
    capacity: usize,
    /// `files[device]`: the open file and the tick of its last use.
    files: Vec<Option<(Arc<File>, u64)>>,
    /// Uses in order; stale entries (a later use exists) are skipped when evicting.
    order: VecDeque<(usize, u64)>,
    open: usize,
    tick: u64,
    /// Per device, files of ours that were closed and whose close the data directory's watch
    /// has not reported yet (`take_own_close`).
    own_closes: Vec<u32>,
}

impl Handles {
    pub fn new(capacity: usize) -> Self {
        Handles {
            capacity: capacity.max(1),
            files: Vec::new(),
            order: VecDeque::new(),
            open: 0,
            tick: 0,
            own_closes: Vec::new(),
        }
    }

    /// The open file of `device`, opening `path` for appending (created 0644) if needed; with
    /// whether this call created the file.
    pub fn get(&mut self, device: usize, path: &Path) -> io::Result<(Arc<File>, bool)> {
        if self.files.len() <= device {
            self.files.resize_with(device + 1, || None);
        }
        self.tick += 1;
        let tick = self.tick;
        if let Some((file, used)) = &mut self.files[device] {
            *used = tick;
            let file = Arc::clone(file);
            self.note_use(device, tick);
            return Ok((file, false));
        }
        while self.open >= self.capacity {
            self.evict_one();
        }
        let (file, created) = loop {
            match open_append(path) {
                Ok(opened) => break opened,
                Err(e) if out_of_descriptors(&e) && self.open > 0 => self.evict_one(),
                Err(e) => return Err(e),
            }
        };
        let file = Arc::new(file);
        self.files[device] = Some((Arc::clone(&file), tick));
        self.open += 1;
        self.note_use(device, tick);
        Ok((file, created))
    }

    /// Closes the file of `device` if open (e.g. after a failed write).
    pub fn close(&mut self, device: usize) {
        if let Some(slot) = self.files.get_mut(device) {
            if slot.take().is_some() {
                self.open -= 1;
                if self.own_closes.len() <= device {
                    self.own_closes.resize(device + 1, 0);
                }
                self.own_closes[device] += 1;
            }
        }
    }

    /// Whether a close the watch reports for `device` is one of ours (and counts it off).
    pub fn take_own_close(&mut self, device: usize) -> bool {
        match self.own_closes.get_mut(device) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }

    /// Number of files open now.
    pub fn open_count(&self) -> usize {
        self.open
    }

    /// Most files open at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether the file of `device` is open.
    #[cfg(test)]
    pub fn is_open(&self, device: usize) -> bool {
        matches!(self.files.get(device), Some(Some(_)))
    }

    fn note_use(&mut self, device: usize, tick: u64) {
        self.order.push_back((device, tick));
        // Keep the queue from growing without bound when a few devices are used over and over.
        if self.order.len() > 4 * self.capacity + 64 {
            let files = &self.files;
            self.order
                .retain(|&(d, t)| matches!(&files[d], Some((_, used)) if *used == t));
        }
    }

    fn evict_one(&mut self) {
        while let Some((device, tick)) = self.order.pop_front() {
            if matches!(&self.files[device], Some((_, used)) if *used == tick) {
                self.close(device);
                return;
            }
        }
        // Unreachable while `open > 0`: every open file has its latest use in the queue.
        self.open = self.files.iter().filter(|f| f.is_some()).count();
    }
}

/// Opens `path` for appending without following a symlink, creating it (0644) if it does not
/// exist; `true` when this call created it.
fn open_append(path: &Path) -> io::Result<(File, bool)> {
    let mut options = OpenOptions::new();
    options
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .mode(0o644);
    loop {
        match options.open(path) {
            Ok(file) => return Ok((file, false)),
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            Err(_) => {}
        }
        match options.clone().create_new(true).open(path) {
            Ok(file) => return Ok((file, true)),
            // Created by someone else in between: open what is there.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// The process or the system has no descriptor left.
fn out_of_descriptors(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_capacity_files_open_and_evicts_the_least_recent() {
        let dir = tempfile::tempdir().unwrap();
        let mut handles = Handles::new(3);
        let path = |i: usize| dir.path().join(format!("d{i}"));
        for i in 0..3 {
            handles.get(i, &path(i)).unwrap();
        }
        handles.get(0, &path(0)).unwrap(); // 1 is now the least recent
        handles.get(3, &path(3)).unwrap();
        assert_eq!(handles.open_count(), 3);
        assert!(handles.files[1].is_none());
        assert!(handles.files[0].is_some() && handles.files[2].is_some());
        for round in 0..1000 {
            handles.get(round % 50, &path(round % 50)).unwrap();
            assert!(handles.open_count() <= 3);
        }
        assert!(handles.order.len() <= 4 * 3 + 64 + 1);
    }

    #[test]
    fn reports_a_file_it_created_and_refuses_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let mut handles = Handles::new(4);
        let (_, created) = handles.get(0, &dir.path().join("new")).unwrap();
        assert!(created);
        handles.close(0);
        let (_, created) = handles.get(0, &dir.path().join("new")).unwrap();
        assert!(!created, "it exists now");
        let target = dir.path().join("target");
        std::fs::write(&target, b"untouched").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("link")).unwrap();
        let err = handles.get(1, &dir.path().join("link")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
        assert_eq!(std::fs::read(&target).unwrap(), b"untouched");
    }
}
