//! The write-ahead log of the device store (`DATA/.sluice-wal`): before the device files of a
//! batch are written, one `write` puts an entry for each of them into the log, so that after a
//! crash the boundaries of every body written since the last checkpoint are known, a write that
//! was torn can be completed, and bytes past the last whole body can be cut off (`recovery.rs`).
//!
//! An entry is `len u32 | crc u32 | payload`, little-endian, where `len` is the payload's length
//! and `crc` its CRC-32; the payload is `kind u8 | id_len u8 | id | offset u64 | data`:
//! - kind 1, *append*: `data` was written at `offset` of the device's file;
//! - kind 2, *cut*: a write failed and the file was cut back to `offset` (no data);
//! - kind 3, *keys*: the `Idempotency-Key` values of the bodies of the append entry before it
//!   (`data`: the keys, each followed by `\n`; `offset` 0).
//!
//! A checkpoint starts once the log holds more than `WAL_CHECKPOINT_BYTES`. In `--ack write` and
//! `--ack buffer` it empties the log at once: every entry in it was applied to its device file
//! by then (writes are synchronous), so after a process crash the files need no log. In
//! `--ack fsync` the files must also survive a power cut, so the log is rotated instead: it is
//! renamed to `WAL_OLD_FILE` and a new one started; the checkpoint thread (`checkpoint.rs`)
//! syncs the device files it names, then removes it. Recovery reads the old log, then the new.
use crate::limits::WAL_CHECKPOINT_BYTES;
use crate::store::DeviceId;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

/// The log's file name in the data directory (a dotfile: never a device id).
pub const WAL_FILE: &str = ".sluice-wal";
/// The log before the last rotation, until its checkpoint has finished (`--ack fsync`).
pub const WAL_OLD_FILE: &str = ".sluice-wal.old";

/// Bytes of an entry before its payload: `len` and `crc`.
const FRAME_BYTES: usize = 8;
/// Bytes of a payload before the id: `kind` and `id_len`.
const KIND_APPEND: u8 = 1;
const KIND_CUT: u8 = 2;
const KIND_KEYS: u8 = 3;

/// What an entry says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    /// `data` was written at `offset` of device `id`'s file.
    Append {
        id: &'a str,
        offset: u64,
        data: &'a [u8],
    },
    /// Device `id`'s file was cut back to `len` bytes after a failed write.
    Cut { id: &'a str, len: u64 },
    /// The keys of the bodies of device `id`'s append entry before this one, each ending in
    /// `\n`.
    Keys { id: &'a str, keys: &'a [u8] },
}

/// The open log (or none yet: the data directory is created at the first record).
pub struct Wal {
    /// Shared with the thread that syncs it (`--ack fsync`); `None` until opened.
    file: Option<Arc<File>>,
    /// Bytes in the log.
    len: u64,
    /// The entries of the batch being built.
    batch: Vec<u8>,
    /// The data of a keys entry being built (reused).
    keys: Vec<u8>,
}

impl Wal {
    /// Opens (creating) the log in `dir`, which recovery has emptied; never through a symlink.
    pub fn open(dir: &Path) -> io::Result<Wal> {
        let file = open_log(dir)?;
        let len = file.metadata()?.len();
        Ok(Wal {
            file: Some(Arc::new(file)),
            len,
            batch: Vec::new(),
            keys: Vec::new(),
        })
    }

    /// No log yet: writing a batch fails until the store opens its data directory.
    pub fn closed() -> Wal {
        Wal {
            file: None,
            len: 0,
            batch: Vec::new(),
            keys: Vec::new(),
        }
    }

    /// Bytes in the log.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The log file, for the thread that syncs it.
    pub fn file(&self) -> Option<&Arc<File>> {
        self.file.as_ref()
    }

    /// `--ack fsync`: renames the log in `dir` to `WAL_OLD_FILE` (which must not exist: its
    /// checkpoint has finished) and starts a new, empty one. Both names are durable after the
    /// next sync of the directory.
    pub fn rotate(&mut self, dir: &Path) -> io::Result<()> {
        std::fs::rename(dir.join(WAL_FILE), dir.join(WAL_OLD_FILE))?;
        self.file = Some(Arc::new(open_log(dir)?));
        self.len = 0;
        Ok(())
    }

    /// Adds to the batch that `data` goes to `offset` of device `id`'s file.
    pub fn add_append(&mut self, id: &DeviceId, offset: u64, data: &[u8]) {
        encode(&mut self.batch, KIND_APPEND, id.as_str(), offset, data);
    }

    /// Adds to the batch the `Idempotency-Key` values of device `id`'s bodies just added.
    pub fn add_keys(&mut self, id: &DeviceId, keys: &[Box<str>]) {
        if keys.is_empty() {
            return;
        }
        self.keys.clear();
        for key in keys {
            self.keys.extend_from_slice(key.as_bytes());
            self.keys.push(b'\n');
        }
        encode(&mut self.batch, KIND_KEYS, id.as_str(), 0, &self.keys);
    }

    /// Adds to the batch that device `id`'s file was cut back to `len`.
    pub fn add_cut(&mut self, id: &DeviceId, len: u64) {
        encode(&mut self.batch, KIND_CUT, id.as_str(), len, &[]);
    }

    /// Writes the batch with one `write` (looping only on short writes) and starts a new one.
    /// A batch that could not be written whole is cut off again, so the log holds no part of it.
    pub fn write_batch(&mut self) -> io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let result = match &self.file {
            Some(file) => (&**file).write_all(&self.batch),
            None => Err(not_open()),
        };
        match (&result, &self.file) {
            (Ok(()), _) => self.len += self.batch.len() as u64,
            (Err(_), Some(file)) => {
                let _ = file.set_len(self.len);
            }
            (Err(_), None) => {}
        }
        self.batch.clear();
        if self.batch.capacity() > 4 * (1 << 20) {
            self.batch.shrink_to(1 << 20);
        }
        result
    }

    /// `--ack write` and `--ack buffer`: empties the log once it holds more than
    /// `WAL_CHECKPOINT_BYTES` (see the module docs).
    pub fn checkpoint_if_full(&mut self) -> io::Result<()> {
        if self.len <= WAL_CHECKPOINT_BYTES {
            return Ok(());
        }
        if let Some(file) = &self.file {
            file.set_len(0)?;
        }
        self.len = 0;
        Ok(())
    }
}

/// The error of a write before the data directory was opened.
pub(super) fn not_open() -> io::Error {
    io::Error::other("the data directory is not open")
}

/// Opens (creating) the log file in `dir` for appending; never through a symlink.
fn open_log(dir: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dir.join(WAL_FILE))
}

/// Appends the entry `kind` for device `id` to `out`.
fn encode(out: &mut Vec<u8>, kind: u8, id: &str, offset: u64, data: &[u8]) {
    let payload_len = 2 + id.len() + 8 + data.len();
    let start = out.len();
    out.reserve(FRAME_BYTES + payload_len);
    out.extend_from_slice(&u32::try_from(payload_len).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(kind);
    // Device ids are at most MAX_DEVICE_ID_BYTES (64), so the length fits a byte.
    out.push(id.len() as u8);
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(data);
    let crc = crc32fast::hash(&out[start + FRAME_BYTES..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// The entries at the start of `log` up to the first one that is torn (cut short) or damaged
/// (its CRC does not match, or it does not parse), and the length of that whole prefix.
pub fn decode(log: &[u8]) -> (Vec<Entry<'_>>, usize) {
    let mut entries = Vec::new();
    let mut at = 0;
    while let Some((entry, len)) = decode_one(&log[at..]) {
        entries.push(entry);
        at += len;
    }
    (entries, at)
}

/// The entry at the start of `bytes` and its length, if it is whole and sound.
fn decode_one(bytes: &[u8]) -> Option<(Entry<'_>, usize)> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
    let payload = bytes.get(FRAME_BYTES..FRAME_BYTES.checked_add(len)?)?;
    if crc32fast::hash(payload) != crc {
        return None;
    }
    let (&kind, rest) = payload.split_first()?;
    let (&id_len, rest) = rest.split_first()?;
    let id = std::str::from_utf8(rest.get(..usize::from(id_len))?).ok()?;
    DeviceId::parse(id.as_bytes()).ok()?;
    let rest = &rest[usize::from(id_len)..];
    let offset = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
    let data = &rest[8..];
    let entry = match kind {
        KIND_APPEND => Entry::Append { id, offset, data },
        KIND_CUT if data.is_empty() => Entry::Cut { id, len: offset },
        KIND_KEYS => Entry::Keys { id, keys: data },
        _ => return None,
    };
    Some((entry, FRAME_BYTES + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> DeviceId {
        DeviceId::parse(s.as_bytes()).unwrap()
    }

    fn log_of(entries: &[(u8, &str, u64, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for &(kind, id, offset, data) in entries {
            encode(&mut out, kind, id, offset, data);
        }
        out
    }

    #[test]
    fn entries_read_back_as_written() {
        let log = log_of(&[
            (KIND_APPEND, "kitchen", 0, b"t=21.5\n"),
            (KIND_APPEND, "AA-BB.cc_01", 1 << 40, b""),
            (KIND_CUT, "kitchen", 7, b""),
            (KIND_KEYS, "kitchen", 0, b"k1\nk2\n"),
        ]);
        let (entries, len) = decode(&log);
        assert_eq!(len, log.len());
        assert_eq!(
            entries,
            [
                Entry::Append {
                    id: "kitchen",
                    offset: 0,
                    data: b"t=21.5\n"
                },
                Entry::Append {
                    id: "AA-BB.cc_01",
                    offset: 1 << 40,
                    data: b""
                },
                Entry::Cut {
                    id: "kitchen",
                    len: 7
                },
                Entry::Keys {
                    id: "kitchen",
                    keys: b"k1\nk2\n"
                },
            ]
        );
    }

    #[test]
    fn a_torn_entry_ends_the_log_at_every_cut() {
        let log = log_of(&[
            (KIND_APPEND, "a", 0, b"one\n"),
            (KIND_APPEND, "b", 0, b"two\n"),
        ]);
        let first = decode(&log[..]).0[0];
        let first_len = decode_one(&log).unwrap().1;
        for cut in 0..log.len() {
            let (entries, len) = decode(&log[..cut]);
            if cut < first_len {
                assert!(entries.is_empty(), "cut {cut}");
                assert_eq!(len, 0);
            } else {
                assert_eq!(entries, [first], "cut {cut}");
                assert_eq!(len, first_len);
            }
        }
    }

    #[test]
    fn a_damaged_entry_ends_the_log() {
        let mut log = log_of(&[
            (KIND_APPEND, "a", 0, b"one\n"),
            (KIND_APPEND, "b", 0, b"two\n"),
        ]);
        let first_len = decode_one(&log).unwrap().1;
        for at in first_len..log.len() {
            let mut bad = log.clone();
            bad[at] ^= 0x20;
            assert_eq!(decode(&bad).1, first_len, "flipped byte {at}");
        }
        // A length that runs past the end, and garbage, are no entries either.
        log.truncate(first_len);
        log.extend_from_slice(&u32::MAX.to_le_bytes());
        log.extend_from_slice(b"\0\0\0\0rest");
        assert_eq!(decode(&log).1, first_len);
        assert_eq!(decode(b"not a log at all").1, 0);
    }

    #[test]
    fn batches_are_written_and_the_log_is_emptied_past_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path()).unwrap();
        wal.add_append(&id("d"), 0, b"x\n");
        wal.add_cut(&id("d"), 0);
        wal.write_batch().unwrap();
        let on_disk = std::fs::read(dir.path().join(WAL_FILE)).unwrap();
        assert_eq!(on_disk.len() as u64, wal.len());
        assert_eq!(decode(&on_disk).0.len(), 2);
        wal.checkpoint_if_full().unwrap();
        assert_eq!(wal.len(), on_disk.len() as u64, "not full yet");
        let big = vec![b'y'; WAL_CHECKPOINT_BYTES as usize];
        wal.add_append(&id("d"), 2, &big);
        wal.write_batch().unwrap();
        wal.checkpoint_if_full().unwrap();
        assert_eq!(wal.len(), 0);
        assert_eq!(
            std::fs::metadata(dir.path().join(WAL_FILE)).unwrap().len(),
            0
        );
        wal.add_append(&id("d"), 9, b"z\n");
        wal.write_batch().unwrap();
        let on_disk = std::fs::read(dir.path().join(WAL_FILE)).unwrap();
        assert_eq!(decode(&on_disk).0.len(), 1, "appends start over at 0");
    }
}
