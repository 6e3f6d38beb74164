//! Static files under ROOT: resolving a request path to an open file or directory that is
//! guaranteed to lie inside the root, the file's metadata and Content-Type, and directory listings.
//!
//! Containment is enforced by the kernel: every open goes through `openat2(2)` relative to the
//! root's file descriptor with `RESOLVE_BENEATH`, so neither `..` nor a symlink can leave the
//! root. Symlinks that the kernel refuses (absolute ones, or relative ones that climb out) are
//! followed only if their canonical target is still inside the canonical root, and then opened
//! again without following any symlink, so swapping a link in between cannot widen access.
//! Kernels without `openat2` (before 5.6, or behind a seccomp filter) get the same canonical check
//! for every request.
//!
//! The syscalls go through rustix rather than nix: nix 0.29 returns raw descriptors, and turning
//! one into a `File` would need `unsafe`, which this crate forbids.

mod archive;
pub mod cache;
mod listing;
mod mime;
mod path;
pub mod serve;
pub mod site;
#[cfg(test)]
mod tests;
pub mod upload;
mod watch;
mod zip;

use crate::limits::OPEN_EAGAIN_RETRIES;
use std::ffi::{CStr, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use rustix::fs::{openat, openat2, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::http::error::RequestError;

/// Bytes left as they are in one URL path segment: the RFC 3986 unreserved characters. Used to
/// build links and `Location` values from file names.
pub const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

pub use listing::{render_listing, render_listing_json, ListingOrder};
pub use mime::ContentType;
pub use site::Private;

/// Flags for every file or directory opened to be served. `NONBLOCK` so that opening a FIFO can
/// never block the reactor; `NOCTTY` so that a terminal device can never become ours.
const OPEN_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::CLOEXEC)
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOCTTY);

/// Resolution rules for `openat2`: stay beneath the root, never through `/proc` magic links.
const RESOLVE: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);

/// The served directory, opened once at startup (`O_PATH | O_DIRECTORY | O_CLOEXEC`).
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    path: PathBuf,
    /// False once `openat2` turned out to be unavailable; then every request takes the
    /// canonicalize-and-check path.
    openat2: AtomicBool,
}

impl Root {
    /// Opens the directory at `path`. Fails with a message naming the path if it is missing,
    /// unreadable or not a directory.
    pub fn open(path: &Path) -> io::Result<Root> {
        let fail = |e: io::Error| {
            io::Error::new(e.kind(), format!("root directory {}: {e}", path.display()))
        };
        let canonical = std::fs::canonicalize(path).map_err(fail)?;
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::open(&canonical, flags, Mode::empty()).map_err(|e| fail(e.into()))?;
        // Probe once: old kernels answer ENOSYS, and some container seccomp profiles EPERM.
        let openat2_works = match openat2(&fd, ".", flags, Mode::empty(), RESOLVE) {
            Ok(_) => true,
            Err(e) => {
                log::warn!("openat2 unavailable ({e}); checking every path by canonicalization");
                false
            }
        };
        Ok(Root {
            fd,
            path: canonical,
            openat2: AtomicBool::new(openat2_works),
        })
    }

    /// The canonical path of the root directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `other` as a [`Private`] directory of this root when it lies inside it (not when it is
    /// the root itself).
    pub fn private(&self, other: &Root) -> Option<Private> {
        let rel = other.path.strip_prefix(&self.path).ok()?;
        if rel.as_os_str().is_empty() {
            return None;
        }
        let stat = rustix::fs::fstat(&other.fd).ok()?;
        Some(Private {
            rel: rel.as_os_str().as_encoded_bytes().into(),
            id: listing::identity(&stat),
        })
    }

    /// Its device and inode.
    pub fn identity(&self) -> Option<(u64, u64)> {
        rustix::fs::fstat(&self.fd)
            .ok()
            .map(|stat| listing::identity(&stat))
    }

    /// Makes this root behave as on a kernel without `openat2`.
    #[cfg(test)]
    pub(crate) fn disable_openat2(&self) {
        self.openat2.store(false, Ordering::Relaxed);
    }
}

/// Reusable per-server scratch space, so that resolving a path allocates nothing once warm.
#[derive(Debug, Default)]
pub struct Scratch {
    /// The decoded, normalized, NUL-terminated path relative to the root.
    path: Vec<u8>,
    /// The path of a precompressed sibling being looked up.
    sibling: Vec<u8>,
}

/// What a request path names.
#[derive(Debug)]
pub enum Resolved {
    /// A regular file, opened read-only.
    File(OpenFile),
    /// A directory asked for without a trailing slash: the caller answers 301 to path + "/".
    RedirectToSlash,
    /// A directory (with trailing slash) that has no `index.html`: the caller may list it.
    Directory(File),
}

/// A regular file opened for serving, with the metadata the response needs. Cloning shares the
/// descriptor (the file cache keeps one; reads use explicit offsets, so sharing is safe).
#[derive(Debug, Clone)]
pub struct OpenFile {
    /// Opened read-only (with `O_NONBLOCK`, which has no effect on regular files).
    pub file: std::rc::Rc<File>,
    pub len: u64,
    pub modified: SystemTime,
    pub inode: u64,
    pub content_type: ContentType,
    /// The file's first `len` bytes, when the file cache holds them (small files only); served
    /// instead of reading the descriptor.
    pub contents: Option<std::rc::Rc<[u8]>>,
}

/// Resolves a request path (still percent-encoded, starting with `/`, query removed) to what it
/// names under `root`. See the module docs for how containment is enforced.
///
/// - `BadPath`: malformed `%` escape, NUL, encoded `/`, no leading `/`, `..` above the root.
/// - `NotFound`: nothing there, a file component used as a directory, a name too long, or a
///   regular file asked for with a trailing slash.
/// - `Forbidden`: permission denied, a symlink leading out of the root, or not a regular file or
///   directory (FIFO, socket, device).
/// - `Internal`: any other I/O failure.
pub fn resolve(
    root: &Root,
    raw_path: &str,
    scratch: &mut Scratch,
) -> Result<Resolved, RequestError> {
    let buf = &mut scratch.path;
    // `/a/..` and `/a/.` end with `/` once their dot segments are removed (RFC 3986 section
    // 5.2.4), like `/a/`: no redirect to add a slash.
    let wants_dir = path::normalize(raw_path, buf)?;
    let rel_len = buf.len();
    buf.push(0);
    let file = File::from(open_in_root(root, buf)?);
    let meta = file.metadata().map_err(|_| RequestError::Internal)?;

    if meta.is_file() {
        if wants_dir {
            return Err(RequestError::NotFound);
        }
        let content_type = ContentType::for_name(path::last_segment(&buf[..rel_len]));
        return Ok(Resolved::File(open_file(file, &meta, content_type)));
    }
    if !meta.is_dir() {
        return Err(RequestError::Forbidden);
    }
    if !wants_dir {
        return Ok(Resolved::RedirectToSlash);
    }

    // The index goes through the same root-relative resolution as any request, so an index.html
    // that is a symlink elsewhere inside the root works, and one leading out does not.
    buf.truncate(rel_len);
    if buf.as_slice() == b"." {
        buf.clear();
    } else {
        buf.push(b'/');
    }
    buf.extend_from_slice(b"index.html\0");
    match open_in_root(root, buf) {
        Ok(fd) => {
            let index = File::from(fd);
            let index_meta = index.metadata().map_err(|_| RequestError::Internal)?;
            if index_meta.is_file() {
                let html = ContentType::for_name(b"index.html");
                return Ok(Resolved::File(open_file(index, &index_meta, html)));
            }
        }
        Err(RequestError::NotFound) => {}
        Err(e) => return Err(e),
    }
    Ok(Resolved::Directory(file))
}

/// Resolves a request path that ends in `/` to the folder it names, leaving its normalized
/// root-relative path in `scratch` (NUL-terminated, `.` for ROOT). `NotFound` when it names no
/// folder; the other errors as [`resolve`].
pub fn resolve_folder(
    root: &Root,
    raw_path: &str,
    scratch: &mut Scratch,
) -> Result<File, RequestError> {
    let buf = &mut scratch.path;
    path::normalize(raw_path, buf)?;
    buf.push(0);
    let folder = File::from(open_in_root(root, buf)?);
    let meta = folder.metadata().map_err(|_| RequestError::Internal)?;
    if meta.is_dir() {
        Ok(folder)
    } else {
        Err(RequestError::NotFound)
    }
}

/// Opens the precompressed sibling of the file the last successful [`resolve`] with `scratch`
/// returned: its path with `suffix` (`.gz`, `.br`) appended, resolved inside the root the same
/// way. `None` unless that is a regular file. The sibling carries `content_type`, the type of
/// the original. Allocates nothing once the scratch buffers are warm.
pub fn open_sibling(
    root: &Root,
    scratch: &mut Scratch,
    suffix: &str,
    content_type: ContentType,
) -> Option<OpenFile> {
    let original = scratch.path.strip_suffix(b"\0")?;
    if original == b"." {
        return None;
    }
    let buf = &mut scratch.sibling;
    buf.clear();
    buf.extend_from_slice(original);
    buf.extend_from_slice(suffix.as_bytes());
    buf.push(0);
    let file = File::from(open_in_root(root, buf).ok()?);
    let meta = file.metadata().ok()?;
    meta.is_file().then(|| open_file(file, &meta, content_type))
}

/// The last path segment of the file the last successful [`resolve`] with `scratch` returned,
/// decoded (for `Content-Disposition`); `index.html` for a directory's index.
pub fn resolved_name(scratch: &Scratch) -> &[u8] {
    let path = scratch.path.strip_suffix(b"\0").unwrap_or(&scratch.path);
    path::last_segment(path)
}

fn open_file(file: File, meta: &std::fs::Metadata, content_type: ContentType) -> OpenFile {
    OpenFile {
        len: meta.len(),
        modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        inode: meta.ino(),
        content_type,
        file: std::rc::Rc::new(file),
        contents: None,
    }
}

/// What to do after a failed `openat2`.
#[derive(Debug, PartialEq, Eq)]
enum OpenFailure {
    /// Answer the request with this error.
    Refuse(RequestError),
    /// The kernel would not follow a symlink (`EXDEV`, `ELOOP`): check its target.
    CheckSymlink,
    /// `openat2` is missing (`ENOSYS`): check by canonicalization from now on.
    NoOpenat2,
    /// A concurrent rename (`EAGAIN`): try again.
    Retry,
}

/// Maps an `openat2` error to what the resolver does next.
fn classify(errno: Errno) -> OpenFailure {
    match errno {
        Errno::XDEV | Errno::LOOP => OpenFailure::CheckSymlink,
        Errno::NOSYS => OpenFailure::NoOpenat2,
        Errno::AGAIN => OpenFailure::Retry,
        other => OpenFailure::Refuse(refusal(other)),
    }
}

/// The request error for a failed open or path lookup.
fn refusal(errno: Errno) -> RequestError {
    match errno {
        Errno::NOENT | Errno::NOTDIR | Errno::NAMETOOLONG => RequestError::NotFound,
        // NXIO: a Unix socket or a device without a driver; LOOP: a symlink where none may be.
        Errno::ACCESS | Errno::PERM | Errno::NXIO | Errno::NODEV | Errno::LOOP | Errno::XDEV => {
            RequestError::Forbidden
        }
        _ => RequestError::Internal,
    }
}

fn refusal_io(e: &io::Error) -> RequestError {
    match e.raw_os_error() {
        Some(code) => refusal(Errno::from_raw_os_error(code)),
        None => RequestError::Internal,
    }
}

/// Opens `path` (relative to the root, normalized, NUL-terminated) without leaving the root.
fn open_in_root(root: &Root, path: &[u8]) -> Result<OwnedFd, RequestError> {
    let rel = &path[..path.len().saturating_sub(1)];
    if !root.openat2.load(Ordering::Relaxed) {
        return open_checked(root, rel);
    }
    let cpath = CStr::from_bytes_with_nul(path).map_err(|_| RequestError::BadPath)?;
    for _ in 0..OPEN_EAGAIN_RETRIES {
        let errno = match openat2(&root.fd, cpath, OPEN_FLAGS, Mode::empty(), RESOLVE) {
            Ok(fd) => return Ok(fd),
            Err(errno) => errno,
        };
        log::trace!("openat2 {:?}: {errno}", OsStr::from_bytes(rel));
        match classify(errno) {
            OpenFailure::Refuse(e) => return Err(e),
            OpenFailure::CheckSymlink => return open_checked(root, rel),
            OpenFailure::NoOpenat2 => {
                log::warn!("openat2 unavailable; checking every path by canonicalization");
                root.openat2.store(false, Ordering::Relaxed);
                return open_checked(root, rel);
            }
            OpenFailure::Retry => {}
        }
    }
    Err(RequestError::Internal)
}

/// The slow path: resolves every symlink in `rel` with canonicalize, refuses a target outside the
/// canonical root, then opens the canonical target one component at a time with `O_NOFOLLOW`, so
/// a symlink planted after the check is refused rather than followed. Allocates.
fn open_checked(root: &Root, rel: &[u8]) -> Result<OwnedFd, RequestError> {
    let canonical = std::fs::canonicalize(root.path.join(OsStr::from_bytes(rel)))
        .map_err(|e| refusal_io(&e))?;
    let Ok(inside) = canonical.strip_prefix(&root.path) else {
        log::debug!(
            "refused {:?}: resolves to {} outside the root",
            OsStr::from_bytes(rel),
            canonical.display()
        );
        return Err(RequestError::Forbidden);
    };
    open_without_symlinks(root, inside.as_os_str().as_bytes()).map_err(refusal)
}

/// Opens `inside` (relative, free of `.`, `..` and empty components) beneath the root without
/// following any symlink: each directory with `O_PATH | O_NOFOLLOW`, the last component with
/// the serving flags and `O_NOFOLLOW`.
fn open_without_symlinks(root: &Root, inside: &[u8]) -> Result<OwnedFd, Errno> {
    let walk = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let last_flags = OPEN_FLAGS | OFlags::NOFOLLOW;
    if inside.is_empty() {
        return openat(&root.fd, ".", last_flags, Mode::empty());
    }
    let mut dir: Option<OwnedFd> = None;
    let mut components = inside.split(|&b| b == b'/').peekable();
    while let Some(name) = components.next() {
        let base = dir.as_ref().map_or(root.fd.as_fd(), |d| d.as_fd());
        if matches!(name, b"" | b"." | b"..") {
            return Err(Errno::ACCESS);
        }
        if components.peek().is_none() {
            return openat(base, name, last_flags, Mode::empty());
        }
        dir = Some(openat(base, name, walk, Mode::empty())?);
    }
    Err(Errno::NOENT)
}
