//! `GET /dir/?download`: a folder as one zip, streamed with no temporary file.
//!
//! [`Archive::of`] walks the folder first: the files a listing would show (no dotfiles unless
//! `--hidden`, never the data directory, nor ROOT's `cgi-bin/` with `--cgi`), in every
//! subfolder, in name order. Their sizes fix the
//! archive's length before a byte is sent (`zip.rs` plans it), so the reply has a
//! `Content-Length`. Then [`Archive::fill`] reads each file into the write buffer as the socket
//! takes it, its CRC-32 computed on the way. A file whose size changed since the walk ends the
//! response (the connection closes): the promised length can no longer be kept.
//!
//! Every file and folder is opened through the root like any request path, so a symlink that
//! leads out of ROOT is left out. Symlinked folders are not entered (a link may point to its own
//! parent); symlinked files are archived.
use super::listing::identity;
use super::zip::{self, Member, Plan};
use super::{open_in_root, Root};
use crate::http::error::RequestError;
use crate::http::reply::Generated;
use crate::limits::{MAX_ARCHIVE_DEPTH, MAX_ARCHIVE_FILES};
use rustix::fs::{statat, AtFlags, Dir, FileType};
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::rc::Rc;

/// One file to archive.
#[derive(Debug)]
struct Source {
    member: Member,
    /// Its path relative to ROOT, NUL-terminated, for opening it when its turn comes.
    path: Box<[u8]>,
}

/// Where the archive is in its sending.
#[derive(Debug)]
enum Phase {
    /// The local header of source `i` comes next.
    Header(usize),
    /// Data of source `i`: `done` bytes of it sent, their CRC so far.
    Data {
        i: usize,
        file: File,
        done: u64,
        crc: crc32fast::Hasher,
    },
    /// The central directory header of source `i` comes next.
    Central(usize),
    End,
    Done,
}

/// A folder's zip being sent.
#[derive(Debug)]
pub struct Archive {
    root: Rc<Root>,
    sources: Vec<Source>,
    /// Each source's CRC-32, once its data was sent.
    crcs: Vec<u32>,
    plan: Plan,
    phase: Phase,
    /// Bytes produced so far, checked against the planned length.
    produced: u64,
}

/// What the walk leaves out.
#[derive(Debug, Clone, Copy)]
pub struct Visible {
    /// Dotfiles are archived (`--hidden`).
    pub hidden: bool,
    /// The device and inode of the data directory, never archived.
    pub private: Option<(u64, u64)>,
    /// ROOT's `cgi-bin/` is archived (false with `--cgi`: its scripts run, their source is
    /// never sent).
    pub cgi_bin: bool,
}

impl Archive {
    /// Walks the folder at `rel` (relative to ROOT, normalized, without NUL; empty or `.` for
    /// ROOT itself) and plans its archive. `ArchiveTooLarge` past `MAX_ARCHIVE_FILES` files or
    /// `MAX_ARCHIVE_DEPTH` levels of folders.
    pub fn of(root: Rc<Root>, rel: &[u8], visible: Visible) -> Result<Archive, RequestError> {
        let mut sources = Vec::new();
        let base = if rel == b"." { &b""[..] } else { rel };
        let mut walk = Walk {
            root: &root,
            visible,
            sources: &mut sources,
            prefix_len: if base.is_empty() { 0 } else { base.len() + 1 },
        };
        let mut path = base.to_vec();
        walk.folder(&mut path, 0)?;
        let plan = zip::plan(sources.iter_mut().map(|s| &mut s.member));
        Ok(Archive {
            root,
            crcs: Vec::with_capacity(sources.len()),
            sources,
            plan,
            phase: Phase::Header(0),
            produced: 0,
        })
    }

    /// The archive's length in bytes.
    pub fn len(&self) -> u64 {
        self.plan.total
    }

    /// The number of files in it.
    pub fn files(&self) -> usize {
        self.sources.len()
    }

    /// Moves past the data of source `i`, or to the central directory after the last one.
    fn after(&self, i: usize) -> Phase {
        if i + 1 < self.sources.len() {
            Phase::Header(i + 1)
        } else {
            Phase::Central(0)
        }
    }

    fn open(&self, i: usize) -> io::Result<File> {
        let source = &self.sources[i];
        let name = String::from_utf8_lossy(&source.member.name);
        let changed = |what: &str| io::Error::other(format!("{name} {what} since the walk"));
        let fd = open_in_root(&self.root, &source.path).map_err(|_| changed("went away"))?;
        let file = File::from(fd);
        let meta = file.metadata()?;
        if !meta.is_file() || meta.len() != source.member.size {
            return Err(changed("changed size"));
        }
        Ok(file)
    }
}

impl Generated for Archive {
    fn fill(&mut self, out: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        let start = out.len();
        while out.len() - start < max {
            self.phase = match std::mem::replace(&mut self.phase, Phase::Done) {
                Phase::Header(i) if i < self.sources.len() => {
                    zip::local_header(out, &self.sources[i].member);
                    Phase::Data {
                        i,
                        file: self.open(i)?,
                        done: 0,
                        crc: crc32fast::Hasher::new(),
                    }
                }
                Phase::Header(_) => Phase::Central(0),
                Phase::Data {
                    i,
                    file,
                    mut done,
                    mut crc,
                } => {
                    let member = &self.sources[i].member;
                    let want = (member.size - done).min((max - (out.len() - start)) as u64);
                    if want > 0 {
                        let at = out.len();
                        out.resize(at + want as usize, 0);
                        let n = file.read_at(&mut out[at..], done)?;
                        out.truncate(at + n);
                        if n == 0 {
                            return Err(io::Error::other(format!(
                                "{} shrank while archived",
                                String::from_utf8_lossy(&member.name)
                            )));
                        }
                        crc.update(&out[at..]);
                        done += n as u64;
                    }
                    if done < member.size {
                        Phase::Data { i, file, done, crc }
                    } else {
                        let crc = crc.finalize();
                        zip::descriptor(out, member, crc);
                        self.crcs.push(crc);
                        self.after(i)
                    }
                }
                Phase::Central(i) if i < self.sources.len() => {
                    zip::central_header(out, &self.sources[i].member, self.crcs[i]);
                    Phase::Central(i + 1)
                }
                Phase::Central(_) => {
                    zip::end(out, &self.plan, self.sources.len());
                    Phase::End
                }
                Phase::End | Phase::Done => Phase::Done,
            };
            if matches!(self.phase, Phase::End | Phase::Done) {
                break;
            }
        }
        let n = out.len() - start;
        self.produced += n as u64;
        if self.produced > self.plan.total
            || (matches!(self.phase, Phase::End) && self.produced != self.plan.total)
        {
            return Err(io::Error::other("archive length differs from its plan"));
        }
        if matches!(self.phase, Phase::End) {
            self.phase = Phase::Done;
        }
        Ok(n)
    }
}

/// The walk of a folder tree, collecting what to archive.
struct Walk<'a> {
    root: &'a Root,
    visible: Visible,
    sources: &'a mut Vec<Source>,
    /// Bytes of the archived folder's own path (and its `/`) that member names leave out.
    prefix_len: usize,
}

impl Walk<'_> {
    /// Adds the files under the folder at `path` (relative to ROOT, no NUL), `depth` levels
    /// below the archived one. Entries are taken in byte order of their names.
    fn folder(&mut self, path: &mut Vec<u8>, depth: usize) -> Result<(), RequestError> {
        if depth > MAX_ARCHIVE_DEPTH {
            return Err(RequestError::ArchiveTooLarge);
        }
        let dir = self.open(path)?;
        let mut names = Vec::new();
        let mut reader = Dir::read_from(&dir).map_err(|_| RequestError::Internal)?;
        while let Some(entry) = reader.read() {
            let entry = entry.map_err(|_| RequestError::Internal)?;
            let name = entry.file_name().to_bytes();
            let hidden = name.starts_with(b".") && !self.visible.hidden;
            let scripts = path.is_empty() && name == b"cgi-bin" && !self.visible.cgi_bin;
            if name == b"." || name == b".." || hidden || scripts {
                continue;
            }
            names.push(name.to_vec());
        }
        names.sort_unstable();
        for name in names {
            let Ok(stat) = statat(&dir, &name[..], AtFlags::SYMLINK_NOFOLLOW) else {
                continue; // gone since it was listed
            };
            let len = path.len();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(&name);
            match FileType::from_raw_mode(stat.st_mode) {
                FileType::Directory if Some(identity(&stat)) != self.visible.private => {
                    self.folder(path, depth + 1)?;
                }
                FileType::RegularFile | FileType::Symlink => self.file(path)?,
                _ => {}
            }
            path.truncate(len);
        }
        Ok(())
    }

    /// Adds the file at `path` if it opens through the root as a regular file.
    fn file(&mut self, path: &[u8]) -> Result<(), RequestError> {
        let Ok(file) = self.open(path) else {
            return Ok(()); // a symlink out of ROOT, or unreadable: not archived
        };
        let Ok(meta) = file.metadata() else {
            return Ok(());
        };
        if !meta.is_file() {
            return Ok(()); // a symlink to a folder
        }
        if self.sources.len() >= MAX_ARCHIVE_FILES {
            return Err(RequestError::ArchiveTooLarge);
        }
        let mut nul_terminated = path.to_vec();
        nul_terminated.push(0);
        self.sources.push(Source {
            member: Member {
                name: path[self.prefix_len..].into(),
                size: meta.len(),
                modified: meta.mtime(),
                mode: meta.mode(),
                offset: 0,
            },
            path: nul_terminated.into(),
        });
        Ok(())
    }

    fn open(&self, path: &[u8]) -> Result<File, RequestError> {
        let mut nul_terminated = Vec::with_capacity(path.len() + 2);
        nul_terminated.extend_from_slice(if path.is_empty() { b"." } else { path });
        nul_terminated.push(0);
        open_in_root(self.root, &nul_terminated).map(File::from)
    }
}
