//! GET and HEAD of a regular file: which representation is sent (the file or a precompressed
//! sibling, RFC 9110 section 12.5.3), its validators (`ETag`, `Last-Modified`, section 8.8), the
//! preconditions (section 13), ranges (section 14, `multipart/byteranges` for several), and
//! `Content-Disposition` for `?download` (RFC 6266). The HTTP rules themselves live in the
//! sans-IO modules of `crate::http`; this module applies them to an open file and writes the
//! response head into the connection's write buffer.
//!
//! The body goes out as a `FileBody`: one file range by `sendfile`, or for several ranges a list
//! of them with the small part heads written into the write buffer between the `sendfile` runs.
//! Bodies up to [`SMALL_FILE_MAX_BYTES`] are read into the write buffer with the head instead. The
//! length is taken from `fstat` when the file is opened and never exceeded, so a file that grows
//! while it is sent (a device file) yields exactly the advertised bytes.
//!
//! Precompressed siblings: when the request carries `Accept-Encoding`, `name.br` and `name.gz`
//! next to `name` are looked for (regular files, not older than `name`; an older one is stale).
//! The acceptable one with the highest weight is sent, `br` before `gzip` on equal weights, with
//! `Content-Encoding`, the original's `Content-Type` and an ETag of its own; whenever a sibling
//! exists, the response (compressed or not) carries `Vary: Accept-Encoding`. Requests without
//! `Accept-Encoding` (scripts, benchmarks) never pay for the lookups.

use crate::limits::{MAX_RANGES, SMALL_FILE_MAX_BYTES};
use std::hash::{BuildHasher, Hasher};
use std::os::unix::fs::FileExt;
use std::time::SystemTime;

use crate::files::cache::Siblings;
use crate::files::{self, OpenFile};
use crate::http::accept_encoding;
use crate::http::conditional::{self, ETag, Precondition, Validators};
use crate::http::date::write_http_date;
use crate::http::disposition;
use crate::http::error::RequestError;
use crate::http::range::{self, ByteRange, RangeDecision, RangeSet};
use crate::http::reply::{self, Body, FileBody, Framing, Reply};
use crate::http::request::{Method, RequestHead};
use crate::http::response;

/// A content coding with a precompressed sibling file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Br,
    Gzip,
}

impl Coding {
    fn token(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Gzip => "gzip",
        }
    }
    fn file_suffix(self) -> &'static str {
        match self {
            Coding::Br => ".br",
            Coding::Gzip => ".gz",
        }
    }
    fn etag_suffix(self) -> &'static str {
        match self {
            Coding::Br => "br",
            Coding::Gzip => "gz",
        }
    }
}

/// The representation chosen for the response.
struct Selected {
    file: OpenFile,
    coding: Option<Coding>,
    /// A sibling exists: the response depends on `Accept-Encoding`.
    vary: bool,
}

/// A GET or HEAD of one regular file, as [`serve`] needs it.
pub struct FileRequest<'a, 'h, 'b> {
    pub head: &'a RequestHead<'h, 'b>,
    pub framing: Framing,
    /// `?download`: the name `Content-Disposition` gives (what path resolution found).
    pub download: Option<&'a [u8]>,
    /// Wall-clock time of this loop turn (for `If-Range` dates).
    pub now: SystemTime,
    /// The `Date` value of this loop turn.
    pub date: &'a [u8],
}

/// Answers GET or HEAD of the regular file `found`. With `siblings` (the precompressed ones found
/// next to it, see [`find_siblings`]) the request's `Accept-Encoding` picks the representation;
/// without, the file is sent as it is.
pub fn serve(
    req: &FileRequest<'_, '_, '_>,
    found: OpenFile,
    siblings: Option<Siblings>,
    out: &mut Vec<u8>,
) -> Result<Reply, RequestError> {
    let (head, framing) = (req.head, req.framing);
    let accept_encoding = head.header("accept-encoding");
    let Selected { file, coding, vary } = match (siblings, accept_encoding) {
        (Some(siblings), Some(field)) => select(found, siblings, field),
        _ => Selected {
            file: found,
            coding: None,
            vary: false,
        },
    };
    let etag = ETag::for_file(
        file.inode,
        file.len,
        file.modified,
        coding.map_or("", Coding::etag_suffix),
    );
    let validators = Validators {
        etag: etag.as_bytes(),
        last_modified: file.modified,
    };
    let common = Common {
        etag: &etag,
        modified: file.modified,
        coding,
        vary,
        download: req.download,
        framing,
    };
    match conditional::evaluate(head.headers, true, &validators) {
        Precondition::Proceed => {}
        Precondition::NotModified => return Ok(not_modified(out, req.date, &common)),
        Precondition::Failed => return Err(RequestError::PreconditionFailed),
    }
    let decision = match head.method {
        Method::Get => range_decision(head, &validators, file.len, req.now),
        _ => None,
    };
    let reply_at = out.len();
    let result = match decision {
        None | Some(RangeDecision::Full(_)) => {
            let whole = ByteRange {
                first: 0,
                last: file.len.saturating_sub(1),
            };
            single(out, req.date, &common, file, 200, whole)
        }
        Some(RangeDecision::Partial(set)) if set.as_slice().len() == 1 => {
            single(out, req.date, &common, file, 206, set.as_slice()[0])
        }
        Some(RangeDecision::Partial(set)) => multipart(out, req.date, &common, file, &set),
        Some(RangeDecision::Unsatisfiable) => Ok(unsatisfiable(out, req.date, file.len, framing)),
    };
    if result.is_err() {
        out.truncate(reply_at);
    }
    result
}

/// Looks for the precompressed siblings of `found`, the file `files::resolve` returned last with
/// `scratch`.
pub fn find_siblings(
    root: &files::Root,
    scratch: &mut files::Scratch,
    found: &OpenFile,
) -> Siblings {
    let mut sibling = |coding: Coding| {
        files::open_sibling(root, scratch, coding.file_suffix(), found.content_type)
    };
    Siblings {
        br: sibling(Coding::Br),
        gzip: sibling(Coding::Gzip),
    }
}

/// Picks the file or one of its precompressed siblings by the `Accept-Encoding` value `field`
/// (see the module docs). A sibling older than the file is stale and ignored.
fn select(found: OpenFile, siblings: Siblings, field: &[u8]) -> Selected {
    let current = |s: Option<OpenFile>| s.filter(|s| s.modified >= found.modified);
    let br = current(siblings.br);
    let gz = current(siblings.gzip);
    let vary = br.is_some() || gz.is_some();
    let mut offered = ["", "", "identity"];
    let mut first = 2;
    if gz.is_some() {
        first -= 1;
        offered[first] = Coding::Gzip.token();
    }
    if br.is_some() {
        first -= 1;
        offered[first] = Coding::Br.token();
    }
    let (file, coding) = match accept_encoding::preferred(Some(field), &offered[first..]) {
        Some("br") => (br, Some(Coding::Br)),
        Some("gzip") => (gz, Some(Coding::Gzip)),
        _ => (None, None),
    };
    match file {
        Some(file) => Selected { file, coding, vary },
        None => Selected {
            file: found,
            coding: None,
            vary,
        },
    }
}

/// The ranges to send, if the request has one `Range` field and no `If-Range` that fails.
fn range_decision(
    head: &RequestHead<'_, '_>,
    v: &Validators<'_>,
    len: u64,
    now: SystemTime,
) -> Option<RangeDecision> {
    let mut fields = head
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("range"));
    let field = fields.next()?.value;
    if fields.next().is_some() {
        return None;
    }
    if let Some(if_range) = head.header("if-range") {
        if !conditional::if_range_holds(if_range, v, now) {
            return None;
        }
    }
    Some(range::evaluate(field, len))
}

/// Fields every file response shares.
struct Common<'a> {
    etag: &'a ETag,
    modified: SystemTime,
    coding: Option<Coding>,
    vary: bool,
    /// `?download`: the file name for `Content-Disposition`.
    download: Option<&'a [u8]>,
    framing: Framing,
}

impl Common<'_> {
    /// `Vary` and `ETag`: what a 304 carries (RFC 9110 section 15.4.5).
    fn write_etag(&self, out: &mut Vec<u8>) {
        if self.vary {
            out.extend_from_slice(b"Vary: Accept-Encoding\r\n");
        }
        response::header(out, "ETag", self.etag.as_bytes());
    }

    /// The validator and negotiation fields of a 200 or 206.
    fn write_validators(&self, out: &mut Vec<u8>) {
        self.write_etag(out);
        out.extend_from_slice(b"Last-Modified: ");
        write_http_date(out, self.modified);
        out.extend_from_slice(b"\r\n");
    }

    /// Everything after `Content-Type`, `Content-Length` and `Content-Range`, and the end of the
    /// head.
    fn finish(&self, out: &mut Vec<u8>) {
        if let Some(coding) = self.coding {
            response::header(out, "Content-Encoding", coding.token().as_bytes());
        }
        self.write_validators(out);
        out.extend_from_slice(b"Accept-Ranges: bytes\r\n");
        if let Some(name) = self.download {
            disposition::attachment(out, name);
        }
        response::connection(out, self.framing.close, self.framing.http10_keep_alive);
        response::end(out);
    }
}

/// 304 (RFC 9110 section 15.4.5): `ETag` (and `Vary`), no body and no `Content-Length`; no
/// `Last-Modified` beside the `ETag` (SHOULD NOT: it is representation metadata).
fn not_modified(out: &mut Vec<u8>, date: &[u8], common: &Common<'_>) -> Reply {
    response::start(out, 304, date);
    common.write_etag(out);
    response::connection(out, common.framing.close, common.framing.http10_keep_alive);
    response::end(out);
    Reply::buffered(304, 0)
}

/// 416 with `Content-Range: bytes */len` (RFC 9110 section 15.5.17), through the error builder.
fn unsatisfiable(out: &mut Vec<u8>, date: &[u8], len: u64, framing: Framing) -> Reply {
    let mut extra = Vec::with_capacity(48);
    range::unsatisfied_range(&mut extra, len);
    let err = RequestError::RangeNotSatisfiable;
    reply::error_with(out, date, err, framing, reply::ALLOW_STATIC, &extra)
}

/// 200 with the whole file (`status` 200) or 206 with one range.
fn single(
    out: &mut Vec<u8>,
    date: &[u8],
    common: &Common<'_>,
    file: OpenFile,
    status: u16,
    range: ByteRange,
) -> Result<Reply, RequestError> {
    let len = if file.len == 0 { 0 } else { range.len() };
    response::start(out, status, date);
    out.extend_from_slice(b"Content-Type: ");
    file.content_type.write_to(out);
    out.extend_from_slice(b"\r\n");
    response::content_length(out, len);
    if status == 206 {
        range::content_range(out, range, file.len);
    }
    common.finish(out);
    let reply = |file: Option<FileBody>| Reply {
        status,
        body_len: if common.framing.head_only { 0 } else { len },
        body: file.map(Body::File),
    };
    if common.framing.head_only || len == 0 {
        return Ok(reply(None));
    }
    if len <= SMALL_FILE_MAX_BYTES {
        read_into(out, &file, range.first, len)?;
        return Ok(reply(None));
    }
    Ok(reply(Some(FileBody::range(file.file, range.first, len))))
}

/// 206 with a `multipart/byteranges` body of the ranges in `set` (two or more).
fn multipart(
    out: &mut Vec<u8>,
    date: &[u8],
    common: &Common<'_>,
    file: OpenFile,
    set: &RangeSet,
) -> Result<Reply, RequestError> {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write(common.etag.as_bytes());
    let boundary = range::boundary(hasher.finish());
    let mut part_type = Vec::with_capacity(64);
    file.content_type.write_to(&mut part_type);

    // Every part head and the close delimiter, rendered once: their lengths make the exact
    // Content-Length, and the connection copies them out between the sendfile runs.
    let ranges = set.as_slice();
    let mut heads = Vec::with_capacity(ranges.len() * 96 + 32);
    let mut bounds = [0usize; MAX_RANGES + 2];
    for (k, &r) in ranges.iter().enumerate() {
        range::part_head(&mut heads, &boundary, &part_type, r, file.len);
        bounds[k + 1] = heads.len();
    }
    range::multipart_end(&mut heads, &boundary);
    bounds[ranges.len() + 1] = heads.len();
    let body_len = heads.len() as u64 + set.total_len();

    response::start(out, 206, date);
    out.extend_from_slice(b"Content-Type: multipart/byteranges; boundary=");
    out.extend_from_slice(&boundary);
    out.extend_from_slice(b"\r\n");
    response::content_length(out, body_len);
    common.finish(out);
    let reply = |file: Option<FileBody>| Reply {
        status: 206,
        body_len: if common.framing.head_only {
            0
        } else {
            body_len
        },
        body: file.map(Body::File),
    };
    if common.framing.head_only {
        return Ok(reply(None));
    }
    if body_len <= SMALL_FILE_MAX_BYTES {
        for (k, r) in ranges.iter().enumerate() {
            out.extend_from_slice(&heads[bounds[k]..bounds[k + 1]]);
            read_into(out, &file, r.first, r.len())?;
        }
        out.extend_from_slice(&heads[bounds[ranges.len()]..]);
        return Ok(reply(None));
    }
    out.extend_from_slice(&heads[..bounds[1]]);
    Ok(reply(Some(FileBody::multipart(
        file.file, *set, heads, bounds,
    ))))
}

/// Appends `len` bytes of `file` from `offset` (a small body sent with the head), from its cached
/// contents when it has them.
fn read_into(
    out: &mut Vec<u8>,
    file: &OpenFile,
    offset: u64,
    len: u64,
) -> Result<(), RequestError> {
    if let Some(contents) = &file.contents {
        let bytes = usize::try_from(offset)
            .ok()
            .and_then(|start| contents.get(start..start.checked_add(len as usize)?))
            .ok_or(RequestError::Internal)?;
        out.extend_from_slice(bytes);
        return Ok(());
    }
    let start = out.len();
    out.resize(start + len as usize, 0);
    file.file
        .read_exact_at(&mut out[start..], offset)
        .map_err(|_| RequestError::Internal)
}
