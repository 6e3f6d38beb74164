//! What the dashboard knows of each device, and how it is rebuilt from the data directory at
//! start so that a restart forgets nothing that is on disk: bytes from the file size, last seen
//! from its modification time, first seen from its creation time (or modification time where the
//! filesystem has none). Start needs one `stat` per file; records, the count of `\n`-terminated
//! lines, are counted afterwards off the startup path (`counter.rs`).
use super::DeviceId;
use std::io;
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::SystemTime;

/// Records stored per minute over the last hour, as a ring indexed by minute since the epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinuteCounts {
    last_minute: u64,
    counts: [u32; 60],
}

impl MinuteCounts {
    fn add(&mut self, minute: u64, records: u32) {
        if minute > self.last_minute {
            let gap = (minute - self.last_minute).min(60);
            for m in (minute + 1 - gap)..=minute {
                self.counts[(m % 60) as usize] = 0;
            }
            self.last_minute = minute;
        }
        if minute + 60 > self.last_minute {
            let slot = &mut self.counts[(minute % 60) as usize];
            *slot = slot.saturating_add(records);
        }
    }

    /// Counts for the 60 minutes ending with `now_minute`, oldest first.
    pub fn last_hour(&self, now_minute: u64) -> [u32; 60] {
        let mut out = [0; 60];
        for (k, slot) in out.iter_mut().enumerate() {
            let minute = (now_minute + k as u64).checked_sub(59);
            if let Some(m) = minute {
                if m <= self.last_minute && m + 60 > self.last_minute {
                    *slot = self.counts[(m % 60) as usize];
                }
            }
        }
        out
    }
}

/// Minutes since the epoch.
pub fn epoch_minute(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 60)
}

/// Per-device statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// Bytes stored in the device's file.
    pub bytes: u64,
    /// Records stored (after a restart: lines found in the file, plus the records stored since).
    pub records: u64,
    /// The lines of the file as it was at start are still being counted: `records` is a lower
    /// bound until then.
    pub counting: bool,
    pub first_seen: Option<SystemTime>,
    pub last_seen: Option<SystemTime>,
    /// The address the last body came from (unknown after a restart).
    pub last_addr: Option<IpAddr>,
    /// Records per minute over the last hour (since this process started).
    pub recent: Option<Box<MinuteCounts>>,
}

impl DeviceStats {
    /// A body arrived from `peer` at `now`.
    pub fn seen(&mut self, peer: IpAddr, now: SystemTime) {
        self.first_seen.get_or_insert(now);
        self.last_seen = Some(now);
        self.last_addr = Some(peer);
    }

    /// `records` records of `bytes` bytes in total were stored at `now`.
    pub fn stored(&mut self, records: u64, bytes: u64, now: SystemTime) {
        self.records += records;
        self.bytes += bytes;
        crate::observe::metrics::RECORDS_INGESTED.add(records);
        crate::observe::metrics::BYTES_INGESTED.add(bytes);
        let minute = epoch_minute(now);
        self.recent
            .get_or_insert_with(|| {
                Box::new(MinuteCounts {
                    last_minute: minute,
                    counts: [0; 60],
                })
            })
            .add(minute, u32::try_from(records).unwrap_or(u32::MAX));
    }

    /// Records per minute over the 60 minutes ending at `now`, oldest first.
    pub fn last_hour(&self, now: SystemTime) -> [u32; 60] {
        self.recent
            .as_ref()
            .map_or([0; 60], |r| r.last_hour(epoch_minute(now)))
    }
}

/// The statistics of every device file in `dir` (files whose names are valid device ids) that
/// `stat` gives; `counting` is set where the file's lines are still to be counted.
pub fn scan(dir: &Path) -> io::Result<Vec<(DeviceId, DeviceStats)>> {
    let mut found = Vec::new();
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
            records: 0,
            counting: meta.len() > 0,
            first_seen: meta.created().ok().or(modified),
            last_seen: modified,
            last_addr: None,
            recent: None,
        };
        found.push((id, stats));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn minute_counts_cover_the_last_hour_only() {
        let t = |min: u64| UNIX_EPOCH + Duration::from_secs(min * 60 + 5);
        let mut stats = DeviceStats::default();
        stats.stored(2, 10, t(1000));
        stats.stored(1, 5, t(1000));
        stats.stored(4, 5, t(1003));
        let hour = stats.last_hour(t(1003));
        assert_eq!(hour[59], 4);
        assert_eq!(hour[56], 3);
        assert_eq!(hour.iter().sum::<u32>(), 7);
        let later = stats.last_hour(t(1060));
        assert_eq!(
            later.iter().sum::<u32>(),
            4,
            "minute 1000 has left the hour"
        );
        stats.stored(1, 1, t(1200));
        assert_eq!(stats.last_hour(t(1200)).iter().sum::<u32>(), 1);
        assert_eq!(stats.records, 8);
    }

    #[test]
    fn rebuilds_from_files_with_valid_names_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kitchen"), b"a\nb\nc\n").unwrap();
        std::fs::write(dir.path().join("garage.01"), b"x").unwrap();
        std::fs::write(dir.path().join(".hidden"), b"ignored\n").unwrap();
        std::fs::write(dir.path().join("empty"), b"").unwrap();
        std::fs::create_dir(dir.path().join("subdir")).unwrap();
        let mut found = scan(dir.path()).unwrap();
        found.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].0.as_str(), "empty");
        assert_eq!(
            (found[0].1.bytes, found[0].1.counting),
            (0, false),
            "nothing to count"
        );
        assert_eq!(found[1].0.as_str(), "garage.01");
        assert_eq!((found[1].1.bytes, found[1].1.counting), (1, true));
        assert_eq!(found[2].0.as_str(), "kitchen");
        assert_eq!((found[2].1.bytes, found[2].1.counting), (6, true));
        assert_eq!(found[2].1.records, 0, "counted later, off the startup path");
        assert!(found[2].1.last_seen.is_some() && found[2].1.first_seen.is_some());
    }
}
