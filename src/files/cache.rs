//! A short-lived cache of resolved static files, so that a hot file is served without resolving
//! its path, and a small one without any system call at all (nginx's `open_file_cache`, plus the
//! bytes of small files).
//!
//! Freshness:
//! - What a path names, and which precompressed siblings it has, is trusted for
//!   [`FILE_CACHE_TTL_SECS`]; after that the path is resolved again, so a file created, replaced by
//!   rename or removed is seen within that time.
//! - A cached file's metadata is read again (`fstat`) in every loop turn that uses it: a file
//!   changed in place is seen from the next turn on, with its new length and validators, and its
//!   cached bytes are read again. All requests of one turn share one snapshot, so a busy loop pays
//!   one `fstat` per hot file per turn instead of one per request.
//! - Files up to [`SMALL_FILE_MAX_BYTES`] keep their bytes (at most [`FILE_CACHE_BYTES`] in all), which
//!   are served while the metadata stays the same. A rewrite that keeps both the length and the
//!   modification time (same timestamp tick) cannot be told apart by `fstat`; it is seen once the
//!   entry expires.
//!
//! Requests for `?download` do not use the cache (the file name comes from path resolution), and
//! device files never go through it.
use crate::files::OpenFile;
use crate::limits::{
    FILE_CACHE_BYTES, FILE_CACHE_ENTRIES, FILE_CACHE_TTL_SECS, SMALL_FILE_MAX_BYTES,
};
use std::collections::HashMap;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::rc::Rc;
use std::time::Instant;

/// The precompressed siblings of a file, as found next to it: `name.br`, `name.gz`.
#[derive(Debug, Clone, Default)]
pub struct Siblings {
    pub br: Option<OpenFile>,
    pub gzip: Option<OpenFile>,
}

/// A cached file, fresh as of this loop turn.
#[derive(Debug)]
pub struct Hit {
    pub file: OpenFile,
    /// `None` when no request has looked for siblings since the path was resolved.
    pub siblings: Option<Siblings>,
}

/// Resolved files by request path.
#[derive(Default)]
pub struct FileCache {
    entries: HashMap<Box<str>, Entry>,
    /// Bytes of contents held by `entries`.
    content_bytes: usize,
}

struct Entry {
    file: OpenFile,
    siblings: Option<Siblings>,
    /// `FILE_CACHE_TTL_SECS` after the path was resolved.
    expires: Instant,
    /// The loop turn in which the metadata was last read.
    checked_turn: u64,
}

impl FileCache {
    /// The file that `path` named less than `FILE_CACHE_TTL_SECS` before `now`, its metadata and bytes
    /// current as of loop turn `turn`, if any. A file whose metadata cannot be read is dropped.
    pub fn get(&mut self, path: &str, now: Instant, turn: u64) -> Option<Hit> {
        let entry = self.entries.get_mut(path)?;
        let mut fresh = now < entry.expires;
        if fresh && entry.checked_turn != turn {
            entry.checked_turn = turn;
            fresh = revalidate(&mut entry.file, &mut self.content_bytes);
            if let Some(siblings) = &mut entry.siblings {
                for sibling in [&mut siblings.br, &mut siblings.gzip].into_iter().flatten() {
                    fresh &= revalidate(sibling, &mut self.content_bytes);
                }
            }
        }
        if !fresh {
            self.remove(path);
            return None;
        }
        Some(Hit {
            file: entry.file.clone(),
            siblings: entry.siblings.clone(),
        })
    }

    /// Remembers `file` (and `siblings`, if they were looked for) as what `path` named at `now`,
    /// in turn `turn`. Returns the file with its bytes attached when they were cached.
    pub fn put(
        &mut self,
        path: &str,
        file: OpenFile,
        siblings: Option<Siblings>,
        now: Instant,
        turn: u64,
    ) -> OpenFile {
        if self.entries.len() >= FILE_CACHE_ENTRIES && !self.entries.contains_key(path) {
            self.entries.clear();
            self.content_bytes = 0;
        }
        self.remove(path);
        let mut entry = Entry {
            file,
            siblings,
            expires: now + FILE_CACHE_TTL_SECS,
            checked_turn: turn,
        };
        load_contents(&mut entry.file, &mut self.content_bytes);
        if let Some(siblings) = &mut entry.siblings {
            for sibling in [&mut siblings.br, &mut siblings.gzip].into_iter().flatten() {
                load_contents(sibling, &mut self.content_bytes);
            }
        }
        let file = entry.file.clone();
        self.entries.insert(path.into(), entry);
        file
    }

    /// Bytes of file contents held now.
    pub fn content_bytes(&self) -> usize {
        self.content_bytes
    }

    fn remove(&mut self, path: &str) {
        if let Some(mut entry) = self.entries.remove(path) {
            drop_contents(&mut entry.file, &mut self.content_bytes);
            if let Some(siblings) = &mut entry.siblings {
                for sibling in [&mut siblings.br, &mut siblings.gzip].into_iter().flatten() {
                    drop_contents(sibling, &mut self.content_bytes);
                }
            }
        }
    }
}

/// Reads `file`'s metadata from its descriptor; if it changed, takes the new values and reads the
/// bytes again. False when the metadata cannot be read.
fn revalidate(file: &mut OpenFile, content_bytes: &mut usize) -> bool {
    let Ok(meta) = file.file.metadata() else {
        return false;
    };
    let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
    if (meta.len(), modified, meta.ino()) != (file.len, file.modified, file.inode) {
        drop_contents(file, content_bytes);
        file.len = meta.len();
        file.modified = modified;
        file.inode = meta.ino();
        load_contents(file, content_bytes);
    }
    true
}

/// Attaches the bytes of a small file, within the cache's byte budget. A file that yields fewer
/// than `len` bytes (cut short meanwhile) keeps none; the next revalidation sees its new length.
fn load_contents(file: &mut OpenFile, content_bytes: &mut usize) {
    let len = file.len as usize;
    if file.contents.is_some()
        || file.len > SMALL_FILE_MAX_BYTES
        || *content_bytes + len > FILE_CACHE_BYTES
    {
        return;
    }
    let mut bytes = vec![0; len];
    if file.file.read_exact_at(&mut bytes, 0).is_ok() {
        *content_bytes += len;
        file.contents = Some(Rc::from(bytes));
    }
}

fn drop_contents(file: &mut OpenFile, content_bytes: &mut usize) {
    if let Some(bytes) = file.contents.take() {
        *content_bytes -= bytes.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::ContentType;
    use std::io::Write;

    fn open_file(len: u64) -> OpenFile {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&vec![b'x'; len as usize]).unwrap();
        let meta = file.metadata().unwrap();
        OpenFile {
            file: Rc::new(file),
            len,
            modified: meta.modified().unwrap(),
            inode: meta.ino(),
            content_type: ContentType::OCTET_STREAM,
            contents: None,
        }
    }

    fn contents(hit: Option<Hit>) -> Option<Vec<u8>> {
        hit.and_then(|h| h.file.contents).map(|c| c.to_vec())
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let mut cache = FileCache::default();
        let t0 = Instant::now();
        cache.put("/a", open_file(5), None, t0, 1);
        assert_eq!(
            cache
                .get("/a", t0 + FILE_CACHE_TTL_SECS / 2, 2)
                .map(|h| h.file.len),
            Some(5)
        );
        assert!(cache.get("/a", t0 + FILE_CACHE_TTL_SECS, 3).is_none());
        assert!(
            cache.get("/a", t0, 4).is_none(),
            "an expired entry is dropped"
        );
        assert!(cache.get("/b", t0, 4).is_none());
        assert_eq!(cache.content_bytes(), 0, "its bytes went with it");
    }

    #[test]
    fn small_files_are_served_from_memory_and_large_ones_are_not() {
        let mut cache = FileCache::default();
        let t0 = Instant::now();
        let small = cache.put("/s", open_file(SMALL_FILE_MAX_BYTES), None, t0, 1);
        assert_eq!(small.contents.as_deref().map(<[u8]>::len), Some(16 * 1024));
        let large = cache.put("/l", open_file(SMALL_FILE_MAX_BYTES + 1), None, t0, 1);
        assert!(large.contents.is_none());
        assert_eq!(cache.content_bytes(), SMALL_FILE_MAX_BYTES as usize);
    }

    #[test]
    fn a_change_in_place_is_seen_in_the_next_turn_not_within_this_one() {
        let mut cache = FileCache::default();
        let t0 = Instant::now();
        let file = open_file(3);
        let handle = Rc::clone(&file.file);
        cache.put("/a", file, None, t0, 1);
        (&*handle).write_all(b"more").unwrap();
        let same_turn = cache.get("/a", t0, 1).unwrap();
        assert_eq!(same_turn.file.len, 3, "one snapshot per turn");
        assert_eq!(same_turn.file.contents.as_deref(), Some(&b"xxx"[..]));
        assert_eq!(contents(cache.get("/a", t0, 2)), Some(b"xxxmore".to_vec()));
        assert_eq!(cache.content_bytes(), 7);
    }

    #[test]
    fn siblings_are_kept_and_revalidated_with_their_file() {
        let mut cache = FileCache::default();
        let t0 = Instant::now();
        let gzip = open_file(2);
        let handle = Rc::clone(&gzip.file);
        let siblings = Siblings {
            br: None,
            gzip: Some(gzip),
        };
        cache.put("/a", open_file(10), Some(siblings), t0, 1);
        assert_eq!(cache.content_bytes(), 12);
        (&*handle).write_all(b"zz").unwrap();
        let hit = cache.get("/a", t0, 2).unwrap();
        let siblings = hit.siblings.unwrap();
        assert!(siblings.br.is_none());
        let gzip = siblings.gzip.unwrap();
        assert_eq!(
            (gzip.len, gzip.contents.as_deref()),
            (4, Some(&b"xxzz"[..]))
        );
        assert_eq!(cache.content_bytes(), 14);
    }

    #[test]
    fn contents_stay_within_the_byte_budget() {
        let mut cache = FileCache::default();
        let t0 = Instant::now();
        let files = FILE_CACHE_BYTES / SMALL_FILE_MAX_BYTES as usize;
        for i in 0..files {
            let file = cache.put(
                &format!("/{i}"),
                open_file(SMALL_FILE_MAX_BYTES),
                None,
                t0,
                1,
            );
            assert!(file.contents.is_some());
        }
        assert_eq!(cache.content_bytes(), FILE_CACHE_BYTES);
        let over = cache.put("/over", open_file(1), None, t0, 1);
        assert!(
            over.contents.is_none(),
            "one byte past the budget is not kept"
        );
        assert_eq!(cache.get("/over", t0, 2).map(|h| h.file.len), Some(1));
        cache.put("/0", open_file(0), None, t0, 1);
        assert_eq!(
            cache.content_bytes(),
            FILE_CACHE_BYTES - SMALL_FILE_MAX_BYTES as usize,
            "replacing an entry gives its bytes back"
        );
    }

    #[test]
    fn a_full_cache_starts_over() {
        let mut cache = FileCache::default();
        let t0 = Instant::now();
        for i in 0..FILE_CACHE_ENTRIES {
            cache.put(&format!("/{i}"), open_file(1), None, t0, 1);
        }
        assert!(cache.get("/0", t0, 1).is_some());
        cache.put("/new", open_file(1), None, t0, 1);
        assert!(cache.get("/0", t0, 1).is_none());
        assert!(cache.get("/new", t0, 1).is_some());
        assert_eq!(cache.content_bytes(), 1);
    }
}
