//! An LRU of open device files, so that any number of devices work within the process's
//! descriptor limit: at most `capacity` files are open at once; the least recently used is closed
//! when another must be opened. The capacity is `--max-open-devices`, by default derived from the
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
}

impl Handles {
    pub fn new(capacity: usize) -> Self {
        Handles {
            capacity: capacity.max(1),
            files: Vec::new(),
            order: VecDeque::new(),
            open: 0,
            tick: 0,
        }
    }

    /// The open file of `device`, opening `path` for appending (created 0644) if needed.
    pub fn get(&mut self, device: usize, path: &Path) -> io::Result<Arc<File>> {
        if self.files.len() <= device {
            self.files.resize_with(device + 1, || None);
        }
        self.tick += 1;
        let tick = self.tick;
        if let Some((file, used)) = &mut self.files[device] {
            *used = tick;
            let file = Arc::clone(file);
            self.note_use(device, tick);
            return Ok(file);
        }
        while self.open >= self.capacity {
            self.evict_one();
        }
        let file = Arc::new(
            OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o644)
                .open(path)?,
        );
        self.files[device] = Some((Arc::clone(&file), tick));
        self.open += 1;
        self.note_use(device, tick);
        Ok(file)
    }

    /// Closes the file of `device` if open (e.g. after a failed write).
    pub fn close(&mut self, device: usize) {
        if let Some(slot) = self.files.get_mut(device) {
            if slot.take().is_some() {
                self.open -= 1;
            }
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
}
