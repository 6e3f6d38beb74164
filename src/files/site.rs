//! ROOT served as a static site: the one entry point of `files/` for `GET`/`HEAD` of a path.
//!
//! [`Site::serve`] runs the whole sequence for one request: the open-file cache (`cache.rs`),
//! path resolution (`mod.rs`), the precompressed siblings and the representation (`serve.rs`),
//! the trailing-slash redirect, and directory listings (`listing/`, HTML or JSON by `?format=`
//! or `Accept`). It knows nothing of devices: ROOT's own `/` without an `index.html` is handed
//! back as [`Served::Home`] for the home page to be drawn around the listing.
use super::archive::{Archive, Visible};
use super::cache::FileCache;
use super::serve::{self, FileRequest};
use super::{render_listing, render_listing_json, ListingOrder, Resolved, Root, Scratch};
use crate::http::accept_encoding;
use crate::http::error::RequestError;
use crate::http::query::{FileQuery, Format};
use crate::http::reply::{Body, Framing, Reply, ReplyKit, Send};
use crate::http::request::RequestHead;
use crate::http::response;
use std::rc::Rc;
use std::time::{Instant, SystemTime};

/// The clock of the loop turn a request is answered in.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Monotonic time (cache expiry).
    pub now: Instant,
    /// Wall-clock time (`If-Range` dates).
    pub wall: SystemTime,
    /// Number of the loop turn (cached metadata is read again once per turn).
    pub turn: u64,
}

/// What [`Site::serve`] did.
#[derive(Debug)]
pub enum Served {
    /// The reply is written.
    Reply(Reply),
    /// `/` is a directory without `index.html`: the caller writes the home page, with ROOT's
    /// listing (HTML, empty when listings are off) left in `ReplyKit::page`.
    Home,
}

/// The data directory (DATA) when it lies inside ROOT: neither served nor listed there (devices
/// have `/devices/`).
#[derive(Debug, Clone)]
pub struct Private {
    /// Its path relative to ROOT, normalized (`data`, `var/data`).
    pub rel: Box<[u8]>,
    /// Its device and inode, to leave it out of listings also under another name.
    pub id: (u64, u64),
}

/// The served directory with its cache and the scratch space of path resolution.
pub struct Site {
    /// Shared with the folder archives being sent.
    pub root: Rc<Root>,
    /// Reused while resolving paths; after a resolve it holds the name found.
    pub scratch: Scratch,
    cache: FileCache,
    /// Directory listings are generated (no `--no-listing`).
    listing: bool,
    /// Dotfiles are served and listed (`--hidden`); `/.well-known/` always is.
    hidden: bool,
    private: Option<Private>,
    /// Listings offer uploads (uploads are on and `/files/` is ROOT).
    uploads: bool,
    /// `--cgi`: ROOT's `cgi-bin/` is left out of archives (its scripts run, never download).
    cgi: bool,
}

/// What ROOT shows besides its files.
#[derive(Debug, Clone, Copy, Default)]
pub struct Show {
    /// Directory listings (no `--no-listing`).
    pub listing: bool,
    /// Dotfiles (`--hidden`).
    pub hidden: bool,
    /// Listings offer uploads into their folder.
    pub uploads: bool,
    /// `ROOT/cgi-bin/` holds scripts that run (`--cgi`): never archived.
    pub cgi: bool,
}

impl Site {
    pub fn new(root: Root, show: Show, private: Option<Private>) -> Site {
        let Show {
            listing,
            hidden,
            uploads,
            cgi,
        } = show;
        Site {
            uploads,
            cgi,
            cache: FileCache::new(root.path()),
            root: Rc::new(root),
            scratch: Scratch::default(),
            listing,
            hidden,
            private,
        }
    }

    /// Sets the data directory that is neither served nor listed (it was created after start).
    pub fn set_private(&mut self, private: Option<Private>) {
        self.private = private;
    }

    /// Whether the path the last resolve found lies in the data directory. Checked before a
    /// file is cached, so a cache hit never needs it.
    fn found_private(&self) -> bool {
        let Some(private) = &self.private else {
            return false;
        };
        let path = self
            .scratch
            .path
            .strip_suffix(b"\0")
            .unwrap_or(&self.scratch.path);
        path.strip_prefix(&*private.rel)
            .is_some_and(|rest| rest.is_empty() || rest[0] == b'/')
    }

    /// The descriptor of the open-file cache's watch, for the reactor to poll.
    pub fn watch_fd(&self) -> Option<std::os::fd::RawFd> {
        self.cache.watch_fd()
    }

    /// Takes the changes to served files reported since the last call (see `cache.rs`).
    pub fn apply_changes(&mut self) {
        self.cache.apply_changes();
    }

    /// Answers GET or HEAD of `head.path` under ROOT.
    #[inline]
    pub fn serve(
        &mut self,
        head: &RequestHead<'_, '_>,
        query: &FileQuery,
        kit: &mut ReplyKit,
        out: &mut Vec<u8>,
        framing: Framing,
        clock: Clock,
    ) -> Result<Served, RequestError> {
        if !self.hidden && names_a_dotfile(head.path) {
            // Not served, not listed: as if it were not there.
            return Err(RequestError::NotFound);
        }
        if query.download && head.path.ends_with('/') {
            return self.archive(head, kit, out, framing).map(Served::Reply);
        }
        // A `?download` answer names the file as path resolution found it: resolve every time.
        let cacheable = !query.download;
        let negotiates = head.header("accept-encoding").is_some();
        let mut req = FileRequest {
            head,
            framing,
            download: None,
            now: clock.wall,
            date: kit.date.as_bytes(),
        };
        if cacheable {
            if let Some(hit) = self.cache.get(head.path, clock.now) {
                // Siblings that nobody looked for yet: resolve, look, and cache what was found.
                if !negotiates || hit.siblings.is_some() {
                    return serve::serve(&req, hit.file, hit.siblings, out).map(Served::Reply);
                }
            }
        }
        let resolved = super::resolve(&self.root, head.path, &mut self.scratch)?;
        if self.found_private() {
            return Err(RequestError::NotFound);
        }
        match resolved {
            Resolved::File(file) => {
                // Where the file was found, for the cache's watch (a cacheable miss: copied
                // before the sibling lookup reuses the scratch path).
                let rel: Option<Box<[u8]>> = cacheable.then(|| match &self.scratch.path[..] {
                    [rel @ .., 0] => rel.into(),
                    rel => rel.into(),
                });
                let siblings =
                    negotiates.then(|| serve::find_siblings(&self.root, &mut self.scratch, &file));
                let file = if let Some(rel) = rel {
                    self.cache
                        .put(head.path, &rel, file, siblings.clone(), clock.now)
                } else {
                    file
                };
                if query.download {
                    req.download = Some(super::resolved_name(&self.scratch));
                }
                serve::serve(&req, file, siblings, out).map(Served::Reply)
            }
            Resolved::RedirectToSlash => Ok(Served::Reply(redirect_to_slash(
                head,
                kit.date.as_bytes(),
                out,
                framing,
            ))),
            Resolved::Directory(dir) => {
                let format = listing_format(head, query);
                let private = self.private.as_ref().map(|p| p.id);
                let how = ListingOrder {
                    key: query.sort,
                    order: query.order,
                    hidden: self.hidden,
                    private,
                    uploads: self.uploads,
                };
                if head.path == "/" && format == Format::Html {
                    // The home page: the listing of ROOT (unless disabled) in the page buffer.
                    kit.page.clear();
                    if self.listing {
                        render_listing(&dir, head.path, how, &mut kit.page)
                            .map_err(|_| RequestError::Internal)?;
                    }
                    return Ok(Served::Home);
                }
                if !self.listing {
                    return Err(RequestError::Forbidden);
                }
                listing(head, &dir, query, kit, out, (framing, how)).map(Served::Reply)
            }
        }
    }
}

impl Site {
    /// `GET /dir/?download`: the folder's files as one zip (`archive.rs`), 403 with listings off.
    fn archive(
        &mut self,
        head: &RequestHead<'_, '_>,
        kit: &ReplyKit,
        out: &mut Vec<u8>,
        framing: Framing,
    ) -> Result<Reply, RequestError> {
        super::resolve_folder(&self.root, head.path, &mut self.scratch)?;
        if self.found_private() {
            return Err(RequestError::NotFound);
        }
        if !self.listing {
            return Err(RequestError::Forbidden);
        }
        let visible = Visible {
            hidden: self.hidden,
            private: self.private.as_ref().map(|p| p.id),
            cgi_bin: !self.cgi,
        };
        let rel = self.scratch.path.strip_suffix(b"\0").unwrap_or(&[]);
        let archive = Archive::of(Rc::clone(&self.root), rel, visible)?;
        let mut name = match super::path::last_segment(rel) {
            b"." | b"" => self
                .root
                .path()
                .file_name()
                .map_or(b"files".to_vec(), |n| n.as_encoded_bytes().to_vec()),
            segment => segment.to_vec(),
        };
        name.extend_from_slice(b".zip");
        response::start(out, 200, kit.date.as_bytes());
        out.extend_from_slice(b"Content-Type: application/zip\r\n");
        crate::http::disposition::attachment(out, &name);
        out.extend_from_slice(b"Cache-Control: no-cache\r\n");
        response::content_length(out, archive.len());
        response::connection(out, framing.close, framing.http10_keep_alive);
        response::end(out);
        log::debug!("zip of {} files, {} bytes", archive.files(), archive.len());
        if framing.head_only {
            return Ok(Reply::buffered(200, 0));
        }
        Ok(Reply {
            status: 200,
            body_len: archive.len(),
            body: Some(Body::Generated(Box::new(archive))),
        })
    }
}

/// Whether `path` (percent-encoded, as requested) has a segment that names a dotfile: one that
/// starts with `.` (or `%2E`) and is not `.` or `..`. `/.well-known/` is never hidden (RFC 8615).
fn names_a_dotfile(path: &str) -> bool {
    if path == "/.well-known" || path.starts_with("/.well-known/") {
        return false;
    }
    path.split('/').any(|segment| {
        let decoded = percent_encoding::percent_decode_str(segment);
        let mut bytes = decoded.take(3);
        match (bytes.next(), bytes.next(), bytes.next()) {
            (Some(b'.'), None, _) | (Some(b'.'), Some(b'.'), None) => false,
            (Some(b'.'), _, _) => true,
            _ => false,
        }
    })
}

/// A directory listing: HTML, or JSON for `?format=json` or an `Accept` that prefers
/// `application/json` to HTML. Sorted by `?sort=` and `?order=`.
fn listing(
    head: &RequestHead<'_, '_>,
    dir: &std::fs::File,
    query: &FileQuery,
    kit: &mut ReplyKit,
    out: &mut Vec<u8>,
    (framing, how): (Framing, ListingOrder),
) -> Result<Reply, RequestError> {
    let mut body = std::mem::take(&mut kit.page);
    body.clear();
    let content_type: &[u8] = match listing_format(head, query) {
        Format::Html => {
            render_listing(dir, head.path, how, &mut body).map_err(|_| RequestError::Internal)?;
            b"text/html; charset=utf-8"
        }
        Format::Json => {
            render_listing_json(dir, how, &mut body).map_err(|_| RequestError::Internal)?;
            b"application/json"
        }
    };
    let how = Send {
        cache: Some(b"no-cache"),
        vary_accept: query.format.is_none(),
        ..Send::ok(content_type)
    };
    let accept = head.header("accept-encoding");
    let reply = kit.send(out, framing, accept, how, &body);
    kit.page = body;
    Ok(reply)
}

/// `?format=`, else the `Accept` field's preference between `application/json` and HTML.
fn listing_format(head: &RequestHead<'_, '_>, query: &FileQuery) -> Format {
    if let Some(format) = query.format {
        return format;
    }
    let Some(accept) = head.header("accept") else {
        return Format::Html;
    };
    let (mut json, mut html) = (0, 0);
    for (range, q) in accept_encoding::weighted(accept) {
        if range.eq_ignore_ascii_case(b"application/json") {
            json = json.max(q);
        } else if range.eq_ignore_ascii_case(b"text/html") || range.eq_ignore_ascii_case(b"text/*")
        {
            html = html.max(q);
        }
    }
    if json > html {
        Format::Json
    } else {
        Format::Html
    }
}

/// 301 from a directory's path without its trailing slash to the path with it.
fn redirect_to_slash(
    head: &RequestHead<'_, '_>,
    date: &[u8],
    out: &mut Vec<u8>,
    framing: Framing,
) -> Reply {
    const BODY: &[u8] = b"moved permanently\n";
    response::start(out, 301, date);
    out.extend_from_slice(b"Location: ");
    crate::security::location::push_slash_redirect(out, head.path, head.query);
    out.extend_from_slice(b"\r\nContent-Type: text/plain; charset=utf-8\r\n");
    response::content_length(out, BODY.len() as u64);
    response::connection(out, framing.close, framing.http10_keep_alive);
    response::end(out);
    if !framing.head_only {
        out.extend_from_slice(BODY);
    }
    Reply::buffered(301, BODY.len() as u64)
}
