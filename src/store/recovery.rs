//! Start-up repair of the device files from the write-ahead log (`wal.rs`), before anything is
//! accepted. After it, every device file named in the log is a sequence of whole bodies:
//!
//! - the log is read up to its first torn or damaged entry (that batch was never acknowledged,
//!   and none of its device writes had begun); after a rotation whose checkpoint had not
//!   finished (`--ack fsync`), the old log first, then the new one;
//! - each *append* entry is checked against its device file: bytes a torn write did not reach
//!   are written again (restored), and the file's whole length is the end of the device's last
//!   entry (a *cut* entry sets it back);
//! - what lies past that length (part of a body whose write was under way) is cut off and kept
//!   aside in `DATA/.recovered/ID.UNIX_MS` for inspection.
//!
//! Device files the log does not name were not being written since the last checkpoint and are
//! left as they are. The files the log names and the directory are synced; the caller saves the
//! `Idempotency-Key` values found in the log (`keys.rs`), then empties the log ([`empty_log`]).
//! Modelled on Kafka's segment recovery and Redis's loading of a truncated AOF.
use super::keys::parse_key;
use super::wal::{decode, Entry, WAL_FILE, WAL_OLD_FILE};
use super::DeviceId;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where cut-off bytes are kept, in the data directory.
pub const RECOVERED_DIR: &str = ".recovered";

/// What recovery did to one device file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repair {
    pub id: String,
    /// Bytes written again from the log (a torn write's missing part).
    pub restored: u64,
    /// Bytes cut off past the last whole body.
    pub cut: u64,
    /// Where the cut bytes were kept.
    pub kept: Option<PathBuf>,
}

/// The length each device file must have, and its entries, in log order.
#[derive(Default)]
struct Plan<'a> {
    appends: Vec<(u64, &'a [u8])>,
    len: u64,
}

/// What recovery found: the repairs (devices that needed nothing are not listed), and the
/// `Idempotency-Key` values of the bodies in the log that stayed (not cut).
#[derive(Debug, Default)]
pub struct Recovered {
    pub repairs: Vec<Repair>,
    pub keys: Vec<(DeviceId, Box<str>)>,
}

/// Repairs the device files in `dir` from its log and empties the log (see the module docs).
pub fn recover(dir: &Path) -> io::Result<Recovered> {
    let logs = [read_log(dir, WAL_OLD_FILE)?, read_log(dir, WAL_FILE)?];
    let entries = logs.iter().flat_map(|log| decode(log).0);
    // In log order, per device: where its bytes go, and how long its file must be.
    let mut plans: HashMap<&str, Plan<'_>> = HashMap::new();
    let mut order = Vec::new();
    // Keys in log order, each with whether it still stands, and per device where its last
    // batch's keys start (a cut entry takes them back).
    let mut keys: Vec<(&str, &[u8], bool)> = Vec::new();
    let mut last_keys: HashMap<&str, usize> = HashMap::new();
    for entry in entries {
        let (id, plan_len) = match entry {
            Entry::Append { id, offset, data } => (id, offset + data.len() as u64),
            Entry::Cut { id, len } => {
                if let Some(&from) = last_keys.get(id) {
                    for k in keys[from..].iter_mut().filter(|k| k.0 == id) {
                        k.2 = false;
                    }
                }
                (id, len)
            }
            Entry::Keys { id, keys: list } => {
                last_keys.insert(id, keys.len());
                let list = list.split(|&b| b == b'\n').filter(|k| !k.is_empty());
                keys.extend(list.map(|k| (id, k, true)));
                continue;
            }
        };
        let plan = plans.entry(id).or_insert_with(|| {
            order.push(id);
            Plan::default()
        });
        if let Entry::Append { offset, data, .. } = entry {
            plan.appends.push((offset, data));
        }
        plan.len = plan_len;
    }
    let mut found = Recovered::default();
    for &id in &order {
        if let Some(repair) = repair_device(dir, id, &plans[id])? {
            found.repairs.push(repair);
        }
    }
    // Every file the log names, also those that needed nothing: their bytes may be in the page
    // cache only (`--ack fsync` writes device files unsynced), and the log is about to go.
    if !plans.is_empty() {
        super::checkpoint::sync_files(dir, &order)?;
        File::open(dir)?.sync_all()?;
    }
    for (id, key, stands) in keys {
        let (Ok(device), Ok(key)) = (DeviceId::parse(id.as_bytes()), parse_key(key)) else {
            continue;
        };
        if stands {
            found.keys.push((device, key));
        }
    }
    // The keys go to the keys journal before the log that holds them is emptied.
    Ok(found)
}

/// Empties the log in `dir` (after recovery, once its keys are safe in the journal).
pub fn empty_log(dir: &Path) -> io::Result<()> {
    match fs::remove_file(dir.join(WAL_OLD_FILE)) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let log = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dir.join(WAL_FILE));
    match log {
        Ok(log) if log.metadata()?.len() == 0 => Ok(()),
        Ok(log) => {
            log.set_len(0)?;
            log.sync_all()
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Brings device `id`'s file to what `plan` says; `None` if it already was.
/// The bytes of the log file `name` in `dir` (none if it is missing); never through a symlink.
fn read_log(dir: &Path, name: &str) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dir.join(name))
    {
        Ok(mut file) => {
            file.read_to_end(&mut bytes)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(bytes)
}

fn repair_device(dir: &Path, id: &str, plan: &Plan<'_>) -> io::Result<Option<Repair>> {
    let path = dir.join(id);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)?;
    let mut repair = Repair {
        id: id.to_string(),
        restored: 0,
        cut: 0,
        kept: None,
    };
    // A file shorter than where its first logged body goes was cut or removed by someone else
    // since: its bodies follow what is there, without a hole.
    let len = file.metadata()?.len();
    let first = plan.appends.first().map_or(0, |&(offset, _)| offset);
    let shift = first.saturating_sub(len);
    let mut current = Vec::new();
    for &(offset, data) in &plan.appends {
        let offset = offset - shift;
        current.resize(data.len(), 0);
        let have = read_at_most(&file, &mut current, offset)?;
        if have < data.len() || current[..] != *data {
            file.write_all_at(data, offset)?;
            repair.restored += data.len() as u64;
        }
    }
    let (len, whole) = (file.metadata()?.len(), plan.len - shift.min(plan.len));
    if len > whole {
        let mut tail = vec![0; usize::try_from(len - whole).unwrap_or(usize::MAX)];
        let got = read_at_most(&file, &mut tail, whole)?;
        tail.truncate(got);
        repair.kept = Some(keep_aside(dir, id, &tail)?);
        repair.cut = len - whole;
        file.set_len(whole)?;
    }
    if repair.restored == 0 && repair.cut == 0 {
        return Ok(None);
    }
    Ok(Some(repair))
}

/// Reads into `buf` from `offset` until it is full or the file ends; the bytes read.
fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Writes `bytes` cut from device `id` to `DATA/.recovered/ID.UNIX_MS`, synced.
fn keep_aside(dir: &Path, id: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    let aside = dir.join(RECOVERED_DIR);
    fs::create_dir_all(&aside)?;
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let path = aside.join(format!("{id}.{ms}"));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&path)?;
    file.write_all_at(bytes, 0)?;
    file.sync_all()?;
    File::open(&aside)?.sync_all()?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::wal::Wal;
    use crate::store::DeviceId;

    fn id(s: &str) -> DeviceId {
        DeviceId::parse(s.as_bytes()).unwrap()
    }

    /// A data directory whose log says `d` got "one\n" at 0 and "two\n" at 4.
    fn logged() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path()).unwrap();
        wal.add_append(&id("d"), 0, b"one\n");
        wal.write_batch().unwrap();
        wal.add_append(&id("d"), 4, b"two\n");
        wal.write_batch().unwrap();
        dir
    }

    fn log_len(dir: &Path) -> u64 {
        fs::metadata(dir.join(WAL_FILE)).unwrap().len()
    }

    #[test]
    fn a_file_that_matches_the_log_is_left_alone_and_the_log_emptied() {
        let dir = logged();
        fs::write(dir.path().join("d"), b"one\ntwo\n").unwrap();
        assert!(recover(dir.path()).unwrap().repairs.is_empty());
        assert_eq!(fs::read(dir.path().join("d")).unwrap(), b"one\ntwo\n");
        empty_log(dir.path()).unwrap();
        assert_eq!(log_len(dir.path()), 0);
        assert!(!dir.path().join(RECOVERED_DIR).exists());
    }

    #[test]
    fn a_torn_write_is_completed_from_the_log() {
        for torn in [&b""[..], b"one\n", b"one\ntw"] {
            let dir = logged();
            fs::write(dir.path().join("d"), torn).unwrap();
            let repairs = recover(dir.path()).unwrap().repairs;
            assert_eq!(
                fs::read(dir.path().join("d")).unwrap(),
                b"one\ntwo\n",
                "{torn:?}"
            );
            assert_eq!(repairs.len(), 1, "{torn:?}");
            assert!(
                repairs[0].restored > 0 && repairs[0].cut == 0,
                "{repairs:?}"
            );
        }
    }

    #[test]
    fn bytes_past_the_last_whole_body_are_cut_and_kept_aside() {
        let dir = logged();
        fs::write(dir.path().join("d"), b"one\ntwo\nthree, half").unwrap();
        let repairs = recover(dir.path()).unwrap().repairs;
        assert_eq!(fs::read(dir.path().join("d")).unwrap(), b"one\ntwo\n");
        let kept = repairs[0].kept.clone().expect("kept aside");
        assert_eq!(fs::read(&kept).unwrap(), b"three, half");
        assert_eq!(repairs[0].cut, 11);
        assert!(kept.starts_with(dir.path().join(RECOVERED_DIR)));
    }

    #[test]
    fn a_cut_entry_and_a_torn_log_tail_set_the_length() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path()).unwrap();
        wal.add_append(&id("d"), 0, b"kept\n");
        wal.add_append(&id("d"), 5, b"failed\n");
        wal.write_batch().unwrap();
        wal.add_cut(&id("d"), 5);
        wal.write_batch().unwrap();
        wal.add_append(&id("d"), 5, b"never acknowledged\n");
        wal.write_batch().unwrap();
        drop(wal);
        // The last batch is torn: its entry does not count.
        let log = dir.path().join(WAL_FILE);
        let len = fs::metadata(&log).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&log)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        fs::write(dir.path().join("d"), b"kept\nnever ack").unwrap();
        recover(dir.path()).unwrap();
        assert_eq!(fs::read(dir.path().join("d")).unwrap(), b"kept\n");
    }

    #[test]
    fn a_missing_file_is_rebuilt_and_unlogged_files_are_untouched() {
        let dir = logged();
        fs::write(dir.path().join("other"), b"not in the log, half a bo").unwrap();
        recover(dir.path()).unwrap();
        assert_eq!(fs::read(dir.path().join("d")).unwrap(), b"one\ntwo\n");
        assert_eq!(
            fs::read(dir.path().join("other")).unwrap(),
            b"not in the log, half a bo"
        );
    }

    #[test]
    fn a_file_cut_by_someone_else_gets_its_bodies_without_a_hole() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path()).unwrap();
        wal.add_append(&id("d"), 1000, b"late\n");
        wal.write_batch().unwrap();
        fs::write(dir.path().join("d"), b"ab\n").unwrap();
        recover(dir.path()).unwrap();
        assert_eq!(fs::read(dir.path().join("d")).unwrap(), b"ab\nlate\n");
    }

    #[test]
    fn keys_of_bodies_that_stayed_are_recovered_and_those_cut_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path()).unwrap();
        wal.add_append(&id("d"), 0, b"one\n");
        wal.add_keys(&id("d"), &["k1".into()]);
        wal.add_append(&id("e"), 0, b"x\n");
        wal.add_keys(&id("e"), &["k9".into()]);
        wal.write_batch().unwrap();
        wal.add_append(&id("d"), 4, b"two\n");
        wal.add_keys(&id("d"), &["k2".into(), "k3".into()]);
        wal.write_batch().unwrap();
        wal.add_cut(&id("d"), 4);
        wal.write_batch().unwrap();
        fs::write(dir.path().join("d"), b"one\n").unwrap();
        let found = recover(dir.path()).unwrap();
        let keys: Vec<(String, String)> = found
            .keys
            .iter()
            .map(|(d, k)| (d.as_str().to_string(), k.to_string()))
            .collect();
        let want = [("d", "k1"), ("e", "k9")].map(|(d, k)| (d.to_string(), k.to_string()));
        assert_eq!(keys, want);
    }

    #[test]
    fn no_log_no_work() {
        let dir = tempfile::tempdir().unwrap();
        assert!(recover(dir.path()).unwrap().repairs.is_empty());
    }
}
