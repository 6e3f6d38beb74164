//! A FUSE filesystem in memory that loses, when the "power" is cut, everything that was not
//! synced: each file's bytes go back to what its last `fsync`/`fdatasync` saw, and each
//! directory's entries to what its last `fsync` saw (a file created or renamed since is gone, or
//! back under its old name). Stricter than ext4, which may keep more; never kinder.
//!
//! [`PowerFs::mount`] mounts it (in this process, with the `fuser` crate: `mount(2)` as root,
//! else `fusermount3`); dropping the [`Mounted`] unmounts it. [`PowerFs::cut`] is the power cut:
//! call it with nothing mounted (the writer killed first), then mount again to "reboot".
use fuser::{
    FileAttr, FileType, Filesystem, MountOption, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
};
use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

const TTL: Duration = Duration::from_secs(1);
const ROOT: u64 = 1;

#[derive(Default)]
struct Node {
    dir: bool,
    /// File bytes now, and as of the last sync.
    data: Vec<u8>,
    synced_data: Vec<u8>,
    /// The range of `data` changed since the last sync (`synced_data` may be shorter).
    dirty: Option<(usize, usize)>,
    /// Directory entries now, and as of the last sync.
    entries: BTreeMap<OsString, u64>,
    synced_entries: BTreeMap<OsString, u64>,
    mode: u16,
}

impl Node {
    fn touch(&mut self, from: usize, to: usize) {
        self.dirty = Some(match self.dirty {
            Some((a, b)) => (a.min(from), b.max(to)),
            None => (from, to),
        });
    }

    fn sync(&mut self) {
        if let Some((from, to)) = self.dirty.take() {
            self.synced_data.resize(self.data.len(), 0);
            let to = to.min(self.data.len());
            if from < to {
                self.synced_data[from..to].copy_from_slice(&self.data[from..to]);
            }
        }
        self.synced_data.truncate(self.data.len());
    }
}

#[derive(Default)]
struct State {
    nodes: Vec<Node>,
    /// Calls counted, for the report.
    syncs: u64,
    cuts: u64,
}

/// The filesystem's state, shared by its mounts and the test.
#[derive(Clone)]
pub struct PowerFs(Arc<Mutex<State>>);

/// A mount of it; unmounted when dropped.
pub struct Mounted(#[allow(dead_code)] fuser::BackgroundSession);

impl PowerFs {
    pub fn new() -> PowerFs {
        let mut state = State::default();
        state.nodes.push(Node::default()); // inode 0: unused
        state.nodes.push(Node {
            dir: true,
            mode: 0o755,
            ..Node::default()
        });
        PowerFs(Arc::new(Mutex::new(state)))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Mounts it at `at`.
    pub fn mount(&self, at: &Path) -> std::io::Result<Mounted> {
        let options = [
            MountOption::FSName("sluice-power-cut".into()),
            MountOption::RW,
        ];
        fuser::spawn_mount2(self.clone(), at, &options).map(Mounted)
    }

    /// The power cut: every file and directory goes back to its last synced state.
    pub fn cut(&self) {
        let mut state = self.lock();
        state.cuts += 1;
        for node in &mut state.nodes {
            node.data.clone_from(&node.synced_data);
            node.dirty = None;
            node.entries.clone_from(&node.synced_entries);
        }
    }

    /// Syncs and cuts so far.
    pub fn counts(&self) -> (u64, u64) {
        let state = self.lock();
        (state.syncs, state.cuts)
    }
}

fn attr(ino: u64, node: &Node) -> FileAttr {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    FileAttr {
        ino,
        size: node.data.len() as u64,
        blocks: node.data.len().div_ceil(512) as u64,
        atime: now,
        mtime: now,
        ctime: now,
        crtime: now,
        kind: if node.dir {
            FileType::Directory
        } else {
            FileType::RegularFile
        },
        perm: node.mode,
        nlink: if node.dir { 2 } else { 1 },
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

impl State {
    fn node(&mut self, ino: u64) -> Option<&mut Node> {
        self.nodes.get_mut(usize::try_from(ino).ok()?)
    }

    fn add(&mut self, parent: u64, name: &OsStr, dir: bool, mode: u32) -> Result<u64, i32> {
        let ino = self.nodes.len() as u64;
        let Some(p) = self.node(parent) else {
            return Err(libc::ENOENT);
        };
        if p.entries.contains_key(name) {
            return Err(libc::EEXIST);
        }
        p.entries.insert(name.to_owned(), ino);
        self.nodes.push(Node {
            dir,
            mode: (mode & 0o7777) as u16,
            ..Node::default()
        });
        Ok(ino)
    }
}

impl Filesystem for PowerFs {
    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let mut state = self.lock();
        let found = state
            .node(parent)
            .and_then(|p| p.entries.get(name).copied());
        match found {
            Some(ino) => {
                let a = attr(ino, state.node(ino).expect("entry names a node"));
                reply.entry(&TTL, &a, 0);
            }
            None => reply.error(libc::ENOENT),
        }
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        match self.lock().node(ino) {
            Some(node) => reply.attr(&TTL, &attr(ino, node)),
            None => reply.error(libc::ENOENT),
        }
    }

    fn setattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let mut state = self.lock();
        let Some(node) = state.node(ino) else {
            return reply.error(libc::ENOENT);
        };
        if let Some(size) = size {
            let size = size as usize;
            let old = node.data.len();
            node.data.resize(size, 0);
            node.touch(size.min(old), size.max(old));
        }
        if let Some(mode) = mode {
            node.mode = (mode & 0o7777) as u16;
        }
        reply.attr(&TTL, &attr(ino, node));
    }

    fn mkdir(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let mut state = self.lock();
        match state.add(parent, name, true, mode) {
            Ok(ino) => {
                let a = attr(ino, state.node(ino).expect("just added"));
                reply.entry(&TTL, &a, 0);
            }
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let mut state = self.lock();
        match state.add(parent, name, false, mode) {
            Ok(ino) => {
                let a = attr(ino, state.node(ino).expect("just added"));
                reply.created(&TTL, &a, 0, 0, 0);
            }
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let removed = self
            .lock()
            .node(parent)
            .and_then(|p| p.entries.remove(name));
        match removed {
            Some(_) => reply.ok(),
            None => reply.error(libc::ENOENT),
        }
    }

    fn rmdir(&mut self, req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        self.unlink(req, parent, name, reply);
    }

    fn rename(
        &mut self,
        _req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        _flags: u32,
        reply: ReplyEmpty,
    ) {
        let mut state = self.lock();
        let Some(ino) = state.node(parent).and_then(|p| p.entries.remove(name)) else {
            return reply.error(libc::ENOENT);
        };
        match state.node(newparent) {
            Some(p) => {
                p.entries.insert(newname.to_owned(), ino);
                reply.ok();
            }
            None => reply.error(libc::ENOENT),
        }
    }

    fn open(&mut self, _req: &Request<'_>, _ino: u64, _flags: i32, reply: ReplyOpen) {
        reply.opened(0, 0);
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        let mut state = self.lock();
        let Some(node) = state.node(ino) else {
            return reply.error(libc::ENOENT);
        };
        let from = (offset.max(0) as usize).min(node.data.len());
        let to = (from + size as usize).min(node.data.len());
        reply.data(&node.data[from..to]);
    }

    fn write(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let mut state = self.lock();
        let Some(node) = state.node(ino) else {
            return reply.error(libc::ENOENT);
        };
        let from = offset.max(0) as usize;
        let to = from + data.len();
        if node.data.len() < to {
            node.data.resize(to, 0);
        }
        node.data[from..to].copy_from_slice(data);
        node.touch(from, to);
        reply.written(data.len() as u32);
    }

    fn flush(&mut self, _req: &Request<'_>, _ino: u64, _fh: u64, _owner: u64, reply: ReplyEmpty) {
        reply.ok();
    }

    fn fsync(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, _data: bool, reply: ReplyEmpty) {
        let mut state = self.lock();
        state.syncs += 1;
        match state.node(ino) {
            Some(node) => {
                node.sync();
                reply.ok();
            }
            None => reply.error(libc::ENOENT),
        }
    }

    fn opendir(&mut self, _req: &Request<'_>, _ino: u64, _flags: i32, reply: ReplyOpen) {
        reply.opened(0, 0);
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        let mut state = self.lock();
        let Some(node) = state.node(ino) else {
            return reply.error(libc::ENOENT);
        };
        let mut all = vec![
            (ino, FileType::Directory, OsString::from(".")),
            (ROOT, FileType::Directory, OsString::from("..")),
        ];
        let entries: Vec<(OsString, u64)> =
            node.entries.iter().map(|(n, i)| (n.clone(), *i)).collect();
        for (name, child) in entries {
            let dir = state.node(child).is_some_and(|n| n.dir);
            let kind = if dir {
                FileType::Directory
            } else {
                FileType::RegularFile
            };
            all.push((child, kind, name));
        }
        for (i, (child, kind, name)) in all.into_iter().enumerate().skip(offset as usize) {
            if reply.add(child, (i + 1) as i64, kind, name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(&mut self, _req: &Request<'_>, ino: u64, _fh: u64, _data: bool, reply: ReplyEmpty) {
        let mut state = self.lock();
        state.syncs += 1;
        match state.node(ino) {
            Some(node) => {
                node.synced_entries.clone_from(&node.entries);
                reply.ok();
            }
            None => reply.error(libc::ENOENT),
        }
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        // Plenty of room, so that sluice's free-space admission never refuses.
        let blocks = 1 << 30;
        reply.statfs(blocks, blocks, blocks, 1 << 20, 1 << 20, 4096, 255, 4096);
    }
}
