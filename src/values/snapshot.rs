//! Readings across a clean restart. At shutdown every tracked device's fields (latest values
//! and histories) are written to `DATA/.sluice-readings`, with the length and inode its device
//! file had then; at start a device whose file is still that file, at least that long, gets its
//! readings back, and only the records written after the snapshot are read from the file. The
//! same file: same inode, and the same last bytes before the saved length.
//! Without a snapshot (after a crash, or a file replaced since), the tail of the file is read
//! as before (`rebuild.rs`).
//!
//! Format, little-endian: `SLRD0001`, the number of devices, then per device its id (length
//! byte, bytes), file length (u64), inode (u64), CRC-32 of the file's last
//! `SNAPSHOT_CHECK_BYTES` before that length (u32), number of fields (u16), and per field its name
//! (length byte, bytes), latest value (f64), its time (i64 ms) and its history
//! (`History::encode`); last, the CRC-32 of everything before it. A file that does not check
//! out is ignored with a warning.
use super::history::{take, take_i64, take_u32, History};
use super::{parse, DeviceValues, Field, Values};
use crate::limits::SNAPSHOT_CHECK_BYTES;
use crate::store::DeviceId;
use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The snapshot's name in the data directory (not a device id: ids never start with `.`).
pub const SNAPSHOT_FILE: &str = ".sluice-readings";
const MAGIC: &[u8; 8] = b"SLRD0001";

/// Where a device's restored readings stop in its file: the records from this offset on are
/// still to be read.
pub type Covered = HashMap<DeviceId, u64>;

impl Values {
    /// Writes the snapshot of every tracked device with fields into `dir` (through a temporary
    /// file and a rename, so a crash leaves the old one or the new one whole).
    pub fn save(&self, dir: &Path) -> std::io::Result<usize> {
        let mut out = Vec::with_capacity(64 * 1024);
        out.extend_from_slice(MAGIC);
        let mut saved = Vec::new();
        for (id, device) in &self.devices {
            if device.fields.is_empty() {
                continue;
            }
            // A device whose file is gone has nothing to come back to.
            let path = dir.join(id.as_str());
            if let Ok(meta) = std::fs::symlink_metadata(&path) {
                if let Ok(crc) = end_crc(&path, meta.len()) {
                    saved.push((id, device, meta.len(), meta.ino(), crc));
                }
            }
        }
        out.extend_from_slice(&(saved.len() as u32).to_le_bytes());
        for (id, device, len, ino, crc) in &saved {
            push_short(&mut out, id.as_str().as_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&ino.to_le_bytes());
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&(device.fields.len() as u16).to_le_bytes());
            for f in &device.fields {
                push_short(&mut out, f.name.as_bytes());
                out.extend_from_slice(&f.value.to_le_bytes());
                out.extend_from_slice(&f.at_ms.to_le_bytes());
                f.history.encode(&mut out);
            }
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        let temp = dir.join(format!("{SNAPSHOT_FILE}.tmp"));
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(&out)?;
        file.sync_data()?;
        std::fs::rename(&temp, dir.join(SNAPSHOT_FILE))?;
        Ok(saved.len())
    }

    /// Restores the readings of the snapshot in `dir`, if there is one that checks out, for
    /// each device whose file has the same inode and at least the saved length, within the
    /// bounds of this run. Returns where each restored device's file is covered up to.
    pub fn restore(&mut self, dir: &Path) -> Covered {
        let mut covered = Covered::new();
        let bytes = match std::fs::read(dir.join(SNAPSHOT_FILE)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return covered,
            Err(e) => {
                log::warn!("readings snapshot: cannot read it: {e}; rebuilding from the files");
                return covered;
            }
        };
        if self.decode(&bytes, dir, &mut covered).is_none() {
            log::warn!("readings snapshot: damaged; rebuilding from the files");
            self.devices.clear();
            self.series = 0;
            covered.clear();
        }
        covered
    }

    fn decode(&mut self, bytes: &[u8], dir: &Path, covered: &mut Covered) -> Option<()> {
        let (body, crc) = bytes.split_at(bytes.len().checked_sub(4)?);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return None;
        }
        let mut input = body.strip_prefix(MAGIC)?;
        let devices = take_u32(&mut input)?;
        for _ in 0..devices {
            let id = DeviceId::parse(take_short(&mut input)?).ok()?;
            let len = u64::from_le_bytes(take(&mut input)?);
            let ino = u64::from_le_bytes(take(&mut input)?);
            let crc = take_u32(&mut input)?;
            let count = u16::from_le_bytes(take(&mut input)?);
            let mut fields = Vec::new();
            for _ in 0..count {
                let name = parse::field_name(take_short(&mut input)?)?;
                let value = f64::from_le_bytes(take(&mut input)?);
                let at_ms = take_i64(&mut input)?;
                let history = History::decode(&mut input)?;
                fields.push(Field::new(name, value, at_ms, history));
            }
            let path = dir.join(id.as_str());
            let same_file = std::fs::symlink_metadata(&path)
                .is_ok_and(|m| m.ino() == ino && m.len() >= len)
                && end_crc(&path, len).is_ok_and(|c| c == crc);
            if !same_file || self.devices.len() >= self.config.max_devices {
                continue;
            }
            let room = self.config.max_series.saturating_sub(self.series);
            fields.truncate(self.config.max_fields.min(room));
            self.series += fields.len();
            self.devices.insert(id, DeviceValues { fields });
            covered.insert(id, len);
        }
        input.is_empty().then_some(())
    }
}

/// The CRC-32 of the last `SNAPSHOT_CHECK_BYTES` before `len` in the file: the same file, not
/// one that replaced it (an inode number can be reused at once).
fn end_crc(path: &Path, len: u64) -> std::io::Result<u32> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let start = len.saturating_sub(SNAPSHOT_CHECK_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::with_capacity((len - start) as usize);
    file.take(len - start).read_to_end(&mut bytes)?;
    if (bytes.len() as u64) < len - start {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(crc32fast::hash(&bytes))
}

fn push_short(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = bytes.len().min(255);
    out.push(len as u8);
    out.extend_from_slice(&bytes[..len]);
}

fn take_short<'a>(input: &mut &'a [u8]) -> Option<&'a [u8]> {
    let [len] = take::<1>(input)?;
    let len = usize::from(len);
    let bytes = input.get(..len)?;
    *input = &input[len..];
    Some(bytes)
}
