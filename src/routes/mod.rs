//! Dispatch of a parsed request to the thing that answers it, and the static-file responses.
//! Writes the whole response head (and small bodies) into the connection's write buffer; large
//! file bodies are handed back as a [`FileBody`] for the connection to `sendfile`.
pub mod context;

use crate::files::serve;
use crate::files::{self, ListingOrder, OpenFile, Resolved};
use crate::http::accept_encoding;
use crate::http::error::RequestError;
use crate::http::query::{self, FileQuery, Format};
use crate::http::request::{Method, RequestHead, Version};
use crate::http::response::{self, ReplyOptions};
use crate::pages;
use crate::store::DeviceId;
use context::Context;
use std::net::IpAddr;

pub use crate::files::serve::FileBody;

/// Methods the static file routes allow.
pub const ALLOW_STATIC: &str = "GET, HEAD, OPTIONS";
/// Methods `/files/{name}` allows.
pub const ALLOW_FILES: &str = "GET, HEAD, POST, OPTIONS";
/// Methods the device routes (`/devices/{id}`) allow.
pub const ALLOW_DEVICE: &str = "GET, HEAD, POST, OPTIONS";
/// Seconds a client is asked to wait after a 503 from ingest.
pub const RETRY_AFTER_SECS: &str = "1";

/// If `head` is a POST to an ingest route, the device it names, or why it names none:
/// `POST /devices/{id}`, and `POST /` or `POST /ingest` with `?device=ID`, else the client's
/// address as the id.
pub fn ingest_target(
    head: &RequestHead<'_, '_>,
    peer: IpAddr,
) -> Option<Result<DeviceId, RequestError>> {
    if head.method != Method::Post {
        return None;
    }
    if let Some(id) = head.path.strip_prefix("/devices/") {
        return Some(DeviceId::parse(id.as_bytes()));
    }
    if head.path != "/" && head.path != "/ingest" {
        return None;
    }
    let named = head.query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(key, _)| key == "device")
            .map(|(_, value)| DeviceId::parse(value.as_bytes()))
    });
    Some(named.unwrap_or_else(|| Ok(DeviceId::from_ip(peer))))
}

/// The reply to an ingest request once its commit is known: 204, or the error.
pub fn ingest_reply(
    out: &mut Vec<u8>,
    ctx: &Context,
    result: Result<(), RequestError>,
    framing: Framing,
) -> Reply {
    match result {
        Ok(()) => {
            response::start(out, 204, ctx.date.as_bytes());
            response::connection(out, framing.close, framing.http10_keep_alive);
            response::end(out);
            Reply {
                status: 204,
                body_len: 0,
                file: None,
            }
        }
        Err(err) => error(out, ctx, err, framing),
    }
}

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
    if let Some(reply) = builtin_page(head, ctx, out, framing) {
        return reply;
    }
    if let Some(name) = head.path.strip_prefix("/files/") {
        return by_method(head, ctx, out, framing, ALLOW_FILES, |ctx, out| {
            serve_upload(head, name, ctx, out, framing)
        });
    }
    if let Some(id) = head.path.strip_prefix("/devices/") {
        if let Some(id) = id.strip_suffix("/live") {
            return match head.method {
                Method::Get | Method::Head => match DeviceId::parse(id.as_bytes()) {
                    Ok(_) => pages::live_page(out, ctx, framing, head.header("accept-encoding")),
                    Err(err) => error(out, ctx, err, framing),
                },
                _ => error(out, ctx, RequestError::MethodNotAllowed, framing),
            };
        }
        return by_method(head, ctx, out, framing, ALLOW_DEVICE, |ctx, out| {
            serve_device(head, id, ctx, out, framing)
        });
    }
    by_method(head, ctx, out, framing, ALLOW_STATIC, |ctx, out| {
        serve_static(head, ctx, out, framing)
    })
}

/// The method rule every resource route shares: GET and HEAD are answered by `get` (its error
/// becomes the error reply), OPTIONS lists `allow`, an unknown method is 501 and any other is 405
/// with `allow`.
fn by_method(
    head: &RequestHead<'_, '_>,
    ctx: &mut Context,
    out: &mut Vec<u8>,
    framing: Framing,
    allow: &str,
    get: impl FnOnce(&mut Context, &mut Vec<u8>) -> Result<Reply, RequestError>,
) -> Reply {
    match head.method {
        Method::Get | Method::Head => match get(ctx, out) {
            Ok(reply) => reply,
            Err(err) => error(out, ctx, err, framing),
        },
        Method::Options => options(out, ctx, framing, allow),
        Method::Other => error(out, ctx, RequestError::UnknownMethod, framing),
        _ => error_with_allow(out, ctx, RequestError::MethodNotAllowed, framing, allow),
    }
}

/// The pages at fixed paths (`/devices`, `/api/devices`, `/healthz`, `/metrics`): GET and HEAD
/// only. `None` when `head` is for another path.
fn builtin_page(
    head: &RequestHead<'_, '_>,
    ctx: &mut Context,
    out: &mut Vec<u8>,
    framing: Framing,
) -> Option<Reply> {
    let known = matches!(
        head.path,
        "/devices" | "/devices/" | "/api/devices" | "/healthz" | "/metrics" | "/user-agent"
    ) || head.path.starts_with("/echo/");
    if !known {
        return None;
    }
    let accept = head.header("accept-encoding");
    Some(match head.method {
        Method::Get | Method::Head => match head.path {
            "/api/devices" => pages::api_devices(out, ctx, framing, accept),
            "/healthz" => pages::healthz(out, ctx, framing),
            "/metrics" => {
                let open = ctx.connections_open as u64;
                pages::metrics(out, ctx, framing, accept, open)
            }
            "/user-agent" => pages::user_agent(out, ctx, framing, head),
            _ if head.path.starts_with("/echo/") => pages::echo(out, ctx, framing, head),
            _ => pages::dashboard(out, ctx, framing, accept),
        },
        Method::Options => options(out, ctx, framing, ALLOW_STATIC),
        Method::Other => error(out, ctx, RequestError::UnknownMethod, framing),
        _ => error(out, ctx, RequestError::MethodNotAllowed, framing),
    })
}

fn options(out: &mut Vec<u8>, ctx: &Context, framing: Framing, allow: &str) -> Reply {
    response::start(out, 204, ctx.date.as_bytes());
    response::header(out, "Allow", allow.as_bytes());
    response::connection(out, framing.close, framing.http10_keep_alive);
    response::end(out);
    Reply {
        status: 204,
        body_len: 0,
        file: None,
    }
}

/// Writes the error reply for `err` (the one builder every error goes through).
pub fn error(out: &mut Vec<u8>, ctx: &Context, err: RequestError, framing: Framing) -> Reply {
    error_with_allow(out, ctx, err, framing, ALLOW_STATIC)
}

/// Like [`error`], naming the methods of the route in a 405's `Allow`.
pub fn error_with_allow(
    out: &mut Vec<u8>,
    ctx: &Context,
    err: RequestError,
    framing: Framing,
    allow: &str,
) -> Reply {
    let allow = (err == RequestError::MethodNotAllowed).then_some(allow);
    let retry_after = (err == RequestError::Overloaded).then_some(RETRY_AFTER_SECS);
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
            retry_after,
            www_authenticate: err.challenge(),
        },
    );
    Reply {
        status,
        body_len,
        file: None,
    }
}

/// `GET /devices/{id}`: the device's file, with every acknowledged byte in it; ranges,
/// validators and `?download` as for static files, no precompressed siblings.
fn serve_device(
    head: &RequestHead<'_, '_>,
    id: &str,
    ctx: &mut Context,
    out: &mut Vec<u8>,
    framing: Framing,
) -> Result<Reply, RequestError> {
    let query = query::parse(head.query).map_err(|_| RequestError::BadQuery)?;
    let id = DeviceId::parse(id.as_bytes())?;
    let file = device_file(ctx, &id)?;
    serve::serve(head, file, None, &query, ctx, out, framing)
}

/// `GET /files/{name}`: a file of `--directory` as `application/octet-stream`, with ranges and
/// validators like any file.
fn serve_upload(
    head: &RequestHead<'_, '_>,
    name: &str,
    ctx: &mut Context,
    out: &mut Vec<u8>,
    framing: Framing,
) -> Result<Reply, RequestError> {
    let query = query::parse(head.query).map_err(|_| RequestError::BadQuery)?;
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(name).collect();
    crate::files::upload::validate_name(&decoded)?;
    match files::resolve(
        &ctx.files_root,
        &head.path["/files".len()..],
        &mut ctx.scratch,
    )? {
        Resolved::File(mut file) => {
            file.content_type = files::ContentType {
                essence: "application/octet-stream",
                utf8: false,
            };
            serve::serve(head, file, None, &query, ctx, out, framing)
        }
        _ => Err(RequestError::NotFound),
    }
}

/// If `head` is `POST /files/{name}`, the (decoded, validated) name to store the body as.
pub fn upload_target(head: &RequestHead<'_, '_>) -> Option<Result<Vec<u8>, RequestError>> {
    if head.method != Method::Post {
        return None;
    }
    let name = head.path.strip_prefix("/files/")?;
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(name).collect();
    Some(crate::files::upload::validate_name(&decoded).map(<[u8]>::to_vec))
}

/// The reply to a stored upload: 201 with the file's `Location`, or the error.
pub fn upload_reply(
    out: &mut Vec<u8>,
    ctx: &Context,
    name: &[u8],
    result: Result<(), RequestError>,
    framing: Framing,
) -> Reply {
    if let Err(err) = result {
        return error(out, ctx, err, framing);
    }
    const BODY: &[u8] = b"created\n";
    response::start(out, 201, ctx.date.as_bytes());
    out.extend_from_slice(b"Location: /files/");
    let encoded = percent_encoding::percent_encode(name, crate::files::PATH_SEGMENT);
    for piece in encoded {
        out.extend_from_slice(piece.as_bytes());
    }
    out.extend_from_slice(b"\r\nContent-Type: text/plain; charset=utf-8\r\n");
    response::content_length(out, BODY.len() as u64);
    response::connection(out, framing.close, framing.http10_keep_alive);
    response::end(out);
    out.extend_from_slice(BODY);
    Reply {
        status: 201,
        body_len: BODY.len() as u64,
        file: None,
    }
}

/// Opens the data file of `id` after writing out its records still in memory (`--ack buffer`),
/// so a reader sees every acknowledged byte (read-your-writes).
pub fn device_file(ctx: &mut Context, id: &DeviceId) -> Result<OpenFile, RequestError> {
    ctx.store.flush_device(id, &mut ctx.completions);
    let mut path = [0u8; 1 + crate::limits::MAX_DEVICE_ID_BYTES];
    path[0] = b'/';
    let name = id.as_str().as_bytes();
    path[1..=name.len()].copy_from_slice(name);
    let path = std::str::from_utf8(&path[..=name.len()]).map_err(|_| RequestError::Internal)?;
    match files::resolve(&ctx.data_root, path, &mut ctx.scratch)? {
        Resolved::File(mut file) => {
            file.content_type = files::ContentType {
                essence: "text/plain",
                utf8: true,
            };
            Ok(file)
        }
        _ => Err(RequestError::NotFound),
    }
}

fn serve_static(
    head: &RequestHead<'_, '_>,
    ctx: &mut Context,
    out: &mut Vec<u8>,
    framing: Framing,
) -> Result<Reply, RequestError> {
    let query = query::parse(head.query).map_err(|_| RequestError::BadQuery)?;
    // A `?download` answer names the file as path resolution found it: resolve every time.
    let cacheable = !query.download;
    let negotiates = head.header("accept-encoding").is_some();
    if cacheable {
        if let Some(hit) = ctx.file_cache.get(head.path, ctx.now, ctx.turn) {
            // Siblings that nobody looked for yet: resolve, look, and cache what was found.
            if !negotiates || hit.siblings.is_some() {
                return serve::serve(head, hit.file, hit.siblings, &query, ctx, out, framing);
            }
        }
    }
    match files::resolve(&ctx.root, head.path, &mut ctx.scratch)? {
        Resolved::File(file) => {
            let siblings = negotiates.then(|| serve::find_siblings(ctx, &file));
            let file = if cacheable {
                ctx.file_cache
                    .put(head.path, file, siblings.clone(), ctx.now, ctx.turn)
            } else {
                file
            };
            serve::serve(head, file, siblings, &query, ctx, out, framing)
        }
        Resolved::RedirectToSlash => Ok(redirect_to_slash(head, ctx, out, framing)),
        Resolved::Directory(_)
            if !ctx.config.listing && listing_format(head, &query) == Format::Json =>
        {
            Err(RequestError::Forbidden)
        }
        Resolved::Directory(dir) if listing_format(head, &query) == Format::Json => {
            serve_listing(head, &dir, &query, ctx, out, framing)
        }
        Resolved::Directory(dir) if head.path == "/" => {
            // The home page: devices summary and, unless disabled, the listing of ROOT.
            let mut listing = std::mem::take(&mut ctx.page);
            listing.clear();
            if ctx.config.listing {
                let how = ListingOrder {
                    key: query.sort,
                    order: query.order,
                };
                files::render_listing(&dir, head.path, how, &mut listing)
                    .map_err(|_| RequestError::Internal)?;
            }
            let accept = head.header("accept-encoding");
            let reply = pages::home(out, ctx, framing, accept, &listing);
            ctx.page = listing;
            Ok(reply)
        }
        Resolved::Directory(dir) if ctx.config.listing => {
            serve_listing(head, &dir, &query, ctx, out, framing)
        }
        Resolved::Directory(_) => Err(RequestError::Forbidden),
    }
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
    let format = listing_format(head, query);
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
    let how = pages::Send {
        cache: Some(b"no-cache"),
        vary_accept: query.format.is_none(),
        ..pages::Send::ok(content_type)
    };
    let body = std::mem::take(&mut ctx.page);
    let reply = pages::send(
        out,
        ctx,
        framing,
        head.header("accept-encoding"),
        how,
        &body,
    );
    ctx.page = body;
    Ok(reply)
}

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

fn redirect_to_slash(
    head: &RequestHead<'_, '_>,
    ctx: &Context,
    out: &mut Vec<u8>,
    framing: Framing,
) -> Reply {
    const BODY: &[u8] = b"moved permanently\n";
    response::start(out, 301, ctx.date.as_bytes());
    out.extend_from_slice(b"Location: ");
    crate::security::location::push_slash_redirect(out, head.path, head.query);
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
