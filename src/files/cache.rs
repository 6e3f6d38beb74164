//! A cache of resolved static files, so that a hot file is served without resolving its path,
//! and a small one without any system call at all (nginx's `open_file_cache`, plus the bytes of
//! small files).
//!
//! Freshness: every directory leading to a cached file is watched (`watch.rs`), and the reactor
//! hands the changes to [`FileCache::apply_changes`] before the requests of each loop turn. A
//! file created, written, truncated, renamed, replaced or removed (or a directory on its way)
//! is dropped from the cache, so the very next request resolves it again. A hit reads nothing:
//! no `stat`, no `read`. A file that cannot be watched is not cached. As a safety net for
//! filesystems that report no events (NFS, FUSE), a path is resolved again at the latest
//! [`FILE_CACHE_TTL_SECS`] after it was cached.
//!
//! Files up to [`SMALL_FILE_MAX_BYTES`] keep their bytes (at most [`FILE_CACHE_BYTES`] in all).
//! Requests for `?download` do not use the cache (the file name comes from path resolution), and
//! device files never go through it.
use super::watch::{Changed, SiteWatch};
use crate::files::OpenFile;
use crate::limits::{
    FILE_CACHE_BYTES, FILE_CACHE_ENTRIES, FILE_CACHE_TTL_SECS, SMALL_FILE_MAX_BYTES,
};
use std::collections::HashMap;
use std::os::fd::RawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

/// The precompressed siblings of a file, as found next to it: `name.br`, `name.gz`.
#[derive(Debug, Clone, Default)]
pub struct Siblings {
    pub br: Option<OpenFile>,
    pub gzip: Option<OpenFile>,
}

/// A cached file, as it is now.
#[derive(Debug)]
pub struct Hit {
    pub file: OpenFile,
    /// `None` when no request has looked for siblings since the path was resolved.
    pub siblings: Option<Siblings>,
}

/// Resolved files by request path.
pub struct FileCache {
    entries: HashMap<Box<str>, Entry>,
    /// Bytes of contents held by `entries`.
    content_bytes: usize,
    watch: SiteWatch,
    /// Request paths to drop (reused).
    stale: Vec<Box<str>>,
}

struct Entry {
    file: OpenFile,
    siblings: Option<Siblings>,
    /// The root-relative path the request path resolved to (`a/b.txt`, `dir/index.html`).
    rel: Box<[u8]>,
    /// `FILE_CACHE_TTL_SECS` after the path was resolved.
    expires: Instant,
}

impl FileCache {
    /// An empty cache for files under `root` (its canonical path).
    pub fn new(root: &Path) -> FileCache {
        FileCache {
            entries: HashMap::new(),
            content_bytes: 0,
            watch: SiteWatch::new(root),
            stale: Vec::new(),
        }
    }

    /// The descriptor of the watch, for the reactor to poll.
    pub fn watch_fd(&self) -> Option<RawFd> {
        self.watch.fd()
    }

    /// The file that `path` named when it was cached, less than `FILE_CACHE_TTL_SECS` before
    /// `now`, unchanged since (as far as the watch has reported).
    pub fn get(&mut self, path: &str, now: Instant) -> Option<Hit> {
        let entry = self.entries.get(path)?;
        if now >= entry.expires {
            self.remove(path);
            return None;
        }
        Some(Hit {
            file: entry.file.clone(),
            siblings: entry.siblings.clone(),
        })
    }

    /// Remembers `file` (and `siblings`, if they were looked for) as what `path` named at `now`,
    /// found at `rel` under the root. Returns the file with its bytes attached when they were
    /// cached; a file whose directories cannot be watched is not cached.
    pub fn put(
        &mut self,
        path: &str,
        rel: &[u8],
        file: OpenFile,
        siblings: Option<Siblings>,
        now: Instant,
    ) -> OpenFile {
        if self.entries.len() >= FILE_CACHE_ENTRIES && !self.entries.contains_key(path) {
            self.clear();
        }
        self.remove(path);
        if !self.watch.watch_dirs_of(rel) {
            return file;
        }
        let mut entry = Entry {
            file,
            siblings,
            rel: rel.into(),
            expires: now + FILE_CACHE_TTL_SECS,
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

    /// Drops what the changes reported since the last call make stale: an entry whose file, or
    /// one of its directories, or one of its precompressed siblings changed. Call before the
    /// requests of each loop turn in which the watch's descriptor was ready.
    pub fn apply_changes(&mut self) {
        let (entries, stale) = (&self.entries, &mut self.stale);
        let mut everything = false;
        self.watch.changes(|changed| match changed {
            Changed::Everything => everything = true,
            Changed::Path(p) => {
                for (path, entry) in entries {
                    if is_affected(&entry.rel, p) {
                        stale.push(path.clone());
                    }
                }
            }
        });
        if everything {
            self.clear();
        }
        let mut stale = std::mem::take(&mut self.stale);
        for path in stale.drain(..) {
            self.remove(&path);
        }
        self.stale = stale;
    }

    /// Bytes of file contents held now.
    pub fn content_bytes(&self) -> usize {
        self.content_bytes
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.content_bytes = 0;
        self.watch.clear();
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

/// Whether a change at `changed` touches the file at `rel`: the file itself, a directory on its
/// way, or a precompressed sibling (`rel.gz`, `rel.br`: one created or removed changes what is
/// served).
fn is_affected(rel: &[u8], changed: &[u8]) -> bool {
    if let Some(rest) = rel.strip_prefix(changed) {
        return rest.is_empty() || rest[0] == b'/';
    }
    changed
        .strip_prefix(rel)
        .is_some_and(|suffix| suffix == b".gz" || suffix == b".br")
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
    use std::os::unix::fs::MetadataExt;

    /// A served directory with a cache over it.
    struct Site {
        dir: tempfile::TempDir,
        cache: FileCache,
    }

    impl Site {
        fn new() -> Site {
            let dir = tempfile::tempdir().unwrap();
            let cache = FileCache::new(dir.path());
            Site { dir, cache }
        }

        /// Writes `rel` with `len` bytes and opens it as resolution would.
        fn file(&self, rel: &str, len: u64) -> OpenFile {
            let path = self.dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, vec![b'x'; len as usize]).unwrap();
            self.open(rel, len)
        }

        /// Opens `rel` as resolution would.
        fn open(&self, rel: &str, len: u64) -> OpenFile {
            let file = std::fs::File::open(self.dir.path().join(rel)).unwrap();
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

        /// Caches `rel` as request path `/rel`.
        fn put(&mut self, rel: &str, len: u64, now: Instant) -> OpenFile {
            let file = self.file(rel, len);
            self.cache
                .put(&format!("/{rel}"), rel.as_bytes(), file, None, now)
        }
    }

    fn contents(hit: Option<Hit>) -> Option<Vec<u8>> {
        hit.and_then(|h| h.file.contents).map(|c| c.to_vec())
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let mut site = Site::new();
        let t0 = Instant::now();
        site.put("a", 5, t0);
        let cache = &mut site.cache;
        let half = t0 + FILE_CACHE_TTL_SECS / 2;
        assert_eq!(cache.get("/a", half).map(|h| h.file.len), Some(5));
        assert!(cache.get("/a", t0 + FILE_CACHE_TTL_SECS).is_none());
        assert!(cache.get("/a", t0).is_none(), "an expired entry is dropped");
        assert!(cache.get("/b", t0).is_none());
        assert_eq!(cache.content_bytes(), 0, "its bytes went with it");
    }

    #[test]
    fn small_files_are_served_from_memory_and_large_ones_are_not() {
        let mut site = Site::new();
        let t0 = Instant::now();
        let small = site.put("s", SMALL_FILE_MAX_BYTES, t0);
        assert_eq!(small.contents.as_deref().map(<[u8]>::len), Some(16 * 1024));
        let large = site.put("l", SMALL_FILE_MAX_BYTES + 1, t0);
        assert!(large.contents.is_none());
        assert_eq!(site.cache.content_bytes(), SMALL_FILE_MAX_BYTES as usize);
    }

    #[test]
    fn a_file_changed_in_place_is_dropped_once_the_changes_are_applied() {
        let mut site = Site::new();
        let t0 = Instant::now();
        site.put("a", 3, t0);
        std::fs::write(site.dir.path().join("a"), b"xxx").unwrap(); // same length and bytes
        assert_eq!(contents(site.cache.get("/a", t0)), Some(b"xxx".to_vec()));
        site.cache.apply_changes();
        assert!(site.cache.get("/a", t0).is_none());
        assert_eq!(site.cache.content_bytes(), 0);
    }

    #[test]
    fn replaced_removed_renamed_and_sibling_changes_drop_the_entries_they_touch() {
        let mut site = Site::new();
        let t0 = Instant::now();
        let rels = ["a", "b", "d/c", "d/e/f", "g"];
        // Written before anything is watched, so that no change is pending when they are cached.
        for rel in rels {
            site.file(rel, 1);
        }
        for rel in rels {
            let file = site.open(rel, 1);
            let path = format!("/{rel}");
            site.cache.put(&path, rel.as_bytes(), file, None, t0);
        }
        let root = site.dir.path().to_path_buf();
        std::fs::write(root.join("new"), b"n").unwrap();
        std::fs::rename(root.join("new"), root.join("a")).unwrap(); // replaced
        std::fs::remove_file(root.join("b")).unwrap(); // removed
        std::fs::rename(root.join("d/e"), root.join("d/x")).unwrap(); // a directory moved
        std::fs::write(root.join("g.gz"), b"z").unwrap(); // a sibling appeared
        site.cache.apply_changes();
        for gone in ["/a", "/b", "/d/e/f", "/g"] {
            assert!(site.cache.get(gone, t0).is_none(), "{gone}");
        }
        assert!(site.cache.get("/d/c", t0).is_some(), "untouched");
    }

    #[test]
    fn a_file_whose_directory_cannot_be_watched_is_not_cached() {
        let mut site = Site::new();
        let t0 = Instant::now();
        let file = site.file("here", 1);
        let served = site.cache.put("/gone/x", b"gone/x", file, None, t0);
        assert_eq!(served.len, 1);
        assert!(site.cache.get("/gone/x", t0).is_none());
    }

    #[test]
    fn contents_stay_within_the_byte_budget() {
        let mut site = Site::new();
        let t0 = Instant::now();
        let files = FILE_CACHE_BYTES / SMALL_FILE_MAX_BYTES as usize;
        for i in 0..files {
            let file = site.put(&i.to_string(), SMALL_FILE_MAX_BYTES, t0);
            assert!(file.contents.is_some());
        }
        assert_eq!(site.cache.content_bytes(), FILE_CACHE_BYTES);
        let over = site.put("over", 1, t0);
        assert!(
            over.contents.is_none(),
            "one byte past the budget is not kept"
        );
        assert_eq!(site.cache.get("/over", t0).map(|h| h.file.len), Some(1));
        site.put("0", 0, t0);
        assert_eq!(
            site.cache.content_bytes(),
            FILE_CACHE_BYTES - SMALL_FILE_MAX_BYTES as usize,
            "replacing an entry gives its bytes back"
        );
    }

    #[test]
    fn a_full_cache_starts_over() {
        let mut site = Site::new();
        let t0 = Instant::now();
        for i in 0..FILE_CACHE_ENTRIES {
            site.put(&i.to_string(), 1, t0);
        }
        assert!(site.cache.get("/0", t0).is_some());
        site.put("new", 1, t0);
        assert!(site.cache.get("/0", t0).is_none());
        assert!(site.cache.get("/new", t0).is_some());
        assert_eq!(site.cache.content_bytes(), 1);
    }

    #[test]
    fn what_a_change_touches() {
        assert!(is_affected(b"a/b.txt", b"a/b.txt"));
        assert!(is_affected(b"a/b.txt", b"a"));
        assert!(is_affected(b"a/b.txt", b"a/b.txt.gz"));
        assert!(is_affected(b"a/b.txt", b"a/b.txt.br"));
        assert!(!is_affected(b"a/b.txt", b"a/b"));
        assert!(!is_affected(b"a/b.txt", b"a/b.txt.bak"));
        assert!(!is_affected(b"ab/c", b"a"));
    }
}
