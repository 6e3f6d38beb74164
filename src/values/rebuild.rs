//! Readings after a restart: the tail of each device file is read again at start.
use super::snapshot::Covered;
use super::{unix_ms, Values};
use crate::limits::VALUES_TAIL_BYTES;
use crate::store::record::split_rfc3339_millis;
use crate::store::DeviceId;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::SystemTime;

impl Values {
    /// Reads the last [`VALUES_TAIL_BYTES`] of the files of `ids` in `dir` (with lines
    /// framing; raw records have no boundaries to find), the most recently modified first and
    /// at most `--max-value-devices` of them. A record with a `--timestamp` prefix joins the
    /// history at its time; one without sets only the latest values, dated by the file's
    /// modification time (when its last record was written). Returns the records read.
    ///
    /// A device restored from the snapshot (`covered`) has only the records after the
    /// snapshot read.
    pub fn rebuild(
        &mut self,
        dir: &Path,
        ids: impl Iterator<Item = DeviceId>,
        covered: &Covered,
    ) -> u64 {
        if self.config.max_series == 0 {
            return 0;
        }
        let mut files: Vec<(SystemTime, DeviceId)> = ids
            .filter_map(|id| {
                let modified = std::fs::symlink_metadata(dir.join(id.as_str()))
                    .and_then(|m| m.modified())
                    .ok()?;
                Some((modified, id))
            })
            .collect();
        files.sort_unstable_by_key(|f| std::cmp::Reverse(f.0));
        files.truncate(self.config.max_devices);
        let mut tail = Vec::new();
        let mut records = 0;
        // Oldest first, so that the order devices are tracked in follows their files.
        for (modified, id) in files.into_iter().rev() {
            let from = covered.get(&id).copied().unwrap_or(0);
            if let Err(e) = read_tail_from(&dir.join(id.as_str()), from, &mut tail) {
                log::warn!("readings of {id}: cannot read its file: {e}");
                continue;
            }
            let guess = unix_ms(modified);
            for line in tail.split(|&b| b == b'\n') {
                if line.is_empty() {
                    continue;
                }
                records += 1;
                match split_rfc3339_millis(line) {
                    Some((at, rest)) => self.observe_at(id, rest, unix_ms(at), true),
                    None => self.observe_at(id, line, guess, false),
                }
            }
        }
        records
    }
}

/// The whole records of the last `VALUES_TAIL_BYTES` of a file: what precedes the first line
/// break is cut unless the read starts at the file's beginning.
pub fn read_tail(path: &Path, out: &mut Vec<u8>) -> std::io::Result<()> {
    read_tail_from(path, 0, out)
}

/// As [`read_tail`], never before `from` (a record boundary).
fn read_tail_from(path: &Path, from: u64, out: &mut Vec<u8>) -> std::io::Result<()> {
    out.clear();
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(VALUES_TAIL_BYTES).max(from);
    file.seek(SeekFrom::Start(start))?;
    file.take(VALUES_TAIL_BYTES).read_to_end(out)?;
    if start > from {
        let first = memchr::memchr(b'\n', out).map_or(out.len(), |i| i + 1);
        out.drain(..first);
    }
    Ok(())
}
