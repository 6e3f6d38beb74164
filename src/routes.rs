//! Dispatch of a parsed request to the thing that answers it, and the static-file responses.
//! Writes the whole response head (and small bodies) into the connection's write buffer; large
//! file bodies are handed back as a [`FileBody`] for the connection to `sendfile`.
use crate::context::Context;
use crate::error::RequestError;
use crate::files::{self, ListingOrder, OpenFile, Resolved};
use crate::http::accept_encoding;
use crate::http::query::{self, FileQuery, Format};
use crate::http::request::{Method, RequestHead, Version};
use crate::http::response::{self, ReplyOptions};
use crate::static_file;

pub use crate::static_file::FileBody;

/// Methods the static file routes allow.
pub const ALLOW_STATIC: &str = "GET, HEAD, OPTIONS";

/// What the route produced, for the connection and the access log.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Body bytes the response carries (in the buffer or in `file`).
    pub body_len: u64,
    pub file: Option<FileBody>,
}

/// How the response head manages the connection.
#[derive(Debug, Clone, Copy)]
pub struct Framing {
    /// The connection closes after this response.
    pub close: bool,
    pub head_only: bool,
    pub http10_keep_alive: bool,
}

impl Framing {
    /// Framing for a response to `head` whose connection closes if `close`.
    pub fn for_request(head: &RequestHead<'_, '_>, close: bool) -> Self {
        Framing {
            close,
            head_only: head.method == Method::Head,
            http10_keep_alive: !close && head.version == Version::Http10,
        }
    }
}

/// Answers `head` into `out`.
pub fn respond(
    head: &RequestHead<'_, '_>,
    ctx: &mut Context,
    out: &mut Vec<u8>,
    framing: Framing,
) -> Reply {
    match head.method {
        Method::Get | Method::Head => match serve_static(head, ctx, out, framing) {
            Ok(reply) => reply,
            Err(err) => error(out, ctx, err, framing),
        },
        Method::Options => {
            response::start(out, 204, ctx.date.as_bytes());
            response::header(out, "Allow", ALLOW_STATIC.as_bytes());
            response::connection(out, framing.close, framing.http10_keep_alive);
            response::end(out);
            Reply {
                status: 204,
                body_len: 0,
                file: None,
            }
        }
        Method::Other => error(out, ctx, RequestError::UnknownMethod, framing),
        _ => error(out, ctx, RequestError::MethodNotAllowed, framing),
    }
}

/// Writes the error reply for `err` (the one builder every error goes through).
pub fn error(out: &mut Vec<u8>, ctx: &Context, err: RequestError, framing: Framing) -> Reply {
    let allow = (err == RequestError::MethodNotAllowed).then_some(ALLOW_STATIC);
    let status = err.status();
    let body_len = response::error_reply(
        out,
        status,
        err.description(),
        ctx.date.as_bytes(),
        ReplyOptions {
            head_only: framing.head_only,
            close: framing.close,
            http10_keep_alive: framing.http10_keep_alive,
            allow,
        },
    );
    Reply {
        status,
        body_len,
        file: None,
    }
}

fn serve_static(
    head: &RequestHead<'_, '_>,
    ctx: &mut Context,
    out: &mut Vec<u8>,
    framing: Framing,
) -> Result<Reply, RequestError> {
    let query = query::parse(head.query).map_err(|_| RequestError::BadQuery)?;
    match files::resolve(&ctx.root, head.path, &mut ctx.scratch)? {
        Resolved::File(file) => serve_file(head, file, &query, ctx, out, framing),
        Resolved::RedirectToSlash => Ok(redirect_to_slash(head, ctx, out, framing)),
        Resolved::Directory(dir) if ctx.config.listing => {
            serve_listing(head, &dir, &query, ctx, out, framing)
        }
        Resolved::Directory(_) => Err(RequestError::Forbidden),
    }
}

fn serve_file(
    head: &RequestHead<'_, '_>,
    found: OpenFile,
    query: &FileQuery,
    ctx: &mut Context,
    out: &mut Vec<u8>,
    framing: Framing,
) -> Result<Reply, RequestError> {
    static_file::serve(head, found, query, ctx, out, framing)
}

/// A directory listing: HTML, or JSON for `?format=json` or an `Accept` that prefers
/// `application/json` to HTML. Sorted by `?sort=` and `?order=`.
fn serve_listing(
    head: &RequestHead<'_, '_>,
    dir: &std::fs::File,
    query: &FileQuery,
    ctx: &mut Context,
    out: &mut Vec<u8>,
    framing: Framing,
) -> Result<Reply, RequestError> {
    let format = query
        .format
        .unwrap_or_else(|| listing_format(head.header("accept")));
    let how = ListingOrder {
        key: query.sort,
        order: query.order,
    };
    ctx.page.clear();
    let content_type: &[u8] = match format {
        Format::Html => {
            files::render_listing(dir, head.path, how, &mut ctx.page)
                .map_err(|_| RequestError::Internal)?;
            b"text/html; charset=utf-8"
        }
        Format::Json => {
            files::render_listing_json(dir, how, &mut ctx.page)
                .map_err(|_| RequestError::Internal)?;
            b"application/json"
        }
    };
    response::start(out, 200, ctx.date.as_bytes());
    response::header(out, "Content-Type", content_type);
    response::content_length(out, ctx.page.len() as u64);
    response::header(out, "Cache-Control", b"no-cache");
    if query.format.is_none() {
        response::header(out, "Vary", b"Accept");
    }
    response::connection(out, framing.close, framing.http10_keep_alive);
    response::end(out);
    let body_len = if framing.head_only {
        0
    } else {
        out.extend_from_slice(&ctx.page);
        ctx.page.len() as u64
    };
    Ok(Reply {
        status: 200,
        body_len,
        file: None,
    })
}

/// JSON when `Accept` rates `application/json` above both `text/html` and `text/*` (`*/*`
/// counts for neither); HTML otherwise, browsers' navigation requests included.
fn listing_format(accept: Option<&[u8]>) -> Format {
    let Some(accept) = accept else {
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

fn redirect_to_slash(
    head: &RequestHead<'_, '_>,
    ctx: &Context,
    out: &mut Vec<u8>,
    framing: Framing,
) -> Reply {
    const BODY: &[u8] = b"moved permanently\n";
    response::start(out, 301, ctx.date.as_bytes());
    out.extend_from_slice(b"Location: ");
    out.extend_from_slice(head.path.as_bytes());
    out.push(b'/');
    if let Some(query) = head.query {
        out.push(b'?');
        out.extend_from_slice(query.as_bytes());
    }
    out.extend_from_slice(b"\r\nContent-Type: text/plain; charset=utf-8\r\n");
    response::content_length(out, BODY.len() as u64);
    response::connection(out, framing.close, framing.http10_keep_alive);
    response::end(out);
    if !framing.head_only {
        out.extend_from_slice(BODY);
    }
    Reply {
        status: 301,
        body_len: BODY.len() as u64,
        file: None,
    }
}
