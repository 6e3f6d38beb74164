//! A short-lived cache of resolved static files, so that a hot file is served without an open,
//! a stat and a close on every request (what nginx's `open_file_cache` does).
//!
//! Freshness: on every hit the cached descriptor is `fstat`ed, so a file changed in place
//! (written, appended, truncated) is seen at once with its new length and validators. What the
//! path names is trusted for [`FILE_CACHE_TTL`]; after that the path is resolved again, so a file
//! replaced by rename or removed is seen within that time. Only requests whose answer does not depend on content
//! negotiation use it (no `Accept-Encoding`, no `?download`): those that may get a precompressed
//! sibling resolve every time. Device files never go through it.
use crate::files::OpenFile;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a resolved file is trusted.
pub const FILE_CACHE_TTL: Duration = Duration::from_secs(1);
/// Most paths kept; when full, the cache starts over.
pub const FILE_CACHE_ENTRIES: usize = 1024;

/// Resolved files by request path.
#[derive(Default)]
pub struct FileCache {
    entries: HashMap<Box<str>, (OpenFile, Instant)>,
}

impl FileCache {
    /// The file resolved for `path` less than `FILE_CACHE_TTL` before `now`, with its metadata
    /// read again from the descriptor, if any.
    pub fn get(&mut self, path: &str, now: Instant) -> Option<OpenFile> {
        use std::os::unix::fs::MetadataExt;
        match self.entries.get(path) {
            Some((file, at)) if now.saturating_duration_since(*at) < FILE_CACHE_TTL => {
                let meta = file.file.metadata().ok()?;
                let mut fresh = file.clone();
                fresh.len = meta.len();
                fresh.modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                fresh.inode = meta.ino();
                Some(fresh)
            }
            Some(_) => {
                self.entries.remove(path);
                None
            }
            None => None,
        }
    }

    /// Remembers `file` as what `path` resolved to at `now`.
    pub fn put(&mut self, path: &str, file: &OpenFile, now: Instant) {
        if self.entries.len() >= FILE_CACHE_ENTRIES {
            self.entries.clear();
        }
        self.entries.insert(path.into(), (file.clone(), now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::{ContentType, OpenFile};
    use std::rc::Rc;

    fn open_file(len: u64) -> OpenFile {
        use std::io::Write;
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&vec![b'x'; len as usize]).unwrap();
        OpenFile {
            file: Rc::new(file),
            len,
            modified: std::time::SystemTime::UNIX_EPOCH,
            inode: 1,
            content_type: ContentType::OCTET_STREAM,
        }
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let mut cache = FileCache::default();
        let t0 = Instant::now();
        cache.put("/a", &open_file(5), t0);
        assert_eq!(
            cache.get("/a", t0 + FILE_CACHE_TTL / 2).map(|f| f.len),
            Some(5)
        );
        assert!(cache.get("/a", t0 + FILE_CACHE_TTL).is_none());
        assert!(cache.get("/a", t0).is_none(), "an expired entry is dropped");
        assert!(cache.get("/b", t0).is_none());
    }

    #[test]
    fn a_hit_sees_changes_made_in_place() {
        use std::io::Write;
        let mut cache = FileCache::default();
        let t0 = Instant::now();
        let file = open_file(3);
        cache.put("/a", &file, t0);
        (&*file.file).write_all(b"more").unwrap();
        assert_eq!(cache.get("/a", t0).map(|f| f.len), Some(7));
    }

    #[test]
    fn a_full_cache_starts_over() {
        let mut cache = FileCache::default();
        let t0 = Instant::now();
        let file = open_file(1);
        for i in 0..FILE_CACHE_ENTRIES {
            cache.put(&format!("/{i}"), &file, t0);
        }
        assert!(cache.get("/0", t0).is_some());
        cache.put("/new", &file, t0);
        assert!(cache.get("/0", t0).is_none());
        assert!(cache.get("/new", t0).is_some());
    }
}
