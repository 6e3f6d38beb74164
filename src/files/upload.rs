//! `POST /files/{name}`: an uploaded body becomes a file in `--directory`, atomically. The body
//! is written to a temporary file in the same directory and renamed into place, so a reader
//! sees the old file or the whole new one, and a failed upload leaves nothing behind.
use crate::http::error::RequestError;
use crate::limits::MAX_UPLOAD_NAME_BYTES;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
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

/// Writes `body` as `dir/name`, replacing any existing file atomically. ENOSPC maps to 507,
/// other failures to 500; the temporary file is removed on failure.
pub fn store(dir: &Path, name: &[u8], body: &[u8]) -> Result<(), RequestError> {
    use std::os::unix::ffi::OsStrExt;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let final_path = dir.join(std::ffi::OsStr::from_bytes(name));
    let temp_name = format!(
        ".upload-{}-{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let temp_path = dir.join(temp_name);
    let result = (|| -> io::Result<()> {
        let mut file: File = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&temp_path)?;
        file.write_all(body)?;
        file.sync_data()?;
        std::fs::rename(&temp_path, &final_path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&temp_path);
        log::warn!("upload {}: {e}", final_path.display());
        match e.raw_os_error() {
            Some(libc::ENOSPC) | Some(libc::EDQUOT) => RequestError::InsufficientStorage,
            Some(libc::EISDIR) | Some(libc::EACCES) | Some(libc::EPERM) => RequestError::Forbidden,
            _ => RequestError::Internal,
        }
    })
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

    #[test]
    fn stores_and_replaces_atomically_leaving_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        store(dir.path(), b"a.txt", b"one").unwrap();
        store(dir.path(), b"a.txt", b"two!").unwrap();
        assert_eq!(std::fs::read(dir.path().join("a.txt")).unwrap(), b"two!");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.txt")]);
    }

    #[test]
    fn a_failed_store_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("taken")).unwrap();
        // Renaming a file over a non-empty directory fails.
        std::fs::write(dir.path().join("taken/inner"), b"x").unwrap();
        assert!(store(dir.path(), b"taken", b"data").is_err());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["taken".to_string()]);
    }
}
