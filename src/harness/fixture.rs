//! The files a scripted connection is served from, in a directory of its own under the system's
//! temporary directory (removed on drop): `root/` with numbered files whose every line names the
//! file and its offset (so a body from another file or offset is told apart), `data/` for device
//! files and `uploads/` behind `/files/` (both emptied before each run, so runs do not see each
//! other's writes and nothing accumulates over a fuzzing campaign).
use super::reference::Files;
use super::Script;
use crate::config::Config;
use crate::files::Root;
use crate::limits::SMALL_FILE_MAX_BYTES;
use crate::routes::context::{Context, Roots};
use crate::store::DeviceStore;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The root's files: `/1` ... `/6`, each of the size at that position. They cover the empty
/// body, copies into the write buffer up to `SMALL_FILE_MAX_BYTES`, and file bodies sent by `sendfile`
/// (the memory transport's `pread` fallback) just above it and over several calls.
pub const FILE_SIZES: [u64; 6] = [
    7,
    0,
    600,
    SMALL_FILE_MAX_BYTES,
    SMALL_FILE_MAX_BYTES + 1,
    100_000,
];

/// The address the scripted client connects from, and the one it connects to.
pub const PEER: &str = "192.168.1.77:50123";
pub const LOCAL: &str = "192.168.1.20:8080";

/// A directory of files for scripted connections.
#[derive(Debug)]
pub struct Fixture {
    dir: PathBuf,
    files: Vec<(String, Vec<u8>)>,
}

impl Fixture {
    pub fn new() -> io::Result<Fixture> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sluice-harness-{}-{n}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        for sub in ["root", "data", "uploads"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        let mut files = Vec::new();
        for (i, &len) in FILE_SIZES.iter().enumerate() {
            let name = (i + 1).to_string();
            let bytes = content(&name, len as usize);
            fs::write(dir.join("root").join(&name), &bytes)?;
            files.push((name, bytes));
        }
        Ok(Fixture { dir, files })
    }

    /// The bytes of the root's file `name`.
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_slice())
    }

    /// Where device files are written.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A context as `Server::bind` makes one, for `script`'s settings, on emptied data and
    /// upload directories. The poller only lends its registry (for CGI, which is off).
    pub(super) fn context(&self, script: &Script) -> io::Result<(Context, mio::Poll)> {
        let (root, data, uploads) = (
            self.dir.join("root"),
            self.dir.join("data"),
            self.dir.join("uploads"),
        );
        empty(&data)?;
        empty(&uploads)?;
        let local = LOCAL.parse().map_err(|_| io::ErrorKind::InvalidInput)?;
        let mut config = Config::new(&root, local);
        config.directory = Some(uploads.clone());
        config.max_body = script.max_body;
        config.store.dir = data.clone();
        config.store.ack = script.ack;
        config.store.min_free = 0;
        // Whatever the environment says (SLUICE_AUTH, SLUICE_INGEST_TOKEN): no credentials.
        config.security.basic = None;
        config.security.ingest_token = None;
        // Never a line per request on the fuzzer's terminal.
        config.console = false;
        let poll = mio::Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let store = DeviceStore::open(config.store.clone(), Box::new(|| {}))?;
        let roots = Roots {
            root: Root::open(&root)?,
            data: Some(Root::open(&data)?),
            files: Root::open(&uploads)?,
        };
        let registry = (registry, mio::Token(usize::MAX));
        let ctx = Context::new(config, roots, store, None, registry);
        Ok((ctx, poll))
    }
}

impl Files for Fixture {
    fn exists(&self, name: &str) -> bool {
        self.file(name).is_some()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `len` bytes of lines `<name>:<offset in hex>\n`, each naming where it starts.
pub fn content(name: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    while out.len() < len {
        let line = format!("{name}:{:08x}\n", out.len());
        out.extend_from_slice(line.as_bytes());
    }
    out.truncate(len);
    out
}

fn empty(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            fs::remove_dir_all(&path)?;
        } else {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}
