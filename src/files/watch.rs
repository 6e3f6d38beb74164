//! Change notification for the open-file cache (`cache.rs`): an inotify watch on every directory
//! that leads to a cached file, from ROOT down. A file created, written, truncated, renamed,
//! replaced or removed, or a directory renamed or removed, is reported as the root-relative path
//! that changed, and the cache drops what it held under that path. The reactor reads the events
//! before the requests of a loop turn, so a request sent after a change never sees the old file
//! (the kernel queues the event before the changing call returns).
//!
//! Where inotify is missing or its watches run out, [`SiteWatch::watch_dirs_of`] says so and the
//! file is not cached: it is resolved again on every request.
use log::warn;
use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What a change report names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed<'a> {
    /// This root-relative path (a file or a directory, and everything under it).
    Path(&'a [u8]),
    /// Events were lost (the kernel's queue overflowed): anything may have changed.
    Everything,
}

/// The watches of the served directory.
pub struct SiteWatch {
    inotify: Option<Inotify>,
    root: PathBuf,
    /// Watched directories, root-relative (`.` for ROOT), by descriptor and by path.
    dirs: HashMap<WatchDescriptor, Box<[u8]>>,
    by_dir: HashMap<Box<[u8]>, WatchDescriptor>,
    /// A report's path (reused).
    changed: Vec<u8>,
}

const FLAGS: AddWatchFlags = AddWatchFlags::IN_CREATE
    .union(AddWatchFlags::IN_DELETE)
    .union(AddWatchFlags::IN_MOVED_FROM)
    .union(AddWatchFlags::IN_MOVED_TO)
    .union(AddWatchFlags::IN_MODIFY)
    .union(AddWatchFlags::IN_ATTRIB)
    .union(AddWatchFlags::IN_CLOSE_WRITE)
    .union(AddWatchFlags::IN_DELETE_SELF)
    .union(AddWatchFlags::IN_MOVE_SELF)
    .union(AddWatchFlags::IN_ONLYDIR);

impl SiteWatch {
    /// Watches below `root` (its canonical path). Without inotify nothing is watched.
    pub fn new(root: &Path) -> SiteWatch {
        let inotify = match Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) {
            Ok(inotify) => Some(inotify),
            Err(e) => {
                warn!("inotify unavailable ({e}): static files are resolved on every request");
                None
            }
        };
        SiteWatch {
            inotify,
            root: root.to_path_buf(),
            dirs: HashMap::new(),
            by_dir: HashMap::new(),
            changed: Vec::new(),
        }
    }

    /// The descriptor for the reactor to poll.
    pub fn fd(&self) -> Option<RawFd> {
        self.inotify.as_ref().map(|i| i.as_fd().as_raw_fd())
    }

    /// Watches every directory from ROOT down to the one holding `rel` (a root-relative file
    /// path, `a/b/c.txt`). False if one of them cannot be watched: the caller must not cache
    /// the file then.
    pub fn watch_dirs_of(&mut self, rel: &[u8]) -> bool {
        let Some(inotify) = &self.inotify else {
            return false;
        };
        let mut end = Some(0);
        while let Some(at) = end {
            let dir: &[u8] = if at == 0 { b"." } else { &rel[..at] };
            if !self.by_dir.contains_key(dir) {
                let path = self.root.join(std::ffi::OsStr::from_bytes(dir));
                match inotify.add_watch(&path, FLAGS) {
                    Ok(wd) => {
                        self.dirs.insert(wd, dir.into());
                        self.by_dir.insert(dir.into(), wd);
                    }
                    Err(e) => {
                        if e == Errno::ENOSPC {
                            warn!("inotify watches exhausted: new files are resolved per request");
                        }
                        return false;
                    }
                }
            }
            end = memchr::memchr(b'/', &rel[at + usize::from(at > 0)..])
                .map(|i| at + usize::from(at > 0) + i);
        }
        true
    }

    /// Stops every watch (the cache dropped everything).
    pub fn clear(&mut self) {
        if let Some(inotify) = &self.inotify {
            for (wd, _) in self.dirs.drain() {
                let _ = inotify.rm_watch(wd);
            }
        }
        self.by_dir.clear();
    }

    /// Reports every change since the last call, in order; costs one `read` when there is none.
    pub fn changes(&mut self, mut each: impl FnMut(Changed<'_>)) {
        let Some(inotify) = &self.inotify else {
            return;
        };
        loop {
            let events = match inotify.read_events() {
                Ok(events) => events,
                Err(Errno::EAGAIN) => return,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    warn!("watching the served directory: {e}");
                    each(Changed::Everything);
                    return;
                }
            };
            for event in events {
                if event.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                    each(Changed::Everything);
                    continue;
                }
                let Some(dir) = self.dirs.get(&event.wd) else {
                    continue;
                };
                self.changed.clear();
                if dir.as_ref() != b"." {
                    self.changed.extend_from_slice(dir);
                }
                if let Some(name) = &event.name {
                    if !self.changed.is_empty() {
                        self.changed.push(b'/');
                    }
                    self.changed.extend_from_slice(name.as_bytes());
                }
                if self.changed.is_empty() {
                    // ROOT itself moved or went away.
                    each(Changed::Everything);
                } else {
                    each(Changed::Path(&self.changed));
                }
                if event.mask.contains(AddWatchFlags::IN_IGNORED) {
                    if let Some(dir) = self.dirs.remove(&event.wd) {
                        self.by_dir.remove(&dir);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(w: &mut SiteWatch) -> Vec<String> {
        let mut out = Vec::new();
        w.changes(|c| {
            out.push(match c {
                Changed::Path(p) => String::from_utf8_lossy(p).into_owned(),
                Changed::Everything => "*".into(),
            });
        });
        out
    }

    #[test]
    fn changes_under_watched_directories_are_reported_as_root_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/c.txt"), b"1").unwrap();
        let mut w = SiteWatch::new(dir.path());
        assert!(w.watch_dirs_of(b"a/b/c.txt"));
        assert_eq!(w.dirs.len(), 3, "ROOT, a and a/b");
        assert!(changes(&mut w).is_empty());
        std::fs::write(dir.path().join("a/b/c.txt"), b"2").unwrap();
        std::fs::write(dir.path().join("top.txt"), b"t").unwrap();
        std::fs::rename(dir.path().join("a/b"), dir.path().join("a/x")).unwrap();
        let seen = changes(&mut w);
        assert!(seen.contains(&"a/b/c.txt".to_string()), "{seen:?}");
        assert!(seen.contains(&"top.txt".to_string()), "{seen:?}");
        assert!(seen.contains(&"a/b".to_string()), "{seen:?}");
        // Unwatched: a directory no cached file lies in.
        std::fs::create_dir(dir.path().join("other")).unwrap();
        changes(&mut w);
        std::fs::write(dir.path().join("other/f"), b"f").unwrap();
        assert!(changes(&mut w).is_empty());
    }

    #[test]
    fn a_file_at_the_root_watches_the_root_only_and_clear_stops_watching() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = SiteWatch::new(dir.path());
        assert!(w.watch_dirs_of(b"index.html"));
        assert_eq!(w.dirs.len(), 1);
        w.clear();
        std::fs::write(dir.path().join("index.html"), b"x").unwrap();
        let seen = changes(&mut w);
        assert!(seen.iter().all(|c| c != "index.html"), "{seen:?}");
    }
}
