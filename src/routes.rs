//! Dispatch of a parsed request to the thing that answers it, and the static-file responses.
//! Writes the whole response head (and small bodies) into the connection's write buffer; large
//! file bodies are handed back as a [`FileBody`] for the connection to `sendfile`.
use crate::config::SMALL_FILE_MAX;
use crate::context::Context;
use crate::devices::DeviceId;
use crate::error::RequestError;
use crate::files::{self, OpenFile, Resolved};
use crate::http::request::{Method, RequestHead, Version};
use crate::http::response::{self, ReplyOptions};
use crate::pages;
use std::fs::File;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::FileExt;

/// Methods the static file routes allow.
pub const ALLOW_STATIC: &str = "GET, HEAD, OPTIONS";
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

/// A file range still to be sent after the head.
#[derive(Debug)]
pub struct FileBody {
    pub file: File,
    pub offset: u64,
    pub remaining: u64,
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
    if let Some(id) = head.path.strip_prefix("/devices/") {
        if let Some(id) = id.strip_suffix("/live") {
            return match head.method {
                Method::Get | Method::Head => match DeviceId::parse(id.as_bytes()) {
                    Ok(_) => pages::live_page(out, ctx, framing),
                    Err(err) => error(out, ctx, err, framing),
                },
                _ => error(out, ctx, RequestError::MethodNotAllowed, framing),
            };
        }
        return match head.method {
            Method::Get | Method::Head => match serve_device(id, ctx, out, framing) {
                Ok(reply) => reply,
                Err(err) => error(out, ctx, err, framing),
            },
            Method::Options => options(out, ctx, framing, ALLOW_DEVICE),
            Method::Other => error(out, ctx, RequestError::UnknownMethod, framing),
            _ => error_with_allow(
                out,
                ctx,
                RequestError::MethodNotAllowed,
                framing,
                ALLOW_DEVICE,
            ),
        };
    }
    match head.method {
        Method::Get | Method::Head => match serve_static(head, ctx, out, framing) {
            Ok(reply) => reply,
            Err(err) => error(out, ctx, err, framing),
        },
        Method::Options => options(out, ctx, framing, ALLOW_STATIC),
        Method::Other => error(out, ctx, RequestError::UnknownMethod, framing),
        _ => error(out, ctx, RequestError::MethodNotAllowed, framing),
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
        "/devices" | "/devices/" | "/api/devices" | "/healthz" | "/metrics"
    );
    if !known {
        return None;
    }
    Some(match head.method {
        Method::Get | Method::Head => match head.path {
            "/api/devices" => pages::api_devices(out, ctx, framing),
            "/healthz" => pages::healthz(out, ctx, framing),
            "/metrics" => {
                let open = ctx.connections_open as u64;
                pages::metrics(out, ctx, framing, open)
            }
            _ => pages::dashboard(out, ctx, framing),
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
        },
    );
    Reply {
        status,
        body_len,
        file: None,
    }
}

/// `GET /devices/{id}`: the device's file, with every acknowledged byte in it.
fn serve_device(
    id: &str,
    ctx: &mut Context,
    out: &mut Vec<u8>,
    framing: Framing,
) -> Result<Reply, RequestError> {
    let id = DeviceId::parse(id.as_bytes())?;
    let file = device_file(ctx, &id)?;
    serve_file(file, ctx, out, framing)
}

/// Opens the data file of `id` after writing out its records still in memory (`--ack buffer`),
/// so a reader sees every acknowledged byte (read-your-writes).
pub fn device_file(ctx: &mut Context, id: &DeviceId) -> Result<OpenFile, RequestError> {
    ctx.store.flush_device(id, &mut ctx.completions);
    let mut path = [0u8; 1 + crate::devices::id::MAX_ID_LEN];
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
    match files::resolve(&ctx.root, head.path, &mut ctx.scratch)? {
        Resolved::File(file) => serve_file(file, ctx, out, framing),
        Resolved::RedirectToSlash => Ok(redirect_to_slash(head, ctx, out, framing)),
        Resolved::Directory(dir) if head.path == "/" => {
            // The home page: devices summary and, unless disabled, the listing of ROOT.
            let mut listing = std::mem::take(&mut ctx.page);
            listing.clear();
            if ctx.config.listing {
                files::render_listing(&dir, head.path, &mut listing)
                    .map_err(|_| RequestError::Internal)?;
            }
            let reply = pages::home(out, ctx, framing, &listing);
            ctx.page = listing;
            Ok(reply)
        }
        Resolved::Directory(dir) if ctx.config.listing => {
            ctx.page.clear();
            files::render_listing(&dir, head.path, &mut ctx.page)
                .map_err(|_| RequestError::Internal)?;
            response::start(out, 200, ctx.date.as_bytes());
            response::header(out, "Content-Type", b"text/html; charset=utf-8");
            response::content_length(out, ctx.page.len() as u64);
            response::header(out, "Cache-Control", b"no-cache");
            response::connection(out, framing.close, framing.http10_keep_alive);
            response::end(out);
            if !framing.head_only {
                out.extend_from_slice(&ctx.page);
            }
            Ok(Reply {
                status: 200,
                body_len: ctx.page.len() as u64,
                file: None,
            })
        }
        Resolved::Directory(_) => Err(RequestError::Forbidden),
    }
}

fn serve_file(
    found: OpenFile,
    ctx: &Context,
    out: &mut Vec<u8>,
    framing: Framing,
) -> Result<Reply, RequestError> {
    let reply_at = out.len();
    response::start(out, 200, ctx.date.as_bytes());
    out.extend_from_slice(b"Content-Type: ");
    found.content_type.write_to(out);
    out.extend_from_slice(b"\r\n");
    response::content_length(out, found.len);
    out.extend_from_slice(b"Last-Modified: ");
    // Display into the buffer: no intermediate String.
    let _ = write!(out, "{}", httpdate::HttpDate::from(found.modified));
    out.extend_from_slice(b"\r\n");
    response::connection(out, framing.close, framing.http10_keep_alive);
    response::end(out);
    let reply = |file| Reply {
        status: 200,
        body_len: found.len,
        file,
    };
    if framing.head_only || found.len == 0 {
        return Ok(reply(None));
    }
    if found.len <= SMALL_FILE_MAX {
        // Small bodies travel with the head in one write.
        let start = out.len();
        out.resize(start + found.len as usize, 0);
        if found.file.read_exact_at(&mut out[start..], 0).is_err() {
            out.truncate(reply_at);
            return Err(RequestError::Internal);
        }
        return Ok(reply(None));
    }
    Ok(reply(Some(FileBody {
        file: found.file,
        offset: 0,
        remaining: found.len,
    })))
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
