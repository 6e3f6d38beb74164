//! Exactly-once retries: the `Idempotency-Key` values (IETF httpapi draft) each device has
//! stored. A POST whose key its device already stored is acknowledged again and stores nothing.
//!
//! Keys are kept at least `KEY_RETENTION_SECS` (24 hours) or the newest `MIN_KEPT_KEYS`
//! (100,000), whichever keeps more, across restarts: each batch's keys are appended to a
//! journal, `DATA/.sluice-keys` (`SECS DEVICE KEY` lines), after its bodies were written, and
//! they are also in the write-ahead log with their bodies, so that recovery puts back the keys of
//! the bodies it restores. At start the journal is read and rewritten with what is still kept.
use super::DeviceId;
use crate::http::error::RequestError;
use crate::limits::{KEY_RETENTION_SECS, MAX_IDEMPOTENCY_KEY_BYTES, MIN_KEPT_KEYS};
use std::collections::{HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The journal's file name in the data directory.
pub const KEYS_FILE: &str = ".sluice-keys";

/// An `Idempotency-Key` value: 1 to `MAX_IDEMPOTENCY_KEY_BYTES` visible ASCII characters (the
/// quotes of a structured-field string taken off), else 400.
pub fn parse_key(field: &[u8]) -> Result<Box<str>, RequestError> {
    let start = field
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(field.len());
    let end = field
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    let field = &field[start..end];
    let key = field
        .strip_prefix(b"\"")
        .and_then(|k| k.strip_suffix(b"\""))
        .unwrap_or(field);
    let visible = key.iter().all(|&b| b.is_ascii_graphic() && b != b'"');
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_BYTES || !visible {
        return Err(RequestError::BadIdempotencyKey);
    }
    Ok(std::str::from_utf8(key)
        .map_err(|_| RequestError::BadIdempotencyKey)?
        .into())
}

/// The stored keys and their journal.
pub struct Keys {
    /// Per device, its stored keys and the second each was stored in.
    stored: HashMap<DeviceId, HashMap<Box<str>, u64>>,
    /// Keys in the order they were stored, with the second they were stored in.
    order: VecDeque<(DeviceId, Box<str>, u64)>,
    /// `None` until the data directory is opened.
    journal: Option<File>,
    /// Lines of the batch being written.
    batch: Vec<u8>,
}

impl Keys {
    /// Reads the journal in `dir` (plus `recovered`, keys recovery found in the write-ahead
    /// log), keeps what is still kept at `now` (seconds since the epoch), and rewrites it so.
    pub fn open(dir: &Path, recovered: &[(DeviceId, Box<str>)], now: u64) -> io::Result<Keys> {
        let path = dir.join(KEYS_FILE);
        let mut keys = Keys {
            stored: HashMap::new(),
            order: VecDeque::new(),
            journal: Some(open_journal(&path, false)?),
            batch: Vec::new(),
        };
        let mut lines = Vec::new();
        let journal = keys.journal.as_ref().ok_or_else(super::wal::not_open)?;
        for line in BufReader::new(journal).lines() {
            lines.push(line?);
        }
        for line in &lines {
            if let Some((device, key, secs)) = parse_line(line) {
                keys.remember(device, key, secs);
            }
        }
        for (device, key) in recovered {
            if !keys.contains(device, key) {
                keys.remember(*device, key.clone(), now);
            }
        }
        keys.expire(now);
        if keys.order.len() == lines.len() {
            // Every line is a kept key, once: the journal is as it should be.
            return Ok(keys);
        }
        // Rewrite the journal with what is kept: a new file renamed over the old one.
        let fresh = dir.join(".sluice-keys.new");
        let mut out = open_journal(&fresh, true)?;
        let mut text = Vec::new();
        for (device, key, secs) in &keys.order {
            push_line(&mut text, *secs, device, key);
        }
        out.write_all(&text)?;
        out.sync_all()?;
        std::fs::rename(&fresh, &path)?;
        File::open(dir)?.sync_all()?;
        keys.journal = Some(out);
        Ok(keys)
    }

    /// No keys and no journal yet: the data directory is created at the first record.
    pub fn closed() -> Keys {
        Keys {
            stored: HashMap::new(),
            order: VecDeque::new(),
            journal: None,
            batch: Vec::new(),
        }
    }

    /// Whether `device` already stored `key`.
    pub fn contains(&self, device: &DeviceId, key: &str) -> bool {
        self.stored
            .get(device)
            .is_some_and(|keys| keys.contains_key(key))
    }

    /// Notes that `device` stored `key` at `secs`; the line goes out with [`Keys::write_batch`].
    pub fn add(&mut self, device: DeviceId, key: Box<str>, secs: u64) {
        push_line(&mut self.batch, secs, &device, &key);
        self.remember(device, key, secs);
        self.expire(secs);
    }

    /// Appends the keys added since the last call to the journal, with one `write`.
    pub fn write_batch(&mut self) -> io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let result = match &mut self.journal {
            Some(journal) => journal.write_all(&self.batch),
            None => Err(super::wal::not_open()),
        };
        self.batch.clear();
        result
    }

    fn remember(&mut self, device: DeviceId, key: Box<str>, secs: u64) {
        let keys = self.stored.entry(device).or_default();
        if keys.insert(key.clone(), secs).is_none() {
            self.order.push_back((device, key, secs));
        }
    }

    /// Forgets keys older than the retention, as long as more than the minimum are kept.
    fn expire(&mut self, now: u64) {
        while self.order.len() > MIN_KEPT_KEYS {
            let Some((device, key, secs)) = self.order.front() else {
                break;
            };
            if now.saturating_sub(*secs) < KEY_RETENTION_SECS.as_secs() {
                break;
            }
            if let Some(keys) = self.stored.get_mut(device) {
                keys.remove(key);
                if keys.is_empty() {
                    self.stored.remove(device);
                }
            }
            self.order.pop_front();
        }
    }

    /// Keys kept now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.order.len()
    }
}

fn open_journal(path: &Path, fresh: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options
        .read(true)
        .append(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW);
    if fresh {
        options.write(true).truncate(false).create(true);
        let file = options.open(path)?;
        file.set_len(0)?;
        Ok(file)
    } else {
        options.create(true).open(path)
    }
}

fn push_line(out: &mut Vec<u8>, secs: u64, device: &DeviceId, key: &str) {
    let _ = writeln!(out, "{secs} {} {key}", device.as_str());
}

fn parse_line(line: &str) -> Option<(DeviceId, Box<str>, u64)> {
    let mut parts = line.split(' ');
    let secs = parts.next()?.parse().ok()?;
    let device = DeviceId::parse(parts.next()?.as_bytes()).ok()?;
    let key = parse_key(parts.next()?.as_bytes()).ok()?;
    parts.next().is_none().then_some((device, key, secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> DeviceId {
        DeviceId::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn keys_are_tokens_or_quoted_strings_of_visible_ascii() {
        assert_eq!(parse_key(b"boot7-seq42").unwrap().as_ref(), "boot7-seq42");
        assert_eq!(
            parse_key(b" \"8e03978e-40d5\" ").unwrap().as_ref(),
            "8e03978e-40d5"
        );
        let longest = vec![b'k'; MAX_IDEMPOTENCY_KEY_BYTES];
        assert!(parse_key(&longest).is_ok());
        let over = vec![b'k'; MAX_IDEMPOTENCY_KEY_BYTES + 1];
        for bad in [
            &b""[..],
            b"\"\"",
            b"a b",
            b"a\"b",
            b"\xc3\xa9",
            b"tab\there",
            &over,
        ] {
            assert_eq!(
                parse_key(bad),
                Err(RequestError::BadIdempotencyKey),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn keys_survive_a_reopen_and_recovered_keys_are_added() {
        let dir = tempfile::tempdir().unwrap();
        let mut keys = Keys::open(dir.path(), &[], 1_000).unwrap();
        keys.add(id("a"), "k1".into(), 1_000);
        keys.add(id("b"), "k1".into(), 1_001);
        keys.write_batch().unwrap();
        drop(keys);
        let keys = Keys::open(dir.path(), &[(id("a"), "k2".into())], 1_002).unwrap();
        assert!(keys.contains(&id("a"), "k1") && keys.contains(&id("b"), "k1"));
        assert!(keys.contains(&id("a"), "k2"), "a key recovery found");
        assert!(!keys.contains(&id("b"), "k2"), "keys are per device");
        assert_eq!(keys.len(), 3);
        drop(keys);
        let keys = Keys::open(dir.path(), &[], 1_003).unwrap();
        assert_eq!(keys.len(), 3, "the rewritten journal keeps them");
    }

    #[test]
    fn old_keys_go_only_past_the_minimum() {
        let dir = tempfile::tempdir().unwrap();
        let mut keys = Keys::open(dir.path(), &[], 0).unwrap();
        for n in 0..MIN_KEPT_KEYS + 10 {
            keys.add(id("d"), format!("k{n}").into(), 0);
        }
        assert_eq!(keys.len(), MIN_KEPT_KEYS + 10, "all younger than a day");
        keys.add(id("d"), "late".into(), KEY_RETENTION_SECS.as_secs());
        assert_eq!(
            keys.len(),
            MIN_KEPT_KEYS,
            "a day later, the oldest go down to the minimum"
        );
        assert!(!keys.contains(&id("d"), "k0") && keys.contains(&id("d"), "late"));
        assert!(keys.contains(&id("d"), &format!("k{}", MIN_KEPT_KEYS + 9)));
    }
}
