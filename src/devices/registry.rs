//! What the dashboard knows of each device, and how it is rebuilt from the data directory at
//! start so that a restart forgets nothing that is on disk: bytes from the file size, last seen
//! from its modification time, first seen from its creation time (or modification time where the
//! filesystem has none), records from the count of `\n`-terminated lines.
use super::DeviceId;
use std::fs::File;
use std::io::{self, Read};
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::SystemTime;

/// Per-device statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// Bytes stored in the device's file.
    pub bytes: u64,
    /// Records stored (after a restart: lines found in the file).
    pub records: u64,
    pub first_seen: Option<SystemTime>,
    pub last_seen: Option<SystemTime>,
    /// The address the last body came from (unknown after a restart).
    pub last_addr: Option<IpAddr>,
}

impl DeviceStats {
    /// A body arrived from `peer` at `now`.
    pub fn seen(&mut self, peer: IpAddr, now: SystemTime) {
        self.first_seen.get_or_insert(now);
        self.last_seen = Some(now);
        self.last_addr = Some(peer);
    }

    /// `records` records of `bytes` bytes in total were stored.
    pub fn stored(&mut self, records: u64, bytes: u64) {
        self.records += records;
        self.bytes += bytes;
    }
}

/// Reads the statistics of every device file in `dir` (files whose names are valid device ids).
pub fn scan(dir: &Path) -> io::Result<Vec<(DeviceId, DeviceStats)>> {
    let mut found = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(id) = DeviceId::parse(entry.file_name().as_bytes()) else {
            continue;
        };
        let meta = match entry.metadata() {
            Ok(meta) if meta.is_file() => meta,
            _ => continue,
        };
        let modified = meta.modified().ok();
        let stats = DeviceStats {
            bytes: meta.len(),
            records: count_lines(&entry.path(), &mut buf)?,
            first_seen: meta.created().ok().or(modified),
            last_seen: modified,
            last_addr: None,
        };
        found.push((id, stats));
    }
    Ok(found)
}

fn count_lines(path: &Path, buf: &mut [u8]) -> io::Result<u64> {
    let mut file = File::open(path)?;
    let mut lines = 0u64;
    loop {
        match file.read(buf) {
            Ok(0) => return Ok(lines),
            Ok(n) => lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuilds_from_files_with_valid_names_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kitchen"), b"a\nb\nc\n").unwrap();
        std::fs::write(dir.path().join("garage.01"), b"x").unwrap();
        std::fs::write(dir.path().join(".hidden"), b"ignored\n").unwrap();
        std::fs::create_dir(dir.path().join("subdir")).unwrap();
        let mut found = scan(dir.path()).unwrap();
        found.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].0.as_str(), "garage.01");
        assert_eq!((found[0].1.bytes, found[0].1.records), (1, 0));
        assert_eq!(found[1].0.as_str(), "kitchen");
        assert_eq!((found[1].1.bytes, found[1].1.records), (6, 3));
        assert!(found[1].1.last_seen.is_some() && found[1].1.first_seen.is_some());
    }
}
