//! Device files changed by another program while sluice runs: an inotify watch on the data
//! directory reports a device file removed, renamed away, or written and closed (a truncation,
//! or a copy over it), and the store then closes its descriptor and forgets the length it knew,
//! so the next record goes by name to a fresh `DATA/{id}` (or to the end of the file as it is
//! now) and nothing acknowledged afterwards is lost. The reactor polls the watch with the other
//! sources; the store also drains it right before each batch of writes, so that a change made
//! before a write is never missed. Here too: SIGHUP's reopening of every device file, and the
//! refusal of a device file that is a symlink.
use super::{AckMode, Completion, DeviceId, DeviceStore};
use crate::http::error::RequestError;
use log::{debug, warn};
use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What happened to a device file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Removed, or renamed away: the next record starts a fresh file.
    Gone,
    /// Written and closed by someone (truncated, replaced in place): its length is read again.
    Rewritten,
}

/// The watch on the data directory; `None` inside where inotify is not available.
pub struct Watch {
    inotify: Option<Inotify>,
}

impl Watch {
    /// Watches `dir`. Without inotify (no kernel support, watches exhausted) the store still
    /// works, and SIGHUP still reopens the files.
    pub fn new(dir: &Path) -> Watch {
        let flags = AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_ONLYDIR;
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .and_then(|inotify| inotify.add_watch(dir, flags).map(|_| inotify));
        match inotify {
            Ok(inotify) => Watch {
                inotify: Some(inotify),
            },
            Err(e) => {
                warn!(
                    "cannot watch {} ({e}): a device file removed or renamed while sluice runs \
                     is followed only after SIGHUP",
                    dir.display()
                );
                Watch { inotify: None }
            }
        }
    }

    /// No watch (the data directory does not exist yet).
    pub fn none() -> Watch {
        Watch { inotify: None }
    }

    /// The descriptor to poll, if there is a watch.
    pub fn fd(&self) -> Option<RawFd> {
        self.inotify.as_ref().map(|i| i.as_fd().as_raw_fd())
    }

    /// Every change reported since the last call, to device files (others are ignored), in
    /// order. Reads until the queue is empty; costs one `read` when nothing happened.
    pub fn changes(&mut self, mut each: impl FnMut(DeviceId, Change)) {
        let Some(inotify) = &self.inotify else {
            return;
        };
        loop {
            match inotify.read_events() {
                Ok(events) => {
                    for event in events {
                        let Some(name) = &event.name else { continue };
                        let Ok(id) = DeviceId::parse(name.as_bytes()) else {
                            continue;
                        };
                        let change = if event
                            .mask
                            .intersects(AddWatchFlags::IN_DELETE | AddWatchFlags::IN_MOVED_FROM)
                        {
                            Change::Gone
                        } else {
                            Change::Rewritten
                        };
                        debug!("{id}: device file changed from outside ({change:?})");
                        each(id, change);
                    }
                }
                Err(Errno::EAGAIN) => return,
                Err(Errno::EINTR) => {}
                Err(e) => {
                    warn!("watching the data directory: {e}");
                    return;
                }
            }
        }
    }
}

impl DeviceStore {
    /// The descriptor of the data directory's watch, for the reactor to poll.
    pub fn watch_fd(&self) -> Option<RawFd> {
        self.watch.fd()
    }

    /// Takes the changes other programs made to device files (see `watch.rs`): a file removed
    /// or renamed away is followed by a fresh one at the next record, one rewritten has its
    /// length read again; the registry follows the file.
    pub fn collect_changes(&mut self) {
        let mut changed = std::mem::take(&mut self.changed);
        self.watch.changes(|id, change| changed.push((id, change)));
        for (id, change) in changed.drain(..) {
            let Some(index) = self.by_id.get(&self.devices, &id) else {
                continue;
            };
            if change == Change::Rewritten && self.handles.take_own_close(index) {
                continue;
            }
            self.handles.close(index);
            // That close is ours: the watch reports it as a rewrite, which changes nothing.
            let device = &mut self.devices[index];
            device.len = None;
            device.checked = false;
            self.path_scratch.push(id.as_str());
            let size = std::fs::symlink_metadata(&self.path_scratch).map_or(0, |m| m.len());
            self.path_scratch.pop();
            if change == Change::Gone || size < device.stats.bytes {
                // What was counted went with the file, or with its cut part.
                device.stats.records = 0;
            }
            device.stats.bytes = size;
        }
        self.changed = changed;
    }

    /// `Forbidden` if the device's file in DATA is a symlink (its target is never written: the
    /// file is also opened with `O_NOFOLLOW`). Checked once per device and run, so that
    /// `--ack buffer` refuses before it acknowledges.
    pub(super) fn refuse_symlink(&mut self, id: &DeviceId) -> Result<(), RequestError> {
        self.path_scratch.push(id.as_str());
        let link = std::fs::symlink_metadata(&self.path_scratch).is_ok_and(|m| m.is_symlink());
        self.path_scratch.pop();
        if link {
            warn!("{id}: the device file is a symlink; POSTs to it get 403");
            return Err(RequestError::Forbidden);
        }
        Ok(())
    }

    /// Writes out what is pending, then closes every device file, so that the next write opens
    /// each by name again (SIGHUP: a file renamed or removed by another program is followed by
    /// a fresh one). The length of each file is read again at its next write.
    pub fn reopen_files(&mut self, done: &mut Vec<Completion>) {
        if self.config.ack != AckMode::Buffer {
            self.write_dirty(done);
        }
        for index in 0..self.devices.len() {
            self.handles.close(index);
            self.devices[index].len = None;
            self.devices[index].checked = false;
        }
    }
}
