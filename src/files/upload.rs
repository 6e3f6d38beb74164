//! `POST /files/{path}`: an uploaded body becomes a file under `--directory`, atomically. The
//! body is streamed to a temporary file in the target folder as it arrives (bounded by
//! `--max-upload`, not held in memory) and renamed into place once whole and synced, so a reader
//! sees the old file or the whole new one, and a failed or cut-off upload leaves nothing behind.
use super::{open_in_root, Root};
use crate::http::error::RequestError;
use crate::limits::{MAX_UPLOAD_NAME_BYTES, UPLOAD_WRITEBACK_BYTES};
use rustix::fs::{Mode, OFlags};
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};

/// Validates a file name from the URL (already percent-decoded): one path segment, not `.` or
/// `..`, no NUL, no separators, not starting with `.` (temporary files start with `.`), at most
/// `MAX_UPLOAD_NAME_BYTES`.
pub fn validate_name(name: &[u8]) -> Result<&[u8], RequestError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_UPLOAD_NAME_BYTES
        && name[0] != b'.'
        && !name.iter().any(|&b| b == b'/' || b == b'\\' || b == 0);
    if ok {
        Ok(name)
    } else {
        Err(RequestError::BadPath)
    }
}

/// Validates an upload path below `/files/` (percent-decoded): one or more names joined by `/`,
/// each as [`validate_name`] demands. Returns the folder part (empty for the top) and the name.
pub fn split_path(path: &[u8]) -> Result<(&[u8], &[u8]), RequestError> {
    for segment in path.split(|&b| b == b'/') {
        validate_name(segment)?;
    }
    Ok(match path.iter().rposition(|&b| b == b'/') {
        Some(at) => (&path[..at], &path[at + 1..]),
        None => (&[], path),
    })
}

/// An upload being written: its temporary file in the target folder. Dropped before
/// [`Upload::finish`], the temporary file is removed.
#[derive(Debug)]
pub struct Upload {
    folder: OwnedFd,
    temp: CString,
    name: CString,
    file: File,
    written: u64,
    /// Writeback was started for the bytes before this offset.
    writeback_from: u64,
    finished: bool,
}

impl Upload {
    /// Opens the folder of `path` (relative to `root`, validated by [`split_path`]) and creates
    /// a temporary file there. `NotFound` if the folder does not exist or is `private` (the data
    /// directory: device files are never replaced by an upload).
    pub fn begin(
        root: &Root,
        path: &[u8],
        private: Option<(u64, u64)>,
    ) -> Result<Upload, RequestError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let (folder_path, name) = split_path(path)?;
        let mut rel = if folder_path.is_empty() {
            b".".to_vec()
        } else {
            folder_path.to_vec()
        };
        rel.push(0);
        let folder = open_in_root(root, &rel)?;
        let stat = rustix::fs::fstat(&folder).map_err(|_| RequestError::Internal)?;
        let is_dir = rustix::fs::FileType::from_raw_mode(stat.st_mode).is_dir();
        if !is_dir || Some(super::listing::identity(&stat)) == private {
            return Err(RequestError::NotFound);
        }
        let temp = format!(
            ".upload-{}-{}.tmp",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let temp = CString::new(temp).map_err(|_| RequestError::Internal)?;
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&folder, &temp, flags | OFlags::NOFOLLOW, Mode::from(0o644))
            .map_err(|e| refusal(&e.into()))?;
        Ok(Upload {
            folder,
            temp,
            name: CString::new(name).map_err(|_| RequestError::BadPath)?,
            file: File::from(fd),
            written: 0,
            writeback_from: 0,
            finished: false,
        })
    }

    /// Appends the next bytes of the body. Every `UPLOAD_WRITEBACK_BYTES` the kernel is asked to
    /// start writing them out, so the final sync has little left to wait for (it runs on the
    /// reactor thread).
    pub fn write(&mut self, data: &[u8]) -> Result<(), RequestError> {
        self.file
            .write_all(data)
            .map_err(|e| self.failed("write", &e))?;
        self.written += data.len() as u64;
        let pending = self.written - self.writeback_from;
        if pending >= UPLOAD_WRITEBACK_BYTES {
            // `POSIX_FADV_DONTNEED` starts writeback of the range (and drops it from the page
            // cache once written: an upload is rarely read back at once). Only a hint: a failure
            // shows again in the final sync.
            let _ = rustix::fs::fadvise(
                &self.file,
                self.writeback_from,
                std::num::NonZeroU64::new(pending),
                rustix::fs::Advice::DontNeed,
            );
            self.writeback_from = self.written;
        }
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The body is whole: syncs the file, renames it over the final name and syncs the folder.
    pub fn finish(mut self) -> Result<(), RequestError> {
        self.file.sync_data().map_err(|e| self.failed("sync", &e))?;
        rustix::fs::renameat(&self.folder, &self.temp, &self.folder, &self.name)
            .map_err(|e| self.failed("rename", &e.into()))?;
        self.finished = true;
        rustix::fs::fsync(&self.folder).map_err(|e| self.failed("sync folder", &e.into()))
    }

    fn failed(&self, what: &str, e: &io::Error) -> RequestError {
        log::warn!("upload {:?}: {what}: {e}", self.name);
        refusal(e)
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.finished {
            let _ = rustix::fs::unlinkat(&self.folder, &self.temp, rustix::fs::AtFlags::empty());
        }
    }
}

/// The reply for a failed upload: ENOSPC 507, a name taken by a folder or no permission 403,
/// anything else 500.
fn refusal(e: &io::Error) -> RequestError {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => RequestError::InsufficientStorage,
        Some(libc::EISDIR)
        | Some(libc::ENOTEMPTY)
        | Some(libc::EEXIST)
        | Some(libc::EACCES)
        | Some(libc::EPERM)
        | Some(libc::EROFS) => RequestError::Forbidden,
        _ => RequestError::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "a.txt",
            "report 2026.csv",
            "é.bin",
            "a..b",
            &"x".repeat(255),
        ] {
            assert!(validate_name(ok.as_bytes()).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "a\\b",
            "a\0b",
            &"x".repeat(256),
        ] {
            assert_eq!(
                validate_name(bad.as_bytes()),
                Err(RequestError::BadPath),
                "{bad:?}"
            );
        }
    }

    fn names_in(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn upload(root: &Root, path: &str, body: &[u8]) -> Result<(), RequestError> {
        let mut up = Upload::begin(root, path.as_bytes(), None)?;
        for piece in body.chunks(3) {
            up.write(piece)?;
        }
        assert_eq!(up.written(), body.len() as u64);
        up.finish()
    }

    #[test]
    fn paths_are_names_joined_by_slashes() {
        assert_eq!(split_path(b"a.txt"), Ok((&b""[..], &b"a.txt"[..])));
        assert_eq!(split_path(b"x/y/z.bin"), Ok((&b"x/y"[..], &b"z.bin"[..])));
        for bad in ["", "/a", "a/", "a//b", "a/../b", "a/./b", ".h/a", "a/.h"] {
            assert_eq!(
                split_path(bad.as_bytes()),
                Err(RequestError::BadPath),
                "{bad}"
            );
        }
    }

    #[test]
    fn stores_and_replaces_atomically_leaving_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).unwrap();
        upload(&root, "a.txt", b"one").unwrap();
        upload(&root, "a.txt", b"two, longer").unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("a.txt")).unwrap(),
            b"two, longer"
        );
        assert_eq!(names_in(dir.path()), ["a.txt"]);
    }

    #[test]
    fn into_a_folder_that_exists_and_not_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub/deeper")).unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        let root = Root::open(dir.path()).unwrap();
        upload(&root, "sub/deeper/x.bin", b"x").unwrap();
        assert_eq!(names_in(&dir.path().join("sub/deeper")), ["x.bin"]);
        assert_eq!(
            upload(&root, "nothere/x", b"x"),
            Err(RequestError::NotFound)
        );
        let data = rustix::fs::stat(dir.path().join("data")).unwrap();
        let private = Some(super::super::listing::identity(&data));
        let refused = Upload::begin(&root, b"data/dev", private).map(|_| ());
        assert_eq!(refused, Err(RequestError::NotFound));
        assert!(names_in(&dir.path().join("data")).is_empty());
    }

    #[test]
    fn an_upload_dropped_before_its_end_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).unwrap();
        let mut up = Upload::begin(&root, b"cut.bin", None).unwrap();
        up.write(b"half of it").unwrap();
        assert_eq!(names_in(dir.path()).len(), 1, "the temporary file");
        drop(up);
        assert!(names_in(dir.path()).is_empty());
    }

    #[test]
    fn a_failed_store_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("taken")).unwrap();
        // Renaming a file over a non-empty directory fails.
        std::fs::write(dir.path().join("taken/inner"), b"x").unwrap();
        let root = Root::open(dir.path()).unwrap();
        assert_eq!(
            upload(&root, "taken", b"data"),
            Err(RequestError::Forbidden)
        );
        assert_eq!(names_in(dir.path()), ["taken"]);
    }
}
